"""Commands for sources, entities and facts: load, export, add, facts, history, ranks, check, sql."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .cli import UNIT, cli, emit_json, pass_project
from .textfmt import fact_status, fact_value, table

KNOWN_AT = click.option("--known-at", metavar="DATE", help="Only what was recorded by DATE (what was believed then).")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@pass_project
def load(project: Any, paths: tuple[str, ...]) -> None:
    """Import sources, entities, facts and events from YAML files or folders (default: facts/).

    All-or-nothing: one bad entry and nothing is written. Idempotent: loading the
    same files again adds nothing. Into a database that does not exist yet, PATHs are
    loaded together with the shipped facts/, PATHs first: an export restores exactly,
    with its own ids and recorded times.

    Example: kb load facts/llama-3.yaml
    """
    from .errors import KBError
    from .load import load_paths, yaml_files

    targets = [Path(p) for p in paths] or [project.facts_dir]
    if not yaml_files(targets):
        raise KBError(f"no YAML files (*.yaml, *.yml) in {', '.join(str(p) for p in targets)}")
    if paths and not project.db_path.exists() and project.facts_dir.is_dir():
        # A new database gets the shipped facts too, in the same load and after PATHS: an entry in both
        # keeps PATHS' recorded times, so an export restores exactly, and PATHS may cite shipped entities.
        project.load_shipped = False
        targets.append(project.facts_dir)
    report = load_paths(project.store, targets, root=project.root)
    added = ", ".join(f"{n} {k}" for k, n in report.added.items() if n or k != "properties")
    new_db = " (a new database: the shipped facts/ included)" if not project.load_shipped else ""
    click.echo(f"Loaded {report.files} file(s){new_db}: added {added}; {report.unchanged} already recorded.")


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@pass_project
def export(project: Any, output: str | None) -> None:
    """Write every source, entity, fact and event as YAML that `kb load` reads back losslessly.

    Example: kb export -o backup.yaml
    """
    from .load import export_yaml

    text = export_yaml(project.store)
    if output:
        from .yamlio import write_text

        write_text(Path(output), text)
        click.echo(f"Exported to {output}")
    else:
        click.echo(text, nl=False)


@cli.group()
def add() -> None:
    """Record a new source, entity or fact."""


@add.command("source")
@click.argument("source_id")
@click.option("--title", required=True)
@click.option("--url")
@click.option("--archive-url")
@click.option("--author", "authors", multiple=True, help="Repeat for several authors.")
@click.option("--publisher")
@click.option("--published", metavar="DATE")
@click.option("--accessed", metavar="DATE")
@click.option("--kind", default="other", show_default=True)
@pass_project
def add_source(project: Any, source_id: str, **opts: Any) -> None:
    """Record a source. Example: kb add source epoch-2024 --title "Epoch AI data" --kind dataset"""
    from .load import load_rows

    item = {"id": source_id, **{k: v for k, v in opts.items() if v not in (None, ())}}
    item["authors"] = list(opts["authors"])
    load_rows(project.store, sources=[item])
    click.echo(f"Added source {source_id}")


@add.command("entity")
@click.argument("entity_id")
@click.option("--kind", required=True, help="accelerator, system, cluster, site, model, training-run, organization, ...")
@click.option("--name")
@click.option("--alias", "aliases", multiple=True)
@click.option("--part-of")
@pass_project
def add_entity(project: Any, entity_id: str, kind: str, name: str | None, aliases: tuple[str, ...], part_of: str | None) -> None:
    """Record an entity. Example: kb add entity mi355x --kind accelerator --name "AMD MI355X\""""
    from .load import load_rows

    load_rows(project.store, entities=[{"id": entity_id, "kind": kind, "name": name, "aliases": list(aliases), "part_of": part_of}])
    click.echo(f"Added entity {entity_id}")


FACT_OPTIONS = [
    click.option("--source", required=True, help="Source id (see `kb sources`)."),
    click.option("--locator", help="Where in the source: 'Section 3.3.1', 'Table 4', 'footnote 1'."),
    click.option("--quote", help="The source's exact words."),
    click.option("--as-of", metavar="DATE", help="When it was true: 2024, 2024-07 or 2024-07-23."),
    click.option("--method", type=click.Choice(["reported", "calculated", "estimated"]), default="reported", show_default=True),
    click.option("--confidence", type=click.Choice(["confirmed", "likely", "speculative"]), default="likely", show_default=True),
    click.option("--note"),
]


def fact_options(func: Any) -> Any:
    for option in reversed(FACT_OPTIONS):
        func = option(func)
    return func


