"""The ``epoch_audit()`` template helper: ``kb audit epoch`` as numbers a writeup can print and footnote.

The dataset's figure and the inputs of each finding are the imported claims, printed through ``fact()``
(so each carries its footnote to the dataset row and the links the row cites); the recomputed figure is
recorded in the render's manifest like any other number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..numfmt import sig
from .footnotes import inline
from .printed import Printed

if TYPE_CHECKING:
    from ..epoch.audit import Audit, Finding
    from ..project import Project
    from .render import RenderContext

CHECKS = {
    "6ND": "training compute against 6 x parameters x tokens x epochs",
    "implied-mfu": "the utilisation a model's compute implies on its chips' dense BF16 peak",
    "mfu-compute": "training compute against chips x peak x time x the dataset's MFU",
    "h100-equivalents": "H100-equivalents against chips x 8-bit OP/s (16-bit where no 8-bit) / the H100's 1,979 TOPS",
    "power": "calculated power against chips x TDP (each chip type) x the server overhead x the year's PUE",
    "name": "a parameter count in a model's name against its parameters",
}


def _shown(value: float, unit: str) -> str:
    """A recomputed figure as fact() prints the dataset's (power in MW, as the dataset gives it)."""
    from .formatting import format_value

    return format_value(value, None, None, "MW" if unit == "W" else unit, None, 3)


@dataclass
class FindingView:
    check: str
    name: str
    dataset: Any  # Number: the dataset's figure, footnoted
    inputs: list[Any]  # Numbers: what the recomputation used
    recomputed: str
    factor: str
    detail: str


@dataclass
class CheckView:
    name: str
    what: str
    rows: int
    flagged: int
    threshold: str


class AuditView:
    def __init__(self, project: Project, ctx: RenderContext, fact: Any, result: Audit) -> None:
        self._project, self._ctx, self._fact, self._result = project, ctx, fact, result
        self.available = bool(result.checked)
        self.imported = result.claims > 0  # some Epoch AI claims, if not the files every check needs
        self.notes = result.notes
        self.checks = [CheckView(c, CHECKS[c], n, len([f for f in result.findings if f.check == c]),
                                 "1%" if c == "power" else "5% to 100%" if c == "implied-mfu"
                                 else f"{result.thresholds[c]:g}x")
                       for c, n in result.checked.items()]
        self.rows = sum(result.checked.values())
        from ..epoch.audit import POWER_TOLERANCE, SYSTEM_OVERHEAD

        self.overhead = f"{SYSTEM_OVERHEAD:g}"  # the dataset's documented server overhead
        self.tolerance = f"{(POWER_TOLERANCE - 1) * 100:.0f}%"
        self.pue = [f"{year}: {sig(p, 3)} ({n} rows)" for year, (p, n) in result.pue.items()]

    def top(self, n: int = 10, check: str | None = None) -> list[FindingView]:
        """The ``n`` largest disagreements (of one check, if given), each with footnoted figures."""
        found = [f for f in self._result.findings if check is None or f.check == check][:n]
        return [self._view(f) for f in found]

    def row(self, check: str, entity: str) -> FindingView | None:
        """One entity's comparison of one check (listed as a disagreement or not), if it was checked."""
        found = [f for f in self._result.compared if f.check == check and f.entity == entity]
        return self._view(found[0]) if found else None

    def has(self, check: str) -> bool:
        """Whether any row had every input of ``check``."""
        return check in self._result.checked

    def agree(self, check: str) -> int:
        """How many rows of one check are within its threshold."""
        return self._result.checked.get(check, 0) - len([f for f in self._result.findings if f.check == check])

    def _view(self, f: Finding) -> FindingView:
        store = self._project.store
        numbers = []
        for fid in f.facts:
            row = store.fact(fid)
            numbers.append(self._fact(f"{row['entity']}.{row['property']}", id=fid, digits=4))
        value = f.recomputed
        how = f"Recomputed by `kb audit epoch`, check `{f.check}`: {CHECKS[f.check]}" + (
            f" ({inline(f.detail)})" if f.detail else "") + f"; from the dataset's figures for {inline(f.name)}."
        token = self._ctx.page.token(Printed(_shown(value, f.unit), "note", "audit", f"{f.check}:{f.entity}", None,
                                             f.unit, value, None, None, note=(("audit", f.check, f.entity), how)))
        factor = "inf" if f.factor == float("inf") else f"{sig(f.factor, 3)}x"
        return FindingView(f.check, inline(f.name, cell=True), numbers[0], numbers[1:], token, factor,
                           inline(f.detail, cell=True))


def epoch_audit_helper(project: Project, ctx: RenderContext, fact: Any) -> Any:
    def epoch_audit(factor: float = 1.5) -> AuditView:
        from ..epoch.audit import audit

        return AuditView(project, ctx, fact, audit(project.store, factor))
    return epoch_audit
