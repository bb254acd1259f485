"""A result's derivation as JSON (one documented shape) and as readable steps (``--explain``)."""

from __future__ import annotations

import json
from typing import Any

from . import formula
from .engine import Leaf, QNode, Result
from .numfmt import interval, sig, with_unit


def _source_json(src: dict[str, Any] | None) -> dict[str, Any] | None:
    if not src:
        return None
    return {"id": src["id"], "title": src["title"], "url": src["url"]}


def result_json(r: Result, unit: str | None = None) -> dict[str, Any]:
    """``{name, value, unit, low, high, kind, ...}``: values in ``unit`` (default the display unit)."""
    shown_unit = r.unit if unit is None else unit
    value, low, high = r.shown(shown_unit)
    out: dict[str, Any] = {"name": r.name, "value": value, "unit": shown_unit, "low": low, "high": high, "kind": r.kind}
    node = r.node
    if isinstance(node, QNode):
        out["query"] = node.query.name
        out["scenario"] = node.scenario
        out["formula"] = node.query.formula
        out["inputs"] = [result_json(c) for c in r.inputs]
    else:
        assert isinstance(node, Leaf)
        out["interval_kind"] = node.interval_kind
        if node.kind == "fact" and node.fact:
            f = node.fact
            out["fact"] = {
                "id": f["id"], "entity": f["entity"], "property": f["property"], "value_text": f["value_text"],
                "source": _source_json(node.source), "locator": f["locator"], "quote": f["quote"],
            }
        else:
            out["reason"] = node.reason
            if node.source:
                out["source"] = _source_json(node.source)
                out["locator"] = node.locator
                out["quote"] = node.quote
    return out


def query_json(r: Result, unit: str | None = None) -> dict[str, Any]:
    """The top-level shape: ``{query, scenario, value, unit, low, high, interval, inputs}``."""
    body = result_json(r, unit)
    return {
        "query": body["query"], "scenario": body["scenario"], "value": body["value"], "unit": body["unit"],
        "low": body["low"], "high": body["high"], "interval": _kind(r), "formula": body["formula"],
        "inputs": body["inputs"],
    }


def _kind(r: Result) -> str:
    if r.low is None and r.high is None:
        return "exact"
    if r.high is None:
        return "at_least"
    if r.low is None:
        return "at_most"
    return "range"


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def shown(r: Result, unit: str | None = None, digits: int = 3) -> str:
    value, low, high = r.shown(unit)
    unit = r.unit if unit is None else unit
    if low is None and high is None and _whole_count(value, unit):
        return with_unit(str(round(value)), unit)  # 6784 GPUs, not 6780: a whole count is shown whole
    return interval(value, low, high, unit, digits)


def _whole_count(value: float, unit: str) -> bool:
    from .units import dimension

    return (dimension(unit) in ("dimensionless", "[token]") and unit not in ("%", "percent")
            and abs(value) < 1e7 and abs(value - round(value)) <= 1e-9 * max(abs(value), 1.0))


def _point(r: Result, digits: int = 3) -> str:
    value, _, _ = r.shown()
    return with_unit(sig(value, digits), r.unit)


def substituted(r: Result) -> str:
    """The formula with each input replaced by its (point) value in its display unit."""
    assert isinstance(r.node, QNode)
    values = {c.name: c for c in r.inputs}
    text = r.node.query.formula
    out, last = [], 0
    for kind, tok, pos in formula._tokens(text):
        if kind == "name" and tok in values:
            out.append(text[last:pos])
            shown_value = shown(values[tok], digits=4)
            out.append(f"({shown_value})" if " " in shown_value else shown_value)
            last = pos + len(tok)
    out.append(text[last:])
    return "".join(out)


def citation(leaf: Leaf) -> str:
    """``Title (publisher, date), locator: "quote" <url>`` for a fact or a sourced assumption."""
    src = leaf.source
    if not src:
        return ""
    authors = ", ".join(json.loads(src.get("authors") or "[]"))
    publisher = src.get("publisher") if src.get("publisher") != authors else None
    who = ", ".join(x for x in (authors, publisher, src.get("published")) if x)
    parts = [src["title"] + (f" ({who})" if who else "")]
    if leaf.locator:
        parts.append(leaf.locator)
    text = ", ".join(parts)
    if leaf.quote:
        text += f': "{leaf.quote}"'
    if src.get("url"):
        text += f" <{src['url']}>"
    return text


def explain(r: Result, unit: str | None = None) -> str:
    """Readable derivation: facts and assumptions (each once), each step in order, then citations."""
    leaves: dict[tuple[str, str], Result] = {}
    used_in: dict[tuple[str, str], str] = {}  # the scenario of the step that reads each leaf
    steps: list[Result] = []
    seen: set[int] = set()

    def visit(x: Result, step_scenario: str) -> None:
        if isinstance(x.node, Leaf):
            leaves.setdefault((x.name, x.node.key), x)
            used_in.setdefault((x.name, x.node.key), step_scenario)
            return
        if id(x.node) in seen:
            return
        seen.add(id(x.node))
        for c in x.inputs:
            visit(c, x.scenario)
        steps.append(x)

    visit(r, r.scenario)
    q = r.node.query if isinstance(r.node, QNode) else None
    lines = [f"{r.name} under scenario {r.scenario}: {shown(r, unit)}"]
    if q:
        lines.append(f"  {q.description}")
    citations: dict[str, int] = {}
    lines += ["", "Facts and assumptions:"]
    for key, leaf_result in leaves.items():
        leaf = leaf_result.node
        assert isinstance(leaf, Leaf)
        value = with_unit(leaf.fact["value_text"], leaf.unit) if leaf.fact else shown(leaf_result, digits=4)
        if leaf.kind == "fact" and leaf.fact:
            head = f"fact {leaf.fact['id']}: {leaf.fact['entity']}.{leaf.fact['property']}, {leaf.fact['method']}"
        elif leaf.kind == "set":
            head = "set on the command line"
        else:
            head = f"assumption of scenario {leaf.scenario}"
        cite = citation(leaf)
        mark = f" [{citations.setdefault(cite, len(citations) + 1)}]" if cite else ""
        where = "" if used_in[key] == r.scenario else f" [{used_in[key]}]"
        lines.append(f"  {leaf_result.name}{where} = {value}  ({head}){mark}")
        if leaf.fact and leaf.fact["interval_kind"] != leaf.interval_kind:
            lines.append(f"      used as its point value {with_unit(sig(leaf.fact['value'], 4), leaf.unit)}")
        if leaf.reason:
            lines.append(f"      reason: {leaf.reason}")
    lines += ["", "Steps:"]
    for i, step in enumerate(steps, 1):
        node = step.node
        assert isinstance(node, QNode)
        lines.append(f"  {i}. {node.query.name} [{node.scenario}] = {node.query.formula}")
        lines.append(f"       = {substituted(step)}")
        lines.append(f"       = {shown(step, unit if step is r else None)}")
        if step.low is not None or step.high is not None:
            lines.append(f"       (point value {_point(step)}; the range comes from the corners of the ranged inputs)")
    if citations:
        lines += ["", "Sources:"]
        lines += [f"  [{n}] {text}" for text, n in citations.items()]
    return "\n".join(lines)
