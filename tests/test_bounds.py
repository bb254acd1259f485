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
    assert (proc.returncode, out, err) == (130, "", "Interrupted: stopped by Ctrl-C; nothing half-written is kept.\n")


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
    assert (proc.returncode, err) == (130, "Interrupted: stopped by Ctrl-C; nothing half-written is kept.\n")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM fact WHERE note IS NULL AND value > 600 AND value < 630 "
                            "AND entity = 'h100-sxm' AND property = 'tdp' AND value != 700").fetchone()[0] == 0
    assert db.read_bytes() == before


@pytest.mark.parametrize(("body", "message"), [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "line 3: the template ran longer than 2 s"),
    ("{{ (7**100000000) > 1 }}", "line 3: 7 ** 100000000 is too large (a template's integer powers stay under "
                                 "100000 bits; write a float, e.g. 7.0 ** 100000000)"),
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
