"""``kb check``: every problem in the database and the content files, with stable slugs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import units
from .claims import is_active, normalise_text, quote_in_text
from .errors import KBError
from .numfmt import claim_text
from .yamlio import read_text, source_text

if TYPE_CHECKING:
    from .definitions import Catalog, ScenarioDef
    from .project import Project
    from .store import Store


@dataclass(frozen=True)
class Problem:
    slug: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: [{self.slug}] {self.message}"


TAMPERED = "the database was changed outside kb: restore it from a backup or an export"


def check_integrity(store: Store) -> list[Problem]:
    """Rows changed in place and append-only triggers removed: see :mod:`kb.integrity`."""
    from .integrity import (
        changed_events,
        changed_facts,
        search_index_problems,
        stored_rows,
        trigger_problems,
        vocabulary_changes,
    )

    problems = [Problem("missing-trigger", "database", f"trigger {name} is {what}, so rows can be changed in place; "
                        "`kb check --repair-triggers` restores it") for name, what in trigger_problems(store).items()]
    changed = changed_facts(store)
    facts = {r["id"]: r for r in stored_rows(store, "fact", changed, "id, entity, property")} if changed else {}
    for fid, what in sorted(changed.items()):
        problems.append(Problem("tampered", f"fact {fid} ({facts[fid]['entity']}.{facts[fid]['property']})",
                                f"{what}; {TAMPERED}"))
    for eid, what in sorted(changed_events(store).items()):
        problems.append(Problem("tampered", f"event {eid}", f"{what}; {TAMPERED}"))
    for what in search_index_problems(store):
        problems.append(Problem("search-index", "database", f"{what} (changed outside kb?); `kb check "
                                "--repair-triggers` rebuilds it"))
    for name, what in sorted(vocabulary_changes(store).items()):
        problems.append(Problem("vocabulary-changed", f"property {name}", f"{what}: it was changed outside kb; "
                                "`kb check --repair-triggers` restores it from the schema files"))
    return problems


def check_facts(store: Store) -> list[Problem]:
    from .vocabulary import vocabulary

    problems: list[Problem] = check_integrity(store)
    props = vocabulary(store)
    sources = store.sources()
    entities = store.entities()
    texts: dict[str, str | None] = {}
    for sid, src in sources.items():
        if src["text_path"]:
            try:
                path = source_text(store.root, src["text_path"], f"source {sid}")
            except KBError as exc:
                problems.append(Problem(exc.slug, exc.where or f"source {sid}", exc.message))
                continue
            if path.is_file():
                try:
                    texts[sid] = normalise_text(read_text(path, src["text_path"]))
                except KBError as exc:
                    problems.append(Problem(exc.slug, exc.where or f"source {sid}", exc.message))
            else:
                problems.append(Problem("missing-text", f"source {sid}", f"text file {src['text_path']!r} not found"))
    fact_ids = set()
    all_claims = sorted(store.claims(), key=lambda c: c["id"])  # every fact row, annotated with its status
    active = {c["id"] for c in all_claims if is_active(c)}
    problems += _same_place_disagreements([c for c in all_claims if c["id"] in active])
    for f in all_claims:
        where = f"fact {f['id']} ({f['entity']}.{f['property']})"
        fact_ids.add(f["id"])
        if f["entity"] not in entities:
            problems.append(Problem("unknown-entity", where, f"entity {f['entity']!r} is not recorded"))
        if not f["source"]:
            problems.append(Problem("no-source", where, "fact has no source"))
        elif f["source"] not in sources:
            problems.append(Problem("unknown-source", where, f"source {f['source']!r} is not recorded"))
        prop = props.get(f["property"])
        if prop is None:
            problems.append(Problem("unknown-property", where, f"property {f['property']!r} is not in the vocabulary"))
        else:
            try:
                units.check_dimension(f["unit"], prop["unit"], f"the value of {f['property']}")
                expected_si = f["value"] * units.si_factor(f["unit"])
                if abs(expected_si - f["si_value"]) > 1e-9 * max(abs(expected_si), 1e-300):
                    problems.append(Problem("si-mismatch", where, "stored SI value disagrees with value and unit"))
            except KBError as exc:
                problems.append(Problem("unit-mismatch", where, exc.message))
            if f["id"] in active:
                problems += _against_vocabulary(f, prop, where)
        low, high, value = f["low"], f["high"], f["value"]
        if (low is not None and value < low) or (high is not None and value > high):
            problems.append(Problem("out-of-bounds", where, f"point value {value} is outside [{low}, {high}]"))
        if f["quote"] and f["source"] in texts and f["id"] in active:  # a corrected or deprecated claim is dealt with
            if normalise_text(f["quote"]) not in (texts[f["source"]] or ""):
                problems.append(Problem("quote-not-in-source", where, f"quote {f['quote'][:60]!r} is not in the source text"))
        if f["quote"] is not None and not f["quote"].strip():
            problems.append(Problem("empty-quote", where, "quote is blank; omit it instead"))
    for row in store.sql("SELECT id, supersedes FROM fact WHERE supersedes IS NOT NULL"):
        if row["supersedes"] not in fact_ids:
            problems.append(Problem("dangling-reference", f"fact {row['id']}", f"supersedes unknown fact {row['supersedes']!r}"))
    for row in store.sql("SELECT id, fact FROM event"):
        if row["fact"] not in fact_ids:
            problems.append(Problem("dangling-reference", f"event {row['id']}", f"names unknown fact {row['fact']!r}"))
    for ent in entities.values():
        if ent["part_of"] and ent["part_of"] not in entities:
            problems.append(Problem("dangling-reference", f"entity {ent['id']}", f"part_of unknown entity {ent['part_of']!r}"))
    return problems


def _against_vocabulary(f: Mapping[str, Any], prop: Mapping[str, Any], where: str) -> list[Problem]:
    """An active claim outside its property's current plausible range (not accepted), or with a scope the
    property no longer allows: the vocabulary may have changed since the claim was recorded."""
    import json

    out = []
    from .claims import outside_plausible

    if f.get("plausibility") != "accepted" and outside_plausible(prop, f["si_value"], f["si_low"], f["si_high"]):
        out.append(Problem("implausible", where, f"{f['value_text']} {f['unit']}".strip() + " is outside the "
                           f"plausible range of {prop['name']} ({prop['plausible']}); correct it, or accept it "
                           "(plausibility: accepted, with a reason)"))
    allowed = json.loads(prop.get("scopes") or "[]")
    if f.get("scope") and allowed and f["scope"] not in allowed:
        out.append(Problem("bad-scope", where, f"scope {f['scope']!r} is not one of {prop['name']}'s scopes: "
                           f"{', '.join(allowed)}"))
    return out


def _same_place_disagreements(active: list[Mapping[str, Any]]) -> list[Problem]:
    """Two active claims of one kind with the same source, locator, quote and as-of that disagree: usually a fact
    edited in its file and loaded again, which should have been a correction (``supersedes:``). Only claims
    with a quote: two rows of one table (dense and sparse) share a locator and are not a mistake."""
    from .selection import kind_of

    seen: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    problems = []
    for c in active:
        if not (c["quote"] or "").strip():
            continue
        key = (c["entity"], c["property"], c["source"], c["locator"], c["quote"], c["as_of"], kind_of(c))
        other = seen.setdefault(key, c)
        if other is not c and (other["si_value"], other["si_low"], other["si_high"]) != (c["si_value"], c["si_low"], c["si_high"]):
            problems.append(Problem("same-place-disagrees", f"fact {c['id']} ({c['entity']}.{c['property']})",
                                    f"{claim_text(c)} and fact {other['id']}'s {claim_text(other)} "
                                    f"cite the same words in the same place ({c['source']}, {c['locator'] or 'no locator'}); "
                                    "supersede or deprecate one"))
    return problems


def check_files(label: str, run: Callable[[], Any]) -> list[Problem]:
    """Run one content validation, turning its first error into a problem."""
    try:
        run()
    except KBError as exc:
        return [Problem(exc.slug, exc.where or label, exc.message)]
    return []


def check_catalog(project: Project) -> list[Problem]:
    """Queries and scenarios parse and type-check; every query a scenario lists evaluates."""
    from .definitions import Catalog, effective_bindings

    errors: list[KBError] = []
    catalog = Catalog.read(project.root, errors)  # lenient: every error, and the valid rest checked below
    problems: list[Problem] = [Problem(e.slug, e.where or "queries/scenarios", e.message) for e in errors]
    project.use_catalog(catalog)
    store = project.store
    sources = store.sources()
    binding_messages: list[str] = []
    for name, scenario in catalog.scenarios.items():
        for _name, (_, b) in effective_bindings(catalog.scenarios, name).items():
            if b.kind == "assumption" and b.source:
                if b.source not in sources:
                    problems.append(Problem("unknown-source", b.where, f"source {b.source!r} is not recorded"))
                elif b.quote and (text_path := sources[b.source]["text_path"]):
                    try:
                        path = source_text(store.root, text_path, f"source {b.source}")
                    except KBError:
                        continue  # reported with the source
                    if path.is_file() and not quote_in_text(b.quote, read_text(path)):
                        problems.append(Problem("quote-not-in-source", b.where, f"quote {b.quote[:60]!r} is not in the source text"))
        bound = _check_bindings(project, catalog, scenario)
        problems += bound
        binding_messages.extend(p.message for p in bound)
    for name, scenario in catalog.scenarios.items():
        for query in scenario.queries:
            try:
                project.evaluator().evaluate(query, name)
            except KBError as exc:
                if any(m in str(exc) for m in binding_messages):
                    continue  # a binding's own problem (here or in a scenario it extends), reported once above
                problems.append(Problem(exc.slug, f"scenario {name}, query {query}", str(exc)))
    return problems


def _check_bindings(project: Project, catalog: Catalog, scenario: ScenarioDef) -> list[Problem]:
    """Each binding a scenario declares resolves (its fact, source, pinned id, query), and names an input
    some query has: a misspelt name would otherwise be ignored silently."""
    import difflib

    inputs = {decl.name for q in catalog.queries.values() for decl in q.inputs}
    ev = project.evaluator()
    problems: list[Problem] = []
    for b in scenario.bindings.values():
        if b.name not in inputs:
            close = difflib.get_close_matches(b.name, sorted(inputs), n=1)
            problems.append(Problem("unused-binding", b.where, f"binding {b.name!r} is the name of no query input"
                                    + (f"; did you mean {close[0]!r}?" if close else "")))
        try:
            ev.bind(b, scenario.name, scenario.name, ())
        except KBError as exc:
            problems.append(Problem(exc.slug, exc.where or b.where, exc.message))
    return problems


def check_all(project: Project) -> list[Problem]:
    """Everything: stored facts, the fact files (validated, not written), queries, scenarios, templates."""
    from . import units
    from .load import load_paths

    # first, before anything converts a unit: the unit cache must say what pint says (else it is removed)
    wrong = units.verify_cache()
    cache_problems = [Problem("unit-cache", units.cache_file(), f"{', '.join(wrong)}; the cache is removed (it was "
                              "edited, or made by another pint), and this check computed every unit with pint")
                      ] if wrong else []
    store = project.store
    problems = cache_problems + check_facts(store)
    if project.facts_dir.is_dir():
        reports: list[Any] = []
        problems += check_files("facts", lambda: reports.append(
            load_paths(store, [project.facts_dir], root=project.root, dry_run=True)))
        pending = {k: n for k, n in (reports[0].added.items() if reports else ()) if n}
        if pending:
            listed = ", ".join(f"{n} {k}" for k, n in pending.items())
            files = reports[0].new_in
            named = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
            problems.append(Problem("not-loaded", "facts/", f"{listed} in the files are not in the database "
                                    f"({named}); run `kb load` (an edited fact loads as a new, competing claim)"))
    problems += check_catalog(project)
    problems += check_templates(project)
    return problems


def conflict_warnings(store: Store) -> list[str]:
    """One line per entity.property whose like-with-like active claims disagree (see ``kb conflicts``)."""
    from .conflicts import conflicts

    out = []
    for c in conflicts(store):
        worst = "inf" if c.factor == float("inf") else f"{c.factor:.3g}"
        labels = f" ({'; '.join(c.labels)})" if c.labels else ""
        out.append(f"{c.entity}.{c.prop}: {len(c.claims)} active claims disagree by up to {worst}x{labels}; "
                   f"see `kb conflicts {c.entity}.{c.prop}`")
    return out


def check_templates(project: Project) -> list[Problem]:
    """Every template compiles, uses only names the renderer provides, and renders."""
    from .report import list_templates, render, template_problems

    problems: list[Problem] = []
    for t in list_templates(project.templates_dir):
        found = template_problems(project, t)
        for line, message in found:
            problems.append(Problem("template", f"template {t.name}" + (f", line {line}" if line else ""), message))
        if not found:
            problems += check_files(f"template {t.name}", lambda t=t: render(project, t))  # type: ignore[misc]
    return problems
