"""E-mail bodies, rendered from the templates in ``bastion/web/templates/email/``.

Each e-mail is two files named alike: ``<name>.txt`` for the plain-text part and ``<name>.html``
for the HTML part (which extends ``_base.html``). The HTML environment escapes every value, so a
label, a name or an address can never add markup to a message; the text environment does not.
Templates are plain files beside the pages' ones: nothing here imports the web package.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import escape

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


class EmailStencil:
    """The e-mail ``name`` rendered once with the value ``open`` left open, then filled in per
    message: the bodies ``render_email`` gives with that value, for a string replacement each
    (a check sends thousands of invitations that differ in one value).

    The open value is marked by a random token; where the templates do anything with it but
    print it (a filter would change the token), every message is rendered in full instead.
    """

    def __init__(self, name: str, open: str, **context: Any) -> None:
        self._name, self._open, self._context = name, open, context
        self._mark = f"open-{secrets.token_hex(16)}"
        body = render_email(name, **context, **{open: self._mark})
        printed = self._mark in body.text and self._mark in body.html
        self._body = body if printed else None

    def fill(self, value: str) -> EmailBody:
        if self._body is None:
            return render_email(self._name, **self._context, **{self._open: value})
        return EmailBody(
            text=self._body.text.replace(self._mark, value),
            html=self._body.html.replace(self._mark, str(escape(value))),
        )
