"""kb import epoch and kb audit epoch against what a hostile user tried: malformed files, hostile cells,
later and older snapshots, concurrent imports, markdown in the data. Small CSVs cut from the real files."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHECKOUT
from helpers import assert_clean_error
from test_epoch_import import COPY, ok_json, run


def rows_of(name: str) -> list[list[str]]:
    with open(COPY / name, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def hardware(tmp_path: Path, name: str = "hw.csv", **changes: str) -> Path:
    """ml_hardware.csv with the H100 SXM row's columns changed (header name -> new cell)."""
    rows = rows_of("ml_hardware.csv")
    header = rows[0]
    for r in rows[1:]:
        if r[header.index("Hardware name")] == "NVIDIA H100 SXM5 80GB":
            for column, value in changes.items():
                r[header.index(column)] = value
    return write(tmp_path / name, rows)


def test_a_row_inserted_above_rows_that_share_a_name_revises_nothing(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    ok_json(db, "import", "epoch", str(COPY / "gpu_clusters.csv"))
    rows = rows_of("gpu_clusters.csv")
    header = rows[0]
    new = [""] * len(header)
    new[header.index("Name")], new[header.index("Total number of AI chips")] = "A New Cluster", "5000"
    report = ok_json(db, "import", "epoch", "--snapshot", "2026-01", str(write(tmp_path / "c.csv", [header, new, *rows[1:]])))
    assert report["revised"] == 0, report  # rows sharing a name keep their order among themselves: (2), (3), ...
    assert report["added"]["entities"] == 1 and report["added"]["facts"] == 1


def test_an_older_snapshot_does_not_revise_a_newer_one(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    ok_json(db, "import", "epoch", str(COPY / "ml_hardware.csv"))
    newer = ok_json(db, "import", "epoch", "--snapshot", "2026-01", str(hardware(tmp_path, **{"TDP (W)": "750"})))
    assert newer["revised"] == 1
    again = ok_json(db, "import", "epoch", str(COPY / "ml_hardware.csv"))
    assert again["added"]["facts"] == 0 and again["revised"] == 0 and again["older"] == 1
    tdp = [f for f in json.loads(run(db, "facts", "h100-sxm", "--property", "tdp", "--all", "--json").stdout)
           if f["source"]["id"].startswith("epoch-") and not f["superseded_by"]]
    assert [f["value"] for f in tdp] == [750]


def test_concurrent_revisions_never_both_supersede_one_claim(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    ok_json(db, "import", "epoch", str(COPY / "ml_hardware.csv"))
    a = hardware(tmp_path, "a.csv", **{"TDP (W)": "750"})
    b = hardware(tmp_path, "b.csv", **{"TDP (W)": "800"})
    kb = [sys.executable, "-m", "kb", "--root", str(CHECKOUT), "--db", str(db), "import", "epoch"]
    procs = [subprocess.Popen([*kb, "--snapshot", snap, str(f)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for snap, f in (("2026-01", a), ("2026-02", b))]
    results = [(p.returncode, err) for p in procs for _, err in [p.communicate(timeout=120)]]
    for code, err in results:
        # the later one either revises the other's claim, or (having read before the other wrote) is refused
        assert code == 0 or (code == 1 and ("while this command ran" in err or "is already superseded by" in err)
                             and err.count("\n") == 1), err
        assert "Traceback" not in err
    out = run(db, "sql", "SELECT supersedes, count(*) AS n FROM fact WHERE supersedes IS NOT NULL GROUP BY supersedes "
                         "HAVING n > 1", "--json")
    assert json.loads(out.stdout) == []  # no claim corrected twice


@pytest.mark.parametrize("content, message", [
    ("Name,Certainty\n", "not one of Epoch AI's datasets"),
    ('Hardware name,Tensor-FP16/BF16 performance (FLOP/s),TDP (W)\n"unterminated,1,2\nB,3,4\n', "not valid CSV at line"),
    ("Hardware name,Tensor-FP16/BF16 performance (FLOP/s),TDP (W),TDP (W)\nA,1,700,900\n", "column 'TDP (W)' appears twice"),
    ("Hardware name,Tensor-FP16/BF16 performance (FLOP/s),TDP (W),Name,Certainty,Calculated Power Capacity (MW),"
     "H100 equivalents\nA,1,2,A,Likely,3,4\n", "the header has the columns of ml_hardware.csv and gpu_clusters.csv"),
    ("Hardware name,Tensor-FP16/BF16 performance (FLOP/s),TDP (W)\nA,1," + "9" * 1_100_000 + "\n", "not valid CSV"),
])
def test_a_malformed_file_is_one_line_and_writes_nothing(tmp_path: Path, content: str, message: str) -> None:
    db = tmp_path / "kb.sqlite"
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    run(db, "facts")
    before = run(db, "export").stdout
    r = run(db, "import", "epoch", "--snapshot", "2026-01", str(path))
    assert message in assert_clean_error(r)
    assert run(db, "export").stdout == before


def test_hostile_cells_are_skipped_and_listed(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    path = write(tmp_path / "hw.csv", [
        ["Hardware name", "Tensor-FP16/BF16 performance (FLOP/s)", "TDP (W)", "Release date"],
        ["Chip A", "1e15", "٧٠٠", "2025-13-45"],
        ["Chip B", "1_000", "700", "2024-02-30"],
        ["Chip\x00 C", "2e15", "500", "20245"],
    ])
    report = ok_json(db, "import", "epoch", "--snapshot", "2026-01", str(path))
    skipped = {(s["row"], s["column"], s["reason"].split(";")[0]) for s in report["skipped"]}
    assert ("Chip A", "TDP (W)", "not a number") in skipped and ("Chip B", "Tensor-FP16/BF16 performance (FLOP/s)",
                                                                  "not a number") in skipped
    assert ("Chip A", "Release date", "not a real date") in skipped
    assert ("Chip C", "Release date", "not a date (YYYY, YYYY-MM or YYYY-MM-DD)") in skipped  # no NUL in the name
    facts = json.loads(run(db, "facts", "chip-a", "--json").stdout)
    assert [(f["property"], f["as_of"]) for f in facts] == [("dense_bf16_flops", None)]  # kept, without an as-of


def test_a_header_only_file_adds_no_source_and_a_dry_run_no_database(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    path = write(tmp_path / "hw.csv", [["Hardware name", "Tensor-FP16/BF16 performance (FLOP/s)", "TDP (W)"]])
    report = ok_json(db, "import", "epoch", "--snapshot", "2026-01", str(path))
    assert report["added"]["sources"] == 0 and report["added"]["facts"] == 0
    fresh = tmp_path / "none" / "kb.sqlite"
    dry = ok_json(fresh, "import", "epoch", "--dry-run", str(COPY / "ml_hardware.csv"))
    assert dry["added"]["facts"] == 956 and not fresh.exists() and not fresh.parent.exists()


def test_the_audit_says_which_files_it_needs_and_survives_a_zero(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    ok_json(db, "import", "epoch", str(COPY / "ml_hardware.csv"))
    r = run(db, "audit", "epoch")
    assert "no row has the inputs of any check; import the files they need" in assert_clean_error(r)
    render = run(db, "render", "epoch-audit")
    assert render.exit_code == 0 and "but no row has every input of a check" in render.stdout
    models = write(tmp_path / "m.csv", [
        ["Model", "Training compute (FLOP)", "Training dataset size (gradients)", "Training time (hours)",
         "Hardware quantity", "Training hardware", "Publication date"],
        ["Zero Model", "1e23", "", "0", "1000", "NVIDIA H100 SXM5 80GB", "2024-01-01"]])
    ok_json(db, "import", "epoch", "--snapshot", "2026-01", str(models))
    assert run(db, "audit", "epoch").exit_code in (0, 1)  # no row to check (a zero time): a message, no traceback
    assert "Traceback" not in run(db, "audit", "epoch").output
    assert run(db, "render", "epoch-audit").exit_code == 0


def test_markdown_in_the_data_stays_text_in_the_writeup(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    ok_json(db, "import", "epoch", str(COPY / "ml_hardware.csv"))
    rows = rows_of("gpu_clusters.csv")
    header = rows[0]
    evil = next(r for r in rows[1:] if r[header.index("Name")] == "xAI Colossus Memphis Phase 1")[:]
    evil[header.index("Name")] = "Evil | pipe | cluster <script>x</script> [^1]"
    evil[header.index("Quote")] = "text\n\n# INJECTED HEADING\n[^1]: FAKE FOOTNOTE"
    evil[header.index("H100 equivalents")] = "1"  # far from 100K H100s: listed
    evil[header.index("Source 1")] = "https://evil.example/a|b)](javascript:alert(1))"
    ok_json(db, "import", "epoch", "--snapshot", "2026-01", str(write(tmp_path / "c.csv", [header, evil])))
    text = run(db, "render", "epoch-audit").stdout
    assert not re.search(r"^# INJECTED", text, flags=re.M) and not re.search(r"^\[\^1\]: FAKE", text, flags=re.M)
    assert "<script>" not in text and "Evil \\| pipe \\| cluster \\<script\\>" in text
    assert "](javascript" not in text
    row = next(line for line in text.splitlines() if line.startswith("| Evil"))
    assert row.count(" | ") == 4  # five cells: the name's pipes are escaped
