"""Values as written (989.4, ~6, '24 to 27', '>=150') and partial dates."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kb.errors import ValueSyntaxError
from kb.values import parse_date, parse_timestamp, parse_value


@pytest.mark.parametrize(
    ("text", "kwargs", "kind", "point", "low", "high"),
    [
        ("989.4", {}, "exact", 989.4, None, None),
        ("1.6e12", {}, "exact", 1.6e12, None, None),
        ("  42 ", {}, "exact", 42.0, None, None),
        ("~6", {}, "approximate", 6.0, None, None),
        ("about 6", {}, "approximate", 6.0, None, None),
        ("24 to 27", {}, "range", 25.5, 24.0, 27.0),
        ("24 to 27", {"point": "25"}, "range", 25.0, 24.0, 27.0),
        ("24..27", {}, "range", 25.5, 24.0, 27.0),
        ("24 – 27", {}, "range", 25.5, 24.0, 27.0),
        ("5 to 5", {}, "range", 5.0, 5.0, 5.0),
        ("24 to 27", {"interval": "ci90"}, "ci90", 25.5, 24.0, 27.0),
        ("1e3 to 3e3", {"interval": "range"}, "range", 2000.0, 1000.0, 3000.0),
        (">=150", {}, "at_least", 150.0, 150.0, None),
        (">5", {}, "at_least", 5.0, 5.0, None),
        ("≥ 150", {}, "at_least", 150.0, 150.0, None),
        ("<=300", {}, "at_most", 300.0, None, 300.0),
        ("<300", {}, "at_most", 300.0, None, 300.0),
    ],
)
def test_parse_value_table(text, kwargs, kind, point, low, high):
    v = parse_value(text, **kwargs)
    assert v.text == text.strip()
    assert v.kind == kind
    assert v.point == point
    assert v.low == low
    assert v.high == high
    assert v.ranged == (kind in ("range", "ci90", "at_least", "at_most"))


@pytest.mark.parametrize(
    ("text", "kwargs", "fragment"),
    [
        ("abc", {}, "does not parse"),
        ("27 to 24", {}, "low end above its high end"),
        ("", {}, "empty value"),
        ("   ", {}, "empty value"),
        (None, {}, "empty value"),
        ("inf", {}, "does not parse"),
        ("nan", {}, "does not parse"),
        ("1e400", {}, "not a finite number"),
        ("989.4 TFLOP/s", {}, "does not parse"),
        ("1,000", {}, "does not parse"),
        ("24 to 27", {"point": "30"}, "outside the range"),
        ("24 to 27", {"interval": "ci50"}, "not one of"),
        ("25", {"interval": "ci90"}, "needs a range"),
        ("25", {"point": "25"}, "only for ranges"),
        (">=", {}, "does not parse"),
    ],
)
def test_parse_value_refuses(text, kwargs, fragment):
    with pytest.raises(ValueSyntaxError) as err:
        parse_value(text, **kwargs)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024", ("2024", "year")),
        ("2024-07", ("2024-07", "month")),
        ("2024-07-23", ("2024-07-23", "day")),
        (" 2024-02-29 ", ("2024-02-29", "day")),
        (None, (None, None)),
        ("", (None, None)),
    ],
)
def test_parse_date_partial(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["24", "2024-7", "2024-13", "2023-02-29", "2024-07-32", "July 2024", "2024/07/01"])
def test_parse_date_refuses(text):
    with pytest.raises(ValueSyntaxError) as err:
        parse_date(text, "as_of")
    assert "as_of" in str(err.value)


def test_parse_timestamp_forms():
    # a date means the end of that day, UTC
    assert parse_timestamp("2024-07-01") == "2024-07-01T23:59:59.000000Z"
    assert parse_timestamp("2024-07-01T00:00:00Z") == "2024-07-01T00:00:00.000000Z"
    assert parse_timestamp("2024-07-01T02:00:00+02:00") == "2024-07-01T00:00:00.000000Z"
    with pytest.raises(ValueSyntaxError):
        parse_timestamp("yesterday")


finite = st.floats(min_value=0, allow_nan=False, allow_infinity=False)  # quantities here are never negative


@given(a=finite, b=finite)
@example(a=1e308, b=1.5e308)  # (low + high) / 2 would overflow to inf here
@example(a=0.0, b=1.7976931348623157e308)
@example(a=5e-324, b=5e-324)
def test_range_point_lies_within_bounds(a, b):
    low, high = min(a, b), max(a, b)
    v = parse_value(f"{low!r} to {high!r}")
    assert v.kind == "range"
    assert math.isfinite(v.point)
    assert v.low == low and v.high == high
    assert low <= v.point <= high


@given(x=finite)
def test_plain_number_round_trips(x):
    v = parse_value(repr(x))
    assert v.kind == "exact"
    assert v.point == x



@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-3.5", "is negative"),
        ("<=-5", "is negative"),
        ("1e-400", "too small to represent"),
        ("1,000", "no thousands separators"),
        ("\u0661\u0662\u0663", "does not parse"),  # Arabic-Indic digits are not read as 123
        ("\uff15", "does not parse"),  # a full-width 5
    ],
)
def test_values_refused(text, fragment):
    with pytest.raises(ValueSyntaxError, match=fragment):
        parse_value(text)


def test_hyphen_and_dash_ranges():
    assert (parse_value("24-27").low, parse_value("24-27").high) == (24.0, 27.0)
    assert parse_value("600\u2013700").kind == "range"


def test_a_ranges_bounds_round_outward() -> None:
    """A printed range contains the computed one: the low rounds down, the high up; a single value half up."""
    from kb.numfmt import interval
    from kb.report.formatting import format_value

    assert format_value(123e6, 114e6, 132e6, "MW") == "110-140 MW"  # half up would print 110-130 MW
    assert format_value(123e6, None, None, "MW") == "120 MW"
    assert interval(159.0, 150.9, 167.6, "MW") == "150 to 168 MW"
    assert interval(0.0, 2 / 3, None, "") == ">= 0.666" and interval(0.0, None, 2 / 3, "") == "<= 0.667"
    assert interval(0.0, -1.25, -1.15, "", digits=2) == "-1.3 to -1.1"
