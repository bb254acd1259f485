"""YAML in (``kb load``), YAML out (``kb export``). Loads are all-or-nothing and idempotent."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import claims, db
from .errors import AppendOnlyError, ConflictError, FileFormatError, KBError, NotFoundError, TamperedError, UnitError
from .values import now_stamp, parse_date, parse_timestamp
from .yamlio import Fields, YMap, read_text, read_yaml, source_text, ymap

if TYPE_CHECKING:
    from .store import Store

TOP_KEYS = {"properties", "sources", "entities", "aliases", "facts", "events"}
ALIAS_KEYS = {"alias", "entity", "source", "recorded_at"}
SOURCE_KEYS = {"id", "title", "authors", "publisher", "url", "archive_url", "published", "accessed", "kind", "text", "recorded_at"}
ENTITY_KEYS = {"id", "kind", "name", "aliases", "part_of", "recorded_at"}
FACT_KEYS = {
    "id", "entity", "property", "value", "unit", "interval", "point", "as_of", "source", "locator",
    "quote", "method", "confidence", "rank", "rank_reason", "note", "supersedes", "recorded_at",
    *claims.OPTIONAL_ID_FIELDS, "cites",
}
EVENT_KEYS = {"id", "fact", "rank", "reason", "recorded_at"}
COMPARED = {
    "source": ("title", "authors", "publisher", "url", "archive_url", "published", "accessed", "kind", "text_path"),
    "entity": ("kind", "name", "aliases", "part_of"),
}


@dataclass
class LoadReport:
    files: int = 0
    added: dict[str, int] = field(default_factory=lambda: {"properties": 0, "sources": 0, "entities": 0, "aliases": 0,
                                                            "facts": 0, "events": 0})
    unchanged: int = 0
    new_in: list[str] = field(default_factory=list)  # the files with something not recorded yet, in order
    warnings: list[str] = field(default_factory=list)  # stored claims a re-declared plausible range now excludes
    fact_ids: list[str] = field(default_factory=list)  # the facts added (or, dry run, that would be)


def yaml_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml") and x.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise KBError(f"no such file or folder: {str(p)!r}")
    unique: dict[Path, Path] = {}
    for p in out:
        unique.setdefault(p.resolve(), p)  # a file named twice (facts/ and facts/x.yaml) is read once
    return list(unique.values())


_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]*")


def _check_slug(value: str, what: str, where: str) -> None:
    """Ids are slugs (lower-case letters, digits, '.', '_', '-'): safe in a URL, a file name and a reference."""
    if len(value) > 100:
        raise FileFormatError(f"{what} id {value[:30]!r}... is {len(value)} characters; keep ids under 100", where=where)
    if not _SLUG.fullmatch(value):
        import unicodedata

        ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
        suggestion = re.sub(r"[^a-z0-9._-]+", "-", ascii_text).strip("-._") or "my-id"
        raise FileFormatError(f"{what} id {value!r} must be a slug: lower-case letters, digits, '.', '_' or '-', "
                              f"e.g. {suggestion!r}", where=where)


def _label(path: Path, root: Path | None) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve())) if root else str(path)
    except ValueError:
        return str(path)


class _Pending:
    """What a load would add, checked against the database and itself before anything is written.

    ``strict`` (the CLI's ``kb add``) refuses anything already recorded instead of skipping it.
    """

    def __init__(self, store: Store, strict: bool = False, record_now: bool = False) -> None:
        from . import units

        units.ask_pint_only()  # what is stored (SI values, append-only) never rests on the cache
        self.store = store
        self.strict = strict
        self.record_now = record_now  # new rows are recorded now, whatever recorded_at the input gives
        self.sources: dict[str, Any] = dict(store.sources())
        self.entities: dict[str, Any] = dict(store.entities())
        self.properties: dict[str, Any] = dict(store.properties())
        self.fact_ids = set(store.fact_ids())
        self.facts: dict[str, dict[str, Any]] = {}
        self.superseded = {r["supersedes"]: r["id"] for r in store.sql("SELECT id, supersedes FROM fact WHERE supersedes IS NOT NULL")}
        self.event_ids = {r["id"] for r in store.sql("SELECT id FROM event")}
        self.new: dict[str, list[Any]] = {"property": [], "source": [], "entity": [], "entity_alias": [], "fact": [],
                                          "event": []}
        self.aliases: dict[str, str] = {r["alias"]: r["entity"] for r in store.sql("SELECT alias, entity FROM entity_alias")}
        self.unchanged = 0
        self.stamp = now_stamp()
        self._texts: dict[Path, str] = {}
        self.declared: dict[tuple[str, str], str] = {}  # where this load first declared a source or entity
        self._names: dict[str, str] | None = None  # ids and aliases taken (see _check_aliases)
        self.present: dict[str, str] = {}  # facts of the input already recorded: id -> where the input has it
        self.present_events: dict[str, tuple[str, str, str, str]] = {}  # id -> (where, fact, rank, reason)
        self._latest: list[str | None] = []  # the latest recorded_at in the database, once read

    def _add(self, table: str, row: dict[str, Any], f: Fields) -> None:
        """A new row, unless its given recorded_at is earlier than what the database already holds: that would
        change what ``--known-at`` says the knowledge base knew in the past (a restore into a new database, which
        holds nothing yet, keeps every recorded time)."""
        if f.opt("recorded_at") and self.record_now:
            row["recorded_at"] = self.stamp
        elif f.opt("recorded_at"):
            import datetime as dt

            soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if row["recorded_at"] > soon:  # it would make every later time look backdated
                raise FileFormatError(f"recorded_at {row['recorded_at'][:19]}Z is in the future; remove it (the entry "
                                      "is then recorded now)", where=f.at("recorded_at"))
            if not self._latest:
                self._latest.append(max((r["t"] for t in ("source", "entity", "entity_alias", "fact", "event")
                                         for r in self.store.sql(f"SELECT max(recorded_at) AS t FROM {t}") if r["t"]),
                                        default=None))
            latest = self._latest[0]
            if latest is not None and row["recorded_at"] < latest:
                raise FileFormatError(
                    f"recorded_at {row['recorded_at'][:19]}Z is earlier than the latest time already recorded "
                    f"({latest[:19]}Z): it would change what --known-at says the knowledge base knew then; remove "
                    "it, or `kb load --record-now` (new entries are recorded now)", where=f.at("recorded_at"))
        self.new[table].append(row)

    def check_present(self) -> None:
        """A fact or event the input has and the database already records must be stored as recorded: "already
        recorded" of a row changed in place (behind kb's back) would hide the change."""
        from .integrity import changed_facts, event_changes, stored_rows

        stored = {r["id"]: r for r in stored_rows(self.store, "event", self.present_events)}
        for eid, (where, fact, rank, reason) in self.present_events.items():
            row = stored.get(eid)
            what = event_changes(row) if row else None
            if row and not what and (row["fact"], row["rank"], row["reason"]) != (fact, rank, reason):
                what = "its fact, rank or reason is not this entry's"
            if what:
                raise TamperedError(f"event {eid} is recorded, but the stored row differs from this entry: {what}; "
                                    "the database was changed outside kb (`kb check` lists every changed row)",
                                    where=where)
        changed = changed_facts(self.store, self.present)
        if changed:
            fid = next(i for i in self.present if i in changed)  # the first in the input
            raise TamperedError(f"fact {fid} is recorded, but the stored row differs from this entry: {changed[fid]}; "
                                "the database was changed outside kb (`kb check` lists every changed row)", where=self.present[fid])

    def _same_or_conflict(self, kind: str, row: Mapping[str, Any], existing: Mapping[str, Any], where: str) -> None:
        if self.strict:
            raise ConflictError(f"{kind} {row['id']!r} is already recorded", where=where)
        diff = [k for k in COMPARED[kind] if (existing.get(k) or None) != (row.get(k) or None)]
        if diff:
            first = self.declared.get((kind, row["id"]))
            raise ConflictError(
                f"{kind} {row['id']!r} already exists" + (f" (declared at {first})" if first else "")
                + f" with a different {diff[0]} ({existing.get(diff[0])!r}); give the new one another id",
                where=where,
            )
        self.unchanged += 1

    def property(self, item: Any, file: str) -> None:
        """A vocabulary addition declared in a fact file (``properties:``), loaded with the facts that use it."""
        from .vocabulary import PROPERTY_KEYS, check_declared, property_row

        f = Fields(item, file, "property", PROPERTY_KEYS)
        name = item.get("name") if isinstance(item, Mapping) else None
        existing = self.properties.get(name) if isinstance(name, str) else None
        row = property_row(f, "facts", existing)  # what a re-declaration does not restate, it keeps
        if check_declared(row, existing, f.at("name"), self.declared.get(("property", row["name"]))):
            self.properties[row["name"]] = row
            self.new["property"] = [p for p in self.new["property"] if p["name"] != row["name"]] + [dict(row)]
            self.declared[("property", row["name"])] = f.at("name")
        else:
            self.unchanged += 1

    def source(self, item: Any, file: str) -> None:
        f = Fields(item, file, "source", SOURCE_KEYS)
        try:
            row: dict[str, Any] = {
                "id": f.req("id"), "title": f.req("title"),
                "authors": json.dumps(f.text_list("authors"), ensure_ascii=False),
                "publisher": f.opt("publisher"), "url": f.opt("url"), "archive_url": f.opt("archive_url"),
                "published": parse_date(f.opt("published"), "published")[0],
                "accessed": parse_date(f.opt("accessed"), "accessed")[0],
                "kind": claims.check_source_kind(f.opt("kind")), "text_path": f.opt("text"),
                "recorded_at": parse_timestamp(f.opt("recorded_at") or self.stamp),
            }
        except KBError as exc:
            raise (exc if exc.where else exc.at(f.at())) from None
        for key in ("url", "archive_url"):
            if row[key]:
                try:
                    claims.check_url(row[key], f"source {row['id']!r}: {key}")
                except KBError as exc:
                    raise exc.at(f.at(key)) from None
        _check_slug(row["id"], "source", f.at("id"))
        text = source_text(Path(self.store.root), row["text_path"], f.at("text")) \
            if row["text_path"] and self.store.root is not None else None
        if row["id"] in self.sources:
            self._same_or_conflict("source", row, self.sources[row["id"]], f.at("id"))
            return
        # a source is never changed, so a wrong path would stay: one recorded now must name a file that is
        # there; an entry that carries its recorded_at (an export being restored elsewhere) was checked where
        # it was recorded, and `kb check` reports its missing text
        if text is not None and not text.is_file() and not f.opt("recorded_at"):
            raise FileFormatError(f"source text {row['text_path']!r} is not a file: text: is relative to the project "
                                  f"folder ({self.store.root}), e.g. facts/texts/x.txt", where=f.at("text"))
        self.sources[row["id"]] = row
        self.declared[("source", row["id"])] = f.at("id")
        self._add("source", row, f)

    def entity(self, item: Any, file: str) -> None:
        f = Fields(item, file, "entity", ENTITY_KEYS)
        try:
            row: dict[str, Any] = {
                "id": f.req("id"), "kind": claims.check_entity_kind(f.req("kind")),
                "name": f.opt("name") or f.req("id"),
                "aliases": json.dumps(f.text_list("aliases"), ensure_ascii=False),
                "part_of": f.opt("part_of"),
                "recorded_at": parse_timestamp(f.opt("recorded_at") or self.stamp),
            }
        except KBError as exc:
            raise (exc if exc.where else exc.at(f.at())) from None
        _check_slug(row["id"], "entity", f.at("id"))
        if row["id"] in self.entities:
            self._same_or_conflict("entity", row, self.entities[row["id"]], f.at("id"))
            return
        last = row["id"].rpartition(".")[2]
        if "." in row["id"] and last in self.properties:
            raise FileFormatError(f"entity id {row['id']!r} ends in the property name {last!r}, so "
                                  f"{row['id']!r} would also read as ENTITY.PROPERTY; choose another id",
                                  where=f.at("id"))
        self._check_aliases(row, f.at("aliases") if "aliases" in f.data else f.at())
        self.entities[row["id"]] = row
        self.declared[("entity", row["id"])] = f.at("id")
        self._add("entity", row, f)

    def _check_aliases(self, row: Mapping[str, Any], where: str) -> None:
        """An alias names one entity: not twice on one, not another's id or alias."""
        aliases = json.loads(row["aliases"])
        try:
            claims.check_visible(row["name"], f"entity {row['id']!r}: name")
            for alias in aliases:
                claims.check_visible(alias, f"entity {row['id']!r}: alias")
        except KBError as exc:
            raise exc.at(where) from None
        if len(set(aliases)) != len(aliases):
            dup = next(a for a in aliases if aliases.count(a) > 1)
            raise FileFormatError(f"alias {dup!r} is given twice", where=where)
        if self._names is None:  # every id and alias in use -> its entity, built once per load
            self._names = {}
            for other in self.entities.values():
                for name in (other["id"], *json.loads(other["aliases"] or "[]")):
                    self._names.setdefault(name, other["id"])
        clash = next((a for a in aliases if a in self._names), None)
        if clash:
            raise ConflictError(f"alias {clash!r} already names entity {self._names[clash]!r}", where=where)
        for name in (row["id"], *aliases):
            self._names.setdefault(name, row["id"])

    def alias(self, item: Any, file: str) -> None:
        """Another name for a recorded entity (``aliases: [{alias, entity, source}]``): how an imported
        dataset names it. Case does not matter; a name already taken by another entity is refused."""
        f = Fields(item, file, "alias", ALIAS_KEYS)
        try:
            name, entity = claims.check_visible(f.req("alias").strip(), "alias"), f.req("entity")
            source = f.opt("source")
            stamp = parse_timestamp(f.opt("recorded_at") or self.stamp)
        except KBError as exc:
            raise (exc if exc.where else exc.at(f.at())) from None
        key = name.casefold()
        if entity not in self.entities:
            raise NotFoundError("entity", entity, list(self.entities), where=f.at("entity"))
        if source is not None and source not in self.sources:
            raise NotFoundError("source", source, list(self.sources), where=f.at("source"))
        for other in self.entities.values():
            if key in {other["id"].casefold(), *(a.casefold() for a in json.loads(other["aliases"] or "[]"))}:
                if other["id"] == entity:
                    self.unchanged += 1
                    return
                raise ConflictError(f"alias {name!r} already names entity {other['id']!r}", where=f.at("alias"))
        if key in self.aliases:
            if self.aliases[key] != entity:
                raise ConflictError(f"alias {name!r} already names entity {self.aliases[key]!r}", where=f.at("alias"))
            self.unchanged += 1
            return
        self.aliases[key] = entity
        self._add("entity_alias", {"alias": key, "entity": entity, "source": source, "recorded_at": stamp}, f)

    def check_part_of(self) -> None:
        for row in self.new["entity"]:
            if row["part_of"] == row["id"]:
                raise FileFormatError(f"entity {row['id']!r} cannot be part of itself", where=f"part_of of {row['id']}")
            if row["part_of"] and row["part_of"] not in self.entities:
                raise NotFoundError("entity", row["part_of"], list(self.entities), where=f"part_of of {row['id']}")

    def fact(self, item: Any, file: str) -> None:
        f = Fields(item, file, "fact", FACT_KEYS)
        spec: dict[str, Any] = {k: f.opt(k) for k in FACT_KEYS if k not in ("value", "cites")}
        spec["cites"] = f.text_list("cites") or None
        value = f.raw("value")
        if value is None:
            raise FileFormatError("fact needs a 'value' such as 989.4, '~6', '24 to 27' or '>=5'", where=f.at())
        if not isinstance(value, str):
            kind = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, Mapping) else repr(value)
            raise FileFormatError(f"'value' must be one number or text such as '24 to 27', not {kind}",
                                  where=f.at("value"))
        spec["value"] = value
        for key in ("entity", "property", "source"):
            spec[key] = f.req(key)
        assert spec["entity"] is not None and spec["source"] is not None
        if spec["entity"] not in self.entities:
            raise NotFoundError("entity", spec["entity"], list(self.entities), where=f.at("entity"),
                                hint="declare it under 'entities:'" if file else "add it with `kb add entity`")
        if spec["source"] not in self.sources:
            raise NotFoundError("source", spec["source"], list(self.sources), where=f.at("source"),
                                hint="declare it under 'sources:'" if file else "add it with `kb add source`")
        try:
            stamp = parse_timestamp(spec["recorded_at"]) if spec["recorded_at"] else self.stamp
            row = claims.build_fact(spec, self.properties, stamp)
        except KBError as exc:
            raise exc.at(f.at(_key_of(exc))) from None
        self._check_quote(row, f.at("quote") if "quote" in f.data else f.at())
        if row["id"] in self.fact_ids:
            if self.strict:
                raise ConflictError(f"this claim is already recorded as fact {row['id']}")
            self.unchanged += 1
            self.present.setdefault(row["id"], f.at())
            return
        if row["supersedes"]:
            self._check_correction(row, f.at("supersedes"))
        self.fact_ids.add(row["id"])
        self._add("fact", row, f)  # type: ignore[arg-type]

    def _check_quote(self, row: Mapping[str, Any], where: str) -> None:
        """A quote must be verbatim: where the source has a local text, the quote must be in it."""
        src = self.sources.get(row["source"]) or {}
        if not row["quote"] or not src.get("text_path") or self.store.root is None:
            return
        path = source_text(Path(self.store.root), src["text_path"], where)
        if not path.is_file():
            return  # `kb check` reports the missing text
        if path not in self._texts:  # normalised once per text, not once per quote
            self._texts[path] = claims.normalise_text(read_text(path, src["text_path"]))
        if claims.normalise_text(row["quote"]) not in self._texts[path]:
            raise FileFormatError(f"quote {row['quote'][:60]!r} is not in the text of source {row['source']!r} "
                                  f"({src['text_path']}); quotes are verbatim, or left out", where=where)

    def _check_correction(self, row: Mapping[str, Any], where: str) -> None:
        """A correction names a recorded claim of the same entity and property, not yet superseded."""
        old_id = row["supersedes"]
        if old_id not in self.fact_ids:
            raise NotFoundError("fact", old_id, where=where, hint="supersedes must name a recorded fact id")
        old = self.facts.get(old_id)
        if old is None:
            found = self.store.sql("SELECT entity, property FROM fact WHERE id = ?", (old_id,))
            old = found[0] if found else next(r for r in self.new["fact"] if r["id"] == old_id)
        if (old["entity"], old["property"]) != (row["entity"], row["property"]):
            raise ConflictError(f"a correction of fact {old_id} must be for {old['entity']}.{old['property']}", where=where)
        if old_id in self.superseded:
            raise AppendOnlyError(f"fact {old_id} is already superseded by {self.superseded[old_id]}; supersede that one",
                                where=where)
        self.superseded[old_id] = row["id"]

    def event(self, item: Any, file: str) -> None:
        f = Fields(item, file, "event", EVENT_KEYS)
        fact, rank, reason = f.req("fact"), f.req("rank"), f.req("reason")
        if fact not in self.fact_ids:
            raise NotFoundError("fact", fact, where=f.at("fact"), hint="an event must name a recorded fact id")
        if rank not in claims.RANKS:
            raise FileFormatError(f"rank {rank!r} is not one of: {', '.join(claims.RANKS)}", where=f.at("rank"))
        given_at = f.opt("recorded_at")
        try:
            at_given = parse_timestamp(given_at) if given_at else None
        except KBError as exc:
            raise exc.at(f.at("recorded_at")) from None
        # its id hashes the time the input gives (none: recorded now, or --record-now); an export's id is one of these
        ids = [claims.event_id(fact, rank, reason, at_given)] if at_given else []
        ids.append(claims.event_id(fact, rank, reason, ""))
        given_id = f.opt("id")
        if given_id and given_id not in ids:
            raise FileFormatError(f"event id {given_id!r} does not match its content (expected {ids[0]!r}); an "
                                  "exported event was edited: remove its id to record it as a new event",
                                  where=f.at("id"))
        present = next((i for i in ([given_id] if given_id else ids) if i in self.event_ids), None)
        if present:
            self.unchanged += 1
            self.present_events.setdefault(present, (f.at(), fact, rank, reason))
            return
        at = self.stamp if self.record_now or not at_given else at_given
        row = {"id": given_id or (ids[-1] if self.record_now or not at_given else ids[0]),
               "fact": fact, "rank": rank, "reason": reason, "recorded_at": at}
        self.event_ids.add(row["id"])
        self._add("event", row, f)


