"""Sound intervals: the engine's bounds contain every value the formula takes inside the input box,
and are the true range for the cases the corner method got wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from test_engine import make_project

from kb import formula, intervals
from kb.cli import cli

QUERIES = """
queries:
  - name: parabola
    description: x (1 - x), with an interior maximum.
    inputs: {x: {unit: "", description: x}}
    formula: x * (1 - x)
    unit: ""
  - name: ratio
    description: x over itself.
    inputs: {x: {unit: "", description: x}}
    formula: x / x
    unit: ""
  - name: product
    description: x times y.
    inputs: {x: {unit: "", description: x}, y: {unit: "", description: y}}
    formula: x * y
    unit: ""
  - name: inverse
    description: 2 over y.
    inputs: {y: {unit: "", description: y}}
    formula: 2 / y
    unit: ""
  - name: singular
    description: 1 / (x - 1) as a negative power.
    inputs: {x: {unit: "", description: x}}
    formula: (x - 1) ^ -1
    unit: ""
  - name: stepped
    description: a floor just below a whole number.
    inputs: {x: {unit: "", description: x}}
    formula: floor(2.9999999995 - (x - 1.7) ^ 2)
    unit: ""
  - name: gap
    description: undefined between 2 and 3.
    inputs: {x: {unit: "", description: x}}
    formula: sqrt((x - 2) * (x - 3))
    unit: ""
  - name: grow
    description: exp(x).
    inputs: {x: {unit: "", description: x}}
    formula: exp(x)
    unit: ""
  - name: difference
    description: x - y.
    inputs: {x: {unit: "", description: x}, y: {unit: "", description: y}}
    formula: x - y
    unit: ""
