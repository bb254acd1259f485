"""Claims as analysts record them, through the CLI on the fixture project: a vocabulary that grows, plausible
ranges, qualifiers, pins that cannot miss, combining claims, conflicts and no silent changes.

Hand-computed figures used below (fixture facts):
- goodyear.site_power is 24 to 27 MW (point 25.5); goodyear.gpu_count claims are 100000 (news-item, 2024-06)
  and 150000 (analyst-report, 2024-09); h100-sxm.dense_bf16_flops is 989.4 TFLOP/s.
- power_per_gpu [goodyear-news] = 25.5 MW / 100000 = 0.255 kW (bounds 0.24 to 0.27).
- site_flops [goodyear-news] = 100000 * 989.4e12 = 9.894e19 FLOP/s = 98.9 EFLOP/s.
- geomean(100000, 150000) = sqrt(1.5e10) = 122474.487; 25.5 MW / 122474.487 = 208.2 W.
- span(100000, 150000): power_per_gpu from 24 MW / 150000 = 160 W to 27 MW / 100000 = 270 W.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import KB
from helpers import all_rows, assert_clean_error


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result.stdout


def add_scenario(root: Path, text: str, name: str = "mine.yaml") -> None:
    (root / "scenarios" / name).write_text("scenarios:\n" + text)


def query_json(kb: KB, *args: str) -> dict:
    return json.loads(ok(kb("query", *args, "--json")))


# ---- the vocabulary grows: project additions and properties: lists in fact files


PROPERTY_FILE = """\
properties:
  - name: wafer_count
    unit: ""
    description: Wafers a fab starts in a month.
    plausible: 1 to 1e6
sources:
  - {id: fab-report, title: A fab report, kind: analyst}
entities:
  - {id: fab-1, kind: site, name: Fab 1}
facts:
  - {entity: fab-1, property: wafer_count, value: "30K", unit: "", source: fab-report}
