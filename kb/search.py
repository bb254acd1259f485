"""``kb search``: ranked full-text search over quotes, notes and locators (``fact_fts``), entity names, ids
and aliases (``entity_fts``), and source titles, publishers and authors (``source_fts``), grouped by entity.

The words given are each searched as a phrase (``H100-SXM`` is the phrase "h100 sxm"; a trailing ``*``
makes a prefix), all of them required, so no text is FTS5 syntax and nothing the user types is an
error of the query language. Scores are FTS5's bm25 (lower is better); a group's score is its best hit's,
an entity whose own name or alias matches counting double. A PostgreSQL store runs the same search with
its own full-text search (``tsvector``; see :class:`_PostgresSQL`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .claims import is_active
from .errors import KBError

if TYPE_CHECKING:
    from .store import Store

MARK = ("[", "]")  # around the matched words in a snippet
NAME_WEIGHT = 2.0  # an entity found by its own name ranks above one found through a quote
_WORD = re.compile(r"[^\s\"]+")


MAX_WORDS = 32  # distinct words a search may require (each is a phrase FTS5 matches against every row)


def _terms(text: str) -> list[tuple[str, bool]]:
    """The distinct words searched for (a repeat, in any case, counts once): each without its trailing ``*``,
    and whether it had one (a prefix)."""
    words = [(w.rstrip("*"), w.endswith("*")) for w in _WORD.findall(text or "") if re.search(r"[^\W_]", w.rstrip("*"))]
    first: dict[tuple[str, bool], tuple[str, bool]] = {}
    for core, prefix in words:
        first.setdefault((core.casefold(), prefix), (core, prefix))
    return list(first.values())


def fts_query(text: str) -> str:
    """The user's words as an FTS5 query: each a quoted phrase, all required; ``word*`` a prefix."""
    terms = _terms(text)
    if not terms:
        raise KBError(f"kb search: {text!r} has no words to search for; e.g. kb search oversubscription")
    if len(terms) > MAX_WORDS:
        raise KBError(f"kb search: at most {MAX_WORDS} distinct words; got {len(terms)}")
    return " ".join(f'"{core}"' + (" *" if prefix else "") for core, prefix in terms)


@dataclass
class FactHit:
    claim: dict[str, Any]
    snippet: str
    score: float


@dataclass
class Group:
    """One entity's hits: its own name (if that matched) and its facts, best first."""

    entity: dict[str, Any]
    score: float
    name_snippet: str | None = None
    facts: list[FactHit] = field(default_factory=list)


@dataclass
class Found:
    query: str
    groups: list[Group]
    sources: list[dict[str, Any]]  # {"source": row, "snippet", "score"}
    total: int = 0  # entities that match, of which ``groups`` are the best ``limit``


SHOWN_FACTS = 5  # claims a group shows; a group found by name gets its own best ones


def _matched_name(entity: dict[str, Any], aliases: list[str], text: str) -> str:
    """How an entity's own names matched: ``name``, ``alias Viperfish`` or ``id``."""
    words = [core.casefold() for core, _ in _terms(text)]

    def has(name: str) -> bool:
        folded = name.casefold()
        return all(w in folded for w in words)
    if has(entity["name"] or ""):
        return "name"
    alias = next((a for a in aliases if has(a)), None)
    return f"alias {alias}" if alias else "id"


