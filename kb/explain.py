"""A result's derivation as JSON (one documented shape) and as readable steps (``--explain``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from . import formula, units
from .claims import QUALIFIERS
from .engine import Leaf, QNode, Result
from .numfmt import claim_text, interval, sig, with_unit
from .rows import ClaimRow, SourceRow
from .units import si_factor


def _source_json(src: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not src:
        return None
    return {"id": src["id"], "title": src["title"], "url": src["url"]}


def _claim_json(f: ClaimRow, src: SourceRow | None) -> dict[str, Any]:
    return {
        "id": f["id"], "entity": f["entity"], "property": f["property"], "value_text": f["value_text"],
        "unit": f["unit"], "source": _source_json(src), "locator": f["locator"], "quote": f["quote"],
        "as_of": f["as_of"], "method": f["method"], "confidence": f["confidence"],
        **{q: f[q] for q in QUALIFIERS if f.get(q)},  # type: ignore[literal-required]
    }


def result_json(r: Result, unit: str | None = None) -> dict[str, Any]:
    """``{name, value, unit, low, high, kind, ...}``: values in ``unit`` (default the display unit)."""
    shown_unit = r.unit if unit is None else unit
    value, low, high = r.shown(shown_unit)
    out: dict[str, Any] = {"name": r.name, "value": value, "unit": shown_unit, "low": low, "high": high, "kind": r.kind,
                           "interval_meaning": r.meaning}
    if r.bounds_method:
        out["bounds_method"] = r.bounds_method
    if r.samples:
        f = units.si_factor(r.unit) / units.si_factor(shown_unit)
        out["samples"] = {k: (v * f if k in ("mean", "p5", "p50", "p95") else v) for k, v in r.samples.items()}
    node = r.node
    if isinstance(node, QNode):
        out["query"] = node.query.name
        out["scenario"] = node.scenario
        out["formula"] = node.query.formula
        out["inputs"] = [result_json(c) for c in r.inputs]
    else:
        assert isinstance(node, Leaf)
        out["interval_kind"] = node.interval_kind
        if node.kind == "fact" and node.claims:
            described = [_claim_json(f, node.sources.get(f["source"])) for f in node.claims]
            if node.combine:
                out["combine"] = node.combine
                out["facts"] = described
            else:
                out["fact"] = described[0]
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
        "low": body["low"], "high": body["high"], "interval": _kind(r), "interval_meaning": r.meaning,
        **({"bounds_method": r.bounds_method} if r.bounds_method else {}),
        **({"samples": body["samples"]} if r.samples else {}),
        "formula": body["formula"], "inputs": body["inputs"],
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


RANGE_FROM = {
    "monotone": "the range: the corners of the ranged inputs, the derivation being monotone in each",
    "branch-and-bound": "the range: interval branch and bound over the ranged inputs (outward, to 1e-9)",
    "interval": "the range: interval arithmetic over the ranged inputs (sound, perhaps wider than the true range)",
}


def _sampled(step: Result) -> str:
    if not step.samples:
        return ""
    s = step.samples
    return f"the 5th to 95th percentile of {s['n']} samples (seed {s['seed']})"


def meaning_note(r: Result, unit: str | None = None) -> str:
    """What a result's interval is, when it is not plain bounds: `` (90% interval of the inputs, as bounds)``,
    `` (5th to 95th percentile of 100000 samples, seed 1; median ...)``."""
    if r.meaning == "ci90":
        return " (from inputs' 90% intervals taken as bounds; --samples gives the result's own)"
    if r.samples:
        from .units import si_factor

        f = si_factor(r.unit) / si_factor(unit or r.unit)
        return (f" (5th to 95th percentile of {r.samples['n']} samples, seed {r.samples['seed']}; median "
                f"{interval(r.samples['p50'] * f, None, None, unit or r.unit)}, mean "
                f"{interval(r.samples['mean'] * f, None, None, unit or r.unit)})")
    return ""


def _whole_count(value: float, unit: str) -> bool:
    from .units import dimension

    return (dimension(unit) in ("dimensionless", "[token]") and unit not in ("%", "percent")
            and abs(value) < 1e7 and abs(value - round(value)) <= 1e-9 * max(abs(value), 1.0))


def _point(r: Result, digits: int = 3) -> str:
    value, _, _ = r.shown()
    return with_unit(sig(value, digits), r.unit)


def substituted(r: Result, after: Callable[[Result], str] | None = None) -> str:
    """The formula with each input replaced by its (point) value in its display unit; ``after(input)``
    is appended to an input's first occurrence (a report's footnote marks)."""
    assert isinstance(r.node, QNode)
    values = {c.name: c for c in r.inputs}
    text = r.node.query.formula
    out, last, marked = [], 0, set()
    for kind, tok, pos in formula.tokens(text):
        if kind == "name" and tok in values:
            out.append(text[last:pos])
            shown_value = shown(values[tok], digits=4)
            out.append(f"({shown_value})" if " " in shown_value else shown_value)
            if after is not None and tok not in marked:
                marked.add(tok)
                out.append(after(values[tok]))
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


def qualifier_suffix(f: Mapping[str, Any]) -> str:
    """``, scope it-load, status planned``: a claim's qualifiers in a derivation line ("" if none)."""
    return "".join(f", {q.replace('_', ' ')} {f[q]}" for q in QUALIFIERS if f.get(q))


