"""The ways of evaluating a derivation, side by side. Each designs the input arrays (index 0 is always the
point) and summarises a query node's output array as an interval that says what it means:

- ``Corners``: the point and the 2**k corners of the input box; sound bounds per node (certified monotone
  by interval gradients, else interval branch and bound: :mod:`kb.intervals`);
- ``MonteCarlo``: N draws of each input (:mod:`kb.sampling`), the 5th to 95th percentiles;
- ``OneAtATime``: each ranged input at its low and its high end, the others at their points (sensitivity);
- ``Grid``: given values of some inputs (a sweep).

The engine resolves a scenario to a graph once, compiles each formula to a vectorised closure that shares
each leaf, and evaluates it over the method's arrays; the per-run state lives in a :class:`Run`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import intervals, sampling, units
from .errors import EvaluationError

if TYPE_CHECKING:
    from .engine import Leaf, QNode

MAX_RANGED = 16


@dataclass
class Summary:
    low: float | None
    high: float | None
    meaning: str | None = None  # bounds | ci90 | samples_p5_p95 | at_least | at_most
    bounds_method: str | None = None  # monotone | branch-and-bound | interval
    samples: dict[str, Any] | None = None
    draws: np.ndarray | None = None


@dataclass
class Run:
    """One evaluation's state: the design's input arrays and each node's computed array."""

    n: int
    arrays: dict[str, np.ndarray]  # leaf key -> values (SI)
    open: np.ndarray  # design points where an input sits at an infinite end (a limit, not a value)
    values: dict[int, np.ndarray] = field(default_factory=dict)  # id(QNode) -> its values
    finite: bool = False  # every design point is a value a user sees (samples, sweep points): none may be inf
    on_step: Callable[[], None] | None = None  # called after each node is computed (a progress bar)

    def array(self, node: Leaf | QNode) -> np.ndarray:
        """The node's values at every design point (``n`` of them; a constant is a read-only broadcast view)."""
        return np.broadcast_to(self._raw(node), (self.n,))

    def _raw(self, node: Leaf | QNode) -> np.ndarray:
        """The node's values as computed: one value where nothing it depends on varies (so a constant part of a
        derivation costs one operation, not ``n``), else ``n``."""
        from .engine import Leaf

        if isinstance(node, Leaf):
            return self.arrays[node.key]
        if id(node) not in self.values:
            env = {name: self._raw(child) for name, child in node.inputs}
            shown = ", ".join(f"{name} = {env[name][0]:.4g}" for name, _ in node.inputs)
            try:
                with np.errstate(all="ignore"):  # overflow and NaN (inf - inf at an open end) are judged below
                    out = np.asarray(node.compiled(env), dtype=float).reshape(-1)
            except EvaluationError as exc:
                raise EvaluationError(f"{exc.message} (query {node.query.name}, scenario {node.scenario}; "
                                      f"inputs {shown})") from None
            if out.size not in (1, self.n):
                out = np.broadcast_to(out, (self.n,))
            if not np.isfinite(out).all():  # one pass in the usual case; which fault, only when there is one
                _refuse_at(self, node, out, shown)
            self.values[id(node)] = out
            if self.on_step is not None:
                self.on_step()
        return self.values[id(node)]


def _filled(leaves: Mapping[str, Leaf], n: int, varied: set[str] | None = None,
            overwritten: bool = False) -> dict[str, np.ndarray]:
    """Each leaf's array: ``n`` copies of its point for a leaf the design varies (all, by default); one
    value for the others, which numpy broadcasts (a million samples need no million copies of a constant).
    ``overwritten``: the design writes every varied array's ``[1:]`` itself, so only index 0 is filled."""
    out = {}
    for k, leaf in leaves.items():
        if varied is None or k in varied:
            out[k] = np.empty(n, dtype=float) if overwritten else np.full(n, leaf.point, dtype=float)
            out[k][0] = leaf.point
        else:
            out[k] = np.full(1, leaf.point, dtype=float)
    return out


def ends(leaf: Leaf) -> tuple[float, float]:
    """The input box's edge for one ranged leaf: ``>= a`` is [a, inf); ``<= b`` is [0, b] for b >= 0."""
    lo = leaf.low if leaf.low is not None else (0.0 if leaf.point >= 0 else -np.inf)
    return lo, leaf.high if leaf.high is not None else np.inf


def _refuse_at(run: Run, node: QNode, out: np.ndarray, shown: str) -> None:
    """Raise for a node whose values are not all finite, unless that is allowed: an infinite value in a
    design whose points are all limits of the box (the corners), or NaN only where an input is infinite."""
    if np.isinf(out[0]) or (run.finite and np.isinf(out).any()):
        where = f"inputs {shown}" if np.isinf(out[0]) else "for some of the sampled or swept input values"
        raise EvaluationError(f"query {node.query.name} in scenario {node.scenario} overflows: the result is "
                              f"not a finite number ({where})")
    full = np.broadcast_to(out, (run.n,))
    defined = full[~run.open] if run.open.any() else out  # at an infinite end (inf / inf): a limit
    if np.isnan(defined).any():
        raise EvaluationError(
            f"query {node.query.name} in scenario {node.scenario} is undefined for some values of its inputs "
            "(a corner of their ranges, a sample or a sweep point)")