def search(store: Store, text: str, limit: int = 20) -> Found:
    """The ``limit`` best entity groups (and up to ``limit`` sources) for ``text``."""
    if limit < 1:
        raise KBError("kb search --limit must be at least 1")
    query = fts_query(text)
    pool = max(limit * 10, 100)  # facts read to make ``limit`` groups
    sql = _PostgresSQL(text) if store.url else _SQLiteSQL(query)
    try:
        fact_rows = store.sql(*sql.facts(pool))
        entity_rows = store.sql(*sql.entities(pool))
        source_rows = store.sql(*sql.sources(limit))
    except Exception as exc:  # the query is built from phrases; a failure here is the index's, said plainly
        raise KBError(f"kb search failed: {(str(getattr(exc, 'orig', None) or exc).splitlines() or ['?'])[0]}") from None
    entities = store.entities()
    extra: dict[str, list[str]] = {}  # names recorded after an entity (an import's), by entity
    for row in store.sql("SELECT entity, alias FROM entity_alias ORDER BY recorded_at, alias"):
        extra.setdefault(row["entity"], []).append(row["alias"])
    groups: dict[str, Group] = {}
    for r in entity_rows:
        e = entities.get(r["id"])
        if e is not None:
            names = [*json.loads(e["aliases"] or "[]"), *extra.get(e["id"], [])]
            groups[r["id"]] = Group(dict(e), r["score"] * NAME_WEIGHT, name_snippet=_matched_name(dict(e), names, text))
    try:  # the words are exactly an entity's id, name or alias: that entity first
        exact = store.entity(text.strip())["id"] if text.strip() and "*" not in text else None
    except KBError:
        exact = None
    if exact is None:
        exact = next((i for i, e in entities.items() if (e["name"] or "").casefold() == text.strip().casefold()), None)
    if exact is not None and exact in groups:
        groups[exact].score = -math.inf
    claims: dict[str, dict[str, Any]] = {}
    for entity, prop in dict.fromkeys((r["entity"], r["property"]) for r in fact_rows):
        for c in store.claims(entity, prop):
            claims[c["id"]] = dict(c)
    for r in fact_rows:
        e = entities.get(r["entity"])
        if e is None or r["id"] not in claims:
            continue
        group = groups.setdefault(r["entity"], Group(dict(e), r["score"]))
        group.score = min(group.score, r["score"])
        group.facts.append(FactHit(claims[r["id"]], " ".join(r["snippet"].split()), r["score"]))
    ranked = sorted(groups.values(), key=lambda g: (g.score, g.entity["id"]))
    total, ranked = len(ranked), ranked[:limit]
    for g in ranked:  # a group the pool left short (found by name, or many claims match): its own best claims
        if len(g.facts) < SHOWN_FACTS:
            have = {h.claim["id"] for h in g.facts}
            more = store.sql(*sql.facts(50, entity=g.entity["id"]))
            for r in more:
                if r["id"] in have:
                    continue
                if r["id"] not in claims:
                    for c in store.claims(g.entity["id"], r["property"]):
                        claims[c["id"]] = dict(c)
                g.facts.append(FactHit(claims[r["id"]], " ".join(r["snippet"].split()), r["score"]))
    for g in ranked:  # active claims before superseded or deprecated ones, each best first
        g.facts.sort(key=lambda h: (not is_active(h.claim), h.score))
    sources = store.sources()
    found_sources = [{"source": dict(sources[r["id"]]), "snippet": " ".join(r["snippet"].split()), "score": r["score"]}
                     for r in source_rows if r["id"] in sources]
    return Found(query, ranked, found_sources, total)


class _SQLiteSQL:
    """The searches as SQLite's FTS5 runs them: ``MATCH`` the phrases, rank by bm25, snippets by FTS5."""

    def __init__(self, query: str) -> None:
        self.query = query

    def facts(self, limit: int, entity: str | None = None) -> tuple[str, tuple[Any, ...]]:
        a, b = MARK
        only = " AND f.entity = ?" if entity else ""
        return (f"SELECT f.id, f.entity, f.property, bm25(fact_fts) AS score, "
                f"snippet(fact_fts, -1, '{a}', '{b}', '...', 14) AS snippet "
                f"FROM fact_fts JOIN fact f ON f.rowid = fact_fts.rowid WHERE fact_fts MATCH ?{only} "
                "ORDER BY score LIMIT ?", (self.query, *((entity,) if entity else ()), limit))

    def entities(self, limit: int) -> tuple[str, tuple[Any, ...]]:
        a, b = MARK
        return (f"SELECT e.id, bm25(entity_fts) AS score, snippet(entity_fts, -1, '{a}', '{b}', '...', 10) AS snippet "
                "FROM entity_fts JOIN entity e ON e.rowid = entity_fts.rowid WHERE entity_fts MATCH ? "
                "ORDER BY score LIMIT ?", (self.query, limit))

    def sources(self, limit: int) -> tuple[str, tuple[Any, ...]]:
        a, b = MARK
        return (f"SELECT s.id, bm25(source_fts) AS score, snippet(source_fts, -1, '{a}', '{b}', '...', 12) AS snippet "
                "FROM source_fts JOIN source s ON s.rowid = source_fts.rowid WHERE source_fts MATCH ? "
                "ORDER BY score LIMIT ?", (self.query, limit))


