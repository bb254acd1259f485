"""What ``kb serve`` shows: a read-only snapshot of the knowledge base for Datasette, with readable tables
derived by the same code as the CLI, and the metadata (descriptions, facets, search, canned queries).

The snapshot is a copy of the database (SQLite's backup API: consistent while others write; a PostgreSQL
store's is a ``kb copy`` into the snapshot file) plus:

- ``claims``: one row per fact, readable: the value with its unit as written, the entity's name and
  kind, the source's title, URL and kind, the effective rank, whether the claim is active, and the
  other active claims of its kind it competes with (:func:`kb.selection.kind_groups`). Its rowid is the
  fact's, so the ``fact_fts`` index (quotes, notes, locators) searches it.
- ``conflicts``: one row per disagreeing pair, as ``kb conflicts`` finds them.

Datasette reads the snapshot, never the database itself, so browsing takes no lock a writer waits on;
what was written after ``kb serve`` started shows after a restart.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .claims import is_active
from .conflicts import conflicts_among, like_with_like

if TYPE_CHECKING:
    from .store import Store

DATABASE = "kb"  # the snapshot's name in Datasette's URLs: /kb/claims
CLAIM_COLUMNS = {
    "id": "The fact's content id (kb show, kb history and kb facts print it).",
    "entity": "The entity's id.",
    "entity_name": "The entity's name.",
    "entity_kind": "What the entity is: accelerator, cluster, site, model, organization, ...",
    "property": "The property from the vocabulary (kb properties).",
    "value": "The value with its unit, as the source wrote it (989.4 TFLOP/s, 24 to 27 kW).",
    "unit": "The unit the value was written in.",
    "si_value": "The value in SI base units (the si_unit column).",
    "si_unit": "The SI base unit of the property's dimension.",
    "interval_kind": "exact, approximate, range, ci90 (a 90% interval), at_least or at_most.",
    "as_of": "When the value was true (the source's date for it).",
    "source": "The source's id.",
    "source_title": "The source's title.",
    "source_url": "The source's URL.",
    "source_kind": "paper, datasheet, blog, news, comment, dataset, ...",
    "locator": "Where in the source: section, table, footnote, or a dataset's file, row and column.",
    "quote": "The source's exact words.",
    "method": "reported, calculated or estimated.",
    "confidence": "confirmed, likely, speculative or unset.",
    "rank": "The effective rank: preferred, normal or deprecated (after rank events).",
    "active": "1 unless deprecated or superseded.",
    "superseded_by": "The correction that supersedes this claim, if any.",
    "status": "planned, under-construction, operational, ...",
    "scope": "What the value covers (chip, it-load, facility, ...).",
    "configuration": "The configuration the value is for (hgx-b200, gb200-nvl72, ...).",
    "conditions": "Conditions the value holds under.",
    "method_detail": "How it was calculated or estimated.",
    "note": "The analyst's note.",
    "cites": "The primary sources a dataset row cites for it: URLs separated by ' ; '.",
    "competes_with": "The other active claims of this entity, property and kind: id (value, source).",
    "recorded_at": "When the claim was recorded here (kb ... --known-at reads history by this).",
}
# described atop the claims table (Datasette lists every described column there, before the rows)
EXPLAINED = ("value", "si_value", "interval_kind", "locator", "rank", "active", "competes_with", "recorded_at")
FACETS = ["entity_kind", "property", "confidence", "rank", "method", "status", "source_kind"]


def snapshot(store: Store, out: Path) -> dict[str, int]:
    """Write the snapshot of ``store`` to ``out`` (a new file); the number of claims and conflict pairs."""
    if store.url:  # PostgreSQL: Datasette reads SQLite, so the snapshot is a `kb copy` of it
        from .copy import copy

        copy(store.url, str(out))
    elif store.path:
        src = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            src.backup(dst := sqlite3.connect(out))
            dst.close()
        finally:
            src.close()
    dst = sqlite3.connect(out)
    try:
        claims = store.claims()
        rowids = dict(dst.execute("SELECT id, rowid FROM fact"))
        entities, sources, props = store.entities(), store.sources(), store.properties()
        competing = _competing(claims)
        pairs = [(c, d) for c in conflicts_among(claims, props) for d in c.pairs]  # the claims read once
        with dst:
            dst.execute(_CLAIMS_SQL)
            dst.executemany(f"INSERT INTO claims (rowid, {', '.join(CLAIM_COLUMNS)}) VALUES "
                            f"(?, {', '.join('?' * len(CLAIM_COLUMNS))})",
                            _claim_rows(claims, rowids, entities, sources, props, competing))
            dst.execute(_CONFLICTS_SQL)
            dst.executemany("INSERT INTO conflicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                (c.entity, c.prop, c.kind or None, d.factor if d.factor != float("inf") else None, d.label,
                 d.a["id"], _shown(d.a), d.a["source"], d.b["id"], _shown(d.b), d.b["source"]) for c, d in pairs])
            for column in ("entity", "property", "source", "as_of"):
                dst.execute(f"CREATE INDEX claims_{column} ON claims ({column})")
        return {"claims": len(claims), "conflicts": len(pairs)}
    finally:
        dst.close()


def _shown(c: Any) -> str:
    return f"{c['value_text']} {c['unit']}".strip()


def _competing(claims: list[Any]) -> dict[str, list[Any]]:
    """Each active claim's rivals: the other claims of each kind it belongs to."""
    out: dict[str, list[Any]] = {}
    for _, _, _, kind in like_with_like(claims):
        for c in kind:
            others = out.setdefault(c["id"], [])
            others.extend(o for o in kind if o["id"] != c["id"] and o not in others)
    return out


