"""The shipped knowledge: the repository's own facts/ load cleanly and hold what the reports need.

These use the real checkout as the project root, with a database in a temporary folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import CHECKOUT, KB

from kb.project import Project

REQUIRED_ENTITIES = [
    "h100-sxm", "b200", "trn2", "llama-3-405b", "llama-3-cluster", "openai-goodyear", "aws-new-carlisle",
]


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def shipped_db(tmp_path_factory) -> Path:
    """One database of the shipped facts for this module (read-only use: nothing is written to it)."""
    db = tmp_path_factory.mktemp("shipped") / "kb.sqlite"
    assert Project.open(CHECKOUT, db).store.claims()  # creating it loads facts/
    return db


@pytest.fixture
def shipped(shipped_db):
    return Project.open(CHECKOUT, shipped_db).store


def test_shipped_facts_load_without_error(tmp_path):
    store = Project.open(CHECKOUT, tmp_path / "fresh.sqlite").store
    assert store.claims()


def test_shipped_check_is_clean(shipped_db):
    result = KB(CHECKOUT, shipped_db)("check")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # Real disagreements between sources, kept on purpose and surfaced as warnings, not errors. (The
    # 1.2M "optimizer steps" was the learning-rate schedule's length: deprecated, so no longer a conflict.)
    warned = sorted(line.split(":")[1].strip() for line in lines if line.startswith("warning:"))
    assert warned == sorted([
        "claude-3.5-sonnet.training_compute", "openai-goodyear.building_count", "openai-goodyear.gpu_count",
        "h100-sxm.hbm_bandwidth",
    ])
    assert lines[-1] == "OK: no problems (4 warning(s): claims that disagree; `kb conflicts` lists them)."
    strict = KB(CHECKOUT, shipped_db)("check", "--strict")
    assert strict.exit_code == 1 and "4 warning(s)" in strict.output


def test_nesov_quotes_are_in_the_comment_text(shipped):
    text = collapse((CHECKOUT / "facts" / "texts" / "nesov-comments.txt").read_text(encoding="utf-8"))
    quoted = [f for f in shipped.claims() if f["source"] == "nesov-comments" and f["quote"]]
    assert quoted, "no quoted facts from nesov-comments"
    missing = [(f["id"], f["quote"]) for f in quoted if collapse(f["quote"]) not in text]
    assert not missing, missing


def test_enough_facts_from_enough_sources(shipped):
    facts = shipped.claims()
    assert len(facts) >= 40
    assert len({f["source"] for f in facts}) >= 12
    assert len(shipped.sources()) >= 12


def test_every_fact_names_a_recorded_source_and_entity(shipped):
    sources, entities = shipped.sources(), shipped.entities()
    for f in shipped.claims():
        assert f["source"] in sources
        assert f["entity"] in entities


@pytest.mark.parametrize("entity", REQUIRED_ENTITIES)
def test_required_entities_exist(shipped, entity):
    assert entity in shipped.entities()


def test_competing_gpu_counts_for_goodyear(shipped):
    values = sorted(f["value"] for f in shipped.claims("openai-goodyear", "gpu_count"))
    assert 100000.0 in values and 150000.0 in values
    assert shipped.best("openai-goodyear", "gpu_count")["value"] in values


def test_h100_dense_bf16_is_dense_not_sparse(shipped):
    best = shipped.best("h100-sxm", "dense_bf16_flops")
    assert best["si_value"] == pytest.approx(989.4e12, rel=0.01)
