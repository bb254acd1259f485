"""Values as written: ``989.4``, ``~6``, ``24 to 27``, ``>=5``, ``<=300``; and partial dates.

A parsed value keeps its interval kind, a point value, and bounds, all in the
unit it was written in. Range semantics are recorded, never implied:
``range`` means hard bounds, ``ci90`` a 90% interval (as Squiggle reads
"a to b"), ``at_least``/``at_most`` one-sided bounds, ``approximate`` a point
the source hedged ("about 6 seconds").
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from .errors import ValueSyntaxError

INTERVAL_KINDS = ("exact", "approximate", "range", "ci90", "at_least", "at_most")
_NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"  # ASCII digits only
_RANGE_RE = rf"({_NUMBER})\s*(?:to|–|-|\.\.)\s*({_NUMBER})"
_ONE_SIDED_RE = rf"(>=|<=|>|<|≥|≤)\s*({_NUMBER})"
_APPROX_RE = rf"(?:~|≈|about\s+)\s*({_NUMBER})"
_RANGE = re.compile(rf"^{_RANGE_RE}$")
_ONE_SIDED = re.compile(rf"^{_ONE_SIDED_RE}$")
_APPROX = re.compile(rf"^{_APPROX_RE}$")
_PLAIN = re.compile(rf"^{_NUMBER}$")
GROUPED_DIGITS = re.compile(r"[0-9],[0-9]")  # 16,384: refused everywhere, with a hint
# a value followed by an optional unit ("2 to 4 month", "40 %", "~6 s"): the one grammar for every value
_QUANTITY = re.compile(rf"^\s*(?P<value>{_RANGE_RE}|{_ONE_SIDED_RE}|{_APPROX_RE}|{_NUMBER})(?![0-9.,eE])\s*(?P<unit>.*?)\s*$")


def split_quantity(text: str) -> tuple[str, str] | None:
    """``"2 to 4 month"`` -> ("2 to 4", "month"); None if it does not start with a value."""
    m = _QUANTITY.match(text or "")
    return (m.group("value"), m.group("unit")) if m else None


@dataclass(frozen=True)
class Value:
    """A value in its own unit. ``low``/``high`` are None where there is no bound."""

    text: str
    kind: str
    point: float
    low: float | None = None
    high: float | None = None

    @property
    def ranged(self) -> bool:
        return self.kind in ("range", "ci90", "at_least", "at_most")


def _num(text: str, original: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueSyntaxError(f"value {original!r} is not a finite number")
    if value == 0 and re.search(r"[1-9]", text.lower().split("e")[0]):
        raise ValueSyntaxError(f"value {original!r} is too small to represent")
    if value < 0:
        raise ValueSyntaxError(f"value {original!r} is negative; every quantity here (a size, count, rate, "
                               "price or fraction) is zero or more")
    return value


def parse_value(text: str, *, interval: str | None = None, point: str | None = None) -> Value:
    """Parse a value as written. ``interval='ci90'`` marks an ``a to b`` as a 90% interval."""
    raw = (text or "").strip()
    if not raw:
        raise ValueSyntaxError("empty value; write a number such as 989.4, ~6, '24 to 27' or '>=5'")
    if interval is not None and interval not in ("range", "ci90"):
        raise ValueSyntaxError(f"interval {interval!r} is not one of: range, ci90")
    if m := _RANGE.match(raw):
        low, high = _num(m.group(1), raw), _num(m.group(2), raw)
        if low > high:
            raise ValueSyntaxError(f"range {raw!r} has its low end above its high end")
        mid = _num(point, raw) if point is not None else low / 2 + high / 2  # no overflow near 1e308
        mid = min(max(mid, low), high) if point is None else mid
        if not low <= mid <= high:
            raise ValueSyntaxError(f"point value {point} lies outside the range {raw!r}")
        return Value(raw, interval or "range", mid, low, high)
    if interval is not None:
        raise ValueSyntaxError(f"interval {interval!r} needs a range such as '24 to 27', not {raw!r}")
    if point is not None:
        raise ValueSyntaxError(f"a point value is only for ranges, not {raw!r}")
    if m := _ONE_SIDED.match(raw):
        bound = _num(m.group(2), raw)
        if m.group(1) in (">=", ">", "≥"):
            return Value(raw, "at_least", bound, bound, None)
        return Value(raw, "at_most", bound, None, bound)
    if m := _APPROX.match(raw):
        return Value(raw, "approximate", _num(m.group(1), raw))
    if _PLAIN.match(raw):
        return Value(raw, "exact", _num(raw, raw))
    hint = " (no thousands separators: 16384, not 16,384)" if GROUPED_DIGITS.search(raw) else ""
    raise ValueSyntaxError(
        f"value {raw!r} does not parse{hint}; write 989.4, 1.6e12, ~6, '24 to 27', '>=150' or '<=300'"
    )


_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def parse_date(text: str | None, what: str = "date") -> tuple[str | None, str | None]:
    """A partial ISO date (``2024``, ``2024-07``, ``2024-07-23``) and its precision."""
    if text is None or not str(text).strip():
        return None, None
    raw = str(text).strip()
    m = _DATE.match(raw)
    if not m:
        raise ValueSyntaxError(f"{what} {raw!r} is not a date; write 2024, 2024-07 or 2024-07-23")
    year, month, day = m.groups()
    try:
        dt.date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise ValueSyntaxError(f"{what} {raw!r} is not a real date") from None
    return raw, ("day" if day else "month" if month else "year")


def parse_timestamp(text: str, what: str = "time") -> str:
    """A recorded-at time: a date (end of that day) or an ISO timestamp, normalised to UTC ``...Z``."""
    raw = str(text).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            stamp = dt.datetime.fromisoformat(raw).replace(hour=23, minute=59, second=59, tzinfo=dt.UTC)
        else:
            stamp = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=dt.UTC)
    except ValueError:
        raise ValueSyntaxError(f"{what} {raw!r} is not a date or ISO timestamp") from None
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
