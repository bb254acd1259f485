"""Shared fixtures: a private copy of the tiny fixture project per test, and a CLI runner.

Every test gets its own project folder and database under ``tmp_path``; nothing is
shared between tests. Units always come from the checkout's schema/units.txt (the
registry is global); only properties.yaml comes from the project root.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import settings

from kb.project import Project

TESTS = Path(__file__).resolve().parent
FIXTURE = TESTS / "fixture"
CHECKOUT = TESTS.parent

# No timing thresholds (deadline) and no example database written outside tests/.
settings.register_profile("kb", deadline=None, database=None)
settings.load_profile("kb")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fresh copy of tests/fixture (schema/ and facts/)."""
    dest = tmp_path / "project"
    shutil.copytree(FIXTURE, dest)
    return dest


@pytest.fixture
def empty_root(tmp_path: Path) -> Path:
    """A copy of the fixture's schema with an empty facts/ folder."""
    dest = tmp_path / "empty-project"
    shutil.copytree(FIXTURE / "schema", dest / "schema")
    (dest / "facts").mkdir()
    return dest


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "kb.sqlite"


@pytest.fixture
def project(root: Path, db: Path) -> Project:
    return Project.open(root, db)


@pytest.fixture
def store(project: Project) -> Any:
    """The fixture project's store; creating it loads the fixture facts."""
    return project.store


class KB:
    """Runs the ``kb`` CLI in-process against one project root and database."""

    def __init__(self, root: Path, db: Path) -> None:
        self.root = root
        self.db = db
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Any:
        from kb.cli import cli

        result = self.runner.invoke(
            cli, ["--root", str(self.root), "--db", str(self.db), *args], input=input, catch_exceptions=True
        )
        return result


@pytest.fixture
def ex(tmp_path: Path) -> KB:
    """A private copy of examples/training-costs, as a user's own project, with its own database."""
    root = tmp_path / "training-costs"
    shutil.copytree(CHECKOUT / "examples" / "training-costs", root)
    return KB(root, tmp_path / "my.sqlite")


@pytest.fixture
def kb(root: Path, db: Path) -> KB:
    return KB(root, db)
