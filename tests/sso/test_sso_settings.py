"""An admin sets the workspace's identity provider three ways: the API, Directory > Sign-in, and
``bastion sso``. A real OpenID Provider on loopback answers the discovery each save asks for.

Whatever the way, the client secret goes in and never comes back out.
"""

# The fixtures imported below are the tests' parameters: not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bastion.actions.actors import Actor
from bastion.actions.secrets import read_secret
from bastion.actions.sso import SECRET_PURPOSE, redirect_uri, sso_config
from bastion.actions.tokens import create_token
from bastion.cli import app as cli
from bastion.storage.models import AuditEvent, Secret
from bastion.storage.models.enums import TokenKind
from tests.api.api_harness import role_tokens
from tests.checks.conftest import World, mailbox, worker_env, world  # noqa: F401 - fixtures
from tests.members.member_world import cast_roles
from tests.support.oidc_provider import LoopbackOpenIDProvider, StartOpenIDProvider
from tests.web.conftest import admin, client  # noqa: F401 - fixtures used here
from tests.web.web_support import post

SECRET = "s3cr3t-from-the-identity-provider"
NEW_SECRET = "an0ther-s3cr3t-after-rotation"


@pytest.fixture
def op(world: World, start_openid_provider: StartOpenIDProvider) -> LoopbackOpenIDProvider:
    return start_openid_provider(
        redirect_uris=[redirect_uri(world.runtime.settings.base_url)],
        accounts={"okta": {"sub": "00u-okta-1", "email": "owner@northwind.test"}},
        client_secret=SECRET,
    )


def stored_secret(world: World) -> str | None:
    with world.runtime.sessions() as session:
        config = sso_config(session, world.workspace_id)
        if config is None:
            return None
        return read_secret(
            session,
            world.runtime.require_key_ring(),
            workspace_id=world.workspace_id,
            secret_id=config.client_secret_id,
        )


def client_secrets_kept(world: World) -> int:
    with world.runtime.sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(Secret).where(Secret.purpose == SECRET_PURPOSE)
        )
        return int(count or 0)


def audit(world: World, action: str) -> list[dict[str, Any]]:
    with world.runtime.sessions() as session:
        return [
            e.details
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        ]


# --- the API ---------------------------------------------------------------------------------


def api_token(world: World, user_id: int) -> dict[str, str]:
    with world.runtime.sessions.begin() as session:
        token = create_token(
            session,
            workspace_id=world.workspace_id,
            kind=TokenKind.API,
            name="sso script",
            actor=Actor.system("tests"),
            user_id=user_id,
        ).token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def as_admin(world: World) -> dict[str, str]:
    return api_token(world, world.admin_id)