def _key_of(exc: KBError) -> str:
    """The fact field an error from ``claims.build_fact`` is about, for its line number."""
    if isinstance(exc, UnitError):
        return "unit"
    if isinstance(exc, NotFoundError):
        return "property"
    if exc.message.startswith("fact id "):
        return "id"
    first = exc.message.split(" ", 1)[0]
    return first if first in FACT_KEYS else "value"


def load_paths(store: Store, paths: list[Path], root: Path | None = None, dry_run: bool = False,
               record_now: bool = False) -> LoadReport:
    """Validate every entry of every file, then write them all in one transaction (or nothing).

    With ``dry_run`` nothing is written: the report says what a load would add. With ``record_now`` new
    entries are recorded at this load's time, whatever ``recorded_at`` their files give.
    """
    files = yaml_files(paths)
    pending = _Pending(store, record_now=record_now)
    docs = []
    for path in files:
        label = _label(path, root)
        data = read_yaml(path, label=label)
        if data is None:
            continue
        if not isinstance(data, YMap):
            raise FileFormatError("expected a mapping with sources:, entities:, facts: or events:", where=label)
        unknown = sorted(set(data) - TOP_KEYS)
        if unknown:
            raise FileFormatError(
                f"unknown top-level key {unknown[0]!r}; allowed: {', '.join(sorted(TOP_KEYS))}",
                where=f"{label}:{data.line_of(unknown[0])}",
            )
        for key in TOP_KEYS:
            if data.get(key) is not None and not isinstance(data[key], list):
                raise FileFormatError(f"{key!r} must be a list", where=f"{label}:{data.line_of(key)}")
        docs.append((label, data))
    # properties, sources and entities of every file first, so facts may reference them from any file
    new_in: dict[str, None] = {}

    def counted(method: Any, item: Any, label: str) -> None:
        before = sum(len(v) for v in pending.new.values())
        method(item, label)
        if sum(len(v) for v in pending.new.values()) > before:
            new_in[label] = None

    for kind, method in (("properties", pending.property), ("sources", pending.source), ("entities", pending.entity),
                         ("aliases", pending.alias)):
        for label, data in docs:
            for item in data.get(kind) or []:
                counted(method, item, label)
    pending.check_part_of()
    # facts before the corrections that supersede them, whichever file each is in (a correction of a
    # correction waits for the one it corrects); then rank events
    waiting = [(item, label) for label, data in docs for item in data.get("facts") or []]
    while waiting:
        ready = [w for w in waiting if not _corrects_unseen(w[0], pending, waiting)] or waiting[:1]
        for item, label in ready:  # no progress: the first reports its unknown target
            counted(pending.fact, item, label)
        taken = {id(w) for w in ready}
        waiting = [w for w in waiting if id(w) not in taken]
    for label, data in docs:
        for item in data.get("events") or []:
            counted(pending.event, item, label)
    pending.check_present()
    if not dry_run:
        _write(store, pending)
    report = LoadReport(files=len(files), unchanged=pending.unchanged, new_in=sorted(new_in),
                        warnings=_newly_implausible(store, pending), fact_ids=[f["id"] for f in pending.new["fact"]])
    report.added = {
        "properties": len(pending.new["property"]), "sources": len(pending.new["source"]),
        "entities": len(pending.new["entity"]), "aliases": len(pending.new["entity_alias"]),
        "facts": len(pending.new["fact"]), "events": len(pending.new["event"]),
    }
    return report