@add.command("fact")
@click.argument("entity")
@click.argument("prop", metavar="PROPERTY")
@click.argument("value")
@click.argument("unit", type=UNIT)
@fact_options
@click.option("--entity-kind", help="Create ENTITY with this kind if it is not recorded yet.")
@pass_project
def add_fact(project: Any, entity: str, prop: str, value: str, unit: str, entity_kind: str | None, **opts: Any) -> None:
    """Record a claim. VALUE: 989.4, 1.6e12, ~6, '24 to 27', '>=150', '<=300'; UNIT '' for a count.

    Example: kb add fact h100-sxm tdp 700 W --source nvidia-h100-product-page --locator "spec table"
    """
    from .load import load_rows

    store = project.store
    entities = []
    if entity not in store.entities():
        if not entity_kind:
            from .errors import NotFoundError

            raise NotFoundError("entity", entity, list(store.entities()), hint="pass --entity-kind KIND to create it")
        entities = [{"id": entity, "kind": entity_kind}]
    spec = {"entity": entity, "property": prop, "value": value, "unit": unit, **opts}
    row = load_rows(store, entities=entities, facts=[spec], strict=True)["fact"][0]
    click.echo(f"Added fact {row['id']}: {entity}.{prop} = {fact_value(row)}")


def _facts_rows(facts: list[dict[str, Any]]) -> list[list[Any]]:
    return [[f["id"], f["entity"], f["property"], fact_value(f), f["source"], f["locator"], fact_status(f)] for f in facts]


FACT_HEADERS = ["ID", "ENTITY", "PROPERTY", "VALUE", "SOURCE", "LOCATOR", "RANK"]


@cli.command()
@click.argument("entity", required=False)
@click.option("--property", "prop", help="Only this property.")
@click.option("--all", "show_all", is_flag=True, help="Every claim, deprecated and superseded ones included.")
@click.option("--json", "as_json", is_flag=True, help="JSON: a list of facts (see README for the shape).")
@KNOWN_AT
@pass_project
def facts(project: Any, entity: str | None, prop: str | None, show_all: bool, as_json: bool, known_at: str | None) -> None:
    """List facts: by default the best claim per entity and property.

    Example: kb facts llama-3-405b --property training_compute --all
    """
    from . import claims
    from .store import fact_json

    store = project.store
    if entity:
        entity = store.entity(entity)["id"]
    if prop and prop not in store.properties():
        from .errors import NotFoundError

        raise NotFoundError("property", prop, list(store.properties()))
    rows = store.claims(entity, prop, known_at)
    if not show_all:
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault((r["entity"], r["property"]), []).append(r)
        rows = [b for g in groups.values() if (b := claims.best(g)) is not None]
    if as_json:
        sources = store.sources()
        emit_json([fact_json(f, sources) for f in rows])
    elif rows:
        click.echo(table(FACT_HEADERS, _facts_rows(rows)))
    else:
        click.echo("No facts.")


@cli.command()
@click.argument("entity")
@pass_project
def show(project: Any, entity: str) -> None:
    """One entity: what it is and every claim about it. Example: kb show h100-sxm"""
    store = project.store
    e = store.entity(entity)
    click.echo(f"{e['id']}  ({e['kind']})  {e['name']}")
    aliases = json.loads(e["aliases"] or "[]")
    if aliases:
        click.echo(f"aliases: {', '.join(aliases)}")
    if e["part_of"]:
        click.echo(f"part of: {e['part_of']}")
    parts = [x["id"] for x in store.entities().values() if x["part_of"] == e["id"]]
    if parts:
        click.echo(f"parts: {', '.join(parts)}")
    rows = store.claims(e["id"])
    click.echo(table(FACT_HEADERS, _facts_rows(rows)) if rows else "No facts.")


