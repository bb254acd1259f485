"""No silent changes: what a write did to the declared results and to the best claims.

Before a write (``kb add``, ``kb load``, ``kb import``, a rank change, a correction) take a
``snapshot``; after it, ``compare`` says which results a scenario declares (its ``queries:``)
changed, old -> new, which no longer resolve, and which entity.property got a new best claim and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .claims import best, is_active, why_better
from .errors import KBError
from .numfmt import claim_text
from .rows import ClaimRow

if TYPE_CHECKING:
    from .project import Project


@dataclass
class Snapshot:
    results: dict[tuple[str, str], str]  # (query, scenario) -> shown value, or "error: ..."
    best: dict[tuple[str, str, str], ClaimRow]  # (entity, property, kind) -> best claim of that kind
    active: dict[tuple[str, str], set[str]]  # (entity, property) -> ids of its active claims
    skipped: str | None = None  # why results were not compared (the catalog does not read)


@dataclass
class Impact:
    changed: list[str] = field(default_factory=list)  # "query [scenario] old -> new"
    broken: list[str] = field(default_factory=list)  # "query [scenario]: error"
    displaced: list[str] = field(default_factory=list)  # "entity.property: best claim ... (why)"
    skipped: str | None = None


def declared_results(project: Project) -> list[tuple[str, str]]:
    catalog = project.catalog
    return [(q, name) for name, s in sorted(catalog.scenarios.items()) for q in s.queries]


def snapshot(project: Project) -> Snapshot:
    from .explain import shown
    from .selection import kind_groups

    groups: dict[tuple[str, str], list[ClaimRow]] = {}
    for c in project.store.claims():
        groups.setdefault((c["entity"], c["property"]), []).append(c)
    bests: dict[tuple[str, str, str], ClaimRow] = {}
    for (e, p), g in groups.items():  # like with like: the best claim of each kind (scope, status, ...)
        for label, of_kind in kind_groups([c for c in g if is_active(c)]):
            if (b := best(of_kind)) is not None:
                bests[(e, p, label)] = b
    active = {k: {c["id"] for c in g if is_active(c)} for k, g in groups.items()}
    try:
        results = declared_results(project)
    except KBError as exc:
        return Snapshot({}, bests, active, skipped=str(exc))
    ev = project.evaluator()
    out: dict[tuple[str, str], str] = {}
    for query, scenario in results:
        try:
            out[(query, scenario)] = shown(ev.evaluate(query, scenario))
        except KBError as exc:
            out[(query, scenario)] = f"error: {exc}"
    return Snapshot(out, bests, active)


def compare(before: Snapshot, after: Snapshot, written: set[str] | None = None) -> Impact:
    """What changed between two snapshots. ``written``: the claims this command recorded (or re-ranked); a best
    claim that moved to any other claim is another process's doing, not this command's, and is not noted."""
    impact = Impact(skipped=before.skipped or after.skipped)
    for key, new in after.results.items():
        old = before.results.get(key)
        label = f"{key[0]} [{key[1]}]"
        if old is None or old == new:
            continue
        if new.startswith("error: "):
            if not old.startswith("error: "):
                impact.broken.append(f"{label}: {new[len('error: '):]}")
        elif old.startswith("error: "):
            impact.changed.append(f"{label} (did not resolve) -> {new}")
        else:
            impact.changed.append(f"{label} {old} -> {new}")
    for kkey, new_best in after.best.items():
        old_best = before.best.get(kkey)
        if old_best is None or old_best["id"] == new_best["id"] or (written is not None and new_best["id"] not in written):
            continue
        shown_new = claim_text(new_best)
        shown_old = claim_text(old_best)
        if old_best["id"] not in after.active.get(kkey[:2], set()):
            continue  # deprecated or superseded on purpose: the results say what that changed
        why = f"by the policy, {why_better(new_best, old_best)}"
        kind = f" ({kkey[2]})" if kkey[2] else ""
        note = f"{kkey[0]}.{kkey[1]}{kind}: the best claim is now {new_best['id']} ({shown_new}, {new_best['confidence']}) " \
               f"instead of {old_best['id']} ({shown_old}, {old_best['confidence']}): {why}"
        impact.displaced.append(note)
    return impact

