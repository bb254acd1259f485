"""Benchmarks of the bulk paths, each as a ratio against a plain-Python baseline run in the same process.

    .venv/bin/python bench/bench_bulk.py            # full size (several minutes)
    .venv/bin/python bench/bench_bulk.py --quick    # small sizes (what the smoke test runs)

1. `kb import epoch` of Epoch AI's three CSVs into a new database vs parsing the same CSVs with `csv`
   and inserting one row per claim the import added (counted from its database afterwards) with raw
   `sqlite3` executemany, in one transaction, into a table as wide as kb's `fact` (target: within 3x);
   and each side again over header-only copies of the files, whose time (start-up, imports, a new
   database with the shipped facts) is subtracted from the whole run's to give the per-row work;
2. `kb load` of one generated 100,000-fact YAML file into a new database vs yaml's CSafeLoader on the
   same file plus raw `sqlite3` executemany of its sources, entities and facts (target: within 5x), with
   the peak RSS of each;
3. `kb export -o FILE` of that database vs writing the same rows (same order) as tab-separated lines
   from `SELECT *` (target: within 3x), and the export's peak RSS at 100K facts over its peak at 20K
   (constant memory is about 1, memory that grows with the database about 5).

Every side runs as its own child process (the kb side is the CLI as users run it, `python -m kb`), so
each time is a whole process, start-up and imports included (nothing is subtracted), and each peak RSS
(`ru_maxrss` from `os.wait4`) is that one run's. A new database also gets the shipped `facts/` (as
`kb` does for any new database). Absolute times are printed for context only; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED_EPOCH = Path("/work/shared/data/epoch")
VENDORED_EPOCH = ROOT / "tests" / "data" / "epoch"
EPOCH_FILES = ("ml_hardware.csv", "gpu_clusters.csv", "notable_ai_models.csv")


# ---- running one child process

class Failed(Exception):
    """A child process exited non-zero; the message is its stderr."""


def run(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run ``cmd``; its wall time (s), its own peak RSS (MB) and its stdout. A failure stops the benchmark."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise Failed(err.read().strip() or f"exit status {proc.returncode}")
        return elapsed, usage.ru_maxrss / 1024, out.read()  # ru_maxrss is in KiB on Linux


def best_run(cmd: list[str], repeat: int, cwd: Path, fresh: Sequence[Path] = ()) -> tuple[float, float, str]:
    """The fastest of ``repeat`` runs and the largest peak RSS; ``fresh`` paths are removed before each run."""
    times, rss, out = [], [], ""
    for _ in range(repeat):
        for p in fresh:
            p.unlink(missing_ok=True)
        t, m, out = run(cmd, cwd)
        times.append(t)
        rss.append(m)
    return min(times), max(rss), out


def kb(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kb", "--root", str(ROOT), "--db", str(db), *args]


def baseline(mode: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--baseline", mode, *args]


def fact_columns(db: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return [r[1] for r in conn.execute("PRAGMA table_info(fact)")]


def count(db: Path, sql: str) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


# ---- the baselines (run as `bench_bulk.py --baseline MODE ...`; stdlib and yaml only, no kb)

def _create(conn: Any, table: str, columns: list[str]) -> None:
    cols = ", ".join(f'"{c}" TEXT' + (" PRIMARY KEY" if c == "id" else "") for c in columns)
    conn.execute(f'CREATE TABLE "{table}" ({cols})')


def baseline_csv(db: str, n: str, columns_json: str, *files: str) -> None:
    """Parse the CSVs; insert ``n`` rows (one per non-empty cell, the cell and its row's text) in one transaction."""
    import csv
    import sqlite3

    columns = json.loads(columns_json)
    width, wanted, at = len(columns), int(n), columns.index("id")
    rows: list[tuple[str, ...]] = []
    per_file = []
    for f in files:
        with open(f, encoding="utf-8-sig", newline="") as fh:
            per_file.append(list(csv.reader(fh)))
    while len(rows) < wanted:  # round-robin over the files' non-empty cells until there are as many as claims
        before = len(rows)
        for table in per_file:
            header, body = table[0], table[1:]
            for line in body:
                for j, cell in enumerate(line):
                    if cell.strip() and len(rows) < wanted:
                        text = [cell, line[0], header[j], f'row "{line[0]}", column "{header[j]}"', *line]
                        values = (text * width)[: width - 1]
                        rows.append((*values[:at], str(len(rows)), *values[at:]))
        if len(rows) == before:
            break
    conn = sqlite3.connect(db)
    _create(conn, "fact", columns)
    with conn:
        conn.executemany(f"INSERT INTO fact VALUES ({', '.join('?' * width)})", rows)
    conn.close()


def baseline_yaml(db: str, columns_json: str, *paths: str) -> None:
    """CSafeLoader on the fact file(s), then their sources, entities and facts with executemany in one transaction."""
    import sqlite3

    import yaml

    columns = json.loads(columns_json)
    data: dict[str, list[Any]] = {"sources": [], "entities": [], "facts": []}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for key, items in yaml.load(fh, Loader=yaml.CSafeLoader).items():
                data[key].extend(items or [])
    conn = sqlite3.connect(db)
    tables = {"source": ["id", "title", "authors", "publisher", "url", "published", "kind"],
              "entity": ["id", "kind", "name", "aliases"], "fact": columns}
    for table, cols in tables.items():
        _create(conn, table, cols)
    with conn:
        for table, key in (("source", "sources"), ("entity", "entities"), ("fact", "facts")):
            cols = tables[table]
            rows = [tuple(str(item[c]) if item.get(c) is not None else (str(i) if c == "id" else None)
                          for c in cols) for i, item in enumerate(data[key])]
            conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(cols))})", rows)
    conn.close()


