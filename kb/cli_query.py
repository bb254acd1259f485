"""Commands for derived quantities: queries, scenarios, query, compare, uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .claims import QUALIFIERS
from .cli import UNIT, cli, echo, emit_json, pass_project
from .textfmt import CLAIM_HEADERS, table

if TYPE_CHECKING:
    from .project import Project


def _known_at(ctx: Any, param: Any, value: str | None) -> str | None:
    """A date or timestamp, checked here so a bad one is a usage error (exit 2), not blamed on a scenario."""
    from .errors import KBError
    from .values import parse_timestamp

    if value is None:
        return None
    try:
        parse_timestamp(value, "--known-at")
    except KBError as exc:
        raise click.BadParameter(exc.message) from None
    return value


KNOWN_AT = click.option("--known-at", metavar="DATE", callback=_known_at,
                        help="Use only facts and events recorded by DATE (2024-07-23, or an ISO timestamp).")
def _check_sets(ctx: Any, param: Any, value: tuple[str, ...]) -> tuple[str, ...]:
    """A malformed --set (bad value or unit, a name given twice) is a usage error, exit 2."""
    from .errors import KBError

    try:
        _overrides(value)
    except KBError as exc:
        raise click.BadParameter(exc.message) from None
    return value


SET = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", callback=_check_sets,
                   help="Override an input wherever it occurs, e.g. --set utilization=50%, --set 'sync_window=2 s' "
                        "or, shaped for --samples, --set 'sync_window=lognormal(1 to 4) s'.")


def _overrides(sets: tuple[str, ...]) -> dict[str, Any]:
    from .engine import parse_override
    from .errors import KBError

    out: dict[str, Any] = {}
    for text in sets:
        name, value = parse_override(text)
        if name in out:
            raise KBError(f"--set {name} is given twice; give each input once")
        out[name] = value
    return out


def _check_unit(result: Any, unit: str | None, query: str) -> None:
    from . import units

    if unit is not None and not units.same_dimension(unit, result.unit):
        from .errors import DimensionError

        raise DimensionError(f"--unit {unit!r}", units.dimension(result.unit), units.dimension(unit),
                             where=f"query {query}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_project
def queries(project: Project, as_json: bool) -> None:
    """List derived quantities with their units and inputs. Example: kb queries"""
    qs = list(project.catalog.queries.values())
    if as_json:
        emit_json([{"name": q.name, "description": q.description, "formula": q.formula, "unit": q.unit,
                    "display_unit": q.display_unit, "file": q.where,
                    "inputs": [{"name": i.name, "unit": i.unit, "query": i.query, "description": i.description} for i in q.inputs]}
                   for q in qs])
        return
    echo(table(["NAME", "UNIT", "FORMULA", "DESCRIPTION"], [[q.name, q.display_unit or '""', q.formula, q.description] for q in qs]))


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_project
def scenarios(project: Project, as_json: bool) -> None:
    """List scenarios: what each binds and which queries it answers. Example: kb scenarios"""
    from .definitions import effective_bindings

    cat = project.catalog
    if as_json:
        out = []
        for s in cat.scenarios.values():
            binds = {name: {"kind": b.kind, "defined_in": where, "fact": b.fact,
                            "source": b.source or b.pin_map.get("source"), "pins": b.pin_map, "combine": b.combine,
                            "value": b.value.text if b.value else None, "unit": b.unit if b.kind == "assumption" else None,
                            "query": b.query, "scenario": b.scenario, "reason": b.reason}
                     for name, (where, b) in effective_bindings(cat.scenarios, s.name).items()}
            out.append({"name": s.name, "description": s.description, "extends": s.extends,
                        "queries": list(s.queries), "file": s.where, "bindings": binds})
        emit_json(out)
        return
    echo(table(["NAME", "EXTENDS", "QUERIES", "DESCRIPTION"],
                     [[s.name, s.extends, ", ".join(s.queries), s.description] for s in cat.scenarios.values()]))


@cli.command()
@click.argument("query_name", metavar="QUERY")
@click.option("-s", "--scenario", required=True, help="Scenario that binds the inputs (see `kb scenarios`).")
@SET
@click.option("--unit", type=UNIT, help="Show the result in this unit.")
@click.option("--json", "as_json", is_flag=True, help="JSON with the full derivation (see README).")
@click.option("--explain", is_flag=True, help="Show the derivation: facts with citations, then each step.")
@click.option("--across", metavar="ENTITY.PROPERTY", help="Evaluate once per active claim of this property and tabulate.")
@click.option("--samples", type=click.IntRange(100, 10_000_000), metavar="N",
              help="Monte Carlo: N samples (a range is uniform, a 90% interval lognormal or normal); the interval "
                   "becomes the 5th to 95th percentiles.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Seed of --samples (default 1: runs repeat).")
@click.option("--sensitivity", is_flag=True, help="Rank the ranged inputs by their one-at-a-time swing of the result.")
@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE",
              help="With --samples: a histogram; with --sensitivity: a tornado chart (.png or .svg).")
@KNOWN_AT
@pass_project
def query(project: Project, query_name: str, scenario: str, sets: tuple[str, ...], unit: str | None, as_json: bool,
          explain: bool, across: str | None, samples: int | None, seed: int | None, sensitivity: bool,
          plot: str | None, known_at: str | None) -> None:
    """Evaluate a derived quantity under a scenario: the point, and sound bounds over the inputs' ranges (or,
    with --samples, a Monte Carlo distribution).

    Example: kb query gradient_bandwidth -s b200-500k-nvl72 --explain
    """
    from . import explain as ex

    if as_json and explain:
        raise click.UsageError("--json already carries the whole derivation; give --json or --explain")
    if across and explain:
        raise click.UsageError("--across tabulates one result per claim; drop --explain, or pin a claim with a scenario")
    overrides = _overrides(sets)
    if seed is not None and not samples:
        raise click.UsageError("--seed goes with --samples N")
    if plot is not None and not (samples or sensitivity):
        raise click.UsageError("--plot draws --samples (a histogram) or --sensitivity (a tornado); `kb sweep` draws sweeps")
    if (samples or sensitivity) and across:
        raise click.UsageError("--across tabulates one result per claim; drop --samples and --sensitivity")
    if plot is not None:
        _check_plot(project, plot)
    if across:
        _across(project, query_name, scenario, overrides, unit, as_json, across, known_at)
        return
    evaluator = project.evaluator(overrides=overrides, known_at=known_at)
    if sensitivity:
        if samples or explain:
            raise click.UsageError("--sensitivity is a table of its own; drop --samples and --explain")
        _sensitivity(evaluator, query_name, scenario, unit, as_json, plot)
        return
    bar = _progress(evaluator, f"{samples} samples", bool(samples and samples >= PROGRESS_SAMPLES and not as_json))
    try:
        result = evaluator.evaluate(query_name, scenario, samples=samples, seed=seed)
    finally:
        _finish(bar)
    _check_unit(result, unit, query_name)
    if plot and result.draws is None:
        raise click.UsageError(f"{query_name} [{scenario}] has no ranged input: there is no distribution to draw")
    for warning in evaluator.warnings:
        echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(ex.query_json(result, unit))
    elif explain:
        echo(ex.explain(result, unit))
    else:
        echo(f"{query_name} [{scenario}] = {ex.shown(result, unit)}{ex.meaning_note(result, unit)}")
    if plot:
        from pathlib import Path

        from .charts import histogram
        from .units import si_factor

        shown = unit or result.unit
        histogram(result.draws / si_factor(shown), shown, query_name, scenario, Path(plot))
        echo(f"Drew {plot}", err=as_json)


MAX_TABLE = 10_000  # sweep points printed as a table; more go to --csv or --json
PROGRESS_SAMPLES = 10_000_000  # a Monte Carlo run this large shows a progress bar on a terminal
PROGRESS_POINTS = 1_000_000  # and a sweep of this many points


def _progress(evaluator: Any, label: str, wanted: bool) -> Any:
    """Give ``evaluator`` a progress bar on stderr if ``wanted`` and both stdout and stderr are a terminal
    (never in --json or --csv output, nor in a pipe); returns the bar to finish, or None."""
    import sys

    if not (wanted and sys.stdout.isatty() and sys.stderr.isatty()):
        return None
    bar: Any = click.progressbar(length=1, label=label, file=sys.stderr, show_eta=False)

    def report(done: int, total: int) -> None:
        bar.length = total
        bar.update(done - bar.pos)
    evaluator.progress = report
    return bar


def _finish(bar: Any) -> None:
    if bar is not None and bar.pos:  # drawn at least once: end its line (an error before any step drew none)
        bar.render_finish()


def _check_plot(project: Project, plot: str) -> None:
    """Before anything is computed or printed: a .png or .svg name in a folder that exists."""
    from pathlib import Path

    from .charts import FORMATS

    path = Path(plot)
    if path.suffix.lower() not in FORMATS:
        raise click.UsageError(f"--plot {plot!r}: give a .png or .svg file name")
    if not path.resolve().parent.is_dir():
        raise click.UsageError(f"--plot {plot!r}: the folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise click.UsageError(f"--plot {plot!r} is a folder; give a file name")
    project.refuse_database(path, "--plot")


def _sensitivity(evaluator: Any, query_name: str, scenario: str, unit: str | None, as_json: bool,
                 plot: str | None) -> None:
    from .numfmt import interval
    from .textfmt import table
    from .units import si_factor

    result = evaluator.evaluate(query_name, scenario)
    _check_unit(result, unit, query_name)
    shown = unit or result.unit
    f = si_factor(shown)
    swings = evaluator.sensitivity(query_name, scenario)
    if plot:
        from pathlib import Path

        from .charts import tornado

        tornado(swings, result.point, shown, query_name, scenario, Path(plot), f)
        echo(f"Drew {plot}", err=as_json)
    if as_json:
        emit_json({"query": query_name, "scenario": scenario, "unit": shown, "value": result.point / f,
                   "measure": "one-at-a-time swing (each input from its low to its high end, the others at their "
                              "points); share = squared swing over the sum of squared swings",
                   "inputs": [{"name": w.name, "low": w.leaf.low / si_factor(w.leaf.unit),
                               "high": w.leaf.high / si_factor(w.leaf.unit), "input_unit": w.leaf.unit,
                               "interval_kind": w.leaf.interval_kind, "at_low": w.at_low / f,
                               "at_high": w.at_high / f, "share": w.share} for w in swings]})
        return
    if not swings:
        echo(f"{query_name} [{scenario}] has no ranged input with two finite ends: nothing to rank")
        return
    echo(f"{query_name} [{scenario}]: one-at-a-time swings (each input from its low to its high end, the "
               f"others at their points), largest first")
    in_unit = f" ({shown})" if shown else ""
    echo(table(["INPUT", "RANGE", f"AT LOW{in_unit}", f"AT HIGH{in_unit}", "SHARE"],
                     [[w.name, interval(w.leaf.point / si_factor(w.leaf.unit), w.leaf.low / si_factor(w.leaf.unit),
                                        w.leaf.high / si_factor(w.leaf.unit), w.leaf.unit),
                       interval(w.at_low / f, None, None, ""), interval(w.at_high / f, None, None, ""),
                       f"{w.share * 100:.1f}%"] for w in swings]))


def _across(project: Project, query_name: str, scenario: str, overrides: dict[str, Any], unit: str | None,
            as_json: bool, across: str, known_at: str | None) -> None:
    from . import explain as ex
    from .across import across as evaluate_across
    from .textfmt import claim_rows, spread_line

    found = evaluate_across(project, query_name, scenario, across, overrides=overrides, known_at=known_at)
    for row in found.rows:
        _check_unit(row.result, unit, query_name)
    if as_json:
        sources = project.store.sources()
        emit_json([{"fact": r.claim["id"], "value_text": r.claim["value_text"], "unit": r.claim["unit"],
                    "source": r.claim["source"], "source_title": sources[r.claim["source"]]["title"]
                    if r.claim["source"] in sources else None, "as_of": r.claim["as_of"], "method": r.claim["method"],
                    "confidence": r.claim["confidence"],
                    **{q: r.claim[q] for q in QUALIFIERS},  # type: ignore[literal-required]
                    "result": ex.query_json(r.result, unit)} for r in found.rows])
        return
    echo(f"{query_name} [{scenario}] across the claims of {found.ref}:")
    rows = [[*cells, ex.shown(r.result, unit)] for cells, r in zip(claim_rows([r.claim for r in found.rows]), found.rows)]
    echo(table([*CLAIM_HEADERS, query_name.upper()], rows))
    for kind, spread in found.spreads:  # like with like: one spread per kind of claim
        echo((f"{kind}: " if kind else "") + spread_line(spread, unit or found.unit))


@cli.command()
@click.argument("query_name", metavar="QUERY")
@click.option("-s", "--scenario", "names", multiple=True, required=True, help="Repeat: two or more scenarios.")
@SET
@click.option("--unit", type=UNIT)
@click.option("--json", "as_json", is_flag=True)
@KNOWN_AT
@pass_project
def compare(project: Project, query_name: str, names: tuple[str, ...], sets: tuple[str, ...], unit: str | None,
            as_json: bool, known_at: str | None) -> None:
    """Evaluate one query under several scenarios, side by side with the inputs that differ.

    Example: kb compare step_time -s llama-3-405b -s b200-500k-nvl72
    """
    from . import explain as ex
    from . import units

    if len(names) < 2:
        raise click.UsageError("compare needs two or more scenarios (-s A -s B); for one, use kb query")
    from .comparison import evaluate_all, inputs_by_name

    results = evaluate_all(project, query_name, names, overrides=_overrides(sets), known_at=known_at)
    for r in results:
        _check_unit(r, unit, query_name)
    if as_json:
        emit_json([ex.query_json(r, unit) for r in results])
        return
    rows_by_name = inputs_by_name(results)

    def cells(found: list[Any]) -> list[str]:
        first = next(x for x in found if x is not None)
        out = []
        for x in found:  # one unit per row, the first scenario's, so the numbers compare
            same = x is not None and units.same_dimension(x.unit, first.unit)
            out.append("" if x is None else ex.shown(x, first.unit if same else None, digits=4))
        return out

    rows = [[query_name, *[ex.shown(r, unit) for r in results]]]
    rows += [[name, *vals] for name, found in rows_by_name.items() if len(set(vals := cells(found))) > 1]
    echo(table(["", *names], rows))


@cli.command()
@click.argument("target", metavar="FACT_ID|ENTITY.PROPERTY")
@click.option("--json", "as_json", is_flag=True)
@KNOWN_AT
@pass_project
def uses(project: Project, target: str, as_json: bool, known_at: str | None) -> None:
    """List every query result (query, scenario) whose derivation depends on a fact or property.

    Example: kb uses llama-3-405b.parameters
    """
    from .lineage import uses as find

    found = find(project, target, known_at)
    if as_json:
        emit_json(found)
    elif found:
        echo(table(["SCENARIO", "QUERY", "VIA"], [[f["scenario"], f["query"], "; ".join(f["via"])] for f in found], max_width=90))
    else:
        echo(f"Nothing depends on {target}.")


@cli.command("sweep")
@click.argument("query_name", metavar="QUERY")
@click.option("-s", "--scenario", required=True, help="Scenario that binds the inputs (see `kb scenarios`).")
@click.option("--vary", "varied", multiple=True, required=True, metavar="NAME=START:STOP:N",
              help="An input and its axis, e.g. gpus_per_domain=8:576:20 or 'window=0.5 s:4 s:8'; once or twice.")
@click.option("--log", is_flag=True, help="Space the axis points geometrically (START and STOP positive).")
@SET
@click.option("--unit", type=UNIT, help="Show the result in this unit.")
@click.option("--json", "as_json", is_flag=True, help="JSON: the axes and the values, row by row.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV: one row per grid point.")
@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE",
              help="Draw it (.png or .svg): a line, a family of lines, or a heatmap.")
@KNOWN_AT
@pass_project
def sweep_command(project: Project, query_name: str, scenario: str, varied: tuple[str, ...], log: bool,
                  sets: tuple[str, ...], unit: str | None, as_json: bool, as_csv: bool, plot: str | None,
                  known_at: str | None) -> None:
    """Evaluate a query over a grid of one or two inputs, every other input at its point.

    Example: kb sweep gradient_bandwidth -s b200-500k-nvl72 --vary gpus_per_domain=8:576:9 --plot bw.png
    """
    import csv as csv_module
    import io
    from pathlib import Path

    import numpy as np

    from .sweep import parse_axis, sweep
    from .units import si_factor

    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    from .errors import KBError

    if plot is not None:
        _check_plot(project, plot)
    try:
        axes = [parse_axis(v, log) for v in varied]
    except KBError as exc:
        raise click.UsageError(exc.message) from None
    size = int(np.prod([len(a.values) for a in axes]))
    tabled = not (as_json or as_csv) and size <= MAX_TABLE  # more points than that: drawn, or as data
    if size > MAX_TABLE and not (as_json or as_csv or plot):
        raise click.UsageError(f"{size} points are too many for a table; add --csv or --json, or draw them with "
                               f"--plot (up to {MAX_TABLE} print as a table)")
    overrides = _overrides(sets)
    clash = [a.name for a in axes if a.name in overrides]
    if clash:
        raise click.UsageError(f"{clash[0]} is both --set and --vary; give one")
    evaluator = project.evaluator(overrides=overrides, known_at=known_at)
    bar = _progress(evaluator, f"{size} points", size >= PROGRESS_POINTS and not as_json)
    try:
        result = sweep(evaluator, query_name, scenario, axes)
    finally:
        _finish(bar)
    shown = unit or result.unit
    if unit:
        from .units import check_dimension

        check_dimension(unit, result.unit, f"--unit for {query_name}")
    values = result.values * si_factor(result.unit) / si_factor(shown)
    grid = np.meshgrid(*[a.values for a in axes], indexing="ij")
    flat = [g.ravel() for g in grid]
    if plot:
        from dataclasses import replace

        from .charts import sweep_chart

        sweep_chart(replace(result, values=values, unit=shown), Path(plot))  # drawn in the unit shown
    if as_json:
        emit_json({"query": query_name, "scenario": scenario, "unit": shown,
                   "vary": [{"name": a.name, "unit": a.unit, "log": a.log, "values": a.values.tolist()} for a in axes],
                   "values": values.tolist()})
    elif as_csv:
        buf = io.StringIO()
        writer = csv_module.writer(buf, lineterminator="\n")
        writer.writerow([*(f"{a.name} ({a.unit})" if a.unit else a.name for a in axes),
                         f"{query_name} ({shown})" if shown else query_name])
        for i, v in enumerate(values.ravel()):
            writer.writerow([*(f"{c[i]:.10g}" for c in flat), f"{v:.10g}"])
        click.echo(buf.getvalue(), nl=False)  # data: CSV as it is
    elif tabled:
        from .numfmt import sig

        head = [f"{a.name} ({a.unit})" if a.unit else a.name for a in axes] + [
            f"{query_name} ({shown})" if shown else query_name]
        echo(table(head, [[*(sig(c[i], 4) for c in flat), sig(v, 4)] for i, v in enumerate(values.ravel())]))
    else:
        echo(f"{query_name} [{scenario}] over {size} points: {np.nanmin(values):.4g} to {np.nanmax(values):.4g}"
                   f"{' ' + shown if shown else ''} (too many for a table; --csv or --json gives the values)")
    if plot:
        echo(f"Drew {plot}", err=as_json or as_csv)