@cli.command()
@click.argument("entity")
@click.argument("prop", metavar="PROPERTY")
@click.option("--json", "as_json", is_flag=True)
@pass_project
def history(project: Any, entity: str, prop: str, as_json: bool) -> None:
    """Every claim and rank event for one entity and property, in recorded order.

    Example: kb history openai-goodyear gpu_count
    """
    from .store import fact_json

    store = project.store
    entity = store.entity(entity)["id"]
    items = store.history(entity, prop)
    if as_json:
        sources = store.sources()
        emit_json([
            {"type": "claim", **fact_json(i, sources)} if i["type"] == "claim"
            else {k: i[k] for k in ("type", "id", "fact", "rank", "reason", "recorded_at")}
            for i in items
        ])
        return
    if not items:
        click.echo("No history.")
    for i in items:
        when = i["recorded_at"][:19].replace("T", " ")
        if i["type"] == "claim":
            extra = f" (supersedes {i['supersedes']})" if i["supersedes"] else ""
            click.echo(f"{when}  claim {i['id']}  {fact_value(i)}  [{i['source']}{', ' + i['locator'] if i['locator'] else ''}]  rank {i['rank']}{extra}")
        else:
            click.echo(f"{when}  event {i['id']}  fact {i['fact']} -> {i['rank']}: {i['reason']}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_project
def sources(project: Any, as_json: bool) -> None:
    """List sources. Example: kb sources --json"""
    rows = list(project.store.sources().values())
    if as_json:
        emit_json([{**r, "authors": json.loads(r["authors"] or "[]")} for r in rows])
        return
    click.echo(table(["ID", "KIND", "PUBLISHED", "TITLE", "URL"], [[r["id"], r["kind"], r["published"], r["title"], r["url"]] for r in rows]))


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_project
def properties(project: Any, as_json: bool) -> None:
    """List the property vocabulary with dimensions and units. Example: kb properties"""
    from .vocabulary import describe

    rows = list(project.store.properties().values())
    if as_json:
        emit_json([describe(r) for r in rows])
        return
    click.echo(table(["NAME", "UNIT", "DIMENSION", "DESCRIPTION"], [[r["name"], r["unit"] or '""', r["dimension"], r["description"]] for r in rows], max_width=70))


def _rank_command(name: str, rank: str, doc: str) -> None:
    @cli.command(name, help=doc)
    @click.argument("fact_id")
    @click.option("--reason", required=True, help="Why; recorded with the event.")
    @pass_project
    def command(project: Any, fact_id: str, reason: str) -> None:
        fact = project.store.fact(fact_id)
        # preferring a claim can change every result that reads this property; deprecating, those that read it
        before = _dependents(project, f"{fact['entity']}.{fact['property']}" if rank == "preferred" else fact["id"])
        ev = project.store.record_rank(fact_id, rank, reason)
        click.echo(f"Recorded event {ev['id']}: fact {ev['fact']} is now {rank}.")
        _report_dependents(project, before)


def _dependents(project: Any, target: str) -> list[dict[str, Any]]:
    """The results that read ``target``, each with its value now (to compare after the change)."""
    from .explain import shown
    from .lineage import uses

    ev = project.evaluator()
    found = uses(project, target)
    for dep in found:
        dep["before"] = shown(ev.evaluate(dep["query"], dep["scenario"]))
    return found


def _report_dependents(project: Any, before: list[dict[str, Any]]) -> None:
    """After a rank change or correction: which results changed (old -> new), and which no longer resolve."""
    from .errors import KBError
    from .explain import shown

    ev = project.evaluator()
    changed = []
    for dep in before:
        try:
            after = shown(ev.evaluate(dep["query"], dep["scenario"]))
        except KBError as exc:
            click.echo(f"warning: {dep['query']} [{dep['scenario']}] no longer resolves: {exc}", err=True)
            continue
        if after != dep["before"]:
            changed.append(f"{dep['query']} [{dep['scenario']}] {dep['before']} -> {after}")
    if changed:
        click.echo(f"note: {len(changed)} result(s) changed: {'; '.join(changed)}; "
                   "`kb stale` lists the reports to re-render", err=True)


_rank_command("deprecate", "deprecated", "Mark a fact deprecated (a recorded event; the fact stays). Example: kb deprecate c1ae9c5342a9 --reason 'rounded; the whitepaper gives 989.4'")
_rank_command("prefer", "preferred", "Mark a fact preferred over competing claims. Example: kb prefer afb769514651 --reason 'fits 3 x 48 MW'")


@cli.command()
@click.argument("fact_id")
@click.argument("value")
@click.argument("unit", type=UNIT)
@fact_options
@click.option("--reason", required=True, help="Why the old claim is corrected.")
@pass_project
def supersede(project: Any, fact_id: str, value: str, unit: str, reason: str, **opts: Any) -> None:
    """Record a corrected claim that supersedes FACT_ID (which stays, marked superseded).

    Example: kb supersede 5372296c97d6 24576 "" --source llama-3-paper --method calculated --reason "8 pods of 3,072 GPUs"
    """
    from .load import load_rows

    if not reason.strip():
        raise click.UsageError("--reason must say why the old claim is corrected")
    store = project.store
    old = store.fact(fact_id)
    before = _dependents(project, old["id"])
    spec = {"entity": old["entity"], "property": old["property"], "value": value, "unit": unit,
            "supersedes": old["id"], "rank_reason": reason, **opts}
    row = load_rows(store, facts=[spec], strict=True)["fact"][0]
    click.echo(f"Added fact {row['id']} superseding {old['id']}: {old['entity']}.{old['property']} = {fact_value(row)}")
    _report_dependents(project, before)


@cli.command()
@pass_project
def check(project: Any) -> None:
    """Validate everything and list every problem; exit 1 if there is any. Example: kb check"""
    from .check import check_all

    problems = check_all(project)
    for p in problems:
        click.echo(str(p))
    if problems:
        click.echo(f"{len(problems)} problem(s).", err=True)
        raise SystemExit(1)
    click.echo("OK: no problems.")


@cli.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True)
@pass_project
def sql(project: Any, query: str, as_json: bool) -> None:
    """Run a read-only SQL query. Example: kb sql "SELECT entity, count(*) FROM fact GROUP BY entity\""""
    from .sqlread import read_only_query

    project.store  # noqa: B018  (creates the database on first use)
    headers, rows = read_only_query(project.db_path, query)
    if as_json:
        emit_json([dict(zip(headers, r)) for r in rows])
    else:
        click.echo(table(headers, rows, max_width=80) if headers else "No rows.")

