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


def changed_facts(store: Store, ids: Iterable[str] | None = None) -> dict[str, str]:
    """The stored facts (all, or those of ``ids``) that were changed in place: id -> what changed."""
    from .store import _fact_columns

    wanted = None if ids is None else sorted(set(ids))
    rows: list[Any] = []
    if wanted is None:
        rows = store.sql(f"SELECT {_fact_columns()} FROM fact")
    else:
        for at in range(0, len(wanted), 500):
            chunk = wanted[at:at + 500]
            rows += store.sql(f"SELECT {_fact_columns()} FROM fact WHERE id IN ({', '.join('?' * len(chunk))})",
                              tuple(chunk))
    return {r["id"]: found for r in rows if (found := fact_changes(r))}


def changed_events(store: Store) -> dict[str, str]:
    return {r["id"]: found for r in store.sql("SELECT * FROM event") if (found := event_changes(r))}


def _present_triggers(conn: Any) -> dict[str, bool]:
    """Trigger name -> enabled, for the triggers on kb's tables."""
    if db.is_postgres(conn):
        return {name: enabled != "D" for name, enabled in conn.exec_driver_sql(
            "SELECT t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace").all()}
    return {name: True for (name,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")}


def _expected(conn: Any) -> dict[str, str]:
    from . import postgres

    return postgres.TRIGGERS if db.is_postgres(conn) else db.TRIGGERS


def missing_triggers(store: Store) -> list[str]:
    """The triggers kb relies on that are missing (or, on PostgreSQL, disabled), in a stable order."""
    with store.engine.connect() as conn:
        present = _present_triggers(conn)
        return [name for name in _expected(conn) if not present.get(name)]


def repair_triggers(store: Store) -> list[str]:
    """Re-create (or re-enable) every missing trigger, in one transaction; the names restored."""
    from . import postgres

    with store.engine.begin() as conn:
        present = _present_triggers(conn)
        restored = [name for name in _expected(conn) if not present.get(name)]
        for name in restored:
            if db.is_postgres(conn):
                conn.exec_driver_sql(postgres.APPEND_ONLY_FUNCTION)
                table = postgres.TRIGGERS[name].split(" ON ")[1].split()[0]
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")  # a disabled one
            conn.exec_driver_sql(_expected(conn)[name])
    return restored


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
