"""Assertion helpers shared by the test modules (plain functions, no state)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def table_rows(db_path: Path | str, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table``, read with plain sqlite3 (or psycopg, for a PostgreSQL URL) in a stable order;
    a PostgreSQL row without its generated ``search`` column."""
    if isinstance(db_path, str) and db_path.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db_path) as pg:
            cur = pg.execute(f"SELECT * FROM {table}")
            keep = [i for i, d in enumerate(cur.description or []) if d.name != "search"]
            return sorted((tuple(r[i] for i in keep) for r in cur.fetchall()), key=repr)
    conn = sqlite3.connect(db_path)
    try:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    finally:
        conn.close()


def all_rows(db_path: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    return {t: table_rows(db_path, t) for t in ("source", "entity", "property", "fact", "event")}


def by_value(claims: list[dict[str, Any]], value: float) -> dict[str, Any]:
    """The one claim with this value (in its own unit)."""
    found = [c for c in claims if c["value"] == value]
    assert len(found) == 1, f"expected one claim with value {value}, got {len(found)}"
    return found[0]


def assert_clean_error(result: Any, exit_code: int = 1) -> str:
    """An error as the style guide wants it: the exit code, one line on stderr, no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # usage errors (exit 2) are one line too
    assert lines[0].startswith("Error: "), result.stderr
    return result.stderr