def explain(r: Result, unit: str | None = None) -> str:
    """Readable derivation: facts and assumptions (each once), each step in order, then citations."""
    leaves: dict[tuple[str, str], Result] = {}
    used_in: dict[tuple[str, str], str | None] = {}  # the scenario of the step that reads each leaf
    steps: list[Result] = []
    seen: set[int] = set()

    def visit(x: Result, step_scenario: str | None) -> None:
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
    lines = [f"{r.name} under scenario {r.scenario}: {shown(r, unit)}{meaning_note(r, unit)}"]
    if q:
        lines.append(f"  {q.description}")
    citations: dict[str, int] = {}
    lines += ["", "Facts and assumptions:"]
    for key, leaf_result in leaves.items():
        leaf = leaf_result.node
        assert isinstance(leaf, Leaf)
        value = with_unit(leaf.fact["value_text"], leaf.fact["unit"]) if leaf.fact and not leaf.combine \
            else shown(leaf_result, digits=4)
        if leaf.kind == "fact" and leaf.combine:
            f = leaf.claims[0]
            head = f"{leaf.combine} of {len(leaf.claims)} claims of {f['entity']}.{f['property']}"
        elif leaf.kind == "fact" and leaf.fact:
            head = f"fact {leaf.fact['id']}: {leaf.fact['entity']}.{leaf.fact['property']}, {leaf.fact['method']}"
            head += qualifier_suffix(leaf.fact)
        elif leaf.kind == "set":
            head = "set on the command line"
        else:
            head = f"assumption of scenario {leaf.scenario}"
        where = "" if used_in[key] == r.scenario else f" [{used_in[key]}]"
        if leaf.combine:
            lines.append(f"  {leaf_result.name}{where} = {value}  ({head})")
            for f in leaf.claims:
                cite = citation(Leaf(f"fact:{f['id']}", "fact", f["si_value"], None, None, "exact", f["unit"],
                                     source=leaf.sources.get(f["source"]), locator=f["locator"], quote=f["quote"]))
                mark = f" [{citations.setdefault(cite, len(citations) + 1)}]" if cite else ""
                lines.append(f"      fact {f['id']}: {claim_text(f)}" + qualifier_suffix(f) + mark)
        else:
            cite = citation(leaf)
            mark = f" [{citations.setdefault(cite, len(citations) + 1)}]" if cite else ""
            lines.append(f"  {leaf_result.name}{where} = {value}  ({head}){mark}")
        if leaf.combine == "span":
            lines.append(f"      lowest end to highest end; its point is the median of the points, "
                         f"{with_unit(sig(leaf.point / si_factor(leaf.unit), 4), leaf.unit)}")
        elif leaf.fact and not leaf.combine and leaf.fact["interval_kind"] != leaf.interval_kind:
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
            lines.append(f"       (point value {_point(step)}; {RANGE_FROM.get(step.bounds_method or '', '')}"
                         f"{_sampled(step)})")
    if citations:
        lines += ["", "Sources:"]
        lines += [f"  [{n}] {text}" for text, n in citations.items()]
    return "\n".join(lines)
