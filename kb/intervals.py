"""Sound bounds of a derivation over its box of input ranges.

The engine evaluates every formula at the point and at the corners of the input box. The corners'
min and max are the true range when the derivation is monotone in each input over the whole box;
this module proves that, or finds sound bounds when it is not:

1. ``simplify`` cancels products, quotients and constant powers (``x / x`` is 1, ``x^2 / x`` is x),
   so one quantity met twice is not treated as two;
2. interval arithmetic with interval gradients (forward mode) over the box: if every partial
   derivative's enclosure has one sign, the derivation is monotone in each input and the extremes
   are at corners (certificate ``monotone``);
3. otherwise branch and bound: the box is bisected, each piece enclosed by interval arithmetic (and
   certified monotone where it can be, so its extreme is exact), until the best value attained and
   the best bound agree to a relative 1e-9 (``branch-and-bound``, the bound reported outward); if
   the budget of boxes runs out first, or a box has an infinite end, the bound is interval
   arithmetic's (``interval``): sound, but it may be wider than the true range.

Everything is vectorised over the boxes with numpy; values are SI floats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .formula import Bin, Call, Name, Neg, Node, Num

Arr = np.ndarray
IV = tuple[Arr, Arr]
Grad = dict[str, IV]

TOLERANCE = 1e-9  # relative gap between the best attained value and the best bound
MAX_BOXES = 4096
MAX_ROUNDS = 200


@dataclass
class Bounds:
    low: float
    high: float
    method: str  # monotone | branch-and-bound | interval


# ---- simplification: products, quotients and constant powers as monomials

Mono = tuple[float, dict[str, float]]


def _mono(node: Node) -> Mono | None:
    if isinstance(node, Num):
        return node.value, {}
    if isinstance(node, Name):
        return 1.0, {node.name: 1.0}
    if isinstance(node, Neg):
        m = _mono(node.operand)
        return None if m is None else (-m[0], m[1])
    if isinstance(node, Bin) and node.op in "*/":
        a, b = _mono(node.left), _mono(node.right)
        if a is None or b is None or (node.op == "/" and b[0] == 0):
            return None
        sign = 1.0 if node.op == "*" else -1.0
        exps = dict(a[1])
        for k, e in b[1].items():
            exps[k] = exps.get(k, 0.0) + sign * e
        return (a[0] * b[0] if node.op == "*" else a[0] / b[0]), exps
    if isinstance(node, Bin) and node.op == "^" and isinstance(node.right, Num):
        a, p = _mono(node.left), node.right.value
        if a is None or not (a[0] > 0 or float(p).is_integer()):
            return None
        return a[0] ** p, {k: e * p for k, e in a[1].items()}
    if isinstance(node, Call) and node.fn == "sqrt":
        a = _mono(node.args[0])
        if a is None or a[0] < 0:
            return None
        return a[0] ** 0.5, {k: e / 2 for k, e in a[1].items()}
    return None


def _rebuild(m: Mono) -> Node:
    coef, exps = m
    out: Node | None = None
    for name, e in sorted(exps.items()):
        if abs(e) < 1e-12:
            continue
        power = Num(float(e), repr(e))
        term: Node = Name(name) if e == 1 else Bin("^", Name(name), power)
        out = term if out is None else Bin("*", out, term)
    if out is None:
        return Num(coef, repr(coef))
    return out if coef == 1 else Bin("*", Num(coef, repr(coef)), out)


def simplify(node: Node) -> Node:
    """The same function with products, quotients and constant powers of one quantity combined."""
    if isinstance(node, Bin):
        node = Bin(node.op, simplify(node.left), simplify(node.right))
    elif isinstance(node, Neg):
        node = Neg(simplify(node.operand))
    elif isinstance(node, Call):
        node = Call(node.fn, tuple(simplify(a) for a in node.args))
    m = _mono(node)
    return _rebuild(m) if m is not None and not isinstance(node, (Num, Name)) else node


# ---- interval arithmetic (arrays over boxes), with interval gradients

def _clean(x: Arr, fill: float) -> Arr:
    return np.where(np.isnan(x), fill, x)


def _mul(a: IV, b: IV) -> IV:
    with np.errstate(invalid="ignore", over="ignore"):
        p = [_clean(x * y, 0.0) for x in a for y in b]  # 0 x inf is 0 for a bound
    return np.minimum.reduce(p), np.maximum.reduce(p)


def _recip(b: IV) -> IV:
    """1 / [lo, hi]: [1/hi, 1/lo]; [1/hi, inf) when lo is 0, (-inf, 1/lo] when hi is 0; unbounded across 0."""
    lo, hi = b
    spans = (lo < 0) & (hi > 0) | ((lo == 0) & (hi == 0))
    with np.errstate(divide="ignore"):
        rlo = np.where(hi == 0, -np.inf, 1 / np.where(hi == 0, 1, hi))
        rhi = np.where(lo == 0, np.inf, 1 / np.where(lo == 0, 1, lo))
    return np.where(spans, -np.inf, rlo), np.where(spans, np.inf, rhi)


def _add(a: IV, b: IV) -> IV:
    with np.errstate(invalid="ignore"):
        return _clean(a[0] + b[0], -np.inf), _clean(a[1] + b[1], np.inf)


def _neg(a: IV) -> IV:
    return -a[1], -a[0]


def _pow_const(a: IV, p: float) -> IV:
    lo, hi = a
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if float(p).is_integer():
            n = int(p)
            if n == 0:
                return np.ones_like(lo), np.ones_like(hi)
            if n < 0:
                return _recip(_pow_const(a, -n))
            x, y = lo ** n, hi ** n
            if n % 2:
                return x, y
            low = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(x, y))
            return low, np.maximum(x, y)
        lo = np.maximum(lo, 0.0)
        x, y = lo ** p, np.maximum(hi, 0.0) ** p
        return (x, y) if p > 0 else (y, x)


def _monotone(fn: Callable[[Arr], Arr], a: IV) -> IV:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _clean(fn(a[0]), -np.inf), _clean(fn(a[1]), np.inf)


def _scale(g: Grad, f: IV) -> Grad:
    return {k: _mul(v, f) for k, v in g.items()}


def _gadd(a: Grad, b: Grad, sub: bool = False) -> Grad:
    out = dict(a)
    for k, v in b.items():
        v = _neg(v) if sub else v
        out[k] = _add(out[k], v) if k in out else v
    return out


_SIGN_ONLY: IV = (np.array([0.0]), np.array([np.inf]))  # d ceil(u) / du: zero or an upward jump


class _Enclosure:
    """Interval value and gradient of a formula over a batch of boxes."""

    def __init__(self, box: dict[str, IV], point: dict[str, float], n: int) -> None:
        self.box, self.point, self.n = box, point, n

    def __call__(self, node: Node) -> tuple[IV, Grad]:
        n = self.n
        if isinstance(node, Num):
            v = np.full(n, node.value)
            return (v, v), {}
        if isinstance(node, Name):
            if node.name in self.box:
                return self.box[node.name], {node.name: (np.ones(n), np.ones(n))}
            v = np.full(n, self.point[node.name])
            return (v, v), {}
        if isinstance(node, Neg):
            a, ga = self(node.operand)
            return _neg(a), {k: _neg(v) for k, v in ga.items()}
        if isinstance(node, Bin):
            return self._bin(node)
        assert isinstance(node, Call)
        return self._call(node)

    def _bin(self, node: Bin) -> tuple[IV, Grad]:
        a, ga = self(node.left)
        if node.op == "^" and isinstance(node.right, Num):
            p = node.right.value
            value = _pow_const(a, p)
            return value, _scale(ga, _mul(_pow_const(a, p - 1), (np.full(self.n, p), np.full(self.n, p))))
        b, gb = self(node.right)
        if node.op == "+":
            return _add(a, b), _gadd(ga, gb)
        if node.op == "-":
            return _add(a, _neg(b)), _gadd(ga, gb, sub=True)
        if node.op == "*":
            return _mul(a, b), _gadd(_scale(ga, b), _scale(gb, a))
        if node.op == "/":
            inv = _recip(b)
            q = _mul(a, inv)
            return q, _gadd(_scale(ga, inv), _scale(gb, _mul(q, inv)), sub=True)
        # a ^ b with b ranged: exp(b log a), a > 0
        la = _monotone(np.log, (np.maximum(a[0], 0.0), a[1]))
        value = _monotone(np.exp, _mul(b, la))
        inner = _gadd(_scale(gb, la), _scale(ga, _mul(b, _recip(a))))
        return value, _scale(inner, value)

    def _call(self, node: Call) -> tuple[IV, Grad]:
        parts = [self(arg) for arg in node.args]
        (a, ga) = parts[0]
        fn = node.fn
        if fn in ("min", "max"):
            pick = np.minimum if fn == "min" else np.maximum
            lo, hi = a
            grad = dict(ga)
            for b, gb in parts[1:]:
                lo, hi = pick(lo, b[0]), pick(hi, b[1])
                for k in set(grad) | set(gb):  # the hull: monotone in each argument
                    x = grad.get(k, (np.zeros(self.n), np.zeros(self.n)))
                    y = gb.get(k, (np.zeros(self.n), np.zeros(self.n)))
                    grad[k] = (np.minimum(x[0], y[0]), np.maximum(x[1], y[1]))
            return (lo, hi), grad
        if fn == "sqrt":
            value = _monotone(np.sqrt, (np.maximum(a[0], 0.0), np.maximum(a[1], 0.0)))
            return value, _scale(ga, _mul(_recip(value), (np.full(self.n, 0.5), np.full(self.n, 0.5))))
        if fn in ("log", "log10"):
            value = _monotone(np.log if fn == "log" else np.log10, (np.maximum(a[0], 0.0), a[1]))
            scale = 1.0 if fn == "log" else 1 / float(np.log(10))
            return value, _scale(ga, _mul(_recip(a), (np.full(self.n, scale), np.full(self.n, scale))))
        if fn == "exp":
            value = _monotone(np.exp, a)
            return value, _scale(ga, value)
        if fn in ("ceil", "floor"):
            from .formula import _near_int  # values within 1e-9 of a whole number count as it, as when evaluated

            step = np.ceil if fn == "ceil" else np.floor
            value = _monotone(lambda v: step(_near_int(v)), a)
            return value, _scale(ga, (np.zeros(self.n), np.full(self.n, np.inf)))
        assert fn == "abs"
        lo, hi = a
        spans = (lo < 0) & (hi > 0)
        value = (np.where(spans, 0.0, np.minimum(np.abs(lo), np.abs(hi))), np.maximum(np.abs(lo), np.abs(hi)))
        sign = (np.where(hi <= 0, -1.0, np.where(lo >= 0, 1.0, -1.0)), np.where(lo >= 0, 1.0, np.where(hi <= 0, -1.0, 1.0)))
        return value, _scale(ga, sign)


def _definite(grad: Grad, names: list[str], n: int) -> tuple[Arr, dict[str, Arr]]:
    """Per box: whether every partial has one sign, and each partial's sign (+1 up, -1 down, 0 flat)."""
    ok = np.ones(n, dtype=bool)
    signs = {}
    for name in names:
        lo, hi = grad.get(name, (np.zeros(n), np.zeros(n)))
        up, down = lo >= 0, hi <= 0
        ok &= (up | down) & ~np.isnan(lo) & ~np.isnan(hi)
        signs[name] = np.where(up & down, 0.0, np.where(up, 1.0, -1.0))
    return ok, signs


