"""Reading declarative YAML with line numbers, every scalar kept as written.

Scalars are returned as the exact text in the file (``1.6e12`` stays the string
``"1.6e12"``; YAML 1.1 surprises such as ``no`` -> False or ``1:7`` -> 67 cannot
happen). Plain ``~``, ``null`` or an empty value is None. Mappings are ``YMap``
objects that remember the line of each key, so errors can point at it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import FileFormatError, clip

_NULLS = {"", "~", "null", "Null", "NULL"}


class YMap(dict):  # type: ignore[type-arg]
    """A mapping read from YAML: ``line`` is where it starts, ``key_lines`` per key."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


def ymap(data: dict[str, Any]) -> YMap:
    """A YMap (without line numbers) from plain data given on the command line."""
    out = YMap((k, v) for k, v in data.items() if v is not None)
    out.key_lines = {}
    return out


class YList(list):  # type: ignore[type-arg]
    line: int = 0


_MAX_REPEATS = 100_000  # values reached again through aliases ("billion laughs"); a file's own size is free
_MAX_REPEATED_TEXT = 16 << 20  # characters of text reached again through aliases
MAX_DEPTH = 100  # lists and mappings in one another (kb's files nest a few deep; Python's stack, about 1000)


class _Converter:
    """A composed YAML document to plain values with lines. Aliases are bounded: a value reached again through
    one counts, with what it holds, against ``_MAX_REPEATS``; an alias inside the value it names is refused."""

    def __init__(self, where: str) -> None:
        yaml = sys.modules["yaml"]  # imported by read_yaml
        self.where = where
        self.scalar, self.sequence, self.mapping = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
        self.visits = self.distinct = 0  # values made, and values in distinct collections
        self.repeated_text = 0  # characters of long texts made again through aliases
        self.done: set[int] = set()  # collections made once
        self.open: set[int] = set()  # collections being made (an alias to one is a cycle)

    def _at(self, node: Any) -> str:
        return f"{self.where}:{node.start_mark.line + 1}"

    def convert(self, node: Any) -> Any:
        kind = type(node)
        if kind is self.scalar:
            if not node.style and node.value in _NULLS:  # plain (libyaml says "", the Python parser None)
                return None
            if len(node.value) > 1000:  # a long text reached again through an alias counts by its length
                if id(node) in self.done:
                    self.repeated_text += len(node.value)
                    if self.repeated_text > _MAX_REPEATED_TEXT:
                        raise FileFormatError("aliases repeat more than 16 MB of text", where=self._at(node))
                self.done.add(id(node))
            return node.value
        key = id(node)
        if len(self.open) >= MAX_DEPTH:
            raise FileFormatError(f"values are nested more than {MAX_DEPTH} deep", where=self._at(node))
        if key in self.open:
            raise FileFormatError("an alias refers to the value that contains it", where=self._at(node))
        size = len(node.value) + 1
        self.visits += size
        if key not in self.done:
            self.done.add(key)
            self.distinct += size
        elif self.visits - self.distinct > _MAX_REPEATS:
            raise FileFormatError("aliases expand to too many values", where=self._at(node))
        self.open.add(key)
        try:
            if kind is self.sequence:
                out = YList(self.convert(item) for item in node.value)
                out.line = node.start_mark.line + 1
                return out
            if kind is self.mapping:
                return self._mapping(node)
        finally:
            self.open.discard(key)
        raise FileFormatError(f"unsupported YAML node {kind.__name__}", where=self.where)

    def _mapping(self, node: Any) -> YMap:
        out = YMap()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = self.convert(key_node)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise FileFormatError("mapping keys must be plain words", where=f"{self.where}:{line}")
            if key in out:
                raise FileFormatError(f"duplicate key {key!r}", where=f"{self.where}:{line}")
            out[key] = self.convert(value_node)
            out.key_lines[key] = line
        return out


MAX_TEXT_BYTES = 64 << 20  # a template, a fact file: read whole, so bounded
MAX_SOURCE_TEXT = 64 << 20  # a source's text (quotes are checked against it)


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path``, its symlinks followed, lies under ``root``: a file a stored row or an entry names must
    not be ``/etc/passwd`` or ``../elsewhere``."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL in the path
        return False


def source_text(root: Path, text_path: str, where: str | None = None) -> Path:
    """The file a source's ``text:`` names: a path under the project folder (``facts/texts/...``)."""
    path = root / text_path
    if not is_inside(path, root):
        raise FileFormatError(f"source text {clip(text_path, 100)!r} is not a file under the project folder; put it under it "
                              "(e.g. facts/texts/) and name it relative to the project", where=where)
    try:
        size = path.stat().st_size
    except OSError:
        return path  # not there (yet): `kb check` reports a missing text
    if size > MAX_SOURCE_TEXT:
        raise FileFormatError(f"source text {text_path!r} is larger than "
                              + (f"{MAX_SOURCE_TEXT >> 20} MB" if MAX_SOURCE_TEXT >= 1 << 20 else f"{MAX_SOURCE_TEXT} bytes"),
                              where=where)
    return path


