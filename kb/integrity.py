"""Tamper evidence: what shows that a database was changed behind kb's back.

A fact's id is a hash of its content (:func:`kb.claims.fact_id`), and its derived columns (bounds, SI values,
the as-of precision) follow from what was written; an event's id hashes its fact, rank, reason and time. A row
whose content no longer gives its id, or whose derived columns disagree with it, was edited in place, which
only a raw connection can do, after removing the append-only triggers (:data:`kb.db.TRIGGERS`,
:data:`kb.postgres.TRIGGERS`). ``kb check`` reports both, and ``kb check --repair-triggers`` restores the
triggers; ``kb load`` refuses to call a file's fact "already recorded" when the stored row was changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import claims, db, units
from .errors import KBError
from .values import parse_date, parse_value

if TYPE_CHECKING:
    from .store import Store


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300)


def fact_changes(row: Mapping[str, Any]) -> str | None:
    """What in a stored fact row does not follow from its id and its written value; None if nothing."""
    if claims.fact_id(row) != row["id"]:
        return "its content does not give its id (a field was changed in place)"
    try:
        written = parse_value(row["value_text"], percent_ok=True)
        factor = units.si_factor(row["unit"])
        as_of, precision = parse_date(row["as_of"], "as_of")
    except KBError as exc:
        return f"its written value no longer reads: {exc.message}"
    if not (_close(written.low, row["low"]) and _close(written.high, row["high"])):
        return f"its bounds [{row['low']}, {row['high']}] are not those of {row['value_text']!r}"
    for key, value in (("si_value", row["value"]), ("si_low", row["low"]), ("si_high", row["high"])):
        if not _close(None if value is None else value * factor, row[key]):
            return f"its {key} {row[key]} is not its value in SI units"
    if (as_of, precision) != (row["as_of"], row["as_of_precision"]):
        return f"its as-of precision {row['as_of_precision']!r} is not that of {row['as_of']!r}"
    return None


def event_changes(row: Mapping[str, Any]) -> str | None:
    """Whether a stored event's id still follows from its content (with or without its time, as loaded)."""
    ids = {claims.event_id(row["fact"], row["rank"], row["reason"], at) for at in (row["recorded_at"], "")}
    return None if row["id"] in ids else "its content does not give its id (a field was changed in place)"


def stored_rows(store: Store, table: str, ids: Iterable[str] | None = None, columns: str = "*") -> list[Any]:
    """The rows of ``table`` (all, or those whose id is in ``ids``, read 500 at a time)."""
    if ids is None:
        return store.sql(f"SELECT {columns} FROM {table}")
    wanted = sorted(set(ids))
    rows: list[Any] = []
    for at in range(0, len(wanted), 500):
        chunk = wanted[at:at + 500]
        rows += store.sql(f"SELECT {columns} FROM {table} WHERE id IN ({', '.join('?' * len(chunk))})", tuple(chunk))
    return rows


def changed_facts(store: Store, ids: Iterable[str] | None = None) -> dict[str, str]:
    """The stored facts (all, or those of ``ids``) that were changed in place: id -> what changed."""
    from .store import _fact_columns

    return {r["id"]: found for r in stored_rows(store, "fact", ids, _fact_columns()) if (found := fact_changes(r))}


def changed_events(store: Store) -> dict[str, str]:
    return {r["id"]: found for r in store.sql("SELECT * FROM event") if (found := event_changes(r))}