def _values(fn: Callable[[dict[str, Arr]], Arr], env: dict[str, Arr | float], n: int) -> Arr:
    """The formula at ``n`` points; NaN where (or, if it refuses the batch, everywhere) it is undefined."""
    from .errors import EvaluationError

    try:
        with np.errstate(all="ignore"):
            out: Arr = np.broadcast_to(np.asarray(fn(env), dtype=np.float64), (n,)).copy()  # type: ignore[arg-type]
            return out
    except EvaluationError:
        return np.full(n, np.nan)


def bounds(tree: Node, fn: Callable[[dict[str, Arr]], Arr], box: dict[str, tuple[float, float]],
           point: dict[str, float], known: tuple[float, float]) -> Bounds:
    """Sound (low, high) of ``tree`` (compiled as ``fn``) over ``box``; ``known`` are values attained (the
    corners' min and max), and the answer when the derivation is certified monotone."""
    names = sorted(box)
    lo = np.array([box[k][0] for k in names])
    hi = np.array([box[k][1] for k in names])
    iv, grad = _Enclosure({k: (lo[i:i + 1], hi[i:i + 1]) for i, k in enumerate(names)}, point, 1)(tree)
    ok, _ = _definite(grad, names, 1)
    # monotone only where it is continuous: a value enclosure that is unbounded may hide a pole (1 / (x - 1))
    ok &= np.isfinite(iv[0]) & np.isfinite(iv[1])
    if ok[0]:
        return Bounds(known[0], known[1], "monotone")
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return Bounds(min(known[0], float(iv[0][0])), max(known[1], float(iv[1][0])), "interval")
    method = "branch-and-bound"
    ends = []
    for sense, seen in ((-1.0, -known[0]), (1.0, known[1])):
        try:
            ends.append(sense * _extreme(tree, fn, names, lo, hi, point, sense, seen))
        except _Unconverged as stop:  # the budget ran out first: a sound bound, perhaps wider than the range
            ends.append(sense * stop.bound)
            method = "interval"
    return Bounds(min(ends[0], known[0]), max(ends[1], known[1]), method)