def _claim_rows(claims: list[Any], rowids: dict[str, int], entities: dict[str, Any], sources: dict[str, Any],
                props: dict[str, Any], competing: dict[str, list[Any]]) -> Iterator[tuple[Any, ...]]:
    for c in claims:
        e, s, p = entities.get(c["entity"]) or {}, sources.get(c["source"]) or {}, props.get(c["property"]) or {}
        others = competing.get(c["id"], [])
        row = {
            **{k: c.get(k) for k in CLAIM_COLUMNS},
            "entity_name": e.get("name"), "entity_kind": e.get("kind"), "value": _shown(c),
            "si_unit": p.get("si_unit"), "source_title": s.get("title"), "source_url": s.get("url"),
            "source_kind": s.get("kind"), "rank": c["effective_rank"], "active": int(is_active(c)),
            "cites": " ; ".join(json.loads(c["cites"])) if c.get("cites") else None,
            "competes_with": "; ".join(f"{o['id']} ({_shown(o)}, {o['source']})" for o in others) or None,
        }
        yield (rowids[c["id"]], *(row[k] for k in CLAIM_COLUMNS))


_CLAIMS_SQL = ("CREATE TABLE claims (" + ", ".join(
    f"{k} {'TEXT PRIMARY KEY' if k == 'id' else 'REAL' if k == 'si_value' else 'INTEGER' if k == 'active' else 'TEXT'}"
    for k in CLAIM_COLUMNS) + ", FOREIGN KEY (entity) REFERENCES entity(id), FOREIGN KEY (source) REFERENCES source(id))")
_CONFLICTS_SQL = ("CREATE TABLE conflicts (entity TEXT REFERENCES entity(id), property TEXT, kind TEXT, factor REAL, "
                  "label TEXT, low_claim TEXT REFERENCES claims(id), low_value TEXT, low_source TEXT REFERENCES "
                  "source(id), high_claim TEXT REFERENCES claims(id), high_value TEXT, high_source TEXT REFERENCES "
                  "source(id))")

_CLAIM_LIST = ("id, entity, property, value, as_of, source_title, source_url, locator, quote, method, confidence, "
               "rank")
