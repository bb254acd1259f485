"""A non-editable install: the wheel carries the shipped schema (units, vocabulary, Epoch names) as package
data, so kb runs a user's project with no checkout beside it (it crashed reading ../schema/units.txt)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_wheel_install_runs_a_users_project(tmp_path: Path) -> None:
    source = tmp_path / "source"  # the wheel is built from a copy, so the build leaves the checkout as it was
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "*.sqlite*", "out", "build",
                                                                 "*.egg-info", "__pycache__", ".*_cache"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("ai_compute_kb-*.whl"))
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                                str(wheel)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    assert (site / "kb" / "_schema" / "units.txt").is_file()
    project = tmp_path / "work" / "training-costs"
    shutil.copytree(ROOT / "examples" / "training-costs", project)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(tmp_path)}

    def kb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kb", "--root", str(project), "--db", "my.sqlite", *args],
                              capture_output=True, text=True, cwd=project.parent, env=env)

    where = subprocess.run([sys.executable, "-c", "import kb; print(kb.__file__)"], capture_output=True, text=True,
                           cwd=project.parent, env=env)
    assert where.stdout.strip() == str(site / "kb" / "__init__.py")  # the wheel's kb, not the checkout's
    r = kb("query", "run_cost", "-s", "deepseek-v3-pretraining")
    assert (r.returncode, r.stdout, r.stderr) == (0, "run_cost [deepseek-v3-pretraining] = 5.33e6 USD\n", "")
    r = kb("properties")  # the shipped vocabulary under the project's additions
    assert r.returncode == 0, r.stderr
    assert "gpu_count" in r.stdout and "utilization" in r.stdout
    r = kb("add", "fact", "h100-sxm", "tdp", "700", "W", "--source", "x")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    # outside any project (no checkout beside the wheel): help works, a command says what is missing
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def bare(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kb", *args], capture_output=True, text=True, cwd=elsewhere,
                              env=env)

    r = bare("query", "--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage: kb query [OPTIONS] QUERY"), r.stderr
    r = bare("query", "run_cost", "-s", "x")
    assert (r.returncode, r.stderr) == (2, "Error: no project root: run inside a project (a folder with "
                                           "schema/properties.yaml) or pass --root (see `kb query --help`)\n")
