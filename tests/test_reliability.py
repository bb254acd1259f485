"""Never lose the database: concurrent first use, device and FIFO paths, outputs aimed at the database, a
render whose record fails, planted symlinks, and a kill while a database is made. The real CLI, in
subprocesses where processes race or are killed."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CHECKOUT, KB
from helpers import assert_clean_error

from kb.creation import Made, create, discard


def kb_process(root: Path, db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kb", "--root", str(root), "--db", str(db), *args], cwd=CHECKOUT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_kb(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command on the shipped project, in a fresh process."""
    return subprocess.run([sys.executable, "-m", "kb", "--db", str(db), *args], cwd=CHECKOUT, capture_output=True,
                          text=True, timeout=300)


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


@pytest.mark.parametrize("writers", [2, 8])
def test_commands_started_together_on_a_missing_database_make_it_once(root: Path, tmp_path: Path, writers: int) -> None:
    shipped = tmp_path / "shipped.sqlite"
    assert KB(root, shipped)("facts").exit_code == 0
    facts = count(shipped, "SELECT count(*) FROM fact")
    db = tmp_path / "new.sqlite"
    procs = [kb_process(root, db, "add", "fact", "h100-sxm", "tdp", str(500 + p), "W", "--source", "vendor-sheet")
             for p in range(writers)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * writers, [err for _, err in results]
    assert db.is_file()
    assert count(db, "SELECT count(*) FROM fact") == facts + writers  # the shipped facts once, every new one
    assert count(db, "SELECT count(DISTINCT id) FROM fact") == facts + writers
    assert not list(tmp_path.glob(".new.sqlite.creating-*"))  # no temporary file left


def test_a_device_or_a_fifo_is_never_taken_for_a_database(root: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    paths = [fifo]
    if os.geteuid() == 0:  # a character device like /dev/null (made here: the real one must never be at risk)
        null = tmp_path / "null"
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        paths.append(null)
    for path in paths:
        before = path.lstat().st_mode
        err = assert_clean_error(KB(root, path)("facts"))
        assert "is not a regular file" in err and str(path) in err
        assert path.lstat().st_mode == before  # still the device or FIFO, not replaced or removed


def test_an_output_to_a_device_or_a_fifo_is_written_through(kb: KB, tmp_path: Path) -> None:
    assert kb("facts").exit_code == 0
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = kb("export", "-o", str(fifo))
    reader.join(timeout=60)
    assert r.exit_code == 0, r.output
    assert got and got[0].startswith(b"# kb export") and stat.S_ISFIFO(fifo.lstat().st_mode)
    if os.geteuid() == 0:
        null = tmp_path / "null"
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        for args in (["export", "-o", str(null)], ["render", "site", "-s", "goodyear-news", "-o", str(null)]):
            r = kb(*args)
            assert r.exit_code == 0, r.output
            assert stat.S_ISCHR(null.lstat().st_mode)


def test_an_output_path_that_is_the_database_is_refused(root: Path, tmp_path: Path) -> None:
    db = tmp_path / "kb.md"  # a database whose name a report could have
    kb = KB(root, db)
    assert kb("facts").exit_code == 0
    link = tmp_path / "link.md"
    link.symlink_to(db)
    hard = tmp_path / "hard.md"
    os.link(db, hard)
    before = db.read_bytes()
    for target in (db, link, hard, Path(f"{db}-journal")):
        for args in (["export", "-o", str(target)], ["render", "site", "-s", "goodyear-news", "-o", str(target)]):
            err = assert_clean_error(kb(*args))
            assert "is the database" in err, err
    (tmp_path / "folder").mkdir()
    inner = tmp_path / "folder" / "site.md"
    assert kb("facts").exit_code == 0
    err = assert_clean_error(KB(root, inner)("render", "--all", "-o", str(tmp_path / "folder")))
    assert "is the database" in err
    assert db.read_bytes() == before
    plot_db = tmp_path / "kb.png"
    plotted = KB(root, plot_db)
    assert plotted("facts").exit_code == 0
    png = plot_db.read_bytes()
    r = plotted("query", "power_per_gpu", "-s", "goodyear-news", "--samples", "200", "--plot", str(plot_db))
    assert r.exit_code != 0 and "is the database" in r.stderr, r.output
    assert plot_db.read_bytes() == png


def test_a_render_whose_record_fails_writes_nothing(kb: KB, db: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from kb import db as kb_db

    assert kb("facts").exit_code == 0
    monkeypatch.setattr(kb_db, "LOCK_WAIT", 1.0)  # not the minute a user's command waits
    out = tmp_path / "site.md"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock: readers go on, writers wait
    try:
        r = kb("render", "site", "-s", "goodyear-news", "-o", str(out))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "database is locked: another command kept it locked for 1 s; try again" in assert_clean_error(r)
    assert not out.exists()


def test_a_symlink_planted_at_the_old_temporary_name_is_not_followed(kb: KB, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "export.yaml"
    Path(f"{out}.tmp").symlink_to(victim)
    r = kb("export", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert victim.read_text() == "precious" and out.read_text().startswith("# kb export")


def test_a_kill_while_a_database_is_made_leaves_none_half_made(root: Path, tmp_path: Path) -> None:
    lines = ["facts:"]
    for i in range(4000):  # enough that making the database takes a while
        lines += ["  - entity: big-run", "    property: gpu_count", f"    value: '{10000 + i}'", "    unit: ''",
                  "    source: news-item"]
    (root / "facts" / "zz-many.yaml").write_text("\n".join(lines) + "\n")
    db = tmp_path / "kb.sqlite"
    proc = kb_process(root, db, "facts", "big-run")
    deadline = time.monotonic() + 120
    def begun() -> bool:  # the database, or the temporary file it is made in, has appeared
        return db.exists() or bool(list(tmp_path.glob(".kb.sqlite.creating-*")))

    while not begun() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the creation finished before the kill: make it longer"
    assert not db.exists()  # the database appears whole or not at all
    r = KB(root, db)("facts", "big-run", "--json")
    assert r.exit_code == 0, r.output
    assert count(db, "SELECT count(*) FROM fact WHERE entity = 'big-run' AND property = 'gpu_count'") >= 4000
    assert not list(tmp_path.glob(".kb.sqlite.creating-*"))  # the killed creation's file was swept


def test_a_failing_command_removes_a_new_database_but_never_one_written_to_since(root: Path, tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    r = KB(root, db)("add", "fact", "h100-sxm", "tdp", "700", "W", "--source", "no-such-source")
    assert "no-such-source" in assert_clean_error(r)
    assert not db.exists()  # it made the database, then failed: nothing is left

    def build(path: Path) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE t (x)")

    made = create(tmp_path / "made.sqlite", build)
    assert isinstance(made, Made) and made.path.is_file()
    with sqlite3.connect(made.path) as conn:  # another process writes to it
        conn.execute("INSERT INTO t VALUES (1)")
    discard(made)
    assert made.path.is_file()  # someone else's now: kept
    again = create(tmp_path / "made.sqlite", build)
    assert again is None  # it exists: the other process's database is opened, not replaced


def test_a_new_database_in_wal_mode_written_to_since_is_kept(tmp_path: Path) -> None:
    # in write-ahead-log mode SQLite need not bump the change counter: the size and time of the file tell
    def build(path: Path) -> None:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        conn.close()

    made = create(tmp_path / "wal.sqlite", build)
    assert isinstance(made, Made)
    time.sleep(0.01)
    conn = sqlite3.connect(made.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    conn.commit()
    conn.close()  # the last connection checkpoints the log into the file
    discard(made)
    assert made.path.is_file() and count(made.path, "SELECT count(*) FROM t") == 1000


@pytest.mark.parametrize("name", ["team%20kb.sqlite", "kb?v=1.sqlite", "a#b.sqlite"])
def test_a_database_name_with_url_characters_is_the_file_written(tmp_path: Path, name: str) -> None:
    """A name SQLAlchemy would read as URL syntax ('%20' as a space, '?' as options) is the file read and written."""
    db, twin = tmp_path / name, tmp_path / "team kb.sqlite"
    made = run_kb(db, "facts", "h100-sxm")
    assert made.returncode == 0, made.stderr
    shutil.copy(db, twin)
    added = run_kb(db, "add", "fact", "h100-sxm", "tdp", "703", "W", "--source", "nvidia-h100-product-page")
    assert added.returncode == 0, added.stderr
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM fact WHERE value = 703").fetchone() == (1,)
    conn.close()
    with sqlite3.connect(twin) as conn:
        assert conn.execute("SELECT count(*) FROM fact WHERE value = 703").fetchone() == (0,)
    conn.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_another_programs_database_is_refused_and_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    conn.close()
    before = db.read_bytes()
    r = run_kb(db, "facts")
    assert r.returncode == 1 and "holds tables kb did not make (users)" in r.stderr and "Traceback" not in r.stderr
    assert db.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_commands_opening_an_old_database_together_migrate_it_once(tmp_path: Path) -> None:
    """A migration pending: eight commands at once take turns for it (each reads what is done under the write
    lock), where some failed with 'UNIQUE constraint failed: _kb_migrations.name' (a hostile trial saw it in 3
    of 5 rounds on a loaded machine; here the race is only as likely as the processes' start-up allows)."""
    db = tmp_path / "old.sqlite"
    assert run_kb(db, "facts").returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM _kb_migrations WHERE name LIKE '009%'")
    conn.close()
    procs = [subprocess.Popen([sys.executable, "-m", "kb", "--db", str(db), "facts", "h100-sxm"], cwd=CHECKOUT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert count(db, "SELECT count(*) FROM _kb_migrations WHERE name LIKE '009%'") == 1
