"""The fact store: reading and appending sources, entities, facts and rank events."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import claims, db, selection
from .errors import ConflictError, KBError, NotFoundError
from .rows import ClaimRow, EntityRow, EventRow, PropertyRow, SourceRow
from .values import now_stamp, parse_timestamp

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


@dataclass(frozen=True)
class Ref:
    """A resolved ``ENTITY.PROPERTY``: the entity's id (not an alias) and a property of the vocabulary."""

    entity: str
    prop: str

    def __str__(self) -> str:
        return f"{self.entity}.{self.prop}"


class Store:
    """One knowledge base, a SQLite file or a PostgreSQL database. Writes are transactions; history is
    append-only."""

    def __init__(self, engine: Engine | None, root: Path, path: Path | None, url: str | None = None) -> None:
        self._engine = engine  # None: a SQLite store's, made (and the file migrated) on first use
        self.root = root
        self.path = path  # a SQLite store's file
        self.url = url  # a PostgreSQL store's URL
        self.made: Any = None  # a SQLite database this process created (kb.creation.Made)
        self._properties: dict[str, PropertyRow] | None = None  # the vocabulary changes only by sync or load
        self._readers = threading.local()  # a SQLite store's reading connection, one per thread
        self._opened: list[sqlite3.Connection] = []
        # remember: what a command has read (claims, entities) is kept for the command and forgotten at each
        # commit through this store's engine, so it sees one state of the database and its own writes (kb check
        # reads each claim set once, not once per template). Off for a long-lived store (a library user's).
        self.remember = False
        self._read: dict[tuple[Any, ...], Any] = {}
        if engine is not None:
            self._watch(engine)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for writes (and every PostgreSQL statement). A SQLite store makes it on first
        use: a command that only reads never imports SQLAlchemy (:meth:`sql` reads with ``sqlite3``)."""
        if self._engine is None:
            assert self.path is not None
            self._engine = db.engine_for(self.path)
            self._watch(self._engine)
        return self._engine

    def _watch(self, engine: Engine) -> None:
        from sqlalchemy import event

        event.listen(engine, "commit", lambda _conn: self._read.clear())

    def close(self) -> None:
        """Close what this store opened: its engine's connections and its reading connections."""
        if self._engine is not None:
            self._engine.dispose()
        for conn in self._opened:
            conn.close()
        self._opened = []
        self._readers = threading.local()

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._readers, "conn", None)
        if conn is None:
            assert self.path is not None
            conn = db.sqlite_reader(self.path)
            self._readers.conn = conn
            self._opened.append(conn)
        return conn

    @classmethod
    def open(cls, target: Path | str, root: Path, *, load_shipped: bool = True) -> Store:
        """The store at a SQLite file's path or a PostgreSQL URL; a new one is created with the shipped facts."""
        from .vocabulary import sync_properties

        if isinstance(target, str):
            return cls._open_postgres(target, root, load_shipped)
        from . import creation

        path = target
        creation.check_path(path)
        made = None
        if creation.is_new(path):
            def build(tmp: Path) -> None:
                from .load import load_paths

                new = cls(db.engine_for(tmp), root, tmp)
                try:
                    sync_properties(new, root)
                    if load_shipped and (root / "facts").is_dir():
                        load_paths(new, [root / "facts"], root=root)
                finally:
                    new.close()
            made = creation.create(path, build)  # None: another command made it meanwhile; open theirs
        store = cls(None if db.is_current(path) else db.engine_for(path), root, path)
        store.made = made
        sync_properties(store, root)
        return store

    @classmethod
    def _open_postgres(cls, url: str, root: Path, load_shipped: bool) -> Store:
        from . import postgres
        from .load import load_paths
        from .vocabulary import sync_properties

        engine = postgres.engine(url)
        try:
            with postgres.exclusive(engine):  # a command opening it at the same time waits, then finds it made
                schema_made = "pg_001_schema" in postgres.migrate(engine)
                try:
                    store = cls(engine, root, None, url=url)
                    sync_properties(store, root)
                    # new, or made by a command that was killed or failed before its first load committed
                    # (a load's commit writes the last_write marker): it gets the shipped facts now
                    if load_shipped and (root / "facts").is_dir() and postgres.holds_nothing(engine):
                        load_paths(store, [root / "facts"], root=root)
                except BaseException:
                    if schema_made:
                        postgres.drop_schema(engine)  # as a new SQLite file is removed: nothing half-made stays
                    raise
        except BaseException:
            engine.dispose()
            raise
        return store

    # ---- reading
    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """The rows of one query, each a dict (``?`` placeholders on either database)."""
        if self.url is None:
            cur = self._reader().execute(query, params)
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        with self.engine.connect() as conn:
            return _rows(db.run(conn, query, params))

    def properties(self) -> dict[str, PropertyRow]:
        if self._properties is None:
            # 'undeclared': a property the schema files dropped while stored claims still use it
            rows = self.sql("SELECT * FROM property WHERE origin != 'undeclared' ORDER BY name")
            self._properties = {r["name"]: cast(PropertyRow, r) for r in rows}
        return self._properties

    def refresh_properties(self) -> None:
        """Forget the cached vocabulary (after a sync or a load that declared properties)."""
        self._properties = None

    def upsert_property(self, conn: Connection, p: PropertyRow) -> None:
        db.run(
            conn,
            "INSERT INTO property (name, unit, dimension, si_unit, description, plausible, plausible_low, "
            "plausible_high, scopes, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET unit = excluded.unit, dimension = excluded.dimension, "
            "si_unit = excluded.si_unit, description = excluded.description, plausible = excluded.plausible, "
            "plausible_low = excluded.plausible_low, plausible_high = excluded.plausible_high, "
            "scopes = excluded.scopes, origin = excluded.origin",
            (p["name"], p["unit"], p["dimension"], p["si_unit"], p["description"], p["plausible"],
             p["plausible_low"], p["plausible_high"], p["scopes"], p["origin"]),
        )

    def sources(self) -> dict[str, SourceRow]:
        return {r["id"]: cast(SourceRow, r) for r in self.sql("SELECT * FROM source ORDER BY id")}

    def entities(self) -> dict[str, EntityRow]:
        return {r["id"]: cast(EntityRow, r) for r in self.sql("SELECT * FROM entity ORDER BY id")}

    def entity(self, entity_id: str) -> EntityRow:
        """An entity by id or alias; case does not matter (``h100`` finds the alias ``H100``)."""
        key = ("entity", entity_id)
        if not self.remember:
            return self._entity(entity_id)
        if key not in self._read:
            self._read[key] = self._entity(entity_id)
        return cast(EntityRow, dict(self._read[key]))

    def _entity(self, entity_id: str) -> EntityRow:
        wanted = entity_id.strip().casefold()
        rows = self.sql("SELECT * FROM entity WHERE id = ?", (entity_id.strip().lower(),))
        if rows:
            return cast(EntityRow, rows[0])
        # the entity's own aliases (the SQL narrows by lower(), Python decides by casefold), then names
        # recorded after the entity (an imported dataset's name for it): SQL, not a scan of every entity
        each = ("json_array_elements_text(coalesce(e.aliases, '[]')::json) a(value)" if self.url
                else "json_each(e.aliases) a")
        near = self.sql(f"SELECT DISTINCT e.* FROM entity e, {each} WHERE lower(a.value) = lower(?)",
                        (entity_id.strip(),))
        aliased = [cast(EntityRow, e) for e in near
                   if wanted in {a.casefold() for a in json.loads(e["aliases"] or "[]")}]
        if not aliased:
            aliased = [cast(EntityRow, e) for e in self.sql(
                "SELECT e.* FROM entity e JOIN entity_alias a ON a.entity = e.id WHERE a.alias = ?", (wanted,))]
        if len(aliased) == 1:
            return aliased[0]
        if len(aliased) > 1:
            raise KBError(f"{entity_id!r} names several entities ({', '.join(e['id'] for e in aliased)}); use an id")
        everything = self.entities()
        names = list(everything) + [a for e in everything.values() for a in json.loads(e["aliases"] or "[]")]
        raise NotFoundError("entity", entity_id, names, hint="see `kb facts` or `kb sql \"SELECT id, aliases FROM entity\"`")

    def property(self, prop: str) -> PropertyRow:
        found = self.properties().get(prop)
        if found is None:
            raise NotFoundError("property", prop, list(self.properties()), hint="see `kb properties`")
        return found

    def resolve_ref(self, ref: str) -> Ref:
        """``ENTITY.PROPERTY`` (an alias for the entity is fine) -> the entity's id and a known property."""
        entity, prop = claims.split_ref(ref)
        return Ref(self.entity(entity)["id"], self.property(prop)["name"])

    def fact_ids(self) -> list[str]:
        return [r["id"] for r in self.sql("SELECT id FROM fact")]

    def claims(
        self, entity: str | None = None, prop: str | None = None, known_at: str | None = None
    ) -> list[ClaimRow]:
        """Every claim (annotated with effective rank and supersession) visible at ``known_at``."""
        cutoff = parse_timestamp(known_at, "--known-at") if known_at else None
        if not (self.remember and entity and prop):
            return self._claims(entity, prop, cutoff)
        key = ("claims", entity, prop, cutoff)
        if key not in self._read:
            self._read[key] = self._claims(entity, prop, cutoff)
        return [cast(ClaimRow, dict(c)) for c in self._read[key]]

    def _claims(self, entity: str | None, prop: str | None, cutoff: str | None) -> list[ClaimRow]:
        where, params = ["1=1"], []
        if entity:
            where.append("entity = ?")
            params.append(entity)
        if prop:
            where.append("property = ?")
            params.append(prop)
        if cutoff:
            where.append("recorded_at <= ?")
            params.append(cutoff)
        condition = " AND ".join(where)
        facts = self.sql(f"SELECT {_fact_columns()} FROM fact WHERE {condition} ORDER BY entity, property, recorded_at, id",
                         tuple(params))
        ev_sql = f"SELECT * FROM event WHERE fact IN (SELECT id FROM fact WHERE {condition})"
        events = self.sql(ev_sql + (" AND recorded_at <= ?" if cutoff else ""), tuple(params) + ((cutoff,) if cutoff else ()))
        # supersessions made by facts outside the entity/property filter cannot exist:
        # a correction always has its original's entity and property.
        return claims.annotate(facts, events)

    def fact(self, fact_id: str, known_at: str | None = None) -> ClaimRow:
        full = claims.resolve_prefix(fact_id, self.fact_ids())
        row = self.sql("SELECT entity, property FROM fact WHERE id = ?", (full,))[0]
        for c in self.claims(row["entity"], row["property"], known_at):
            if c["id"] == full:
                return c
        raise NotFoundError("fact", fact_id, hint="it was recorded after --known-at")

    def select(self, ref: str | Ref, pins: Mapping[str, str] | None = None, combine: str | None = None,
               known_at: str | None = None) -> list[ClaimRow]:
        """The claims a reference means (see ``kb.selection``): one, or several with ``combine``."""
        r = ref if isinstance(ref, Ref) else self.resolve_ref(ref)
        found = self.claims(r.entity, r.prop, known_at)
        try:
            return selection.select(found, str(r), pins, combine)
        except NotFoundError as exc:
            if known_at:
                exc.args = (f"{exc} (recorded by {known_at})",)
            raise

    def best(self, entity: str, prop: str, known_at: str | None = None, **pins: str) -> ClaimRow:
        """The one claim ``entity.prop`` means, by the policy or ``pins`` (see :meth:`select`)."""
        return self.select(f"{entity}.{prop}", pins, known_at=known_at)[0]

    # ---- appending
    def insert(self, table: str, rows: list[Mapping[str, Any]], conn: Connection | None = None) -> None:
        from . import models

        target = models.tables()[table]
        if not rows:
            return
        if conn is None:
            with self.engine.begin() as own:
                _insert(own, target, rows)
        else:
            _insert(conn, target, rows)

    def record_rank(self, fact_id: str, rank: str, reason: str) -> EventRow:
        """Deprecate, prefer or reset a fact: a new event, never an update."""
        if not reason or not reason.strip():
            raise KBError("a rank change needs a reason (--reason)")
        fact = self.fact(fact_id)
        if fact["effective_rank"] == rank:
            raise ConflictError(f"fact {fact['id']} is already {rank}")
        if fact.get("superseded_by"):
            raise ConflictError(f"fact {fact['id']} is superseded by {fact['superseded_by']}, so its rank has no "
                                f"effect; rank {fact['superseded_by']} instead")
        stamp = now_stamp()
        ev: EventRow = {
            "id": claims.event_id(fact["id"], rank, reason.strip(), stamp),
            "fact": fact["id"], "rank": rank, "reason": reason.strip(), "recorded_at": stamp,
        }
        self.insert("event", [ev])
        return ev

    def history(self, entity: str, prop: str) -> list[dict[str, Any]]:
        """Every claim and rank event for one entity and property, in recorded order."""
        r = self.resolve_ref(f"{entity}.{prop}")
        facts = self.claims(r.entity, r.prop)
        ids = {f["id"] for f in facts}
        events = [e for e in self.sql("SELECT * FROM event ORDER BY recorded_at, id") if e["fact"] in ids]
        items = [{"type": "claim", **f} for f in facts] + [{"type": "event", **e} for e in events]
        return sorted(items, key=lambda i: (i["recorded_at"], 0 if i["type"] == "claim" else 1, i["id"]))


