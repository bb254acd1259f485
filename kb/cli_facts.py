"""Commands that write: load, export, add, deprecate, prefer, supersede. Each says what it changed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .cli import UNIT, cli, echo, pass_project
from .textfmt import fact_value

if TYPE_CHECKING:
    from .impact import Snapshot
    from .project import Project


def before_write(project: Project) -> Snapshot:
    """A snapshot of the declared results and best claims (of the shipped facts, in a database made just now),
    to report what a write changes."""
    from .impact import snapshot

    return snapshot(project)


def report_changes(project: Project, before: Snapshot | None, written: set[str]) -> None:
    """After a write: which declared results changed (old -> new), which no longer resolve, and which best claims
    the ``written`` claims took over."""
    from .impact import compare, snapshot

    if before is None:
        return
    impact = compare(before, snapshot(project), written)
    for line in impact.displaced:
        echo(f"note: {line}", err=True)
    for line in impact.broken:
        echo(f"warning: {line.replace(': ', ' no longer resolves: ', 1)}", err=True)
    if impact.changed:
        echo(f"note: {len(impact.changed)} result(s) changed: {'; '.join(impact.changed)}; "
                   "`kb stale` lists the reports to re-render", err=True)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--record-now", is_flag=True, help="Record new entries now, whatever recorded_at their files give "
              "(a recorded_at earlier than the database's latest is refused: it would rewrite --known-at).")
@pass_project
def load(project: Project, paths: tuple[str, ...], record_now: bool) -> None:
    """Import sources, entities, facts and events from YAML files or folders (default: facts/).

    All-or-nothing: one bad entry and nothing is written. Idempotent: loading the
    same files again adds nothing. Into a database that does not exist yet, PATHs are
    loaded together with the shipped facts/, PATHs first: an export restores exactly,
    with its own ids and recorded times. Into one that holds entries already, a
    recorded_at earlier than the latest recorded is refused (--record-now records it now).

    Example: kb load facts/llama-3.yaml
    """
    from .errors import KBError
    from .load import load_paths, yaml_files

    targets = [Path(p) for p in paths] or [project.facts_dir]
    if not yaml_files(targets):
        raise KBError(f"no YAML files (*.yaml, *.yml) in {', '.join(str(p) for p in targets)}")
    new_database = project.is_new()  # all it holds is new: nothing to compare with
    if paths and new_database and project.facts_dir.is_dir():
        # A new database gets the shipped facts too, in the same load and after PATHS: an entry in both
        # keeps PATHS' recorded times, so an export restores exactly, and PATHS may cite shipped entities.
        project.load_shipped = False
        targets.append(project.facts_dir)
    if new_database:
        project.load_shipped = False  # this load is the first: it reports what it added
    before = None if new_database else before_write(project)
    report = load_paths(project.store, targets, root=project.root, record_now=record_now)
    report_changes(project, before, set(report.fact_ids))
    added = ", ".join(f"{n} {k}" for k, n in report.added.items() if n or k not in ("properties", "aliases"))
    from .project import CHECKOUT

    whose = "the shipped" if project.root.resolve() == CHECKOUT.resolve() else "the project's"
    new_db = f" (a new database: {whose} facts/ included)" if paths and new_database and project.facts_dir.is_dir() else (
        " into a new database" if new_database else "")
    echo(f"Loaded {report.files} file(s){new_db}: added {added}; {report.unchanged} already recorded.")
    for warning in report.warnings:
        echo(f"warning: {warning}", err=True)


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@pass_project
def export(project: Project, output: str | None) -> None:
    """Write every source, entity, fact and event as YAML that `kb load` reads back losslessly.

    Example: kb export -o backup.yaml
    """
    from .export import export_chunks

    if output:
        project.refuse_database(Path(output), "-o")
    chunks = export_chunks(project.store)  # written as read: memory stays flat
    if output:
        from .yamlio import write_chunks

        write_chunks(Path(output), chunks)
        echo(f"Exported to {output}")
    else:
        for chunk in chunks:
            click.echo(chunk, nl=False)  # data: YAML as it is


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
def add_source(project: Project, /, source_id: str, **opts: Any) -> None:
    """Record a source. Example: kb add source epoch-2024 --title "Epoch AI data" --kind dataset"""
    from .load import load_rows

    item = {"id": source_id, **{k: v for k, v in opts.items() if v not in (None, ())}}
    item["authors"] = list(opts["authors"])
    load_rows(project.store, sources=[item])
    echo(f"Added source {source_id}")


@add.command("entity")
@click.argument("entity_id")
@click.option("--kind", required=True, help="accelerator, system, cluster, site, model, training-run, organization, ...")
@click.option("--name")
@click.option("--alias", "aliases", multiple=True)
@click.option("--part-of")
@pass_project
def add_entity(project: Project, entity_id: str, kind: str, name: str | None, aliases: tuple[str, ...], part_of: str | None) -> None:
    """Record an entity. Example: kb add entity mi355x --kind accelerator --name "AMD MI355X\""""
    from .load import load_rows

    load_rows(project.store, entities=[{"id": entity_id, "kind": kind, "name": name, "aliases": list(aliases), "part_of": part_of}])
    echo(f"Added entity {entity_id}")