def _since_read(conn: Any, pending: _Pending) -> None:
    """Drop pending rows another command recorded meanwhile; refuse a correction of a claim corrected meanwhile."""
    keys = {"source": "id", "entity": "id", "entity_alias": "alias", "fact": "id", "event": "id"}
    for table, key in keys.items():
        rows = pending.new[table]
        if not rows:
            continue
        present = set()
        for i in range(0, len(rows), 500):
            chunk = [r[key] for r in rows[i:i + 500]]
            marks = ", ".join("?" * len(chunk))
            present |= {r[0] for r in db.run(conn, f"SELECT {key} FROM {table} WHERE {key} IN ({marks})",
                                                            tuple(chunk))}
        if present and table == "fact" and pending.strict:
            raise ConflictError(f"this claim is already recorded as fact {sorted(present)[0]}")
        if present:
            pending.new[table] = [r for r in rows if r[key] not in present]
            if table == "fact":
                pending.unchanged += len(present)
    targets = [f["supersedes"] for f in pending.new["fact"] if f.get("supersedes")]
    for i in range(0, len(targets), 500):
        chunk = targets[i:i + 500]
        marks = ", ".join("?" * len(chunk))
        taken = db.run(conn, f"SELECT supersedes, id FROM fact WHERE supersedes IN ({marks})", tuple(chunk)).first()
        if taken:
            raise ConflictError(f"fact {taken[0]} was corrected by {taken[1]} while this command ran (another "
                                "command); run it again to see the claims as they are now")


