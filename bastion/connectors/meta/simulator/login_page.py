"""The simulated Facebook login dialog's pages: plain HTML forms without scripts, so that a
headless browser and a form POST from httpx both complete them.

One form carries the dialog's parameters as hidden fields and three ways out: the e-mail box and
its Log in button (first, so Enter in the box logs in with the e-mail), a "Continue as" button
per simulated person (``login_as`` = their app-scoped id), and Cancel / Not now (``action``).
Each permission asked for, but public_profile, has a "Don't allow" box (``decline``), as Meta's
dialog lets a person turn a permission off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from bastion.connectors.meta.simulator.facebook_login import ALWAYS_GRANTED, DialogRefusal
from bastion.connectors.meta.simulator.state import FacebookProfile

# The dialog's own parameters, carried through the form unchanged (and checked again on POST).
CARRIED = ("client_id", "redirect_uri", "state", "response_type", "scope")
# A large business lists this many people; the others log in with their e-mail.
LISTED_PEOPLE = 100


def refusal_page(refusal: DialogRefusal) -> str:
    return _document(
        refusal.title,
        f"<h1>{escape(refusal.title)}</h1>\n<p>{escape(refusal.message)}</p>",
    )


def login_page(
    *,
    action: str,
    query: Mapping[str, str],
    app_name: str,
    business_name: str,
    profiles: Sequence[FacebookProfile],
    scopes: Sequence[str],
    unknown_scopes: Sequence[str],
    notice: str | None = None,
) -> str:
    parts = [
        f"<h1>Log in to {escape(app_name)} with Facebook</h1>",
        "<p>Simulated Facebook: choose whose Facebook account logs in.</p>",
    ]
    if notice:
        parts.append(f'<p role="alert">{escape(notice)}</p>')
    if unknown_scopes:
        # Meta's notice to developers; the people logging in are not asked for these.
        parts.append(
            f"<p>Invalid Scopes: {escape(', '.join(unknown_scopes))}. This message is only "
            "shown to developers. Users of your app will ignore these permissions if present.</p>"
        )
    parts.append(f'<form method="post" action="{escape(action)}">')
    parts += [
        f'<input type="hidden" name="{name}" value="{escape(query[name])}">'
        for name in CARRIED
        if name in query
    ]
    parts += [
        '<p><label for="email">Email address</label>',
        '<input type="email" id="email" name="email" autocomplete="off">',
        '<button type="submit" name="action" value="log_in">Log in</button></p>',
        *_permissions(app_name, scopes),
    ]
    seated = sorted((p for p in profiles if p.person is not None), key=lambda p: p.name)
    parts.append(f"<h2>People in {escape(business_name)}</h2>")
    parts.append(_people_list(seated[:LISTED_PEOPLE]))
    if len(seated) > LISTED_PEOPLE:
        parts.append(f"<p>And {len(seated) - LISTED_PEOPLE} more: log in with their e-mail.</p>")
    others = [p for p in profiles if p.person is None]
    parts.append(f"<h2>Facebook accounts without a seat in {escape(business_name)}</h2>")
    parts.append(_people_list(others) if others else "<p>None.</p>")
    parts += [
        '<p><button type="submit" name="action" value="cancel">Cancel</button>',
        '<button type="submit" name="action" value="not_now">Not now</button></p>',
        "</form>",
    ]
    return _document("Log in with Facebook", "\n".join(parts))


def _permissions(app_name: str, scopes: Sequence[str]) -> list[str]:
    items = [f"<li>{ALWAYS_GRANTED} (always shared)</li>"]
    items += [
        f'<li><label><input type="checkbox" name="decline" value="{escape(name)}"> '
        f"Don't allow {escape(name)}</label></li>"
        for name in scopes
        if name != ALWAYS_GRANTED
    ]
    return [
        f"<fieldset><legend>{escape(app_name)} will receive</legend>",
        "<ul>",
        *items,
        "</ul></fieldset>",
    ]


def _people_list(profiles: Sequence[FacebookProfile]) -> str:
    rows = []
    for profile in profiles:
        role = f" · {escape(profile.person.role)}" if profile.person is not None else ""
        rows.append(
            f'<li><button type="submit" name="login_as" value="{escape(profile.id)}">'
            f"Continue as {escape(profile.name)}</button> {escape(profile.email)}{role}</li>"
        )
    return "<ul>\n" + "\n".join(rows) + "\n</ul>"


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n"
        "</html>\n"
    )
