"""Commands for reports: templates, render (with --check), stale."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .cli import cli, echo, emit_json, pass_project
from .textfmt import table

if TYPE_CHECKING:
    from .project import Project


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_project
def templates(project: Project, as_json: bool) -> None:
    """List the report templates in templates/. Example: kb templates"""
    from .report import list_templates

    found = list_templates(project.templates_dir)
    if as_json:
        emit_json([{"name": t.name, "title": t.title, "path": str(t.path.relative_to(project.root))} for t in found])
        return
    echo(table(["NAME", "TITLE"], [[t.name, t.title] for t in found]) if found else "No templates.")


def _write(project: Project, path: Path, text: str, charts: dict[str, bytes] | None = None) -> None:
    """The markdown, and the charts it links to beside it; never over the database."""
    from .charts import write_bytes
    from .yamlio import write_text

    for target in (path, *(path.parent / name for name in charts or {})):
        project.refuse_database(target, "-o")
    write_text(path, text, make_parents=True)
    for name, png in (charts or {}).items():
        write_bytes(path.parent / name, png)


def _print_drift(name: str, d: Any) -> None:
    echo(f"{name}: {len(d.changed)} number(s) changed since the render of {d.render['rendered_at'][:19]}Z")
    for c in d.changed:
        where = f"{c['ref']}" + (f" [{c['scenario']}]" if c["scenario"] else "")
        echo(f"  #{c['position']} {where}: {c['old'] or '(absent)'} -> {c['new'] or '(absent)'}")
    for line in d.added_inputs:
        echo(f"  now uses {line}")
    for line in d.removed_inputs:
        echo(f"  no longer uses {line}")


@cli.command()
@click.argument("template", required=False)
@click.option("-s", "--scenario", help="Default scenario for q() calls that name none.")
@click.option("-o", "--output", type=click.Path(), help="Write here (a folder with --all) instead of stdout.")
@click.option("--all", "render_all", is_flag=True, help="Render every template in templates/ into the -o folder.")
@click.option("--check", is_flag=True, help="Re-render and list numbers changed since the last recorded render; exit 1 if any.")
@pass_project
def render(project: Project, template: str | None, scenario: str | None, output: str | None, render_all: bool, check: bool) -> None:
    """Render a report template (by name, or a path to a .md.j2 file) to markdown.

    Every render is recorded (template, scenario, output hash, each number and the facts
    used), so `--check` and `kb stale` can tell when facts have changed it.

    Example: kb render goodyear-phoenix-cluster -o goodyear.md
    """
    from . import report as rendering
    from .report import manifest

    if render_all == bool(template):
        raise click.UsageError("give a TEMPLATE or --all")
    if check:
        names = [t.name for t in rendering.list_templates(project.templates_dir)] if render_all else [str(template)]
        changed = False
        for name in names:
            _, d = manifest.check(project, name, scenario)
            if d is None:
                echo(f"{name}: no recorded render to compare with")
            elif d.changed:
                changed = True
                _print_drift(name, d)
            elif d.same_bytes:
                echo(f"{name}: unchanged")
            else:
                echo(f"{name}: no number changed (the text did: wording, order of claims or footnotes)")
        if changed:
            raise SystemExit(1)
        return
    if render_all:
        if not output:
            raise click.UsageError("--all needs -o DIR")
        if Path(output).exists() and not Path(output).is_dir():
            raise click.UsageError(f"--all -o needs a folder; {output!r} is a file")
        found = rendering.list_templates(project.templates_dir)
        results = [rendering.render(project, t, scenario) for t in found]  # all or nothing: render first
        for r in results:
            path = Path(output) / f"{r.template.name}.md"
            project.refuse_database(path, "-o")
        for r in results:  # recorded, then written: a render whose record fails writes nothing
            path = Path(output) / f"{r.template.name}.md"
            manifest.record(project, r, str(path))
            _write(project, path, r.text, r.charts)
            echo(f"Rendered {r.template.name} -> {path}")
        return
    r = rendering.render(project, rendering.find_template(project, template), scenario)  # type: ignore[arg-type]
    if output:
        project.refuse_database(Path(output), "-o")
        manifest.record(project, r, output)  # recorded, then written: a render whose record fails writes nothing
        _write(project, Path(output), r.text, r.charts)
        echo(f"Rendered {r.template.name} -> {output}")
    else:
        manifest.record(project, r, None)
        click.echo(r.text, nl=False)  # data: the report as it is
        if r.charts:
            echo(f"note: {len(r.charts)} chart(s) not written ({', '.join(r.charts)}): render with -o FILE to "
                       "write them beside it", err=True)


@cli.command()
@pass_project
def stale(project: Project) -> None:
    """List recorded renders whose numbers the current facts would change, or that no longer render; exit 1 if any.

    Example: kb stale
    """
    from .report import manifest

    broken: list[tuple[str, str]] = []
    found = manifest.stale(project, broken)
    for name in manifest.orphans(project):
        echo(f"note: {name}: the template is gone (or not under the project folder); its recorded renders cannot "
             "be checked", err=True)
    for d in found:
        _print_drift(d.render["template"] + (f" [{d.render['scenario']}]" if d.render["scenario"] else ""), d)
    for label, error in broken:
        echo(f"{label}: no longer renders: {error.removeprefix('Error: ')}")
    if found or broken:
        raise SystemExit(1)
    echo("No stale renders.")
