"""History is append-only, even against raw SQL on the database file."""

from __future__ import annotations

import sqlite3

import pytest
from helpers import all_rows, by_value

from kb import db as kbdb


@pytest.fixture
def with_event(store):
    fid = by_value(store.claims("goodyear", "gpu_count"), 150000)["id"]
    store.record_rank(fid, "deprecated", "for the test")
    return store


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE fact SET value = 1",
        "UPDATE fact SET rank = 'deprecated' WHERE entity = 'h100-sxm'",
        "DELETE FROM fact",
        "DELETE FROM fact WHERE entity = 'b200'",
        "UPDATE event SET rank = 'preferred'",
        "DELETE FROM event",
    ],
)
def test_raw_sql_cannot_change_history(with_event, db, statement):
    before = all_rows(db)
    assert before["event"] and before["fact"]
    conn = sqlite3.connect(db)
    try:
        with pytest.raises(sqlite3.DatabaseError) as err:
            conn.execute(statement)
        assert isinstance(err.value, sqlite3.IntegrityError)
        assert "append-only" in str(err.value)
        conn.commit()
    finally:
        conn.close()
    assert all_rows(db) == before


@pytest.mark.parametrize("table", ["fact", "event"])
def test_insert_or_replace_cannot_rewrite_history(with_event, db, table):
    """REPLACE deletes the old row without firing DELETE triggers; it must be refused too."""
    before = all_rows(db)
    conn = sqlite3.connect(db)
    try:
        cols = [d[0] for d in conn.execute(f"SELECT * FROM {table} LIMIT 1").description]
        row = dict(zip(cols, conn.execute(f"SELECT * FROM {table} ORDER BY id LIMIT 1").fetchone(), strict=True))
        if table == "fact":
            row["value"] = 1.0
        else:
            row["reason"] = "rewritten"
        with pytest.raises(sqlite3.DatabaseError) as err:
            conn.execute(
                f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                tuple(row[c] for c in cols),
            )
            conn.commit()
        assert "append-only" in str(err.value)
    finally:
        conn.rollback()
        conn.close()
    assert all_rows(db) == before


def test_sources_and_entities_may_still_be_inserted(store, db):
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO entity (id, kind, name, aliases, recorded_at) VALUES ('x', 'other', 'x', '[]', 't')")
        conn.commit()
    finally:
        conn.close()
    assert "x" in store.entities()


def test_migrations_recorded_once(store, db):
    assert kbdb.migrate(store.engine) == []
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM _kb_migrations ORDER BY name")]
        triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    finally:
        conn.close()
    assert names == [name for name, _ in kbdb.MIGRATIONS]
    assert {"fact_no_update", "fact_no_delete", "event_no_update", "event_no_delete"} <= triggers


def test_database_path_that_is_a_directory(tmp_path, root):
    from kb.errors import KBError
    from kb.project import Project

    (tmp_path / "adir").mkdir()
    with pytest.raises(KBError, match="is a directory"):
        _ = Project.open(root, tmp_path / "adir").store



def test_missing_migrations_are_applied_on_open(store, db, root):
    """A database whose triggers and migration records are missing (as if made by an older kb) is
    brought up to date when it is opened, and history is append-only again."""
    from kb.project import Project

    conn = sqlite3.connect(db)
    try:
        triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
        for name in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DELETE FROM _kb_migrations")
        conn.commit()
    finally:
        conn.close()
    store.close()
    reopened = Project.open(root, db).store
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM _kb_migrations ORDER BY name")]
        after = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM fact")
    finally:
        conn.close()
    assert names == [name for name, _ in kbdb.MIGRATIONS]
    assert after == sorted(triggers)
    assert len(reopened.claims()) == 11


def test_a_sqlite_engine_pools_as_for_a_file(tmp_path):
    """The engine connects by an escaped file: URI (creator=...), which SQLAlchemy would otherwise pool as an
    in-memory database: one connection per thread, shared by a transaction and a read nested in it."""
    from kb import db

    engine = db.sqlite_engine(tmp_path / "a%20b.sqlite")
    try:
        assert type(engine.pool).__name__ == "QueuePool"
        with engine.begin() as outer:
            outer.exec_driver_sql("CREATE TABLE t (x)")
            outer.exec_driver_sql("INSERT INTO t VALUES (1)")
            with engine.connect() as inner:  # another connection: it does not see the uncommitted row
                assert inner.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        assert (tmp_path / "a%20b.sqlite").exists() and not (tmp_path / "a b.sqlite").exists()
    finally:
        engine.dispose()