class Corners:
    """The point and every corner of the input box; sound bounds per node."""

    def __init__(self) -> None:
        self.box: dict[str, tuple[float, float]] = {}
        self.points: dict[str, float] = {}
        self.leaves: Mapping[str, Leaf] = {}

    def design(self, leaves: Mapping[str, Leaf]) -> Run:
        ranged = [k for k, leaf in leaves.items() if leaf.ranged]
        if len(ranged) > MAX_RANGED:
            raise EvaluationError(f"{len(ranged)} ranged inputs: the corner method is limited to {MAX_RANGED}; "
                                  "use --samples, or give some inputs as points")
        n = 1 + 2 ** len(ranged)
        self.box = {k: ends(leaves[k]) for k in ranged}
        self.points = {k: leaf.point for k, leaf in leaves.items()}
        self.leaves = leaves
        arrays = _filled(leaves, n, set(ranged), overwritten=True)
        # a result bound reached only where an input is at an infinite end is a limit (x / n, n >= 50000: 0)
        is_open = np.zeros(n, dtype=bool)
        for j, key in enumerate(ranged):
            lo, hi = self.box[key]
            corner = (np.arange(n - 1) >> j) & 1
            arrays[key][1:] = np.where(corner == 1, hi, lo)
            is_open[1:] |= ((corner == 1) & np.isinf(hi)) | ((corner == 0) & np.isinf(lo))
        return Run(n, arrays, is_open)

    def summarise(self, run: Run, arr: np.ndarray, tree: Any, fn: Any) -> Summary:
        from . import formula

        box = {k: self.box[k] for k in sorted(formula.names_in(tree)) if k in self.box}
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        limit_lo, limit_hi = bool(run.open[arr == lo].all()), bool(run.open[arr == hi].all())
        method = None
        if box:
            found = intervals.bounds(tree, fn, box, self.points, (lo, hi))
            limit_lo, limit_hi = limit_lo and found.low == lo, limit_hi and found.high == hi
            lo, hi, method = found.low, found.high, found.method
        if np.isinf(lo) and np.isinf(hi):
            raise EvaluationError("unbounded: over its inputs' ranges it takes values from -inf to inf (a "
                                  "denominator reaching zero, or two open-ended inputs against each other); narrow "
                                  "a range or give a point")
        low = None if lo == -np.inf or (limit_lo and not np.isinf(hi)) else lo  # a limit is kept if it is all
        high = None if hi == np.inf or (limit_hi and low is not None) else hi  # there is on that side
        if low is not None and high is not None and abs(high - low) <= 1e-12 * max(abs(low), abs(high)):
            return Summary(None, None)  # x / x: one value however the inputs vary
        used = [self.leaves[k] for k in box]
        meaning = ("ci90" if any(leaf.interval_kind == "ci90" for leaf in used) else
                   "at_most" if low is None else "at_least" if high is None else "bounds")
        return Summary(low, high, meaning, method)


class MonteCarlo:
    """``samples`` draws of each input, once per sample; the 5th to 95th percentiles."""

    def __init__(self, samples: int, seed: int | None = None, names: Mapping[str, str] | None = None) -> None:
        self.samples = samples
        self.seed = sampling.DEFAULT_SEED if seed is None else seed
        self.names = dict(names or {})  # leaf key -> the input it is bound to, for messages

    def design(self, leaves: Mapping[str, Leaf], on_step: Callable[[], None] | None = None) -> Run:
        """The draws; ``on_step`` is called after each input is drawn (a progress bar)."""
        rng = np.random.default_rng(self.seed)
        n = 1 + self.samples
        drawn = {k for k, leaf in leaves.items() if leaf.ranged}
        arrays = _filled(leaves, n, drawn, overwritten=True)
        for key in sorted(drawn):  # one draw per input, in a fixed order: the same seed, the same numbers
            leaf = leaves[key]
            arrays[key][1:] = sampling.draw(self.names.get(key, key.split(":")[-1]), leaf.interval_kind, leaf.point,
                                            leaf.low, leaf.high, self.samples, rng, leaf.distribution)
            if on_step is not None:
                on_step()
        return Run(n, arrays, np.zeros(n, dtype=bool), finite=True, on_step=on_step)

    STEP_SAMPLES = 20_000  # a step of the derivation (not the result asked for) is summarised from these

    def summarise(self, arr: np.ndarray, display_unit: str, top: bool = True) -> Summary:
        """The percentiles of a node's draws: all of them for the result, the first 20,000 for a step (p5 within
        about 0.2 percentile points: context for the result, which the user asked for)."""
        drawn = arr[1:] if top else arr[1:1 + self.STEP_SAMPLES]
        stats = sampling.summary(drawn, units.si_factor(display_unit), self.seed)  # one partition per node
        f = units.si_factor(display_unit)
        return Summary(float(stats["p5"]) * f, float(stats["p95"]) * f, "samples_p5_p95", samples=stats, draws=drawn)


class OneAtATime:
    """Each input with two finite ends at its low end, then its high end, the others at their points."""

    def __init__(self) -> None:
        self.inputs: list[str] = []

    def design(self, leaves: Mapping[str, Leaf]) -> Run:
        self.inputs = [k for k, leaf in sorted(leaves.items()) if leaf.low is not None and leaf.high is not None]
        n = 1 + 2 * len(self.inputs)
        arrays = _filled(leaves, n)
        for i, k in enumerate(self.inputs):
            arrays[k][1 + 2 * i], arrays[k][2 + 2 * i] = leaves[k].low, leaves[k].high
        return Run(n, arrays, np.zeros(n, dtype=bool), finite=True)


class Grid:
    """Given values (SI) of some leaves, by key; every other leaf at its point."""

    def __init__(self, given: Mapping[str, np.ndarray]) -> None:
        self.given = given

    def design(self, leaves: Mapping[str, Leaf]) -> Run:
        n = 1 + len(next(iter(self.given.values())))
        arrays = _filled(leaves, n, set(self.given) & set(leaves), overwritten=True)
        for key, values in self.given.items():
            if key in arrays:
                arrays[key][1:] = values
        return Run(n, arrays, np.zeros(n, dtype=bool), finite=True)