FACT_OPTIONS = [
    click.option("--source", required=True, help="Source id (see `kb sources`)."),
    click.option("--locator", help="Where in the source: 'Section 3.3.1', 'Table 4', 'footnote 1'."),
    click.option("--quote", help="The source's exact words."),
    click.option("--as-of", metavar="DATE", help="When it was true: 2024, 2024-07 or 2024-07-23."),
    click.option("--method", type=click.Choice(["reported", "calculated", "estimated"]), default="reported", show_default=True),
    click.option("--confidence", type=click.Choice(["confirmed", "likely", "speculative"]), default="likely", show_default=True),
    click.option("--note", help="The arithmetic for a calculated value, dense vs sparse, GB vs GiB, ..."),
    click.option("--scope", help="What the figure covers: chip, server, rack, it-load, facility, pre-training, total, ..."),
    click.option("--status", type=click.Choice(["planned", "under-construction", "operational", "decommissioned"]),
                 help="Of a site, cluster or system."),
    click.option("--configuration", help="The product configuration the figure is for, e.g. hgx-b200 or gb200-nvl72."),
    click.option("--conditions", help="Conditions of a measurement, e.g. 'at 16,384 GPUs, 8K sequences'."),
    click.option("--dollar-year", metavar="YEAR", help="The year of the dollars of a cost, e.g. 2023."),
    click.option("--method-detail", help="The claimant's own name for the method, e.g. 'Operation counting'."),
    click.option("--accept-implausible", "plausibility_reason", metavar="REASON",
                 help="Record a value outside the property's plausible range, saying why it is right."),
]


def fact_options(func: Any) -> Any:
    for option in reversed(FACT_OPTIONS):
        func = option(func)
    return func


INHERITED = ("source", "as_of", "method", "confidence", "scope", "status", "configuration", "conditions", "dollar_year",
             "method_detail")  # what a correction keeps of the claim it corrects unless it says otherwise


def correction_options(func: Any) -> Any:
    """The fact options for ``kb supersede``: source, method, confidence and qualifiers default to the old claim's."""
    same = "(default: the superseded claim's)"
    options = [
        click.option("--source", help=f"Source id (see `kb sources`) {same}."),
        *[o for o in FACT_OPTIONS[1:4]],
        click.option("--method", type=click.Choice(["reported", "calculated", "estimated"]), help=same),
        click.option("--confidence", type=click.Choice(["confirmed", "likely", "speculative"]), help=same),
        *FACT_OPTIONS[6:],
    ]
    for option in reversed(options):
        func = option(func)
    return func


def fact_spec(opts: dict[str, Any]) -> dict[str, Any]:
    """The fact options as the load format's keys (``--accept-implausible R`` is plausibility: accepted, reason R)."""
    spec = {k: v for k, v in opts.items() if v is not None}
    if "plausibility_reason" in spec:
        spec["plausibility"] = "accepted"
    return spec


