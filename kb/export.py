"""``kb export``: the whole database as the YAML load format, losslessly (ids and recorded times included),
written in chunks as it is read, so memory stays flat however many facts there are."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import claims
from .yamlio import dump_yaml

if TYPE_CHECKING:
    from .store import Store

HEADER = "# kb export: load with `kb load FILE`\n"
BATCH = 2000  # facts (or events) per YAML chunk


def _clean(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, [], "")} | ({"unit": d["unit"]} if "unit" in d else {})


def _event(e: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": e["id"], "fact": e["fact"], "rank": e["rank"], "reason": e["reason"], "recorded_at": e["recorded_at"]}


def _head(store: Store) -> dict[str, Any]:
    """Everything but facts and events (a few thousand rows at most)."""
    sources = [
        _clean({
            "id": s["id"], "title": s["title"], "authors": json.loads(s["authors"] or "[]"),
            "publisher": s["publisher"], "url": s["url"], "archive_url": s["archive_url"],
            "published": s["published"], "accessed": s["accessed"], "kind": s["kind"],
            "text": s["text_path"], "recorded_at": s["recorded_at"],
        })
        for s in store.sources().values()
    ]
    entities = [
        _clean({
            "id": e["id"], "kind": e["kind"], "name": e["name"], "aliases": json.loads(e["aliases"] or "[]"),
            "part_of": e["part_of"], "recorded_at": e["recorded_at"],
        })
        for e in store.entities().values()
    ]
    properties = [
        _clean({"name": p["name"], "unit": p["unit"], "description": p["description"], "plausible": p["plausible"],
                "scopes": json.loads(p["scopes"] or "[]")})
        for p in store.properties().values() if p["origin"] == "facts"
    ]
    aliases = [_clean({"alias": a["alias"], "entity": a["entity"], "source": a["source"], "recorded_at": a["recorded_at"]})
               for a in store.sql("SELECT * FROM entity_alias ORDER BY recorded_at, alias")]
    out = {"sources": sources, "entities": entities, **({"aliases": aliases} if aliases else {})}
    return {"properties": properties, **out} if properties else out


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .,/()%+@&'-]*")  # a word YAML reads back as this very string
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")  # not raw in YAML (or line breaks to it)
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


@functools.lru_cache(maxsize=1 << 16)  # entity ids, sources, units, dates repeat across facts
def _scalar(value: str) -> str:
    """A string as a YAML scalar: plain where it is a safe word, else double-quoted (JSON's escapes are
    YAML's), so any text, line breaks and all, reads back exactly."""
    if (_PLAIN.fullmatch(value) and value.casefold() not in _RESERVED and not value.endswith((" ", ":"))
            and ": " not in value and " #" not in value and not value.startswith("- ")):
        return value
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", json.dumps(value, ensure_ascii=False))


def _records(rows: list[dict[str, Any]]) -> str:
    """A YAML block sequence of flat records (string values, or lists of strings), written directly: about
    ten times faster than PyYAML's emitter for the bulk of an export (facts and events)."""
    out = []
    for row in rows:
        lead = "- "
        for key, value in row.items():
            if isinstance(value, list):
                out.append(f"{lead}{key}:\n" + "".join(f"  - {_scalar(str(v))}\n" for v in value))
            else:
                out.append(f"{lead}{key}: {_scalar(str(value))}\n")
            lead = "  "
    return "".join(out)


_FACT_AFTER = ("as_of", "source", "locator", "quote", "method", "confidence", "rank", "rank_reason", "note",
               "supersedes", *claims.OPTIONAL_ID_FIELDS)


def _fact_records(columns: list[str], batch: Sequence[Sequence[Any]]) -> str:
    """Fact rows as a YAML block sequence, straight from the row tuples (the bulk of an export, so no
    mapping is built per fact): empty fields left out, the value as written, ``interval: ci90`` and a
    ``point`` where the range's point is not its midpoint, ``cites`` as a list, an empty unit last."""
    at = {c: n for n, c in enumerate(columns)}
    head = [(k, at[c]) for k, c in (("entity", "entity"), ("property", "property"), ("value", "value_text"))]
    after = [(k, at[k]) for k in _FACT_AFTER]
    i_id, i_unit, i_kind, i_value, i_low, i_high, i_cites, i_recorded = (
        at[c] for c in ("id", "unit", "interval_kind", "value", "low", "high", "cites", "recorded_at"))
    scalar = _scalar
    out: list[str] = []
    add = out.append
    for r in batch:
        add(f"- id: {scalar(r[i_id])}\n")
        for k, i in head:
            if (v := r[i]) is not None and v != "":
                add(f"  {k}: {scalar(v)}\n")
        if unit := r[i_unit]:
            add(f"  unit: {scalar(unit)}\n")
        kind = r[i_kind]
        if kind == "ci90":
            add("  interval: ci90\n")
        if kind in ("range", "ci90") and r[i_value] != (r[i_low] + r[i_high]) / 2:
            add(f"  point: {scalar(repr(r[i_value]))}\n")
        for k, i in after:
            if (v := r[i]) is not None and v != "":
                add(f"  {k}: {scalar(v)}\n")
        if r[i_cites] and (cites := json.loads(r[i_cites])):
            add("  cites:\n" + "".join(f"  - {scalar(str(c))}\n" for c in cites))
        if (v := r[i_recorded]) is not None and v != "":
            add(f"  recorded_at: {scalar(v)}\n")
        if not unit:  # _clean puts an empty unit back last
            add(f"  unit: {scalar(unit)}\n")
    return "".join(out)


def export_chunks(store: Store) -> Iterator[str]:
    """The export as text chunks, in order: header, sources and entities, then facts and events in batches."""
    yield HEADER
    yield dump_yaml(_head(store))
    with store.engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        cursor = driver.cursor()  # the driver's own: SQLAlchemy's rows cost about 1 s per 100K facts
        try:
            for key, sql in (("facts", "SELECT * FROM fact ORDER BY recorded_at, id"),
                             ("events", "SELECT * FROM event ORDER BY recorded_at, id")):
                cursor.execute(sql)
                columns = [d[0] for d in cursor.description]
                first = True
                while batch := cursor.fetchmany(BATCH):
                    if first:
                        yield f"{key}:\n"
                        first = False
                    if key == "facts":
                        yield _fact_records(columns, batch)
                    else:
                        yield _records([_event(dict(zip(columns, row))) for row in batch])
                if first:
                    yield f"{key}: []\n"
        finally:
            cursor.close()


def export_yaml(store: Store) -> str:
    return "".join(export_chunks(store))
