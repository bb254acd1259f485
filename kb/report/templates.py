"""Report templates on disk: ``templates/NAME.md.j2``, or any ``.j2`` file named by path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import KBError, NotFoundError
from ..yamlio import read_text

if TYPE_CHECKING:
    from ..project import Project

SUFFIX = ".md.j2"


@dataclass
class Template:
    name: str
    path: Path
    title: str


def template_title(path: Path) -> str:
    """The first line's ``{# ... #}`` comment."""
    first = read_text(path).lstrip().splitlines()[:1]
    m = re.match(r"\{#\s*(.*?)\s*#\}", first[0]) if first else None
    return m.group(1) if m else ""


def list_templates(folder: Path) -> list[Template]:
    if not folder.is_dir():
        return []
    return [Template(p.name[: -len(SUFFIX)], p, template_title(p)) for p in sorted(folder.glob(f"*{SUFFIX}"))]


def find_template(project: Project, name: str) -> Template:
    """By name (``goodyear-phoenix-cluster``) from templates/, or by a path to any ``.j2`` file."""
    path = Path(name)
    if path.suffix == ".j2" or "/" in name:
        if not path.is_file():
            raise KBError(f"no template file {name!r}")
        stem = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.stem
        return Template(stem, path.resolve(), template_title(path))
    known = {t.name: t for t in list_templates(project.templates_dir)}
    if name not in known:
        raise NotFoundError("template", name, list(known), hint="see `kb templates`")
    return known[name]


def is_shipped_folder(project: Project, template: Template) -> bool:
    """Whether the template lives in the project's templates/ (named by name, not by path)."""
    return template.path.parent.resolve() == project.templates_dir.resolve()
