"""Rendering: a pure function of the knowledge base. ``render(project, template)`` returns the markdown
and an explicit record of every number and input it printed; the CLI writes the text and
``kb.report.manifest`` records the render. No time or randomness enters the output, so the same
inputs give identical bytes.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine import Leaf, QNode, Result
from ..errors import KBError, TemplateError
from ..numfmt import claim_text
from . import limits
from .derivation import SECTION, computed_note, leaves
from .footnotes import Footnotes, claim_note, competing_note, join_marks
from .printed import TOKEN, Page, Printed
from .templates import Template, is_shipped_folder

if TYPE_CHECKING:
    from ..project import Project


class RenderContext:
    """One render's state: the evaluator, what the template printed, footnotes, numbers and inputs."""

    def __init__(self, project: Project, scenario: str | None) -> None:
        self.project = project
        self.scenario = scenario
        self.evaluator = project.evaluator()
        self.sources = project.store.sources()
        self.page = Page()
        self.shown_steps: set[tuple[str, str, str]] = set()  # derivation steps already in the document
        self.notes = Footnotes(self.sources)
        self.numbers: list[dict[str, Any]] = []
        self.inputs: dict[tuple[str, str], str] = {}
        self._computed: dict[Any, tuple[int, Result, Printed]] = {}  # computed number -> its item in SECTION
        self.charts: dict[str, bytes] = {}  # sweep_chart() and histogram(): file name -> PNG
        self.chart_prefix = "chart"

    def chart(self, png: bytes, alt: str) -> str:
        """Keep a chart to write beside the markdown; the markdown that shows it (a relative link)."""
        name = f"{self.chart_prefix}-{len(self.charts) + 1}.png"
        self.charts[name] = png
        return f"![{alt}]({name})"

    def evaluate(self, query: str, scenario: str | None, claims: Mapping[str, Any] | None = None,
                 samples: int | None = None, seed: int | None = None) -> Result:
        """Evaluate in ``scenario`` (default: -s); ``claims`` pins ENTITY.PROPERTY to one claim: a source id,
        or a mapping of pins ({"source": ..., "locator": ...})."""
        name = scenario or self.scenario
        if not name:
            raise KBError(f"q({query!r}) names no scenario and no default scenario was given (-s)")
        if samples is not None and (not isinstance(samples, int) or isinstance(samples, bool)
                                    or not 100 <= samples <= 10_000_000):
            raise KBError(f"q({query!r}): samples={samples!r} must be a whole number from 100 to 10000000")
        if not claims:
            return self.evaluator.evaluate(query, name, samples=samples, seed=seed)
        if not isinstance(claims, Mapping):
            raise KBError(f"claims= takes a mapping of ENTITY.PROPERTY to a source id or pins, not {claims!r}")
        pins = {}
        for ref, pin in claims.items():
            if not isinstance(pin, (str, Mapping)):
                raise KBError(f"claims[{ref!r}] must be a source id or a mapping of pins, not {pin!r}")
            wanted = {"source": pin} if isinstance(pin, str) else {str(k): str(v) for k, v in pin.items()}
            resolved = self.project.store.resolve_ref(str(ref))
            pins[str(resolved)] = self.project.store.select(resolved, wanted)[0]["id"]
        result = self.project.evaluator(pins=pins).evaluate(query, name, samples=samples, seed=seed)
        used = {c["id"] for r in result.walk() if isinstance(r.node, Leaf) for c in r.node.claims}
        unused = [ref for ref, fact_id in pins.items() if fact_id not in used]
        if unused:  # a pin that changes nothing is a mistake, as in a scenario
            raise KBError(f"q({query!r}, claims=...) pins {unused[0]}, which query {query} in scenario {name} "
                          "does not use; drop the pin or bind it in the scenario")
        return result

    # ---- resolution: tokens -> text with marks, in text order
    def resolve(self, text: str) -> str:
        return TOKEN.sub(lambda m: self._emit(self.page.items[int(m.group(1))]), text)

    def _emit(self, item: Printed) -> str:
        if item.kind is not None:
            self.numbers.append({"position": len(self.numbers) + 1, "kind": item.kind, "ref": item.ref,
                                 "scenario": item.scenario, "unit": item.unit, "text": item.text,
                                 "value": item.value, "low": item.low, "high": item.high,
                                 "claims": json.dumps(item.claims, sort_keys=True) if item.claims else None})
        if item.result is not None:
            for leaf in leaves(item.result):
                self._record_input(leaf.node)  # type: ignore[arg-type]
        if item.fact is not None:
            f = item.fact
            self.inputs[("fact", f["id"])] = f"{item.ref} = {claim_text(f)}"
        marks = ""
        if item.marks == "sources" and item.result is not None:
            marks = join_marks([m for leaf in leaves(item.result) for m in self.leaf_marks(leaf.node)])  # type: ignore[arg-type]
        elif item.marks == "computed" and item.result is not None:
            marks = self._computed_mark(item)
        elif item.marks == "cite" and item.cite is not None:
            marks = self.notes.cite(*item.cite)
        elif item.marks == "note" and item.note is not None:
            marks = self.notes.computed(*item.note)
        return item.text + marks

    def _record_input(self, leaf: Leaf) -> None:
        if leaf.kind == "fact":
            for f in leaf.claims:
                self.inputs[("fact", f["id"])] = f"{f['entity']}.{f['property']} = {claim_text(f)}"
        else:
            self.inputs[("assumption", leaf.key)] = \
                f"{leaf.key.split(':')[-1]} = {leaf.interval_kind} {leaf.point} SI ({leaf.reason})"

    def leaf_marks(self, leaf: Leaf) -> list[str]:
        """The source notes of one fact (each claim's, with its qualifiers and competitors) or cited assumption."""
        if leaf.kind == "fact":
            return [self.notes.cite(f["source"], f["locator"], f["quote"],
                                    claim_note(f, competing_note(self.project.store, self.sources, f)
                                               if leaf.combine is None else None),
                                    json.loads(f.get("cites") or "[]"))
                    for f in leaf.claims]
        if leaf.source:
            return [self.notes.cite(leaf.source["id"], leaf.locator, leaf.quote)]
        return []

    def _computed_mark(self, item: Printed) -> str:
        r = item.result
        assert r is not None and isinstance(r.node, QNode)
        key = (r.node.query.name, r.node.scenario, item.unit, json.dumps(item.claims, sort_keys=True))
        if key not in self._computed:
            self._computed[key] = (len(self._computed) + 1, r, item)
        number = self._computed[key][0]
        return self.notes.computed(key, computed_note(r, number))

    # ---- the section that gives each computed number's derivation, inputs and sources
    def section(self) -> str:
        if not self._computed:
            return ""
        from ..explain import substituted
        from .derivation import step_line, steps

        out = [f"## {SECTION}", ""]
        shown: dict[tuple[str, str, str], int] = {}
        for number, r, item in sorted(self._computed.values(), key=lambda x: x[0]):
            assert isinstance(r.node, QNode)
            head = f"**({number})** `{r.node.query.name}` [{r.node.scenario}] = {item.text}"
            pinned = {ref: pin for ref, pin in (item.claims or {}).items() if ref != "__samples__"}
            if pinned:
                head += " with " + ", ".join(f"the claim of {ref} from {pin_text(pin)}" for ref, pin in pinned.items())
            if r.samples:
                head += (f", the median and 5th to 95th percentiles of {r.samples['n']} Monte Carlo samples (seed "
                         f"{r.samples['seed']}; each ranged input drawn once per sample)")
            out += [head + ":", ""]
            for step in steps(r):
                assert isinstance(step.node, QNode)
                key = (step.node.query.name, step.node.scenario, substituted(step))
                if key in shown and step is not r:
                    out.append(f"- `{step.node.query.name}` [{step.node.scenario}] = {prose_result(step)}, as in ({shown[key]})")
                    continue
                shown.setdefault(key, number)
                out.append("- " + step_line(step, r, lambda leaf: join_marks(self.leaf_marks(leaf.node))))  # type: ignore[arg-type]
            assumed = [f"{x.name} = {shown_value(x)}: {x.node.reason}" for x in leaves(r)
                       if isinstance(x.node, Leaf) and x.node.kind in ("assumption", "set") and x.node.reason]
            if assumed:
                out.append(f"- assumed: {'; '.join(assumed)}")
            out.append("")
        return "\n".join(out).rstrip("\n") + "\n"


