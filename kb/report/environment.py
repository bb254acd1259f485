"""The one Jinja environment, and the helpers templates call: q, fact, given, cite, derivation, conflicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import units
from ..engine import Leaf, QNode, Result
from ..errors import KBError
from .derivation import prose, step_line, steps
from .formatting import claim_value, format_value, qualifier_text
from .printed import Printed

if TYPE_CHECKING:
    from ..project import Project
    from .render import RenderContext

GLOBALS = ("q", "fact", "given", "cite", "derivation", "conflicts", "sweep_chart", "histogram", "epoch_audit")


class Number:
    """A number in a template: prints formatted; a fact carries its sources' marks, a computed number one
    mark for its derivation. ``.bare`` prints it without marks, ``.value`` is the float."""

    def __init__(self, ctx: RenderContext, result: Result, kind: str, ref: str, unit: str | None,
                 style: str | None, digits: int, claims: dict[str, Any] | None = None, point: bool = False) -> None:
        self._ctx, self._result, self._kind, self._ref, self._claims = ctx, result, kind, ref, claims
        self._point = point  # print the point value alone, without its interval
        self._unit = result.unit if unit is None else unit
        if not units.same_dimension(self._unit, result.unit):
            raise KBError(f"unit {self._unit!r} does not fit {ref} ({units.dimension(result.unit)})")
        self._style, self._digits = style, digits

    def fmt(self, style: str | None = None, digits: int | None = None, notes: bool = True) -> str:
        r = self._result
        style = style or self._style or ("plain" if self._unit != r.unit else None)
        low_si, high_si = (None, None) if self._point else (r.low, r.high)
        digits = self._digits if digits is None else digits
        if r.meaning == "samples_p5_p95" and not self._point and r.samples:  # the median, "159 MW (90%: 151-168 MW)"
            assert r.low is not None and r.high is not None  # a Monte Carlo result always has p5 and p95
            median = r.samples["p50"] * units.si_factor(r.unit)
            text = (f"{format_value(median, None, None, self._unit, style, digits)} "
                    f"(90%: {format_value((r.low + r.high) / 2, r.low, r.high, self._unit, style, digits)})")
        else:
            text = format_value(r.point, low_si, high_si, self._unit, style, digits)
        value, low, high = r.shown(self._unit)
        if self._point:
            low = high = None
        marks = "none" if not notes else "sources" if isinstance(r.node, Leaf) else "computed"
        return self._ctx.page.token(Printed(text, marks, self._kind, self._ref, r.scenario, self._unit, value, low,
                                            high, self._claims, r))

    def __str__(self) -> str:
        return self.fmt()

    @property
    def bare(self) -> str:
        """The number without footnote marks (its sources are still recorded)."""
        return self.fmt(notes=False)

    @property
    def value(self) -> float:
        return self._result.shown(self._unit)[0]

    @property
    def result(self) -> Result:
        return self._result


class Claims(list):  # type: ignore[type-arg]
    """Competing claims of one property; prints as a markdown list, each with its footnote."""

    def __str__(self) -> str:
        return "\n".join(f"- {c['text']}" for c in self)


def environment(project: Project, ctx: RenderContext, search: list[Path]) -> Any:
    """The one place a Jinja environment is built: sandboxed, strict, markdown (no escaping)."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    from .limits import check_binop

    class BoundedEnvironment(SandboxedEnvironment):
        intercepted_binops = frozenset(["**", "*"])  # see kb.report.limits

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            check_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

    env = BoundedEnvironment(
        loader=FileSystemLoader([str(p) for p in search]),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(helpers(project, ctx))
    env.filters.update(filters())
    return env


def _texts(call: str, required: dict[str, Any], **optional: Any) -> None:
    """A helper's text arguments are text (the optional ones may be None): anything else is the template's mistake."""
    for name, value in (required | {k: v for k, v in optional.items() if v is not None}).items():
        if not isinstance(value, str):
            raise KBError(f"{call}: {name} must be text, not {value!r}")


def helpers(project: Project, ctx: RenderContext) -> dict[str, Any]:
    from .. import claims as claims_mod

    def q(query: str, scenario: str | None = None, unit: str | None = None, style: str | None = None,
          digits: int = 2, claims: dict[str, Any] | None = None, point: bool = False, samples: int | None = None,
          seed: int | None = None) -> Number:
        """A query's result; with ``samples=N`` a Monte Carlo run, printed as its median and its 5th to 95th
        percentiles ("159 MW (90%: 151-168 MW)")."""
        _texts("q()", {"query": query}, scenario=scenario, unit=unit, style=style)
        r = ctx.evaluate(query, scenario, claims, samples, seed)
        recorded = claims if samples is None else {**(claims or {}), "__samples__": [samples, seed]}  # manifest
        return Number(ctx, r, "query", query, unit, style, digits, recorded, point)

    def fact(ref: str, source: str | None = None, unit: str | None = None, style: str | None = None,
             digits: int = 3, point: bool = False, combine: str | None = None, **pins: str) -> Number:
        """The claim ``ref`` means (best by the policy, or pinned: source=, locator=, scope=, ...), or several
        combined (combine="median"), read as a scenario's fact binding reads it."""
        _texts("fact()", {"ref": ref}, source=source, unit=unit, style=style, combine=combine)
        pinned = {k: str(v) for k, v in ({"source": source} | pins).items() if v is not None}
        r = ctx.evaluator.read_fact(ref, pinned, combine)
        return Number(ctx, r, "fact", ref, unit, style, digits, point=point)

    def given(name: str, scenario: str | None = None, unit: str | None = None, style: str | None = None,
              digits: int | None = None, point: bool = False) -> Number:
        """A scenario's binding of one input (an assumption, fact or query), with its footnote.
        Digits default as for what it binds: 2 for a query's result, 3 for a fact or assumption."""
        _texts("given()", {"name": name}, scenario=scenario, unit=unit, style=style)
        sc = scenario or ctx.scenario
        if not sc:
            raise KBError(f"given({name!r}) names no scenario and no default scenario was given (-s)")
        r = ctx.evaluator.read_input(sc, name)
        if r.kind == "query":
            assert r.query is not None
            return Number(ctx, r, "query", r.query.name, unit, style, 2 if digits is None else digits, point=point)
        return Number(ctx, r, "input", f"{sc}.{name}", unit, style, 3 if digits is None else digits, point=point)

    def cite(source: str, locator: str | None = None) -> str:
        _texts("cite()", {"source": source}, locator=locator)
        ctx.notes.check_source(source)
        return ctx.page.token(Printed("", "cite", cite=(source, locator, None, None, [])))

    def derivation(number: Number, repeat: bool = False) -> str:
        if not isinstance(number, Number):
            raise KBError(f"derivation() takes a q(), fact() or given() result, not {number!r}")
        return derivation_markdown(ctx, number.result, repeat=repeat)

    def conflicts(ref: str) -> Claims:
        _texts("conflicts()", {"ref": ref})
        r = project.store.resolve_ref(ref)
        active = [c for c in project.store.claims(r.entity, r.prop) if claims_mod.is_active(c)]
        if not active:
            raise KBError(f"conflicts({ref!r}): no active claims of {r.entity}.{r.prop}")
        out = Claims()
        for c in sorted(active, key=claims_mod.policy_key):
            text = claim_value(c) + qualifier_text(c, " ({})")
            token = ctx.page.token(Printed(text, "cite", "claim", ref, None, c["unit"], c["value"], c["low"], c["high"],
                                           cite=(c["source"], c["locator"], c["quote"], None, json.loads(c.get("cites") or "[]")),
                                           fact=dict(c)))
            out.append({"text": token, "source": ctx.sources[c["source"]]["title"],
                        "value_text": c["value_text"], "id": c["id"]})
        return out

    def sweep_chart(query: str, scenario: str | None = None, vary: str | list[str] = "", log: bool = False,
                    alt: str | None = None) -> str:
        """A chart of the query over one or two inputs (``vary="gpus_per_domain=8:576:20"``), written beside
        the rendered markdown; returns the image link."""
        from ..charts import sweep_chart as draw
        from ..sweep import parse_axis, sweep

        sc = scenario or ctx.scenario
        _texts("sweep_chart()", {"query": query}, scenario=sc)
        if not sc:
            raise KBError(f"sweep_chart({query!r}) names no scenario and no default scenario was given (-s)")
        specs = [vary] if isinstance(vary, str) else list(vary)
        if not specs or not all(isinstance(v, str) and v for v in specs):
            raise KBError('sweep_chart(): vary= one or two "NAME=START:STOP:N" texts')
        s = sweep(project.evaluator(), query, sc, [parse_axis(v, log) for v in specs])
        return ctx.chart(draw(s), alt or f"{query} against {' and '.join(a.name for a in s.axes)} [{sc}]")

    def histogram(query: str, scenario: str | None = None, samples: int = 100_000, seed: int | None = None,
                  alt: str | None = None) -> str:
        """The Monte Carlo histogram of a query (p5, p50, p95 marked), written beside the markdown."""
        from ..charts import histogram as draw

        sc = scenario or ctx.scenario
        _texts("histogram()", {"query": query}, scenario=sc)
        r = ctx.evaluate(query, sc, None, samples, seed)
        if r.draws is None:
            raise KBError(f"histogram({query!r}): no ranged input, so no distribution to draw")
        f = units.si_factor(r.unit)
        return ctx.chart(draw(r.draws / f, r.unit, query, str(sc)), alt or f"distribution of {query} [{sc}]")

    from .auditview import epoch_audit_helper

    return {"q": q, "fact": fact, "given": given, "cite": cite, "derivation": derivation, "conflicts": conflicts,
            "sweep_chart": sweep_chart, "histogram": histogram, "epoch_audit": epoch_audit_helper(project, ctx, fact)}


def filters() -> dict[str, Any]:
    def styled(style: str) -> Any:
        def apply(n: Number, digits: int | None = None) -> str:
            if not isinstance(n, Number):
                raise KBError(f"the {style} filter applies to q() or fact() results")
            return n.fmt(style=style, digits=digits)
        return apply

    return {"sci": styled("sci"), "si": styled("si"), "money": styled("money"), "count": styled("count"),
            "plain": styled("plain")}


def derivation_markdown(ctx: RenderContext, r: Result, repeat: bool = False) -> str:
    """The derivation as a markdown list of steps: formula, numbers substituted (each fact's marks beside
    it), result. A step from another scenario is labelled with it. A step already shown earlier in the
    document (same query, scenario and numbers) is not repeated, unless ``repeat``: one line says so."""
    from ..explain import substituted

    if r.query is None:
        raise KBError("derivation() takes a q() result (a fact or assumption has no derivation)")

    def mark(leaf: Result) -> str:
        return ctx.page.token(Printed("", "sources", result=leaf))

    def result_text(step: Result, text: str) -> str:
        value, low, high = step.shown()
        token = ctx.page.token(Printed(text, "none", "step", step.node.query.name, step.node.scenario,  # type: ignore[union-attr]
                                       step.unit, value, low, high))
        return f"**{token}**"

    lines, earlier = [], []
    for step in steps(r):
        assert isinstance(step.node, QNode)
        name = step.node.query.name
        key = (name, step.node.scenario, prose(substituted(step)))
        if key in ctx.shown_steps and not repeat and step is not r:
            earlier.append(f"`{name}` [{step.node.scenario}]")  # each named with its scenario: no ambiguity
            continue
        ctx.shown_steps.add(key)
        lines.append("1. " + step_line(step, r, mark, result_text))
    if earlier:
        lines.insert(0, f"1. {', '.join(earlier)}: as derived above")
    return "\n".join(lines)
