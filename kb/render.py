"""Reports: the one Jinja environment, template helpers, footnotes, and number formatting.

Rendering is a pure function of the knowledge base: ``render(project, template)`` returns
the markdown and a record of every number and input it used; the CLI writes the text and
``kb.manifest`` records the render. No time or randomness enters the output, so the same
inputs give identical bytes.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import numfmt, units
from .definitions import Binding
from .engine import Leaf, QNode, Result
from .errors import KBError, TemplateError
from .yamlio import read_text

if TYPE_CHECKING:
    from .project import Project

SUFFIX = ".md.j2"


@dataclass
class Template:
    name: str
    path: Path
    title: str


def template_title(path: Path) -> str:
    first = read_text(path).lstrip().splitlines()[:1]
    m = re.match(r"\{#\s*(.*?)\s*#\}", first[0]) if first else None
    return m.group(1) if m else ""


def list_templates(folder: Path) -> list[Template]:
    if not folder.is_dir():
        return []
    return [Template(p.name[: -len(SUFFIX)], p, template_title(p)) for p in sorted(folder.glob(f"*{SUFFIX}"))]


def find_template(project: Project, name: str) -> Template:
    """By name (``goodyear-phoenix-cluster``) from templates/, or by a path to any ``.j2`` file."""
    path = Path(name)
    if path.suffix == ".j2" or "/" in name:
        if not path.is_file():
            raise KBError(f"no template file {name!r}")
        stem = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.stem
        return Template(stem, path.resolve(), template_title(path))
    known = {t.name: t for t in list_templates(project.templates_dir)}
    if name not in known:
        from .errors import NotFoundError

        raise NotFoundError("template", name, list(known), hint="see `kb templates`")
    return known[name]


# ---- formatting ---------------------------------------------------------------------------

_SI_UNITS = {"[information] / [time]": "bps", "[mass] * [length] ** 2 / [time] ** 3": "W",
             "[compute] / [time]": "FLOP/s", "[mass] * [length] ** 2 / [time] ** 2": "J"}


def auto_style(unit: str) -> str:
    """Money as $120M, FLOP counts as 8.4e25, plain counts as 16K; anything else in its own unit."""
    dim = units.dimension(unit)
    if dim == "[currency]":
        return "money"
    if dim == "[compute]":
        return "sci"
    if dim in ("dimensionless", "[token]") and unit not in ("%", "percent"):
        return "count"
    return "plain"


# Unit words for prose: "72 days", "4 bytes", "2 to 4 months".
_PROSE_UNITS = {"day": "days", "month": "months", "year": "years", "hour": "hours", "week": "weeks",
                "byte": "bytes", "B": "bytes", "token": "tokens", "GPU_hour": "GPU-hours"}


def prose_unit(unit: str, values: list[float]) -> str:
    plural = _PROSE_UNITS.get(unit)
    if plural is None:
        return unit
    return unit.replace("_", "-") if all(v == 1 for v in values) and unit != "B" else plural


STYLES = ("plain", "si", "sci", "money", "count")


def _check_style(style: str, unit: str, digits: Any) -> None:
    """A style that cannot print this unit is the template's mistake: say so rather than print nonsense."""
    if style not in STYLES:
        raise KBError(f"unknown style {style!r}; use one of {', '.join(STYLES)}")
    if not isinstance(digits, int) or isinstance(digits, bool) or digits < 1:
        raise KBError(f"digits={digits!r} must be a whole number of significant figures, 1 or more")
    dim = units.dimension(unit)
    shown = unit or "a plain count"
    if style == "money" and "[currency]" not in dim:
        raise KBError(f"style 'money' needs an amount of money, not {shown!r}")
    if style == "si" and dim not in _SI_UNITS and dim != "[information]":
        raise KBError(f"style 'si' is for power, energy, FLOP/s, bit rates and bytes, not {shown!r}; try style='plain'")
    if style == "count" and dim not in ("dimensionless", "[token]"):
        raise KBError(f"style 'count' is for plain counts and tokens, not {shown!r}; try style='plain'")


