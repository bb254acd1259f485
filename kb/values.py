"""Values as written: ``989.4``, ``~6``, ``24 to 27``, ``>=5``, ``100K``, ``40 ± 5``; and partial dates.

A parsed value keeps its interval kind, a point value, and bounds, all in the
unit it was written in. Range semantics are recorded, never implied:
``range`` means hard bounds, ``ci90`` a 90% interval (as Squiggle reads
"a to b"), ``at_least``/``at_most`` one-sided bounds, ``approximate`` a point
the source hedged ("about 6 seconds").

The grammar (one for facts, ``--set`` and scenario values)::

    value    := hedge? (between | one_sided | body)
    hedge    := "~" | "≈" | "about" | "approximately" | "around" | "roughly" | "circa"
    between  := "between" number "and" number
    one_sided:= (">=" | ">" | "≥" | "at least" | "more than" | "over"
                | "<=" | "<" | "≤" | "at most" | "less than" | "up to") number
    body     := number (("to" | "-" | "–" | "—" | "..") number | ("±" | "+/-") number)?
    number   := digits ("." digits)? (e exponent)? suffix? "%"?
    suffix   := K | k (thousand) | M (million) | B (billion) | T (trillion), written against the digits

A suffix or ``%`` written only on the high end of a range applies to both ends (``5 to 10M``, ``35 to 45%``).
A hedged range (``~269e3 to 270e3``) is a range whose text keeps the hedge.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from .errors import ValueSyntaxError

INTERVAL_KINDS = ("exact", "approximate", "range", "ci90", "at_least", "at_most")
ACCEPTED_FORMS = ("989.4, 1.6e12, 100K, ~6, '24 to 27', '24-27', 'between 24 and 27', '40 ± 5', "
                  "'>=5', 'at least 5', '<=300', '35% to 45%'")
SUFFIXES = {"K": 1e3, "k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
GROUPED_DIGITS = re.compile(r"[0-9],[0-9]{3}")  # 16,384: refused everywhere, with a hint

_NUM = re.compile(r"(?P<num>(?:[0-9]+(?:\.(?!\.)[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)(?P<suffix>[KkMBT](?![A-Za-z0-9_/*^(]))?"
                  r"(?P<pct>\s*%)?")
_PLAIN = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_HEDGES = ("approximately", "roughly", "around", "about", "circa", "~", "≈")
_AT_LEAST = ("at least", "more than", "over", ">=", "≥", ">")
_AT_MOST = ("at most", "less than", "up to", "<=", "≤", "<")
_RANGE_SEPS = ("to", "..", "–", "—", "-")
_PLUS_MINUS = ("±", "+/-")


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


@dataclass(frozen=True)
class _Num:
    value: float
    suffix: str | None
    percent: bool


class _Scanner:
    """Reads a value from the start of ``text``; ``pos`` is where the value ends (a unit may follow)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def word(self, options: tuple[str, ...]) -> str | None:
        """One of ``options`` at the current position (whole words for letters), or None."""
        self._skip()
        for opt in options:
            end = self.pos + len(opt)
            if self.text[self.pos:end].lower() != opt:
                continue
            if opt[-1].isalpha() and end < len(self.text) and (self.text[end].isalnum() or self.text[end] == "_"):
                continue
            self.pos = end
            return opt
        return None

    def number(self) -> _Num | None:
        self._skip()
        if self.text.startswith("-", self.pos) and _NUM.match(self.text, self.pos + 1):
            raise ValueSyntaxError(f"value {self.text.strip()!r} is negative; every quantity here (a size, count, "
                                   "rate, price or fraction) is zero or more")
        m = _NUM.match(self.text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        return _Num(_finite(m.group("num"), self.text), m.group("suffix"), bool(m.group("pct")))


def _finite(text: str, original: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueSyntaxError(f"value {original.strip()!r} is not a finite number")
    if value == 0 and re.search(r"[1-9]", text.lower().split("e")[0]):
        raise ValueSyntaxError(f"value {original.strip()!r} is too small to represent")
    return value


def _scaled(n: _Num, suffix: str | None, original: str) -> float:
    value = n.value * (SUFFIXES[suffix] if suffix else 1.0)
    if not math.isfinite(value):
        raise ValueSyntaxError(f"value {original.strip()!r} is not a finite number")
    return value


def _read(text: str) -> tuple[str, float, float | None, float | None, bool, int]:
    """(kind, point, low, high, percent, end) for the value at the start of ``text``; kind is one of
    exact, approximate, range, plusminus, at_least, at_most (before ``interval=`` is applied)."""
    s = _Scanner(text)
    hedged = s.word(_HEDGES) is not None
    if s.word(("between",)):
        a = s.number()
        if a is None or not s.word(("and",)):
            raise _syntax(text)
        b = s.number()
        if b is None:
            raise _syntax(text)
        return _range("range", a, b, text) + (s.pos,)
    for options, kind in ((_AT_LEAST, "at_least"), (_AT_MOST, "at_most")):
        if s.word(options):
            n = s.number()
            if n is None:
                raise _syntax(text)
            bound = _scaled(n, n.suffix, text)
            return kind, bound, (bound if kind == "at_least" else None), (bound if kind == "at_most" else None), \
                n.percent, s.pos
    a = s.number()
    if a is None:
        raise _syntax(text)
    after_a = s.pos
    if s.word(_PLUS_MINUS):
        b = s.number()
        if b is None:
            raise _syntax(text)
        centre, spread = _scaled(a, a.suffix, text), _scaled(b, b.suffix or a.suffix, text)
        if spread > centre:
            raise ValueSyntaxError(f"value {text.strip()!r} reaches below zero; every quantity here is zero or more")
        return "plusminus", centre, centre - spread, centre + spread, a.percent or b.percent, s.pos
    sep = s.word(_RANGE_SEPS)
    if sep is not None:
        b = s.number()
        if b is not None:
            return _range("range", a, b, text) + (s.pos,)
        if sep != "to":  # "5 - x" is not a value; "2 to" neither
            raise _syntax(text)
        s.pos = after_a
    point = _scaled(a, a.suffix, text)
    return ("approximate" if hedged else "exact"), point, None, None, a.percent, after_a


def _range(kind: str, a: _Num, b: _Num, text: str) -> tuple[str, float, float, float, bool]:
    if a.percent and not b.percent:
        raise ValueSyntaxError(f"value {text.strip()!r}: write '%' on the high end or on both ends of a range")
    suffix_a = a.suffix or (b.suffix if b.suffix and not a.percent else None)  # "5 to 10M": both ends in millions
    low, high = _scaled(a, suffix_a, text), _scaled(b, b.suffix, text)
    if low > high:
        raise ValueSyntaxError(f"range {text.strip()!r} has its low end above its high end")
    return kind, low / 2 + high / 2, low, high, b.percent  # halves first: no overflow near 1e308


def _syntax(text: str) -> ValueSyntaxError:
    hint = " (no thousands separators: 16384, not 16,384)" if GROUPED_DIGITS.search(text) else ""
    return ValueSyntaxError(f"value {text.strip()!r} does not parse{hint}; write {ACCEPTED_FORMS}")


def _value(text: str, kind: str, point: float, low: float | None, high: float | None,
           interval: str | None, point_text: str | None) -> Value:
    raw = text.strip()
    if interval is not None and interval not in ("range", "ci90"):
        raise ValueSyntaxError(f"interval {interval!r} is not one of: range, ci90")
    if kind in ("range", "plusminus"):
        if point_text is not None:
            if not _PLAIN.fullmatch(point_text.strip()):  # "abc", "2 to 3": not float()'s ValueError
                raise ValueSyntaxError(f"point {point_text.strip()!r} is not a plain number such as 25 (the point "
                                       f"value of the range {raw!r})")
            mid = _finite(point_text.strip(), point_text)
            if not (low is not None and high is not None and low <= mid <= high):
                raise ValueSyntaxError(f"point value {point_text} lies outside the range {raw!r}")
            point = mid
        assert low is not None and high is not None
        return Value(raw, interval or "range", min(max(point, low), high), low, high)
    if interval is not None:
        raise ValueSyntaxError(f"interval {interval!r} needs a range such as '24 to 27', not {raw!r}")
    if point_text is not None:
        raise ValueSyntaxError(f"a point value is only for ranges, not {raw!r}")
    return Value(raw, kind, point, low, high)


def parse_value(text: str, *, interval: str | None = None, point: str | None = None,
                percent_ok: bool = False) -> Value:
    """Parse a value as written. ``interval='ci90'`` marks an ``a to b`` as a 90% interval.
    A ``%`` in the text is refused unless ``percent_ok`` (use :func:`parse_quantity` to read it as the unit)."""
    raw = (text or "").strip()
    if not raw:
        raise ValueSyntaxError(f"empty value; write a number such as {ACCEPTED_FORMS}")
    if _PLAIN.fullmatch(raw) and interval is None and point is None:  # most imported cells: one plain number
        return Value(raw, "exact", _finite(raw, raw))
    kind, pt, low, high, percent, end = _read(raw)
    if end != len(raw):
        raise _syntax(raw)
    if percent and not percent_ok:
        raise ValueSyntaxError(f"value {raw!r}: give '%' as the unit, not in the value")
    return _value(raw, kind, pt, low, high, interval, point)


def split_quantity(text: str) -> tuple[Value, str] | None:
    """``"2 to 4 month"`` -> (Value 2..4, "month"); ``"35% to 45%"`` -> (Value 35..45, "%"); None if no value leads."""
    raw = (text or "").strip()
    try:
        kind, pt, low, high, percent, end = _read(raw)
    except ValueSyntaxError as exc:
        if "does not parse" in exc.message:
            return None
        raise
    unit = raw[end:].strip()
    value_text = raw[:end].strip()
    if percent:
        if unit:
            raise ValueSyntaxError(f"{raw!r} has two units ('%' and {unit!r}); give one")
        unit = "%"
    if unit and (unit[0].isdigit() or unit[0] in ".,"):
        return None
    return _value(value_text, kind, pt, low, high, None, None), unit


_DATE = re.compile(r"^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$")


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
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            stamp = dt.datetime.fromisoformat(raw).replace(hour=23, minute=59, second=59, tzinfo=dt.UTC)
        else:
            stamp = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (ValueError, OverflowError):
        raise ValueSyntaxError(f"{what} {raw!r} is not a date or ISO timestamp") from None


def now_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