def read_text(path: Path, where: str | None = None) -> str:
    """A text file's contents; unreadable, larger than :data:`MAX_TEXT_BYTES` or not UTF-8 is a
    FileFormatError naming the file (and line)."""
    where = where or str(path)
    try:
        if path.stat().st_size > MAX_TEXT_BYTES:
            raise FileFormatError(f"the file is larger than {MAX_TEXT_BYTES >> 20} MB", where=where)
        raw = path.read_bytes()
    except OSError as exc:
        raise FileFormatError(f"cannot read file ({exc.strerror})", where=where) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileFormatError("not UTF-8 text (save the file as UTF-8)", where=f"{where}:{line}") from None


def write_text(path: Path, text: str, *, make_parents: bool = False) -> None:
    """Write a file whole or not at all (:func:`write_chunks`: a unique temporary file renamed into place),
    with ``make_parents`` creating its folders first; errors are one KBError."""
    from .errors import KBError

    if make_parents:
        for parent in reversed(path.parents):
            if parent.exists() and not parent.is_dir():
                raise KBError(f"cannot write {str(path)!r}: {str(parent)!r} is a file, not a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KBError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    write_chunks(path, [text])


def write_chunks(path: Path, chunks: Iterable[str] | Iterable[bytes], *, binary: bool = False) -> None:
    """Write chunks (text, or bytes with ``binary``) to a file whole or not at all: a temporary file of a
    unique name beside it (never a fixed name a symlink could be planted at), renamed into place once
    complete, with the mode of the file it replaces (a new file's honours the umask). A symlink is written
    through to its target; a device or FIFO (/dev/null) is written directly."""
    import os
    import tempfile

    from .errors import KBError

    mode, encoding = ("wb", None) if binary else ("w", "utf-8")
    if path.is_symlink():
        path = path.resolve()  # write through a link to its target, as a plain open() would
    if path.is_dir():
        raise KBError(f"cannot write {str(path)!r}: it is a folder")
    if path.exists() and not path.is_file():  # /dev/null, /dev/stdout, a FIFO: write through it
        try:
            with open(path, mode, encoding=encoding) as out:
                for chunk in chunks:
                    out.write(chunk)
        except OSError as exc:
            raise KBError(f"cannot write {str(path)!r}: {exc.strerror}") from None
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    except OSError as exc:
        raise KBError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, mode, encoding=encoding) as out:
            for chunk in chunks:
                out.write(chunk)
        try:  # a file written over keeps its mode (a private 0600 export stays private)
            file_mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:  # a new file: as a plain open() would make it, not mkstemp's 0600
            mask = os.umask(0)
            os.umask(mask)
            file_mode = 0o666 & ~mask
        os.chmod(tmp, file_mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise KBError(f"cannot write {str(path)!r}: {exc.strerror}") from None
        raise


@functools.cache
def _loader() -> Any:
    """The safe loader (libyaml's when PyYAML is built with it), composing only: values stay text (kb reads
    every value from its text), so no scalar's implicit type is resolved (a third of the time of a read)."""
    import yaml

    class _Composer(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            return "tag:yaml.org,2002:str"  # unread: _Converter goes by the node's kind and its text

    return _Composer


def read_yaml(path: Path, *, label: str | None = None) -> Any:
    """Parse one YAML file; errors name the file and line."""
    import yaml

    where = label or str(path)
    text = read_text(path, where)
    try:
        node = yaml.compose(text, Loader=_loader())
    except RecursionError:  # PyYAML without libyaml composes in Python
        raise FileFormatError(f"values are nested more than {MAX_DEPTH} deep", where=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FileFormatError(f"YAML does not parse: {problem}", where=f"{where}{line}") from None
    return None if node is None else _Converter(where).convert(node)


def dump_yaml(data: Any) -> str:
    """Deterministic YAML for exports: keys in insertion order, unicode kept."""
    import yaml

    class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]  # libyaml when built with it
        pass

    def _str(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    _Dumper.add_representer(YMap, _Dumper.represent_dict)
    _Dumper.add_representer(YList, _Dumper.represent_list)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class Fields:
    """Strict access to one YAML mapping: unknown keys and missing required keys are errors."""

    def __init__(self, data: Any, where: str, what: str, allowed: set[str]) -> None:
        if not isinstance(data, YMap):
            line = getattr(data, "line", 0)
            raise FileFormatError(f"each {what} must be a mapping", where=f"{where}:{line}" if line else where)
        self.data = data
        self.file = where
        self.what = what
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise FileFormatError(
                f"unknown key {unknown[0]!r} in {what}; allowed: {', '.join(sorted(allowed))}",
                where=self.at(unknown[0]),
            )

    def at(self, key: str | None = None) -> str:
        line = self.data.line_of(key) if key else self.data.line
        return f"{self.file}:{line}" if line else self.file

    def req(self, key: str) -> str:
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise FileFormatError(f"{self.what} needs {key!r}", where=self.at())
        if not isinstance(value, str):
            raise FileFormatError(f"{key!r} must be text", where=self.at(key))
        return value.strip()

    def opt(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise FileFormatError(f"{key!r} must be text", where=self.at(key))
        return value.strip()

    def text_list(self, key: str) -> list[str]:
        value = self.data.get(key)
        if value is None:
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise FileFormatError(f"{key!r} must be a list of text", where=self.at(key))
        if any(not v.strip() for v in items):
            raise FileFormatError(f"{key!r} has an empty entry", where=self.at(key))
        return [v.strip() for v in items]

    def raw(self, key: str) -> Any:
        return self.data.get(key)