def format_value(si_point: float, si_low: float | None, si_high: float | None, unit: str,
                 style: str | None = None, digits: int = 2) -> str:
    """Format an SI value (and optional bounds) for prose in the given style; see README."""
    style = style or auto_style(unit)
    _check_style(style, unit, digits)
    values = [v for v in (si_low, si_high) if v is not None] if (si_low is not None or si_high is not None) else [si_point]
    prefix = ""
    if si_low is not None and si_high is None:
        prefix, values = "at least ", [si_low]
    elif si_high is not None and si_low is None:
        prefix, values = "at most ", [si_high]
    dim = units.dimension(unit)
    if style == "money":  # in the given unit, so USD/GPU_hour prints as $2 (the template says "per hour")
        return prefix + "-".join(numfmt.money(v / units.si_factor(unit), digits) for v in values)
    if style == "sci":
        unit_text = " FLOPs" if dim == "[compute]" else (f" {unit}" if unit else "")
        return prefix + "-".join(numfmt.sci(v / units.si_factor(unit), digits) for v in values) + unit_text
    if style == "count":
        word = " tokens" if dim == "[token]" else ""
        return prefix + "-".join(numfmt.count(v, digits) for v in values) + word
    if style == "si":
        base = "B" if dim == "[information]" else _SI_UNITS[dim]
        scale = 8.0 if base == "B" else 1.0
        top = numfmt.round_sig(max(abs(v) for v in values) / scale, digits)
        factor, letter = next(((f, p) for f, p in numfmt.PREFIXES if top >= f), numfmt.PREFIXES[-1])
        return prefix + "-".join(numfmt.sig(v / scale / factor, digits) for v in values) + f" {letter}{base}"
    shown = [v / units.si_factor(unit) for v in values]
    return prefix + numfmt.with_unit("-".join(numfmt.sig(v, digits) for v in shown), prose_unit(unit, shown))


# ---- the render context -----------------------------------------------------------------------

@dataclass
class Footnote:
    number: int
    source: Mapping[str, Any]
    locator: str | None
    quotes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        src = self.source
        authors = ", ".join(json.loads(src.get("authors") or "[]"))
        parts = [f"*{src['title']}*"]
        who = [x for x in (authors, src.get("publisher") if src.get("publisher") != authors else None) if x]
        if who:
            parts.append(", ".join(who))
        if src.get("published"):
            parts.append(src["published"])
        line = ". ".join(parts) + "."
        if self.locator:
            line += f" {self.locator}."
        for q in self.quotes:
            line += f' "{q}"'
        if src.get("url"):
            line += f" <{src['url']}>"
        for note in self.notes:
            line += f" {note}"
        return f"[^{self.number}]: {line}"