"""

SCENARIOS = """
scenarios:
  - name: narrow
    description: x from 0.2 to 1.
    bindings:
      x: {value: "0.2 to 1", reason: the issue's first row}
  - name: wide
    description: x from 0 to 2.
    bindings:
      x: {value: "0 to 2", reason: the issue's second row}
  - name: open
    description: x at least 5.
    bindings:
      x: {value: ">= 5", reason: the issue's third row}
  - name: lopsided
    description: x from 1 to 100, y from 1 to 2.
    bindings:
      x: {value: "1 to 100", reason: the dominant input}
      y: {value: "1 to 2", reason: a minor input}
  - name: shaped
    description: x lognormal with 2 and 8 at p5 and p95, y loguniform from 1 to 100.
    bindings:
      x: {value: "2 to 8", distribution: lognormal, reason: a shape}
      y: {value: "1 to 100", distribution: loguniform, reason: a shape}
  - name: across-one
    description: x from 0 to 3.
    bindings:
      x: {value: "0 to 3", reason: a singularity inside}
  - name: near-peak
    description: x from 1 to 3.
    bindings:
      x: {value: "1 to 3", reason: the floor's peak inside}
  - name: one-to-six
    description: x from 1 to 6.
    bindings:
      x: {value: "1 to 6", reason: a gap inside}
  - name: huge
    description: x from 0 to 1000.
    bindings:
      x: {value: "0 to 1000", reason: exp overflows}
  - name: open-both
    description: x and y at least 5.
    bindings:
      x: {value: ">= 5", reason: open}
      y: {value: ">= 5", reason: open}
  - name: two
    description: x from 0 to 2, y at most 3.
    bindings:
      x: {value: "0 to 2", reason: the issue's fourth row}
      y: {value: "<= 3", reason: the issue's fourth row}
"""


@pytest.fixture
def proj(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_project(tmp_path, QUERIES, SCENARIOS)


@pytest.mark.parametrize("query, scenario, low, high, method", [
    ("parabola", "narrow", 0.0, 0.25, "branch-and-bound"),   # the corners said 0 to 0.24
    ("parabola", "wide", -2.0, 0.25, "branch-and-bound"),    # the corners said -2 to 0
    ("difference", "two", -3.0, 2.0, "monotone"),            # the corners said >= -3
])
def test_the_true_range(proj, query: str, scenario: str, low: float, high: float, method: str) -> None:  # type: ignore[no-untyped-def]
    r = proj.evaluator().evaluate(query, scenario)
    assert r.low == pytest.approx(low, abs=1e-9) and r.high == pytest.approx(high, abs=1e-9)
    assert r.low <= low + 1e-12 and r.high >= high - 1e-12  # outward: never inside the true range
    assert r.bounds_method == method and r.meaning == "bounds"


def test_x_over_x_is_one_over_any_range(proj) -> None:  # type: ignore[no-untyped-def]
    r = proj.evaluator().evaluate("ratio", "open")  # the corner method said: undefined at a corner
    assert r.point == 1.0 and r.low is None and r.high is None and r.meaning is None


def test_json_says_what_the_interval_means(proj) -> None:  # type: ignore[no-untyped-def]
    out = CliRunner().invoke(cli, ["--root", str(proj.root), "--db", str(proj.db_path), "query", "parabola",
                                   "-s", "wide", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["interval_meaning"] == "bounds" and data["bounds_method"] == "branch-and-bound"
    assert data["high"] == pytest.approx(0.25)


# ---- the property: sampled values lie inside the bounds, for random formulas and boxes

NAMES = ("a", "b", "c")


def _formulas() -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(NAMES), st.sampled_from(["2", "0.5", "3"]))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
        power = st.tuples(inner, st.sampled_from(["2", "3"])).map(lambda t: f"({t[0]})^{t[1]}")
        calls = st.tuples(st.sampled_from(["min", "max"]), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})")
        positive = st.tuples(st.sampled_from(["exp", "abs"]), inner).map(lambda t: f"{t[0]}({t[1]} / 4)")
        return st.one_of(binary, power, calls, positive)
    return st.recursive(leaf, extend, max_leaves=6)


@given(text=_formulas(), ends=st.lists(st.tuples(st.floats(-3, 3), st.floats(0.01, 3)), min_size=3, max_size=3),
       seed=st.integers(0, 2**32 - 1))
def test_sampled_values_lie_within_the_bounds(text: str, ends: list[tuple[float, float]], seed: int) -> None:
    tree = intervals.simplify(formula.parse(text, set(NAMES)))
    fn = formula.compile_node(tree)
    box = {n: (lo, lo + w) for n, (lo, w) in zip(NAMES, ends)}
    used = sorted(formula.names_in(tree) & set(NAMES))
    if not used:
        return
    corners = np.array(np.meshgrid(*[box[n] for n in used])).reshape(len(used), -1)
    env = {n: corners[i] for i, n in enumerate(used)}
    at = np.broadcast_to(fn({**{n: np.float64(box[n][0]) for n in NAMES}, **env}), corners.shape[1:])
    found = intervals.bounds(tree, fn, {n: box[n] for n in used}, {n: box[n][0] for n in NAMES},
                             (float(at.min()), float(at.max())))
    rng = np.random.default_rng(seed)
    sample = {n: rng.uniform(box[n][0], box[n][1], 2000) for n in used}
    values = np.asarray(fn(sample))
    slack = 1e-9 * max(1.0, abs(found.low), abs(found.high))
    assert values.min() >= found.low - slack and values.max() <= found.high + slack, (text, box, found)


# ---- Monte Carlo

def test_samples_match_an_independent_numpy_model(tmp_path: Path) -> None:
    """power_for_chips [aws-new-carlisle] = 200000 x (24 to 27 kW) / 32, rack power uniform: the percentiles
    against numpy's own, within Monte Carlo error (1e5 samples: the 5th percentile to about 0.1%)."""
    from conftest import CHECKOUT

    from kb.project import Project

    project = Project.open(CHECKOUT, tmp_path / "kb.sqlite")
    r = project.evaluator().evaluate("power_for_chips", "aws-new-carlisle", samples=100_000, seed=42)
    model = 200_000 * np.random.default_rng(0).uniform(24e3, 27e3, 1_000_000) / 32 / 1e6  # MW, another stream
    p5, p50, p95 = np.percentile(model, [5, 50, 95])
    assert r.meaning == "samples_p5_p95" and r.samples is not None and r.samples["n"] == 100_000
    assert r.samples["p5"] == pytest.approx(p5, rel=2e-3) and r.samples["p50"] == pytest.approx(p50, rel=2e-3)
    assert r.samples["p95"] == pytest.approx(p95, rel=2e-3) and r.samples["mean"] == pytest.approx(model.mean(), rel=2e-3)
    assert r.low == pytest.approx(p5 * 1e6, rel=2e-3) and r.high == pytest.approx(p95 * 1e6, rel=2e-3)
    again = project.evaluator().evaluate("power_for_chips", "aws-new-carlisle", samples=100_000, seed=42)
    assert again.samples == r.samples  # the same seed, the same numbers
    other = project.evaluator().evaluate("power_for_chips", "aws-new-carlisle", samples=100_000, seed=43)
    assert other.samples != r.samples


def test_an_input_used_twice_is_drawn_once(proj) -> None:  # type: ignore[no-untyped-def]
    r = proj.evaluator().evaluate("ratio", "wide", samples=1000)  # x / x with x uniform on 0..2, once per sample
    assert r.samples is None or (r.samples["p5"] == pytest.approx(1.0) and r.samples["p95"] == pytest.approx(1.0))
    d = proj.evaluator().evaluate("parabola", "narrow", samples=20_000)
    assert d.samples is not None and d.samples["p95"] <= 0.25 + 1e-12  # never above the true maximum


def test_a_one_sided_input_cannot_be_sampled(proj) -> None:  # type: ignore[no-untyped-def]
    out = CliRunner().invoke(cli, ["--root", str(proj.root), "--db", str(proj.db_path), "query", "difference",
                                   "-s", "two", "--samples", "1000"])
    assert out.exit_code == 1 and "input y is a one-sided bound" in out.stderr and "Traceback" not in out.output
    bad = CliRunner().invoke(cli, ["--root", str(proj.root), "--db", str(proj.db_path), "query", "difference",
                                   "-s", "two", "--seed", "3"])
    assert bad.exit_code == 2 and "--seed goes with --samples" in bad.stderr


def test_sensitivity_puts_the_dominant_input_first(proj) -> None:  # type: ignore[no-untyped-def]
    swings = proj.evaluator().sensitivity("product", "lopsided")  # point 50.5 x 1.5
    assert [w.name for w in swings] == ["x", "y"]
    assert swings[0].at_low == pytest.approx(1 * 1.5) and swings[0].at_high == pytest.approx(100 * 1.5)
    assert swings[1].at_low == pytest.approx(50.5 * 1) and swings[1].at_high == pytest.approx(50.5 * 2)
    share_x = (148.5 ** 2) / (148.5 ** 2 + 50.5 ** 2)
    assert swings[0].share == pytest.approx(share_x) and swings[1].share == pytest.approx(1 - share_x)
    out = CliRunner().invoke(cli, ["--root", str(proj.root), "--db", str(proj.db_path), "query", "product",
                                   "-s", "lopsided", "--sensitivity", "--json"])
    data = json.loads(out.stdout)
    assert [i["name"] for i in data["inputs"]] == ["x", "y"] and "one-at-a-time" in data["measure"]


# ---- sweeps and charts

def _image(path: Path) -> tuple[int, int]:
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(str(path))  # decodes, or raises
    return pixels.shape[0], pixels.shape[1]


def test_a_sweep_varies_the_scenarios_own_input_and_draws_it(proj, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = ["--root", str(proj.root), "--db", str(proj.db_path)]
    out = CliRunner().invoke(cli, [*base, "sweep", "product", "-s", "lopsided", "--vary", "x=1:3:3", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["vary"][0]["values"] == [1.0, 2.0, 3.0] and data["values"] == pytest.approx([1.5, 3.0, 4.5])
    two = CliRunner().invoke(cli, [*base, "sweep", "product", "-s", "lopsided", "--vary", "x=1:2:2", "--vary",
                                   "y=10:100:2", "--log", "--csv"])
    assert two.stdout.splitlines() == ["x,y,product", "1,10,10", "1,100,100", "2,10,20", "2,100,200"]
    chart = tmp_path / "sweep.png"
    drawn = CliRunner().invoke(cli, [*base, "sweep", "product", "-s", "lopsided", "--vary", "x=1:100:20",
                                     "--plot", str(chart)])
    assert drawn.exit_code == 0 and "Drew" in drawn.output
    height, width = _image(chart)
    assert height > 200 and width > 300
    bad = CliRunner().invoke(cli, [*base, "sweep", "product", "-s", "lopsided", "--vary", "z=1:2:2"])
    assert bad.exit_code == 1 and "unknown input 'z'" in bad.stderr


def test_a_histogram_and_a_tornado_are_images(proj, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = ["--root", str(proj.root), "--db", str(proj.db_path), "query", "product", "-s", "lopsided"]
    hist, tornado = tmp_path / "h.png", tmp_path / "t.png"
    assert CliRunner().invoke(cli, [*base, "--samples", "5000", "--plot", str(hist)]).exit_code == 0
    assert CliRunner().invoke(cli, [*base, "--sensitivity", "--plot", str(tornado)]).exit_code == 0
    for path in (hist, tornado):
        height, width = _image(path)
        assert height > 100 and width > 300
    refused = CliRunner().invoke(cli, [*base, "--plot", str(tmp_path / "x.png")])
    assert refused.exit_code == 2 and "--plot draws --samples" in refused.stderr


def test_an_at_most_input_in_a_denominator_gives_an_at_least_result(proj) -> None:  # type: ignore[no-untyped-def]
    r = proj.evaluator().evaluate("inverse", "two")  # y <= 3 is 0 to 3, so 2 / y >= 2/3, unbounded above
    assert r.low == pytest.approx(2 / 3) and r.high is None and r.meaning == "at_least"
    out = CliRunner().invoke(cli, ["--root", str(proj.root), "--db", str(proj.db_path), "query", "inverse", "-s", "two"])
    assert out.exit_code == 0 and out.stdout.strip() == "inverse [two] = >= 0.666", out.output


def test_sweeps_and_plots_fail_before_printing(proj, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = ["--root", str(proj.root), "--db", str(proj.db_path)]
    zero = CliRunner().invoke(cli, [*base, "sweep", "inverse", "-s", "two", "--vary", "y=0:1:3"])
    assert zero.exit_code == 1 and "not a finite number (for some of the sampled or swept input values)" in zero.stderr
    assert zero.stdout == ""
    jpg = CliRunner().invoke(cli, [*base, "query", "product", "-s", "lopsided", "--samples", "1000", "--plot",
                                   str(tmp_path / "x.jpg")])
    assert jpg.exit_code == 2 and jpg.stdout == "" and "give a .png or .svg file name" in jpg.stderr
    named = CliRunner().invoke(cli, [*base, "query", "inverse", "-s", "two", "--samples", "1000"])
    assert "input y is a one-sided bound" in named.stderr


def test_a_scenario_may_shape_its_ranges(proj, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    x = proj.evaluator().evaluate("ratio", "shaped")  # x / x: one value whatever the shape
    assert x.low is None and x.high is None
    lognormal = proj.evaluator().evaluate("parabola", "shaped", samples=200_000, seed=5)
    draws_x = proj.evaluator().evaluate("difference", "shaped", samples=200_000, seed=5)  # x - y
    assert lognormal.samples is not None and draws_x.samples is not None
    corners = proj.evaluator().evaluate("difference", "shaped")
    assert corners.meaning == "ci90"  # a lognormal range is read as a 90% interval, and labelled so
    rng = np.random.default_rng(0)
    sigma = (np.log(8) - np.log(2)) / (2 * 1.6448536269514722)
    x_model = np.exp(rng.normal((np.log(2) + np.log(8)) / 2, sigma, 1_000_000))
    y_model = np.exp(rng.uniform(0, np.log(100), 1_000_000))
    p5, p50, p95 = np.percentile(x_model - y_model, [5, 50, 95])
    assert draws_x.samples["p5"] == pytest.approx(p5, rel=2e-2, abs=0.1)
    assert draws_x.samples["p50"] == pytest.approx(p50, rel=2e-2, abs=0.1)
    assert draws_x.samples["p95"] == pytest.approx(p95, rel=2e-2, abs=0.1)
    bad = tmp_path / "bad"
    from test_engine import make_project as make

    with pytest.raises(Exception, match="distribution 'gamma' is not one of"):
        make(bad, QUERIES, SCENARIOS.replace("distribution: loguniform", "distribution: gamma")).catalog  # noqa: B018


@pytest.mark.parametrize("args, message", [
    (["singular", "-s", "across-one"], "unbounded: over its inputs' ranges it takes values from -inf to inf"),
    (["difference", "-s", "open-both"], "unbounded"),
    (["grow", "-s", "huge", "--samples", "1000"], "overflows: the result is not a finite number"),
    (["gap", "-s", "one-to-six"], "is undefined inside its inputs' ranges (at x = 2."),
])
def test_an_unbounded_or_overflowing_result_is_an_error_not_a_value(proj, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    out = CliRunner().invoke(cli, ["--root", str(proj.root), "--db", str(proj.db_path), "query", *args])
    assert out.exit_code == 1 and message in out.stderr and out.stdout == "", out.output
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.output


def test_a_floor_near_a_whole_number_is_bounded_as_it_is_evaluated(proj) -> None:  # type: ignore[no-untyped-def]
    r = proj.evaluator().evaluate("stepped", "near-peak")  # at x = 1.7 the floor of 2.9999999995 is 3 (1e-9 rule)
    assert r.high == pytest.approx(3.0) and r.low == pytest.approx(1.0)


def test_shares_of_huge_swings_and_samples_in_the_asked_unit(proj, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    swings = proj.evaluator().sensitivity("grow", "near-peak")
    assert swings[0].share == pytest.approx(1.0)
    from conftest import CHECKOUT

    base = ["--root", str(CHECKOUT), "--db", str(tmp_path / "shipped.sqlite")]
    out = CliRunner().invoke(cli, [*base, "query", "power_for_chips", "-s", "aws-new-carlisle", "--samples", "1000",
                                   "--unit", "kW", "--json"])
    assert out.exit_code == 0, (out.output, out.exception)
    data = json.loads(out.stdout)
    assert data["unit"] == "kW" and data["samples"]["p5"] == pytest.approx(data["low"])  # both in kW
    elsewhere = CliRunner().invoke(cli, [*base, "sweep", "sequences_per_minibatch", "-s", "h100-1200k", "--vary",
                                         "relative_throughput=1:5:3"])
    assert elsewhere.exit_code == 1 and "does not bind it itself" in elsewhere.stderr
    unknown = CliRunner().invoke(cli, [*base, "sweep", "power_for_chips", "-s", "aws-new-carlisle", "--vary",
                                       "chip_count=1:2:2", "--set", "nosuch=3"])
    assert unknown.exit_code == 1 and "unknown input 'nosuch'" in unknown.stderr


def test_a_90_percent_interval_from_zero_is_never_negative() -> None:
    from kb import sampling

    draws = sampling.draw("a", "ci90", 5.0, 0.0, 10.0, 100_000, np.random.default_rng(3))
    assert draws.min() >= 0 and 4.5 < float(np.median(draws)) < 5.5
    again = sampling.draw("a", "ci90", 5.0, 0.0, 10.0, 100_000, np.random.default_rng(3))
    assert (draws == again).all()  # redraws are seeded too


def test_a_distribution_written_inline_draws_as_the_key_does(proj, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inline = make_project(tmp_path / "inline", QUERIES, SCENARIOS.replace(
        'x: {value: "2 to 8", distribution: lognormal, reason: a shape}',
        'x: {value: "lognormal(2, 8)", reason: a shape}').replace(
        'y: {value: "1 to 100", distribution: loguniform, reason: a shape}',
        'y: {value: "loguniform(1 to 100)", reason: a shape}'))
    keyed = proj.evaluator().evaluate("difference", "shaped", samples=50_000, seed=3)
    written = inline.evaluator().evaluate("difference", "shaped", samples=50_000, seed=3)
    assert written.samples == keyed.samples  # the same shapes: the same draws
    assert inline.evaluator().evaluate("difference", "shaped").meaning == "ci90"  # lognormal(...) is a 90% interval
    # on the command line, in a unit, the unit inside or after the parentheses
    base = ["--root", str(proj.root), "--db", str(proj.db_path), "query", "difference", "-s", "shaped",
            "--samples", "50000", "--seed", "3", "--json"]
    found = []
    for text in ("lognormal(2 to 8)", "lognormal(2, 8) 1"):
        out = CliRunner().invoke(cli, [*base, "--set", f"x={text}"])
        assert out.exit_code == 0, out.output
        found.append(json.loads(out.stdout)["samples"])
    assert found[0] == found[1]
    # a --set input is drawn in its own place in the stream: the same distribution, other draws
    assert found[0]["p50"] == pytest.approx(keyed.samples["p50"], rel=0.03)
    assert found[0]["p95"] == pytest.approx(keyed.samples["p95"], rel=0.03)


@pytest.mark.parametrize("text, message", [
    ("lognormal(4)", "lognormal(...) needs a range, e.g. 'lognormal(2 to 4) month'"),
    ("normal(1, 2, 3)", "normal(...) takes one range"),
    ("lognormal(0 to 4)", "lognormal needs a range above zero"),
    ("uniform(1 s to 2 s) s", "gives a unit inside and after uniform(...); give it once"),
])
def test_a_bad_inline_distribution_is_a_usage_error(proj, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    out = CliRunner().invoke(cli, ["--root", str(proj.root), "--db", str(proj.db_path), "query", "difference",
                                   "-s", "shaped", "--set", f"x={text}"])
    assert out.exit_code == 2 and message in out.output, out.output


def test_an_inline_distribution_and_a_distribution_key_conflict(tmp_path: Path) -> None:
    bad = SCENARIOS.replace('x: {value: "2 to 8", distribution: lognormal, reason: a shape}',
                            'x: {value: "normal(2 to 8)", distribution: lognormal, reason: a shape}')
    with pytest.raises(Exception, match=r"already says its distribution \(normal\); drop 'distribution'"):
        make_project(tmp_path, QUERIES, bad).catalog  # noqa: B018


def test_a_large_heatmap_svg_embeds_one_image(tmp_path: Path) -> None:
    from conftest import KB

    out = tmp_path / "heat.svg"
    r = KB(Path(__file__).resolve().parent.parent, tmp_path / "kb.sqlite")("sweep", "gradient_bandwidth", "-s", "b200-500k-nvl72", "--vary", "gpus_per_domain=8:576:200",
           "--vary", "utilization=30%:50%:200", "--plot", str(out))
    assert r.exit_code == 0, r.output
    assert "over 40000 points: " in r.stdout  # more than a table holds: drawn, its range printed
    svg = out.read_text()
    assert svg.startswith("<?xml") and 1 <= svg.count("<image") <= 2  # mesh (and colour bar) as rasters
    assert out.stat().st_size < 1_000_000  # a path per cell: about 7.6 MB
