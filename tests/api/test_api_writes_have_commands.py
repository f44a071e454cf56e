"""Every admin write of the REST API is also a command: the served OpenAPI schema's POST, PUT,
PATCH and DELETE operations, each mapped below to the `bastion` command doing the same (or listed
as a person's write about themselves, with the reason). A write added to the API without a
command, or a command or option gone, fails here."""

from __future__ import annotations

from typing import Any

import httpx
import typer

from bastion.app import create_app
from bastion.cli import app as cli
from tests.checks.conftest import World
from tests.conftest import serve_on_loopback

A = "/api/v1"
# (method, path) → the command, and the options it takes for the API body's fields that matter.
COMMANDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", f"{A}/apps"): ("apps", "connect", "--app-secret-file"),
    ("PATCH", f"{A}/apps/{{app_id}}"): ("apps", "update", "--auto-cancel-invitations-days"),
    ("DELETE", f"{A}/apps/{{app_id}}"): ("apps", "disconnect"),
    ("POST", f"{A}/apps/{{app_id}}/checks"): ("check",),
    ("POST", f"{A}/accounts/{{account_id}}/match"): ("members", "match", "--role"),
    ("POST", f"{A}/accounts/{{account_id}}/unmatch"): ("members", "unmatch"),
    ("POST", f"{A}/accounts/{{account_id}}/claim"): ("members", "claim", "--user"),
    ("POST", f"{A}/accounts/{{account_id}}/exemption"): ("members", "exempt", "--expires"),
    ("DELETE", f"{A}/accounts/{{account_id}}/exemption"): ("members", "unexempt"),
    ("POST", f"{A}/accounts/{{account_id}}/removal"): ("members", "remove", "--force"),
    ("POST", f"{A}/accounts/{{account_id}}/role"): ("members", "role", "--confirm-unmatched"),
    ("PUT", f"{A}/accounts/{{account_id}}/asset-tasks"): (
        "members",
        "tasks",
        "--asset",
        "--force",
        "--confirm-unmatched",
    ),
    ("POST", f"{A}/accounts/{{account_id}}/guest"): ("members", "guest", "--email"),
    ("POST", f"{A}/accounts/{{account_id}}/cancel-invitation"): ("members", "cancel-invitation"),
    ("POST", f"{A}/apps/{{app_id}}/invitations"): ("members", "invite", "--role", "--asset"),
    ("POST", f"{A}/apps/{{app_id}}/invitations/cancel-stale"): (
        "members",
        "cancel-stale",
        "--older-than-days",
    ),
    ("POST", f"{A}/apps/{{app_id}}/accounts/bulk"): ("members", "bulk", "--reason", "--force"),
    ("POST", f"{A}/local-partners"): ("local-partners", "create"),
    ("POST", f"{A}/local-partners/{{partner_id}}/guests"): (
        "local-partners",
        "invite",
        "--partner-admin",
    ),
    ("POST", f"{A}/guests"): ("guests", "invite", "--email"),
    ("PUT", f"{A}/apps/{{app_id}}/partners/{{partner_id}}/token"): ("partners", "token", "set"),
    ("DELETE", f"{A}/apps/{{app_id}}/partners/{{partner_id}}/token"): (
        "partners",
        "token",
        "remove",
    ),
    ("POST", f"{A}/reports/{{report_id}}/apply"): ("report", "apply", "--item"),
    ("POST", f"{A}/reports/{{report_id}}/dismiss"): ("report", "dismiss", "--reason"),
    # One command gathers the batch, shows it and applies it.
    ("POST", f"{A}/apps/{{app_id}}/partners/{{partner_id}}/removal"): (
        "partners",
        "remove",
        "--local-partner",
        "--domain",
    ),
    ("POST", f"{A}/apps/{{app_id}}/partners/{{partner_id}}/removal/apply"): (
        "partners",
        "remove",
        "--skip",
        "--force",
        "--yes",
    ),
    # keep and revert are two commands; revert takes the options that matter.
    ("POST", f"{A}/reviews/{{review_id}}/decision"): ("reviews", "revert", "--force", "--reason"),
    ("POST", f"{A}/operations/{{operation_id}}/retry"): ("operations", "retry"),
    ("POST", f"{A}/operations/{{operation_id}}/done"): ("operations", "done"),
    ("POST", f"{A}/emails/{{email_id}}/retry"): ("emails", "retry"),
    ("POST", f"{A}/webhooks"): ("webhooks", "add", "--event", "--description", "--app"),
    ("PATCH", f"{A}/webhooks/{{endpoint_id}}"): ("webhooks", "enable"),
    ("DELETE", f"{A}/webhooks/{{endpoint_id}}"): ("webhooks", "remove"),
    ("POST", f"{A}/webhooks/deliveries/{{delivery_id}}/redeliver"): ("webhooks", "redeliver"),
    ("PUT", f"{A}/sso"): ("sso", "configure"),
    ("DELETE", f"{A}/sso"): ("sso", "remove"),
    ("PUT", f"{A}/apps/{{app_id}}/credential-policy"): ("apps", "credential-policy"),
}
# Writes a person makes about themselves, not admin actions, with the reason.
OWN_WRITES = {
    ("PUT", f"{A}/accounts/{{account_id}}/credentials"): "a person saves their own login",
    ("POST", f"{A}/accounts/{{account_id}}/credentials/reveal"): (
        "a saved login is revealed to its own person after a fresh sign-in; no command reveals one"
    ),
}
WRITES = {"post", "put", "patch", "delete"}


def served_writes(world: World) -> set[tuple[str, str]]:
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        paths = client.get("/openapi.json").json()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if method in WRITES
    }


def command(words: tuple[str, ...]) -> Any:
    """The command `bastion WORDS…` runs, walking the groups (None when there is none)."""
    found: Any = typer.main.get_command(cli)
    for word in words:
        found = getattr(found, "commands", {}).get(word)
    return None if found is None or hasattr(found, "commands") else found


def test_every_write_of_the_api_is_also_a_command(world: World) -> None:
    writes = served_writes(world)
    assert writes - set(COMMANDS) - set(OWN_WRITES) == set(), "API writes without a command"
    assert set(COMMANDS) - writes == set(), "COMMANDS lists writes the API no longer has"
    assert set(OWN_WRITES) <= writes, "OWN_WRITES lists writes the API no longer has"
    missing = []
    for operation, words in sorted(COMMANDS.items()):
        names = tuple(w for w in words if not w.startswith("--"))
        found = command(names)
        if found is None:
            missing.append(f"{operation}: no command `bastion {' '.join(names)}`")
            continue
        options = {opt for p in found.params for opt in p.opts}
        for option in (w for w in words if w.startswith("--")):
            if option not in options:
                missing.append(f"{operation}: `bastion {' '.join(names)}` lacks {option}")
    assert missing == [], "\n".join(missing)