class RenderContext:
    """What one render used: footnotes by (source, locator), numbers in order, facts and assumptions."""

    def __init__(self, project: Project, scenario: str | None) -> None:
        self.project = project
        self.scenario = scenario
        self.sources = project.store.sources()
        self.footnotes: dict[tuple[str, str | None], Footnote] = {}
        self.numbers: list[dict[str, Any]] = []
        self.inputs: dict[tuple[str, str], str] = {}
        self.shown_steps: set[tuple[str, str, str]] = set()  # derivation steps already in the document
        self.evaluator = project.evaluator()

    def footnote(self, source_id: str, locator: str | None, quote: str | None = None, note: str | None = None) -> str:
        if source_id not in self.sources:
            from .errors import NotFoundError

            raise NotFoundError("source", source_id, list(self.sources))
        key = (source_id, locator or None)
        fn = self.footnotes.get(key)
        if fn is None:
            fn = self.footnotes[key] = Footnote(len(self.footnotes) + 1, self.sources[source_id], locator or None)
        if quote and quote not in fn.quotes:
            fn.quotes.append(quote)
        if note and note not in fn.notes:
            fn.notes.append(note)
        return f"[^{fn.number}]"

    def cite_leaf(self, leaf: Leaf) -> str:
        if leaf.kind == "fact" and leaf.claims:
            marks = []
            for f in leaf.claims:
                self.inputs[("fact", f["id"])] = f"{f['entity']}.{f['property']} = {f['value_text']} {f['unit']}".strip()
                note = self.conflict_note(f) if leaf.combine is None else None
                marks.append(self.footnote(f["source"], f["locator"], f["quote"], qualifier_note(f, note)))
            return "".join(marks)
        self.inputs[("assumption", leaf.key)] = f"{leaf.key.split(':')[-1]} = {leaf.interval_kind} {leaf.point} SI ({leaf.reason})"
        if leaf.source:
            return self.footnote(leaf.source["id"], leaf.locator, leaf.quote)
        return ""

    def conflict_note(self, fact: Mapping[str, Any]) -> str | None:
        """Names the other active claims: those that differ (with their values) and those that agree."""
        from . import claims

        others = sorted((c for c in self.project.store.claims(fact["entity"], fact["property"])
                         if claims.is_active(c) and c["id"] != fact["id"]), key=claims.policy_key)
        if not others:
            return None

        def where(c: Mapping[str, Any]) -> str:
            return f"{self.sources[c['source']]['title']}, {c['locator'] or 'no locator'}"

        def key(c: Mapping[str, Any]) -> tuple[Any, ...]:
            return tuple(None if v is None else float(f"{v:.9g}") for v in (c["si_value"], c["si_low"], c["si_high"]))

        differ = [c for c in others if key(c) != key(fact)]
        agree = [c for c in others if key(c) == key(fact)]
        ref = f"{fact['entity']}.{fact['property']}"
        parts = []
        if differ:
            def value(c: Mapping[str, Any]) -> str:  # as exact as written: 16,384, ~15.6T tokens, 989.4 TFLOP/s
                if auto_style(c["unit"]) == "count" and c["si_low"] is None and c["si_high"] is None \
                        and abs(c["si_value"]) < 1e6 and float(c["si_value"]).is_integer():
                    text = f"{int(c['si_value']):,}" + (" tokens" if units.dimension(c["unit"]) == "[token]" else "")
                else:
                    text = format_value(c["si_value"], c["si_low"], c["si_high"], c["unit"], None, 6)
                return approx(c) + text

            listed = "; ".join(f"{value(c)} ({where(c)})" for c in differ)
            parts.append(f"Competing claims for {ref}: {listed}.")
        if agree:
            parts.append(f"The same value for {ref} is also given by {'; '.join(where(c) for c in agree)}.")
        return " ".join(parts)

    def evaluate(self, query: str, scenario: str | None, claims: Mapping[str, Any] | None = None) -> Result:
        """Evaluate in ``scenario`` (default: -s); ``claims`` pins ENTITY.PROPERTY to one claim: a source id,
        or a mapping of pins ({"source": ..., "locator": ...})."""
        name = scenario or self.scenario
        if not name:
            raise KBError(f"q({query!r}) names no scenario and no default scenario was given (-s)")
        if not claims:
            return self.evaluator.evaluate(query, name)
        pins = {}
        for ref, pin in claims.items():
            wanted = {"source": pin} if isinstance(pin, str) else dict(pin)
            resolved = self.project.store.resolve_ref(ref)
            pins[str(resolved)] = self.project.store.select(resolved, wanted)[0]["id"]
        return self.project.evaluator(pins=pins).evaluate(query, name)

    def record(self, kind: str, ref: str, scenario: str | None, unit: str, text: str,
               value: float | None, low: float | None, high: float | None,
               claims: dict[str, str] | None = None) -> None:
        self.numbers.append({"position": len(self.numbers) + 1, "kind": kind, "ref": ref, "scenario": scenario,
                             "claims": json.dumps(claims, sort_keys=True) if claims else None,
                             "unit": unit, "text": text, "value": value, "low": low, "high": high})

    def footnote_block(self) -> str:
        return "\n".join(fn.text() for fn in sorted(self.footnotes.values(), key=lambda f: f.number))