def _extreme(tree: Node, fn: Callable[[dict[str, Arr]], Arr], names: list[str], lo0: Arr, hi0: Arr,
             point: dict[str, float], sense: float, best: float) -> float:
    """The maximum of ``sense * f`` over the box, soundly (never below the true maximum)."""
    los, his = lo0[None, :], hi0[None, :]
    width0 = np.where(hi0 > lo0, hi0 - lo0, 1.0)
    for _ in range(MAX_ROUNDS):
        n = len(los)
        env = {k: (los[:, i], his[:, i]) for i, k in enumerate(names)}
        (vlo, vhi), grad = _Enclosure(env, point, n)(tree)
        bound = vhi if sense > 0 else -vlo
        bound = np.where(np.isnan(bound), np.inf, bound)
        ok, signs = _definite(grad, names, n)
        ok &= np.isfinite(vlo) & np.isfinite(vhi)  # no pole inside a box certified monotone
        # each certified box's extreme, at the corner its signs point to; every box's midpoint
        corner = {k: np.where(sense * signs[k] >= 0, his[:, i], los[:, i]) for i, k in enumerate(names)}
        mid = {k: (los[:, i] + his[:, i]) / 2 for i, k in enumerate(names)}
        at_corner, at_mid = _values(fn, {**point, **corner}, n) * sense, _values(fn, {**point, **mid}, n) * sense
        ok &= np.isfinite(at_corner)  # a corner the formula cannot evaluate is bounded by intervals instead
        if np.isnan(at_mid).any():  # a point inside the box where the formula is undefined (sqrt of a negative)
            i = int(np.flatnonzero(np.isnan(at_mid))[0])
            raise Undefined(", ".join(f"{k.split(':')[-1]} = {mid[k][i]:.4g}" for k in names))
        # the mean-value form, sense * f(X) <= sense * f(c) + sum of the gradient's enclosure times (X - c):
        # much tighter than the natural enclosure on small boxes, where the dependency problem bites
        slope = np.zeros(n)
        for i, k in enumerate(names):
            glo, ghi = grad.get(k, (np.zeros(n), np.zeros(n)))
            d_lo, d_hi = los[:, i] - mid[k], his[:, i] - mid[k]
            with np.errstate(invalid="ignore", over="ignore"):
                terms = [sense * g * d for g in (glo, ghi) for d in (d_lo, d_hi)]
                slope += np.nan_to_num(np.maximum.reduce(terms), nan=np.inf)
        with np.errstate(invalid="ignore"):
            mean_value = np.where(np.isfinite(at_mid), at_mid + slope, np.inf)
        bound = np.minimum(bound, np.where(np.isnan(mean_value), np.inf, mean_value))
        for seen in (at_corner[ok], at_mid):
            seen = seen[np.isfinite(seen)]
            if seen.size:
                best = max(best, float(seen.max()))
        bound = np.where(ok, at_corner, bound)
        tol = TOLERANCE * max(abs(best), 1e-300)
        keep = ~ok & (bound > best + tol)
        if not keep.any():
            return max(best, float(bound.max()))  # every box's bound: outward, within the tolerance of the best
        if 2 * int(keep.sum()) > MAX_BOXES:
            raise _Unconverged(max(best, float(bound.max())))  # sound, not tight
        los, his = los[keep], his[keep]
        widest = np.argmax((his - los) / width0, axis=1)
        rows = np.arange(len(los))
        middle = (los[rows, widest] + his[rows, widest]) / 2
        left_hi, right_lo = his.copy(), los.copy()
        left_hi[rows, widest] = middle
        right_lo[rows, widest] = middle
        los, his = np.concatenate([los, right_lo]), np.concatenate([left_hi, his])
    env = {k: (los[:, i], his[:, i]) for i, k in enumerate(names)}
    (vlo, vhi), _ = _Enclosure(env, point, len(los))(tree)
    rest = vhi if sense > 0 else -vlo
    raise _Unconverged(max(best, float(np.where(np.isnan(rest), np.inf, rest).max())))


class Undefined(Exception):  # noqa: N818
    """The formula has no value at a point inside the input box (named in the message)."""


class _Unconverged(Exception):  # noqa: N818  (a result, not an error: the sound bound found)
    def __init__(self, bound: float) -> None:
        self.bound = bound