def baseline_dump(db: str, out: str) -> None:
    """Every source, entity, alias, fact and event as tab-separated lines, facts in export order."""
    import sqlite3

    conn = sqlite3.connect(db)
    with open(out, "w", encoding="utf-8") as fh:
        for sql in ("SELECT * FROM source ORDER BY id", "SELECT * FROM entity ORDER BY id",
                    "SELECT * FROM entity_alias ORDER BY recorded_at, alias",
                    "SELECT * FROM fact ORDER BY recorded_at, id", "SELECT * FROM event ORDER BY recorded_at, id"):
            for row in conn.execute(sql):
                fh.write("\t".join("" if v is None else str(v) for v in row) + "\n")
    conn.close()


BASELINES = {"csv": baseline_csv, "yaml": baseline_yaml, "dump": baseline_dump}


# ---- a generated fact file in the documented format

PROPS = [  # property, unit, low, high (in that unit), locator style
    ("dense_bf16_flops", "TFLOP/s", 50, 2500, "Table 2, Peak BF16 Tensor"),
    ("dense_fp8_flops", "TFLOP/s", 100, 5000, "Table 2, Peak FP8 Tensor"),
    ("hbm_bandwidth", "TB/s", 0.5, 8, "Specifications, Memory Bandwidth"),
    ("memory_size", "GB", 16, 288, "Specifications, Memory"),
    ("tdp", "W", 150, 1500, "Specifications, Max Power"),
    ("internode_bandwidth", "Gbps", 100, 3200, "Networking, per-GPU scale-out"),
    ("fp32_flops", "TFLOP/s", 5, 120, "Table 2, Peak FP32"),
    ("scaleup_bandwidth", "TB/s", 0.1, 1.8, "Interconnect, NVLink/Infinity Fabric"),
]
KINDS = ["datasheet", "paper", "news", "blog", "analyst", "whitepaper", "announcement"]
VENDORS = ["NVIDIA", "AMD", "Intel", "Google", "AWS", "Cerebras", "Graphcore", "Groq", "Huawei", "Tenstorrent"]


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def fact_file(n_facts: int, n_entities: int = 1000, n_sources: int = 50, seed: int = 0) -> tuple[list[str], list[str]]:
    """A fact file's sources and entities, and its ``n_facts`` facts (one YAML block each) over ``n_entities``
    accelerators and several properties, each with a source, locator, quote, as-of date, method and
    confidence (a quarter with a note, a tenth approximate, a tenth a range)."""
    rng = random.Random(seed)
    n_entities = min(n_entities, max(1, n_facts // 20))
    head = ["sources:"]
    for s in range(n_sources):
        vendor = VENDORS[s % len(VENDORS)]
        head += [f"  - id: bench-source-{s}", f"    title: {_q(f'{vendor} accelerator report {s}')}",
                 f"    authors: [{vendor} engineering, Analyst {s}]", f"    publisher: {vendor}",
                 f"    url: https://example.com/{vendor.lower()}/report-{s}.pdf",
                 f'    published: "{2019 + s % 7}-{1 + s % 12:02d}"', f"    kind: {KINDS[s % len(KINDS)]}"]
    head.append("entities:")
    for e in range(n_entities):
        vendor = VENDORS[e % len(VENDORS)]
        head += [f"  - id: bench-chip-{e}", "    kind: accelerator", f"    name: {_q(f'{vendor} X{e} accelerator')}",
                 f"    aliases: [{_q(f'{vendor} X{e}')}, {_q(f'X{e}-{vendor[:2].upper()}')}]"]
    facts = []
    for i in range(n_facts):
        e, (prop, unit, low, high, where) = i % n_entities, PROPS[(i // n_entities) % len(PROPS)]
        x = rng.uniform(low, high)
        shape = rng.random()
        value = f"{x:.4g}" if shape < 0.8 else f"~{x:.3g}" if shape < 0.9 else f"{x:.3g} to {x * 1.1:.3g}"
        year = 2019 + i % 7
        words = prop.replace("_", " ")
        block = [f"  - entity: bench-chip-{e}", f"    property: {prop}", f'    value: "{value}"', f'    unit: "{unit}"',
                 f"    source: bench-source-{rng.randrange(n_sources)}",
                 f"    locator: {_q(f'{where}, page {1 + i % 40}, item {i}')}",
                 f"    quote: {_q(f'The X{e} delivers up to {x:.4g} {unit} ({words}) in its {year} configuration.')}",
                 f'    as_of: "{year}-{1 + i % 12:02d}"', f"    method: {('reported', 'calculated', 'estimated')[i % 3]}",
                 f"    confidence: {('confirmed', 'likely', 'speculative')[i % 3]}"]
        if i % 4 == 0:
            block.append(f"    note: {_q(f'Vendor figure for the {year} SKU; dense, not sparse. See also item {i // 2}.')}")
        facts.append("\n".join(block))
    return head, facts


def write_fact_files(folder: Path, n_facts: int, parts: int = 1) -> list[Path]:
    """The generated facts as one file, or split into ``parts`` files (sources and entities in the first)."""
    head, facts = fact_file(n_facts)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(parts):
        chunk = facts[k * len(facts) // parts: (k + 1) * len(facts) // parts]
        path = folder / (f"facts-{n_facts}.yaml" if parts == 1 else f"facts-{n_facts}-part{k + 1}.yaml")
        text = "\n".join(["# generated by bench/bench_bulk.py", *(head if k == 0 else []), "facts:", *chunk])
        path.write_text(text + "\n", encoding="utf-8")
        paths.append(path)
    return paths


# ---- the three benchmarks

def epoch_folder() -> tuple[Path, str]:
    if all((SHARED_EPOCH / f).is_file() for f in EPOCH_FILES):
        return SHARED_EPOCH, str(SHARED_EPOCH)
    return VENDORED_EPOCH, f"{VENDORED_EPOCH.relative_to(ROOT)} ({SHARED_EPOCH} is absent)"


def header_only(folder: Path, files: list[Path]) -> list[Path]:
    """Copies of ``files`` with their header row only: what an import costs before its first row."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        with open(f, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh))
        with open(folder / f.name, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerow(header)
        out.append(folder / f.name)
    return out


def bench_import(tmp: Path, files: list[Path], repeat: int) -> tuple[float, float, int, float, float, float, float]:
    """The whole runs, and the same runs over header-only copies (the fixed cost of each side)."""
    db = tmp / "epoch.sqlite"
    t_kb, m_kb, _ = best_run(kb(db, "import", "epoch", *map(str, files)), repeat, tmp, [db])
    claims = count(db, "SELECT COUNT(*) FROM fact WHERE source LIKE 'epoch-%'")
    base = tmp / "epoch-baseline.sqlite"
    columns = json.dumps(fact_columns(db))
    t_base, m_base, _ = best_run(baseline("csv", str(base), str(claims), columns, *map(str, files)), repeat, tmp, [base])
    assert count(base, "SELECT COUNT(*) FROM fact") == claims
    empty = header_only(tmp / "epoch-headers", files)
    t_kb0, _, _ = best_run(kb(db, "import", "epoch", "--snapshot", "2025-11", *map(str, empty)), repeat, tmp, [db])
    t_base0, _, _ = best_run(baseline("csv", str(base), "0", columns, *map(str, empty)), repeat, tmp, [base])
    return t_kb, m_kb, claims, t_base, m_base, t_kb0, t_base0


def bench_load(tmp: Path, n: int, repeat: int, db: Path, notes: list[str]) -> tuple[float, float, float, float]:
    """``kb load`` of one n-fact file. If kb refuses the single file, say why (in ``notes``) and time one
    ``kb load FOLDER`` of the same facts split into files of at most 20,000 (still one load, one transaction);
    the baseline then parses the same split files."""
    folder = tmp / f"load-{n}"
    paths = write_fact_files(folder, n)
    try:
        t_kb, m_kb, _ = best_run(kb(db, "load", str(paths[0])), repeat, tmp, [db])
    except Failed as exc:
        parts = -(-n // 20_000)
        notes.append(f"`kb load` refuses the single {n}-fact file ({exc.args[0].splitlines()[-1]}); timed instead: "
                     f"one `kb load` of the same facts in {parts} files")
        split = tmp / f"load-{n}-split"
        paths = write_fact_files(split, n, parts)  # the baseline parses the same files
        t_kb, m_kb, _ = best_run(kb(db, "load", str(split)), repeat, tmp, [db])
    loaded = count(db, "SELECT COUNT(*) FROM fact WHERE source LIKE 'bench-source-%'")
    assert loaded == n, f"{loaded} of {n} generated facts loaded"
    base = tmp / "load-baseline.sqlite"
    cmd = baseline("yaml", str(base), json.dumps(fact_columns(db)), *map(str, paths))
    t_base, m_base, _ = best_run(cmd, repeat, tmp, [base])
    assert count(base, "SELECT COUNT(*) FROM fact") == n
    return t_kb, m_kb, t_base, m_base


def bench_export(tmp: Path, db: Path, repeat: int) -> tuple[float, float, float, float]:
    out, dump = tmp / "export.yaml", tmp / "dump.tsv"
    t_kb, m_kb, _ = best_run(kb(db, "export", "-o", str(out)), repeat, tmp)
    t_base, m_base, _ = best_run(baseline("dump", str(db), str(dump)), repeat, tmp)
    return t_kb, m_kb, t_base, m_base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for the smoke test")
    parser.add_argument("--baseline", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)  # a baseline's child process
    args = parser.parse_args()
    if args.baseline:
        BASELINES[args.baseline[0]](*args.baseline[1:])
        return
    folder, where = epoch_folder()
    names = EPOCH_FILES[:1] if args.quick else EPOCH_FILES
    n_big, n_small, repeat = (2_000, 400, 1) if args.quick else (100_000, 20_000, 3)
    big_repeat = 1 if args.quick else 2
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-bulk-"))
    try:
        results: list[tuple[str, float, str]] = []
        notes: list[str] = []
        t_kb, m_kb, claims, t_base, m_base, t_kb0, t_base0 = bench_import(tmp, [folder / f for f in names], repeat)
        results.append((f"`kb import epoch` {len(names)} CSV(s), {claims} claims / csv + sqlite3 executemany", t_kb / t_base,
                        f"kb {t_kb:.2f} s, {m_kb:.0f} MB; baseline {t_base:.2f} s, {m_base:.0f} MB"))
        results.append(("  the same, each minus its run over header-only copies (per-row work)",
                        max(t_kb - t_kb0, 1e-3) / max(t_base - t_base0, 1e-3),  # a tiny --quick run is noise
                        f"kb {t_kb - t_kb0:.2f} s after a fixed {t_kb0:.2f} s; baseline {t_base - t_base0:.2f} s "
                        f"after {t_base0:.2f} s"))
        big_db = tmp / f"kb-{n_big}.sqlite"
        t_kb, m_kb, t_base, m_base = bench_load(tmp, n_big, big_repeat, big_db, notes)
        results.append((f"`kb load` {n_big}-fact YAML / CSafeLoader + sqlite3 executemany", t_kb / t_base,
                        f"kb {t_kb:.2f} s, baseline {t_base:.2f} s"))
        results.append((f"`kb load` {n_big}-fact YAML peak RSS / baseline peak RSS", m_kb / m_base,
                        f"kb {m_kb:.0f} MB, baseline {m_base:.0f} MB"))
        t_kb, m_big, t_base, m_base = bench_export(tmp, big_db, big_repeat)
        results.append((f"`kb export` {n_big} facts / sqlite3 SELECT * to lines", t_kb / t_base,
                        f"kb {t_kb:.2f} s, {m_big:.0f} MB; baseline {t_base:.2f} s, {m_base:.0f} MB"))
        small_db = tmp / f"kb-{n_small}.sqlite"
        bench_load(tmp, n_small, 1, small_db, notes)
        _, m_small, _, m_base_small = bench_export(tmp, small_db, big_repeat)
        results.append((f"`kb export` peak RSS {n_big} / {n_small} facts", m_big / m_small,
                        f"kb {m_small:.0f} -> {m_big:.0f} MB; baseline {m_base_small:.0f} -> {m_base:.0f} MB"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Epoch CSVs from {where}; each side is a whole child process (kb: `python -m kb`); only the indented "
          "line subtracts anything (each side's own header-only run).")
    for note in notes:
        print(f"note: {note}")
    width = max(len(r[0]) for r in results)
    for name, ratio, detail in results:
        shown = f"{ratio:10.1f}" if ratio >= 0.1 else f"{ratio:10.3g}"  # a tiny --quick difference is noise
        print(f"{name.ljust(width)}  ratio {shown}   ({detail})")


if __name__ == "__main__":
    main()