class Number:
    """A computed number in a template: prints formatted, with footnotes for the facts behind it."""

    def __init__(self, ctx: RenderContext, result: Result, kind: str, ref: str, unit: str | None,
                 style: str | None, digits: int, claims: dict[str, str] | None = None, point: bool = False) -> None:
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
        text = format_value(r.point, low_si, high_si, self._unit, style, self._digits if digits is None else digits)
        value, low, high = r.shown(self._unit)
        if self._point:
            low = high = None
        self._ctx.record(self._kind, self._ref, r.scenario, self._unit, text, value, low, high, self._claims)
        marks = _sorted_marks(self._ctx.cite_leaf(leaf) for leaf in _leaves(r))
        return text + (marks if notes else "")

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


def _sorted_marks(marks: Any) -> str:
    """``[^3][^1][^3]`` -> ``[^1][^3]``."""
    numbers = sorted({int(n) for m in marks for n in re.findall(r"\[\^([0-9]+)\]", m)})
    return "".join(f"[^{n}]" for n in numbers)


def _leaves(r: Result) -> list[Leaf]:
    out: list[Leaf] = []
    for x in r.walk():
        if isinstance(x.node, Leaf) and x.node not in out:
            out.append(x.node)
    return out


def qualifier_text(claim: Mapping[str, Any], pattern: str = "{}") -> str:
    """``scope it-load, status planned, 2023 dollars``: a claim's qualifiers for prose ("" if none)."""
    from .claims import QUALIFIERS

    parts = []
    for q in QUALIFIERS:
        v = claim.get(q)
        if v:
            parts.append(f"{v} dollars" if q == "dollar_year" else f"{q.replace('_', ' ')}: {v}")
    return pattern.format(", ".join(parts)) if parts else ""


def qualifier_note(claim: Mapping[str, Any], note: str | None) -> str | None:
    """A footnote's note for a claim: its qualifiers (so a reader sees what the figure covers), then ``note``."""
    text = qualifier_text(claim, "Qualifiers: {}.")
    return " ".join(x for x in (text, note) if x) or None


def approx(claim: Mapping[str, Any]) -> str:
    """``~`` for a claim its source hedged ("about 100K")."""
    return "~" if claim["interval_kind"] == "approximate" else ""


class Claims(list):  # type: ignore[type-arg]
    """Competing claims of one property; prints as a markdown list, each with its footnote."""

    def __str__(self) -> str:
        return "\n".join(f"- {c['text']}{c['note']}" for c in self)


# ---- the environment ----------------------------------------------------------------------------

