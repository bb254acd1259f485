"""Read-only SQL over the database file (SQLite opened in mode=ro: writes cannot happen)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .errors import KBError


def read_only_query(path: Path, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        cur = conn.execute(query)
        headers = [d[0] for d in cur.description or []]
        return headers, cur.fetchall()
    except sqlite3.Error as exc:
        raise KBError(f"SQL failed: {exc}") from None
    finally:
        conn.close()