@cache
def _fact_columns() -> str:
    """A claim's columns (a PostgreSQL fact also has the generated ``search`` column, which is not a claim's):
    the row type's keys, the model's columns (tests/test_architecture.py checks they agree), without
    importing the models (SQLModel and pydantic are slow to import, and a read needs neither)."""
    from .rows import FactRow

    return ", ".join(FactRow.__annotations__)


_STAGED_FROM = 50  # rows; below this a plain executemany is as fast


def _insert(conn: Connection, table: Any, rows: list[Mapping[str, Any]]) -> None:
    """Insert ``rows`` into ``table``. Many rows go through a temporary table and one INSERT ... SELECT:
    SQLite runs each statement of an executemany in its own savepoint, at which the FTS5 index flushes
    what it has buffered, so a row-by-row insert into an indexed table costs about 3x one statement
    (bench/README.md)."""
    if len(rows) < _STAGED_FROM or conn.dialect.name != "sqlite":
        conn.execute(table.insert(), rows)
        return
    cols = [c.name for c in table.columns]
    defaults = {c.name: c.default.arg for c in table.columns if c.default is not None and c.default.is_scalar}
    names = ", ".join(cols)
    stage = f"temp._kb_stage_{table.name}"
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS _kb_stage_{table.name} AS "
                         f"SELECT {names} FROM main.{table.name} WHERE 0")
    conn.exec_driver_sql(f"DELETE FROM {stage}")
    conn.exec_driver_sql(f"INSERT INTO {stage} ({names}) VALUES ({', '.join('?' * len(cols))})",
                         [tuple(r.get(c, defaults.get(c)) for c in cols) for r in rows])
    conn.exec_driver_sql(f"INSERT INTO main.{table.name} ({names}) SELECT {names} FROM {stage} ORDER BY rowid")
    conn.exec_driver_sql(f"DELETE FROM {stage}")


