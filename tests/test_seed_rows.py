"""Every estimate in the seed comments, reproduced through `kb query Q -s S --json`.

Expected figures are recomputed from the seed's own stated inputs (see issue 3);
each result must be within 5%, and its derivation must reach the comment's inputs
(the facts and assumptions listed per row) without binding the answer itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli

ROOT = Path(__file__).resolve().parent.parent

# id, scenario, query, unit (None: a count, queried without --unit), expected (value or (low, high)),
# and the inputs the derivation must reach: entity.property for facts, a name for assumptions.
ROWS = [
    ("S01", "llama-3-405b", "gradient_size", "TB", 1.62, {"llama-3-405b.parameters", "llama-3-405b.bytes_per_value"}),
    ("S02", "llama-3-405b", "gradient_bandwidth", "Tbps", 12.96, {"llama-3-405b.parameters", "sync_window"}),
    ("S03", "llama-3-405b", "step_time", "s", 6.22,
     {"llama-3-405b.parameters", "llama-3-405b.sequence_length", "dgx-h100.gpus_per_nvlink_domain",
      "h100-sxm.dense_bf16_flops", "llama-3-405b.utilization"}),
    ("S04", "llama-3-405b", "sequences_per_minibatch", None, 2000, {"llama-3-405b.gpu_count", "dgx-h100.gpus_per_nvlink_domain"}),
    ("S05", "llama-3-405b", "tokens_per_minibatch", None, 1.64e7, {"llama-3-405b.gpu_count", "llama-3-405b.sequence_length"}),
    ("S06", "llama-3-405b", "optimizer_steps", None, 9.77e5, {"llama-3-405b.training_tokens", "llama-3-405b.sequence_length"}),
    ("S07", "llama-3-405b", "training_duration", "day", 70.6,
     {"llama-3-405b.training_compute", "llama-3-405b.gpu_count", "h100-sxm.dense_bf16_flops", "llama-3-405b.utilization"}),
    ("S08", "b200-500k-nvl72", "compute_ratio", None, 77.2, {"gpu_count", "b200.relative_throughput", "llama-3-405b.gpu_count"}),
    ("S09", "b200-500k-nvl72", "model_params", None, 3.55e12, {"llama-3-405b.parameters", "b200.relative_throughput"}),
    ("S10", "b200-500k-nvl72", "sequences_per_minibatch", None, 6944, {"gpu_count", "gb200-nvl72.gpus_per_nvlink_domain"}),
    ("S11", "b200-500k-nvl72", "step_time", "s", 2.43,
     {"llama-3-405b.parameters", "gb200-nvl72.gpus_per_nvlink_domain", "h100-sxm.dense_bf16_flops", "b200.relative_throughput"}),
    ("S12", "b200-500k-nvl72", "gradient_bandwidth", "Tbps", 290,
     {"llama-3-405b.parameters", "llama-3-405b.bytes_per_value", "baseline_window", "dgx-h100.gpus_per_nvlink_domain",
      "gb200-nvl72.gpus_per_nvlink_domain", "b200.relative_throughput"}),
    ("S13", "h100-1200k", "sequences_per_minibatch", None, 1.5e5,
     {"gpu_count", "b200.relative_throughput", "dgx-h100.gpus_per_nvlink_domain"}),
    ("S14", "tensor-parallel-405b", "min_square_tile", None, 1000, {"h100-sxm.dense_bf16_flops", "h100-sxm.hbm_bandwidth", "bytes_per_value"}),
    ("S15", "tensor-parallel-405b", "tensor_parallel_gpus", None, 6784,
     {"llama-3-405b.model_dimension", "llama-3-405b.ffn_dimension", "llama-3-405b.sequence_length", "h100-sxm.hbm_bandwidth"}),
    ("S16", "openai-goodyear", "site_power", "MW", 144, {"openai-goodyear.building_count", "openai-goodyear.building_power"}),
    ("S17", "openai-goodyear", "power_per_gpu", "kW", 1.47, {"openai-goodyear.site_power", "openai-goodyear.gpu_count"}),
    ("S18", "aws-new-carlisle", "power_per_chip", "kW", (0.75, 0.8438), {"trn2-rack.power", "trn2-rack.gpu_count"}),
    ("S19", "aws-new-carlisle", "power_for_chips", "MW", (150, 168.8), {"trn2-rack.power", "chip_count"}),
    ("S20", "aws-new-carlisle", "chip_capacity", None, (5.393e5, 6.067e5),
     {"aws-new-carlisle.building_count", "aws-new-carlisle.building_power", "trn2-rack.power"}),
    ("S21", "aws-new-carlisle", "h100_equivalents", None, 2.6e5,
     {"aws-new-carlisle.gpu_count", "trn2.dense_bf16_flops", "h100-sxm.dense_bf16_flops"}),
    ("S22", "anthropic-2024", "training_compute", "FLOP", (1.052e26, 2.104e26),
     {"anthropic.compute_multiple", "aws-new-carlisle.gpu_count", "duration", "utilization"}),
    ("S23", "anthropic-2024", "training_cost", "USD", (1.461e8, 2.922e8),
     {"anthropic.compute_multiple", "duration", "h100-sxm.rental_price"}),
    ("S24", "anthropic-2025", "training_compute", "FLOP", (5.26e26, 1.052e27),
     {"aws-new-carlisle.gpu_count", "trn2.dense_bf16_flops", "duration"}),
    ("S25", "frontier-budget-3b", "affordable_gpus", None, 3.422e5,
     {"frontier-training-spend-2024.training_cost", "h100-sxm.rental_price", "frontier-training-spend-2024.training_duration"}),
    ("S26", "frontier-run-2023", "training_cost", "USD", 1.169e8,
     {"frontier-cluster-2023.gpu_count", "frontier-cluster-2023.training_duration", "h100-sxm.rental_price"}),
    ("S27", "frontier-run-2023", "training_compute", "FLOP", 8.415e25,
     {"frontier-cluster-2023.gpu_count", "frontier-cluster-2023.training_duration", "h100-sxm.dense_bf16_flops", "utilization"}),
    ("S28", "sonnet-3.5-cost-cap", "training_compute", "FLOP", 7.2e25,
     {"claude-3.5-sonnet.training_cost", "h100-sxm.rental_price", "h100-sxm.dense_bf16_flops"}),
    ("S29", "brain-1e20", "params_per_synapse", None, (3.333e5, 5e5), {"model_parameters", "human-brain.synapse_count"}),
    ("S30", "diloco-1.1b", "bandwidth_reduction", None, 125, {"opendiloco-1.1b.sync_interval"}),
]
# Rows whose answer is, by definition, one of their stated inputs (communicating every 125
# steps cuts bandwidth 125-fold); for the others no input may already hold the answer.
ANSWER_IS_AN_INPUT = {"S30"}


def _leaves(node: dict) -> list[dict]:
    if node.get("kind") == "query":
        return [leaf for child in node["inputs"] for leaf in _leaves(child)]
    return [node]


def _near(got: float, want: float) -> bool:
    return abs(got - want) <= 0.05 * abs(want)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seed") / "kb.sqlite"


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_seed_row(row: tuple, db: Path) -> None:
    rid, scenario, query, unit, expected, required = row
    args = ["--root", str(ROOT), "--db", str(db), "query", query, "-s", scenario, "--json"]
    if unit:
        args += ["--unit", unit]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["query"] == query and data["scenario"] == scenario
    if unit:
        assert data["unit"] == unit
    else:  # a count: its value is the count itself, never a scaled unit such as K or T
        assert data["unit"] in ("", "token"), data["unit"]
    if isinstance(expected, tuple):
        assert data["low"] is not None and data["high"] is not None, f"{rid}: expected a range"
        assert _near(data["low"], expected[0]), f"{rid}: low {data['low']} vs {expected[0]}"
        assert _near(data["high"], expected[1]), f"{rid}: high {data['high']} vs {expected[1]}"
        assert data["low"] <= data["value"] <= data["high"]
    else:
        assert _near(data["value"], expected), f"{rid}: {data['value']} vs {expected}"

    leaves = _leaves({"kind": "query", "inputs": data["inputs"]})
    reached = set()
    for leaf in leaves:
        if leaf["kind"] == "fact":
            fact = leaf["fact"]
            reached.add(f"{fact['entity']}.{fact['property']}")
            assert fact["source"]["id"], f"{rid}: fact without source"
            assert fact["locator"], f"{rid}: fact {fact['id']} has no locator"
        else:
            assert leaf["kind"] == "assumption", f"{rid}: unexpected leaf {leaf}"
            assert leaf["reason"], f"{rid}: assumption {leaf['name']} has no reason"
            reached.add(leaf["name"])
    missing = required - reached
    assert not missing, f"{rid}: derivation does not reach {sorted(missing)}"
    if rid not in ANSWER_IS_AN_INPUT:
        point = data["value"] if not isinstance(expected, tuple) else None
        for leaf in leaves:
            if point is not None and leaf["unit"] == data["unit"]:
                assert not _near(leaf["value"], point), f"{rid}: input {leaf['name']} already holds the answer"


def test_rows_cover_every_seed_scenario() -> None:
    from kb.definitions import Catalog

    catalog = Catalog.read(ROOT)
    seed_scenarios = {r[1] for r in ROWS}
    assert seed_scenarios <= set(catalog.scenarios)
    for rid, scenario, query, *_ in ROWS:
        assert query in catalog.scenarios[scenario].queries, f"{rid}: {scenario} does not list {query}"
