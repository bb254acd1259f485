"""kb copy: a knowledge base moved between SQLite and PostgreSQL losslessly. The PostgreSQL tests use a real
server: KB_TEST_POSTGRES names one (a URL whose user may create databases; .ci/run starts one). Without it
they skip, except in CI, where they must run."""

from __future__ import annotations

import os
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


def test_serve_browses_a_snapshot_of_a_postgresql_store(pg_url: str, tmp_path: Path) -> None:
    """Datasette reads SQLite: for a PostgreSQL store, kb serve browses a kb copy of it, with the same tables."""
    import subprocess
    import sys
    import time
    import urllib.request

    from conftest import CHECKOUT
    from test_serve import free_port, get

    added = run_url(pg_url, "add", "fact", "llama-3-cluster", "gpu_count", "24576", "", "--source", "llama-3-paper",
                    "--note", "written to the server")
    assert added.exit_code == 0, added.output
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "kb", "--root", str(CHECKOUT), "--db", pg_url, "serve",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(tmp_path)})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/kb.json", timeout=5).close()
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
        import psycopg

        with psycopg.connect(pg_url) as conn:
            total = conn.execute("SELECT count(*) FROM fact").fetchone()[0]  # type: ignore[index]
        assert get(base, "/kb/claims.json?_size=0")["filtered_table_rows_count"] == total
        hits = get(base, "/kb/claims.json?_shape=array&_search=%22written+to+the+server%22")
        assert [h["note"] for h in hits] == ["written to the server"]
        rows = get(base, "/kb/entity_claims.json?_shape=array&entity=llama-3-cluster")
        assert "24576" in {r["value"] for r in rows}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert "Serving a snapshot of postgresql://" in (tmp_path / "serve.log").read_text()


def readme_grants() -> list[str]:
    """The GRANT recipe of the README's Sharing section, statement by statement."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = text.split("### Sharing: one PostgreSQL server for a team", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    return [line.strip().rstrip(";") for line in block.splitlines() if line.strip()]


def test_an_analyst_role_writes_claims_but_cannot_rewrite_history(pg_url: str) -> None:
    """The README's role for analysts: every kb command works, and raw SQL cannot update a fact or drop the
    triggers that make history append-only (it does not own the tables)."""
    import uuid

    import psycopg

    assert run_url(pg_url, "facts").exit_code == 0  # the owner creates the schema and loads facts/
    group = f"kbteam_{uuid.uuid4().hex[:8]}"
    role = f"{group}_alice"
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        owner = conn.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
        for statement in readme_grants():
            conn.execute(statement.split("--")[0].replace("alice", role).replace("analyst", group)
                         .replace("DATABASE kb", f"DATABASE {name}").replace("ROLE owner", f"ROLE {owner}"))
    as_analyst = pg_url.replace("//kb@", f"//{role}@", 1) if "//kb@" in pg_url else None
    assert as_analyst, "the test server's URL names its user kb (KB_TEST_POSTGRES)"
    try:
        added = run_url(as_analyst, "add", "fact", "h100-sxm", "tdp", "710", "W", "--source", "nvidia-h100-product-page")
        assert added.exit_code == 0, added.output
        fact = added.stdout.split()[2].rstrip(":")
        assert run_url(as_analyst, "deprecate", fact, "--reason", "a typo").exit_code == 0
        rendered = run_url(as_analyst, "render", "anthropic-trainium-compute")
        assert rendered.exit_code == 0, rendered.output
        assert run_url(as_analyst, "stale").exit_code == 0
        with psycopg.connect(as_analyst, autocommit=True) as conn:
            for statement in ("UPDATE fact SET value = 1", "DROP TRIGGER fact_append_only ON fact",
                              "ALTER TABLE fact DISABLE TRIGGER ALL", "DELETE FROM event", "TRUNCATE fact CASCADE",
                              "UPDATE property SET plausible_low = 800 WHERE name = 'tdp'", "DELETE FROM property",
                              "UPDATE source SET url = 'https://evil.example/'"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for r in (role, group):
                conn.execute(f"DROP OWNED BY {r}")
                conn.execute(f"DROP ROLE {r}")
