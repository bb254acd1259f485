"""``kb copy``: a whole knowledge base from one database to another, SQLite or PostgreSQL, losslessly: every
row of every table (ids, recorded times, rank events, aliases, the render manifest) as stored.

The target must be empty. It gets its schema from the ordered migrations of its kind (:mod:`kb.db` for
SQLite, :mod:`kb.postgres`: append-only enforced by triggers, full-text search as a ``tsvector`` column).
The rows are copied in one transaction on the target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import postgres
from .errors import KBError
from .postgres import is_url, shown

__all__ = ["copy", "is_url", "shown"]

# parents before children (foreign keys); facts are ordered so an original precedes its correction
TABLES = ("source", "entity", "property", "fact", "event", "entity_alias", "render", "render_number",
          "render_input", "_kb_meta")
BATCH = 2000


def open_engine(target: str, *, read_only: bool) -> Any:
    """An engine for a SQLite file path or a PostgreSQL URL (a target's schema migrated)."""
    from sqlalchemy import create_engine

    from . import db

    if is_url(target):
        return db.engine_for(target) if not read_only else postgres.engine(target)
    import sqlite3

    path = Path(target).expanduser().resolve()
    if read_only:
        if not path.is_file():
            raise KBError(f"database {str(path)!r} does not exist")
        return create_engine("sqlite://", creator=lambda: sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True))
    return db.engine_for(path)


def _is_empty(conn: Any) -> bool:
    from sqlalchemy import inspect

    names = set(inspect(conn).get_table_names())
    if "fact" not in names:
        return True
    return bool(conn.exec_driver_sql("SELECT COUNT(*) FROM fact").scalar() == 0
                and conn.exec_driver_sql("SELECT COUNT(*) FROM source").scalar() == 0)


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
    from .models import tables as kb_tables

    tables = kb_tables()
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
            if d.dialect.name != "postgresql":  # PostgreSQL's foreign keys are declared deferred
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