def _newly_implausible(store: Store, pending: _Pending) -> list[str]:
    """For each re-declared plausible range, the active stored claims it now excludes (``kb check`` lists them)."""
    from .claims import is_active, outside_plausible

    out = []
    for p in pending.new["property"]:
        if not p.get("plausible"):
            continue
        outside = [c for c in store.claims(prop=p["name"]) if is_active(c) and c.get("plausibility") != "accepted"
                   and outside_plausible(p, c["si_low"], c["si_value"], c["si_high"])]
        if outside:
            first = outside[0]
            where = pending.declared.get(("property", p["name"]), "a fact file")
            out.append(f"{where}: the plausible range {p['plausible']!r} of {p['name']} excludes {len(outside)} "
                       f"stored claim(s), e.g. fact {first['id']} ({first['entity']}: {first['value_text']} "
                       f"{first['unit']}); `kb check` lists them")
    return out


def _corrects_unseen(item: Any, pending: _Pending, waiting: list[tuple[Any, str]]) -> bool:
    """Whether a fact entry supersedes a claim not yet read that another waiting entry may add."""
    target = item.get("supersedes") if isinstance(item, YMap) else None
    return bool(target) and str(target) not in pending.fact_ids and len(waiting) > 1


def _write(store: Store, pending: _Pending) -> None:
    if not any(pending.new.values()):
        return  # nothing new: the database is not touched
    with store.engine.begin() as conn:
        db.ensure_meta(conn)  # DDL first:
        if not db.is_postgres(conn):  # PostgreSQL's foreign keys are declared deferred
            db.run(conn, "PRAGMA defer_foreign_keys = ON")  # it would end the transaction this pragma is for
        # Take the write lock first, so what another command recorded since this one read the database is
        # seen now: rows it already added are skipped, and a correction it already made is refused
        db.run(conn, "INSERT INTO _kb_meta (key, value) VALUES ('last_write', ?) ON CONFLICT(key) "
                             "DO UPDATE SET value = excluded.value", (pending.stamp,))
        _since_read(conn, pending)
        for p in pending.new["property"]:  # new, or a fact file's re-declaration of a schema file's property
            store.upsert_property(conn, p)
        for table in ("source", "entity", "entity_alias", "fact", "event"):
            store.insert(table, pending.new[table], conn)
    if pending.new["property"]:
        store.refresh_properties()


