"""Connections, the ordered (SQLite) migrations, and the triggers that keep history append-only.

A knowledge base is a SQLite file or a PostgreSQL database (:mod:`kb.postgres` has its migrations). The
store's SQL is written once, with ``?`` placeholders, and runs on either through :func:`run`; the few
statements that differ (full-text search, JSON lists) are chosen by :func:`is_postgres`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import KBError

APPEND_ONLY_TABLES = ("fact", "event")


def _abort(name: str, event: str, table: str, message: str, when: str = "") -> tuple[str, str]:
    return name, (f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {event} ON {table} {when}"
                  f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def _no_replace(table: str, key: str = "id") -> tuple[str, str]:
    # INSERT OR REPLACE deletes the old row without firing DELETE triggers; refuse it before it starts.
    return _abort(f"{table}_no_replace", "INSERT", table, f"{table} is append-only: this {key} is already recorded",
                  f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {key} = NEW.{key}) ")


_ALIASES = "(SELECT coalesce(group_concat(value, ' '), '') FROM json_each(coalesce({}.aliases, '[]')))"

# Every trigger kb relies on, by name: the append-only guards and the search index's feeds. The migrations
# create them; `kb check` reports one that is missing and `kb check --repair-triggers` re-creates it.
TRIGGERS: dict[str, str] = dict([
    *(_abort(f"{t}_no_{a.lower()}", a, t, f"{t} is append-only: record a new fact or event instead")
      for t in APPEND_ONLY_TABLES for a in ("UPDATE", "DELETE")),
    *(_no_replace(t) for t in APPEND_ONLY_TABLES),
    *(_abort(f"entity_alias_no_{a.lower()}", a, "entity_alias", "entity_alias is append-only") for a in ("UPDATE", "DELETE")),
    ("fact_fts_insert", "CREATE TRIGGER IF NOT EXISTS fact_fts_insert AFTER INSERT ON fact BEGIN INSERT INTO "
                        "fact_fts(rowid, quote, note, locator) VALUES (new.rowid, new.quote, new.note, new.locator); END"),
    ("entity_fts_insert", "CREATE TRIGGER IF NOT EXISTS entity_fts_insert AFTER INSERT ON entity BEGIN "
                          "INSERT INTO entity_fts(rowid, name, aliases, id) VALUES (new.rowid, new.name, "
                          f"{_ALIASES.format('new')}, new.id); END"),
    ("entity_alias_fts_insert", "CREATE TRIGGER IF NOT EXISTS entity_alias_fts_insert AFTER INSERT ON entity_alias "
                                "BEGIN UPDATE entity_fts SET aliases = aliases || ' ' || new.alias "
                                "WHERE rowid = (SELECT rowid FROM entity WHERE id = new.entity); END"),
    ("source_fts_insert", "CREATE TRIGGER IF NOT EXISTS source_fts_insert AFTER INSERT ON source BEGIN "
                          "INSERT INTO source_fts(rowid, title, publisher, authors) VALUES (new.rowid, new.title, "
                          f"new.publisher, {_ALIASES.replace('aliases', 'authors').format('new')}); END"),
    *(_abort(f"{t}_no_{a.lower()}", a, t, f"{t} is append-only: record a new {t} with another id instead")
      for t in ("source", "entity") for a in ("UPDATE", "DELETE")),
    *(_no_replace(t) for t in ("source", "entity")),
    _no_replace("entity_alias", "alias"),
])


def _triggers(conn: Any, *names: str) -> None:
    for name in names:
        conn.exec_driver_sql(TRIGGERS[name])


def _create_base_tables(conn: Any) -> None:
    from sqlmodel import SQLModel

    from . import models

    tables = [models.Source, models.Entity, models.Property, models.Fact, models.Event]
    SQLModel.metadata.create_all(conn, tables=[t.__table__ for t in tables])  # type: ignore[attr-defined]
    _triggers(conn, *(f"{t}_no_{a}" for t in APPEND_ONLY_TABLES for a in ("update", "delete")))


def _create_render_tables(conn: Any) -> None:
    from sqlmodel import SQLModel

    from . import models

    tables = [models.Render, models.RenderNumber, models.RenderInput]
    SQLModel.metadata.create_all(conn, tables=[t.__table__ for t in tables])  # type: ignore[attr-defined]


def _create_fts(conn: Any) -> None:
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE IF NOT EXISTS fact_fts USING fts5("
        "quote, note, locator, content='fact', content_rowid='rowid')"
    )
    _triggers(conn, "fact_fts_insert")


def _forbid_replace(conn: Any) -> None:
    _triggers(conn, *(f"{t}_no_replace" for t in APPEND_ONLY_TABLES))


def _render_number_claims(conn: Any) -> None:
    # Renders record which competing claims a q() call pinned (q(..., claims={...})).
    columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(render_number)")}
    if "claims" not in columns:
        conn.exec_driver_sql("ALTER TABLE render_number ADD COLUMN claims TEXT")


def _add_columns(conn: Any, table: str, columns: dict[str, str]) -> None:
    present = {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table})")}
    for name, sql_type in columns.items():
        if name not in present:  # a new database has them from the models already
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")


def _claim_qualifiers(conn: Any) -> None:
    # Claims carry what analysts record (scope, status, ...); properties their plausible range and scopes.
    _add_columns(conn, "fact", {c: "VARCHAR" for c in (
        "scope", "status", "configuration", "conditions", "dollar_year", "method_detail", "plausibility",
        "plausibility_reason")})
    _add_columns(conn, "property", {"plausible": "VARCHAR", "plausible_low": "FLOAT", "plausible_high": "FLOAT",
                                    "scopes": "VARCHAR", "origin": "VARCHAR NOT NULL DEFAULT 'schema'"})
    if _has_table(conn, "_kb_meta"):  # re-read the vocabulary into the new columns
        conn.exec_driver_sql("DELETE FROM _kb_meta WHERE key = 'properties_sha256'")


def _cites_and_aliases(conn: Any) -> None:
    # A claim may list the URLs its source cites for it; an entity may gain names after it is recorded.
    from sqlmodel import SQLModel

    from . import models

    _add_columns(conn, "fact", {"cites": "VARCHAR"})
    SQLModel.metadata.create_all(conn, tables=[models.EntityAlias.__table__])  # type: ignore[attr-defined]
    _triggers(conn, "entity_alias_no_update", "entity_alias_no_delete")


def _search_index(conn: Any) -> None:
    # `kb search` and Datasette's search boxes: entities (id, name, aliases, names imported later) and sources
    # (title, publisher, authors) beside fact_fts. Each index row's rowid is its entity's or source's.
    conn.exec_driver_sql("CREATE VIRTUAL TABLE IF NOT EXISTS entity_fts USING fts5(name, aliases, id)")
    conn.exec_driver_sql("CREATE VIRTUAL TABLE IF NOT EXISTS source_fts USING fts5(title, publisher, authors)")
    _triggers(conn, "entity_fts_insert", "entity_alias_fts_insert", "source_fts_insert")
    rebuild_name_index(conn)  # what a database already holds


def rebuild_name_index(conn: Any) -> None:
    """The entities' and sources' search rows, rebuilt whole from their tables."""
    conn.exec_driver_sql("DELETE FROM entity_fts")
    conn.exec_driver_sql("DELETE FROM source_fts")
    conn.exec_driver_sql(
        "INSERT INTO entity_fts(rowid, name, aliases, id) SELECT e.rowid, e.name, trim("
        f"{_ALIASES.format('e')} || ' ' || coalesce((SELECT group_concat(a.alias, ' ') FROM entity_alias a "
        "WHERE a.entity = e.id), '')), e.id FROM entity e")
    conn.exec_driver_sql(
        "INSERT INTO source_fts(rowid, title, publisher, authors) SELECT s.rowid, s.title, s.publisher, "
        f"{_ALIASES.replace('aliases', 'authors').format('s')} FROM source s")


def _sources_and_entities_append_only(conn: Any) -> None:
    # a source's URL or an entity's name changed in place would go unnoticed: they are versions, as facts are
    _triggers(conn, *(f"{t}_no_{a}" for t in ("source", "entity") for a in ("update", "delete", "replace")),
              "entity_alias_no_replace")


def _has_table(conn: Any, name: str) -> bool:
    return conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).first() is not None


# Ordered; never edit or reorder an applied migration, only append.
MIGRATIONS: list[tuple[str, Callable[[Any], None]]] = [
    ("001_base_tables", _create_base_tables),
    ("002_render_manifest", _create_render_tables),
    ("003_fact_search", _create_fts),
    ("004_forbid_replace", _forbid_replace),
    ("005_render_number_claims", _render_number_claims),
    ("006_claim_qualifiers", _claim_qualifiers),
    ("007_cites_and_aliases", _cites_and_aliases),
    ("008_search_index", _search_index),
    ("009_sources_and_entities_append_only", _sources_and_entities_append_only),
]


def is_postgres(conn: Any) -> bool:
    """Whether a connection or engine talks to PostgreSQL (else SQLite)."""
    return bool(conn.dialect.name == "postgresql")


def run(conn: Any, query: str, params: Any = ()) -> Any:
    """Execute ``query`` (``?`` placeholders; a list of tuples runs it for each) on SQLite or PostgreSQL."""
    if conn.dialect.name == "postgresql":  # psycopg's placeholders are %s, and a literal % is %%
        query = query.replace("%", "%%").replace("?", "%s") if params else query
    return conn.exec_driver_sql(query, params)


def ensure_meta(conn: Any) -> None:
    """The ``_kb_meta`` table (settings kb keeps: the vocabulary's digest, the write marker). A PostgreSQL
    schema has it from its first migration, and a role that may not create tables must not be asked to."""
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS _kb_meta (key TEXT PRIMARY KEY, value TEXT)")


# Seconds a SQLite command waits for another's write to finish before "database is locked" (sqlite3's
# default, 5 s, lost writes of a burst of concurrent commands on a loaded machine: SQLite's busy handler
# polls, it does not queue). As long as a PostgreSQL command waits for kb's lock.
LOCK_WAIT = 60.0


def sqlite_engine(path: Path) -> Any:
    """A SQLAlchemy engine for the SQLite file at ``path``, foreign keys on (not migrated)."""
    import sqlite3

    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import QueuePool

    if path.exists() and path.is_dir():
        raise KBError(f"database path {str(path)!r} is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    uri = _file_uri(path)  # not sqlite:///{path}: SQLAlchemy would read '%20' or '?' in a file's name as URL syntax
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=LOCK_WAIT,
                                                                         check_same_thread=False),
                           poolclass=QueuePool)  # a file's pool, as sqlite:///{path} gets (not the in-memory one's)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        try:  # write-ahead logging: a long read (kb sql, kb serve) never locks out a writer
            cur.execute("PRAGMA journal_mode = WAL")  # kept in the file; a no-op once set
        except sqlite3.OperationalError:
            pass  # another connection holds it in the old mode right now: the next command switches it
        cur.close()

    return engine


def _file_uri(path: Path) -> str:
    """``file:`` URI of a path, every character of its name escaped (``%``, ``?``, ``#``, spaces)."""
    import os

    return Path(os.path.abspath(path)).as_uri()


def sqlite_reader(path: Path) -> Any:
    """A plain ``sqlite3`` connection to the existing SQLite file at ``path``, for reading (autocommit: each
    statement sees what is committed when it starts), without importing SQLAlchemy."""
    import sqlite3

    conn = sqlite3.connect(f"{_file_uri(path)}?mode=rw", uri=True, isolation_level=None, check_same_thread=False,
                           timeout=LOCK_WAIT)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def is_current(path: Path) -> bool:
    """Whether the SQLite file at ``path`` has had every migration (then opening it needs no engine). A file
    holding tables but no ``_kb_migrations`` is another program's database: refused, never changed."""
    import sqlite3

    try:
        conn = sqlite_reader(path)
    except sqlite3.Error:
        return False
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "_kb_migrations" not in tables:
            raise KBError(f"database {str(path)!r} holds tables kb did not make ({', '.join(sorted(tables)[:3])}"
                          f"{', ...' if len(tables) > 3 else ''}); give a new file's path, or an empty one")
        done = {row[0] for row in conn.execute("SELECT name FROM _kb_migrations")} if tables else set()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return all(name in done for name, _ in MIGRATIONS)


def engine_for(target: Path | str) -> Any:
    """An engine for a SQLite file's path or a PostgreSQL URL, its schema migrated."""
    from . import postgres

    if isinstance(target, str) and postgres.is_url(target):
        engine = postgres.engine(target)
        postgres.migrate(engine)
        return engine
    engine = sqlite_engine(Path(target))
    migrate(engine)
    return engine


def migrate(engine: Any) -> list[str]:
    """Apply pending migrations in order; returns the names applied."""
    from .values import now_stamp

    applied: list[str] = []
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS _kb_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        # the write lock before reading what is done: commands migrating at once take turns, and the second
        # finds the first's work (a write that changes nothing starts the write transaction)
        conn.exec_driver_sql("DELETE FROM _kb_migrations WHERE 0")
        done = {row[0] for row in conn.exec_driver_sql("SELECT name FROM _kb_migrations")}
        for name, step in MIGRATIONS:
            if name in done:
                continue
            step(conn)
            conn.exec_driver_sql(
                "INSERT INTO _kb_migrations (name, applied_at) VALUES (?, ?)", (name, now_stamp())
            )
            applied.append(name)
    return applied
