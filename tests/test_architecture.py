"""Layering and CLI hygiene: click only in the CLI modules, help everywhere, ``python -m kb`` works."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import click
import pytest

from kb.cli import cli

KB_DIR = Path(__file__).resolve().parent.parent / "kb"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def is_cli_module(path: Path) -> bool:
    return path.name == "cli.py" or path.name.startswith("cli_")


def test_there_are_core_modules_to_check():
    core = [p for p in KB_DIR.glob("*.py") if not is_cli_module(p)]
    assert {"store.py", "claims.py", "load.py", "units.py"} <= {p.name for p in core}
    assert "click" in imported_modules(KB_DIR / "cli.py")  # the scan does see imports


@pytest.mark.parametrize("path", sorted(p for p in KB_DIR.rglob("*.py") if not is_cli_module(p)),
                         ids=lambda p: str(p.relative_to(KB_DIR)))
def test_only_cli_modules_import_click(path):
    offending = sorted(m for m in imported_modules(path) if m == "click" or m.startswith("click."))
    assert not offending, f"kb/{path.relative_to(KB_DIR)} imports {offending}; keep click in kb/cli.py and kb/cli_*.py"


def test_one_jinja_environment():
    """Exactly one module builds a Jinja environment (the sandboxed, strict one)."""
    import re

    builders = [p.relative_to(KB_DIR) for p in KB_DIR.rglob("*.py") if re.search(r"Environment\b", p.read_text())]
    assert [str(p) for p in builders] == ["report/environment.py"]
    assert "BoundedEnvironment(SandboxedEnvironment)" in (KB_DIR / "report" / "environment.py").read_text()


def walk(command: click.Command, path: str = "kb"):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, f"{path} {name}")


def test_walk_finds_every_command():
    names = {path for path, _ in walk(cli)}
    expected = {"kb", "kb load", "kb export", "kb add", "kb add source", "kb add entity", "kb add fact", "kb facts",
                "kb show", "kb history", "kb sources", "kb properties", "kb deprecate", "kb prefer", "kb supersede",
                "kb check", "kb sql"}
    assert expected <= names


def test_every_command_and_group_has_help():
    missing = [path for path, command in walk(cli) if not (command.help or "").strip()]
    assert not missing, f"commands without help text: {missing}"
    short = [path for path, command in walk(cli) if not command.get_short_help_str().strip()]
    assert not short


def test_every_command_help_renders(tmp_path):
    from click.testing import CliRunner

    runner = CliRunner()
    for path, _ in walk(cli):
        args = path.split()[1:] + ["--help"]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: " in result.output


def test_python_m_kb_help(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kb", "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: kb ")
    assert "A knowledge base of sourced facts" in result.stdout
    assert "Traceback" not in result.stderr


def test_plain_text_goes_through_the_cli_echo():
    """Commands print through kb.cli.echo, which makes control characters visible; click.echo directly only
    for data written as it is (a line that says so) and in kb/cli.py itself."""
    direct = [f"{p.name}:{n}" for p in sorted(KB_DIR.glob("cli_*.py"))
              for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
              if "click.echo(" in line and "# data:" not in line]
    assert not direct, f"use kb.cli.echo for plain text: {direct}"


def test_a_claims_columns_are_the_models():
    """The store reads a claim's columns from its row type (no model import on a read): they must agree."""
    from kb import models
    from kb.rows import FactRow

    assert sorted(FactRow.__annotations__) == sorted(c.name for c in models.tables()["fact"].columns)


def _modules_a_query_imports(db, cache):
    import os
    import subprocess
    import sys

    code = ("import sys; from kb.cli import cli\n"
            "try:\n    cli(['--db', sys.argv[1], 'query', 'gradient_bandwidth', '-s', 'b200-500k-nvl72'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in ('sqlmodel', 'pydantic', 'kb.models', 'sqlalchemy', 'pint') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, cwd=KB_DIR.parent,
                       env={**os.environ, "KB_CACHE_DIR": str(cache)})
    assert r.stdout.splitlines()[0] == "gradient_bandwidth [b200-500k-nvl72] = 292 Tbps", (r.stdout, r.stderr)
    return r.stdout.splitlines()[1]


def test_a_query_on_an_existing_database_imports_no_orm_and_once_its_units_are_known_no_pint(tmp_path):
    """Cold start: SQLModel and pydantic (about 80 ms) are for creating and writing, SQLAlchemy (about 120 ms)
    for writing; a SQLite read uses sqlite3. pint and its registry (about 150 ms) are asked only about a unit
    not seen before (kb.cache): the first query asks, the next does not, and without a cache every one does."""
    import os
    import subprocess
    import sys

    db, cache = tmp_path / "kb.sqlite", tmp_path / "cache"
    assert subprocess.run([sys.executable, "-m", "kb", "--db", str(db), "facts"], capture_output=True,
                          cwd=KB_DIR.parent, env={**os.environ, "KB_CACHE_DIR": str(cache)}).returncode == 0
    assert _modules_a_query_imports(db, cache) in ("[]", "['pint']")  # the query's units beyond the facts'
    assert _modules_a_query_imports(db, cache) == "[]"
    assert _modules_a_query_imports(db, "off") == "['pint']"
