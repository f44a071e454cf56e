import io
import json
import logging

import pytest

from bastion.logs import REDACTED, configure_logging, get_logger, redact_text, register_secret

META_TOKEN = "EAABsbCS1iHgBO7ZCZBxyzExampleSystemUserToken1234567890"


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    return stream


def test_a_token_in_an_error_path_never_reaches_the_log(captured: io.StringIO) -> None:
    log = get_logger("tests")

    def call_graph() -> None:
        raise RuntimeError(f"GET /me?access_token={META_TOKEN} failed")

    try:
        call_graph()
    except RuntimeError:
        log.exception("graph call failed", url=f"https://graph/me?access_token={META_TOKEN}")
    log.info("validating", token=META_TOKEN, header=f"Bearer {META_TOKEN}")
    logging.getLogger("httpx").warning("request to %s with Bearer %s", "graph", META_TOKEN)
    output = captured.getvalue()
    assert META_TOKEN not in output
    assert META_TOKEN[:20] not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["event"] == "graph call failed"
    assert "RuntimeError" in lines[0]["exception"]
    assert lines[1]["token"] == REDACTED
    assert len(lines) == 3


def test_a_registered_secret_is_masked_wherever_it_appears(captured: io.StringIO) -> None:
    register_secret("hunter2-smtp-password")
    get_logger("tests").warning("smtp login failed for user:hunter2-smtp-password@mail")
    assert "hunter2-smtp-password" not in captured.getvalue()


def test_bastion_tokens_and_query_secrets_are_masked() -> None:
    text = redact_text("auth bst_scim_abcdefghijklmnop and ?password=pw123&appsecret_proof=abc")
    assert "bst_scim_abcdefghijklmnop" not in text
    assert "pw123" not in text
    assert "abc&" not in text
    assert text.count(REDACTED) == 3


def test_the_demo_logs_for_a_person_libraries_only_when_they_warn() -> None:
    stream = io.StringIO()
    configure_logging("info", "console", stream=stream, libraries="warning")
    logging.getLogger("httpx").info("HTTP Request: GET http://graph/%s", "x" * 5000)
    logging.getLogger("httpx").warning("port in use")
    get_logger("bastion.demo").info("first check finished")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "port in use" in lines[0] and "first check finished" in lines[1]
    assert not lines[0].startswith("{")
    # Without the switch every logger is at the level again (nothing stays from the demo's).
    again = io.StringIO()
    configure_logging("info", "json", stream=again)
    logging.getLogger("httpx").info("HTTP Request: GET http://graph/me")
    assert json.loads(again.getvalue())["logger"] == "httpx"
