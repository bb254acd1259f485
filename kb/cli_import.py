"""``kb import``: other people's datasets as sourced claims (today: Epoch AI's)."""

from __future__ import annotations

from pathlib import Path

import click

from .cli import cli, emit_json, pass_project
from .project import Project


@cli.group("import")
def import_group() -> None:
    """Import a published dataset as claims with provenance."""


@import_group.command("epoch")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--snapshot", metavar="DATE", help="When the files were downloaded (2025-11); known snapshots need none.")
@click.option("--dry-run", is_flag=True, help="Check and count; write nothing.")
@click.option("--strict", is_flag=True, help="Any cell that cannot be imported is an error; nothing is written.")
@click.option("--json", "as_json", is_flag=True)
@pass_project
def epoch(project: Project, files: tuple[str, ...], snapshot: str | None, dry_run: bool, strict: bool,
          as_json: bool) -> None:
    """Import Epoch AI's ml_hardware.csv, gpu_clusters.csv and notable_ai_models.csv (recognised by their header).

    Every non-empty cell of a mapped column becomes a claim citing the dataset (file, row, column), with the
    row's links, quote, notes, confidence and status. Importing again adds nothing; a changed cell
    supersedes the earlier claim. Cells that do not parse are skipped and listed.

    Example: kb import epoch ml_hardware.csv --dry-run
    """
    from .epoch import import_files

    report = import_files(project.store, project.root, [Path(f) for f in files], snapshot=snapshot,
                          dry_run=dry_run, strict=strict)
    if as_json:
        emit_json({
            "dry_run": dry_run,
            "files": [{"file": f.file, "dataset": f.dataset, "snapshot": f.snapshot, "rows": f.rows,
                       "claims": f.claims, "new_entities": f.new_entities} for f in report.files],
            "added": report.added, "revised": report.revised, "unchanged": report.unchanged,
            "skipped": [{"file": s.file, "row": s.row, "column": s.column, "cell": s.cell, "reason": s.reason}
                        for s in report.skipped],
        })
        return
    for f in report.files:
        placed = f"{len(f.new_entities)} new entities" + (f" ({_names(f.new_entities)})" if dry_run else "")
        click.echo(f"{f.file}: {f.dataset}, {f.snapshot} snapshot: {f.rows} rows, {f.claims} claims; {placed}")
    added = ", ".join(f"{n} {k}" for k, n in report.added.items() if k not in ("properties", "events"))
    verb = "would add" if dry_run else "added"
    click.echo(f"{verb.capitalize()} {added}; {report.revised} revised cells; {report.unchanged} already recorded.")
    if report.skipped:
        click.echo(f"Skipped {len(report.skipped)} cell(s):")
        for s in report.skipped:
            click.echo(f"  {s.file}, row {s.row!r}, column {s.column!r}: {s.cell!r}: {s.reason}")


def _names(names: list[str], shown: int = 20) -> str:
    return ", ".join(names[:shown]) + (f", and {len(names) - shown} more (--json lists all)" if len(names) > shown
                                       else "")
