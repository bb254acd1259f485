"""Reverse lineage: which (query, scenario) results depend on a fact or an entity.property."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine import Leaf, QNode
from .errors import KBError

if TYPE_CHECKING:
    from .project import Project


def _paths(node: Leaf | QNode, match: Any, trail: tuple[str, ...]) -> list[tuple[str, ...]]:
    if isinstance(node, Leaf):
        return [trail] if match(node) else []
    out = []
    for name, child in node.inputs:
        step = name if isinstance(child, Leaf) else f"{name} <- {child.query.name} ({child.scenario})"
        out += _paths(child, match, trail + (step,))
    return out


def uses(project: Project, target: str, known_at: str | None = None) -> list[dict[str, Any]]:
    """Every (scenario, query) whose derivation reaches ``target``: a fact id (or prefix) or entity.property.
    Only the queries a scenario lists under ``queries:`` count (all, if it lists none).

    For ``entity.property`` any binding of that property counts, whichever claim it picks;
    for a fact id, only derivations that use that very claim.
    """
    store = project.store
    if "." in target:
        ref = store.resolve_ref(target)

        def match(leaf: Leaf) -> bool:
            return any(f["entity"] == ref.entity and f["property"] == ref.prop for f in leaf.claims)
    else:
        fact_id = store.fact(target)["id"]

        def match(leaf: Leaf) -> bool:
            return any(f["id"] == fact_id for f in leaf.claims)

    catalog = project.catalog
    ev = project.evaluator(known_at=known_at)
    found = []
    for scenario in sorted(catalog.scenarios):
        # the results a scenario declares it answers (their sub-queries show in "via"); all queries if it declares none
        for query in sorted(catalog.scenarios[scenario].queries or catalog.queries):
            try:
                node = ev.resolve(query, scenario)
            except KBError:
                continue  # this query is not answerable in this scenario
            paths = _paths(node, match, ())
            if paths:
                found.append({"scenario": scenario, "query": query, "via": [" / ".join(p) for p in paths]})
    return found