def _sqlite_trigger_problems(conn: Any) -> dict[str, str]:
    stored = {name: " ".join((sql or "").split()) for name, sql in conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")}
    out = {}
    for name, ddl in db.TRIGGERS.items():
        if name not in stored:
            out[name] = "missing"
        elif stored[name] != " ".join(ddl.replace(" IF NOT EXISTS", "", 1).split()):
            out[name] = "changed (it is not the trigger kb made)"
    return out


_PG_TYPES = {"append_only": 27, "no_truncate": 34}  # pg_trigger.tgtype: BEFORE UPDATE OR DELETE per row; TRUNCATE


def _postgres_trigger_problems(conn: Any) -> dict[str, str]:
    from . import postgres

    rows = {name: (ttype, enabled, func) for name, ttype, enabled, func in conn.exec_driver_sql(
        "SELECT t.tgname, t.tgtype, t.tgenabled, t.tgfoid::regproc::text FROM pg_trigger t JOIN pg_class c "
        "ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace").all()}
    out = {}
    for name in postgres.TRIGGERS:
        if name not in rows:
            out[name] = "missing"
            continue
        ttype, enabled, func = rows[name]
        if enabled not in ("O", "A"):
            out[name] = "disabled" if enabled == "D" else "set to fire only in replica sessions"
        elif func != "kb_append_only" or ttype != _PG_TYPES["append_only" if name.endswith("_append_only")
                                                             else "no_truncate"]:
            out[name] = "changed (it is not the trigger kb made)"
    body = conn.exec_driver_sql("SELECT prosrc FROM pg_proc WHERE proname = 'kb_append_only' "
                                "AND pronamespace = current_schema()::regnamespace").scalar()
    if (body or "").strip() != postgres.APPEND_ONLY_FUNCTION.split("$$")[1].strip():
        out["kb_append_only()"] = "missing" if body is None else "changed (the function no longer refuses)"
    for (table,) in conn.exec_driver_sql(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgisinternal "
            "AND t.tgenabled = 'D' AND c.relnamespace = current_schema()::regnamespace ORDER BY c.relname").all():
        out[f"foreign keys of {table}"] = "disabled (ALTER TABLE ... DISABLE TRIGGER ALL)"
    return out


def _trigger_problems(conn: Any) -> dict[str, str]:
    return _postgres_trigger_problems(conn) if db.is_postgres(conn) else _sqlite_trigger_problems(conn)


def trigger_problems(store: Store) -> dict[str, str]:
    """The triggers kb relies on (and, on PostgreSQL, their function and the foreign keys' own triggers) that
    are missing, changed or disabled: name -> what is wrong, in a stable order."""
    with store.engine.connect() as conn:
        return _trigger_problems(conn)


def repair_triggers(store: Store) -> list[str]:
    """Re-create every trigger that is missing, changed or disabled (on PostgreSQL also the function and the
    foreign keys' triggers), in one transaction; the names restored."""
    from . import postgres

    with store.engine.begin() as conn:
        wrong = _trigger_problems(conn)
        if not db.is_postgres(conn):
            for name in wrong:
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
                conn.exec_driver_sql(db.TRIGGERS[name])
            return list(wrong)
        if wrong:
            conn.exec_driver_sql(postgres.APPEND_ONLY_FUNCTION)  # whatever else is wrong, the function is kb's
        for name in wrong:
            if name.startswith("foreign keys of "):
                conn.exec_driver_sql(f"ALTER TABLE {name.removeprefix('foreign keys of ')} ENABLE TRIGGER ALL")
            elif name in postgres.TRIGGERS:
                table = name.removesuffix("_append_only").removesuffix("_no_truncate")
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                conn.exec_driver_sql(postgres.TRIGGERS[name])
    return list(wrong)


_VOCABULARY_FIELDS = ("unit", "dimension", "si_unit", "description", "plausible", "plausible_low", "plausible_high",
                      "scopes")


def vocabulary_changes(store: Store) -> dict[str, str]:
    """Properties whose stored declaration differs from the schema files' (a row updated or deleted in the
    shared database): name -> what differs. A fact file's re-declaration (origin ``facts``) is its own layer."""
    from .vocabulary import read_properties, vocabulary_files

    declared = read_properties(vocabulary_files(store.root))
    stored = {r["name"]: r for r in store.sql("SELECT * FROM property")}
    out = {}
    for name, row in declared.items():
        have = stored.get(name)
        if have is None:
            out[name] = "it is missing from the database"
        elif have["origin"] not in ("facts",):
            diff = next((k for k in _VOCABULARY_FIELDS if (row.get(k) or None) != (have.get(k) or None)), None)
            if diff:
                out[name] = f"its {diff} is {have.get(diff)!r} in the database, {row.get(diff)!r} in the schema files"
    return out


def resync_vocabulary(store: Store) -> None:
    """Mirror the schema files into the database again, whatever it holds (see ``kb check --repair-triggers``)."""
    from .vocabulary import sync_properties

    with store.engine.begin() as conn:
        db.run(conn, "DELETE FROM _kb_meta WHERE key = 'properties_sha256'")
    sync_properties(store, store.root)


def search_index_problems(store: Store) -> list[str]:
    """What is wrong with SQLite's full-text indexes (PostgreSQL's search column is generated from the row, so
    it cannot drift): FTS5's own integrity check of the facts' index, and the entities' and sources' rows."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    out = []
    with store.engine.connect() as conn:
        if db.is_postgres(conn):
            return []
        try:
            conn.exec_driver_sql("INSERT INTO fact_fts(fact_fts, rank) VALUES ('integrity-check', 1)")
        except (sqlite3.Error, DBAPIError):
            out.append("the facts' search index (fact_fts) does not match the facts")
        finally:
            conn.rollback()
        for table, index, key in (("entity", "entity_fts", "e.id = f.id"), ("source", "source_fts", "e.title = f.title")):
            bad = conn.exec_driver_sql(
                f"SELECT (SELECT count(*) FROM {table} e LEFT JOIN {index} f ON f.rowid = e.rowid "
                f"WHERE f.rowid IS NULL OR NOT ({key})) + (SELECT count(*) FROM {index} f LEFT JOIN {table} e "
                "ON e.rowid = f.rowid WHERE e.rowid IS NULL)").scalar()
            if bad:
                out.append(f"the {table} search index ({index}) has {bad} row(s) that do not match the {table} table")
    return out


def rebuild_search_index(store: Store) -> None:
    """Rebuild SQLite's full-text indexes from the tables (``kb check --repair-triggers``)."""
    with store.engine.begin() as conn:
        if db.is_postgres(conn):
            return
        conn.exec_driver_sql("INSERT INTO fact_fts(fact_fts) VALUES ('rebuild')")
        db.rebuild_name_index(conn)
