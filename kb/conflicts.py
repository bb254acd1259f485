"""Competing claims that disagree, the likely reason (dense/sparse, GB/GiB, bit/byte), and the spread of claims.

Two active claims of one entity and property compete when they are like with like (no grouping qualifier
differs: see ``kb.selection.compatible``); a property whose claims are of several kinds (chip TDP and
facility power, planned and operational) gets one conflict, and one spread, per kind. They disagree by the factor by which their intervals fail to
overlap: ``max(low) / min(high)`` of the pair, where an exact value is its own interval; overlapping
ranges do not disagree. A pair is listed when that factor exceeds ``factor`` (default 1.1), or when its
ratio matches a known mistake of the field, whatever the factor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .claims import is_active
from .rows import ClaimRow, PropertyRow
from .selection import compatible, kind_groups

if TYPE_CHECKING:
    from .store import Store

DEFAULT_FACTOR = 1.1


@dataclass(frozen=True)
class Disagreement:
    a: ClaimRow  # the lower claim
    b: ClaimRow
    factor: float
    label: str | None  # "possible dense/sparse mix-up", ...


@dataclass
class Conflict:
    """The active claims of one entity.property that disagree, with the pairs that do."""

    entity: str
    prop: str
    claims: list[ClaimRow]  # the active claims of one kind (see ``kind``)
    pairs: list[Disagreement] = field(default_factory=list)
    kind: str = ""  # "scope it-load", ...: the kind these claims share when the property has several; "" if one

    @property
    def factor(self) -> float:
        return max(p.factor for p in self.pairs)

    @property
    def labels(self) -> list[str]:
        return sorted({p.label for p in self.pairs if p.label})


def _interval(c: ClaimRow) -> tuple[float, float]:
    low = c["si_low"] if c["si_low"] is not None else (0.0 if c["interval_kind"] == "at_most" else c["si_value"])
    high = c["si_high"] if c["si_high"] is not None else (math.inf if c["interval_kind"] == "at_least" else c["si_value"])
    return low, high


def gap(a: ClaimRow, b: ClaimRow) -> float:
    """The factor by which two claims fail to overlap (1.0 if they overlap; inf if one is zero and the other not)."""
    (alo, ahi), (blo, bhi) = _interval(a), _interval(b)
    lo, hi = max(alo, blo), min(ahi, bhi)
    if lo <= hi:
        return 1.0
    return math.inf if hi == 0 else lo / hi


def _near(ratio: float, target: float, tolerance: float) -> bool:
    return abs(ratio / target - 1) <= tolerance


def mixup_label(prop: str, dimension: str, a: ClaimRow, b: ClaimRow) -> str | None:
    """The field's usual mistake that a pair's ratio of points points to, if any."""
    lo, hi = sorted((a["si_value"], b["si_value"]))
    if lo <= 0 or lo == hi:
        return None
    ratio = hi / lo
    if prop.endswith("_flops") or prop.endswith("_ops"):
        if _near(ratio, 2.0, 0.03):
            return "possible dense/sparse mix-up"
    if "[information]" in dimension:
        if any(_near(ratio, 1.024 ** n, 0.002) for n in (1, 2, 3, 4)):
            return "possible GB/GiB mix-up"
        if "[time]" in dimension and _near(ratio, 8.0, 0.03):
            return "possible bit/byte mix-up"
    return None


def disagreements(claims: Sequence[ClaimRow], dimension: str, factor: float = DEFAULT_FACTOR) -> list[Disagreement]:
    """Every like-with-like pair of active claims that disagrees by more than ``factor`` or looks like a mix-up."""
    active = [c for c in claims if is_active(c)]
    out = []
    for i, a in enumerate(active):
        for b in active[i + 1:]:
            if not compatible(a, b):
                continue
            f = gap(a, b)
            label = mixup_label(a["property"], dimension, a, b)
            if f > factor or label:
                low, high = sorted((a, b), key=lambda c: c["si_value"])
                out.append(Disagreement(low, high, f, label))
    return sorted(out, key=lambda d: -d.factor)


def conflicts(store: Store, entity: str | None = None, prop: str | None = None,
              factor: float = DEFAULT_FACTOR) -> list[Conflict]:
    """Every entity.property (within ``entity``/``prop`` if given) whose active claims disagree, worst first."""
    return conflicts_among(store.claims(entity, prop), store.properties(), factor)


def like_with_like(claims: Iterable[ClaimRow]) -> Iterator[tuple[str, str, str, list[ClaimRow]]]:
    """``(entity, property, kind, claims)`` for each kind of active claim of each entity.property that has two
    or more active claims (:func:`kb.selection.kind_groups`: an unqualified claim is in every kind)."""
    groups: dict[tuple[str, str], list[ClaimRow]] = {}
    for c in claims:
        if is_active(c):
            groups.setdefault((c["entity"], c["property"]), []).append(c)
    for (e, p), found in groups.items():
        if len(found) >= 2:
            for kind, group in kind_groups(found):
                yield e, p, kind, group


def conflicts_among(claims: Iterable[ClaimRow], properties: Mapping[str, PropertyRow],
                    factor: float = DEFAULT_FACTOR) -> list[Conflict]:
    """:func:`conflicts` over claims already read."""
    out = []
    seen: dict[tuple[str, str], set[tuple[str, str]]] = {}  # per entity.property: pairs already listed
    for e, p, kind, group in like_with_like(claims):  # like with like: one conflict per kind of claim
        listed = seen.setdefault((e, p), set())
        pairs = [d for d in disagreements(group, properties[p]["dimension"] if p in properties else "", factor)
                 if (d.a["id"], d.b["id"]) not in listed]  # two unqualified claims belong to every group
        listed.update((d.a["id"], d.b["id"]) for d in pairs)
        if pairs:
            out.append(Conflict(e, p, group, pairs, kind))
    return sorted(out, key=lambda c: (-c.factor, c.entity, c.prop, c.kind))


@dataclass(frozen=True)
class Spread:
    """The spread of some claims' point values (SI): min, max, max/min and geometric mean."""

    n: int
    low: float
    high: float
    ratio: float
    geomean: float


def spread(values: Iterable[float]) -> Spread | None:
    xs = [v for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return None
    low, high = min(xs), max(xs)
    ratio = math.inf if low == 0 and high > 0 else (high / low if low else 1.0)
    gm = 0.0 if low == 0 else math.exp(sum(math.log(x) for x in xs) / len(xs))
    return Spread(len(xs), low, high, ratio, gm)
