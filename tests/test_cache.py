"""The unit cache (kb.cache): it only saves work. A missing, corrupt, oversized or unwritable cache gives the
same answers as a good one; a cached unit is what pint says of it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent


def kb(db: Path, cache: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kb", "--db", str(db), *args], capture_output=True, text=True,
                          cwd=CHECKOUT, env={**os.environ, "KB_CACHE_DIR": str(cache)})


def test_a_query_gives_one_answer_with_a_cache_without_one_and_with_a_spoilt_one(tmp_path):
    db, cache = tmp_path / "kb.sqlite", tmp_path / "cache"
    query = ("query", "gradient_bandwidth", "-s", "b200-500k-nvl72", "--unit", "TB/s")
    first = kb(db, cache, *query)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "gradient_bandwidth [b200-500k-nvl72] = 36.5 TB/s\n"  # 292 Tbps / 8
    (saved,) = cache.glob("units-*.json")
    assert json.loads(saved.read_text())["value"]["TB/s"][0] == 1e12 * 8  # bytes are 8 bits: SI here is the bit
    assert kb(db, cache, *query).stdout == first.stdout
    assert kb(db, "off", *query).stdout == first.stdout
    good = json.loads(saved.read_text())
    edited = {"sha256": good["sha256"], "value": {**good["value"], "TB/s": [1e6, *good["value"]["TB/s"][1:]]}}
    for spoilt in (json.dumps(edited), sealed({"TB/s": [None, 5, 1, 2]}), "[1, 2", " " * (9 << 20)):
        # edited by hand (its digest no longer matches), a sealed wrong shape, not JSON, too large
        saved.write_text(spoilt)
        r = kb(db, cache, *query)
        assert (r.returncode, r.stdout, r.stderr) == (0, first.stdout, "")


def sealed(value):
    from kb.cache import _digest

    return json.dumps({"sha256": _digest(value), "value": value})


def test_kb_check_finds_a_cache_that_disagrees_with_pint_and_removes_it(tmp_path):
    """A cache re-sealed after an edit (or written by another pint) would give wrong numbers: kb check
    re-asks pint about every cached unit, says which disagree, removes the cache and checks with pint."""
    db, cache = tmp_path / "kb.sqlite", tmp_path / "cache"
    assert kb(db, cache, "query", "gradient_bandwidth", "-s", "b200-500k-nvl72", "--unit", "TB/s").returncode == 0
    (saved,) = cache.glob("units-*.json")
    value = json.loads(saved.read_text())["value"]
    value["TB/s"] = [1e12, *value["TB/s"][1:]]  # bytes taken for bits: 8x off
    saved.write_text(sealed(value))
    wrong = kb(db, cache, "query", "gradient_bandwidth", "-s", "b200-500k-nvl72", "--unit", "TB/s")
    assert wrong.stdout == "gradient_bandwidth [b200-500k-nvl72] = 292 TB/s\n"  # what a trusted cache gives
    r = kb(db, cache, "check")
    assert r.returncode == 1
    assert (f"{saved}: [unit-cache] 'TB/s': cached as 1e+12 bit / s ([information] / [time]), pint says 8e+12 "
            "bit / s ([information] / [time]); the cache is removed") in r.stdout, r.stdout
    assert not saved.exists() or json.loads(saved.read_text())["value"]["TB/s"][0] == 8e12  # made again, by pint
    right = kb(db, cache, "query", "gradient_bandwidth", "-s", "b200-500k-nvl72", "--unit", "TB/s")
    assert right.stdout == "gradient_bandwidth [b200-500k-nvl72] = 36.5 TB/s\n"
    assert kb(db, cache, "check").returncode == 0


def test_a_write_never_stores_what_a_cache_says(tmp_path):
    """SI values go into an append-only history: kb add and kb load ask pint, whatever the cache says."""
    db, cache = tmp_path / "kb.sqlite", tmp_path / "cache"
    assert kb(db, cache, "query", "power_for_chips", "-s", "aws-new-carlisle").returncode == 0
    (saved,) = cache.glob("units-*.json")
    value = json.loads(saved.read_text())["value"]
    value["W"] = [1.001, *value["W"][1:]]
    saved.write_text(sealed(value))
    r = kb(db, cache, "add", "fact", "h100-sxm", "tdp", "650", "W", "--source", "nvidia-h100-product-page")
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT si_value FROM fact WHERE entity = 'h100-sxm' AND property = 'tdp' AND value = 650"
                            ).fetchall() == [(650.0,)]
    conn.close()
    assert json.loads(saved.read_text())["value"]["W"][0] == 1.0  # and the cache now says what pint said


def test_an_unwritable_cache_folder_is_no_cache(tmp_path):
    """/proc refuses a new folder even to root (a chmod'ed folder would not stop root)."""
    r = kb(tmp_path / "kb.sqlite", "/proc/kb-cache", "query", "gradient_bandwidth", "-s", "b200-500k-nvl72")
    assert (r.returncode, r.stdout, r.stderr) == (0, "gradient_bandwidth [b200-500k-nvl72] = 292 Tbps\n", "")
    assert not Path("/proc/kb-cache").exists()


@pytest.mark.parametrize("word", ["off", "OFF", "0", "false", "None"])
def test_caching_is_turned_off_by_any_case_of_off(tmp_path, word):
    r = kb(tmp_path / "kb.sqlite", word, "query", "gradient_bandwidth", "-s", "b200-500k-nvl72")
    assert (r.returncode, r.stdout) == (0, "gradient_bandwidth [b200-500k-nvl72] = 292 Tbps\n")
    assert not (CHECKOUT / word).exists()


def test_a_fifo_or_a_deeply_nested_cache_is_no_cache(tmp_path):
    db, cache = tmp_path / "kb.sqlite", tmp_path / "cache"
    query = ("query", "gradient_bandwidth", "-s", "b200-500k-nvl72")
    assert kb(db, cache, *query).returncode == 0
    (saved,) = cache.glob("units-*.json")
    saved.write_text("[" * 200_000 + "]" * 200_000)
    r = kb(db, cache, *query)
    assert (r.returncode, r.stdout, r.stderr) == (0, "gradient_bandwidth [b200-500k-nvl72] = 292 Tbps\n", "")
    saved.unlink()
    os.mkfifo(saved)  # opening it for reading would wait for a writer forever
    r = subprocess.run([sys.executable, "-m", "kb", "--db", str(db), *query], capture_output=True, text=True,
                       cwd=CHECKOUT, env={**os.environ, "KB_CACHE_DIR": str(cache)}, timeout=60)
    assert (r.returncode, r.stdout) == (0, "gradient_bandwidth [b200-500k-nvl72] = 292 Tbps\n"), r.stderr


def test_a_cache_others_may_write_is_not_used(tmp_path):
    """As ssh treats its keys: a cache file or folder that another user may write is not trusted."""
    db, cache = tmp_path / "kb.sqlite", tmp_path / "cache"
    query = ("query", "gradient_bandwidth", "-s", "b200-500k-nvl72", "--unit", "TB/s")
    assert kb(db, cache, *query).returncode == 0
    (saved,) = cache.glob("units-*.json")
    value = json.loads(saved.read_text())["value"]
    value["TB/s"] = [1e12, *value["TB/s"][1:]]
    saved.write_text(sealed(value))
    for where, mode in ((saved, 0o666), (cache, 0o777)):
        where.chmod(mode)
        r = kb(db, cache, *query)
        assert r.stdout == "gradient_bandwidth [b200-500k-nvl72] = 36.5 TB/s\n", (oct(mode), r.stdout)
        where.chmod(0o600 if where == saved else 0o700)
    assert json.loads(saved.read_text())["value"]["TB/s"][0] == 8e12  # what pint said replaced the untrusted one


def test_a_cache_path_that_is_a_file_is_no_cache(tmp_path):
    db, cache = tmp_path / "kb.sqlite", tmp_path / "cache"
    cache.write_text("a file, not a folder")
    r = kb(db, cache / "kb", "query", "gradient_bandwidth", "-s", "b200-500k-nvl72")
    assert (r.returncode, r.stdout, r.stderr) == (0, "gradient_bandwidth [b200-500k-nvl72] = 292 Tbps\n", "")
    assert cache.read_text() == "a file, not a folder"


def test_a_bad_unit_is_refused_each_time_and_never_cached(tmp_path):
    db, cache = tmp_path / "kb.sqlite", tmp_path / "cache"
    for _ in range(2):
        r = kb(db, cache, "query", "gradient_bandwidth", "-s", "b200-500k-nvl72", "--unit", "TB/sx")
        assert r.returncode == 2
        assert "'TB/sx'" in r.stderr and "Traceback" not in r.stderr
    for saved in cache.glob("units-*.json"):
        assert "TB/sx" not in json.loads(saved.read_text())["value"]


def test_cached_facts_are_pints(tmp_path, monkeypatch):
    """What the cache answers for a unit is what pint answers: size, dimension and SI unit."""
    from kb import units

    monkeypatch.setenv("KB_CACHE_DIR", str(tmp_path))
    for text in ("TFLOP/s", "W", "kW*h", "USD/GPU_hour", "GiB", "Tbps", "month", "%", "m^2/s^-2"):
        pint_says = units.registry().Quantity(1.0, units.parse_unit(text)).to_base_units()
        facts = units.UnitFacts.from_saved(json.loads(json.dumps(units.unit_facts(text).saved())))
        assert facts is not None
        assert facts.factor == pytest.approx(pint_says.magnitude, rel=1e-15)
        assert facts.dimension == units.Dimension(units.parse_unit(text).dimensionality.items())
        assert facts.dimension_text == (str(units.parse_unit(text).dimensionality) or "dimensionless")
