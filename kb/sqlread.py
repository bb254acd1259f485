"""Read-only SQL over the database.

On SQLite, three guards: the file is opened in ``mode=ro`` (no writes to it); only a query statement is
accepted (SELECT, WITH, VALUES, EXPLAIN, or a PRAGMA that reads); and an authorizer denies every
action but reading, so ``ATTACH`` or ``VACUUM INTO`` cannot write another file either.

On PostgreSQL: the same first word; the statement runs alone (the extended protocol refuses a second
one after a ``;``) in a ``READ ONLY`` transaction that is rolled back, under a statement timeout. What the
connecting role may read or call beyond that is the server's privileges (README: Sharing).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import KBError

if TYPE_CHECKING:
    from .store import Store

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


TIMEOUT = 10.0  # seconds a query may run (kb sql --timeout)
MAX_VALUE = 100 << 20  # bytes in one string or blob a SQLite query may make


def read_only_query(store: Store, query: str, timeout: float = TIMEOUT) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and rows of one read-only query over ``store``, stopped after ``timeout`` seconds."""
    first = _first_word(query)
    if store.url:
        return _postgres(store, query, first, timeout)
    assert store.path is not None
    return _sqlite(store.path, query, timeout)


def _stopped(timeout: float) -> KBError:
    return KBError(f"SQL stopped: it ran longer than {timeout:g} s (kb sql --timeout SECONDS allows longer)")


def _first_word(query: str) -> str:
    m = _LEADING.match(query or "")
    first = ((m.group(1) if m else "") or "").upper()
    if not first:
        raise KBError("kb sql: the query is empty; e.g. kb sql \"SELECT id, title FROM source\"")
    if first not in _QUERY_WORDS:
        raise KBError(f"kb sql runs read-only queries (SELECT, WITH, VALUES, EXPLAIN, PRAGMA), not {first}; "
                      "change facts with kb add, kb load, kb deprecate or kb supersede")
    return first


def _sqlite(path: Path, query: str, timeout: float) -> tuple[list[str], list[tuple[Any, ...]]]:
    import signal
    import threading
    import time

    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    conn.set_authorizer(_authorize)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE)  # randomblob(999999999): a memory bound too
    deadline = time.monotonic() + timeout
    interrupted: list[int] = []
    # SQLite runs the query in C, where Ctrl-C is not seen: the progress handler stops it (a Python handler
    # marks the interrupt; an exception raised inside the progress handler would be swallowed)
    conn.set_progress_handler(lambda: 1 if interrupted or time.monotonic() > deadline else 0, 10_000)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(1)) if main else None
    try:
        cur = conn.execute(query)
        headers = [d[0] for d in cur.description or []]
        rows = cur.fetchall()
        if interrupted:  # a single long step (one big value) the progress handler could not stop
            raise KeyboardInterrupt
        if time.monotonic() > deadline:
            raise _stopped(timeout)
        return headers, rows
    except sqlite3.Error as exc:
        if interrupted:
            raise KeyboardInterrupt from None
        if "interrupted" in str(exc):
            raise _stopped(timeout) from None
        if "too big" in str(exc):
            raise KBError(f"SQL stopped: a value is larger than {MAX_VALUE >> 20} MB") from None
        if "one statement at a time" in str(exc):
            raise KBError("kb sql is read-only and runs one statement at a time; drop the ';' and what follows") from None
        if "not authorized" in str(exc):
            raise KBError("SQL refused: kb sql is read-only, and this statement writes, attaches or changes a setting") from None
        raise KBError(f"SQL failed: {exc}") from None
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
        conn.close()


def _postgres(store: Store, query: str, first: str, timeout: float) -> tuple[list[str], list[tuple[Any, ...]]]:
    import psycopg

    if first == "PRAGMA":
        raise KBError("kb sql on PostgreSQL runs read-only SELECT, WITH, VALUES or EXPLAIN; PRAGMA is SQLite's: describe "
                      "a table with SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'fact'")
    raw = store.engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        conn.rollback()
        conn.read_only = True  # the next transaction: BEGIN READ ONLY
        try:
            with conn.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}")
                cur.execute(query, prepare=True)  # prepared: the extended protocol, one statement only
                headers = [d.name for d in cur.description or []]
                rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
            return headers, rows
        except psycopg.Error as exc:
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
                raise KBError("SQL refused: kb sql is read-only, and this statement writes or changes a setting") from None
            if "multiple commands" in message:
                raise KBError("kb sql is read-only and runs one statement at a time; drop the ';' and what follows") from None
            if isinstance(exc, psycopg.errors.QueryCanceled):
                raise _stopped(timeout) from None
            raise KBError(f"SQL failed: {message}") from None
        finally:
            conn.rollback()
            conn.read_only = False
    finally:
        raw.close()