def fact_json(fact: ClaimRow, sources: Mapping[str, SourceRow]) -> dict[str, Any]:
    """The one documented JSON shape of a fact."""
    src = sources.get(fact["source"])
    return {
        "id": fact["id"],
        "entity": fact["entity"],
        "property": fact["property"],
        "value": fact["value"],
        "value_text": fact["value_text"],
        "unit": fact["unit"],
        "si_value": fact["si_value"],
        "interval_kind": fact["interval_kind"],
        "low": fact["low"],
        "high": fact["high"],
        "as_of": fact["as_of"],
        "source": {"id": fact["source"], "title": src["title"] if src else None, "url": src["url"] if src else None},
        "locator": fact["locator"],
        "quote": fact["quote"],
        "method": fact["method"],
        "confidence": fact["confidence"],
        "rank": fact.get("effective_rank", fact["rank"]),
        "supersedes": fact["supersedes"],
        "superseded_by": fact.get("superseded_by"),
        "note": fact["note"],
        **{q: fact.get(q) for q in claims.QUALIFIERS},
        "plausibility": fact.get("plausibility"),
        "plausibility_reason": fact.get("plausibility_reason"),
        "cites": json.loads(fact.get("cites") or "[]"),
        "recorded_at": fact["recorded_at"],
    }