def environment(project: Project, ctx: RenderContext, search: list[Path]) -> Any:
    """The one place a Jinja environment is built: sandboxed, strict, markdown (no escaping)."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
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


GLOBALS = ("q", "fact", "given", "cite", "derivation", "conflicts")


def helpers(project: Project, ctx: RenderContext) -> dict[str, Any]:
    from . import claims as claims_mod

    def q(query: str, scenario: str | None = None, unit: str | None = None, style: str | None = None,
          digits: int = 2, claims: dict[str, Any] | None = None, point: bool = False) -> Number:
        r = ctx.evaluate(query, scenario, claims)
        return Number(ctx, r, "query", query, unit, style, digits, claims, point)

    def fact(ref: str, source: str | None = None, unit: str | None = None, style: str | None = None,
             digits: int = 3, point: bool = False, combine: str | None = None, **pins: str) -> Number:
        """The claim ``ref`` means (best by the policy, or pinned: source=, locator=, scope=, ...), or several
        combined (combine="median"), read through the engine like a scenario's fact binding."""
        pinned = tuple((k, v) for k, v in ({"source": source} | pins).items() if v is not None)
        b = Binding(ref, "fact", f"fact({ref!r})", fact=ref, pins=pinned, combine=combine)
        leaf = ctx.evaluator.fact_leaf(b, None)
        r = Result(ref, "fact", leaf.point, leaf.low, leaf.high, leaf.unit, leaf)
        return Number(ctx, r, "fact", ref, unit, style, digits, point=point)

    def given(name: str, scenario: str | None = None, unit: str | None = None, style: str | None = None,
              digits: int | None = None, point: bool = False) -> Number:
        """A scenario's binding of one input (an assumption, fact or query), with its footnote.
        Digits default as for what it binds: 2 for a query's result, 3 for a fact or assumption."""
        from .definitions import effective_bindings
        from .errors import NotFoundError

        sc = scenario or ctx.scenario
        if not sc:
            raise KBError(f"given({name!r}) names no scenario and no default scenario was given (-s)")
        bindings = effective_bindings(project.catalog.scenarios, project.catalog.scenario(sc).name)
        if name not in bindings:
            raise NotFoundError("input", name, list(bindings), where=f"scenario {sc}")
        defined_in, b = bindings[name]
        if b.kind == "query":
            return q(b.query, b.scenario or sc, unit, style, 2 if digits is None else digits, point=point)  # type: ignore[arg-type]
        leaf, _ = ctx.evaluator.bind(b, defined_in, sc, ())
        assert isinstance(leaf, Leaf)  # a fact or assumption: query bindings are handled above
        r = Result(name, leaf.kind, leaf.point, leaf.low, leaf.high, leaf.unit, leaf)
        return Number(ctx, r, "input", f"{sc}.{name}", unit, style, 3 if digits is None else digits, point=point)

    def cite(source: str, locator: str | None = None) -> str:
        return ctx.footnote(source, locator)

    def derivation(number: Number, repeat: bool = False) -> str:
        return derivation_markdown(ctx, number.result, repeat=repeat)

    def conflicts(ref: str) -> Claims:
        r = project.store.resolve_ref(ref)
        entity, prop = r.entity, r.prop
        active = [c for c in project.store.claims(entity, prop) if claims_mod.is_active(c)]
        if not active:
            raise KBError(f"conflicts({ref!r}): no active claims of {entity}.{prop}")
        out = Claims()
        for c in sorted(active, key=claims_mod.policy_key):
            mark = ctx.footnote(c["source"], c["locator"], c["quote"])
            ctx.inputs[("fact", c["id"])] = f"{ref} = {c['value_text']} {c['unit']}".strip()
            text = approx(c) + format_value(c["si_value"], c["si_low"], c["si_high"], c["unit"], None, 3)
            text += qualifier_text(c, " ({})")
            ctx.record("claim", ref, None, c["unit"], text, c["value"], c["low"], c["high"])
            out.append({"text": text, "note": mark, "source": ctx.sources[c["source"]]["title"],
                        "value_text": c["value_text"], "id": c["id"]})
        return out

    return {"q": q, "fact": fact, "given": given, "cite": cite, "derivation": derivation, "conflicts": conflicts}


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
    """The derivation as a markdown list of steps: formula, substituted numbers, result, citations.

    A step from another scenario is labelled with it. A step already shown earlier in the document
    (same query, scenario and numbers) is not repeated, unless ``repeat``: one line says so instead.
    """
    from .explain import shown, substituted

    def prose(text: str) -> str:
        return text.replace("GPU_hour", "GPU-hour")

    steps: list[Result] = []
    seen: set[int] = set()

    def visit(x: Result) -> None:
        if isinstance(x.node, QNode) and id(x.node) not in seen:
            seen.add(id(x.node))
            for c in x.inputs:
                visit(c)
            steps.append(x)

    visit(r)
    assert isinstance(r.node, QNode)
    lines, earlier = [], []
    for step in steps:
        assert isinstance(step.node, QNode)
        name = step.node.query.name
        label = f"`{name}`" + ("" if step.node.scenario == r.node.scenario else f" [{step.node.scenario}]")
        numbers = prose(substituted(step))
        key = (name, step.node.scenario, numbers)
        if key in ctx.shown_steps and not repeat and step is not r:
            earlier.append(f"`{name}` [{step.node.scenario}]")  # each named with its scenario: no ambiguity
            continue
        ctx.shown_steps.add(key)
        marks = _sorted_marks(ctx.cite_leaf(c.node) for c in step.inputs if isinstance(c.node, Leaf))
        result_text = shown(step)
        value, low, high = step.shown()
        ctx.record("step", name, step.node.scenario, step.unit, prose(result_text), value, low, high)  # --check sees it
        lines.append(f"1. {label} = `{step.node.query.formula}` = {numbers} = **{prose(result_text)}**{marks}")
    if earlier:
        lines.insert(0, f"1. {', '.join(earlier)}: as derived above")
    return "\n".join(lines)


