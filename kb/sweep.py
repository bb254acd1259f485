"""``kb sweep``: a query's value over a grid of one or two inputs, every other input at its point.

Each varied input is set to every value of its axis where the scenario itself binds it (a query bound
under another scenario, such as a baseline, keeps its own value; ``--set`` changes an input everywhere);
the derivation is evaluated once, vectorised over the whole grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import units
from .errors import KBError, NotFoundError
from .methods import Grid
from .values import Value

if TYPE_CHECKING:
    from .engine import Evaluator

MAX_POINTS = 10_000_000


@dataclass
class Axis:
    name: str
    unit: str  # the unit the axis values are written in
    values: np.ndarray  # in ``unit``
    log: bool = False


@dataclass
class Sweep:
    query: str
    scenario: str
    unit: str  # the result's display unit
    axes: list[Axis]
    values: np.ndarray  # the result in ``unit``, shaped like the grid (len(axes[0]), len(axes[1]), ...)


def parse_axis(text: str, log: bool) -> Axis:
    """``NAME=START:STOP:N``, ``gpus_per_domain=8:576:20``, ``"window=0.5 s:4 s:8"``."""
    from .definitions import NAME
    from .units import parse_quantity

    name, sep, rest = text.partition("=")
    name = name.strip()
    parts = rest.split(":")
    if not sep or not NAME.match(name) or len(parts) != 3:
        raise KBError(f"--vary {text!r} must look like NAME=START:STOP:N (e.g. gpus_per_domain=8:576:20)")
    try:
        (start, su), (stop, tu) = parse_quantity(parts[0]), parse_quantity(parts[1])
    except KBError as exc:
        raise KBError(f"--vary {name}: {exc.message}") from None
    if start.kind != "exact" or stop.kind != "exact":
        raise KBError(f"--vary {name}: START and STOP are single numbers, not {start.text!r} and {stop.text!r}")
    unit = tu or su
    if su and tu and not units.same_dimension(su, tu):
        raise KBError(f"--vary {name}: START is in {su!r} and STOP in {tu!r}; give one kind of unit")
    lo = start.point * units.si_factor(su or unit) / units.si_factor(unit)
    try:
        n = int(parts[2])
    except ValueError:
        raise KBError(f"--vary {name}: N must be a whole number of points, not {parts[2]!r}") from None
    if not 2 <= n <= 1_000_000:
        raise KBError(f"--vary {name}: N must be 2 to 1000000 points, not {n}")
    if log and (lo <= 0 or stop.point <= 0):
        raise KBError(f"--vary {name} --log needs positive START and STOP")
    values = np.geomspace(lo, stop.point, n) if log else np.linspace(lo, stop.point, n)
    return Axis(name, "" if unit == "1" else unit, values, log)


def sweep(evaluator: Evaluator, query: str, scenario: str, axes: list[Axis]) -> Sweep:
    """The query over the grid of ``axes`` (one or two), as an array shaped like the grid."""
    if not 1 <= len(axes) <= 2:
        raise KBError("kb sweep varies one or two inputs (--vary NAME=START:STOP:N, once or twice)")
    if len({a.name for a in axes}) != len(axes):
        raise KBError(f"--vary {axes[0].name} is given twice; vary each input once")
    shape = tuple(len(a.values) for a in axes)
    if int(np.prod(shape)) > MAX_POINTS:
        raise KBError(f"a sweep of {int(np.prod(shape))} points is more than {MAX_POINTS}; use fewer points")
    for a in axes:  # each varied input becomes a set leaf in this scenario (not in scenarios it refers to)
        mid = float(a.values[len(a.values) // 2])
        evaluator.overrides[(scenario, a.name)] = (Value(f"{mid:g}", "exact", mid), a.unit, None)
    root, leaves = evaluator.graph(query, scenario)  # refuses a --set name the derivation does not have
    unknown = [a.name for a in axes if a.name not in evaluator.seen_inputs]
    if unknown:
        raise NotFoundError("input", unknown[0], sorted(evaluator.seen_inputs),
                            hint=f"--vary names an input of the derivation of {query}")
    elsewhere = [a.name for a in axes if f"set:{a.name}" not in leaves]
    if elsewhere:  # bound only by a query this scenario takes from another scenario
        raise KBError(f"--vary {elsewhere[0]}: scenario {scenario} does not bind it itself (it comes in through a "
                      f"query of another scenario); --set {elsewhere[0]}=VALUE changes it everywhere")
    grids = np.meshgrid(*[a.values for a in axes], indexing="ij")
    grid = {f"set:{a.name}": g.ravel() * units.si_factor(a.unit) for a, g in zip(axes, grids)}
    from .engine import count_nodes

    run = Grid(grid).design(leaves)
    run.on_step = evaluator.stepper(count_nodes(root))
    out = run.array(root)[1:]  # a point that is not finite is an error there
    unit = root.query.display_unit
    return Sweep(query, scenario, unit, axes, (out / units.si_factor(unit)).reshape(shape))
