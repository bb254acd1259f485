"""Derivations in a report: the numbered list ``derivation()`` prints, the footnote of a computed number,
and the "How the numbers were computed" section that gives each computed number's inputs and sources."""

from __future__ import annotations

from collections.abc import Callable

from ..engine import Leaf, QNode, Result
from ..explain import shown, substituted

SECTION = "How the numbers were computed"


def prose(text: str) -> str:
    return text.replace("GPU_hour", "GPU-hour")


def steps(r: Result) -> list[Result]:
    """The query steps of a derivation, each once, inputs before the steps that use them."""
    out: list[Result] = []
    seen: set[int] = set()

    def visit(x: Result) -> None:
        if isinstance(x.node, QNode) and id(x.node) not in seen:
            seen.add(id(x.node))
            for c in x.inputs:
                visit(c)
            out.append(x)

    visit(r)
    return out


def leaves(r: Result) -> list[Result]:
    """The fact, assumption and --set inputs of a derivation, each leaf once, in order of first use."""
    out: list[Result] = []
    keys: set[str] = set()
    for x in r.walk():
        if isinstance(x.node, Leaf) and x.node.key not in keys:
            keys.add(x.node.key)
            out.append(x)
    return out


def step_label(step: Result, root: Result) -> str:
    assert isinstance(step.node, QNode)
    same = step.node.scenario == root.node.scenario
    return f"`{step.node.query.name}`" + ("" if same else f" [{step.node.scenario}]")


def step_line(step: Result, root: Result, mark: Callable[[Result], str] | None = None,
              result_text: Callable[[Result, str], str] | None = None) -> str:
    """``name = `formula` = substituted = result``; ``mark`` appends marks to leaf inputs."""
    assert isinstance(step.node, QNode)
    after = (lambda c: mark(c) if isinstance(c.node, Leaf) else "") if mark else None
    text = prose(shown(step))
    shown_result = result_text(step, text) if result_text else text
    return f"{step_label(step, root)} = `{step.node.query.formula}` = {prose(substituted(step, after))} = {shown_result}"


def computed_note(r: Result, item: int) -> str:
    """The footnote of a computed number: its last step, and where the whole derivation and its sources are."""
    assert isinstance(r.node, QNode)
    inner = [c.name for c in r.inputs if isinstance(c.node, QNode)]
    also = f", where {_and(inner)} {'is' if len(inner) == 1 else 'are'} computed too" if inner else ""
    return (f"Computed (scenario {r.node.scenario}): {step_line(r, r)}{also}. Every step, input and source: "
            f"*{SECTION}*, ({item}).")


def _and(names: list[str]) -> str:
    names = [f"`{n}`" for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
