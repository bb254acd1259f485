"""Bounds on what a template may cost: the sandbox stops escapes, these stop a template from hanging or
exhausting memory (nested ``range(100000)`` loops, ``7 ** 100000000``, ``'a' * 10 ** 10``).

- ``**`` of integers whose result would exceed :data:`MAX_INT_BITS` bits, and ``*`` that repeats a string or
  list past :data:`MAX_LENGTH` items, are refused before they are computed (each is one C-level step no
  timer can interrupt);
- a render runs at most :data:`SECONDS` (a timer interrupts the template's Python loops);
- its output is at most :data:`MAX_OUTPUT` characters (counted as Jinja streams it);
- and the process may grow by at most :data:`MEMORY` bytes meanwhile (a ``str.ljust(10 ** 10)``).

Each is a :class:`RenderLimit` naming the limit; the renderer adds the template and line.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import TemplateError

SECONDS = 60.0
MAX_OUTPUT = 20_000_000
MAX_LENGTH = 1_000_000
MAX_INT_BITS = 14_000  # about 4,200 digits: Python refuses to print an integer much longer
MEMORY = 2 << 30


TOO_DEEP = "the template nests too deeply to read (brackets or blocks hundreds of levels deep)"  # a RecursionError


class RenderLimit(TemplateError):
    """A template went past one of the bounds above."""


def _bits(x: Any) -> float:
    return float(abs(x).bit_length()) if isinstance(x, int) else 0.0


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an ``**`` or ``*`` whose result would be too large to compute quickly."""
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        if right * math.log2(abs(left)) > MAX_INT_BITS:
            raise RenderLimit(f"{left} ** {right} is too large (a template's integer powers stay under "
                              f"{MAX_INT_BITS} bits; write a float, e.g. {left}.0 ** {right})")
    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_LENGTH:
                raise RenderLimit(f"repeating a {type(seq).__name__} {n} times is too long (a template's "
                                  f"repetitions stay under {MAX_LENGTH} items)")
        if isinstance(left, int) and isinstance(right, int) and _bits(left) + _bits(right) > MAX_INT_BITS:
            raise RenderLimit(f"a product of integers of over {MAX_INT_BITS} bits is too large")


def stream(chunks: Iterator[str]) -> str:
    """A render's output from Jinja's stream, at most :data:`MAX_OUTPUT` characters."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise RenderLimit(f"the output is longer than {MAX_OUTPUT} characters")
        out.append(chunk)
    return "".join(out)


@contextlib.contextmanager
def bounded() -> Iterator[None]:
    """Run a render under the time and memory bounds (the time bound only on the main thread: a timer signal)."""
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if main:
        def expired(_signum: int, _frame: Any) -> None:
            raise RenderLimit(f"the template ran longer than {SECONDS:g} s")

        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, SECONDS)
    restore = _limit_memory()
    try:
        yield
    except MemoryError as exc:  # keeps the template's frames: the renderer names the line
        raise RenderLimit(f"the template needed more than {MEMORY >> 30} GB of memory").with_traceback(
            exc.__traceback__) from None
    finally:
        restore()
        if main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _limit_memory() -> Any:
    """Cap the address space at its current size plus :data:`MEMORY`; the function that lifts the cap."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = pages * resource.getpagesize() + MEMORY
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft != resource.RLIM_INFINITY and soft < cap:
            return lambda: None  # already capped tighter by the user
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError):
        return lambda: None
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
