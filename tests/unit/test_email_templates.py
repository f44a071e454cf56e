"""E-mail bodies come from templates: both parts, every value escaped in HTML, none forgotten."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import UndefinedError

from bastion.email_templates import TEMPLATES_DIR, EmailStencil, render_email


def test_every_email_has_a_text_and_an_html_part() -> None:
    names = {p.stem for p in Path(TEMPLATES_DIR).iterdir() if not p.name.startswith("_")}
    assert names, "no e-mail templates found"
    for name in names:
        assert (TEMPLATES_DIR / f"{name}.txt").is_file(), f"{name} has no plain-text part"
        assert (TEMPLATES_DIR / f"{name}.html").is_file(), f"{name} has no HTML part"


def test_values_are_escaped_in_html_and_kept_as_written_in_text() -> None:
    body = render_email(
        "guest_invitation",
        partner='Agency <script>alert("x")</script> & Co',
        link="https://bastion.example/set-password?token=a&b",
        days=7,
    )
    assert "<script>" not in body.html
    assert "Agency &lt;script&gt;" in body.html
    assert 'href="https://bastion.example/set-password?token=a&amp;b"' in body.html
    assert 'Agency <script>alert("x")</script> & Co' in body.text
    assert "https://bastion.example/set-password?token=a&b" in body.text


def test_a_report_lists_each_person_in_both_parts() -> None:
    items = [
        {"person": "Ann <ann>", "account": "ann@x.com", "role": None, "assets": 2, "reason": "r1"},
        {"person": "Bob", "account": "bob@x.com", "role": "ADMIN", "assets": 0, "reason": "r2"},
    ]
    body = render_email("deprovisioning_report", app="Ads", link="https://b/r", items=items)
    assert body.text.startswith("2 person(s) who left still hold access to Ads.")
    assert "- Ann <ann> <ann@x.com>: no role, 2 asset(s). r1." in body.text
    assert "- Bob <bob@x.com>: ADMIN, 0 asset(s). r2." in body.text
    assert body.html.count("<tr><td>") == 2
    assert "Ann &lt;ann&gt;" in body.html


def test_a_forgotten_value_is_an_error_not_a_gap() -> None:
    with pytest.raises(UndefinedError):
        render_email("sign_in_link", link="https://b/l")


@pytest.mark.parametrize(
    "where",
    ['Your account ann@x.com in Ads & "Co" <b>', "Your access to O'Brien's Pages", ""],
)
def test_a_stencil_fills_in_what_a_full_render_would(where: str) -> None:
    context = {"role": "collaborator", "how": "Sign in & connect", "link": "https://b/a?x=1&y=2"}
    stencil = EmailStencil("member_access", "where", **context)
    assert stencil.fill(where) == render_email("member_access", where=where, **context)


def test_a_value_the_templates_do_more_with_than_print_is_rendered_in_full() -> None:
    # ``names|join(", ")`` takes the open value apart, token and all: each message is rendered.
    stencil = EmailStencil("exemptions_expired", "names")
    assert stencil.fill("Ann") == render_email("exemptions_expired", names="Ann")
    assert "A, n, n" in stencil.fill("Ann").text


def test_a_value_also_filtered_is_rendered_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    # Printed as it is and once more through a filter: the stencil would leave the filtered
    # token behind, so every message is rendered from the template.
    from jinja2 import DictLoader

    from bastion import email_templates

    loader = DictLoader({"t.txt": "{{ v }} / {{ v|upper }}", "t.html": "<p>{{ v }}</p>"})
    monkeypatch.setattr(email_templates._text, "loader", loader)
    monkeypatch.setattr(email_templates._html, "loader", loader)
    monkeypatch.setattr(email_templates._text, "cache", None)
    monkeypatch.setattr(email_templates._html, "cache", None)
    stencil = EmailStencil("t", "v")
    assert stencil.fill("ab <c>").text == "ab <c> / AB <C>"
    assert stencil.fill("ab <c>").html == "<p>ab &lt;c&gt;</p>"
