"""The fact store: reading and appending sources, entities, facts and rank events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import claims, db
from .errors import AppendOnlyError, ConflictError, KBError, NotFoundError
from .values import now_stamp, parse_timestamp


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


class Store:
    """One SQLite knowledge base. Writes are transactions; history is append-only."""

    def __init__(self, engine: Any, root: Path, path: Path) -> None:
        self.engine = engine
        self.root = root
        self.path = path
        self._properties: dict[str, dict[str, Any]] | None = None  # the vocabulary changes only by sync

    @classmethod
    def open(cls, path: Path, root: Path, *, load_shipped: bool = True) -> Store:
        from .load import load_paths
        from .vocabulary import sync_properties

        fresh = not path.exists() or path.stat().st_size == 0  # a 0-byte file is a new database too
        try:
            store = cls(db.engine_for(path), root, path)
            sync_properties(store, root / "schema" / "properties.yaml")
            if fresh and load_shipped and (root / "facts").is_dir():
                load_paths(store, [root / "facts"], root=root)
        except BaseException:
            if fresh and path.exists():
                path.unlink()  # nothing half-written: a database we just created goes away
            raise
        return store

    # ---- reading
    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return _rows(conn.exec_driver_sql(query, params))

    def properties(self) -> dict[str, dict[str, Any]]:
        if self._properties is None:
            self._properties = {r["name"]: r for r in self.sql("SELECT * FROM property ORDER BY name")}
        return self._properties

    def sources(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.sql("SELECT * FROM source ORDER BY id")}

    def entities(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.sql("SELECT * FROM entity ORDER BY id")}

    def entity(self, entity_id: str) -> dict[str, Any]:
        rows = self.sql("SELECT * FROM entity WHERE id = ?", (entity_id,))
        if rows:
            return rows[0]
        aliased = [
            e for e in self.entities().values() if entity_id in json.loads(e["aliases"] or "[]")
        ]
        if len(aliased) == 1:
            return aliased[0]
        raise NotFoundError("entity", entity_id, list(self.entities()))

    def fact_ids(self) -> list[str]:
        return [r["id"] for r in self.sql("SELECT id FROM fact")]

    def claims(
        self, entity: str | None = None, prop: str | None = None, known_at: str | None = None
    ) -> list[dict[str, Any]]:
        """Every claim (annotated with effective rank and supersession) visible at ``known_at``."""
        where, params = ["1=1"], []
        if entity:
            where.append("entity = ?")
            params.append(entity)
        if prop:
            where.append("property = ?")
            params.append(prop)
        cutoff = parse_timestamp(known_at, "--known-at") if known_at else None
        if cutoff:
            where.append("recorded_at <= ?")
            params.append(cutoff)
        condition = " AND ".join(where)
        facts = self.sql(f"SELECT * FROM fact WHERE {condition} ORDER BY entity, property, recorded_at, id", tuple(params))
        ev_sql = f"SELECT * FROM event WHERE fact IN (SELECT id FROM fact WHERE {condition})"
        events = self.sql(ev_sql + (" AND recorded_at <= ?" if cutoff else ""), tuple(params) + ((cutoff,) if cutoff else ()))
        # supersessions made by facts outside the entity/property filter cannot exist:
        # a correction always has its original's entity and property.
        return claims.annotate(facts, events)

    def fact(self, fact_id: str, known_at: str | None = None) -> dict[str, Any]:
        full = claims.resolve_prefix(fact_id, self.fact_ids())
        row = self.sql("SELECT entity, property FROM fact WHERE id = ?", (full,))[0]
        for c in self.claims(row["entity"], row["property"], known_at):
            if c["id"] == full:
                return c
        raise NotFoundError("fact", fact_id, hint="it was recorded after --known-at")

    def best(
        self,
        entity: str,
        prop: str,
        *,
        source: str | None = None,
        rank: str | None = None,
        known_at: str | None = None,
    ) -> dict[str, Any]:
        """The best claim by the policy, optionally among one source's claims or one rank."""
        entity = self.entity(entity)["id"]
        if prop not in self.properties():
            raise NotFoundError("property", prop, list(self.properties()), hint="see `kb properties`")
        candidates = self.claims(entity, prop, known_at)
        if source:
            candidates = [c for c in candidates if c["source"] == source]
        if rank:
            candidates = [c for c in candidates if c["effective_rank"] == rank]
        chosen = claims.best(candidates)
        if chosen is None:
            pinned = "".join(f" {k} {v!r}" for k, v in (("source", source), ("rank", rank)) if v)
            raise NotFoundError(
                "fact", f"{entity}.{prop}", hint=f"no active claim{pinned or ''}"
                + (f" recorded by {known_at}" if known_at else "")
            )
        return chosen

    # ---- appending
    def insert(self, table: str, rows: list[dict[str, Any]], conn: Any | None = None) -> None:
        from . import models

        model = {
            "source": models.Source, "entity": models.Entity, "fact": models.Fact, "event": models.Event,
            "property": models.Property,
        }[table]
        if not rows:
            return
        if conn is None:
            with self.engine.begin() as own:
                own.execute(model.__table__.insert(), rows)  # type: ignore[attr-defined]
        else:
            conn.execute(model.__table__.insert(), rows)  # type: ignore[attr-defined]

    def record_rank(self, fact_id: str, rank: str, reason: str) -> dict[str, Any]:
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
        ev = {
            "id": claims.event_id(fact["id"], rank, reason.strip(), stamp),
            "fact": fact["id"], "rank": rank, "reason": reason.strip(), "recorded_at": stamp,
        }
        self.insert("event", [ev])
        return ev

    def add_fact(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Validate and append one fact; the same content twice is refused as a duplicate."""
        row = self.validate_fact(spec)
        if self.sql("SELECT 1 FROM fact WHERE id = ?", (row["id"],)):
            raise ConflictError(f"this claim is already recorded as fact {row['id']}")
        self.insert("fact", [row])
        return row

    def validate_fact(self, spec: dict[str, Any], recorded_at: str | None = None) -> dict[str, Any]:
        if spec["source"] not in self.sources():
            raise NotFoundError("source", spec["source"], list(self.sources()), hint="add it with `kb add source`")
        row = claims.build_fact(spec, self.properties(), recorded_at or now_stamp())
        if row["supersedes"]:
            old = self.fact(row["supersedes"])
            row["supersedes"] = old["id"]
            if (old["entity"], old["property"]) != (row["entity"], row["property"]):
                raise KBError(f"a correction of fact {old['id']} must be for {old['entity']}.{old['property']}")
            if old["superseded_by"]:
                raise AppendOnlyError(
                    f"fact {old['id']} is already superseded by {old['superseded_by']}; supersede that one"
                )
            row["id"] = claims.fact_id(row)
        return row

    def history(self, entity: str, prop: str) -> list[dict[str, Any]]:
        """Every claim and rank event for one entity and property, in recorded order."""
        entity = self.entity(entity)["id"]
        if prop not in self.properties():
            raise NotFoundError("property", prop, list(self.properties()), hint="see `kb properties`")
        facts = self.claims(entity, prop)
        ids = {f["id"] for f in facts}
        events = [e for e in self.sql("SELECT * FROM event ORDER BY recorded_at, id") if e["fact"] in ids]
        items = [{"type": "claim", **f} for f in facts] + [{"type": "event", **e} for e in events]
        return sorted(items, key=lambda i: (i["recorded_at"], 0 if i["type"] == "claim" else 1, i["id"]))


def fact_json(fact: dict[str, Any], sources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The one documented JSON shape of a fact."""
    src = sources.get(fact["source"], {})
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
        "source": {"id": fact["source"], "title": src.get("title"), "url": src.get("url")},
        "locator": fact["locator"],
        "quote": fact["quote"],
        "method": fact["method"],
        "confidence": fact["confidence"],
        "rank": fact.get("effective_rank", fact["rank"]),
        "supersedes": fact["supersedes"],
        "superseded_by": fact.get("superseded_by"),
        "note": fact["note"],
        "recorded_at": fact["recorded_at"],
    }
