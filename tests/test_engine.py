"""The query engine on a small project written per test: intervals, traces, overrides, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from textwrap import dedent

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.errors import DimensionError, EvaluationError, FormulaError, KBError, NotFoundError
from kb.project import Project

CHECKOUT = Path(__file__).resolve().parent.parent

FACTS = """
sources:
  - {id: src, title: A source, kind: blog}
entities:
  - {id: gpu, kind: accelerator}
  - {id: site, kind: site}
facts:
  - {entity: gpu, property: dense_bf16_flops, value: "1e15", unit: FLOP/s, source: src, locator: p. 1}
  - {entity: gpu, property: tdp, value: "600 to 800", unit: W, source: src, locator: p. 2}
  - {entity: site, property: site_power, value: "100 to 200", unit: MW, source: src, locator: p. 3}
  - {entity: site, property: gpu_count, value: ">=50000", unit: "", source: src, locator: p. 4}
  - {entity: site, property: building_count, value: "2", unit: "", source: src, locator: p. 5}
"""

QUERIES = """
queries:
  - name: per_gpu
    description: Site power per accelerator.
    inputs:
      power: {unit: MW, description: site power}
      count: {unit: "", description: accelerators}
    formula: power / count
    unit: kW
  - name: ratio
    description: A range over itself.
    inputs:
      power: {unit: MW, description: site power}
    formula: power / power
    unit: ""
  - name: twice
    description: A range used twice, added.
    inputs:
      power: {unit: MW, description: site power}
    formula: power + power
    unit: MW
  - name: gpus_powered
    description: Accelerators a site powers, range in numerator and denominator.
    inputs:
      power: {unit: MW, description: site power}
      tdp: {unit: W, description: per accelerator}
    formula: power / tdp
    unit: ""
  - name: overhead
    description: Site power over accelerator power, reusing gpus_powered (the same ranged inputs).
    inputs:
      power: {unit: MW, description: site power}
      tdp: {unit: W, description: per accelerator}
      powered: {query: gpus_powered}
    formula: power / (powered * tdp)
    unit: ""
  - name: root
    description: A square root.
    inputs:
      x: {unit: "", description: a number}
    formula: sqrt(x - 8)
    unit: ""
  - name: loop_a
    description: Part of a cycle.
    inputs:
      b: {query: loop_b}
    formula: b
    unit: ""
  - name: loop_b
    description: Part of a cycle.
    inputs:
      a: {query: loop_a}
    formula: a
    unit: ""
"""

SCENARIOS = """
scenarios:
  - name: base
    description: Facts as recorded.
    queries: [per_gpu, ratio, twice, gpus_powered, overhead]
    bindings:
      power: {fact: site.site_power}
      count: {fact: site.gpu_count}
      tdp: {fact: gpu.tdp}
  - name: child
    extends: base
    description: Overrides one binding.
    bindings:
      count: {value: "1000", reason: a round number}
  - name: negative
    description: Bad input for sqrt.
    bindings:
      x: {value: "4", reason: to test errors}
  - name: zero
    extends: base
    description: Division by zero.
    bindings:
      count: {value: "0", reason: to test errors}
  - name: cyclic
    description: Queries that depend on each other.
