"""``--across``: one query evaluated once per active claim of one entity.property, and the spread of the results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .claims import is_active, policy_key
from .conflicts import Spread, spread
from .engine import Leaf, Result
from .errors import KBError
from .rows import ClaimRow

if TYPE_CHECKING:
    from .project import Project


@dataclass(frozen=True)
class AcrossRow:
    claim: ClaimRow
    result: Result


@dataclass(frozen=True)
class Across:
    ref: str
    unit: str  # the query's display unit
    rows: list[AcrossRow]

    @property
    def spread(self) -> Spread | None:
        """The spread of the results' point values (SI)."""
        return spread(r.result.point for r in self.rows)

    @property
    def spreads(self) -> list[tuple[str, Spread | None]]:
        """One spread per kind of claim (``"status planned"``, ...; one ``""`` when the claims are of one kind)."""
        from .selection import kind_groups

        by_id = {r.claim["id"]: r for r in self.rows}
        return [(kind, spread(by_id[c["id"]].result.point for c in group))
                for kind, group in kind_groups([r.claim for r in self.rows])]


def across(project: Project, query: str, scenario: str, ref_text: str, *, overrides: dict[str, Any] | None = None,
           known_at: str | None = None) -> Across:
    """Evaluate ``query`` under ``scenario`` with each active claim of ``ref_text`` in turn, in policy order."""
    store = project.store
    ref = store.resolve_ref(ref_text)
    active = sorted((c for c in store.claims(ref.entity, ref.prop, known_at) if is_active(c)), key=policy_key)
    if not active:
        raise KBError(f"no active claims for {ref}")
    rows = []
    for c in active:
        result = project.evaluator(overrides=overrides, known_at=known_at, pins={str(ref): c["id"]}).evaluate(query, scenario)
        used = any(isinstance(r.node, Leaf) and any(f["id"] == c["id"] for f in r.node.claims) for r in result.walk())
        if not used:
            raise KBError(f"query {query} in scenario {scenario} does not use {ref}; nothing varies across its claims")
        rows.append(AcrossRow(c, result))
    return Across(str(ref), rows[0].result.unit, rows)