# ---- static checks ------------------------------------------------------------------------------

def template_problems(project: Project, template: Template) -> list[tuple[int | None, str]]:
    """Names a template uses that the renderer does not provide, and literal references
    (``q("name", "scenario")``, ``fact("entity.property")``) to things that do not exist."""
    from jinja2 import TemplateSyntaxError, meta, nodes

    ctx = RenderContext(project, None)
    env = environment(project, ctx, [template.path.parent])
    source = read_text(template.path)
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        return [(exc.lineno, exc.message or "syntax error")]
    problems: list[tuple[int | None, str]] = []
    for name in sorted(meta.find_undeclared_variables(ast) - set(env.globals)):
        line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name), None)
        problems.append((line, f"name {name!r} is not provided (helpers: {', '.join(GLOBALS)})"))
    constants = {n.target.name: n.node.value for n in ast.find_all(nodes.Assign)
                 if isinstance(n.target, nodes.Name) and isinstance(n.node, nodes.Const)}

    def literal(arg: Any) -> Any:
        if isinstance(arg, nodes.Const):
            return arg.value
        if isinstance(arg, nodes.Name):
            return constants.get(arg.name)
        return None

    catalog = project.catalog
    for call in ast.find_all(nodes.Call):
        if not isinstance(call.node, nodes.Name) or not call.args:
            continue
        fn, first = call.node.name, literal(call.args[0])
        second = literal(call.args[1]) if len(call.args) > 1 else None
        try:
            if fn == "q" and isinstance(first, str):
                catalog.query(first)
                if isinstance(second, str):
                    catalog.scenario(second)
            elif fn in ("fact", "conflicts") and isinstance(first, str):
                project.store.resolve_ref(first)
            elif fn == "given" and isinstance(second, str):
                catalog.scenario(second)
        except KBError as exc:
            problems.append((call.lineno, exc.message))
    return problems


# ---- rendering ------------------------------------------------------------------------------------

@dataclass
class Rendered:
    template: Template
    scenario: str | None
    text: str
    ctx: RenderContext


def _template_line(exc: BaseException, path: Path) -> int | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename and Path(frame.filename).resolve() == path.resolve():
            return frame.lineno
    return getattr(exc, "lineno", None)


def render(project: Project, template: Template, scenario: str | None = None) -> Rendered:
    """Render one template to markdown (footnotes appended); raises TemplateError with file and line."""
    from jinja2 import TemplateError as JinjaError

    if scenario:
        project.catalog.scenario(scenario)
    ctx = RenderContext(project, scenario)
    env = environment(project, ctx, [template.path.parent])
    inside = template.path.parent.resolve() == project.templates_dir.resolve()
    where = template.name if inside else str(template.path)
    try:
        body = env.get_template(template.path.name).render()
    except Exception as exc:  # noqa: BLE001  (a template's own error, e.g. 1/0, is reported with its line)
        line = _template_line(exc, template.path)
        if isinstance(exc, KBError):
            message = exc.message
        elif isinstance(exc, JinjaError):
            message = str(exc)
        elif isinstance(exc, UnicodeDecodeError):
            message = "the template is not UTF-8 text"
        else:
            message = f"{type(exc).__name__}: {exc}"
        raise TemplateError(message, where=f"template {where}" + (f", line {line}" if line else "")) from None
    body = body.rstrip("\n") + "\n"
    if ctx.footnotes:
        body += "\n" + ctx.footnote_block() + "\n"
    return Rendered(template, scenario, body, ctx)
