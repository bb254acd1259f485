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


def _held(conn: Any) -> str:
    """What a target already holds ("" if nothing): rows in any of kb's tables (the vocabulary, synced when a
    command opened it, counts too: a copy brings its own)."""
    from sqlalchemy import inspect

    names = set(inspect(conn).get_table_names())
    held = [f"{n} {t} rows" for t in TABLES if t in names and t != "_kb_meta"
            and (n := conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar())]
    return ", ".join(held[:3])


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
    """Copy the database ``source`` (a path or URL) into the empty database ``target``; rows per table. A new
    SQLite file is made whole beside its path and linked into place (:mod:`kb.creation`): a copy that fails or
    is killed leaves none."""
    from sqlalchemy import inspect

    from . import creation, db

    where = shown(target) if is_url(target) else target
    path = None if is_url(target) else Path(target).expanduser().resolve()
    if path is not None:
        creation.check_path(path)
        if not creation.is_new(path):
            raise KBError(f"kb copy --to {target!r}: the file exists; copy into a new SQLite file")
    src = open_engine(source, read_only=True)
    try:
        with src.connect() as s:
            if "fact" not in inspect(s).get_table_names():
                raise KBError(f"kb copy: {shown(source) if is_url(source) else source} holds no knowledge base "
                              "(no fact table)")
        if path is None:
            dst = open_engine(target, read_only=False)
            try:
                return _copy_rows(src, dst, where)
            finally:
                dst.dispose()
        counts: dict[str, int] = {}

        def build(tmp: Path) -> None:
            dst = db.engine_for(tmp)
            try:
                counts.update(_copy_rows(src, dst, where))
            finally:
                dst.dispose()

        if creation.create(path, build) is None:
            raise KBError(f"kb copy --to {target!r}: another command made this file meanwhile; copy into a new one")
        return counts
    finally:
        src.dispose()


def _copy_rows(src: Any, dst: Any, where: str) -> dict[str, int]:
    """Every row of every table from ``src`` into the empty ``dst``, in one transaction on ``dst``."""
    from .models import tables as kb_tables

    tables = kb_tables()
    counts: dict[str, int] = {}
    with src.connect() as s, dst.begin() as d:
        held = _held(d)
        if held:
            raise KBError(f"kb copy --to {where}: the target already holds a knowledge base ({held}); copy into an "
                          "empty database")
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
    return counts
