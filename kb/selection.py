"""Which claims a reference means: pins that cannot miss, like-with-like, and combining several claims.

Pure functions over annotated claims (``ClaimRow``). One rule for every reader (scenario bindings,
template helpers, ``--across``):

- no pin: the best active claim by the policy; the active claims must be of one kind (no two differ in
  scope, status or configuration), else the reference is ambiguous and must be pinned;
- pins (``source``, ``locator``, ``as_of``, ``method``, ``confidence``, ``rank``, a qualifier, or ``id``):
  exactly one active claim must match (or several that give the same value: the best of them is used),
  else an error lists the candidates;
- ``combine`` (min, max, median, geomean, span): every matching active claim, all of one kind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .claims import GROUP_QUALIFIERS, is_active, normalise_text, policy_key
from .errors import AmbiguousClaims, KBError, PinMissError
from .numfmt import claim_text
from .rows import ClaimRow

PIN_KEYS = ("id", "source", "locator", "as_of", "method", "confidence", "rank", "scope", "status", "configuration",
            "conditions", "dollar_year", "method_detail")
COMBINE = ("min", "max", "median", "geomean", "span")
_TEXT_PINS = ("locator", "conditions", "method_detail")  # compared without regard to case and spacing
_MAX_LISTED = 6


def kind_of(claim: Mapping[str, object]) -> tuple[object, ...]:
    return tuple(claim.get(q) for q in GROUP_QUALIFIERS)


def compatible(a: Mapping[str, object], b: Mapping[str, object]) -> bool:
    """Like with like: every grouping qualifier equal, or unstated on one side."""
    return all(a.get(q) is None or b.get(q) is None or a.get(q) == b.get(q) for q in GROUP_QUALIFIERS)


def kind_groups(claims: Sequence[ClaimRow]) -> list[tuple[str, list[ClaimRow]]]:
    """Claims split into groups of one kind each, labelled (``"scope it-load"``; ``""`` for one unqualified group).

    One group per most specific kind; a claim that leaves a qualifier unstated joins every group it is
    compatible with, so like is compared with like and nothing is dropped.
    """
    kinds = list(dict.fromkeys(kind_of(c) for c in claims))

    def covers(big: tuple[object, ...], small: tuple[object, ...]) -> bool:
        return big != small and all(s is None or s == b for b, s in zip(big, small))

    top = [k for k in kinds if not any(covers(o, k) for o in kinds)]
    if len(top) <= 1:
        return [("", list(claims))]
    out = []
    for k in top:
        label = ", ".join(f"{q} {v}" for q, v in zip(GROUP_QUALIFIERS, k) if v is not None) or "unqualified"
        out.append((label, [c for c in claims if all(a is None or a == b for a, b in zip(kind_of(c), k))]))
    return out


def describe(claim: ClaimRow) -> str:
    """``3c4d5e6f7a8b (455 MW, semianalysis-trainium2, Section X, status operational)``: a candidate in a message."""
    parts = [claim_text(claim), claim["source"]]
    if claim.get("locator"):
        parts.append(str(claim["locator"])[:60])
    parts += [f"{q} {claim[q]}" for q in GROUP_QUALIFIERS if claim.get(q)]  # type: ignore[literal-required]
    if claim.get("as_of"):
        parts.append(f"as of {claim['as_of']}")
    return f"{claim['id']} ({', '.join(parts)})"


def listed(claims: Sequence[ClaimRow]) -> str:
    shown = "; ".join(describe(c) for c in claims[:_MAX_LISTED])
    return shown + (f"; and {len(claims) - _MAX_LISTED} more" if len(claims) > _MAX_LISTED else "")


def _matches(claim: ClaimRow, key: str, want: str) -> bool:
    got = claim.get(key)
    if got is None:
        return False
    if key in _TEXT_PINS:
        return normalise_text(str(got)).casefold() == normalise_text(want).casefold()
    return str(got) == want


def _value_key(c: ClaimRow) -> tuple[object, ...]:
    """Claims that give the same value (to 9 significant figures) cannot give a different result."""
    return (c["interval_kind"],) + tuple(None if v is None else float(f"{v:.9g}") for v in (c["si_value"], c["si_low"], c["si_high"]))


def different_kinds(claims: Sequence[ClaimRow]) -> tuple[ClaimRow, ClaimRow] | None:
    """Two claims that are not like with like, or None."""
    for i, a in enumerate(claims):
        for b in claims[i + 1:]:
            if not compatible(a, b):
                return a, b
    return None


def _kinds_message(ref: str, claims: Sequence[ClaimRow]) -> str:
    a, b = different_kinds(claims) or (claims[0], claims[0])
    q = next(q for q in GROUP_QUALIFIERS if a.get(q) != b.get(q))
    values = sorted({str(c.get(q)) for c in claims if c.get(q) is not None})
    return (f"{ref} has claims of different {q} ({', '.join(values)}): they are different quantities, not competing "
            f"values; pin one with {q}: {values[0]} (candidates: {listed(claims)})")


def select(claims: Sequence[ClaimRow], ref: str, pins: Mapping[str, str] | None = None,
           combine: str | None = None) -> list[ClaimRow]:
    """The claims ``ref`` means under ``pins`` (one, or several with ``combine``), from all its claims at the time."""
    pins = {k: v for k, v in (pins or {}).items() if v is not None}
    unknown = sorted(set(pins) - set(PIN_KEYS))
    if unknown:
        raise KBError(f"unknown pin {unknown[0]!r}; pin a claim by one of: {', '.join(PIN_KEYS)}")
    if combine is not None and combine not in COMBINE:
        raise KBError(f"combine {combine!r} is not one of: {', '.join(COMBINE)}")
    active = [c for c in claims if is_active(c)]
    if "id" in pins:
        found = [c for c in claims if c["id"].startswith(pins["id"])]
        if len(found) != 1:
            raise PinMissError("fact", pins["id"], hint=f"no single claim of {ref} has this id"
                               + (f"; its active claims: {listed(active)}" if active else ""))
        claim = found[0]
        if claim["superseded_by"]:
            raise PinMissError("fact", pins["id"], hint=f"it is superseded by {claim['superseded_by']}; pin that one")
        if claim["effective_rank"] == "deprecated" and pins.get("rank") != "deprecated":
            raise PinMissError("fact", pins["id"], hint="it is deprecated; pin another claim, or add rank: deprecated")
        rest = {k: v for k, v in pins.items() if k != "id"}
        if rest and not all(k == "rank" and v == claim["effective_rank"] or _matches(claim, k, v)
                            for k, v in rest.items()):
            raise PinMissError("fact", pins["id"], hint=f"claim {describe(claim)} does not match the other pins")
        return [claim]
    rank = pins.get("rank")
    pool = [c for c in claims if not c["superseded_by"]
            and (c["effective_rank"] == rank if rank else c["effective_rank"] != "deprecated")]
    found = [c for c in pool if all(_matches(c, k, v) for k, v in pins.items() if k != "rank")]
    found.sort(key=policy_key)
    if not found:
        pinned = ", ".join(f"{k}: {v}" for k, v in pins.items())
        if not pool:
            others = [c for c in claims if not c["superseded_by"] and c["effective_rank"] != "deprecated"]
            if others:  # pinned by rank: none has it, but there are claims to choose from
                raise PinMissError("fact", ref, hint=f"pinned {pinned}; candidates: {listed(others)}")
            raise PinMissError("fact", ref, hint=f"pinned {pinned}; it has no active claims" if pinned else "")
        raise PinMissError("fact", ref, hint=f"pinned {pinned}; candidates: {listed(pool)}")
    if combine is not None:
        if different_kinds(found):
            raise AmbiguousClaims(_kinds_message(ref, found) + "; combine uses claims of one kind")
        return found
    if pins and len(found) > 1 and len({_value_key(c) for c in found}) > 1:
        pinned = ", ".join(f"{k}: {v}" for k, v in pins.items())
        raise AmbiguousClaims(f"{len(found)} active claims of {ref} match {pinned}: {listed(found)}; add a pin "
                              "(locator, as_of, a qualifier or id) or combine them (combine: median, span, ...)")
    if different_kinds(found):
        raise AmbiguousClaims(_kinds_message(ref, found))
    return found[:1]


@dataclass(frozen=True)
class Combined:
    """Several claims as one quantity, in SI: the point and the bounds (None where open or absent)."""

    point: float
    low: float | None
    high: float | None


def _ends(c: ClaimRow) -> tuple[float, float]:
    low = c["si_low"] if c["si_low"] is not None else (0.0 if c["interval_kind"] == "at_most" else c["si_value"])
    high = c["si_high"] if c["si_high"] is not None else (math.inf if c["interval_kind"] == "at_least" else c["si_value"])
    return low, high


def _reduce(how: str, xs: list[float]) -> float:
    if how == "min":
        return min(xs)
    if how == "max":
        return max(xs)
    if how == "geomean":
        if any(x == 0 for x in xs):
            return 0.0
        if any(math.isinf(x) for x in xs):
            return math.inf
        return math.exp(sum(math.log(x) for x in xs) / len(xs))
    ordered = sorted(xs)  # median
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else ordered[mid - 1] / 2 + ordered[mid] / 2


def combine_claims(claims: Sequence[ClaimRow], how: str) -> Combined:
    """min, max, median, geomean: applied to the points and to each end; span: lowest low to highest high
    (its point is the median of the points)."""
    points = [c["si_value"] for c in claims]
    ends = [_ends(c) for c in claims]
    if how == "span":
        point, low, high = _reduce("median", points), min(e[0] for e in ends), max(e[1] for e in ends)
    else:
        point, low, high = _reduce(how, points), _reduce(how, [e[0] for e in ends]), _reduce(how, [e[1] for e in ends])
    open_low = any(c["interval_kind"] == "at_most" for c in claims) and low == 0
    lo = None if open_low else low
    hi = None if math.isinf(high) else high
    if lo is not None and hi is not None and lo == hi == point:
        return Combined(point, None, None)
    return Combined(point, lo, hi)
