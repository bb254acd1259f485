"""What a hostile trial of the PostgreSQL support found, each a repro: another application's tables are never
dropped, a first use that failed or was killed gets the shipped facts next time, a killed copy leaves no
half-made SQLite file, passwords are never printed, a silent server or a held lock is a one-line error in
bounded time, and kb sql shows every column type as text."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from conftest import CHECKOUT, KB
from helpers import assert_clean_error


def shipped_count(tmp_path: Path) -> int:
    db = tmp_path / "shipped.sqlite"
    assert KB(CHECKOUT, db)("facts").exit_code == 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM fact").fetchone()[0])


def pg_count(url: str, sql: str = "SELECT count(*) FROM fact") -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(sql).fetchone()[0])  # type: ignore[index]


def test_another_applications_tables_are_refused_and_kept(pg_url: str) -> None:
    for table in ("event", "source", "entity"):
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} (id text primary key, payload text)")  # type: ignore[arg-type]
            conn.execute(f"INSERT INTO {table} VALUES ('row1', 'precious')")  # type: ignore[arg-type]
        err = assert_clean_error(KB(CHECKOUT, pg_url)("facts"))  # type: ignore[arg-type]
        assert f"the database already has tables kb did not make ({table}); give kb an empty database" in err
        assert pg_count(pg_url, f"SELECT count(*) FROM {table} WHERE payload = 'precious'") == 1
        with psycopg.connect(pg_url, autocommit=True) as conn:
            assert conn.execute("SELECT to_regclass('_kb_migrations')").fetchone() == (None,)
            conn.execute(f"DROP TABLE {table}")  # type: ignore[arg-type]


def test_a_first_use_that_failed_gets_the_shipped_facts_next_time(pg_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("facts:\n  - {entity: no-such-thing, property: tdp, value: '1', unit: W, source: x}\n")
    kb = KB(CHECKOUT, pg_url)  # type: ignore[arg-type]
    assert "no-such-thing" in assert_clean_error(kb("load", str(bad)))
    r = kb("query", "gradient_bandwidth", "-s", "b200-500k-nvl72")
    assert (r.exit_code, r.stdout) == (0, "gradient_bandwidth [b200-500k-nvl72] = 292 Tbps\n"), r.output
    assert pg_count(pg_url) == shipped_count(tmp_path)


def test_a_first_use_killed_midway_gets_the_shipped_facts_next_time(pg_url: str, tmp_path: Path) -> None:
    # the schema is made, the first load never commits: as after a kill between the two
    from kb import postgres

    eng = postgres.engine(pg_url)
    postgres.migrate(eng)
    eng.dispose()
    r = KB(CHECKOUT, pg_url)("facts", "--json")  # type: ignore[arg-type]
    assert r.exit_code == 0
    assert pg_count(pg_url) == shipped_count(tmp_path)


def test_a_killed_copy_leaves_no_half_made_sqlite_file(tmp_path: Path) -> None:
    source = tmp_path / "big.sqlite"
    epoch = sorted((CHECKOUT / "tests" / "data" / "epoch").glob("*.csv"))  # the snapshot the tests ship
    assert len(epoch) == 3
    r = KB(CHECKOUT, source)("import", "epoch", *map(str, epoch))
    assert r.exit_code == 0, r.output
    complete = sqlite3.connect(source).execute("SELECT count(*) FROM fact").fetchone()[0]
    killed = 0
    for n, delay in enumerate((0.0, 0.05, 0.15, 0.3)):
        target = tmp_path / f"copy-{n}.sqlite"
        proc = subprocess.Popen([sys.executable, "-m", "kb", "--db", str(source), "copy", "--to", str(target)],
                                cwd=CHECKOUT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(f".{target.name}.creating-*")) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.005)  # until the copy is being written
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        if target.exists():  # it finished before the kill: whole
            assert sqlite3.connect(target).execute("SELECT count(*) FROM fact").fetchone()[0] == complete
            continue
        killed += 1
        assert not Path(f"{target}-journal").exists()
        r = KB(CHECKOUT, source)("copy", "--to", str(target))  # the same path: it can be made now
        assert r.exit_code == 0, r.output
        assert not list(tmp_path.glob(f".{target.name}.creating-*"))  # the killed copy's temporary file is swept
    assert killed, "every copy finished before its kill: make the source bigger"


def test_passwords_are_never_printed(pg_url: str) -> None:
    base = pg_url.rsplit("/", 1)[0]
    for url in (f"{base}/nonexistent?password=secretpw", base.replace("://kb@", "://kb:p@secretpw@") + "/x",
                base.replace("://kb@", "://kb:secretpw@") + "/nonexistent"):
        r = KB(CHECKOUT, url)("facts")  # type: ignore[arg-type]
        err = assert_clean_error(r)
        assert "secretpw" not in r.output, r.output
        assert "postgresql://kb" in err
    for url in ("postgresql://kb@[::1/x", "postgresql://kb@h:notaport/x"):
        assert "not a PostgreSQL URL kb can read" in assert_clean_error(KB(CHECKOUT, url)("facts"))  # type: ignore[arg-type]
    assert "the URL names no database" in assert_clean_error(KB(CHECKOUT, "postgresql://")("facts"))  # type: ignore[arg-type]


def test_a_server_that_never_answers_is_an_error_in_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from kb import postgres

    monkeypatch.setattr(postgres, "CONNECT_TIMEOUT", 2)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts, never replies
    port = silent.getsockname()[1]
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    started = time.monotonic()
    err = assert_clean_error(KB(CHECKOUT, f"postgresql://kb@127.0.0.1:{port}/x")("facts"))  # type: ignore[arg-type]
    assert time.monotonic() - started < 30 and f"cannot connect to postgresql://kb@127.0.0.1:{port}/x" in err
    for conn in held:
        conn.close()
    silent.close()


def test_a_held_lock_is_an_error_in_bounded_time(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from kb import postgres

    kb = KB(CHECKOUT, pg_url)  # type: ignore[arg-type]
    assert kb("facts").exit_code == 0
    monkeypatch.setattr(postgres, "LOCK_WAIT", 1.0)
    with psycopg.connect(pg_url, autocommit=True) as holder:
        holder.execute(f"SELECT pg_advisory_lock({postgres.LOCK_ID})")  # type: ignore[arg-type]
        err = assert_clean_error(kb("facts"))
        assert f"(or a session holding pg_advisory_lock({postgres.LOCK_ID})) has kept" in err and "locked for 1 s" in err
    assert kb("facts").exit_code == 0  # released: it works again


def test_kb_sql_shows_every_type_as_text(pg_url: str) -> None:
    kb = KB(CHECKOUT, pg_url)  # type: ignore[arg-type]
    r = kb("sql", "SELECT 'fact'::regclass AS r, 1::money AS m, point(1,2) AS p, pg_sleep(0) AS v, "
                  "(SELECT search FROM fact WHERE search @@ to_tsquery('simple', 'oversubscription') LIMIT 1) AS s",
           "--json")
    assert r.exit_code == 0, r.output
    (row,) = __import__("json").loads(r.stdout)
    assert row["r"] == "fact" and row["m"] == "$1.00" and row["p"] == "(1,2)" and row["v"] == ""
    assert "'oversubscription':" in row["s"] and "b'" not in r.stdout


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_underscores_alone_are_no_words_on_either_backend(backend: str, pg_url: str, tmp_path: Path) -> None:
    kb = KB(CHECKOUT, pg_url if backend == "postgresql" else tmp_path / "kb.sqlite")  # type: ignore[arg-type]
    for text in ("_", "__", "_*"):
        assert "has no words to search for" in assert_clean_error(kb("search", text))


def test_a_copy_into_a_target_with_only_a_vocabulary_is_refused(pg_url: str, tmp_path: Path) -> None:
    from kb import postgres
    from kb.store import Store

    src = tmp_path / "kb.sqlite"
    assert KB(CHECKOUT, src)("facts").exit_code == 0
    store = Store._open_postgres(pg_url, tmp_path, load_shipped=False)  # the schema and a synced vocabulary only
    store.close()
    eng = postgres.engine(pg_url)
    assert postgres.holds_nothing(eng)
    eng.dispose()
    err = assert_clean_error(KB(CHECKOUT, src)("copy", "--to", pg_url))
    assert "the target already holds a knowledge base" in err and "property rows" in err
