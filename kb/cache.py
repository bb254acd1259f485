"""What kb remembers between commands to start fast: small JSON files in the user's cache folder.

A cache only ever saves work: each file is named by a digest of everything its content depends on, is
read whole and checked, and anything unreadable, unwritable or malformed is ignored (the work is done
again). The folder is ``$KB_CACHE_DIR``, else ``$XDG_CACHE_HOME/kb``, else ``~/.cache/kb``;
``KB_CACHE_DIR=off`` turns caching off. Each file is sealed with a digest of its value (a hand-edited or
truncated file is ignored); ``kb check`` re-asks pint about every cached unit and removes a cache that
disagrees (:func:`kb.units.verify_cache`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

MAX_BYTES = 8 << 20  # a cache file larger than this is not ours: ignored
OFF = {"off", "0", "false", "no", "none"}  # KB_CACHE_DIR values that turn caching off (any case)


def folder() -> Path | None:
    """The cache folder (not made yet), or None when caching is off."""
    chosen = os.environ.get("KB_CACHE_DIR")
    if chosen and chosen.strip().lower() in OFF:
        return None
    if chosen:
        return Path(os.path.abspath(chosen))  # a relative path: from the current folder
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "kb"
    home = os.path.expanduser("~")
    return Path(home) / ".cache" / "kb" if os.path.isabs(home) else None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, allow_nan=False).encode()).hexdigest()


def path(name: str) -> Path | None:
    where = folder()
    return None if where is None else where / name


def read(name: str) -> Any:
    """The JSON value cached as ``name``, or None (absent, unreadable, too large, not JSON, or not as written:
    each file carries a digest of its value, so a value edited by hand or cut short is not used)."""
    at = path(name)
    if at is None:
        return None
    try:
        fd = os.open(at, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO planted there must not block the command
    except OSError:
        return None
    try:
        if not _trusted(os.fstat(fd), at.parent):
            return None
        with os.fdopen(fd, "rb") as f:
            fd = -1
            data = f.read(MAX_BYTES + 1)
        sealed = None if len(data) > MAX_BYTES else json.loads(data)
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, nested too deep
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    if not isinstance(sealed, dict) or set(sealed) != {"sha256", "value"}:
        return None
    try:
        return sealed["value"] if sealed["sha256"] == _digest(sealed["value"]) else None
    except ValueError:
        return None


def _trusted(st: os.stat_result, parent: Path) -> bool:
    """A regular file of this user that no one else may write, in a folder no one else may write (as ssh asks
    of its keys): a cache someone else could write could make kb compute wrong numbers."""
    import stat

    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        return False
    try:
        folder_st = parent.stat()
    except OSError:
        return False
    return folder_st.st_uid == os.getuid() and not folder_st.st_mode & 0o022


def remove(name: str) -> None:
    at = path(name)
    if at is not None:
        try:
            at.unlink()
        except OSError:
            pass


def write(name: str, value: Any) -> None:
    """Cache ``value`` as ``name``: written whole to a new file and renamed over the old one, so a reader never
    sees half of it; a folder that cannot be made or written means no cache, not an error."""
    where = folder()
    if where is None:
        return
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"sha256": _digest(value), "value": value}, f, allow_nan=False, separators=(",", ":"))
            os.replace(tmp, where / name)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        pass


STALE_DAYS = 30


def prune(pattern: str, keep: str) -> None:
    """Remove cache files matching ``pattern`` (other than ``keep``) unused for ``STALE_DAYS``: those of
    another install are left while it may still be in use."""
    import time

    where = folder()
    if where is None:
        return
    cutoff = time.time() - STALE_DAYS * 86400
    try:
        for old in where.glob(pattern):
            if old.name != keep and old.stat().st_atime < cutoff and old.stat().st_mtime < cutoff:
                old.unlink()
    except OSError:
        pass
