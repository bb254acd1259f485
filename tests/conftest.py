"""Shared fixtures: a private copy of the tiny fixture project per test, and a CLI runner.

Every test gets its own project folder and database under ``tmp_path``; nothing is
shared between tests. Units always come from the checkout's schema/units.txt (the
registry is global); only properties.yaml comes from the project root.

The storage and CLI tests (``BOTH_BACKENDS``) run twice: on a SQLite file and on a new database of a
real PostgreSQL server named by ``KB_TEST_POSTGRES`` (a URL whose user may create databases; .ci/run
starts one). Without it the PostgreSQL runs skip, except in CI, where they fail. A test about the SQLite
file itself is marked ``@pytest.mark.sqlite_only``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import settings

from kb.project import Project

TESTS = Path(__file__).resolve().parent
FIXTURE = TESTS / "fixture"
CHECKOUT = TESTS.parent

# The unit cache (kb.cache) of this run, for its in-process and subprocess commands alike: never the user's.
CACHE = Path(tempfile.mkdtemp(prefix="kb-test-cache-"))
os.environ["KB_CACHE_DIR"] = str(CACHE)

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


SERVER = os.environ.get("KB_TEST_POSTGRES")
BOTH_BACKENDS = {"test_store", "test_cli", "test_load", "test_claims", "test_export", "test_search", "test_render",
                 "test_concurrency", "test_tamper"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: a test about the SQLite file itself (not run on PostgreSQL)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db" in metafunc.fixturenames and metafunc.module.__name__ in BOTH_BACKENDS:
        sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("db", ["sqlite"] if sqlite_only else ["sqlite", "postgresql"], indirect=True)


_EMPTIED: list[str] = []  # databases earlier tests used, emptied (a new one costs ~0.7 s to create and drop)


def postgres_database() -> Iterator[str]:
    """An empty database on the test server (its URL), emptied afterwards for the next test; skips without a
    server. Emptied is as new: the ``public`` schema dropped and made again as PostgreSQL makes it."""
    if not SERVER:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: KB_TEST_POSTGRES is not set (.ci/run starts a server)")
        pytest.skip("no PostgreSQL server: set KB_TEST_POSTGRES=postgresql://USER@HOST:PORT/postgres (CI does)")
    import psycopg

    base, _, _ = SERVER.rpartition("/")
    if _EMPTIED:
        name = _EMPTIED.pop()
    else:
        name = f"kbtest_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{base}/{name}"
    finally:
        try:
            with psycopg.connect(f"{base}/{name}", autocommit=True) as conn:
                conn.execute("SET lock_timeout = '5s'")  # a connection a test left in a transaction: drop it all
                conn.execute("DROP SCHEMA public CASCADE")
                conn.execute("CREATE SCHEMA public")
                conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
            _EMPTIED.append(name)
        except psycopg.Error:
            with psycopg.connect(SERVER, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def pytest_sessionfinish(session: pytest.Session) -> None:
    shutil.rmtree(CACHE, ignore_errors=True)
    if SERVER and _EMPTIED:
        import psycopg

        with psycopg.connect(SERVER, autocommit=True) as conn:
            for name in _EMPTIED:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_database()


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The test's database: a SQLite file's path, or (the ``postgresql`` run) a new PostgreSQL database's URL."""
    if getattr(request, "param", "sqlite") == "postgresql":
        yield from postgres_database()
    else:
        yield tmp_path / "kb.sqlite"


@pytest.fixture
def project(root: Path, db: Path) -> Iterator[Project]:
    opened = Project.open(root, db)
    yield opened
    opened.close()


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
