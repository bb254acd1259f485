"""The example project in examples/training-costs, used as a user would: its own vocabulary,
facts, queries, scenarios and template, through the CLI, against hand-computed figures."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from conftest import CHECKOUT, KB

EXAMPLE = CHECKOUT / "examples" / "training-costs"

# DeepSeek-V3 report: 37B active parameters, 14.8T tokens; MT-NLG 530B MFU 30.2% and 54.2%.
MFU = math.sqrt(0.302 * 0.542)
COMPUTE = 6 * 37e9 * 14.8e12  # FLOP


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_check_is_clean_with_one_real_disagreement(ex: KB) -> None:
    result = ex("check")
    assert result.exit_code == 0, result.output
    assert "mt-nlg-530b.utilization: 2 active claims disagree by up to 1.79x" in result.output
    assert result.output.strip().splitlines()[-1].startswith("OK: no problems (1 warning(s)")


def test_locator_pins_pick_pretraining_or_total(ex: KB) -> None:
    pre = _json(ex("query", "run_cost", "-s", "deepseek-v3-pretraining", "--json"))
    full = _json(ex("query", "run_cost", "-s", "deepseek-v3-full", "--json"))
    assert pre["value"] == pytest.approx(2664e3 * 2)
    assert full["value"] == pytest.approx(2.788e6 * 2)
    assert pre["unit"] == full["unit"] == "USD"
    (hours,) = [i for i in pre["inputs"] if i["name"] == "chip_hours"]
    assert hours["fact"]["locator"] == "Table 1, Pre-Training"


def test_replay_time_combines_the_two_mfu_claims(ex: KB) -> None:
    tpu = _json(ex("query", "replay_time", "-s", "deepseek-v3-on-tpu-v5p", "--json"))
    assert tpu["unit"] == "day"
    assert tpu["value"] == pytest.approx(COMPUTE / (6144 * 459e12 * MFU) / 86400, rel=1e-9)
    (mfu,) = [i for i in tpu["inputs"] if i["name"] == "mfu"]
    assert mfu["value"] == pytest.approx(MFU * 100)
    mi300x = _json(ex("query", "replay_time", "-s", "deepseek-v3-on-mi300x", "--json"))
    assert mi300x["value"] == pytest.approx(COMPUTE / (2048 * 1307.4e12 * MFU) / 86400, rel=1e-9)
    (chips,) = [i for i in mi300x["inputs"] if i["name"] == "chips"]
    assert chips["kind"] == "assumption" and chips["source"]["id"] == "deepseek-v3-report"


def test_the_project_vocabulary_extends_the_shipped_one(ex: KB) -> None:
    props = {p["name"]: p for p in _json(ex("properties", "--json"))}
    assert props["max_job_chips"]["dimension"] == props["gpu_count"]["dimension"]
    assert props["max_job_chips"]["origin"] == "facts"  # declared in a fact file's properties: list
    assert props["hfu"]["plausible"] == "1% to 100%"  # declared in the project's schema/properties.yaml
    assert "utilization" in props and "compute_growth" in props


def test_render_footnotes_every_number(ex: KB, tmp_path: Path) -> None:
    out = tmp_path / "replay.md"
    result = ex("render", "replay", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "the pre-training cost\n$5.3M[^4] and the whole run $5.6M[^5]" in text  # one mark per computed number
    assert "[^4]: Computed (scenario deepseek-v3-pretraining): `run_cost`" in text
    assert "so take their geometric mean, 40.5%" in text
    assert "**33.3 day**" in text
    assert "would take 35 days" in text
    assert re.search(r"6144\[\^\d+\] TPU v5p chips", text)
    assert "## How the numbers were computed" in text
    assert ex("render", "replay", "--check").exit_code == 0
