"""``kb import``: other people's datasets as sourced claims (today: Epoch AI's)."""

from __future__ import annotations

from pathlib import Path

import click

from .cli import FACTOR, cli, echo, emit_json, pass_project
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

    Example: kb import epoch ml_hardware.csv gpu_clusters.csv notable_ai_models.csv --dry-run
    """
    import tempfile

    from .cli_facts import before_write, report_changes
    from .epoch import import_files

    paths = [Path(f) for f in files]
    new = project.is_new()
    if dry_run and new:  # a dry run creates no database: it works on a scratch one
        with tempfile.TemporaryDirectory() as scratch:
            project.db_path, project.db_url = Path(scratch) / "dry-run.sqlite", None
            report = import_files(project.store, project.root, paths, snapshot=snapshot, dry_run=True, strict=strict)
            project.store.close()
    else:
        before = None if dry_run or new else before_write(project)
        report = import_files(project.store, project.root, paths, snapshot=snapshot, dry_run=dry_run, strict=strict)
        if not as_json:
            report_changes(project, before, set(report.fact_ids))  # what the new claims changed, on stderr
    if as_json:
        emit_json({
            "dry_run": dry_run,
            "files": [{"file": f.file, "dataset": f.dataset, "snapshot": f.snapshot, "rows": f.rows,
                       "claims": f.claims, "new_entities": f.new_entities} for f in report.files],
            "added": report.added, "revised": report.revised, "unchanged": report.unchanged,
            "older": report.older, "notes": report.notes,
            "skipped": [{"file": s.file, "row": s.row, "column": s.column, "cell": s.cell, "reason": s.reason}
                        for s in report.skipped],
        })
        return
    for f in report.files:
        placed = f"{len(f.new_entities)} new entities" + (f" ({_names(f.new_entities)})"
                                                          if dry_run and f.new_entities else "")
        echo(f"{f.file}: {f.dataset}, {f.snapshot} snapshot: {f.rows} rows, {f.claims} claims; {placed}")
    added = ", ".join(f"{n} {k}" for k, n in report.added.items() if k not in ("properties", "events"))
    verb = "would add" if dry_run else "added"
    older = f"; {report.older} cells of an older snapshot than the one recorded (kept)" if report.older else ""
    echo(f"{verb.capitalize()} {added}; {report.revised} revised cells; {report.unchanged} already "
               f"recorded{older}.")
    for note in report.notes:
        echo(f"note: {note}")
    if report.skipped:
        echo(f"Skipped {len(report.skipped)} cell(s):")
        for s in report.skipped:
            echo(f"  {s.file}, row {s.row!r}, column {s.column!r}: {s.cell!r}: {s.reason}")


def _names(names: list[str], shown: int = 20) -> str:
    return ", ".join(names[:shown]) + (f", and {len(names) - shown} more (--json lists all)" if len(names) > shown
                                       else "")


@cli.group("audit")
def audit_group() -> None:
    """Recompute a dataset's derived figures from its own imported claims, and list where they disagree."""


@audit_group.command("epoch")
@click.option("--factor", type=FACTOR, default=1.5, show_default=True,
              help="List rows whose figures disagree by more than this factor (power rows: beyond 1%; "
                   "implied MFU: outside 5% to 100%).")
@click.option("--check", "checks", multiple=True,
              type=click.Choice(["6ND", "implied-mfu", "mfu-compute", "h100-equivalents", "power", "name"]),
              help="Only these checks (repeat); default all.")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Rows listed per check in the text output (JSON lists all).")
@click.option("--json", "as_json", is_flag=True)
@pass_project
def audit_epoch(project: Project, factor: float, checks: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Check Epoch AI's arithmetic after `kb import epoch`: training compute against 6ND and against
    chips x peak x time, the MFU it implies, H100-equivalents, calculated power, and names against
    parameter counts. Rows that disagree beyond --factor are listed worst first; exit 0.

    Example: kb audit epoch --check power
    """
    from .epoch.audit import audit
    from .numfmt import sig

    result = audit(project.store, factor)
    findings = [f for f in result.findings if not checks or f.check in checks]
    checked = {k: n for k, n in result.checked.items() if not checks or k in checks}
    if not checked:
        from .errors import KBError

        if not result.claims:
            raise KBError("no Epoch AI claims to audit; run `kb import epoch FILE...` first")
        raise KBError(f"no row has the inputs of {', '.join(checks) if checks else 'any check'}; import the files "
                      "they need (the model checks: notable_ai_models.csv with ml_hardware.csv; power and "
                      "h100-equivalents: gpu_clusters.csv with ml_hardware.csv)")
    if as_json:
        emit_json({"factor": factor, "checked": checked, "notes": result.notes, "findings": [
            {"check": f.check, "entity": f.entity, "name": f.name, "dataset_value": f.dataset_value,
             "recomputed": f.recomputed, "si_unit": f.unit, "factor": None if f.factor == float("inf") else f.factor,
             "facts": f.facts, "detail": f.detail} for f in findings]})
        return
    for check, n in checked.items():
        rows = [f for f in findings if f.check == check]
        echo(f"{check}: {n} rows checked, {len(rows)} {result.criteria[check]}")
        for f in rows[:limit]:
            unit = f" {f.unit}" if f.unit else ""
            echo(f"  {f.factor:.3g}x  {f.name}: dataset {sig(f.dataset_value, 4)}{unit}, recomputed "
                       f"{sig(f.recomputed, 4)}{unit}" + (f" ({f.detail})" if f.detail else ""))
        if len(rows) > limit:
            echo(f"  ... and {len(rows) - limit} more (--json lists all)")
    for note in result.notes if not checks or "power" in checks else []:
        echo(f"note: {note}")
