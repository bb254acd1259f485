"""What kb remembers between commands to start fast: small JSON files in the user's cache folder.

A cache only ever saves work: each file is named by a digest of everything its content depends on, is
read whole and checked, and anything unreadable, unwritable or malformed is ignored (the work is done
again). The folder is ``$KB_CACHE_DIR``, else ``$XDG_CACHE_HOME/kb``, else ``~/.cache/kb``;
``KB_CACHE_DIR=off`` turns caching off.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

MAX_BYTES = 8 << 20  # a cache file larger than this is not ours: ignored


def folder() -> Path | None:
    """The cache folder (not made yet), or None when caching is off."""
    chosen = os.environ.get("KB_CACHE_DIR")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "kb"
    home = os.path.expanduser("~")
    return Path(home) / ".cache" / "kb" if os.path.isabs(home) else None


def read(name: str) -> Any:
    """The JSON value cached as ``name``, or None (absent, unreadable, too large or not JSON)."""
    where = folder()
    if where is None:
        return None
    try:
        with open(where / name, "rb") as f:
            data = f.read(MAX_BYTES + 1)
        return None if len(data) > MAX_BYTES else json.loads(data)
    except (OSError, ValueError):
        return None


def write(name: str, value: Any) -> None:
    """Cache ``value`` as ``name``: written whole to a new file and renamed over the old one, so a reader never
    sees half of it; a folder that cannot be made or written means no cache, not an error."""
    where = folder()
    if where is None:
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(value, f, allow_nan=False, separators=(",", ":"))
            os.replace(tmp, where / name)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        pass
