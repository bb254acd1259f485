"""Bound every resource (issue 13): kb sql stops at its timeout and at Ctrl-C (exit 130), a long read never
locks out a writer (write-ahead logging), and Ctrl-C stops any command with one line and nothing half-written.
The real CLI in subprocesses, as a user runs it."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CHECKOUT, KB

CROSS_JOIN = "SELECT count(*) FROM fact a, fact b, fact c, fact d, fact e"  # hours of work


def kb_run(db: Path | str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kb", "--db", str(db), *args], cwd=CHECKOUT, capture_output=True,
                          text=True, timeout=timeout)


def kb_start(db: Path | str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kb", "--db", str(db), *args], cwd=CHECKOUT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def shipped_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("bounds") / "kb.sqlite"
    assert KB(CHECKOUT, db)("facts").exit_code == 0
    return db


def test_kb_sql_stops_at_its_timeout(shipped_db: Path, pg_url: str) -> None:
    for db in (shipped_db, pg_url):
        started = time.monotonic()
        r = kb_run(db, "sql", "--timeout", "1", CROSS_JOIN)
        took = time.monotonic() - started
        assert (r.returncode, r.stdout) == (1, ""), r.stderr
        assert r.stderr == "Error: SQL stopped: it ran longer than 1 s (kb sql --timeout SECONDS allows longer)\n"
        assert took < 60  # stopped, not run to the end (which takes hours)
    r = kb_run(shipped_db, "sql", "--timeout", "0", "SELECT 1")
    assert r.returncode == 2 and "--timeout" in r.stderr and r.stderr.count("\n") == 1


def test_ctrl_c_stops_kb_sql_with_exit_130(shipped_db: Path) -> None:
    proc = kb_start(shipped_db, "sql", CROSS_JOIN)
    time.sleep(2)  # well into the query
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (130, "", "Interrupted: stopped by Ctrl-C; what it had not committed is rolled back.\n")


def test_a_long_read_does_not_lock_out_writers(shipped_db: Path, tmp_path: Path) -> None:
    with sqlite3.connect(shipped_db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reader = kb_start(shipped_db, "sql", "--timeout", "20", CROSS_JOIN)
    time.sleep(1.5)
    r = kb_run(shipped_db, "add", "fact", "h100-sxm", "tdp", "702", "W", "--source", "nvidia-h100-product-page",
               "--note", "written during a long read")
    assert r.returncode == 0, r.stderr
    assert reader.poll() is None  # the read is still running: the write did not wait for it
    reader.send_signal(signal.SIGINT)
    reader.communicate(timeout=30)
    assert reader.returncode == 130


def test_ctrl_c_during_a_load_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    assert KB(CHECKOUT, db)("facts").exit_code == 0
    before = db.read_bytes()
    big = tmp_path / "big.yaml"
    rows = "".join(f'  - {{entity: h100-sxm, property: tdp, value: "{600 + i / 1000}", unit: W, '
                   f'source: nvidia-h100-product-page}}\n' for i in range(30000))
    big.write_text("facts:\n" + rows, encoding="utf-8")
    proc = kb_start(db, "load", str(big))
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.fail("the load finished before Ctrl-C: make it longer")
    assert (proc.returncode, err) == (130, "Interrupted: stopped by Ctrl-C; what it had not committed is rolled back.\n")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM fact WHERE note IS NULL AND value > 600 AND value < 630 "
                            "AND entity = 'h100-sxm' AND property = 'tdp' AND value != 700").fetchone()[0] == 0
    assert db.read_bytes() == before


@pytest.mark.parametrize(("body", "message"), [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "line 3: the template ran longer than 2 s"),
    ("{{ (7**100000000) > 1 }}", "line 3: 7 ** 100000000 is too large (a template's integer powers stay under "
                                 "14000 bits; write a float, e.g. 7.0 ** 100000000)"),
    ("{{ 2**(10**11) }}", "line 3: 2 ** 100000000000 is too large"),
    ("{{ 'a'*10**10 }}", "line 3: repeating a str 10000000000 times is too long"),
    ("{{ [0] * 10**9 }}", "line 3: repeating a list 1000000000 times is too long"),
    ("{{ 'x'.ljust(10**10) }}", "line 3: the template needed more than 2 GB of memory"),
    ("{% for i in range(100000) %}{{ 'a' * 1000 }}{% endfor %}", "the output is longer than 20000000 characters"),
])
def test_a_template_cannot_hang_or_exhaust_memory(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  body: str, message: str) -> None:
    import kb.report.limits

    monkeypatch.setattr(kb.report.limits, "SECONDS", 2.0)
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / "costly.md.j2").write_text("{# costly #}\nline 2\n" + body + "\n", encoding="utf-8")
    kb = KB(root, tmp_path / "kb.sqlite")
    for args in (("render", "costly", "-o", str(tmp_path / "out.md")), ("check",)):
        started = time.monotonic()
        r = kb(*args)
        assert r.exit_code == 1 and time.monotonic() - started < 30
        line, _, text = message.rpartition(": ") if message.startswith("line") else ("", "", message)
        assert text in r.output and (f"template costly, {line}" if line else "template costly") in r.output, r.output
        assert "Traceback" not in r.output
    assert not (tmp_path / "out.md").exists()


def test_a_templates_ordinary_arithmetic_still_works(root: Path, tmp_path: Path) -> None:
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / "fine.md.j2").write_text(
        "{# fine #}\n{{ 2 ** 10 }} {{ 10 ** 300 > 1 }} {{ 2.0 ** 2000 > 1 if false else 'f' }} {{ 'ab' * 3 }} "
        "{{ ([1] * 3) | length }} {{ 3 * 4 }}\n", encoding="utf-8")
    r = KB(root, tmp_path / "kb.sqlite")("render", "fine")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("1024 True f ababab 3 12\n")


@pytest.mark.parametrize(("unit", "message"), [
    ("(km/m)^200", "unit '(km/m)^200': a power must be a number of at most 12"),
    ("(byte/bit)^2000000000", "a power must be a number of at most 12"),
    ("(Ym/m)^12*(EB/bit)^12*W", "is out of range (its size in SI units is not a finite number)"),
    ("W" * 150, "is longer than 100 characters"),
    ("W^(9^9^9)", "a power must be a number of at most 12"),
    ("W^(2^2^2^2^2^2)", "a power must be a number of at most 12"),
    ("(W^12)^12", "a unit's power must be at most 12 in all"),
    ("W^9^9^9", "a power of a power"),  # W^(9^(9^9)): pint computed for minutes
    ("W**(9)**(9)**(9)", "a power of a power"),
    ("*".join(["W"] * 49), "a unit's power must be at most 12 in all"),
])
def test_a_unit_too_large_to_compute_is_refused_at_once(root: Path, tmp_path: Path, unit: str, message: str) -> None:
    started = time.monotonic()
    r = KB(root, tmp_path / "kb.sqlite")("add", "fact", "h100-sxm", "tdp", "1", unit, "--source", "vendor-sheet")
    assert r.exit_code == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.output
    assert time.monotonic() - started < 20


def test_a_value_whose_si_value_overflows_is_refused(root: Path, tmp_path: Path) -> None:
    r = KB(root, tmp_path / "kb.sqlite")("add", "fact", "h100-sxm", "tdp", "1e308", "GW", "--source", "vendor-sheet",
                                         "--accept-implausible", "testing the bound")
    assert r.exit_code == 1 and r.stderr == ("Error: a value for tdp of 1e308 GW is out of range: in SI units it is "
                                             "not a finite number\n")


@pytest.mark.parametrize("text", ["/etc/passwd", "../../../../etc/passwd", "facts/../../outside.txt"])
def test_a_source_text_outside_the_project_is_refused(root: Path, tmp_path: Path, text: str) -> None:
    (tmp_path / "outside.txt").write_text("root:x:0:0\n")
    path = tmp_path / "src.yaml"
    path.write_text(f"sources:\n  - id: outside\n    title: Outside\n    text: {text}\nfacts:\n"
                    "  - {entity: h100-sxm, property: tdp, value: '700', unit: W, source: outside, quote: 'root:x:0:0'}\n")
    r = KB(root, tmp_path / "kb.sqlite")("load", str(path))
    assert r.exit_code == 1 and r.stderr == (f"Error: {path}:4: source text {text!r} is not a file under the project "
                                             "folder; put it under it (e.g. facts/texts/) and name it relative to the "
                                             "project\n")


def test_a_source_text_too_large_is_refused(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.yamlio

    monkeypatch.setattr(kb.yamlio, "MAX_SOURCE_TEXT", 1000)
    (root / "facts" / "texts").mkdir(exist_ok=True)
    (root / "facts" / "texts" / "big.txt").write_text("x" * 2000)
    path = tmp_path / "src.yaml"
    path.write_text("sources:\n  - {id: big, title: Big, text: facts/texts/big.txt}\nfacts:\n"
                    "  - {entity: h100-sxm, property: tdp, value: '700', unit: W, source: big, quote: 'xxx'}\n")
    r = KB(root, tmp_path / "kb.sqlite")("load", str(path))
    assert r.exit_code == 1 and r.stderr == (f"Error: {path}:2: source text 'facts/texts/big.txt' is larger than "
                                             "1000 bytes\n"), r.output


def test_an_error_quotes_at_most_200_characters_of_a_bad_value(root: Path, tmp_path: Path) -> None:
    value = "9" * 100_000 + "x"
    r = KB(root, tmp_path / "kb.sqlite")("add", "fact", "h100-sxm", "tdp", value, "W", "--source", "vendor-sheet")
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and len(r.stderr) < 400, r.stderr[:500]
    assert "'" + "9" * 197 + "...' (100001 characters)" in r.stderr


def test_kb_stale_reads_no_template_outside_the_project(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.md.j2"
    outside.write_text("{# elsewhere #}\n{{ q('gradient_size', 'big') if false else 'x' }}\n")
    kb = KB(root, tmp_path / "kb.sqlite")
    assert kb("facts").exit_code == 0
    with sqlite3.connect(tmp_path / "kb.sqlite") as conn:  # a row naming a file anywhere (a changed database)
        conn.execute("INSERT INTO render (id, template, scenario, rendered_at, output_hash) "
                     "VALUES ('r1', ?, NULL, '2026-12-04T00:00:00Z', 'x')", (str(outside),))
    r = kb("stale")
    assert r.exit_code == 0 and "the template is gone (or not under the project folder)" in r.stderr, r.output


def test_a_source_text_that_is_not_there_is_refused_at_load(root: Path, tmp_path: Path) -> None:
    # a source is never changed, so a path written relative to the fact file (not the project) would stay wrong
    path = tmp_path / "src.yaml"
    path.write_text("sources:\n  - {id: brochure, title: Brochure, text: texts/brochure.txt}\n")
    r = KB(root, tmp_path / "kb.sqlite")("load", str(path))
    assert r.exit_code == 1 and r.stderr == (f"Error: {path}:2: source text 'texts/brochure.txt' is not a file: text: "
                                             f"is relative to the project folder ({root}), e.g. facts/texts/x.txt\n")



def test_kb_sql_bounds_the_size_of_a_value(shipped_db: Path) -> None:
    started = time.monotonic()
    r = kb_run(shipped_db, "sql", "--timeout", "2", "SELECT length(a) + length(b) FROM (SELECT randomblob(999999999) a, "
                                                   "randomblob(999999999) b)")
    assert (r.returncode, r.stderr) == (1, "Error: SQL stopped: a value is larger than 100 MB\n")
    assert time.monotonic() - started < 30


def test_a_template_nested_too_deeply_is_one_line(root: Path, tmp_path: Path) -> None:
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / "parens.md.j2").write_text("{# parens #}\n{{ " + "(" * 300 + "1" + ")" * 300 + " }}\n")
    kb = KB(root, tmp_path / "kb.sqlite")
    for args in (("check",), ("render", "parens")):
        r = kb(*args)
        assert r.exit_code == 1 and "the template nests too deeply to read" in r.output and "Traceback" not in r.output
