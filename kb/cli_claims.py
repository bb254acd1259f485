"""Commands that read claims: facts, show, history, conflicts, sources, properties, check, sql."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import click

from .cli import FACTOR, cli, echo, emit_json, pass_project
from .textfmt import CLAIM_HEADERS, claim_rows, fact_status, fact_value, qualifiers, spread_line, table

if TYPE_CHECKING:
    from .project import Project

KNOWN_AT = click.option("--known-at", metavar="DATE", help="Only what was recorded by DATE (what was believed then).")
FACT_HEADERS = ["ID", "ENTITY", "PROPERTY", "VALUE", "SOURCE", "LOCATOR", "QUALIFIERS", "RANK"]


def _facts_rows(facts: list[Any]) -> list[list[Any]]:
    return [[f["id"], f["entity"], f["property"], fact_value(f), f["source"], f["locator"], qualifiers(f),
             fact_status(f)] for f in facts]


@cli.command()
@click.argument("entity", required=False)
@click.option("--property", "prop", help="Only this property.")
@click.option("--all", "show_all", is_flag=True, help="Every claim, deprecated and superseded ones included.")
@click.option("--json", "as_json", is_flag=True, help="JSON: a list of facts (see README for the shape).")
@KNOWN_AT
@pass_project
def facts(project: Project, entity: str | None, prop: str | None, show_all: bool, as_json: bool, known_at: str | None) -> None:
    """List facts: by default the best claim per entity, property and kind (scope, status, configuration).

    Example: kb facts llama-3-405b --property training_compute --all
    """
    from . import claims
    from .selection import kind_of
    from .store import fact_json

    store = project.store
    if entity:
        entity = store.entity(entity)["id"]
    if prop:
        store.property(prop)
    rows = store.claims(entity, prop, known_at)
    if not show_all:
        groups: dict[tuple[Any, ...], list[Any]] = {}
        for r in rows:
            groups.setdefault((r["entity"], r["property"], *kind_of(r)), []).append(r)
        rows = [b for g in groups.values() if (b := claims.best(g)) is not None]
    if as_json:
        sources = store.sources()
        emit_json([fact_json(f, sources) for f in rows])
    elif rows:
        echo(table(FACT_HEADERS, _facts_rows(rows)))
    else:
        echo("No facts.")


@cli.command()
@click.argument("entity")
@pass_project
def show(project: Project, entity: str) -> None:
    """One entity (by id or alias, any case): what it is and every claim about it. Example: kb show h100"""
    store = project.store
    e = store.entity(entity)
    echo(f"{e['id']}  ({e['kind']})  {e['name']}")
    aliases = json.loads(e["aliases"] or "[]")
    if aliases:
        echo(f"aliases: {', '.join(aliases)}")
    if e["part_of"]:
        echo(f"part of: {e['part_of']}")
    parts = [x["id"] for x in store.entities().values() if x["part_of"] == e["id"]]
    if parts:
        echo(f"parts: {', '.join(parts)}")
    rows = store.claims(e["id"])
    echo(table(FACT_HEADERS, _facts_rows(rows)) if rows else "No facts.")


def _history_line(i: dict[str, Any]) -> list[str]:
    when = i["recorded_at"][:19].replace("T", " ")
    if i["type"] == "event":
        return [f"{when}  event {i['id']}  fact {i['fact']} -> {i['rank']}: {i['reason']}"]
    where = f"{i['source']}{', ' + i['locator'] if i['locator'] else ''}"
    details = [f"as of {i['as_of'] or '?'}", i["method"], i["confidence"], f"rank {i['rank']}"]
    details += [q for q in [qualifiers(i)] if q]
    lines = [f"{when}  claim {i['id']}  {fact_value(i)}  [{where}]  {'; '.join(details)}"]
    if i["supersedes"]:
        lines.append(f"    supersedes {i['supersedes']}: {i['rank_reason'] or 'no reason given'}")
    elif i["rank_reason"]:
        lines.append(f"    rank reason: {i['rank_reason']}")
    if i["superseded_by"]:
        lines.append(f"    superseded by {i['superseded_by']}")
    if i["note"]:
        lines.append(f"    note: {' '.join(i['note'].split())}")
    return lines


@cli.command()
@click.argument("entity")
@click.argument("prop", metavar="PROPERTY")
@click.option("--json", "as_json", is_flag=True)
@pass_project
def history(project: Project, entity: str, prop: str, as_json: bool) -> None:
    """Every claim and rank event for one entity and property, in recorded order, then the spread of the active claims.

    Example: kb history openai-goodyear gpu_count
    """
    from .claims import is_active
    from .conflicts import spread
    from .selection import kind_groups
    from .store import fact_json

    store = project.store
    ref = store.resolve_ref(f"{entity}.{prop}")
    items = store.history(ref.entity, ref.prop)
    if as_json:
        sources = store.sources()
        emit_json([
            {"type": "claim", **fact_json(i, sources)} if i["type"] == "claim"  # type: ignore[arg-type]
            else {k: i[k] for k in ("type", "id", "fact", "rank", "reason", "recorded_at")}
            for i in items
        ])
        return
    if not items:
        echo("No history.")
        return
    for i in items:
        for line in _history_line(i):
            echo(line)
    active = [i for i in items if i["type"] == "claim" and is_active(i)]
    unit = store.property(ref.prop)["unit"]
    for kind, group in kind_groups(active) if active else [("", [])]:  # type: ignore[arg-type]
        echo((f"{kind}: " if kind else "") + spread_line(spread(c["si_value"] for c in group), unit))


@cli.command()
@click.argument("target", metavar="[ENTITY[.PROPERTY]]", required=False)
@click.option("--factor", type=FACTOR, default=1.1, show_default=True,
              help="List claims that disagree by more than this factor.")
@click.option("--json", "as_json", is_flag=True)
@pass_project
def conflicts(project: Project, target: str | None, factor: float, as_json: bool) -> None:
    """Active claims of one entity and property (and one kind) that disagree, with sources, as-of and method.

    Ranges disagree by how far they fail to overlap. Labels name the field's usual mistakes: a 2x
    ratio on a *_flops property (dense vs sparse), 1.024^n on bytes (GB vs GiB), 8x on bandwidth (bits vs bytes).

    Example: kb conflicts openai-goodyear.gpu_count
    """
    from .conflicts import conflicts as find
    from .conflicts import spread
    from .errors import NotFoundError
    from .store import fact_json

    store = project.store
    entity = prop = None
    if target:
        try:
            entity = store.entity(target)["id"]
        except NotFoundError:
            if "." not in target:
                raise
            ref = store.resolve_ref(target)  # entity ids may hold dots (opendiloco-1.1b): an entity first, then this
            entity, prop = ref.entity, ref.prop
    found = find(store, entity, prop, factor)
    if as_json:
        sources = store.sources()

        def spread_json(c: Any) -> dict[str, Any] | None:
            s = spread(x["si_value"] for x in c.claims)
            return None if s is None else {
                "claims": s.n, "min": s.low, "max": s.high, "max_over_min": None if math.isinf(s.ratio) else s.ratio,
                "geometric_mean": s.geomean, "si_unit": store.property(c.prop)["si_unit"]}

        emit_json([{
            "entity": c.entity, "property": c.prop, "kind": c.kind or None,
            "factor": None if math.isinf(c.factor) else c.factor,
            "labels": c.labels, "claims": [fact_json(f, sources) for f in c.claims],
            "pairs": [{"low": p.a["id"], "high": p.b["id"], "factor": None if math.isinf(p.factor) else p.factor,
                       "label": p.label} for p in c.pairs],
            "spread": spread_json(c),
        } for c in found])
        return
    if not found:
        echo(f"No conflicts (claims that disagree by more than {factor:g}x)" + (f" in {target}." if target else "."))
        return
    for n, c in enumerate(found):
        unit = store.property(c.prop)["unit"]
        worst = "inf" if math.isinf(c.factor) else f"{c.factor:.3g}"
        labels = f" ({'; '.join(c.labels)})" if c.labels else ""
        kind = f" ({c.kind})" if c.kind else ""
        echo(("\n" if n else "") + f"{c.entity}.{c.prop}{kind}: {len(c.claims)} active claims, "
                   f"disagreeing by up to {worst}x{labels}")
        echo(table(CLAIM_HEADERS, claim_rows(c.claims)))
        for p in c.pairs:
            f = "inf" if math.isinf(p.factor) else f"{p.factor:.3g}"
            echo(f"  {f}x: {p.a['id']} ({fact_value(p.a)}) vs {p.b['id']} ({fact_value(p.b)})"
                       + (f": {p.label}" if p.label else ""))
        echo("  " + spread_line(spread(x["si_value"] for x in c.claims), unit))


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_project
def sources(project: Project, as_json: bool) -> None:
    """List sources. Example: kb sources --json"""
    rows = list(project.store.sources().values())
    if as_json:
        emit_json([{**r, "authors": json.loads(r["authors"] or "[]")} for r in rows])
        return
    echo(table(["ID", "KIND", "PUBLISHED", "TITLE", "URL"], [[r["id"], r["kind"], r["published"], r["title"], r["url"]] for r in rows]))


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_project
def properties(project: Project, as_json: bool) -> None:
    """List the property vocabulary: units, dimensions, plausible ranges, scopes, and the layer each comes from
    (shipped, project or facts). Example: kb properties"""
    from .vocabulary import describe, scopes_of

    rows = list(project.store.properties().values())
    if as_json:
        emit_json([describe(r) for r in rows])
        return
    echo(table(["NAME", "UNIT", "DIMENSION", "PLAUSIBLE", "SCOPES", "ORIGIN", "DESCRIPTION"],
                     [[r["name"], r["unit"] or '""', r["dimension"], r["plausible"], ", ".join(scopes_of(r)),
                       r["origin"], r["description"]] for r in rows], max_width=70))


@cli.command()
@click.option("--strict", is_flag=True, help="Warnings (claims that disagree) count as problems: exit 1.")
@click.option("--repair-triggers", is_flag=True,
              help="First re-create the append-only and search triggers that were removed or disabled, and restore "
              "properties changed in the database from the schema files.")
@pass_project
def check(project: Project, strict: bool, repair_triggers: bool) -> None:
    """Validate everything and list every problem; exit 1 if there is any. Claims that disagree are warnings.

    Rows changed behind kb's back (a fact whose content no longer gives its id) and missing append-only
    triggers are problems too.

    Example: kb check
    """
    from .check import check_all, conflict_warnings

    if repair_triggers:
        from .integrity import rebuild_search_index, resync_vocabulary, search_index_problems, vocabulary_changes
        from .integrity import repair_triggers as repair

        restored = repair(project.store)
        echo(f"Restored {len(restored)} trigger(s): {', '.join(restored)}." if restored else "No trigger was missing.")
        if search_index_problems(project.store):
            rebuild_search_index(project.store)
            echo("Rebuilt the search index from the tables.")
        changed = vocabulary_changes(project.store)
        if changed:
            resync_vocabulary(project.store)
            echo(f"Restored {len(changed)} propert{'y' if len(changed) == 1 else 'ies'} from the schema files: "
                 f"{', '.join(sorted(changed))}.")
    problems = check_all(project)
    warnings = conflict_warnings(project.store)
    for p in problems:
        echo(str(p))
    for w in warnings:
        echo(f"warning: {w}")
    if problems or (strict and warnings):
        counted = f"{len(problems)} problem(s)" + (f" and {len(warnings)} warning(s) (--strict)" if strict and warnings else "")
        echo(f"{counted}.", err=True)
        raise SystemExit(1)
    shown = f" ({len(warnings)} warning(s): claims that disagree; `kb conflicts` lists them)" if warnings else ""
    echo(f"OK: no problems{shown}.")


@cli.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True)
@click.option("--timeout", type=click.FloatRange(min=0.001, max=86400), default=10, show_default=True,
              metavar="SECONDS", help="Stop the query after this long (exit 1). Ctrl-C stops it too (exit 130).")
@pass_project
def sql(project: Project, query: str, as_json: bool, timeout: float) -> None:
    """Run a read-only SQL query. Example: kb sql "SELECT entity, count(*) FROM fact GROUP BY entity\""""
    from .sqlread import read_only_query

    project.store  # noqa: B018  (creates the database on first use)
    headers, rows = read_only_query(project.store, query, timeout)
    if as_json:  # a repeated column name (SELECT 1 AS a, 2 AS a) keeps both: a, a_2
        keys = [h if headers.index(h) == i else f"{h}_{headers[:i + 1].count(h)}" for i, h in enumerate(headers)]
        emit_json([dict(zip(keys, r)) for r in rows])
    else:
        echo(table(headers, rows, max_width=80) if headers else "No rows.")