"""


def test_a_fact_file_may_declare_the_properties_it_uses(kb, tmp_path, db):
    ok(kb("facts"))  # the database, with the fixture's facts
    path = tmp_path / "fab.yaml"
    path.write_text(PROPERTY_FILE)
    out = ok(kb("load", str(path)))
    assert "added 1 properties, 1 sources, 1 entities, 1 facts" in out
    props = {p["name"]: p for p in json.loads(ok(kb("properties", "--json")))}
    assert props["wafer_count"]["origin"] == "facts" and props["wafer_count"]["plausible"] == "1 to 1e6"
    [fact] = json.loads(ok(kb("facts", "fab-1", "--json")))
    assert fact["value"] == 30000.0 and fact["value_text"] == "30K"  # the K suffix, kept as written
    assert "0 properties" not in ok(kb("load", str(path))) and "already recorded" in ok(kb("load", str(path)))
    # the export carries the declaration, so it restores into a new database
    ok(kb("export", "-o", str(tmp_path / "backup.yaml")))
    assert "properties:\n- name: wafer_count" in (tmp_path / "backup.yaml").read_text()
    restored = KB(kb.root, tmp_path / "restored.sqlite")
    ok(restored("load", str(tmp_path / "backup.yaml")))
    assert all_rows(tmp_path / "restored.sqlite")["fact"] == all_rows(db)["fact"]


def test_a_conflicting_declaration_is_refused_and_nothing_is_written(kb, tmp_path, db):
    ok(kb("facts"))
    before = all_rows(db)
    path = tmp_path / "clash.yaml"
    path.write_text("properties:\n  - {name: tdp, unit: s, description: my own words}\n")  # a re-declaration may not
    err = assert_clean_error(kb("load", str(path)))                                      # change the dimension
    assert "clash.yaml:2: property 'tdp' is already in the vocabulary with unit 'W'" in err
    assert "give yours another name" in err
    path.write_text("properties:\n  - {name: Wafers, unit: '', description: d}\n")
    assert "must be lower-case letters" in assert_clean_error(kb("load", str(path)))
    path.write_text("properties:\n  - {name: wafers, unit: '', description: d, plausible: lots}\n")
    assert "clash.yaml:2: 'lots' is not a value" in assert_clean_error(kb("load", str(path)))
    assert all_rows(db) == before


def test_a_project_may_not_change_a_shipped_property_s_dimension(kb, root):
    vocab = root / "schema" / "properties.yaml"
    vocab.write_text(vocab.read_text().replace("name: tdp\n    unit: W", "name: tdp\n    unit: TB/s"))
    err = assert_clean_error(kb("facts"))
    assert "property 'tdp' is already in the vocabulary" in err and "give yours another name" in err


# ---- plausible ranges


@pytest.mark.parametrize(("prop", "value", "unit", "fragment"), [
    ("utilization", "154", "%", "a value for utilization of 154 % is outside its plausible range (1% to 100%)"),
    ("utilization", "0.34", "%", "of 0.34 % is outside its plausible range"),  # a typo for 34 %
    ("tdp", "700", "kW", "of 700 kW is outside its plausible range (1 W to 5 kW)"),
    ("gpu_count", "0.5", "", "outside its plausible range (1 to 1e8)"),
])
def test_implausible_values_are_refused(kb, db, prop, value, unit, fragment):
    ok(kb("facts"))
    before = all_rows(db)
    err = assert_clean_error(kb("add", "fact", "big-run", prop, value, unit, "--source", "news-item"))
    assert fragment in err and "plausibility: accepted" in err
    assert all_rows(db) == before


def test_an_implausible_value_is_recorded_when_the_fact_accepts_it_with_a_reason(kb, tmp_path):
    out = ok(kb("add", "fact", "big-run", "utilization", "154", "%", "--source", "news-item",
                "--accept-implausible", "a sparse-FLOP basis, as the source says"))
    fact_id = out.split()[2].rstrip(":")
    [fact] = [f for f in json.loads(ok(kb("facts", "big-run", "--json"))) if f["id"] == fact_id]
    assert fact["plausibility"] == "accepted" and fact["plausibility_reason"] == "a sparse-FLOP basis, as the source says"
    path = tmp_path / "bad.yaml"
    path.write_text("facts:\n  - {entity: big-run, property: utilization, value: '154', unit: '%', source: news-item,\n"
                    "     plausibility: accepted}\n")
    assert "bad.yaml:2: plausibility: accepted needs a plausibility_reason" in assert_clean_error(kb("load", str(path)))
    path.write_text("facts:\n  - {entity: big-run, property: utilization, value: '15', unit: '%', source: news-item,\n"
                    "     plausibility: maybe, plausibility_reason: x}\n")
    assert "plausibility 'maybe' must be 'accepted'" in assert_clean_error(kb("load", str(path)))


# ---- qualifiers


def test_qualifiers_are_stored_shown_and_part_of_the_content(kb):
    out = ok(kb("add", "fact", "goodyear", "site_power", "150", "MW", "--source", "news-item", "--scope", "facility",
                "--status", "planned", "--conditions", "after phase 2", "--method-detail", "Press release"))
    fact_id = out.split()[2].rstrip(":")
    [fact] = [f for f in json.loads(ok(kb("facts", "goodyear", "--all", "--json"))) if f["id"] == fact_id]
    assert (fact["scope"], fact["status"], fact["conditions"], fact["method_detail"], fact["dollar_year"]) == \
        ("facility", "planned", "after phase 2", "Press release", None)
    table = ok(kb("facts", "goodyear"))
    assert "scope facility; status planned; conditions after phase 2; m…" in table  # a long cell is cut
    # kb facts shows the best claim of each kind: the planned facility figure beside the unqualified range
    assert sum("site_power" in line for line in table.splitlines()) == 2
    history = ok(kb("history", "goodyear", "site_power"))
    assert "as of ?; reported; likely; rank normal; scope facility; status planned" in history
    # the same value without the qualifiers is another claim
    other = ok(kb("add", "fact", "goodyear", "site_power", "150", "MW", "--source", "news-item"))
    assert other.split()[2].rstrip(":") != fact_id


def test_a_fact_without_qualifiers_keeps_its_id(kb):
    # the fixture's first claim had this id before qualifiers existed (tests/test_cli.py pins it too)
    ids = {f["value"]: f["id"] for f in json.loads(ok(kb("facts", "goodyear", "--property", "gpu_count", "--all", "--json")))}
    assert ids[100000.0] == "d6362f26ab98"


@pytest.mark.parametrize(("extra", "fragment"), [
    ("scope: IT load", "scope 'IT load' must be a slug"),
    ("scope: campus", "scope 'campus' is not one of site_power's scopes: it-load, facility"),
    ("status: built", "status 'built' is not one of: planned, under-construction, operational, decommissioned"),
    ("dollar_year: '2023'", "dollar_year is for amounts of money; site_power is not one"),
    ("configuration: HGX B200", "configuration 'HGX B200' must be a slug"),
    ("colour: red", "unknown key 'colour' in fact"),
])
def test_malformed_qualifiers_are_one_line_errors_and_write_nothing(kb, tmp_path, db, extra, fragment):
    ok(kb("facts"))
    before = all_rows(db)
    path = tmp_path / "q.yaml"
    path.write_text(f"facts:\n  - entity: goodyear\n    property: site_power\n    value: '30'\n    unit: MW\n"
                    f"    source: news-item\n    {extra}\n")
    err = assert_clean_error(kb("load", str(path)))
    assert fragment in err and "q.yaml:" in err
    assert all_rows(db) == before


def test_dollar_year_on_a_cost(kb):
    ok(kb("add", "fact", "big-run", "training_cost", "$100M".lstrip("$"), "USD", "--source", "news-item",
          "--dollar-year", "2023", "--scope", "final-run"))
    [fact] = json.loads(ok(kb("facts", "big-run", "--property", "training_cost", "--json")))
    assert fact["value"] == 1e8 and fact["dollar_year"] == "2023" and fact["scope"] == "final-run"
    assert "must be a year" in assert_clean_error(kb("add", "fact", "big-run", "training_cost", "5", "USD",
                                                     "--source", "news-item", "--dollar-year", "23"))


# ---- like with like


def test_claims_of_different_status_are_not_competing_and_must_be_pinned(kb, root):
    ok(kb("add", "fact", "goodyear", "site_power", "300", "MW", "--source", "news-item", "--status", "planned"))
    # an unqualified claim is compatible with either kind; two kinds side by side make the reference ambiguous
    ok(kb("add", "fact", "goodyear", "site_power", "25", "MW", "--source", "news-item", "--status", "operational"))
    err = assert_clean_error(kb("query", "power_per_gpu", "-s", "goodyear-news"))
    assert "goodyear.site_power has claims of different status (operational, planned)" in err
    assert "pin one with status: operational" in err
    add_scenario(root, "  - name: built\n    extends: goodyear-news\n    description: the operational site\n"
                       "    bindings:\n      site_power: {fact: goodyear.site_power, status: operational}\n")
    assert query_json(kb, "power_per_gpu", "-s", "built")["value"] == pytest.approx(0.25)  # 25 MW / 100000
    # conflicts compare like with like: the planned 300 MW and the operational 25 MW are not a pair; the
    # unqualified 24 to 27 MW may be either, so it is compared with both
    [conflict] = json.loads(ok(kb("conflicts", "goodyear.site_power", "--json")))
    values = {f["id"]: f["value_text"] for f in conflict["claims"]}
    pairs = [sorted((values[p["low"]], values[p["high"]])) for p in conflict["pairs"]]
    assert pairs == [["24 to 27", "300"]]  # 300 / 27 = 11.1; 25 MW lies inside 24 to 27


# ---- pins that cannot miss


def test_a_locator_pin_selects_its_claim(kb, root):
    ok(kb("add", "fact", "goodyear", "gpu_count", "120000", "", "--source", "news-item", "--locator", "paragraph 9",
          "--as-of", "2024-06"))
    add_scenario(root, "  - name: pinned\n    extends: goodyear-news\n    description: pinned by locator\n"
                       "    bindings:\n      gpu_count: {fact: goodyear.gpu_count, source: news-item, locator: Paragraph  9}\n")
    result = query_json(kb, "power_per_gpu", "-s", "pinned")
    assert result["value"] == pytest.approx(25.5e6 / 120000 / 1e3)  # 0.2125 kW
    [gpu] = [i for i in result["inputs"] if i["name"] == "gpu_count"]
    assert gpu["fact"]["locator"] == "paragraph 9"
    # two news-item claims now disagree: goodyear-news (pinned only by source) must say which
    err = assert_clean_error(kb("query", "power_per_gpu", "-s", "goodyear-news"))
    assert "2 active claims of goodyear.gpu_count match source: news-item" in err
    assert "scenarios/sites.yaml:" in err and "add a pin" in err


def test_a_pin_that_misses_lists_the_candidates_and_check_reports_every_binding(kb, root):
    add_scenario(root, "  - name: missing\n    extends: goodyear-news\n    description: pins that miss\n"
                       "    bindings:\n"
                       "      gpu_count: {fact: goodyear.gpu_count, locator: page 99}\n"
                       "      site_power: {fact: goodyear.site_power, as_of: '1999'}\n")
    err = assert_clean_error(kb("query", "power_per_gpu", "-s", "missing"))  # the first input that misses
    assert err == ("Error: scenarios/mine.yaml:7 scenario missing input site_power: the pin on 'goodyear.site_power' "
                   "matches no active claim; pinned as_of: 1999; candidates: 5daf02310ebd (24 to 27 MW, analyst-report)\n")
    result = kb("check")
    assert result.exit_code == 1
    assert ("scenarios/mine.yaml:6 scenario missing input gpu_count: [pin-misses] the pin on 'goodyear.gpu_count' "
            "matches no active claim; pinned locator: page 99; candidates: ") in result.stdout
    assert "scenarios/mine.yaml:7 scenario missing input site_power: [pin-misses]" in result.stdout


@pytest.mark.parametrize(("binding", "fragment"), [
    ("{fact: goodyear.gpu_count, quote: the campus}", "'quote' does not apply to a fact binding"),
    ("{fact: goodyear.gpu_count, colour: red}", "unknown key 'colour'"),
    ("{fact: goodyear.gpu_count, combine: mean}", "combine 'mean' is not one of: min, max, median, geomean, span"),
    ("{fact: goodyear.gpu_count, combine: span, id: d6362f26ab98}", "combine uses several claims; an id pins one"),
    ("{fact: goodyear.gpu_count, locator: ''}", "pin 'locator' is empty"),
    ("{value: '5', reason: r, scope: it-load}", "'scope' does not apply to an assumption"),
    ("{query: power_per_gpu, source: news-item}", "'source' does not apply to a query binding"),
])
def test_malformed_bindings_are_one_line_errors(kb, root, binding, fragment):
    add_scenario(root, f"  - name: bad\n    extends: goodyear-news\n    description: d\n    bindings:\n"
                       f"      gpu_count: {binding}\n")
    assert fragment in assert_clean_error(kb("scenarios"))


def test_an_id_pin_on_a_deprecated_claim_is_an_error(kb, root):
    ok(kb("deprecate", "d6362f26ab98", "--reason", "test"))
    add_scenario(root, "  - name: by-id\n    extends: goodyear-news\n    description: d\n    bindings:\n"
                       "      gpu_count: {fact: goodyear.gpu_count, id: d6362f26ab98}\n")
    assert "it is deprecated; pin another claim" in assert_clean_error(kb("query", "power_per_gpu", "-s", "by-id"))


# ---- combining claims


@pytest.mark.parametrize(("how", "value", "low", "high"), [
    ("geomean", 25.5e6 / math.sqrt(1.5e10), 24e6 / math.sqrt(1.5e10), 27e6 / math.sqrt(1.5e10)),
    ("min", 0.255e3, 240.0, 270.0),  # min(100000, 150000) = 100000
    ("max", 25.5e6 / 150000, 160.0, 180.0),
    ("median", 25.5e6 / 125000, 24e6 / 125000, 27e6 / 125000),
    ("span", 25.5e6 / 125000, 160.0, 270.0),  # 100000 to 150000, point their median 125000
])
def test_combine_uses_every_claim(kb, root, how, value, low, high):
    add_scenario(root, f"  - name: combined\n    extends: goodyear-news\n    description: d\n    bindings:\n"
                       f"      gpu_count: {{fact: goodyear.gpu_count, combine: {how}}}\n")
    result = query_json(kb, "power_per_gpu", "-s", "combined", "--unit", "W")
    assert result["value"] == pytest.approx(value)
    assert (result["low"], result["high"]) == (pytest.approx(low), pytest.approx(high))
    [gpu] = [i for i in result["inputs"] if i["name"] == "gpu_count"]
    assert gpu["combine"] == how and "fact" not in gpu
    assert sorted(f["value_text"] for f in gpu["facts"]) == ["100000", "150000"]
    explained = ok(kb("query", "power_per_gpu", "-s", "combined", "--explain"))
    assert f"({how} of 2 claims of goodyear.gpu_count)" in explained
    assert "fact d6362f26ab98: 100000" in explained and "150000" in explained


def test_combine_in_a_template_footnotes_every_claim(kb, root):
    (root / "templates" / "both.md.j2").write_text(
        '{{ fact("goodyear.gpu_count", combine="geomean") }} GPUs.\n')
    out = ok(kb("render", "both"))
    assert out.startswith("122K[^1][^2] GPUs.")
    # in policy order: the analyst's newer claim first
    assert "[^1]: *Analyst report on datacenter sites*" in out and "[^2]: *A news story about accelerators" in out


# ---- conflicts


def test_conflicts_lists_disagreeing_claims_with_their_spread(kb):
    out = ok(kb("conflicts"))
    lines = out.splitlines()
    assert lines[0] == "goodyear.gpu_count: 2 active claims, disagreeing by up to 1.5x"
    assert lines[1].split() == ["FACT", "VALUE", "SOURCE", "LOCATOR", "AS", "OF", "METHOD", "CONFIDENCE", "QUALIFIERS"]
    assert "  1.5x: d6362f26ab98 (100000) vs " in out
    assert "spread over 2 active claim(s): min 100000, max 150000, max/min 1.5, geometric mean 122500" in out
    data = json.loads(ok(kb("conflicts", "--json")))
    assert [(c["entity"], c["property"], c["factor"]) for c in data] == [("goodyear", "gpu_count", 1.5)]
    assert {f["value"] for f in data[0]["claims"]} == {100000.0, 150000.0}
    assert ok(kb("conflicts", "--factor", "2")).startswith("No conflicts (claims that disagree by more than 2x).")
    assert ok(kb("conflicts", "h100-sxm")) == "No conflicts (claims that disagree by more than 1.1x) in h100-sxm.\n"
    assert "unknown entity 'nope'" in assert_clean_error(kb("conflicts", "nope"))
    assert_clean_error(kb("conflicts", "--factor", "1"), exit_code=2)


@pytest.mark.parametrize(("prop", "value", "unit", "label"), [
    ("dense_bf16_flops", "1978.9", "TFLOPS", "possible dense/sparse mix-up"),  # the sparse figure, 2x
    ("memory", "80", "GiB", "possible GB/GiB mix-up"),  # 80 GiB / 80 GB = 1.074, below the 1.1 factor yet listed
    ("hbm_bandwidth", "3.35", "Tbps", "possible bit/byte mix-up"),  # 3.35 TB/s is 8x 3.35 Tbps
])
def test_conflicts_name_the_usual_mix_ups(kb, prop, value, unit, label):
    ok(kb("add", "fact", "h100-sxm", prop, value, unit, "--source", "news-item"))
    [conflict] = json.loads(ok(kb("conflicts", f"h100-sxm.{prop}", "--json")))
    assert conflict["labels"] == [label]
    result = kb("check")
    assert result.exit_code == 0 and f"warning: h100-sxm.{prop}: 2 active claims disagree" in result.stdout
    assert label in result.stdout
    assert kb("check", "--strict").exit_code == 1


def test_overlapping_ranges_do_not_conflict(kb):
    ok(kb("add", "fact", "goodyear", "site_power", "26", "MW", "--source", "news-item"))  # inside 24 to 27
    ok(kb("add", "fact", "goodyear", "site_power", "30 to 40", "MW", "--source", "vendor-sheet"))  # 30/27 = 1.11
    [conflict] = json.loads(ok(kb("conflicts", "goodyear.site_power", "--json")))
    assert [round(p["factor"], 4) for p in conflict["pairs"]] == [round(30 / 26, 4), round(30 / 27, 4)]
    # the spread is over the points (24 to 27 -> 25.5, 26, 30 to 40 -> 35), in SI watts
    spread = conflict["spread"]
    assert (spread["claims"], spread["si_unit"]) == (3, "kg * m ** 2 / s ** 3")  # as kb properties --json names it
    assert (spread["min"], spread["max"]) == (pytest.approx(25.5e6), pytest.approx(35e6))
    assert spread["max_over_min"] == pytest.approx(35 / 25.5)
    assert spread["geometric_mean"] == pytest.approx((25.5 * 26 * 35) ** (1 / 3) * 1e6)


# ---- no silent changes


def test_adding_a_claim_reports_the_results_it_changes(kb):
    ok(kb("facts"))
    result = kb("add", "fact", "h100-sxm", "dense_bf16_flops", "1000", "TFLOPS", "--source", "news-item",
                "--as-of", "2024", "--confidence", "confirmed")
    ok(result)
    new_id = result.stdout.split()[2].rstrip(":")
    assert f"note: h100-sxm.dense_bf16_flops: the best claim is now {new_id} (1000 TFLOPS, confirmed) instead of " \
           "5db2f74b9e77 (989.4 TFLOP/s, confirmed): by the policy, more recent as-of" in result.stderr
    # 100000 x 1000 TFLOP/s = 1e20 FLOP/s = 100 EFLOP/s, up from 98.9
    assert "note: 1 result(s) changed: site_flops [goodyear-news] 98.9 EFLOP/s -> 100 EFLOP/s" in result.stderr


def test_a_newer_claim_of_lower_confidence_does_not_displace_a_confirmed_one(kb):
    ok(kb("facts"))
    result = kb("add", "fact", "h100-sxm", "dense_bf16_flops", "2000", "TFLOPS", "--source", "news-item",
                "--as-of", "2025", "--confidence", "speculative")
    ok(result)
    assert result.stderr == ""  # nothing changed: the confirmed 989.4 stays the best claim
    assert query_json(kb, "site_flops", "-s", "goodyear-news")["value"] == pytest.approx(98.94)


def test_a_load_reports_the_results_it_changes(kb, tmp_path):
    ok(kb("facts"))
    path = tmp_path / "more.yaml"
    path.write_text("facts:\n  - {entity: h100-sxm, property: dense_bf16_flops, value: '1000', unit: TFLOP/s,\n"
                    "     source: news-item, as_of: '2024', confidence: confirmed}\n")
    result = kb("load", str(path))
    ok(result)
    assert "site_flops [goodyear-news] 98.9 EFLOP/s -> 100 EFLOP/s" in result.stderr
    # into a new database everything is new: no comparison
    fresh = KB(kb.root, tmp_path / "fresh.sqlite")("load", str(path))
    assert fresh.exit_code == 0 and fresh.stderr == ""


# ---- history and --across


def test_across_shows_what_each_claim_is_and_the_spread(kb):
    out = ok(kb("query", "power_per_gpu", "-s", "goodyear-news", "--across", "goodyear.gpu_count"))
    lines = out.splitlines()
    assert lines[0] == "power_per_gpu [goodyear-news] across the claims of goodyear.gpu_count:"
    assert lines[1].split()[:4] == ["FACT", "VALUE", "SOURCE", "LOCATOR"] and lines[1].split()[-1] == "POWER_PER_GPU"
    assert "2024-09" in lines[3] and "150000" in lines[3] and "0.16 to 0.18 kW" in lines[3]  # the newest first
    assert "2024-06" in lines[4] and "0.24 to 0.27 kW" in lines[4]
    # points 25.5 MW / 150000 = 0.17 kW and 0.255 kW: max/min 1.5, geometric mean sqrt(0.17 x 0.255) = 0.2082
    assert lines[5] == "spread over 2 active claim(s): min 0.17 kW, max 0.255 kW, max/min 1.5, geometric mean 0.2082 kW"
    rows = json.loads(ok(kb("query", "power_per_gpu", "-s", "goodyear-news", "--across", "goodyear.gpu_count", "--json")))
    assert [r["as_of"] for r in rows] == ["2024-09", "2024-06"] and rows[0]["confidence"] == "likely"


# ---- values and units


@pytest.mark.parametrize(("value", "unit", "si"), [
    ("100K", "", 1e5), ("1.2M", "", 1.2e6), ("150k", "", 1.5e5),
    ("989.4", "TFLOPS", 989.4e12), ("2.5", "PFLOPS", 2.5e15),
])
def test_suffixes_and_flops_units_in_facts(kb, value, unit, si):
    prop = "gpu_count" if not unit else "dense_bf16_flops"
    ok(kb("add", "fact", "b200", prop, value, unit, "--source", "news-item", "--locator", value + unit))
    facts = json.loads(ok(kb("facts", "b200", "--property", prop, "--all", "--json")))
    assert any(f["si_value"] == pytest.approx(si) and f["value_text"] == value for f in facts)


def test_a_flop_count_is_not_a_rate(kb):
    err = assert_clean_error(kb("add", "fact", "b200", "dense_bf16_flops", "2250", "TFLOPs", "--source", "news-item"))
    assert "'TFLOPs' is a count (FLOPs, lower-case s); for a rate write TFLOP/s or TFLOPS" in err


@pytest.mark.parametrize(("text", "low", "high"), [
    ("utilization=35% to 45%", 0.35, 0.45), ("utilization=35 to 45%", 0.35, 0.45), ("utilization=40 ± 5 %", 0.35, 0.45),
    ("utilization=between 35 and 45 %", 0.35, 0.45),
])
def test_percent_ranges_on_the_command_line(text, low, high):
    from kb.engine import parse_override
    from kb.units import si_factor

    name, (value, unit, shape) = parse_override(text)
    assert name == "utilization" and unit == "%" and shape is None
    assert (value.low * si_factor(unit), value.high * si_factor(unit)) == (pytest.approx(low), pytest.approx(high))


def test_alias_lookup_ignores_case(kb):
    assert ok(kb("show", "h100")).startswith("h100-sxm  (accelerator)")
    assert json.loads(ok(kb("facts", "h100", "--property", "tdp", "--json")))[0]["entity"] == "h100-sxm"
    ok(kb("add", "fact", "H100", "tdp", "710", "W", "--source", "news-item"))  # the alias names the entity to add to
    assert len(json.loads(ok(kb("facts", "h100-sxm", "--property", "tdp", "--all", "--json")))) == 2
