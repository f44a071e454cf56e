"""The saved login in the browser and the API: the card's Save your login and Log in, a refused
form that gives nothing typed back, Log in and Copy password after a fresh sign-in only (else
sign in again and come back), the API's reveal for a browser session alone, and a walk through
every page and answer as the person, an owner and an admin that never shows a saved secret."""

from __future__ import annotations

import html
import io
import json
from contextlib import closing
from datetime import timedelta
from urllib.parse import quote

import httpx
import pyotp
from sqlalchemy import update

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token
from bastion.jobs import Jobs
from bastion.logs import configure_logging
from bastion.storage.models import Credential, Notification, utcnow
from bastion.storage.models.enums import TokenKind
from tests.credentials.vault_world import PIA_LOGIN, PIA_PASSWORD, Vault
from tests.web.web_support import NEW_PASSWORD, csrf, post, sign_in

API = "/api/v1"


def signed_in(base_url: str, vault: Vault, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=60)
    sign_in(client, vault.world, email)
    return client


def token_for(vault: Vault, user_id: int) -> dict[str, str]:
    with vault.world.runtime.sessions.begin() as session:
        token = create_token(
            session,
            workspace_id=vault.world.workspace_id,
            kind=TokenKind.API,
            name="script",
            actor=Actor.system("tests"),
            user_id=user_id,
        ).token
    return {"Authorization": f"Bearer {token}"}


def htmx(client: httpx.Client) -> dict[str, str]:
    return {"HX-Request": "true", "x-csrftoken": csrf(client)}


def save_form(vault: Vault, **fields: str) -> dict[str, str]:
    return {
        "login": PIA_LOGIN,
        "password": PIA_PASSWORD,
        "totp": vault.pia_key,
        "totp_code": vault.code(),
        **fields,
    }


def pia(base_url: str, vault: Vault) -> httpx.Client:
    return signed_in(base_url, vault, "pia.person@northwind.test")


def base(vault: Vault) -> str:
    return f"/me/accounts/{vault.pia_account}/credentials"


def test_the_card_offers_save_your_login_then_log_in(vault: Vault, base_url: str) -> None:
    with closing(pia(base_url, vault)) as client:
        cards = client.get("/me/accounts").text
        assert "Save your login" in cards and f'href="{base(vault)}"' in cards
        dialog = client.get(base(vault), headers={"HX-Request": "true"}).text
        assert 'name="totp"' in dialog and 'name="totp_code"' in dialog
        answer = post(client, base(vault), save_form(vault))
        assert answer.status_code == 303 and answer.headers["location"] == "/me/accounts"
        cards = client.get("/me/accounts").text
        assert f'action="{base(vault)}/show"' in cards and "Save your login" not in cards
        assert "Connected" in cards
        assert PIA_LOGIN not in cards and PIA_PASSWORD not in cards


def test_a_refused_form_gives_nothing_typed_back(vault: Vault, base_url: str) -> None:
    wrong = pyotp.TOTP(pyotp.random_base32()).now()
    with closing(pia(base_url, vault)) as client:
        answer = client.post(
            base(vault), data=save_form(vault, totp_code=wrong), headers=htmx(client)
        )
        assert answer.status_code == 400
        assert answer.headers["hx-retarget"] == "#credential-form-error"
        assert "Current code: does not match the key" in html.unescape(answer.text)
        page = post(client, base(vault), save_form(vault, login="nope"))
        assert page.status_code == 400 and "Login: must be an e-mail" in html.unescape(page.text)
        for body in (answer.text, page.text):
            assert PIA_LOGIN not in body and PIA_PASSWORD not in body and vault.pia_key not in body
    assert vault.credentials() == 0
    assert len(vault.events("credential.save_refused")) == 2


