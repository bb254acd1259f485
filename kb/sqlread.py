"""Read-only SQL over the database file.

Three guards: the file is opened in ``mode=ro`` (no writes to it); only a query statement is
accepted (SELECT, WITH, VALUES, EXPLAIN, or a PRAGMA that reads); and an authorizer denies every
action but reading, so ``ATTACH`` or ``VACUUM INTO`` cannot write another file either.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from .errors import KBError

_QUERY_WORDS = {"SELECT", "WITH", "VALUES", "EXPLAIN", "PRAGMA"}
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_LEADING = re.compile(r"\s*(?:--[^\n]*\n|/\*.*?\*/)*\s*(\w*)", re.S)


# pragmas whose argument names a table or index to describe, never a setting to change
_INFO_PRAGMAS = {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
                 "foreign_key_list", "function_list", "pragma_list", "module_list", "collation_list"}


def _authorize(action: int, arg1: Any, arg2: Any, db: Any, trigger: Any) -> int:
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg2 is None or arg1 in _INFO_PRAGMAS):
        return sqlite3.SQLITE_OK  # reading a setting, or describing a table
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        return sqlite3.SQLITE_OK  # SQLite asks this while it loads a virtual table (FTS5); mode=ro keeps it a read
    return sqlite3.SQLITE_DENY


def read_only_query(path: Path, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    m = _LEADING.match(query or "")
    first = ((m.group(1) if m else "") or "").upper()
    if not first:
        raise KBError("kb sql: the query is empty; e.g. kb sql \"SELECT id, title FROM source\"")
    if first not in _QUERY_WORDS:
        raise KBError(f"kb sql runs read-only queries (SELECT, WITH, VALUES, EXPLAIN, PRAGMA), not {first}; "
                      "change facts with kb add, kb load, kb deprecate or kb supersede")
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    conn.set_authorizer(_authorize)
    try:
        cur = conn.execute(query)
        headers = [d[0] for d in cur.description or []]
        return headers, cur.fetchall()
    except sqlite3.Error as exc:
        if "one statement at a time" in str(exc):
            raise KBError("kb sql is read-only and runs one statement at a time; drop the ';' and what follows") from None
        if "not authorized" in str(exc):
            raise KBError("SQL refused: kb sql is read-only, and this statement writes, attaches or changes a setting") from None
        raise KBError(f"SQL failed: {exc}") from None
    finally:
        conn.close()
