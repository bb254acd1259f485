"""kb import epoch on Epoch AI's real datasets (the shared snapshot, or the copy in tests/data/epoch)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import CHECKOUT

from kb.cli import cli

SHARED = CHECKOUT.parent / "shared" / "data" / "epoch"
COPY = CHECKOUT / "tests" / "data" / "epoch"
DATA = SHARED if (SHARED / "gpu_clusters.csv").is_file() else COPY
FILES = [DATA / "ml_hardware.csv", DATA / "gpu_clusters.csv", DATA / "notable_ai_models.csv"]

pytestmark = pytest.mark.skipif(not all(f.is_file() for f in FILES),
                                reason=f"Epoch AI's CSVs are in neither {SHARED} nor {COPY}")


def run(db: Path, *args: str, root: Path = CHECKOUT) -> Any:
    return CliRunner().invoke(cli, ["--root", str(root), "--db", str(db), *args])


def ok_json(db: Path, *args: str) -> Any:
    r = run(db, *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("epoch") / "kb.sqlite"
    report = ok_json(db, "import", "epoch", *map(str, FILES))
    assert report["added"]["facts"] > 5000 and report["revised"] == 0
    return db


@pytest.fixture
def db(imported: Path, tmp_path: Path) -> Path:
    """A private copy of the imported database, for tests that write."""
    copy = tmp_path / "kb.sqlite"
    shutil.copy(imported, copy)
    return copy


def claims(db: Path, entity: str, prop: str) -> list[dict[str, Any]]:
    return [f for f in ok_json(db, "facts", entity, "--property", prop, "--all") if f["source"]["id"].startswith("epoch-")]


def test_the_three_files_are_recognised_by_their_header(imported: Path) -> None:
    report = ok_json(imported, "import", "epoch", *map(str, FILES), "--dry-run")
    assert [(f["dataset"], f["rows"], f["snapshot"]) for f in report["files"]] == [
        ("hardware", 169, "2025-11"), ("clusters", 786, "2025-11"), ("models", 942, "2025-11")]
    assert report["added"]["facts"] == 0  # a second import adds nothing
    assert report["unchanged"] == sum(f["claims"] for f in report["files"])  # claims only (not sources)


def test_h100_from_the_hardware_file(imported: Path) -> None:
    (bf16,) = claims(imported, "NVIDIA H100 SXM5 80GB", "dense_bf16_flops")  # Epoch's name: an alias of h100-sxm
    assert bf16["entity"] == "h100-sxm"
    assert (bf16["value"], bf16["unit"], bf16["si_value"]) == (989.4, "TFLOP/s", pytest.approx(989.4e12))
    (hbm,) = claims(imported, "h100-sxm", "hbm_bandwidth")
    assert (hbm["value"], hbm["unit"]) == (3.35, "TB/s")
    assert bf16["source"]["id"] == "epoch-hardware-2025-11"
    assert bf16["source"]["url"] == "https://epoch.ai/data/machine-learning-hardware"
    assert bf16["locator"] == 'ml_hardware.csv, row "NVIDIA H100 SXM5 80GB", column "Tensor-FP16/BF16 performance (FLOP/s)"'
    assert bf16["cites"] and all(u.startswith("http") for u in bf16["cites"])
    assert bf16["confidence"] == "unset" and bf16["as_of"] == "2022-09-20"


def test_colossus_reported_and_calculated_power_are_two_claims(imported: Path) -> None:
    (chips,) = claims(imported, "xAI Colossus Memphis Phase 1", "gpu_count")
    assert chips["value"] == 100000 and chips["status"] == "operational" and chips["confidence"] == "confirmed"
    power = {f["method"]: f["value"] for f in claims(imported, "xai-colossus-memphis-phase-1", "site_power")}
    assert power == {"reported": 150, "calculated": 142.688}
    assert chips["cites"] and chips["quote"]  # the row's sources and its Quote cell


def test_llama_3_1_405b_from_the_models_file(imported: Path) -> None:
    (compute,) = claims(imported, "Llama 3.1-405B", "training_compute")
    assert compute["entity"] == "llama-3-405b"  # the name mapping places it on the shipped run
    assert compute["si_value"] == pytest.approx(3.8e25) and compute["confidence"] == "confirmed"
    (chips,) = claims(imported, "llama-3-405b", "gpu_count")
    assert chips["value"] == 16384
    (mfu,) = claims(imported, "llama-3-405b", "utilization")
    assert (mfu["value"], mfu["unit"]) == (pytest.approx(40.42), "%")  # 0.4042 in the file
    (cost,) = claims(imported, "llama-3-405b", "training_cost")
    assert cost["dollar_year"] == "2023"


def test_the_comments_and_epoch_side_by_side(imported: Path) -> None:
    r = run(imported, "history", "openai-goodyear", "gpu_count")
    assert r.exit_code == 0
    assert "nesov-comments" in r.stdout and "epoch-clusters-2025-11" in r.stdout
    found = ok_json(imported, "conflicts", "openai-goodyear.gpu_count")
    sources = {c["source"]["id"] for group in found for c in group["claims"]}
    assert {"nesov-comments", "epoch-clusters-2025-11", "phoenix-150k-comment"} <= sources


def _modified(tmp_path: Path, name: str, changes: dict[str, str]) -> Path:
    with open(DATA / "gpu_clusters.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    for r in rows[1:]:
        if r[header.index("Name")] == name:
            for column, value in changes.items():
                r[header.index(column)] = value
    out = tmp_path / "gpu_clusters.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return out


def test_a_later_snapshot_supersedes_exactly_the_changed_cells(db: Path, tmp_path: Path) -> None:
    changed = _modified(tmp_path, "xAI Colossus Memphis Phase 1",
                        {"Reported Power Capacity (MW)": "155.0", "Total number of AI chips": "110000.0",
                         "Chip quantity (primary)": "110000.0"})
    report = ok_json(db, "import", "epoch", str(changed), "--snapshot", "2026-01")
    assert report["revised"] == 2 and report["added"]["facts"] == 2 and report["added"]["sources"] == 1
    (chips,) = [f for f in claims(db, "xai-colossus-memphis-phase-1", "gpu_count") if not f["superseded_by"]]
    assert chips["value"] == 110000 and chips["source"]["id"] == "epoch-clusters-2026-01"
    history = run(db, "history", "xai-colossus-memphis-phase-1", "gpu_count").stdout
    assert "revised in the 2026-01 snapshot" in history
    power = {f["method"]: f["value"] for f in claims(db, "xai-colossus-memphis-phase-1", "site_power")
             if not f["superseded_by"]}
    assert power == {"reported": 155, "calculated": 142.688}  # the unchanged cell keeps its claim
    again = ok_json(db, "import", "epoch", str(changed), "--snapshot", "2026-01")
    assert again["added"]["facts"] == 0 and again["revised"] == 0


def test_bad_cells_are_skipped_and_listed_and_strict_writes_nothing(db: Path, tmp_path: Path) -> None:
    bad = _modified(tmp_path, "xAI Colossus Memphis Phase 1",
                    {"Reported Power Capacity (MW)": "inf", "Total number of AI chips": "-5",
                     "Calculated Cost": "about a billion"})
    before = run(db, "export").stdout
    r = run(db, "import", "epoch", str(bad), "--snapshot", "2026-02", "--strict")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "3 cell(s) cannot be imported (--strict)" in r.stderr and r.stderr.count("\n") == 1
    assert run(db, "export").stdout == before
    report = ok_json(db, "import", "epoch", str(bad), "--snapshot", "2026-02")
    skipped = {(s["column"], s["cell"], s["reason"]) for s in report["skipped"]}
    assert skipped == {("Reported Power Capacity (MW)", "inf", "not a finite number"),
                       ("Total number of AI chips", "-5", "negative"),
                       ("Calculated Cost", "about a billion", "not a number")}
    assert all(s["row"] == "xAI Colossus Memphis Phase 1" for s in report["skipped"])


def test_an_unknown_file_is_one_line(db: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    r = run(db, "import", "epoch", str(other))
    assert r.exit_code == 1
    assert r.stderr.strip().endswith("not one of Epoch AI's datasets (no header of ml_hardware.csv, "
                                     "gpu_clusters.csv or notable_ai_models.csv)")
    missing = run(db, "import", "epoch", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 1 and "cannot read" in missing.stderr


def test_dry_run_writes_nothing_and_names_the_new_entities(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    assert run(db, "facts").exit_code == 0  # the shipped knowledge only
    before = run(db, "export").stdout
    r = run(db, "import", "epoch", str(FILES[0]), "--dry-run")
    assert r.exit_code == 0
    assert "Would add 1 sources, 165 entities" in r.stdout and "Huawei Ascend 920" in r.stdout
    assert run(db, "export").stdout == before


def test_footnotes_cite_the_dataset_and_its_row_links(imported: Path, tmp_path: Path) -> None:
    template = tmp_path / "h100.md.j2"
    template.write_text('{# H100 #}\nThe H100 peaks at {{ fact("h100-sxm.dense_bf16_flops", '
                        'source="epoch-hardware-2025-11", digits=4) }} dense BF16.\n')
    r = run(imported, "render", str(template))
    assert r.exit_code == 0, r.output
    assert "989.4 TFLOP/s[^1]" in r.stdout
    note = next(line for line in r.stdout.splitlines() if line.startswith("[^1]:"))
    assert "*Machine Learning Hardware (2025-11 snapshot, CC BY 4.0)*. Epoch AI. 2025-11." in note
    assert "Citing <https://" in note and "<https://epoch.ai/data/machine-learning-hardware>" in note


def test_export_and_load_keep_aliases_and_cites(imported: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup.yaml"
    assert run(imported, "export", "-o", str(backup)).exit_code == 0
    text = backup.read_text()
    assert "\naliases:\n" in text and "- alias: nvidia h100 sxm5 80gb\n  entity: h100-sxm\n" in text
    copy = tmp_path / "copy.sqlite"
    r = run(copy, "load", str(backup))
    assert r.exit_code == 0, r.output
    assert run(copy, "export").stdout == run(imported, "export").stdout


def test_audit_recomputes_the_datasets_arithmetic(imported: Path) -> None:
    result = ok_json(imported, "audit", "epoch")
    assert set(result["checked"]) == {"6ND", "implied-mfu", "mfu-compute", "h100-equivalents", "power", "name"}
    assert all(n > 10 for n in result["checked"].values())
    by = {(f["check"], f["entity"]): f for f in result["findings"]}
    # Llama 3.1-405B: 6 x 405e9 x 15.6e12 = 3.79e25 against the dataset's 3.8e25: within the factor
    assert ("6ND", "llama-3-405b") not in by
    # H100s at 700 W x 1.82 x PUE 1.12 (2024): Goodyear's and Colossus's calculated 142.688 MW, to 1%
    assert 100000 * 700 * 1.82 * 1.12 == pytest.approx(142.688e6)
    assert ("power", "openai-goodyear") not in by and ("power", "xai-colossus-memphis-phase-1") not in by
    assert any(n.startswith("power: PUE 1.12 for 2024") for n in result["notes"])
    # the dataset's H100-equivalents basis: a chip's 8-bit figure, else its 16-bit one, over the H100's 1979 TOPS;
    # Rainier's 400K Trn2 (no 8-bit figure) at 667 TFLOP/s: 400000 x 667 / 1979 = 134,816, as the dataset gives
    assert ("h100-equivalents", "aws-new-carlisle") not in by
    assert result["checked"]["h100-equivalents"] > 370 and len([f for f in result["findings"]
                                                                 if f["check"] == "h100-equivalents"]) <= 5
    # a mixed cluster counts each chip type: Jean Zay Phase 4's 1456 H100 x 700 W + 416 A100 x 400 W, x 1.82 x 1.12
    assert (1456 * 700 + 416 * 400) * 1.82 * 1.12 == pytest.approx(2.4167e6, rel=1e-4)
    assert not [f for f in result["findings"] if f["check"] == "power"]  # every row within 1%
    # sizes that count data (GloVe's tokens, "1B words") are not parameter counts; "20b" is 20e9, not 20e6
    named = {f["name"] for f in result["findings"] if f["check"] == "name"}
    assert not named & {"GloVe (32B)", "GloVe (6B)", "RNN for 1B words", "gpt-oss-20b"}
    assert all(f["factor"] is None or f["factor"] > 1.01 for f in result["findings"])
    assert [f["factor"] for f in result["findings"]] == sorted((f["factor"] for f in result["findings"]), reverse=True)


def test_audit_text_and_a_database_without_epoch_claims(imported: Path, tmp_path: Path) -> None:
    r = run(imported, "audit", "epoch", "--check", "h100-equivalents", "--limit", "2")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("h100-equivalents: ") and "rows checked" in lines[0]
    assert len([line for line in lines if line.startswith("  ") and "x  " in line]) == 2
    empty = run(tmp_path / "kb.sqlite", "audit", "epoch")
    assert empty.exit_code == 1 and empty.stderr.strip() == (
        "Error: no Epoch AI claims to audit; run `kb import epoch FILE...` first")


def test_the_audit_writeup_renders_with_every_footnote(imported: Path) -> None:
    import re

    r = run(imported, "render", "epoch-audit")
    assert r.exit_code == 0, r.output
    text = r.stdout
    marks = set(re.findall(r"\[\^(\d+)\](?!:)", text))
    notes = set(re.findall(r"^\[\^(\d+)\]:", text, flags=re.M))
    assert marks and marks == notes  # every mark has its note, and every note is used
    assert "| `power` | calculated power against chips x TDP (each chip type) x the server overhead x the year's " \
           "PUE | 393 | 0 | differ by more than 1% |" in text
    assert "a server overhead of\n1.82 x the year's PUE" in text and "rows within 1%; the rest:" in text
    assert "Project Rainier's 400K[^" in text and "H100-equivalents, and the dataset gives 134.8K[^" in text
    assert re.search(r"\| 422\[\^\d+\] \|", text)  # a recomputed figure has its note too
    assert re.search(r"^\[\^\d+\]: Recomputed by `kb audit epoch`, check `h100-equivalents`", text, flags=re.M)
    mark = re.search(r"the dataset gives 134.8K\[\^(\d+)\]", text).group(1)  # type: ignore[union-attr]
    rainier_note = next(line for line in text.splitlines() if line.startswith(f"[^{mark}]:"))
    assert 'gpu_clusters.csv, row "Project Rainier", column "H100 equivalents"' in rainier_note
    assert "Citing <https://" in rainier_note


def test_a_mixed_clusters_counts_are_kinds_of_their_own(imported: Path) -> None:
    """Per chip type and in total, a mixed cluster's counts are different quantities: none competes."""
    history = ok_json(imported, "history", "lawrence-livermore-nl-lassen-phase-2", "gpu_count")
    kinds = {(c["configuration"], c["value_text"]) for c in history if c["type"] == "claim"}
    assert kinds == {("nvidia-v100", "3168"), ("cerebras-cs-1", "1"), ("all-chip-types", "3169")}
    assert ok_json(imported, "conflicts", "lawrence-livermore-nl-lassen-phase-2.gpu_count") == []
    single = ok_json(imported, "history", "xai-colossus-memphis-phase-1", "gpu_count")
    epoch = [c for c in single if c["type"] == "claim" and c["source"]["id"].startswith("epoch-")]
    assert [c["configuration"] for c in epoch] == [None]  # one chip type: unqualified