def pin_text(pin: Any) -> str:
    """``nesov-comments``, or ``locator Table 1, Total`` for a mapping of pins."""
    if isinstance(pin, Mapping):
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in pin.items())
    return str(pin)


def shown_value(x: Result) -> str:
    from ..explain import shown

    return shown(x, digits=4)


def prose_result(step: Result) -> str:
    from .derivation import prose

    return prose(shown_value(step))


@dataclass
class Rendered:
    template: Template
    scenario: str | None
    text: str
    numbers: list[dict[str, Any]] = field(default_factory=list)  # every number printed, in order
    inputs: dict[tuple[str, str], str] = field(default_factory=dict)  # every fact and assumption behind them
    charts: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG, written beside the markdown


def _template_line(exc: BaseException, path: Path) -> int | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename and Path(frame.filename).resolve() == path.resolve():
            return frame.lineno
    return getattr(exc, "lineno", None)


def render(project: Project, template: Template, scenario: str | None = None) -> Rendered:
    """Render one template to markdown (computed-number section and footnotes appended); raises
    TemplateError with file and line."""
    from jinja2 import TemplateError as JinjaError

    from .environment import environment

    if scenario:
        project.catalog.scenario(scenario)
    ctx = RenderContext(project, scenario)
    ctx.chart_prefix = template.name
    env = environment(project, ctx, [template.path.parent])
    where = template.name if is_shipped_folder(project, template) else str(template.path)
    try:
        with limits.bounded():
            raw = limits.stream(env.get_template(template.path.name).generate())
        body = ctx.resolve(raw).rstrip("\n") + "\n"
        if "\x00" in body:
            raise KBError("a number's text was cut or changed by a filter; print q() and fact() results whole")
        section = ctx.section()
    except Exception as exc:  # noqa: BLE001  (a template's own error, e.g. 1/0, is reported with its line)
        line = _template_line(exc, template.path)
        if isinstance(exc, KBError):
            message = exc.message
        elif isinstance(exc, JinjaError):
            message = str(exc)
        elif isinstance(exc, UnicodeDecodeError):
            message = "the template is not UTF-8 text"
        elif isinstance(exc, RecursionError):
            message = limits.TOO_DEEP
        else:
            message = f"{type(exc).__name__}: {exc}"
        raise TemplateError(message, where=f"template {where}" + (f", line {line}" if line else "")) from None
    if section:
        body += "\n" + section
    if ctx.notes:
        body += "\n" + ctx.notes.block() + "\n"
    return Rendered(template, scenario, body, ctx.numbers, ctx.inputs, ctx.charts)
