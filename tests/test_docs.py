"""Documentation that cannot drift: generated CLI help, README coverage of every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from kb.cli import cli

CHECKOUT = Path(__file__).resolve().parent.parent


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        out.append(f"{prefix}{name}")
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix}{name} ")
    return out


def test_cli_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cogapp", "--check", "docs/cli.md"], cwd=CHECKOUT, capture_output=True, text=True
    )
    assert result.returncode == 0, f"docs/cli.md is stale: run `cog -r docs/cli.md`\n{result.stdout}{result.stderr}"


def test_readme_shows_every_command() -> None:
    readme = (CHECKOUT / "README.md").read_text()
    for command in _commands(cli):
        if command == "add":
            continue
        assert f"`kb {command}" in readme, f"README does not show `kb {command}`"


def test_readme_starts_with_the_two_commands() -> None:
    lines = (CHECKOUT / "README.md").read_text().splitlines()[:8]
    main = next(line for line in lines if line.startswith("python3 -m venv") and "/kb " in line)
    test = next(line for line in lines if line.startswith("python3 -m venv") and "pytest" in line)
    assert "pip install -e . && .venv/bin/kb " in main
    ci = (CHECKOUT / ".ci" / "run").read_text().splitlines()
    assert test in ci, ".ci/run must run exactly the README's test command"
