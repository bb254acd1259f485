"""``kb copy``: a whole knowledge base from one database to another, SQLite or PostgreSQL, losslessly: every
row of every table (ids, recorded times, rank events, aliases, the render manifest) as stored.

The target must be empty. A SQLite target gets its schema from the ordered migrations (:mod:`kb.db`); a
PostgreSQL one from :func:`postgres_schema`: the same tables, append-only enforced by triggers (no
UPDATE, DELETE or TRUNCATE of facts, events and aliases), and the full-text search of quotes, notes
and locators as a ``tsvector`` column with a GIN index. Everything is one transaction on the target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import KBError

# parents before children (foreign keys); facts are ordered so an original precedes its correction
TABLES = ("source", "entity", "property", "fact", "event", "entity_alias", "render", "render_number",
          "render_input", "_kb_meta")
BATCH = 2000
POSTGRES_PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def is_url(target: str) -> bool:
    return target.startswith(POSTGRES_PREFIXES)


def engine_url(url: str) -> str:
    """A PostgreSQL URL as SQLAlchemy's psycopg (3) driver takes it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def shown(url: str) -> str:
    """A URL fit for a message: no password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(engine_url(url)).render_as_string(hide_password=True).replace("postgresql+psycopg://", "postgresql://")
    except Exception:  # a URL SQLAlchemy cannot read: say it as given, minus anything after '@'
        return url.split("@")[-1]


def _models() -> dict[str, Any]:
    from sqlalchemy import Column, MetaData, String, Table

    from . import models

    tables: dict[str, Any] = {str(m.__tablename__): m.__table__ for m in (  # type: ignore[union-attr]
        models.Source, models.Entity, models.Property, models.Fact, models.Event, models.EntityAlias,
        models.Render, models.RenderNumber, models.RenderInput)}
    tables["_kb_meta"] = Table("_kb_meta", MetaData(), Column("key", String, primary_key=True), Column("value", String))
    return tables


def open_engine(target: str, *, read_only: bool) -> Any:
    """An engine for a SQLite file path or a PostgreSQL URL."""
    from sqlalchemy import create_engine

    if is_url(target):
        try:
            engine = create_engine(engine_url(target), pool_pre_ping=True)
            with engine.connect():
                pass
        except Exception as exc:
            raise KBError(f"cannot connect to {shown(target)}: {str(exc).splitlines()[0]}") from None
        return engine
    import sqlite3

    path = Path(target).expanduser().resolve()
    if read_only:
        if not path.is_file():
            raise KBError(f"database {str(path)!r} does not exist")
        return create_engine("sqlite://", creator=lambda: sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True))
    from . import db

    return db.engine_for(path)


def _is_empty(conn: Any) -> bool:
    from sqlalchemy import inspect

    names = set(inspect(conn).get_table_names())
    if "fact" not in names:
        return True
    return bool(conn.exec_driver_sql("SELECT COUNT(*) FROM fact").scalar() == 0
                and conn.exec_driver_sql("SELECT COUNT(*) FROM source").scalar() == 0)


def postgres_schema(conn: Any) -> None:
    """The knowledge base's tables on PostgreSQL, with the guarantees SQLite's migrations give."""
    from sqlmodel import SQLModel

    tables = _models()
    SQLModel.metadata.create_all(conn, tables=[t for k, t in tables.items() if k != "_kb_meta"])
    tables["_kb_meta"].metadata.create_all(conn)
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS _kb_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    # checked at commit, as SQLite's loads do (an entity may name as part_of one recorded later in the same load)
    for table, name in conn.exec_driver_sql(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
            "AND connamespace = current_schema()::regnamespace").all():
        conn.exec_driver_sql(f'ALTER TABLE {table} ALTER CONSTRAINT "{name}" DEFERRABLE INITIALLY DEFERRED')
    conn.exec_driver_sql(
        "CREATE OR REPLACE FUNCTION kb_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: record a new fact or event instead'; "
        "END $$")
    for table in ("fact", "event", "entity_alias"):
        conn.exec_driver_sql(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                             "FOR EACH ROW EXECUTE FUNCTION kb_append_only()")
        conn.exec_driver_sql(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                             "FOR EACH STATEMENT EXECUTE FUNCTION kb_append_only()")
    conn.exec_driver_sql(
        "ALTER TABLE fact ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', "
        "coalesce(quote, '') || ' ' || coalesce(note, '') || ' ' || coalesce(locator, ''))) STORED")
    conn.exec_driver_sql("CREATE INDEX fact_search ON fact USING GIN (search)")
    from sqlalchemy import text

    from .values import now_stamp

    conn.execute(text("INSERT INTO _kb_migrations (name, applied_at) VALUES (:n, :t)"),
                 {"n": "pg_001_schema", "t": now_stamp()})


def _rows(conn: Any, name: str, table: Any) -> Iterator[list[dict[str, Any]]]:
    """A table's rows in batches, each row by the model's columns; insertion order (SQLite's rowid), facts
    by recorded time otherwise (a correction is recorded after what it corrects, or deferred)."""
    from sqlalchemy import inspect, select, text

    if name not in inspect(conn).get_table_names():
        return
    cols = [c.name for c in table.columns]
    present = {c["name"] for c in inspect(conn).get_columns(name)}
    order = [text("rowid")] if conn.dialect.name == "sqlite" else [
        table.c[k] for k in ("recorded_at", "id") if k in table.c] or [table.c[cols[0]]]
    query = select(*[table.c[c] for c in cols if c in present]).order_by(*order)
    result = conn.execution_options(stream_results=True).execute(query)
    while batch := result.fetchmany(BATCH):
        yield [dict(r._mapping) for r in batch]


def copy(source: str, target: str) -> dict[str, int]:
    """Copy the database ``source`` (a path or URL) into the empty database ``target``; rows per table."""
    if not is_url(target):
        path = Path(target).expanduser().resolve()
        if path.exists() and (not path.is_file() or path.stat().st_size > 0):
            raise KBError(f"kb copy --to {target!r}: the file exists; copy into a new SQLite file")
    src = open_engine(source, read_only=True)
    created = not is_url(target) and not Path(target).expanduser().exists()
    try:
        dst = open_engine(target, read_only=False)
    except BaseException:
        if created:
            Path(target).expanduser().unlink(missing_ok=True)
        raise
    tables = _models()
    counts: dict[str, int] = {}
    try:
        with src.connect() as s, dst.begin() as d:
            from sqlalchemy import inspect

            if "fact" not in inspect(s).get_table_names():
                raise KBError(f"kb copy: {shown(source) if is_url(source) else source} holds no knowledge base "
                              "(no fact table)")
            if not _is_empty(d):
                raise KBError(f"kb copy --to {shown(target) if is_url(target) else target}: the target already holds a "
                              "knowledge base; copy into an empty database")
            if d.dialect.name == "postgresql":
                if "fact" not in inspect(d).get_table_names():
                    postgres_schema(d)
            else:
                d.exec_driver_sql("CREATE TABLE IF NOT EXISTS _kb_meta (key TEXT PRIMARY KEY, value TEXT)")  # DDL first
                d.exec_driver_sql("PRAGMA defer_foreign_keys = ON")  # checked at commit, as a load's are
            for name in TABLES:
                table = tables[name]
                n = 0
                for batch in _rows(s, name, table):
                    d.execute(table.insert(), batch)
                    n += len(batch)
                counts[name] = n
            if d.dialect.name == "postgresql" and counts.get("render_number"):
                for name in ("render_number", "render_input"):
                    d.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                      f"(SELECT coalesce(max(id), 1) FROM {name}))")
    except BaseException:
        dst.dispose()
        if created:
            Path(target).expanduser().unlink(missing_ok=True)
        raise
    finally:
        src.dispose()
    dst.dispose()
    return counts