def settings_body(op: LoopbackOpenIDProvider, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "display_name": "Okta",
        "issuer": op.issuer,
        "client_id": op.client_id,
        "client_secret": SECRET,
        "allowed_domains": ["northwind.test", "@Northwind.example"],
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


def test_an_admin_sets_the_provider_over_the_api_and_gets_the_redirect_uri(
    client: httpx.Client, world: World, op: LoopbackOpenIDProvider, as_admin: dict[str, str]
) -> None:
    saved = client.put("/api/v1/sso", json=settings_body(op), headers=as_admin)
    assert saved.status_code == 200, saved.text
    expected = {
        "display_name": "Okta",
        "issuer": op.issuer,
        "client_id": op.client_id,
        "allowed_domains": ["northwind.test", "northwind.example"],
        "enabled": True,
        "redirect_uri": redirect_uri(world.runtime.settings.base_url),
    }
    assert {k: v for k, v in saved.json().items() if k != "updated_at"} == expected
    read = client.get("/api/v1/sso", headers=as_admin)
    assert read.status_code == 200
    assert {k: v for k, v in read.json().items() if k != "updated_at"} == expected
    for answer in (saved, read):
        assert SECRET not in answer.text and "secret" not in answer.json()
    assert stored_secret(world) == SECRET
    [configured] = audit(world, "sso.configured")
    assert configured["secret_replaced"] is True and SECRET not in str(configured)
    assert "Sign in with Okta" in client.get("/signin").text


def test_a_change_without_a_secret_keeps_it_and_a_new_secret_replaces_it(
    client: httpx.Client, world: World, op: LoopbackOpenIDProvider, as_admin: dict[str, str]
) -> None:
    assert client.put("/api/v1/sso", json=settings_body(op), headers=as_admin).status_code == 200
    renamed = settings_body(op, display_name="Northwind SSO", client_secret=None)
    assert client.put("/api/v1/sso", json=renamed, headers=as_admin).status_code == 200
    assert stored_secret(world) == SECRET
    rotated = settings_body(op, client_secret=NEW_SECRET)
    assert client.put("/api/v1/sso", json=rotated, headers=as_admin).status_code == 200
    assert stored_secret(world) == NEW_SECRET
    assert client_secrets_kept(world) == 1  # the old one is gone, not left in the vault
    assert [e["secret_replaced"] for e in audit(world, "sso.configured")] == [True, False, True]


def test_the_first_save_needs_the_client_secret(
    client: httpx.Client, world: World, op: LoopbackOpenIDProvider, as_admin: dict[str, str]
) -> None:
    answer = client.put("/api/v1/sso", json=settings_body(op, client_secret=None), headers=as_admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "client_secret"
    assert "required" in answer.json()["error"]["message"]
    assert client.get("/api/v1/sso", headers=as_admin).status_code == 404
    assert client_secrets_kept(world) == 0


@pytest.mark.parametrize(
    ("issuer", "words"),
    [
        ("http://sso.example.test", "https"),
        ("https://northwind.okta.com?x=1", "query"),
        ("ftp://northwind.okta.com", "pattern"),
        ("{issuer}/", "exactly as its discovery document states it"),
        ("{issuer}/oauth2/other", "answered 404"),
    ],
)
def test_an_issuer_bastion_cannot_use_is_refused_naming_the_issuer(
    client: httpx.Client,
    world: World,
    op: LoopbackOpenIDProvider,
    as_admin: dict[str, str],
    issuer: str,
    words: str,
) -> None:
    body = settings_body(op, issuer=issuer.format(issuer=op.issuer))
    answer = client.put("/api/v1/sso", json=body, headers=as_admin)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == "issuer"
    assert words in error["message"]
    assert SECRET not in answer.text
    assert client_secrets_kept(world) == 0


def test_an_unreachable_issuer_is_refused_naming_it(
    client: httpx.Client, world: World, op: LoopbackOpenIDProvider, as_admin: dict[str, str]
) -> None:
    issuer = op.issuer
    op.stop()
    answer = client.put("/api/v1/sso", json=settings_body(op, issuer=issuer), headers=as_admin)
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "issuer"
    assert "could not reach the identity provider" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("allowed_domains", ["not a domain"]),
        ("client_id", "two words"),
        ("client_secret", "two\nlines"),
        ("enabled", "yes"),
        ("client_secret_file", "/etc/passwd"),
    ],
)
def test_a_malformed_field_is_refused_before_the_provider_is_asked(
    client: httpx.Client,
    world: World,
    as_admin: dict[str, str],
    field: str,
    value: Any,
) -> None:
    body = {
        "display_name": "Okta",
        "issuer": "https://sso.example.test",  # never asked: nothing answers there
        "client_id": "bastion",
        "client_secret": SECRET,
        field: value,
    }
    answer = client.put("/api/v1/sso", json=body, headers=as_admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert "could not reach" not in answer.text
    assert client_secrets_kept(world) == 0


def test_only_admins_see_or_change_the_provider(
    client: httpx.Client, world: World, op: LoopbackOpenIDProvider, as_admin: dict[str, str]
) -> None:
    assert client.put("/api/v1/sso", json=settings_body(op), headers=as_admin).status_code == 200
    tokens = role_tokens(world, cast_roles(world))
    for role in ("owner", "collaborator", "member", "guest"):
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        assert client.get("/api/v1/sso", headers=headers).status_code == 403, role
        changed = settings_body(op, client_id="mine", client_secret=None)
        assert client.put("/api/v1/sso", json=changed, headers=headers).status_code == 403, role
        assert client.delete("/api/v1/sso", headers=headers).status_code == 403, role
    assert client.get("/api/v1/sso", headers=as_admin).json()["client_id"] == op.client_id


def test_removing_the_provider_over_the_api(
    client: httpx.Client, world: World, op: LoopbackOpenIDProvider, as_admin: dict[str, str]
) -> None:
    assert client.put("/api/v1/sso", json=settings_body(op), headers=as_admin).status_code == 200
    removed = client.delete("/api/v1/sso", headers=as_admin)
    assert removed.status_code == 204
    assert client.get("/api/v1/sso", headers=as_admin).status_code == 404
    assert client.delete("/api/v1/sso", headers=as_admin).status_code == 404
    assert client_secrets_kept(world) == 0
    assert audit(world, "sso.removed") == [{"issuer": op.issuer}]
    assert "E-mail me a link" in client.get("/signin").text


# --- Directory > Sign-in ----------------------------------------------------------------------


def form(op: LoopbackOpenIDProvider, **changes: str) -> dict[str, str]:
    return {
        "display_name": "Okta",
        "issuer": op.issuer,
        "client_id": op.client_id,
        "client_secret": SECRET,
        "allowed_domains": "northwind.test; northwind.example",
        "enabled": "on",
    } | changes


def notice(page: httpx.Response) -> str:
    found = re.search(r'class="notice notice-error" role="alert">([^<]*)<', page.text)
    assert found, "the page shows the error"
    return found.group(1)


def test_an_admin_saves_the_provider_on_the_sign_in_page(
    admin: httpx.Client, world: World, op: LoopbackOpenIDProvider
) -> None:
    empty = admin.get("/directory/sign-in")
    assert empty.status_code == 200
    assert redirect_uri(world.runtime.settings.base_url) in empty.text
    assert "Stop single sign-on" not in empty.text

    saved = post(admin, "/directory/sign-in", form(op))
    assert saved.status_code == 303, saved.text
    page = admin.get("/directory/sign-in")
    assert "Single sign-on is saved." in page.text
    assert f'value="{op.issuer}"' in page.text
    assert 'value="northwind.test, northwind.example"' in page.text
    assert "stored; leave empty to keep it" in page.text
    assert "Stop single sign-on" in page.text
    assert SECRET not in page.text
    assert stored_secret(world) == SECRET

    # Saved again with the secret left empty, as the page invites: the secret stays.
    assert post(admin, "/directory/sign-in", form(op, client_secret="")).status_code == 303
    assert stored_secret(world) == SECRET


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"issuer": "http://sso.example.test"}, "issuer", "The issuer must use https"),
        ({"issuer": "{issuer}/"}, "issuer", "exactly as its discovery document states it"),
        ({"client_secret": ""}, "client_secret", "is required"),
        ({"allowed_domains": "northwind.test, not a domain"}, "allowed_domains", "not a domain"),
        ({"display_name": "  "}, "display_name", "is required"),
    ],
)
def test_a_refused_save_shows_the_field_and_keeps_the_form_but_not_the_secret(
    admin: httpx.Client,
    world: World,
    op: LoopbackOpenIDProvider,
    changes: dict[str, str],
    field: str,
    words: str,
) -> None:
    values = form(op, **{k: v.format(issuer=op.issuer) for k, v in changes.items()})
    page = post(admin, "/directory/sign-in", values)
    assert page.status_code == 400
    shown = notice(page)
    assert shown.startswith(f"{field}: ") and words in shown
    assert f"{field}: {field}:" not in shown
    assert f'value="{values["issuer"]}"' in page.text
    assert values["client_id"] in page.text
    assert SECRET not in page.text
    with world.runtime.sessions() as session:
        assert sso_config(session, world.workspace_id) is None


