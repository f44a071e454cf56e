"""Graph's answers are decoded fast and as the standard library would decode them."""

from __future__ import annotations

import json

import pytest

from bastion.connectors.meta.client import decode_json


def test_an_answer_decodes_as_the_standard_library_decodes_it() -> None:
    body = json.dumps(
        {"data": [{"id": "1", "name": "Zoë \u00e5\u4e2d 😀", "tasks": ["MANAGE"]}], "n": 3.5}
    )
    assert decode_json(body.encode()) == json.loads(body)
    assert decode_json(body) == json.loads(body)


def test_a_lone_surrogate_escape_in_a_name_still_decodes() -> None:
    # Half an emoji, cut by whoever typed the name: the standard library takes it.
    body = b'{"data": [{"id": "7", "name": "Broken \\ud83d name"}]}'
    assert decode_json(body) == {"data": [{"id": "7", "name": "Broken \ud83d name"}]}


@pytest.mark.parametrize("body", [b"", b"<html>Bad gateway</html>", b'{"data": ['])
def test_what_is_not_json_raises_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_json(body)