class _PostgresSQL:
    """The same searches on PostgreSQL, over text split into words as FTS5 splits it (:func:`kb.postgres.words`):
    each word a phrase of its letter-and-digit runs (``h100 <-> sxm``; a prefix ends ``:*``), all required,
    over the ``fact.search`` tsvector (GIN-indexed) and the entities' and sources' words. Scores are
    ``-ts_rank`` with length normalization 1 (lower is better and longer texts count less, as bm25's);
    snippets are ``ts_headline`` of the field that matched."""

    def __init__(self, text: str) -> None:
        phrases = []
        for core, prefix in _terms(text):
            runs = re.findall(r"[^\W_]+", core.lower())  # only letters and digits: never tsquery syntax
            if runs:
                phrases.append(" <-> ".join(runs) + (":*" if prefix else ""))
        self.params = [" & ".join(f"({p})" for p in phrases) or "''"]
        self.tsquery = "to_tsquery('simple', ?)"

    @staticmethod
    def _headline(document: str, words: int) -> str:
        a, b = MARK
        return (f"ts_headline('simple', {document}, q, 'StartSel={a}, StopSel={b}, "
                f"MaxWords={words}, MinWords={words // 2}')")

    def facts(self, limit: int, entity: str | None = None) -> tuple[str, tuple[Any, ...]]:
        from .postgres import words

        only = " AND f.entity = ?" if entity else ""
        snippet = " ".join(f"WHEN to_tsvector('simple', {words('f.' + c)}) @@ q THEN {self._headline('f.' + c, 14)}"
                           for c in ("quote", "note", "locator"))
        return (f"SELECT f.id, f.entity, f.property, -ts_rank(f.search, q, 1) AS score, "
                f"CASE {snippet} ELSE '' END AS snippet "
                f"FROM fact f, (SELECT {self.tsquery} AS q) x WHERE f.search @@ q{only} ORDER BY score, f.id LIMIT ?",
                (*self.params, *((entity,) if entity else ()), limit))

    def _named(self, rows: str, limit: int, width: int) -> tuple[str, tuple[Any, ...]]:
        from .postgres import words

        vector = f"to_tsvector('simple', {words('d.words')})"
        return (f"SELECT d.id, -ts_rank({vector}, q, 1) AS score, {self._headline('d.words', width)} AS snippet "
                f"FROM ({rows}) d, (SELECT {self.tsquery} AS q) x WHERE {vector} @@ q ORDER BY score, d.id LIMIT ?",
                (*self.params, limit))

    def entities(self, limit: int) -> tuple[str, tuple[Any, ...]]:
        return self._named("SELECT e.id, concat_ws(' ', e.name, (SELECT string_agg(x, ' ') FROM "
                           "json_array_elements_text(coalesce(e.aliases, '[]')::json) x), (SELECT string_agg(a.alias, "
                           "' ') FROM entity_alias a WHERE a.entity = e.id), e.id) AS words FROM entity e", limit, 10)

    def sources(self, limit: int) -> tuple[str, tuple[Any, ...]]:
        return self._named("SELECT s.id, concat_ws(' ', s.title, s.publisher, (SELECT string_agg(x, ' ') FROM "
                           "json_array_elements_text(coalesce(s.authors, '[]')::json) x)) AS words FROM source s",
                           limit, 12)
