"""The render manifest: what each render used, and drift (``--check``, ``kb stale``) against it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import KBError
from ..values import now_stamp
from .render import Rendered, render
from .templates import find_template, is_shipped_folder

if TYPE_CHECKING:
    from ..project import Project


def output_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def template_ref(rendered: Rendered, project: Project) -> str:
    """How a render names its template: the name for templates/, else the file path."""
    return rendered.template.name if is_shipped_folder(project, rendered.template) else str(rendered.template.path)


def record(project: Project, rendered: Rendered, output_path: str | None) -> str:
    """Store the render, every number as rendered, and every fact and assumption it used."""
    from .. import models

    stamp = now_stamp()
    digest = output_hash(rendered.text)
    ref = template_ref(rendered, project)
    render_id = hashlib.sha256(f"{ref}|{rendered.scenario}|{stamp}|{digest}".encode()).hexdigest()[:12]
    with project.store.engine.begin() as conn:
        conn.execute(models.Render.__table__.insert(), [{  # type: ignore[attr-defined]
            "id": render_id, "template": ref, "scenario": rendered.scenario, "rendered_at": stamp,
            "output_hash": digest, "output_path": output_path}])
        numbers = [{"render": render_id, **n} for n in rendered.numbers]
        if numbers:
            conn.execute(models.RenderNumber.__table__.insert(), numbers)  # type: ignore[attr-defined]
        inputs = [{"render": render_id, "kind": k, "ref": r, "detail": d} for (k, r), d in sorted(rendered.inputs.items())]
        if inputs:
            conn.execute(models.RenderInput.__table__.insert(), inputs)  # type: ignore[attr-defined]
    return render_id


def latest(project: Project, ref: str, scenario: str | None) -> dict[str, Any] | None:
    rows = project.store.sql(
        "SELECT * FROM render WHERE template = ? AND coalesce(scenario, '') = coalesce(?, '') "  # IS ?: SQLite's only
        "ORDER BY rendered_at DESC, id DESC LIMIT 1",
        (ref, scenario))
    return rows[0] if rows else None


@dataclass
class Drift:
    render: Mapping[str, Any]
    changed: list[dict[str, Any]]  # {position, ref, scenario, old, new}
    added_inputs: list[str]
    removed_inputs: list[str]
    same_bytes: bool


def _reorder_claims(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> tuple[list[Any], list[Any]]:
    """Within each run of listed claims of one property, compare as sets: put both runs in one order."""
    def runs(numbers: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        out, i = [], 0
        while i < len(numbers):
            j = i
            while j < len(numbers) and numbers[j]["kind"] == "claim" and numbers[j]["ref"] == numbers[i]["ref"]:
                j += 1
            if j > i:
                out += sorted(numbers[i:j], key=lambda n: n["text"])
                i = j
            else:
                out.append(numbers[i])
                i += 1
        return out

    return runs(old), runs(new)


def _identity(n: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a printed number is, whatever its value: a listed claim is known by its text."""
    return (n["kind"], n["ref"], n["scenario"], n["unit"], n["claims"], n["text"] if n["kind"] == "claim" else None)


def drift(project: Project, old: Mapping[str, Any], new: Rendered) -> Drift:
    """Numbers that differ between a recorded render and a fresh one, and why. Numbers are paired by what
    they are (query, scenario, unit, pins; a listed claim by its text), in order, so a number added to or
    dropped from the text does not shift every later one."""
    import difflib

    old_all = project.store.sql("SELECT * FROM render_number WHERE render = ? ORDER BY position", (old["id"],))
    # conflicts() lists claims in policy order; a new preferred claim reorders them without changing any
    old_numbers, new_numbers = _reorder_claims(old_all, new.numbers)
    changed: list[dict[str, Any]] = []

    def note(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None, position: int) -> None:
        if a is None or b is None or a["text"] != b["text"]:
            which = b or a
            assert which is not None
            changed.append({"position": position, "ref": which["ref"], "scenario": which["scenario"],
                            "old": a["text"] if a else None, "new": b["text"] if b else None})

    matcher = difflib.SequenceMatcher(a=[_identity(n) for n in old_numbers], b=[_identity(n) for n in new_numbers],
                                      autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        olds, news = old_numbers[i1:i2], new_numbers[j1:j2]
        if tag == "equal" or tag == "replace":
            for k in range(max(len(olds), len(news))):  # a replaced run: its numbers pair up in order
                note(olds[k] if k < len(olds) else None, news[k] if k < len(news) else None, j1 + min(k, len(news)) + 1)
        elif tag == "delete":
            for a in olds:
                note(a, None, j1 + 1)
        else:
            for k, b in enumerate(news):
                note(None, b, j1 + k + 1)
    old_inputs = {(r["kind"], r["ref"]): r["detail"] for r in
                  project.store.sql("SELECT kind, ref, detail FROM render_input WHERE render = ?", (old["id"],))}
    new_inputs = new.inputs
    added = [f"{k} {r}: {d}" for (k, r), d in sorted(new_inputs.items()) if (k, r) not in old_inputs]
    removed = [f"{k} {r}: {d}" for (k, r), d in sorted(old_inputs.items()) if (k, r) not in new_inputs]
    return Drift(old, changed, added, removed, output_hash(new.text) == old["output_hash"])


def check(project: Project, name: str, scenario: str | None) -> tuple[Rendered, Drift | None]:
    """Re-render (without recording) and compare with the last recorded render of the same template and scenario."""
    rendered = render(project, find_template(project, name), scenario)
    old = latest(project, template_ref(rendered, project), scenario)
    return rendered, (drift(project, old, rendered) if old else None)


def stale(project: Project, broken: list[tuple[str, str]] | None = None) -> list[Drift]:
    """The latest render of each (template, scenario) whose numbers a re-render would change. A render that
    no longer succeeds (a pin the facts now leave ambiguous) is put in ``broken`` (label, error), not raised."""
    rows = project.store.sql(
        "SELECT r.* FROM render r WHERE r.rendered_at = (SELECT max(rendered_at) FROM render x "
        "WHERE x.template = r.template AND coalesce(x.scenario, '') = coalesce(r.scenario, '')) "
        "ORDER BY r.template, coalesce(r.scenario, '')")
    gone = set(orphans(project))  # removed or renamed templates: nothing to re-render
    out = []
    for row in rows:
        if row["template"] in gone:
            continue
        try:
            rendered = render(project, recorded_template(project, row["template"]), row["scenario"])
        except KBError as exc:
            if broken is None:
                raise
            label = row["template"] + (f" [{row['scenario']}]" if row["scenario"] else "")
            broken.append((label, str(exc)))
            continue
        d = drift(project, row, rendered)
        if d.changed:
            out.append(d)
    return out


def recorded_template(project: Project, name: str) -> Any:
    """The template a stored render names: by name from templates/, or a path under the project folder. The
    database is not trusted to name any other file (a changed row could point at one anywhere)."""
    from pathlib import Path

    from ..yamlio import is_inside

    if "/" in name or name.endswith(".j2"):
        if not is_inside(Path(name), project.root):
            raise KBError(f"recorded template {name!r} is not under the project folder; kb stale reads only "
                          "templates there")
    return find_template(project, name)


def orphans(project: Project) -> list[str]:
    """Recorded templates that no longer exist, so their renders cannot be checked."""
    names = [r["template"] for r in project.store.sql("SELECT DISTINCT template FROM render ORDER BY template")]
    missing = []
    for name in names:
        try:
            recorded_template(project, name)
        except KBError:
            missing.append(name)
    return missing