def test_log_in_shows_the_login_and_code_and_copy_fetches_the_password(
    vault: Vault, base_url: str
) -> None:
    with closing(pia(base_url, vault)) as client:
        post(client, base(vault), save_form(vault))
        shown = client.post(f"{base(vault)}/show", headers=htmx(client))
        assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
        assert PIA_LOGIN in shown.text and PIA_PASSWORD not in shown.text
        assert "data-countdown" in shown.text and "Copy password" in shown.text
        copied = client.post(
            f"{base(vault)}/password", data={"which": "current"}, headers=htmx(client)
        )
        assert copied.json() == {"password": PIA_PASSWORD}
        assert copied.headers["cache-control"] == "no-store"
    assert len(vault.events("credential.revealed")) == 1
    assert len(vault.events("credential.copied")) == 1


def test_a_stale_sign_in_is_sent_to_sign_in_again_and_back(vault: Vault, base_url: str) -> None:
    with closing(pia(base_url, vault)) as client:
        post(client, base(vault), save_form(vault))
        vault.age_sessions(vault.pia, timedelta(minutes=10))
        again = f"/me/sign-in-again?next={quote(base(vault))}"
        answer = client.post(f"{base(vault)}/show", headers=htmx(client))
        assert answer.status_code == 204 and answer.headers["hx-redirect"] == again
        assert post(client, f"{base(vault)}/show").headers["location"] == again
        copy = client.post(f"{base(vault)}/password", headers=htmx(client))
        assert copy.status_code == 403 and copy.json()["sign_in_url"] == again
        assert "password" not in copy.json()
        page = client.get(again).text
        assert 'action="/signin"' in page and f'value="{base(vault)}"' in page
        back = post(
            client,
            "/signin",
            {"email": "pia.person@northwind.test", "password": NEW_PASSWORD, "next": base(vault)},
        )
        assert back.status_code == 303 and back.headers["location"] == base(vault)
        assert client.post(f"{base(vault)}/show", headers=htmx(client)).status_code == 200
    assert len(vault.events("credential.reveal_refused")) == 3


def test_others_are_refused_log_in_and_copy(vault: Vault, base_url: str) -> None:
    with closing(pia(base_url, vault)) as client:
        post(client, base(vault), save_form(vault))
    for email in (
        "otto.owner@northwind.test",
        "owner@northwind.test",
        "cora.collab@northwind.test",
    ):
        with closing(signed_in(base_url, vault, email)) as other:
            assert post(other, f"{base(vault)}/show").status_code == 403
            copy = other.post(f"{base(vault)}/password", headers=htmx(other))
            assert copy.status_code == 403 and "password" not in copy.json()
            assert other.get(base(vault)).status_code == 404
    assert vault.events("credential.revealed") == vault.events("credential.copied") == []


def test_the_api_reveals_only_to_the_person_s_fresh_browser_session(
    vault: Vault, base_url: str
) -> None:
    url = f"{API}/accounts/{vault.pia_account}/credentials"
    with closing(pia(base_url, vault)) as client:
        token = token_for(vault, vault.pia)
        body = {"login": PIA_LOGIN, "password": PIA_PASSWORD, "totp": vault.pia_key}
        # A token-authenticated script sends no session cookie (nor a CSRF token).
        script = httpx.Client(base_url=base_url, headers=token, timeout=60)
        wrong = script.put(url, json={**body, "totp_code": "000000"})
        if vault.code() == "000000":  # one code in a million
            return
        assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "totp_code"
        saved = script.put(url, json={**body, "totp_code": vault.code()})
        assert saved.status_code == 200, saved.text
        assert saved.json()["two_factor"] is True and PIA_PASSWORD not in saved.text
        refused = script.post(f"{url}/reveal")
        script.close()
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
        assert "API token" in refused.json()["error"]["message"]
        revealed = client.post(f"{url}/reveal", headers={"x-csrftoken": csrf(client)})
        assert revealed.status_code == 200 and revealed.headers["cache-control"] == "no-store"
        found = revealed.json()
        assert (found["login"], found["password"]) == (PIA_LOGIN, PIA_PASSWORD)
        assert pyotp.TOTP(vault.pia_key).verify(found["totp_code"], valid_window=1)
        vault.age_sessions(vault.pia, timedelta(minutes=6))
        stale = client.post(f"{url}/reveal", headers={"x-csrftoken": csrf(client)})
        assert stale.status_code == 403
        assert stale.json()["error"]["code"] == "reauthentication_required"
    owner = token_for(vault, vault.owner)
    listed = httpx.get(f"{base_url}{API}/apps/{vault.world.app_id}/credentials", headers=owner)
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert item["account_id"] == vault.pia_account and item["two_factor"] is True
    assert PIA_PASSWORD not in listed.text and PIA_LOGIN not in listed.text
    cora = token_for(vault, vault.cora)
    assert (
        httpx.get(
            f"{base_url}{API}/apps/{vault.world.app_id}/credentials", headers=cora
        ).status_code
        == 403
    )
    policy = httpx.put(
        f"{base_url}{API}/apps/{vault.world.app_id}/credential-policy",
        json={"require_two_factor": True, "rotation_days": 90, "rotate_after_reveal": True},
        headers=owner,
    )
    assert policy.status_code == 200 and policy.json()["rotation_days"] == 90


