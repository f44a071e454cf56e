"""The pages' template filters."""

from __future__ import annotations

from bastion.web.templating import breakable


def test_breakable_allows_a_break_after_at_and_before_each_dot_and_escapes_the_rest() -> None:
    assert breakable("ana.lopez@example.com") == "ana<wbr>.lopez@<wbr>example<wbr>.com"
    assert breakable('<b onclick="x">@a') == "&lt;b onclick=&#34;x&#34;&gt;@<wbr>a"
    assert breakable(None) == ""
    assert breakable("no match for Ana") == "no match for Ana"
