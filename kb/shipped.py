"""Where the shipped schema files are: the checkout's ``schema/``, or a copy inside the package when kb is
installed from a wheel (``pip install .``), where there is no checkout beside it."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "_schema"  # pyproject.toml maps schema/ to the package kb._schema
SCHEMA_DIR = _PACKAGED if (_PACKAGED / "units.txt").is_file() else Path(__file__).resolve().parent.parent / "schema"
