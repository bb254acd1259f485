"""Generated bad input (hypothesis, a fixed budget): whatever a user gives `kb add`, `kb load`, `kb query --set`,
a unit, a date or a formula, kb answers with exit 0, or with exit 1 or 2 and one line on stderr, never a
traceback; `--json` output parses; and a command that fails leaves the database exactly as it was."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURE, KB
from helpers import all_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("KB_HYPOTHESIS_EXAMPLES", "40"))  # per test; CI runs this fixed, derandomized budget
BUDGET = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# text a user might type: numbers, units, dates, punctuation, control and invisible characters, long runs
PIECES = st.sampled_from(["1", "0", "-1", "1e308", "1e-400", "nan", "inf", "2 to 1", "~", "±", "%", "W", "kW", "GW",
                          "FLOP/s", "^", "**", "(", ")", "/", "*", "km/m", "1:7", "2024-13-40", "0001-01-01",
                          "9999-12-31T23:59:59-14:00", "T", "Z", "+14:00", " ", "\t", "\x00", "\x1b[2J", "\u200b",
                          "\u202e", "é", "'", '"', "{", "}", "[", "]", ":", "-", "#", "&", "|", "9" * 400])
TEXT = st.one_of(st.lists(PIECES, max_size=6).map("".join), st.text(max_size=40))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the fixture project and its database, made once (every case must leave the database as is)."""
    root = tmp_path_factory.mktemp("props") / "project"
    shutil.copytree(FIXTURE, root)
    db = root.parent / "kb.sqlite"
    assert KB(root, db)("facts").exit_code == 0
    return root, db


def judged(kb: KB, db: Path, *args: str) -> None:
    """Run one command and hold it to the contract above."""
    before = all_rows(db)
    r = kb(*args)
    assert r.exit_code in (0, 1, 2), (args, r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output, (args, r.output)
    if r.exit_code:
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: "), (args, r.stderr)
        assert all_rows(db) == before, args  # nothing written
    elif "--json" in args:
        json.loads(r.stdout)  # strict: no NaN or Infinity


@BUDGET
@given(value=TEXT, unit=TEXT, as_of=st.one_of(st.none(), TEXT))
def test_kb_add_fact(project: tuple[Path, Path], value: str, unit: str, as_of: str | None) -> None:
    root, db = project
    args = ["add", "fact", "h100-sxm", "tdp", value, unit, "--source", "vendor-sheet", "--note", "generated"]
    judged(KB(root, db), db, *args, *(["--as-of", as_of] if as_of is not None else []))


@BUDGET
@given(name=TEXT, alias=TEXT, kind=st.sampled_from(["accelerator", "cluster", "nope", ""]))
def test_kb_add_entity(project: tuple[Path, Path], name: str, alias: str, kind: str) -> None:
    root, db = project
    judged(KB(root, db), db, "add", "entity", "generated-entity", "--kind", kind, "--name", name, "--alias", alias)


@BUDGET
@given(data=st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), TEXT),
                         lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                 st.dictionaries(st.sampled_from(
                                                     ["facts", "sources", "entities", "events", "aliases", "entity",
                                                      "property", "value", "unit", "source", "id", "title", "kind",
                                                      "recorded_at", "as_of", "text", "supersedes", "fact", "rank"]),
                                                     inner, max_size=5)), max_leaves=12))
def test_kb_load(project: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory, data: object) -> None:
    root, db = project
    path = tmp_path_factory.mktemp("load") / "generated.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    judged(KB(root, db), db, "load", str(path))


@BUDGET
@given(raw=st.binary(max_size=200))
def test_kb_load_of_any_bytes(project: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    root, db = project
    path = tmp_path_factory.mktemp("bytes") / "generated.yaml"
    path.write_bytes(raw)
    judged(KB(root, db), db, "load", str(path))


@BUDGET
@given(name=st.sampled_from(["site_power", "gpu_count", "flops", "nope", ""]), value=TEXT,
       known_at=st.one_of(st.none(), TEXT), as_json=st.booleans())
def test_kb_query_set_and_known_at(project: tuple[Path, Path], name: str, value: str, known_at: str | None,
                                   as_json: bool) -> None:
    root, db = project
    args = ["query", "power_per_gpu", "-s", "goodyear-news", "--set", f"{name}={value}"]
    args += ["--known-at", known_at] if known_at is not None else []
    judged(KB(root, db), db, *args, *(["--json"] if as_json else []))


@BUDGET
@given(formula=st.lists(st.sampled_from(["site_power", "gpu_count", "(", ")", "+", "-", "*", "/", "^", "**", "1",
                                         "0", "1e308", "x", "max", "min", ",", "sqrt", "log", "exp", " "]),
                        min_size=1, max_size=10).map("".join), unit=TEXT)
def test_a_query_with_a_generated_formula(tmp_path_factory: pytest.TempPathFactory, formula: str, unit: str) -> None:
    root = tmp_path_factory.mktemp("formula") / "project"
    shutil.copytree(FIXTURE, root)
    (root / "queries" / "generated.yaml").write_text(yaml.safe_dump({"queries": [{
        "name": "generated", "description": "generated", "formula": formula, "unit": unit or "kW",
        "inputs": {"site_power": {"unit": "MW", "description": "d"}, "gpu_count": {"unit": "", "description": "d"}}}]}),
        encoding="utf-8")
    (root / "scenarios" / "generated.yaml").write_text(yaml.safe_dump({"scenarios": [{
        "name": "generated", "description": "generated", "queries": ["generated"],
        "bindings": {"site_power": {"fact": "goodyear.site_power"},
                     "gpu_count": {"fact": "goodyear.gpu_count", "source": "news-item"}}}]}), encoding="utf-8")
    db = root.parent / "kb.sqlite"
    kb = KB(root, db)
    for args in (("query", "generated", "-s", "generated", "--json"), ("check",)):
        r = kb(*args)
        assert r.exit_code in (0, 1, 2) and "Traceback" not in r.output, (formula, r.output, r.exception)
        if r.exit_code and args[0] == "query":
            assert r.stderr.count("\n") == 1, (formula, r.stderr)
        elif args[0] == "query":
            json.loads(r.stdout)
