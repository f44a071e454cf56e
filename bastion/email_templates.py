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

    The open value is rendered as two different random tokens; only where the two bodies differ
    in nothing but the token (the templates print the value as it is, and nothing else depends
    on it) is the stencil used. An empty value, which a template may test, and every value of a
    template that does more with it, are rendered in full.
    """

    def __init__(self, name: str, open: str, **context: Any) -> None:
        self._name, self._open, self._context = name, open, context
        self._mark = f"open-{secrets.token_hex(16)}"
        other = f"open-{secrets.token_hex(16)}"
        body = render_email(name, **context, **{open: self._mark})
        check = render_email(name, **context, **{open: other})
        printed = self._mark in body.text and self._mark in body.html
        alike = (body.text.replace(self._mark, other), body.html.replace(self._mark, other)) == (
            check.text,
            check.html,
        )
        self._body = body if printed and alike else None

    def fill(self, value: str) -> EmailBody:
        if self._body is None or not value:
            return render_email(self._name, **self._context, **{self._open: value})
        return EmailBody(
            text=self._body.text.replace(self._mark, value),
            html=self._body.html.replace(self._mark, str(escape(value))),
        )
