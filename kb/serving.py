"""How ``kb serve`` runs (what it shows is :mod:`kb.browse`): the address it listens on, checked and bound
before anything else is done; the temporary folder of the snapshot, removed however the server stops; and
the signals that stop it.

The socket is bound first, so a port in use or an address that cannot be had is one line and nothing is
written; uvicorn is then given that very socket, so no other program can take the port in between.
SIGINT, SIGTERM and SIGHUP stop the server gracefully and unwind, so the snapshot's folder goes away; a
server killed outright (SIGKILL) cannot clean up, so each start removes the folders of servers no longer
running (each folder holds a ``pid`` file naming its server's process).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import socket
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from .errors import KBError

PREFIX = "kb-serve-"  # the snapshot's temporary folder: tempfile.gettempdir()/kb-serve-XXXXXXXX
PID_FILE = "pid"
GRACE_SECONDS = 5  # how long a stopping server waits for requests in flight
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def check_host(host: str) -> str:
    """``host`` if it is an IP address or a hostname (at most 253 characters, dot-separated labels of
    letters, digits and hyphens); an empty host, which would listen on every interface, is refused."""
    if not host.strip():
        raise KBError("an empty host would listen on every interface; give 127.0.0.1, or 0.0.0.0 to mean that")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        shown = host if len(host) <= 60 else host[:57] + "..."
        raise KBError(f"{shown!r} is not an IP address or a hostname (at most 253 characters, labels of letters, "
                      "digits and hyphens)")
    return host


def address(host: str, port: int) -> str:
    """``127.0.0.1:8001``, ``[::1]:8001``: a host and port as written in a URL."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``(host, port)`` and listening, as uvicorn would make it (SO_REUSEADDR, so a port
    a stopped server left in TIME_WAIT is free); a port in use or an address not to be had is a KBError."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's backlog; with SO_REUSEADDR, a second listener on a port fails here
    except OSError as exc:
        sock.close()
        raise KBError(f"kb serve: cannot listen on {address(host, port)}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep(folder: Path | None = None) -> list[Path]:
    """Remove the snapshot folders of servers no longer running (killed outright, so they could not clean
    up): this user's ``kb-serve-*`` folders in ``folder`` (the temporary folder) whose ``pid`` file names a
    process that is gone. A folder without a readable ``pid`` file is left alone (a server starting this
    moment has not written it yet). Returns the folders removed."""
    folder = Path(folder or tempfile.gettempdir())
    removed = []
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(PREFIX)]
    except OSError:
        return []
    for path in candidates:
        try:
            st = path.lstat()
            if not path.is_dir() or path.is_symlink() or st.st_uid != os.getuid():
                continue
            pid = int((path / PID_FILE).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
        if pid > 0 and pid != os.getpid() and not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def snapshot_folder() -> Iterator[Path]:
    """A new temporary folder for the snapshot, holding a ``pid`` file, removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
        (Path(tmp) / PID_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
        yield Path(tmp)


SQL_TIME_LIMIT_MS = 3000  # Datasette stops a query after this much work (checked every 1000 steps)
MAX_ROWS = 1000  # rows a query returns (Datasette truncates there and says so)
MAX_VALUE_BYTES = 1_000_000  # the longest text or blob a query may make (the longest stored is a few KB)
MAX_COLUMNS = 100  # result columns of a query (the widest table has 34 with its rowid)
MAX_RESULT_BYTES = 20_000_000  # what one query's rows may hold in all (a page of 1000 claims is under 1 MB)


def datasette_settings() -> dict[str, Any]:
    """Datasette's settings for the snapshot. Arbitrary SQL stays (analysts use it) but is bounded: a query
    stops after :data:`SQL_TIME_LIMIT_MS` of work and returns at most :data:`MAX_ROWS` rows; what the time
    limit cannot see (one step that makes a GB) :func:`limit_connection` bounds."""
    return {"sql_time_limit_ms": SQL_TIME_LIMIT_MS, "max_returned_rows": MAX_ROWS}


def limit_connection(conn: sqlite3.Connection) -> None:
    """Bound what a query on ``conn`` can make, where Datasette's time limit, checked between steps, cannot:
    ``randomblob(1000000000)`` is one step of seconds and a GB, and a thousand rows of 100 KB values take
    milliseconds to make but minutes and many GB to send as JSON. So a text or blob over
    :data:`MAX_VALUE_BYTES` is an error ("string or blob too big"), a result has at most :data:`MAX_COLUMNS`
    columns, and a query whose rows come to more than :data:`MAX_RESULT_BYTES` is stopped with an error as
    the row that crosses it is fetched (counted in the row factory, which sees every row)."""
    import weakref

    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_COLUMNS)
    make_row = conn.row_factory
    fetched: weakref.WeakKeyDictionary[sqlite3.Cursor, int] = weakref.WeakKeyDictionary()  # one count per query

    def counted(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Any:
        size = fetched.get(cursor, 0) + sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
        if size > MAX_RESULT_BYTES:
            raise sqlite3.OperationalError(
                f"kb serve: a query's rows may hold at most {MAX_RESULT_BYTES // 1_000_000} MB; select fewer rows "
                "or columns, or run it with kb sql")
        fetched[cursor] = size
        return make_row(cursor, row) if make_row is not None else row
    conn.row_factory = counted


def prepare_connection(conn: Any) -> None:
    """Datasette's hook, once this module is registered as a plugin (:func:`install_limits`)."""
    limit_connection(conn)


def install_limits() -> None:
    """Register this module as a Datasette plugin (once per process), so :func:`prepare_connection` bounds
    every connection Datasette opens."""
    import sys

    from datasette import hookimpl
    from datasette.plugins import pm

    module = sys.modules[__name__]
    if not pm.is_registered(module):
        hookimpl(prepare_connection)
        pm.register(module, name=__name__)


STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


def _stop_signals() -> list[int]:
    """The signals that stop the server: SIGINT, SIGTERM and SIGHUP, unless SIGHUP is ignored (``nohup kb
    serve``: closing the terminal must not stop it)."""
    hup = getattr(signal, "SIGHUP", None)
    return [s for s in STOP_SIGNALS if not (s == hup and signal.getsignal(s) == signal.SIG_IGN)]


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP (unless ignored) raise SystemExit(128 + the signal) as
    SIGINT raises KeyboardInterrupt, so what the block opened (the snapshot's folder) is closed; the handlers before are
    restored after. (Only the main thread can set handlers; elsewhere this does nothing.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(sig: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + sig)

    previous = {sig: signal.signal(sig, stop) for sig in _stop_signals() if sig != signal.SIGINT}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` (ASGI) on ``sock`` until a stop signal, then return or raise as the signal asks:
    KeyboardInterrupt for SIGINT, SystemExit(128 + the signal) for SIGTERM and SIGHUP. Requests in
    flight get :data:`GRACE_SECONDS` to finish."""
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, stopped gracefully by SIGHUP as by SIGINT and SIGTERM. It remembers the signal
        and :func:`run` raises for it once uvicorn is done (uvicorn's own handling raises the signal again
        after restoring the handlers before it, and only some versions do)."""

        stopped_by: int | None = None

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in _stop_signals()}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.stopped_by is None:
                self.stopped_by = sig
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=GRACE_SECONDS)
    server = Server(config)
    server.run(sockets=[sock])
    if server.stopped_by == signal.SIGINT:
        raise KeyboardInterrupt
    if server.stopped_by is not None:
        raise SystemExit(128 + server.stopped_by)