QUERIES = {
    "entity_claims": {
        "title": "The claims of one entity",
        "description": "Every claim of one entity (its id, name or an alias), with its source, newest first per "
                       "property.",
        "sql": f"SELECT {_CLAIM_LIST}, active FROM claims WHERE entity = lower(:entity) OR entity_name = :entity "
               "OR entity IN (SELECT e.id FROM entity e, json_each(e.aliases) a WHERE lower(a.value) = lower(:entity)) "
               "OR entity IN (SELECT entity FROM entity_alias WHERE alias = lower(:entity)) "
               "ORDER BY entity, property, active DESC, as_of DESC",
    },
    "competing_claims": {
        "title": "Competing claims that disagree",
        "description": "What `kb conflicts` lists: like-with-like active claims whose intervals fail to overlap by "
                       "more than 1.1x, or whose ratio is a known mix-up (dense/sparse, GB/GiB, bit/byte).",
        "sql": "SELECT entity, property, kind, factor, label, low_claim, low_value, low_source, high_claim, "
               "high_value, high_source FROM conflicts ORDER BY factor IS NULL, factor DESC, entity, property",
    },
    "claims_without_quote_or_locator": {
        "title": "Claims without a quote or a locator",
        "description": "Active claims a reader cannot check against the source's words or find in it.",
        "sql": "SELECT id, entity, property, value, source_title, source_url, CASE WHEN coalesce(quote, '') = '' "
               "AND coalesce(locator, '') = '' THEN 'quote and locator' WHEN coalesce(quote, '') = '' THEN 'quote' "
               "ELSE 'locator' END AS missing FROM claims WHERE active = 1 AND (coalesce(quote, '') = '' OR "
               "coalesce(locator, '') = '') ORDER BY missing DESC, entity, property",
    },
    "claims_older_than": {
        "title": "Claims as of before a date",
        "description": "Active claims whose as-of date is before :before (YYYY, YYYY-MM or YYYY-MM-DD; anything "
                       "else, such as abc or 2024-13, matches nothing).",
        "sql": f"SELECT {_CLAIM_LIST} FROM claims WHERE active = 1 AND as_of IS NOT NULL AND as_of < :before "
               "AND :before GLOB '[0-9][0-9][0-9][0-9]*' AND date(CASE length(:before) WHEN 4 THEN :before || '-01-01' "
               "WHEN 7 THEN :before || '-01' WHEN 10 THEN :before END) IS NOT NULL ORDER BY as_of, entity, property",
    },
    "render_used": {
        "title": "What a stored render used",
        "description": "The facts, assumptions and numbers of a recorded render (its id, or a template's name for "
                       "all its renders), from the report manifest.",
        "sql": "SELECT r.id AS render, r.template, r.scenario, r.rendered_at, i.kind, i.ref, i.detail FROM render r "
               "JOIN render_input i ON i.render = r.id WHERE r.id = :render OR r.template = :render "
               "ORDER BY r.rendered_at DESC, i.kind, i.ref",
    },
}


def metadata() -> dict[str, Any]:
    """Datasette's metadata for the snapshot."""
    return {
        "title": "AI compute knowledge base",
        "description": "Sourced claims about AI compute, each with who said it, where and in what words. "
                       "A read-only snapshot taken when `kb serve` started.",
        "databases": {DATABASE: {
            "queries": QUERIES,
            "tables": {
                "claims": {
                    "description": "One row per claim, readable: the value with its unit, its source linked, the "
                                   "claims it competes with. Search covers quotes, notes and locators.",
                    "columns": {k: CLAIM_COLUMNS[k] for k in EXPLAINED}, "facets": FACETS, "fts_table": "fact_fts", "fts_pk": "rowid",
                    "sort_desc": "recorded_at", "label_column": "value",
                },
                "conflicts": {"description": "Pairs of competing claims that disagree, as `kb conflicts` lists them.",
                              "columns": {"factor": "By how much their intervals fail to overlap (empty: one is 0).",
                                          "label": "The field's usual mistake the ratio points to, if any."},
                              "facets": ["property", "label"], "sort_desc": "factor"},
                "fact": {"description": "The stored facts (append-only), values in SI beside the value as written.",
                         "fts_table": "fact_fts", "fts_pk": "rowid",
                         "facets": ["property", "confidence", "rank", "method", "status"]},
                "entity": {"description": "Accelerators, clusters, sites, models, organizations.",
                           "fts_table": "entity_fts", "fts_pk": "rowid", "label_column": "name", "facets": ["kind"]},
                "source": {"description": "Where claims come from.", "fts_table": "source_fts", "fts_pk": "rowid",
                           "label_column": "title", "facets": ["kind"]},
                "property": {"description": "The vocabulary: each property's unit, dimension and plausible range.",
                             "label_column": "name"},
                "event": {"description": "Rank changes (deprecate, prefer), recorded instead of updates."},
                "entity_alias": {"description": "Names recorded for an entity after it (an imported dataset's)."},
                "render": {"description": "Recorded renders of report templates (the manifest)."},
                "render_number": {"description": "Each number a render printed, with the result it came from."},
                "render_input": {"description": "The facts and assumptions each render used."},
            },
        }},
    }
