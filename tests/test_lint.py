"""The code passes the project's own ruff configuration (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "kb", "tests", "bench"], cwd=CHECKOUT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