def test_an_admin_stops_single_sign_on_on_the_sign_in_page(
    admin: httpx.Client, world: World, op: LoopbackOpenIDProvider
) -> None:
    assert post(admin, "/directory/sign-in", form(op)).status_code == 303
    stopped = post(admin, "/directory/sign-in/remove")
    assert stopped.status_code == 303
    page = admin.get("/directory/sign-in")
    assert "Single sign-on is off" in page.text
    assert "Stop single sign-on" not in page.text
    assert client_secrets_kept(world) == 0
    assert audit(world, "sso.removed") == [{"issuer": op.issuer}]
    post(admin, "/directory/sign-in/remove")
    assert "no identity provider is configured" in admin.get("/directory/sign-in").text


# --- bastion sso -----------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def env(world: World, key_entry: str) -> dict[str, str]:
    return worker_env(world, "http://127.0.0.1:1", key_entry) | {"COLUMNS": "200"}


def sso(env: dict[str, str], *args: str, input: str | None = None) -> Any:
    return runner.invoke(cli, ["sso", *args, "--workspace", "northwind"], env=env, input=input)


def test_the_provider_is_set_shown_and_removed_on_the_command_line(
    world: World, op: LoopbackOpenIDProvider, env: dict[str, str], tmp_path: Path
) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(SECRET + "\n")
    configured = sso(
        env,
        "configure",
        "--issuer",
        op.issuer,
        "--client-id",
        op.client_id,
        "--client-secret-file",
        str(secret_file),
        "--name",
        "Okta",
        "--allowed-domain",
        "northwind.test",
    )
    assert configured.exit_code == 0, configured.output
    assert f"single sign-on set for workspace northwind: {op.issuer}" in configured.output
    assert redirect_uri(world.runtime.settings.base_url) in configured.output
    assert stored_secret(world) == SECRET

    shown = sso(env, "show")
    assert shown.exit_code == 0, shown.output
    for words in ("Okta", op.issuer, op.client_id, "northwind.test", "yes"):
        assert words in shown.output
    assert SECRET not in shown.output + configured.output

    removed = sso(env, "remove")
    assert removed.exit_code == 0, removed.output
    assert "single sign-on removed from workspace northwind" in removed.output
    gone = sso(env, "show")
    assert gone.exit_code == 1
    assert "no identity provider is configured for workspace northwind" in gone.output
    again = sso(env, "remove")
    assert again.exit_code == 2 and "no identity provider is configured" in again.output


