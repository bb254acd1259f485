"""kb copy: a knowledge base moved between SQLite and PostgreSQL losslessly. The PostgreSQL tests use a real
server: KB_TEST_POSTGRES names one (a URL whose user may create databases; .ci/run starts one). Without it
they skip, except in CI, where they must run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_epoch_import import FILES, run


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with imported claims, a rank event, a correction, an alias and a recorded render."""
    folder = tmp_path_factory.mktemp("copy")
    db = folder / "kb.sqlite"
    assert run(db, "import", "epoch", *map(str, FILES)).exit_code == 0
    assert run(db, "deprecate", "c1ae9c5342a9", "--reason", "rounded").exit_code == 0
    r = run(db, "supersede", "c40382c27737", "989.4", "TFLOP/s", "--reason", "the exact figure")
    assert r.exit_code == 0, r.output
    assert run(db, "render", "anthropic-trainium-compute", "-o", str(folder / "out.md")).exit_code == 0
    return db


def export(db: Path, out: Path) -> bytes:
    r = run(db, "export", "-o", str(out))
    assert r.exit_code == 0, r.output
    return out.read_bytes()


def table_rows(db: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        return sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)


def test_sqlite_to_sqlite_is_lossless(rich: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.sqlite"
    r = run(rich, "copy", "--to", str(copy))
    assert r.exit_code == 0 and r.stdout.startswith(f"Copied to {copy}: "), r.output
    assert export(copy, tmp_path / "b.yaml") == export(rich, tmp_path / "a.yaml")
    for table in ("render", "render_number", "render_input", "event", "entity_alias"):
        assert table_rows(copy, table) == table_rows(rich, table)


def test_to_postgresql_and_back_gives_a_byte_identical_export(rich: Path, pg_url: str, tmp_path: Path) -> None:
    there = run(rich, "copy", "--to", pg_url)
    assert there.exit_code == 0, there.output
    back = tmp_path / "back.sqlite"
    r = run_url(pg_url, "copy", "--to", str(back))
    assert r.exit_code == 0, r.output
    assert export(back, tmp_path / "b.yaml") == export(rich, tmp_path / "a.yaml")
    for table in ("render", "render_number", "render_input", "event", "entity_alias", "property"):
        assert table_rows(back, table) == table_rows(rich, table)
    # what a PostgreSQL store guarantees by itself
    import psycopg

    with psycopg.connect(pg_url) as conn:
        hits = conn.execute("SELECT entity FROM fact WHERE search @@ plainto_tsquery('simple', 'oversubscription')")
        assert {h[0] for h in hits} == {"llama-3-cluster"}
        for statement in ("UPDATE fact SET value = 1", "DELETE FROM fact", "TRUNCATE fact CASCADE",
                          "DELETE FROM event", "UPDATE entity_alias SET alias = 'x'"):
            with pytest.raises(psycopg.errors.RaiseException, match="is append-only"):
                conn.execute(statement)
            conn.rollback()
    again = run(rich, "copy", "--to", pg_url)
    assert again.exit_code == 1 and "the target already holds a knowledge base" in again.stderr


def run_url(url: str, *args: str):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner
    from conftest import CHECKOUT

    from kb.cli import cli

    return CliRunner().invoke(cli, ["--root", str(CHECKOUT), "--db", url, *args])


def test_refusals_are_one_line(rich: Path, tmp_path: Path) -> None:
    existing = tmp_path / "x.sqlite"
    existing.write_text("not empty")
    r = run(rich, "copy", "--to", str(existing))
    assert r.exit_code == 1 and "the file exists; copy into a new SQLite file" in r.stderr
    assert existing.read_text() == "not empty"
    r = run(rich, "copy", "--to", "postgresql://kb:secret@127.0.0.1:1/none")
    assert r.exit_code == 1 and r.stderr.startswith("Error: cannot connect to postgresql://kb:***@127.0.0.1:1/none")
    assert "secret" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_url("postgresql://kb:secret@127.0.0.1:1/none", "facts")  # every command: one line, no password
    assert r.exit_code == 1 and r.stderr.startswith("Error: cannot connect to postgresql://kb:***@127.0.0.1:1/none")
    assert "secret" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run(tmp_path / "missing.sqlite", "copy", "--to", str(tmp_path / "y.sqlite"))
    assert r.exit_code == 1 and not (tmp_path / "y.sqlite").exists()
