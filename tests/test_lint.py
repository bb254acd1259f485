"""The code passes the project's own ruff and mypy configuration (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "kb", "tests", "bench"], cwd=CHECKOUT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    """The package is typed: the real Project and Store travel, rows are TypedDicts (pyproject.toml [tool.mypy])."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=CHECKOUT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
