"""Units: the registry from schema/units.txt, dimension checks and SI conversion."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb import claims, units
from kb.errors import DimensionError, NotFoundError, UnitError

PROPS = {
    "dense_bf16_flops": {"unit": "FLOP/s"},
    "hbm_bandwidth": {"unit": "TB/s"},
    "gpu_count": {"unit": ""},
    "memory": {"unit": "GB"},
    "site_power": {"unit": "MW"},
    "training_duration": {"unit": "day"},
    "utilization": {"unit": "%"},
    "rental_price": {"unit": "USD/GPU_hour"},
    "fiber_bandwidth": {"unit": "Tbps"},
}
STAMP = "2024-01-01T00:00:00.000000Z"


def fact(prop: str, value: str, unit: str, **extra: str) -> dict:
    spec = {"entity": "x", "property": prop, "value": value, "unit": unit, "source": "s", **extra}
    return claims.build_fact(spec, PROPS, STAMP)


@pytest.mark.parametrize("unit", ["W", "TB/s", "USD", "FLOP", "Hz", "", "GB"])
def test_wrong_dimension_refused_for_flops_property(unit):
    with pytest.raises(DimensionError) as err:
        fact("dense_bf16_flops", "700", unit)
    assert isinstance(err.value, UnitError)
    assert err.value.expected == "[compute] / [time]"
    assert "FLOP/s" in str(err.value)  # the hint names a unit that would do


def test_unit_that_does_not_parse_is_a_unit_error():
    with pytest.raises(UnitError) as err:
        fact("dense_bf16_flops", "700", "TFLOPZ/s")
    assert "TFLOPZ/s" in str(err.value)
    with pytest.raises(UnitError):
        units.parse_unit("TFLOP/s; DROP TABLE")


def test_unknown_property_did_you_mean():
    with pytest.raises(NotFoundError) as err:
        fact("dense_bf16_flop", "700", "TFLOP/s")
    assert "did you mean 'dense_bf16_flops'" in str(err.value)


@pytest.mark.parametrize(
    ("prop", "value", "unit", "si"),
    [
        ("dense_bf16_flops", "989.4", "TFLOP/s", 9.894e14),
        ("dense_bf16_flops", "1e15", "FLOP/s", 1e15),
        ("dense_bf16_flops", "2.5", "PFLOP/s", 2.5e15),
        ("hbm_bandwidth", "3", "TB/s", 2.4e13),  # bit is the base unit of information
        ("hbm_bandwidth", "8", "Tbps", 8e12),
        ("memory", "80", "GB", 80 * 1e9 * 8),
        ("memory", "80", "GiB", 80 * 2**30 * 8),
        ("site_power", "150", "MW", 1.5e8),
        ("site_power", "150", "kW", 1.5e5),
        ("training_duration", "54", "day", 54 * 86400),
        ("training_duration", "6", "month", 6 * 365.25 / 12 * 86400),
        ("utilization", "40", "%", 0.4),
        ("utilization", "0.4", "", 0.4),
        ("gpu_count", "16384", "", 16384),
        ("gpu_count", "16384", "1", 16384),
        ("rental_price", "2", "USD/GPU_hour", 2 / 3600),
        ("fiber_bandwidth", "400", "Gbps", 4e11),
    ],
)
def test_si_values(prop, value, unit, si):
    row = fact(prop, value, unit)
    assert row["si_value"] == pytest.approx(si, rel=1e-12)
    assert row["unit"] == ("" if unit == "1" else unit)
    assert row["value"] == float(value)


def test_range_bounds_converted_to_si():
    row = fact("site_power", "24 to 27", "MW")
    assert (row["low"], row["high"], row["value"]) == (24.0, 27.0, 25.5)
    assert row["si_low"] == pytest.approx(2.4e7)
    assert row["si_high"] == pytest.approx(2.7e7)
    assert row["si_value"] == pytest.approx(2.55e7)
    one_sided = fact("gpu_count", ">=5", "")
    assert (one_sided["si_low"], one_sided["si_high"]) == (5.0, None)


def test_gib_versus_gb():
    assert units.quantity(1, "GiB").to("GB").magnitude == pytest.approx(1.073741824, rel=1e-15)
    assert units.si_factor("GiB") == 2**30 * 8
    assert units.si_factor("GB") == 1e9 * 8
    assert units.si_factor("TiB") / units.si_factor("TB") == pytest.approx(2**40 / 1e12)


def test_bandwidth_is_not_a_frequency():
    q = units.quantity(3, "TB/s")
    with pytest.raises(Exception) as err:  # pint's DimensionalityError
        q.to("THz")
    assert "DimensionalityError" in type(err.value).__name__
    assert not units.same_dimension("TB/s", "THz")
    assert not units.same_dimension("FLOP/s", "Hz")
    assert units.same_dimension("TB/s", "Tbps")


def test_tbps_percent_month_and_counts():
    assert units.si_factor("Tbps") == 1e12
    assert units.quantity(1, "Tbps").to("GB/s").magnitude == pytest.approx(125)
    assert units.si_factor("%") == pytest.approx(0.01)
    assert units.dimension("%") == "dimensionless"
    assert units.si_factor("month") == pytest.approx(365.25 / 12 * 86400)
    assert units.quantity(12, "month").to("year").magnitude == pytest.approx(1)
    assert units.dimension("") == "dimensionless"
    assert units.dimension("1") == "dimensionless"
    assert units.si_unit("") == ""
    assert units.si_unit("TB/s") == "bit / s"
    assert units.dimension("TFLOP/s") == "[compute] / [time]"


def test_check_dimension_message_is_one_line():
    with pytest.raises(DimensionError) as err:
        units.check_dimension("W", "FLOP/s", "a value for dense_bf16_flops", where="facts/x.yaml:7")
    text = str(err.value)
    assert text.startswith("facts/x.yaml:7: ")
    assert "\n" not in text
    assert err.value.slug == "unit-mismatch"


@given(
    value=st.floats(min_value=-1e30, max_value=1e30, allow_nan=False),
    unit=st.sampled_from(["TFLOP/s", "GiB", "MW", "Tbps", "USD/GPU_hour", "TB/s", "month", "%", ""]),
)
def test_si_round_trip(value, unit):
    back = units.from_si(units.to_si(value, unit), unit)
    assert math.isclose(back, value, rel_tol=1e-12, abs_tol=1e-300)


@pytest.mark.parametrize(("typed", "meant"), [("kw", "kW"), ("Mw", "MW"), ("gb", "GB")])
def test_a_unit_in_the_wrong_case_suggests_the_right_one(typed: str, meant: str) -> None:
    with pytest.raises(UnitError, match=f"did you mean '{meant}'"):
        units.parse_unit(typed)


@pytest.mark.parametrize("typed, prefix", [("Gb/s", "G"), ("Mb", "M"), ("b", "")])
def test_b_is_not_guessed_as_bits_or_bytes(typed, prefix):
    """Gb is gigabits to a network engineer and a typo of GB to others: 8x apart, so both are offered."""
    with pytest.raises(UnitError, match=f"write bits as '{prefix}bit' .* or bytes as '{prefix}B'"):
        units.check_unit(typed)