@add.command("fact", context_settings={"ignore_unknown_options": True})  # a value of -5
@click.argument("entity")
@click.argument("prop", metavar="PROPERTY")
@click.argument("value")
@click.argument("unit", type=UNIT)
@fact_options
@click.option("--entity-kind", help="Create ENTITY with this kind if it is not recorded yet.")
@pass_project
def add_fact(project: Project, /, entity: str, prop: str, value: str, unit: str, entity_kind: str | None, **opts: Any) -> None:
    """Record a claim. VALUE: 989.4, 1.6e12, 100K, ~6, '24 to 27', '40 ± 5', '>=150', '<=300'; UNIT '' for a count.

    Prints which declared results the new claim changes (old -> new), and a note when it becomes the
    best claim in place of another.

    Example: kb add fact h100-sxm tdp 700 W --source nvidia-h100-product-page --locator "spec table"
    """
    from .errors import NotFoundError
    from .load import load_rows

    store = project.store
    entities = []
    try:
        entity = store.entity(entity)["id"]
    except NotFoundError:
        if not entity_kind:
            raise NotFoundError("entity", entity, list(store.entities()), hint="pass --entity-kind KIND to create it") from None
        entities = [{"id": entity, "kind": entity_kind}]
    spec = {"entity": entity, "property": prop, "value": value, "unit": unit, **fact_spec(opts)}
    before = before_write(project)
    row = load_rows(store, entities=entities, facts=[spec], strict=True)["fact"][0]
    echo(f"Added fact {row['id']}: {entity}.{prop} = {fact_value(row)}")
    report_changes(project, before, {row["id"]})


def _rank_command(name: str, rank: str, doc: str) -> None:
    @cli.command(name, help=doc)
    @click.argument("fact_id")
    @click.option("--reason", required=True, help="Why; recorded with the event.")
    @pass_project
    def command(project: Project, fact_id: str, reason: str) -> None:
        before = before_write(project)
        ev = project.store.record_rank(fact_id, rank, reason)
        echo(f"Recorded event {ev['id']}: fact {ev['fact']} is now {rank}.")
        report_changes(project, before, {ev["fact"]})


_rank_command("deprecate", "deprecated", "Mark a fact deprecated (a recorded event; the fact stays). Example: kb deprecate c1ae9c5342a9 --reason 'rounded; the whitepaper gives 989.4'")
_rank_command("prefer", "preferred", "Mark a fact preferred over competing claims. Example: kb prefer afb769514651 --reason 'fits 3 x 48 MW'")


@cli.command(context_settings={"ignore_unknown_options": True})  # a value of -5
@click.argument("fact_id")
@click.argument("value")
@click.argument("unit", type=UNIT)
@correction_options
@click.option("--reason", required=True, help="Why the old claim is corrected.")
@pass_project
def supersede(project: Project, /, fact_id: str, value: str, unit: str, reason: str, **opts: Any) -> None:
    """Record a corrected claim that supersedes FACT_ID (which stays, marked superseded).

    The correction keeps the old claim's source, as-of, method, confidence and qualifiers unless given;
    locator, quote and note are its own.

    Example: kb supersede 5372296c97d6 24576 "" --source llama-3-paper --method calculated --reason "8 pods of 3,072 GPUs"
    """
    from .load import load_rows

    if not reason.strip():
        raise click.UsageError("--reason must say why the old claim is corrected")
    store = project.store
    old = store.fact(fact_id)
    before = before_write(project)
    kept = {k: old[k] for k in INHERITED if old.get(k) is not None}  # type: ignore[literal-required]
    spec = {"entity": old["entity"], "property": old["property"], "value": value, "unit": unit,
            "supersedes": old["id"], "rank_reason": reason, **kept, **fact_spec(opts)}
    row = load_rows(store, facts=[spec], strict=True)["fact"][0]
    echo(f"Added fact {row['id']} superseding {old['id']}: {old['entity']}.{old['property']} = {fact_value(row)}")
    report_changes(project, before, {row["id"]})


@cli.command()
@click.option("--to", "target", required=True, metavar="FILE|URL",
              help="A new SQLite file, or an empty PostgreSQL database (postgresql://USER@HOST:PORT/NAME).")
@pass_project
def copy(project: Project, target: str) -> None:
    """Copy the whole knowledge base (every row: ids, recorded times, events, aliases, render history) into a
    new SQLite file or an empty PostgreSQL database, in one transaction. --db may be a PostgreSQL URL.

    Example: kb copy --to backup.sqlite
    """
    from .copy import copy as run
    from .copy import is_url, shown

    counts = run(project.db, target)
    where = shown(target) if is_url(target) else target
    echo(f"Copied to {where}: {counts['source']} sources, {counts['entity']} entities, {counts['fact']} facts, "
               f"{counts['event']} events, {counts['entity_alias']} names added to entities later, {counts['render']} renders.")
