"""Webhooks through the API, the pages and the command line: an owner registers their app's
endpoint, an admin every app's; the secret is shown once and nowhere after, not in a page, an
API answer, the command's later output or a log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner

from bastion.app import create_app
from bastion.cli import app as cli
from bastion.jobs import Jobs
from bastion.webhook_delivery import deliver_due_webhooks
from bastion.webhook_events import emit_event
from tests.api.api_harness import Api, role_tokens
from tests.checks.conftest import World, worker_env
from tests.conftest import serve_on_loopback
from tests.members.member_world import cast_roles
from tests.web.web_support import csrf, sign_in_admin
from tests.webhooks.conftest import Receiver

URL = "/api/v1/webhooks"


@pytest.fixture
def served(hooks_world: World) -> Iterator[tuple[Api, httpx.Client]]:
    tokens = role_tokens(hooks_world, cast_roles(hooks_world))
    jobs = Jobs(hooks_world.runtime, immediate=True)
    with (
        serve_on_loopback(create_app(hooks_world.runtime, jobs=jobs)) as url,
        httpx.Client(base_url=url, timeout=60) as api,
        httpx.Client(base_url=url, timeout=60, follow_redirects=False) as browser,
    ):
        yield Api(api, tokens), browser
    jobs.close()


def emit(world: World) -> None:
    with world.runtime.sessions.begin() as session:
        emit_event(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            event_type="check.failed",
            data={"run_id": 1},
        )


def test_the_api_registers_shows_the_secret_once_and_redelivers(
    hooks_world: World,
    served: tuple[Api, httpx.Client],
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    api, _browser = served
    body = {"url": receiver.url, "events": ["check.failed"], "app_id": hooks_world.app_id}
    # Owners register their own app's endpoints; only admins one for every app.
    refused = api.client.post(URL, json={**body, "app_id": None}, headers=api.as_("owner"))
    assert refused.status_code == 403
    assert api.client.post(URL, json=body, headers=api.as_("collaborator")).status_code == 403
    bad = api.client.post(
        URL, json={**body, "url": "http://hooks.example.com/"}, headers=api.as_("owner")
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "url"
    unknown = api.client.post(
        URL, json={**body, "events": ["check.exploded"]}, headers=api.as_("owner")
    )
    assert unknown.status_code == 422 and "check.exploded" in unknown.json()["error"]["message"]

    made = api.client.post(URL, json=body, headers=api.as_("owner"))
    assert made.status_code == 201, made.text
    secret, endpoint_id = made.json()["secret"], made.json()["id"]
    assert secret.startswith("whsec_")

    emit(hooks_world)
    deliver_due_webhooks(hooks_world.runtime)
    [got] = receiver.requests
    assert Webhook(secret).verify(got.body, got.headers)["type"] == "check.failed"

    listed = api.client.get(f"{URL}/{endpoint_id}/deliveries", headers=api.as_("owner")).json()
    [delivery] = listed
    assert delivery["state"] == "delivered" and delivery["message_id"] == got.webhook_id
    detail = api.client.get(f"{URL}/deliveries/{delivery['id']}", headers=api.as_("owner"))
    assert [a["status_code"] for a in detail.json()["attempt_log"]] == [200]
    again = api.client.post(
        f"{URL}/deliveries/{delivery['id']}/redeliver", headers=api.as_("owner")
    )
    assert again.status_code == 202 and again.json()["state"] == "pending"
    conflict = api.client.post(
        f"{URL}/deliveries/{delivery['id']}/redeliver", headers=api.as_("owner")
    )
    assert conflict.status_code == 409
    deliver_due_webhooks(hooks_world.runtime)
    assert receiver.distinct_ids() == {got.webhook_id} and len(receiver.requests) == 2

    answers = [
        api.client.get(URL, headers=api.as_("admin")).text,
        api.client.get(f"{URL}/{endpoint_id}", headers=api.as_("owner")).text,
        api.client.get(f"{URL}/deliveries/{delivery['id']}", headers=api.as_("owner")).text,
        api.client.patch(
            f"{URL}/{endpoint_id}", json={"enabled": False}, headers=api.as_("owner")
        ).text,
    ]
    assert all(secret not in a for a in answers)
    assert secret not in caplog.text
    assert api.client.get(URL, headers=api.as_("member")).status_code == 403
    assert api.client.delete(f"{URL}/{endpoint_id}", headers=api.as_("owner")).status_code == 204
    assert api.client.get(f"{URL}/{endpoint_id}", headers=api.as_("owner")).status_code == 404


def test_the_page_registers_an_endpoint_and_shows_its_deliveries(
    hooks_world: World, served: tuple[Api, httpx.Client], receiver: Receiver
) -> None:
    api, browser = served
    sign_in_admin(browser, hooks_world)
    page = browser.get("/webhooks")
    assert page.status_code == 200 and 'href="/webhooks"' in page.text
    bad = browser.post(
        "/webhooks",
        data={"url": "ftp://x.test/", "events": ["check.failed"], "csrftoken": csrf(browser)},
    )
    assert bad.status_code == 400
    assert "url: must use https://" in bad.text and 'value="ftp://x.test/"' in bad.text
    none_chosen = browser.post("/webhooks", data={"url": receiver.url, "csrftoken": csrf(browser)})
    assert none_chosen.status_code == 400 and "choose at least one event" in none_chosen.text

    made = browser.post(
        "/webhooks",
        data={
            "url": receiver.url,
            "description": "Security team",
            "app_id": "",
            "events": ["check.failed", "token.expiring"],
            "csrftoken": csrf(browser),
        },
    )
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    secret = made.text.split('id="new-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    emit(hooks_world)
    deliver_due_webhooks(hooks_world.runtime)
    [got] = receiver.requests
    Webhook(secret).verify(got.body, got.headers)

    listing = browser.get("/webhooks").text
    endpoint_id = int(listing.split('href="/webhooks/')[1].split('"')[0])
    shown = browser.get(f"/webhooks/{endpoint_id}").text
    assert "check.failed" in shown and got.webhook_id in shown
    delivery_id = int(shown.split('href="/webhooks/deliveries/')[1].split('"')[0])
    delivery = browser.get(f"/webhooks/deliveries/{delivery_id}").text
    assert "<b>200</b>" in delivery and "Redeliver" in delivery
    redone = browser.post(
        f"/webhooks/deliveries/{delivery_id}/redeliver", data={"csrftoken": csrf(browser)}
    )
    assert redone.status_code == 303
    assert all(secret not in p for p in (listing, shown, delivery))

    for action, enabled, said in (
        ("disable", False, "Disabled: nothing is sent to it."),
        ("enable", True, "Enabled: new events are sent to it."),
    ):
        done = browser.post(f"/webhooks/{endpoint_id}/{action}", data={"csrftoken": csrf(browser)})
        assert done.status_code == 303, done.text
        assert done.headers["location"].endswith(f"/webhooks/{endpoint_id}")
        assert said in browser.get(f"/webhooks/{endpoint_id}").text
        read = api.client.get(f"{URL}/{endpoint_id}", headers=api.as_("admin"))
        assert read.json()["enabled"] is enabled


def test_the_commands_register_list_and_redeliver(
    hooks_world: World, receiver: Receiver, key_entry: str
) -> None:
    env = worker_env(hooks_world, "http://graph.invalid", key_entry) | {
        "COLUMNS": "250",
        "BASTION_WEBHOOK_ALLOW_LOOPBACK_HTTP": "1",
    }
    ws = ("--workspace", "northwind")
    runner = CliRunner()
    refused = runner.invoke(
        cli, ["webhooks", "add", "http://hooks.example.com/", "--event", "all", *ws], env=env
    )
    assert refused.exit_code == 2 and "url: must use https://" in refused.output
    added = runner.invoke(
        cli,
        ["webhooks", "add", receiver.url, "--event", "check.failed", "--description", "ops", *ws],
        env=env,
    )
    assert added.exit_code == 0, added.output
    secret = added.output.split("receiver): ")[1].split()[0]
    emit(hooks_world)
    deliver_due_webhooks(hooks_world.runtime)
    Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    outputs = []
    for args in (
        ["list"],
        ["show", "1"],
        ["deliveries", "1"],
        ["delivery", "1"],
        ["redeliver", "1"],
    ):
        done = runner.invoke(cli, ["webhooks", *args, *ws], env=env)
        assert done.exit_code == 0, (args, done.output)
        outputs.append(done.output)
    assert receiver.url in outputs[0] and "delivered" in outputs[2]
    assert all(secret not in o for o in outputs)
    again = runner.invoke(cli, ["webhooks", "redeliver", "1", *ws], env=env)
    assert again.exit_code == 2 and "only a delivered or failed delivery" in again.output
    assert runner.invoke(cli, ["webhooks", "remove", "1", *ws], env=env).exit_code == 0
    missing = runner.invoke(cli, ["webhooks", "show", "1", *ws], env=env)
    assert missing.exit_code == 2 and "Webhook endpoint 1 not found" in missing.output