"""


def make_project(tmp_path: Path, queries: str = QUERIES, scenarios: str = SCENARIOS) -> Project:
    root = tmp_path / "proj"
    (root / "schema").mkdir(parents=True)
    shutil.copy(CHECKOUT / "schema" / "properties.yaml", root / "schema" / "properties.yaml")
    for folder, text in (("facts", FACTS), ("queries", queries), ("scenarios", scenarios)):
        (root / folder).mkdir()
        (root / folder / "main.yaml").write_text(dedent(text))
    return Project.open(root, tmp_path / "kb.sqlite")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def run(project: Project, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--root", str(project.root), "--db", str(project.db_path), *args])
    return result.exit_code, result.stdout, result.stderr


def test_range_over_itself_is_exact(project: Project) -> None:
    r = project.evaluator().evaluate("ratio", "base")
    assert r.point == 1.0 and r.low is None and r.high is None


def test_range_used_twice_is_one_quantity(project: Project) -> None:
    r = project.evaluator().evaluate("twice", "base")
    value, low, high = r.shown("MW")
    assert (value, low, high) == pytest.approx((300, 200, 400))


def test_range_in_numerator_and_denominator(project: Project) -> None:
    r = project.evaluator().evaluate("gpus_powered", "base")
    value, low, high = r.shown("")
    # 100..200 MW over 600..800 W: low = 100e6/800, high = 200e6/600, point = 150e6/700.
    assert low == pytest.approx(125_000)
    assert high == pytest.approx(333_333.33, rel=1e-6)
    assert value == pytest.approx(150e6 / 700)


def test_shared_ranges_across_subqueries_do_not_widen(project: Project) -> None:
    # power / ((power / tdp) * tdp) is exactly 1 when each range is one quantity.
    r = project.evaluator().evaluate("overhead", "base")
    assert r.point == pytest.approx(1.0)
    assert r.low is None and r.high is None


def test_one_sided_input_gives_one_sided_result(project: Project) -> None:
    # 100..200 MW over >= 50000 GPUs: at most 4 kW; the 0 reached only as the count goes to infinity
    # is an open end, so the result is one-sided ("<= 4 kW"), not the range 0 to 4 kW.
    r = project.evaluator().evaluate("per_gpu", "base")
    value, low, high = r.shown("kW")
    assert value == pytest.approx(150e6 / 50_000 / 1e3)
    assert high == pytest.approx(4.0)
    assert low is None
    code, out, _ = run(project, "query", "per_gpu", "-s", "base")
    assert code == 0 and out.strip() == "per_gpu [base] = <= 4 kW"


def test_point_of_range_lies_within_interval(project: Project) -> None:
    for q in ("gpus_powered", "twice", "per_gpu"):
        r = project.evaluator().evaluate(q, "base")
        assert (r.low if r.low is not None else -float("inf")) <= r.point <= (r.high if r.high is not None else float("inf"))


def test_extends_overrides_binding(project: Project) -> None:
    r = project.evaluator().evaluate("per_gpu", "child")
    assert r.shown("kW")[0] == pytest.approx(150.0)
    assert r.inputs[1].kind == "assumption"


def test_trace_carries_facts_and_sources(project: Project) -> None:
    code, out, _ = run(project, "query", "per_gpu", "-s", "base", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"query", "scenario", "value", "unit", "low", "high", "inputs"}
    power = next(i for i in data["inputs"] if i["name"] == "power")
    assert power["kind"] == "fact"
    assert power["fact"]["source"] == {"id": "src", "title": "A source", "url": None}
    assert power["fact"]["locator"] == "p. 3"
    assert (power["value"], power["low"], power["high"], power["unit"]) == (150.0, 100.0, 200.0, "MW")


def test_set_overrides_everywhere_and_checks_dimension(project: Project) -> None:
    code, out, _ = run(project, "query", "per_gpu", "-s", "base", "--set", "count=2000", "--set", "power=10 MW", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["value"] == pytest.approx(5.0) and data["low"] is None
    code, out, err = run(project, "query", "per_gpu", "-s", "base", "--set", "power=10 s")
    assert code == 1 and "dimension" in err and "[time]" in err and "Traceback" not in err
    code, out, err = run(project, "query", "per_gpu", "-s", "base", "--set", "powr=10 MW")
    assert code == 1 and "did you mean 'power'" in err


def test_unit_option(project: Project) -> None:
    code, out, _ = run(project, "query", "per_gpu", "-s", "child", "--unit", "W")
    assert code == 0 and "per_gpu [child] = 100000 to 200000 W" in out
    code, _, err = run(project, "query", "per_gpu", "-s", "child", "--unit", "s")
    assert code == 1 and err.startswith("Error:")
    code, _, err = run(project, "query", "per_gpu", "-s", "child", "--unit", "furlong")
    assert code == 2


def test_unknown_names_suggest(project: Project) -> None:
    code, _, err = run(project, "query", "per_gpo", "-s", "base")
    assert code == 1 and "did you mean 'per_gpu'" in err
    code, _, err = run(project, "query", "per_gpu", "-s", "bass")
    assert code == 1 and "did you mean 'base'" in err


def test_unbound_input_names_input_query_and_scenario(project: Project) -> None:
    with pytest.raises(EvaluationError) as exc:
        project.evaluator().evaluate("root", "base")
    assert "'x'" in str(exc.value) and "'root'" in str(exc.value) and "'base'" in str(exc.value)


def test_cycle_is_named(project: Project) -> None:
    with pytest.raises(EvaluationError, match=r"cycle: loop_a \(cyclic\) -> loop_b \(cyclic\) -> loop_a"):
        project.evaluator().evaluate("loop_a", "cyclic")


def test_invalid_arithmetic_names_query_and_inputs(project: Project) -> None:
    with pytest.raises(EvaluationError, match=r"square root of a negative.*query root.*x = 4"):
        project.evaluator().evaluate("root", "negative")
    code, _, err = run(project, "query", "per_gpu", "-s", "zero")
    assert code == 1 and "division by zero" in err and "count = 0" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "formula,unit,error,fragment",
    [
        ("power + 1 s + tdp", "MW", DimensionError, "'1 s' in '(power + 1 s)'"),
        ("power / tdp", "kW", DimensionError, "formula 'power / tdp'"),
        ("powr / tdp", "", FormulaError, "did you mean 'power'"),
        ("log(power) + tdp", "", DimensionError, "log()"),
    ],
)
def test_dimension_errors_at_load(tmp_path: Path, formula: str, unit: str, error: type, fragment: str) -> None:
    queries = f"""
    queries:
      - name: bad
        description: Broken on purpose.
        inputs:
          power: {{unit: MW, description: p}}
          tdp: {{unit: W, description: t}}
        formula: {formula}
        unit: "{unit}"
    """
    project = make_project(tmp_path, queries=queries, scenarios="scenarios: []\n")
    with pytest.raises(error) as exc:
        project.catalog  # noqa: B018
    assert fragment in str(exc.value)
    assert "queries/main.yaml:" in str(exc.value) and "query bad" in str(exc.value)


def test_binding_of_wrong_dimension_is_refused(tmp_path: Path) -> None:
    scenarios = SCENARIOS.replace("tdp: {fact: gpu.tdp}", "tdp: {fact: gpu.dense_bf16_flops}")
    project = make_project(tmp_path, scenarios=scenarios)
    with pytest.raises(DimensionError, match="input tdp"):
        project.evaluator().evaluate("gpus_powered", "base")


def test_check_reports_broken_scenario(tmp_path: Path) -> None:
    scenarios = SCENARIOS.replace("queries: [per_gpu, ratio", "queries: [root, per_gpu, ratio")
    project = make_project(tmp_path, scenarios=scenarios)
    code, out, _ = run(project, "check")
    assert code == 1
    assert "scenario base, query root" in out and "[evaluation]" in out


def test_queries_and_scenarios_listing(project: Project) -> None:
    code, out, _ = run(project, "queries", "--json")
    assert code == 0
    names = {q["name"] for q in json.loads(out)}
    assert {"per_gpu", "ratio", "gpus_powered"} <= names
    code, out, _ = run(project, "scenarios")
    assert code == 0 and "child" in out and "base" in out
    code, out, _ = run(project, "scenarios", "--json")
    child = next(s for s in json.loads(out) if s["name"] == "child")
    assert child["extends"] == "base" and child["bindings"]["power"]["defined_in"] == "base"


def test_compare_and_uses(project: Project) -> None:
    code, out, _ = run(project, "compare", "per_gpu", "-s", "base", "-s", "child")
    assert code == 0 and "per_gpu" in out and "count" in out
    code, out, _ = run(project, "uses", "site.site_power")
    assert code == 0
    lines = {tuple(line.split()[:2]) for line in out.splitlines()[2:]}
    assert {("base", "per_gpu"), ("child", "per_gpu"), ("base", "overhead")} <= lines
    code, out, _ = run(project, "uses", "gpu.dense_bf16_flops")
    assert code == 0 and "Nothing depends" in out


def test_across_claims(project: Project) -> None:
    code, out, err = run(project, "add", "fact", "site", "gpu_count", "100000", "", "--source", "src")
    assert code == 0, err
    code, out, _ = run(project, "query", "per_gpu", "-s", "base", "--across", "site.gpu_count", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {r["value_text"] for r in rows} == {">=50000", "100000"}
    exact = next(r for r in rows if r["value_text"] == "100000")
    assert exact["result"]["value"] == pytest.approx(1.5)  # 150 MW / 100K in kW


def test_known_at_hides_later_facts(project: Project) -> None:
    code, _, _ = run(project, "add", "fact", "site", "gpu_count", "100000", "", "--source", "src")
    assert code == 0
    project.store.record_rank(project.store.best("site", "gpu_count")["id"], "preferred", "newer count")
    now = project.evaluator().evaluate("per_gpu", "base")
    assert now.shown("kW")[0] == pytest.approx(1.5)
    before = project.evaluator(known_at="2000-01-01")
    with pytest.raises(NotFoundError):
        before.evaluate("per_gpu", "base")


def test_errors_are_kberrors_with_one_line(project: Project) -> None:
    for args in (["query", "nope", "-s", "base"], ["query", "root", "-s", "negative"], ["uses", "site.nope"]):
        code, out, err = run(project, *args)
        assert code == 1, args
        assert err.count("\n") == 1 and err.startswith("Error: "), err
    assert issubclass(EvaluationError, KBError)
