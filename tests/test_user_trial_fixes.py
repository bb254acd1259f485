"""What a new user's trial found, each checked through the CLI as the user met it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import KB


def _json(result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _props(k: KB) -> dict[str, dict]:
    return {p["name"]: p for p in _json(k("properties", "--json"))}  # type: ignore[union-attr]


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


# -- the vocabulary's layers ----------------------------------------------------------------------

def test_a_redeclaration_with_only_a_description_keeps_the_unit(ex: KB) -> None:
    _append(ex.root / "schema" / "properties.yaml",
            "  - name: tdp\n    description: Board power as the vendor rates it.\n"
            "  - name: utilization\n    description: Model FLOPs utilization, as the paper defines it.\n")
    props = _props(ex)
    assert props["tdp"]["unit"] == "W" and props["tdp"]["description"] == "Board power as the vendor rates it."
    assert props["utilization"]["unit"] == "%" and props["utilization"]["plausible"] == "1% to 100%"
    assert props["tdp"]["origin"] == "project"
    assert props["gpu_count"]["origin"] == "shipped"
    assert props["max_job_chips"]["origin"] == "facts"
    result = ex("add", "fact", "mi300x", "tdp", "750", "W", "--source", "rocm-mi300-microarchitecture")
    assert result.exit_code == 0, result.output
    shown = ex("show", "mi300x")
    assert "750 W" in shown.output, shown.output


def test_a_redeclaration_may_not_change_the_dimension(ex: KB) -> None:
    _append(ex.root / "schema" / "properties.yaml", "  - name: tdp\n    unit: s\n    description: wrong\n")
    result = ex("properties")
    assert result.exit_code == 1
    assert "property 'tdp' is already in the vocabulary with unit 'W'" in result.output
    assert "Traceback" not in result.output


def test_a_fact_file_may_redeclare_a_property(ex: KB) -> None:
    (ex.root / "facts" / "display.yaml").write_text(
        "properties:\n  - name: tdp\n    unit: kW\n    description: Board power, in kilowatts.\n")
    result = ex("load")
    assert result.exit_code == 0, result.output
    props = _props(ex)
    assert props["tdp"]["unit"] == "kW" and props["tdp"]["origin"] == "facts"
    export = ex("export")
    assert "name: tdp" in export.output and "unit: kW" in export.output


def test_two_fact_files_that_redeclare_differently_are_refused_naming_both(ex: KB) -> None:
    (ex.root / "facts" / "a.yaml").write_text(
        "properties:\n  - name: tdp\n    unit: kW\n    description: Board power, in kilowatts.\n")
    (ex.root / "facts" / "b.yaml").write_text(
        "properties:\n  - name: tdp\n    unit: mW\n    description: Board power, in milliwatts.\n")
    before = ex("export").output
    result = ex("load")
    assert result.exit_code == 1
    line = result.output.strip()
    assert "facts/a.yaml" in line and "facts/b.yaml" in line, line
    assert ex("export").output == before


# -- like with like: kinds of claims kept apart ----------------------------------------------------

def _add(k: KB, *args: str) -> None:
    result = k("add", "fact", *args)
    assert result.exit_code == 0, result.output


def test_conflicts_and_history_report_each_kind_apart(ex: KB) -> None:
    src = ("--source", "rocm-mi300-microarchitecture")
    _add(ex, "mi300x", "power", "750", "W", *src, "--scope", "chip", "--locator", "p. 1")
    _add(ex, "mi300x", "power", "900", "W", *src, "--scope", "chip", "--locator", "p. 2")
    _add(ex, "mi300x", "power", "10", "kW", *src, "--scope", "server", "--locator", "p. 3")
    _add(ex, "mi300x", "power", "12", "kW", *src, "--scope", "server", "--locator", "p. 4")
    found = _json(ex("conflicts", "mi300x.power", "--json"))
    assert [(c["kind"], round(c["factor"], 4), c["spread"]["claims"]) for c in found] == [
        ("scope chip", 1.2, 2), ("scope server", 1.2, 2)]
    assert found[1]["spread"]["min"] == 10e3 and found[1]["spread"]["max"] == 12e3
    text = ex("conflicts", "mi300x.power").output
    assert "mi300x.power (scope chip): 2 active claims, disagreeing by up to 1.2x" in text
    history = ex("history", "mi300x", "power").output.splitlines()
    assert history[-2] == ("scope chip: spread over 2 active claim(s): min 0.75 kW, max 0.9 kW, max/min 1.2, "
                           "geometric mean 0.8216 kW")  # sqrt(0.75 * 0.9)
    assert history[-1] == ("scope server: spread over 2 active claim(s): min 10 kW, max 12 kW, max/min 1.2, "
                           "geometric mean 10.95 kW")  # sqrt(10 * 12)


def test_same_place_disagreement_needs_one_kind_and_one_quote(ex: KB) -> None:
    src = ("--source", "rocm-mi300-microarchitecture", "--locator", "Table 2")
    _add(ex, "mi300x", "power", "750", "W", *src, "--configuration", "oam")
    _add(ex, "mi300x", "power", "600", "W", *src, "--configuration", "pcie")
    _add(ex, "mi300x", "hbm_bandwidth", "5.3", "TB/s", *src)
    _add(ex, "mi300x", "hbm_bandwidth", "4.8", "TB/s", *src)  # two rows of one table, no quote: not flagged
    assert "same-place-disagrees" not in ex("check").output
    quote = ("--quote", "750W peak board power")
    _add(ex, "mi300x", "tdp", "750", "W", *src, *quote)
    _add(ex, "mi300x", "tdp", "700", "W", *src, *quote)
    result = ex("check")
    assert result.exit_code == 1
    assert "[same-place-disagrees] 700 W and fact" in result.output


# -- the derivation says what the engine did -------------------------------------------------------

def test_explain_gives_the_point_a_span_uses(ex: KB) -> None:
    _append(ex.root / "scenarios" / "training.yaml",
            "  - name: tpu-span\n    extends: deepseek-v3-on-tpu-v5p\n    description: both MFU claims as a range\n"
            "    bindings:\n      mfu: {fact: mt-nlg-530b.utilization, combine: span}\n")
    data = _json(ex("query", "replay_time", "-s", "tpu-span", "--json"))
    (mfu,) = [i for i in data["inputs"] if i["name"] == "mfu"]  # type: ignore[index]
    assert mfu["value"] == pytest.approx((30.2 + 54.2) / 2)  # the median of two points is their mean
    text = ex("query", "replay_time", "-s", "tpu-span", "--explain").output
    assert "its point is the median of the points, 42.2%" in text, text
    assert "used as its point value 30.2" not in text


# -- values as users write them --------------------------------------------------------------------

@pytest.mark.parametrize(("given", "low", "high"), [
    ("mfu=30% to 50%", 30, 50),
    ("mfu=0.3 to 0.5", 0.3, 0.5),  # shown in the unit it was given
])
def test_set_a_range(ex: KB, given: str, low: float, high: float) -> None:
    data = _json(ex("query", "replay_time", "-s", "deepseek-v3-on-tpu-v5p", "--set", given, "--json"))
    (mfu,) = [i for i in data["inputs"] if i["name"] == "mfu"]  # type: ignore[index]
    assert (mfu["low"], mfu["high"]) == pytest.approx((low, high))


@pytest.mark.parametrize("given", ["tokens=1e13 token to 2e13 token", "tokens=10T token to 2e13 token",
                                   "tokens=1e13 token to 20T token"])
def test_set_a_range_with_a_unit_on_each_end(ex: KB, given: str) -> None:
    base = _json(ex("query", "replay_time", "-s", "deepseek-v3-on-tpu-v5p", "--json"))
    data = _json(ex("query", "replay_time", "-s", "deepseek-v3-on-tpu-v5p", "--set", given, "--json"))
    per_token = base["value"] / 14.8e12  # type: ignore[index]
    assert data["low"] == pytest.approx(per_token * 1e13) and data["high"] == pytest.approx(per_token * 2e13)


def test_a_range_with_units_of_one_dimension_in_other_prefixes(tmp_path: Path) -> None:
    from kb.units import parse_quantity

    value, unit = parse_quantity("500 ms to 2 s")
    assert (value.low, value.high, unit) == (0.5, 2.0, "s")
    value, unit = parse_quantity("1e23 FLOP to 2e23 FLOP")
    assert (value.low, value.high, unit) == (1e23, 2e23, "FLOP")


def test_a_range_with_two_dimensions_is_refused(ex: KB) -> None:
    result = ex("query", "replay_time", "-s", "deepseek-v3-on-tpu-v5p", "--set", "tokens=1 s to 2 token")
    assert result.exit_code == 2
    assert "range '1 s to 2 token': its two ends must be in units of one kind, not 's' and 'token'" in result.output and "Traceback" not in result.output


def test_set_outside_the_plausible_range_warns(ex: KB) -> None:
    result = ex("query", "replay_time", "-s", "deepseek-v3-on-tpu-v5p", "--set", "mfu=150%")
    assert result.exit_code == 0
    assert ("warning: --set mfu=150% is outside the plausible range of utilization (1% to 100%); the result uses it"
            in result.stderr)
    assert "warning" not in ex("query", "replay_time", "-s", "deepseek-v3-on-tpu-v5p", "--set", "mfu=45%").stderr


def test_a_percentage_written_with_the_value_shows_once(ex: KB) -> None:
    _add(ex, "mt-nlg-530b", "utilization", "35% to 45%", "", "--source", "palm-paper", "--locator", "x")
    shown = ex("show", "mt-nlg-530b").output
    assert "35% to 45%" in shown and "45% %" not in shown


def test_a_negative_value_is_a_value_not_an_option(ex: KB) -> None:
    result = ex("add", "fact", "mi300x", "tdp", "-500", "W", "--source", "rocm-mi300-microarchitecture")
    assert result.exit_code == 1  # read as the value, and refused as one: not click's "No such option"
    assert "value '-500' is negative" in result.output


def test_supersede_keeps_what_the_correction_does_not_restate(ex: KB) -> None:
    _add(ex, "mi300x", "power", "750", "W", "--source", "rocm-mi300-microarchitecture", "--method", "calculated",
         "--confidence", "speculative", "--scope", "chip", "--configuration", "oam")
    old = next(f for f in _json(ex("facts", "mi300x", "--json")) if f["property"] == "power")  # type: ignore[union-attr]
    result = ex("supersede", old["id"], "760", "W", "--reason", "the datasheet's figure", "--locator", "Table 2")
    assert result.exit_code == 0, result.output
    new = next(f for f in _json(ex("facts", "mi300x", "--json")) if f["property"] == "power")  # type: ignore[union-attr]
    assert new["supersedes"] == old["id"] and new["value"] == 760
    assert (new["source"]["id"], new["method"], new["confidence"], new["scope"], new["configuration"]) == (
        "rocm-mi300-microarchitecture", "calculated", "speculative", "chip", "oam")
    assert new["locator"] == "Table 2"


# -- from a hostile user's pass ----------------------------------------------------------------------

@pytest.mark.parametrize("factor", ["nan", "inf", "1e999", "1"])
def test_a_factor_must_be_finite_and_above_one(ex: KB, factor: str) -> None:
    result = ex("conflicts", "mt-nlg-530b.utilization", "--factor", factor)
    assert result.exit_code == 2 and "must be a finite number above 1" in result.output


def test_a_rank_pin_that_misses_lists_the_candidates(ex: KB) -> None:
    _append(ex.root / "scenarios" / "training.yaml",
            "  - name: preferred-only\n    extends: deepseek-v3-pretraining\n    description: a rank pin\n"
            "    bindings:\n      chip_hours: {fact: deepseek-v3.chip_hours, rank: preferred}\n")
    result = ex("query", "run_cost", "-s", "preferred-only")
    assert result.exit_code == 1
    assert "matches no active claim; pinned rank: preferred; candidates: " in result.output
    assert "it has no active claims" not in result.output


def test_check_holds_stored_claims_to_the_current_vocabulary(ex: KB) -> None:
    assert ex("check").exit_code == 0  # creates the database with the example's claims
    _append(ex.root / "schema" / "properties.yaml",
            "  - name: utilization\n    plausible: 1% to 40%\n"
            "  - name: power\n    scopes: [rack]\n")
    _add(ex, "mi300x", "power", "1", "kW", "--source", "rocm-mi300-microarchitecture", "--scope", "rack")
    (ex.root / "schema" / "properties.yaml").write_text(
        (ex.root / "schema" / "properties.yaml").read_text().replace("scopes: [rack]", "scopes: [chip]"))
    result = ex("check")
    assert result.exit_code == 1
    assert result.output.count("[implausible]") == 2  # 54.2% and 46.2%; 30.2% is inside 1% to 40%
    assert "[implausible] 54.2 % is outside the plausible range of utilization (1% to 40%)" in result.output
    assert "[bad-scope] scope 'rack' is not one of power's scopes: chip" in result.output


def test_a_fact_file_narrowing_a_plausible_range_warns_about_stored_claims(ex: KB) -> None:
    """The re-declaration loads (it is the project's to make), but the claims it now excludes are named."""
    first = ex("add", "fact", "mi300x", "tdp", "750", "W", "--source", "rocm-mi300-microarchitecture")
    assert first.exit_code == 0, first.output
    (ex.root / "facts" / "narrow.yaml").write_text(
        "properties:\n  - name: tdp\n    plausible: 1 W to 500 W\n")
    result = ex("load")
    assert result.exit_code == 0, result.output
    assert "facts/narrow.yaml:2: the plausible range '1 W to 500 W' of tdp excludes" in result.stderr
    assert "(mi300x: 750 W)" in result.stderr and "`kb check` lists them" in result.stderr
    assert "[implausible]" in ex("check").stdout


@pytest.mark.parametrize("text, message", [
    ("1 % to 2", "write '%' on the high end or on both ends of a range"),
    ("500 ms to 2", "give a unit on both ends ('500 ms to 2 s') or once after both numbers"),
    ("1 s to", "range '1 s to' has no high end"),
    ("0 to inf", "write an open-ended range as a bound"),
])
def test_plausible_ranges_and_set_read_one_grammar(ex: KB, text: str, message: str) -> None:
    """A plausible range is read as --set reads a range: refused alike, with a message about the range."""
    _append(ex.root / "schema" / "properties.yaml", f"  - name: widget_rate\n    unit: '%'\n    description: A rate.\n"
                                                    f"    plausible: '{text}'\n")
    declared = ex("properties")
    assert declared.exit_code == 1 and message in declared.output, declared.output
    assert "Traceback" not in declared.output
    given = ex("query", "replay_time", "-s", "deepseek-v3-on-tpu-v5p", "--set", f"tokens={text}")
    assert given.exit_code == 2 and message in given.output, given.output


def test_a_plausible_range_with_a_unit_once_reads_both_ends_in_it(ex: KB) -> None:
    _append(ex.root / "schema" / "properties.yaml", "  - name: widget_power\n    unit: W\n    description: Power.\n"
                                                    "    plausible: 1 to 3 kW\n")
    props = _props(ex)
    assert props["widget_power"]["plausible"] == "1 to 3 kW"
    refused = ex("add", "fact", "mi300x", "widget_power", "500", "W", "--source", "rocm-mi300-microarchitecture")
    assert refused.exit_code == 1 and "outside its plausible range (1 to 3 kW)" in refused.output, refused.output


@pytest.mark.parametrize("conditions", ["at 8192 GPUs\nand more", "x" * 301])
def test_a_qualifier_is_one_short_line(ex: KB, conditions: str) -> None:
    result = ex("add", "fact", "mi300x", "tdp", "750", "W", "--source", "rocm-mi300-microarchitecture",
                "--conditions", conditions)
    assert result.exit_code == 1 and "conditions must be one line of at most 300 characters" in result.output
    assert "Traceback" not in result.output


def test_a_value_given_as_a_list_says_so(ex: KB) -> None:
    (ex.root / "facts" / "zz.yaml").write_text(
        "facts:\n  - entity: mi300x\n    property: tdp\n    value: [1]\n    unit: W\n"
        "    source: rocm-mi300-microarchitecture\n")
    result = ex("load")
    assert result.exit_code == 1
    assert "facts/zz.yaml:4: 'value' must be one number or text such as '24 to 27', not a list" in result.output


def test_an_entity_id_may_not_read_as_a_reference(ex: KB) -> None:
    result = ex("add", "entity", "gpt-4.parameters", "--kind", "model")
    assert result.exit_code == 1, result.output
    assert "entity id 'gpt-4.parameters' ends in the property name 'parameters'" in result.output


def test_an_empty_fact_id_is_refused(ex: KB) -> None:
    result = ex("uses", "")
    assert result.exit_code == 1 and "give a fact id (or its first characters)" in result.output, result.output
