"""E-mail bodies, rendered from the templates in ``bastion/web/templates/email/``.

Each e-mail is two files named alike: ``<name>.txt`` for the plain-text part and ``<name>.html``
for the HTML part (which extends ``_base.html``). The HTML environment escapes every value, so a
label, a name or an address can never add markup to a message; the text environment does not.
Templates are plain files beside the pages' ones: nothing here imports the web package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(__file__).parent / "web" / "templates" / "email"

_loader = FileSystemLoader(TEMPLATES_DIR)
# StrictUndefined: a value the caller forgot is an error, not an empty gap in someone's e-mail.
_text = Environment(
    loader=_loader,
    autoescape=False,  # noqa: S701 - the plain-text part is not HTML
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_html = Environment(
    loader=_loader,
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class EmailBody:
    text: str
    html: str


def render_email(name: str, **context: Any) -> EmailBody:
    """Both parts of the e-mail ``name``, filled with ``context``."""
    return EmailBody(
        text=_text.get_template(f"{name}.txt").render(context),
        html=_html.get_template(f"{name}.html").render(context),
    )