def load_rows(
    store: Store,
    *,
    sources: list[dict[str, Any]] = (),  # type: ignore[assignment]
    entities: list[dict[str, Any]] = (),  # type: ignore[assignment]
    facts: list[dict[str, Any]] = (),  # type: ignore[assignment]
    strict: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """Add entries given as plain data (the CLI's ``kb add``) through the same checks as a load."""
    pending = _Pending(store, strict=strict)
    for item in sources:
        pending.source(ymap(item), "")
    for item in entities:
        pending.entity(ymap(item), "")
    pending.check_part_of()
    for item in facts:
        pending.fact(ymap(item), "")
    _write(store, pending)
    return pending.new


def load_specs(
    store: Store,
    *,
    sources: list[dict[str, Any]],
    entities: list[dict[str, Any]],
    aliases: list[dict[str, Any]],
    facts: list[dict[str, Any]],
    dry_run: bool = False,
) -> LoadReport:
    """Entries built by an importer, through the checks of a load: what is recorded already is skipped,
    everything else is written in one transaction (or, with ``dry_run``, only counted)."""
    pending = _Pending(store)
    for method, items in ((pending.source, sources), (pending.entity, entities), (pending.alias, aliases)):
        for item in items:
            method(ymap(item), "")
    pending.check_part_of()
    for item in facts:
        pending.fact(ymap(item), "")
    pending.check_present()
    if not dry_run:
        _write(store, pending)
    report = LoadReport(files=0, unchanged=pending.unchanged, fact_ids=[f["id"] for f in pending.new["fact"]])
    report.added = {
        "properties": 0, "sources": len(pending.new["source"]), "entities": len(pending.new["entity"]),
        "aliases": len(pending.new["entity_alias"]), "facts": len(pending.new["fact"]), "events": 0,
    }
    return report