def test_no_page_answer_e_mail_or_log_line_shows_a_saved_secret(
    vault: Vault, base_url: str
) -> None:
    """Everything the person, an owner and an admin can open, after the person saved a login
    (refused once), revealed and copied it, rotation came due and the overdue e-mails went out.
    Only the answers of Log in, Copy password and the API's reveal may hold a value."""
    logs = io.StringIO()
    configure_logging("debug", "json", stream=logs)
    seen: list[tuple[str, str]] = []
    app, account = vault.world.app_id, vault.pia_account

    def keep(who: str, response: httpx.Response) -> httpx.Response:
        assert response.status_code < 500, (who, response.request.url, response.text[:300])
        seen.append((f"{who} {response.request.method} {response.request.url}", response.text))
        return response

    person = pia(base_url, vault)
    owner = signed_in(base_url, vault, "otto.owner@northwind.test")
    admin = signed_in(base_url, vault, "owner@northwind.test")
    # Scripts with an API token and no session cookie.
    scripts = {
        who: httpx.Client(base_url=base_url, headers=token_for(vault, user_id), timeout=60)
        for who, user_id in (("person", vault.pia), ("owner", vault.owner), ("admin", vault.admin))
    }
    try:
        # The person: the card, a refused save, the save, Log in, Copy, the API.
        keep("person", person.get("/me/accounts"))
        keep("person", person.get(base(vault)))
        keep(
            "person",
            person.post(base(vault), data=save_form(vault, totp_code="1"), headers=htmx(person)),
        )
        keep("person", post(person, base(vault), save_form(vault, password="")))
        keep("person", post(person, base(vault), save_form(vault)))
        keep("person", person.get("/me/accounts"))
        keep("person", person.get(base(vault), headers={"HX-Request": "true"}))
        assert PIA_LOGIN in person.post(f"{base(vault)}/show", headers=htmx(person)).text
        copied = person.post(f"{base(vault)}/password", headers=htmx(person))
        assert copied.json()["password"] == PIA_PASSWORD
        revealed = person.post(
            f"{API}/accounts/{account}/credentials/reveal", headers={"x-csrftoken": csrf(person)}
        )
        assert revealed.json()["password"] == PIA_PASSWORD
        for path in ("/me", "/me/accounts", f"/accounts/{account}", f"/apps/{app}/accounts"):
            keep("person", scripts["person"].get(API + path))
        keep("person", scripts["person"].post(f"{API}/accounts/{account}/credentials/reveal"))
        keep("person", scripts["person"].get(f"{API}/apps/{app}/credentials"))
        # The owner: Members, Settings and its policy, Pia's cards, the API's statuses.
        keep(
            "owner",
            post(
                owner,
                f"/apps/{app}/credential-policy",
                {"require_two_factor": "on", "rotation_days": "30", "rotate_after_reveal": "on"},
            ),
        )
        keep("owner", owner.get(f"/apps/{app}/settings"))
        members = keep("owner", owner.get(f"/apps/{app}/members?tab=onboarded"))
        assert "Login saved" in members.text and "rotation due" in members.text
        keep("owner", owner.get(f"/directory/people/{vault.pia}"))
        keep("owner", post(owner, f"{base(vault)}/show"))
        keep("owner", owner.post(f"{base(vault)}/password", headers=htmx(owner)))
        keep("owner", owner.get(base(vault)))
        for path in (
            f"/apps/{app}/credentials",
            f"/apps/{app}/accounts",
            f"/accounts/{account}",
            f"/directory/users/{vault.pia}/accounts",
        ):
            keep("owner", scripts["owner"].get(API + path))
        keep(
            "owner",
            owner.post(
                f"{API}/accounts/{account}/credentials/reveal", headers={"x-csrftoken": csrf(owner)}
            ),
        )
        # The rotation: overdue, e-mailed to the person and then the owners by the tick.
        with vault.world.runtime.sessions.begin() as session:
            session.execute(update(Credential).values(rotation_due_at=utcnow() - timedelta(days=5)))
        with Jobs(vault.world.runtime, immediate=True) as jobs:
            assert jobs.tick()["rotation_reminders"] == 1
            with vault.world.runtime.sessions.begin() as session:
                session.execute(
                    update(Credential).values(overdue_notified_at=utcnow() - timedelta(days=4))
                )
            assert jobs.tick()["rotation_reminders"] == 1
        keep("person", post(person, f"{base(vault)}/rotation"))
        keep("person", person.get(base(vault)))
        keep("person", post(person, f"{base(vault)}/rotation/confirm"))
        vault.age_sessions(vault.pia, timedelta(minutes=10))
        keep("person", post(person, f"{base(vault)}/show"))
        keep("person", person.get(f"/me/sign-in-again?next={quote(base(vault))}"))
        # The admin: the audit log, the e-mail, every view of the app.
        with vault.world.runtime.sessions() as session:
            emails = [n.id for n in session.query(Notification).all()]
        for path in ("/activity", "/activity.csv", "/emails", *(f"/emails/{i}" for i in emails)):
            keep("admin", admin.get(path))
        for path in (
            f"/apps/{app}/members?tab=onboarded",
            f"/apps/{app}/settings",
            f"/directory/people/{vault.pia}",
        ):
            keep("admin", admin.get(path))
        for path in (
            "/audit-events?limit=1000",
            "/audit-events/export",
            "/emails",
            *(f"/emails/{i}" for i in emails),
            f"/apps/{app}/credentials",
        ):
            keep("admin", scripts["admin"].get(API + path))
    finally:
        for client in (person, owner, admin, *scripts.values()):
            client.close()
    mail = [m.as_string() for m in vault.world.mailbox.messages]
    assert any("password" in m for m in mail)
    key = vault.pia_key
    secrets = {
        "password": PIA_PASSWORD,
        "login": PIA_LOGIN,
        "login (url-encoded)": quote(PIA_LOGIN),
        "two-factor key": key,
        "two-factor key, lower case": key.lower(),
        "two-factor key, spaced": " ".join(key[i : i + 4] for i in range(0, 32, 4)),
    }
    places = [*seen, *(("log", line) for line in logs.getvalue().splitlines())]
    places += [("e-mail", m) for m in mail]
    hits = [
        f"{what} in {where}"
        for where, text in places
        for what, secret in secrets.items()
        if secret in text or secret in html.unescape(text)
    ]
    assert hits == []
    assert len(seen) > 40 and logs.getvalue()
    assert json.dumps([e.details for e in vault.events("credential.saved")])