def test_the_secret_can_come_from_standard_input_and_is_kept_when_left_out(
    world: World, op: LoopbackOpenIDProvider, env: dict[str, str]
) -> None:
    args = ("configure", "--issuer", op.issuer, "--client-id", op.client_id)
    piped = sso(env, *args, "--client-secret-file", "-", input=SECRET + "\n")
    assert piped.exit_code == 0, piped.output
    kept = sso(env, *args, "--disabled")
    assert kept.exit_code == 0, kept.output
    assert stored_secret(world) == SECRET
    assert "on the sign-in page  no" in sso(env, "show").output
    empty = sso(env, *args, "--client-secret-file", "-", input="\n")
    assert empty.exit_code == 2 and "no client secret on standard input" in empty.output


def test_the_command_line_names_what_the_provider_settings_lack(
    world: World, op: LoopbackOpenIDProvider, env: dict[str, str]
) -> None:
    no_secret = sso(env, "configure", "--issuer", op.issuer, "--client-id", op.client_id)
    assert no_secret.exit_code == 2
    assert "client_secret: is required" in no_secret.output
    insecure = sso(
        env, "configure", "--issuer", "http://sso.example.test", "--client-id", op.client_id
    )
    assert insecure.exit_code == 2 and "https" in insecure.output
    assert client_secrets_kept(world) == 0


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "is empty"),
        (b"\n\n", "is empty"),
        (SECRET.encode() + b"\nsecond line\n", "holds more than one line"),
        (b"\xff\xfe\x00binary", "is not text"),
        (b"abc\x07def", "holds control characters"),
        (b"x" * 2100, "is longer than a client secret can be"),
        (None, "no such file"),
    ],
    ids=["empty", "blank-lines", "two-lines", "binary", "control", "too-long", "missing"],
)
def test_a_secret_file_of_the_wrong_shape_exits_2_without_showing_it(
    world: World, env: dict[str, str], tmp_path: Path, content: bytes | None, words: str
) -> None:
    secret_file = tmp_path / "client-secret"
    if content is not None:
        secret_file.write_bytes(content)
    result = sso(
        env,
        "configure",
        "--issuer",
        "https://sso.example.test",  # never asked: the file is read first
        "--client-id",
        "bastion",
        "--client-secret-file",
        str(secret_file),
    )
    assert result.exit_code == 2, result.output
    assert str(secret_file) in result.output and words in result.output
    assert SECRET not in result.output and "second line" not in result.output
    assert client_secrets_kept(world) == 0


def test_a_directory_as_the_secret_file_exits_2(
    world: World, env: dict[str, str], tmp_path: Path
) -> None:
    result = sso(
        env,
        "configure",
        "--issuer",
        "https://sso.example.test",
        "--client-id",
        "bastion",
        "--client-secret-file",
        str(tmp_path),
    )
    assert result.exit_code == 2
    assert "it is a directory" in result.output
