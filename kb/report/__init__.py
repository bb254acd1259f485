"""Reports: Jinja templates rendered to markdown whose every number is computed and footnoted.

- ``templates``: finding templates; ``environment``: the one Jinja environment and its helpers;
- ``formatting``: how numbers read in prose; ``footnotes``: source and computed-number notes;
- ``derivation``: derivation lists and the computed-numbers section; ``printed``: the explicit list
  of what a render printed; ``render``: one render; ``manifest``: recorded renders and drift;
- ``checks``: static checks for ``kb check``.
"""

from .checks import template_problems
from .render import Rendered, render
from .templates import SUFFIX, Template, find_template, list_templates

__all__ = ["SUFFIX", "Rendered", "Template", "find_template", "list_templates", "render", "template_problems"]
