"""Static checks of a template (for ``kb check``): names it uses, literal references that do not exist."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import KBError
from ..yamlio import read_text
from .environment import GLOBALS, environment
from .templates import Template

if TYPE_CHECKING:
    from ..project import Project


def template_problems(project: Project, template: Template) -> list[tuple[int | None, str]]:
    """Names a template uses that the renderer does not provide, and literal references
    (``q("name", "scenario")``, ``fact("entity.property")``) to things that do not exist."""
    try:
        return _problems(project, template)
    except RecursionError:
        from .limits import TOO_DEEP

        return [(None, TOO_DEEP)]


def _problems(project: Project, template: Template) -> list[tuple[int | None, str]]:
    from jinja2 import TemplateSyntaxError, meta, nodes

    from .render import RenderContext

    ctx = RenderContext(project, None)
    env = environment(project, ctx, [template.path.parent])
    source = read_text(template.path)
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        return [(exc.lineno, exc.message or "syntax error")]
    problems: list[tuple[int | None, str]] = []
    for name in sorted(meta.find_undeclared_variables(ast) - set(env.globals)):
        line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name), None)
        problems.append((line, f"name {name!r} is not provided (helpers: {', '.join(GLOBALS)})"))
    constants = {n.target.name: n.node.value for n in ast.find_all(nodes.Assign)
                 if isinstance(n.target, nodes.Name) and isinstance(n.node, nodes.Const)}

    def literal(arg: Any) -> Any:
        if isinstance(arg, nodes.Const):
            return arg.value
        if isinstance(arg, nodes.Name):
            return constants.get(arg.name)
        return None

    catalog = project.catalog
    for call in ast.find_all(nodes.Call):
        if not isinstance(call.node, nodes.Name) or not call.args:
            continue
        fn, first = call.node.name, literal(call.args[0])
        second = literal(call.args[1]) if len(call.args) > 1 else None
        try:
            if fn == "q" and isinstance(first, str):
                catalog.query(first)
                if isinstance(second, str):
                    catalog.scenario(second)
            elif fn in ("fact", "conflicts") and isinstance(first, str):
                project.store.resolve_ref(first)
            elif fn == "given" and isinstance(second, str):
                catalog.scenario(second)
        except KBError as exc:
            problems.append((call.lineno, exc.message))
    return problems

