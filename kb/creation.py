"""Making a new SQLite knowledge base without ever losing one: it is built whole (schema and shipped facts) in
a temporary file beside its path, then linked into place only if nothing is there yet. So commands started
together on a missing database make it once (the others open the winner's), a kill while it is being
made leaves no half-made database (at most a temporary file, swept by the next creation), and a database
another process made is never removed.

A command that created a database and then failed removes it again only if it is still the file this
process made, unchanged: the same inode, size, modification time and SQLite change counter (a rollback-journal
write bumps the counter; a write-ahead-log checkpoint changes the file), and no journal or write-ahead log
(another writer mid-transaction, or connected).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import KBError

_TEMP = ".{name}.creating-{pid}-"  # the temporary file's prefix; mkstemp adds the rest


@dataclass(frozen=True)
class Made:
    """What this process created: the file's identity right after, to recognise it later."""

    path: Path
    inode: tuple[int, int]
    counter: bytes
    written: tuple[int, int]  # size and modification time (ns)


def check_path(path: Path) -> None:
    """Only a regular file (or nothing yet) is a database: never a folder, a device such as /dev/null, or a FIFO."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise KBError(f"database {str(path)!r}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise KBError(f"database path {str(path)!r} is a directory")
    if not stat.S_ISREG(mode):
        raise KBError(f"database path {str(path)!r} is not a regular file (a device or a pipe); give a .sqlite "
                      "file's path")


def is_new(path: Path) -> bool:
    """No file, or an empty one (``touch kb.sqlite``): a database to make."""
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True


def create(path: Path, build: Callable[[Path], None]) -> Made | None:
    """Make the database at ``path`` by ``build(temporary path)``, then put it in place. None when another
    process made it first (its database is kept, this one dropped)."""
    import tempfile

    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KBError(f"cannot create the database {str(path)!r}: {exc.strerror or exc}") from None
    _sweep(path)
    try:
        fd, name = tempfile.mkstemp(prefix=_TEMP.format(name=path.name, pid=os.getpid()), suffix=".sqlite", dir=folder)
    except OSError as exc:
        raise KBError(f"cannot create the database {str(path)!r}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        build(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # as a plain sqlite3 would make it, not mkstemp's 0600
        if path.exists():  # an empty file someone made for it: take its place only if still empty
            if path.stat().st_size != 0:
                return None
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic: fails if another process put its database there first
            except FileExistsError:
                return None
        st = path.stat()
        return Made(path, (st.st_dev, st.st_ino), _counter(path), (st.st_size, st.st_mtime_ns))
    finally:
        for extra in ("", "-journal", "-wal", "-shm"):
            Path(f"{tmp}{extra}").unlink(missing_ok=True)


def discard(made: Made) -> None:
    """Remove the database this process made, if no one else has written to it since."""
    path = made.path
    try:
        st = path.stat()
    except OSError:
        return
    if (st.st_dev, st.st_ino) != made.inode or _counter(path) != made.counter \
            or (st.st_size, st.st_mtime_ns) != made.written:
        return  # replaced, or written to since: someone else's now
    if any(Path(f"{path}{extra}").exists() for extra in ("-journal", "-wal")):
        return  # another command is writing to it
    path.unlink(missing_ok=True)
    Path(f"{path}-shm").unlink(missing_ok=True)


def _counter(path: Path) -> bytes:
    """SQLite's file change counter (header bytes 24-27): every committed write changes it."""
    try:
        with open(path, "rb") as f:
            f.seek(24)
            return f.read(4)
    except OSError:
        return b""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sweep(path: Path) -> None:
    """Remove temporary files of creations whose process is gone (killed while making this database)."""
    prefix = f".{path.name}.creating-"
    for leftover in path.parent.glob(f"{prefix}*"):
        pid = leftover.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
