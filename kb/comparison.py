"""``kb compare``: one query under several scenarios, and the inputs each evaluation used, by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine import Result

if TYPE_CHECKING:
    from .project import Project


def evaluate_all(project: Project, query: str, scenarios: tuple[str, ...], *, overrides: dict[str, Any] | None = None,
                 known_at: str | None = None) -> list[Result]:
    """``query`` under each scenario, in the order given."""
    return [project.evaluator(overrides=overrides, known_at=known_at).evaluate(query, name) for name in scenarios]


def inputs_by_name(results: list[Result]) -> dict[str, list[Result | None]]:
    """Every input of each result, by name, one slot per result (None where a scenario has no such input):
    the query's own inputs first (whatever binds them), then deeper facts and assumptions; within one
    result the first use of a name wins."""
    found: dict[str, list[Result | None]] = {}
    for i, r in enumerate(results):
        for x in [*r.inputs, *(x for x in r.walk() if x.kind != "query")]:
            found.setdefault(x.name, [None] * len(results))
            if found[x.name][i] is None:
                found[x.name][i] = x
    return found
