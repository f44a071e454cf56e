"""Connecting a Facebook profile: the simulated login dialog, the code exchange, and what the
person's user token reads, driven with httpx as a browser and a server would."""

from __future__ import annotations

import hashlib
import hmac
import json
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from simulator_support import Graph, SyncClient, error_of

from bastion.connectors.meta.simulator import Simulator
from bastion.connectors.meta.simulator.scenario import PersonRecord

CALLBACK = "https://bastion.example/me/facebook/callback"
DIALOG = "/v25.0/dialog/oauth"
EXCHANGE = "/v25.0/oauth/access_token"


class LoginForm(HTMLParser):
    """What a browser would submit from the dialog: the form's action, its hidden fields, and
    the "Continue as" buttons by person."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.people: dict[str, str] = {}
        self._button: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = values["action"]
        elif tag == "input" and values.get("type") == "hidden":
            self.hidden[values["name"]] = values["value"]
        elif tag == "button" and values.get("name") == "login_as":
            self._button = values["value"]

    def handle_data(self, data: str) -> None:
        if self._button is not None and data.startswith("Continue as "):
            self.people[data.removeprefix("Continue as ")] = self._button
            self._button = None


@pytest.fixture
def login(sim: Simulator) -> Simulator:
    sim.set_oauth_redirect_uris([CALLBACK])
    return sim


def dialog_params(sim: Simulator, **extra: str) -> dict[str, str]:
    return {
        "client_id": sim.app_id,
        "redirect_uri": CALLBACK,
        "state": "st-42",
        "scope": "business_management,email",
        **extra,
    }


def open_dialog(client: SyncClient, sim: Simulator, **extra: str) -> LoginForm:
    page = client.get(DIALOG, params=dialog_params(sim, **extra))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text
    return LoginForm(page.text)


def submit(client: SyncClient, form: LoginForm, **choice: str | list[str]) -> httpx.Response:
    return client.post(form.action, data={**form.hidden, **choice})


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert location.fragment == "_=_"
    query = parse_qs(location.query)
    assert query["state"] == ["st-42"]
    return query["code"][0]


def exchange(client: SyncClient, sim: Simulator, code: str, **changes: str) -> httpx.Response:
    query = {
        "client_id": sim.app_id,
        "redirect_uri": CALLBACK,
        "client_secret": sim.app_secret or "",
        "code": code,
        **changes,
    }
    return client.get(EXCHANGE, params=query)


def log_in(client: SyncClient, sim: Simulator, name: str, **extra: str) -> str:
    form = open_dialog(client, sim, **extra)
    code = code_from(submit(client, form, login_as=form.people[name]))
    response = exchange(client, sim, code)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def a_person(sim: Simulator, role: str = "EMPLOYEE") -> PersonRecord:
    return next(p for p in sim.state.people.values() if p.role == role)


def seatless_name(sim: Simulator) -> str:
    return next(a.name for a in sim.facebook_accounts() if a.person is None)


# --- the whole flow ------------------------------------------------------------------------


def test_a_person_logs_in_and_their_seat_is_the_one_the_business_lists(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    person = a_person(login)
    form = open_dialog(client, login)
    assert form.action == DIALOG
    assert form.hidden == {**dialog_params(login)}
    code = code_from(submit(client, form, login_as=form.people[person.name]))

    answer = exchange(client, login, code)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == login.state.settings.login_token_ttl_seconds
    token = body["access_token"]
    assert token.startswith("EAA")

    assert login.app_secret is not None
    proof = hmac.new(login.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    me = graph.get("me", token=token, fields="id,name", appsecret_proof=proof).json()
    assert me == {"id": person.global_id, "name": person.name}
    assert me["id"] != person.id  # app-scoped, never the business-scoped id

    rows = graph.get(
        "me/business_users", token=token, fields="id,business{id,name},role,email,name"
    ).json()["data"]
    assert rows == [
        {
            "id": person.id,
            "business": {"id": login.business_id, "name": login.state.business.name},
            "role": person.role,
            "email": person.email,
            "name": person.name,
        }
    ]
    listed = {p["id"] for p in graph.all_pages(f"{login.business_id}/business_users")}
    assert rows[0]["id"] in listed


def test_a_person_can_log_in_by_typing_their_email(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    person = a_person(login)
    form = open_dialog(client, login)
    code = code_from(submit(client, form, email=person.email.upper(), action="log_in"))
    token = exchange(client, login, code).json()["access_token"]
    assert graph.get("me", token=token).json()["id"] == person.global_id


def test_an_email_no_account_uses_shows_the_page_again(
    login: Simulator, client: SyncClient
) -> None:
    form = open_dialog(client, login)
    again = submit(client, form, email="nobody@nowhere.example", action="log_in")
    assert again.status_code == 200
    assert "location" not in again.headers
    assert "isn&#x27;t connected to an account" in again.text


def test_the_code_exchange_also_takes_a_form_post(login: Simulator, client: SyncClient) -> None:
    code = login.issue_login_code(a_person(login).email, redirect_uri=CALLBACK)
    answer = client.post(
        EXCHANGE,
        data={
            "grant_type": "authorization_code",
            "client_id": login.app_id,
            "client_secret": login.app_secret,
            "redirect_uri": CALLBACK,
            "code": code,
        },
    )
    assert answer.status_code == 200
    assert answer.json()["token_type"] == "bearer"


@pytest.mark.parametrize("path", ["/dialog/oauth", "/v22.0/dialog/oauth", "/v27.0/dialog/oauth"])
def test_the_dialog_answers_with_or_without_a_version(
    login: Simulator, client: SyncClient, path: str
) -> None:
    page = client.get(path, params=dialog_params(login))
    assert "Continue as" in page.text
    assert LoginForm(page.text).action == path


def test_an_old_version_shows_an_error_page(login: Simulator, client: SyncClient) -> None:
    page = client.get("/v21.0/dialog/oauth", params=dialog_params(login))
    assert "location" not in page.headers
    assert "deprecated version" in page.text


# --- saying no, and refusals -----------------------------------------------------------------


@pytest.mark.parametrize("button", ["cancel", "not_now"])
def test_cancel_and_not_now_send_the_person_back_denied(
    login: Simulator, client: SyncClient, button: str
) -> None:
    form = open_dialog(client, login)
    answer = submit(client, form, action=button)
    assert answer.status_code == 302
    assert answer.headers["location"] == (
        f"{CALLBACK}?error_reason=user_denied&error=access_denied"
        "&error_description=Permissions+error.&state=st-42"
    )


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        CALLBACK + "/",
        CALLBACK + "?next=/admin",
        CALLBACK.replace("https", "http"),
    ],
)
def test_a_redirect_uri_not_listed_is_blocked_and_never_redirected_to(
    login: Simulator, client: SyncClient, redirect_uri: str
) -> None:
    params = dialog_params(login, redirect_uri=redirect_uri)
    page = client.get(DIALOG, params=params)
    assert "location" not in page.headers
    assert "URL Blocked" in page.text
    assert "Continue as" not in page.text
    person = a_person(login)
    posted = client.post(DIALOG, data={**params, "login_as": person.global_id})
    assert "location" not in posted.headers
    assert "URL Blocked" in posted.text
    assert not login.state.login_codes


def test_without_any_listed_redirect_uri_every_login_is_blocked(
    sim: Simulator, client: SyncClient
) -> None:
    assert sim.oauth_redirect_uris == []
    page = client.get(DIALOG, params=dialog_params(sim))
    assert "URL Blocked" in page.text


@pytest.mark.parametrize("client_id", ["", "123", "not-an-app"])
def test_a_wrong_app_id_shows_invalid_app_id_and_never_redirects(
    login: Simulator, client: SyncClient, client_id: str
) -> None:
    params = dialog_params(login, client_id=client_id)
    page = client.get(DIALOG, params=params)
    assert "location" not in page.headers
    assert "Invalid App ID" in page.text
    posted = client.post(DIALOG, data={**params, "action": "cancel"})
    assert "location" not in posted.headers
    assert "Invalid App ID" in posted.text


@pytest.mark.parametrize(
    "extra", [{"response_type": "token"}, {"config_id": "1234"}, {"code_challenge": "abc"}]
)
def test_what_the_simulator_does_not_serve_gets_an_error_page(
    login: Simulator, client: SyncClient, extra: dict[str, str]
) -> None:
    page = client.get(DIALOG, params=dialog_params(login, **extra))
    assert "location" not in page.headers
    assert "Not simulated" in page.text


# --- the exchange's errors -------------------------------------------------------------------


def test_a_code_used_twice_is_36009_and_its_token_stops_working(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    code = login.issue_login_code(a_person(login).email, redirect_uri=CALLBACK)
    token = exchange(client, login, code).json()["access_token"]
    again = exchange(client, login, code)
    assert again.status_code == 400
    error = error_of(again)
    assert (error["type"], error["code"], error["error_subcode"]) == ("OAuthException", 100, 36009)
    assert error["message"] == "This authorization code has been used."
    assert again.headers["www-authenticate"] == (
        'OAuth "Facebook Platform" "invalid_code" "This authorization code has been used."'
    )
    assert error_of(graph.get("me", token=token))["code"] == 190


def test_an_expired_code_is_refused(login: Simulator, client: SyncClient) -> None:
    code = login.issue_login_code(a_person(login).email, redirect_uri=CALLBACK)
    login.advance_clock(login.state.settings.login_code_ttl_seconds + 1)
    error = error_of(exchange(client, login, code))
    assert (error["code"], error["error_subcode"]) == (100, 36007)
    assert error["message"] == "This authorization code has expired."


@pytest.mark.parametrize("redirect_uri", [CALLBACK + "/", "https://bastion.example/other", ""])
def test_a_redirect_uri_other_than_the_dialogs_is_refused(
    login: Simulator, client: SyncClient, redirect_uri: str
) -> None:
    login.set_oauth_redirect_uris([CALLBACK, "https://bastion.example/other"])
    code = login.issue_login_code(a_person(login).email, redirect_uri=CALLBACK)
    answer = exchange(client, login, code, redirect_uri=redirect_uri)
    error = error_of(answer)
    assert (error["code"], error["error_subcode"]) == (100, 36008)
    assert error["message"].startswith("Error validating verification code. Please make sure")
    assert answer.headers["www-authenticate"].startswith('OAuth "Facebook Platform" "invalid_code"')


@pytest.mark.parametrize("secret", ["0" * 32, ""])
def test_a_wrong_or_missing_client_secret_is_code_1(
    login: Simulator, client: SyncClient, secret: str
) -> None:
    code = login.issue_login_code(a_person(login).email, redirect_uri=CALLBACK)
    error = error_of(exchange(client, login, code, client_secret=secret))
    assert (error["code"], error["message"]) == (1, "Error validating client secret.")
    assert "error_subcode" not in error
    # The code was not spent: the right secret still gets the token.
    assert exchange(client, login, code).status_code == 200


def test_a_code_the_dialog_never_gave_is_refused(login: Simulator, client: SyncClient) -> None:
    error = error_of(exchange(client, login, "AQnotacode"))
    assert (error["code"], error["message"]) == (100, "Invalid verification code format.")
    assert "error_subcode" not in error


def test_a_wrong_app_id_or_grant_type_is_refused(login: Simulator, client: SyncClient) -> None:
    code = login.issue_login_code(a_person(login).email, redirect_uri=CALLBACK)
    assert error_of(exchange(client, login, code, client_id="999"))["code"] == 101
    refused = error_of(exchange(client, login, code, grant_type="fb_exchange_token"))
    assert refused["code"] == 100
    assert "grant_type" in refused["message"]
    assert exchange(client, login, code).status_code == 200


# --- what the person's token reads -----------------------------------------------------------


def test_a_profile_without_a_seat_gets_no_row(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    name = seatless_name(login)
    token = log_in(client, login, name)
    assert graph.get("me", token=token).json()["name"] == name
    assert graph.get("me/business_users", token=token).json() == {"data": []}


def test_a_removed_person_keeps_their_profile_but_loses_the_row(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    person = a_person(login)
    login.remove_person(person.id)
    token = log_in(client, login, person.name)
    assert graph.get("me", token=token).json()["id"] == person.global_id
    assert graph.get("me/business_users", token=token).json()["data"] == []


def test_an_invitee_who_accepts_keeps_their_profile_and_gains_a_row(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    account = next(a for a in login.facebook_accounts() if a.person is None)
    invitation = next(i for i in login.state.invitations.values() if i.email == account.email)
    person_id = login.accept_invitation(invitation.id)
    token = log_in(client, login, account.name)
    assert graph.get("me", token=token).json()["id"] == account.id
    rows = graph.get("me/business_users", token=token, fields="id").json()["data"]
    assert rows == [{"id": person_id}]


def test_ids_for_business_names_the_app_scoped_id(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    person = a_person(login)
    token = log_in(client, login, person.name)
    rows = graph.get("me/ids_for_business", token=token, fields="id,app").json()["data"]
    assert rows == [
        {"id": person.global_id, "app": {"id": login.app_id, "name": login.state.app.name}}
    ]


def test_email_comes_back_only_when_the_login_asked_for_it(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    person = a_person(login)
    with_email = log_in(client, login, person.name)
    assert graph.get("me", token=with_email, fields="id,email").json()["email"] == person.email
    without = log_in(client, login, person.name, scope="business_management")
    assert "email" not in graph.get("me", token=without, fields="id,email").json()


def test_a_declined_permission_is_listed_and_its_edge_refused(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    person = a_person(login)
    form = open_dialog(client, login)
    choice = {"login_as": form.people[person.name], "decline": ["business_management"]}
    token = exchange(client, login, code_from(submit(client, form, **choice))).json()
    permissions = graph.get("me/permissions", token=token["access_token"]).json()["data"]
    assert {"permission": "business_management", "status": "declined"} in permissions
    assert {"permission": "public_profile", "status": "granted"} in permissions
    refused = error_of(graph.get("me/business_users", token=token["access_token"]))
    assert refused["code"] == 200


def test_scopes_meta_does_not_know_are_named_and_not_granted(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    page = client.get(DIALOG, params=dialog_params(login, scope="business_management,manage_pages"))
    assert "Invalid Scopes: manage_pages" in page.text
    form = LoginForm(page.text)
    code = code_from(submit(client, form, login_as=form.people[a_person(login).name]))
    token = exchange(client, login, code).json()["access_token"]
    granted = graph.get("debug_token", token=login.app_token, input_token=token).json()["data"]
    assert granted["scopes"] == ["public_profile", "business_management"]


def test_debug_token_describes_the_login_token(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    person = a_person(login)
    token = log_in(client, login, person.name)
    data = graph.get("debug_token", token=login.app_token, input_token=token).json()["data"]
    assert data["type"] == "USER"
    assert data["user_id"] == person.global_id
    assert data["app_id"] == login.app_id
    assert data["is_valid"] is True
    assert data["expires_at"] == data["issued_at"] + login.state.settings.login_token_ttl_seconds
    assert data["scopes"] == ["public_profile", "business_management", "email"]
    login.advance_clock(login.state.settings.login_token_ttl_seconds)
    expired = graph.get("debug_token", token=login.app_token, input_token=token).json()["data"]
    assert expired["is_valid"] is False
    assert error_of(graph.get("me", token=token))["error_subcode"] == 463


def test_a_person_token_reaches_the_business_only_through_its_seat(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    business_users = f"{login.business_id}/business_users"
    outsider = log_in(client, login, seatless_name(login))
    for path in (login.business_id, business_users, f"{login.business_id}/system_users"):
        error = error_of(graph.get(path, token=outsider))
        assert (error["code"], error["message"]) == (200, "(#200) Permissions error")
    employee = log_in(client, login, a_person(login).name)
    assert graph.get(business_users, token=employee).status_code == 200
    invite = graph.post(business_users, token=employee, email="x@example.com", role="EMPLOYEE")
    assert error_of(invite)["code"] == 200
    assert not any(i.email == "x@example.com" for i in login.state.invitations.values())
    admin = log_in(client, login, a_person(login, "ADMIN").name)
    assert graph.post(business_users, token=admin, email="x@example.com").status_code == 200
    # The system user's token still manages the business.
    assert graph.post(business_users, email="y@example.com", role="EMPLOYEE").status_code == 200


def test_login_reads_pass_the_schema_check_like_every_read(
    login: Simulator, client: SyncClient, graph: Graph
) -> None:
    token = log_in(client, login, a_person(login).name)
    error = error_of(graph.get("me", token=token, fields="id,shoe_size"))
    assert error["code"] == 100
    assert (
        error["message"]
        == "(#100) Tried accessing nonexisting field (shoe_size) on node type (User)"
    )
    nested = error_of(graph.get("me/business_users", token=token, fields="id,shoe_size"))
    assert "on node type (BusinessUser)" in nested["message"]
    assert error_of(graph.get("me/owned_pages", token=token))["code"] == 100


# --- the simulator's own knobs ---------------------------------------------------------------


def test_the_control_api_sets_redirect_uris_and_lists_the_profiles(
    sim: Simulator, client: SyncClient
) -> None:
    answer = client.post("/_sim/oauth/redirect_uris", json={"uris": [CALLBACK]})
    assert answer.json() == {"uris": [CALLBACK]}
    assert client.get("/_sim/oauth/redirect_uris").json() == {"uris": [CALLBACK]}
    assert client.post("/_sim/oauth/redirect_uris", json={"uris": ["not a uri"]}).status_code == 400
    accounts = client.get("/_sim/facebook_accounts").json()["data"]
    seated = [a for a in accounts if a["business_user_id"]]
    assert len(seated) == len(sim.state.people)
    assert len(accounts) - len(seated) == 2
    added = client.post(
        "/_sim/oob/add_facebook_user", json={"name": "Ann Other", "email": "ann@x.io"}
    )
    assert sim.state.profile(added.json()["id"]) is not None


def test_the_request_log_records_logins_without_secrets(
    login: Simulator, client: SyncClient
) -> None:
    token = log_in(client, login, a_person(login).name)
    summary = client.get("/_sim/requests", params={"entries": 10}).json()
    assert summary["by_route"]["GET /dialog/oauth"] == 1
    assert summary["by_route"]["POST /dialog/oauth"] == 1
    assert summary["by_route"]["GET /oauth/access_token"] == 1
    text = json.dumps(summary)
    assert token not in text
    assert str(login.app_secret) not in text
    assert "code=" not in text


def test_an_injected_fault_hits_the_exchange(login: Simulator, client: SyncClient) -> None:
    code = login.issue_login_code(a_person(login).email, redirect_uri=CALLBACK)
    login.inject_fault("http_500", path="/oauth/access_token")
    assert exchange(client, login, code).status_code == 500
    assert exchange(client, login, code).status_code == 200


def test_a_snapshot_keeps_the_redirect_uris_and_the_accounts(login: Simulator) -> None:
    person = a_person(login)
    login.remove_person(person.id)
    replayed = Simulator(login.scenario_snapshot())
    assert replayed.oauth_redirect_uris == [CALLBACK]
    account = replayed.state.profile(person.global_id)
    assert account is not None and account.person is None
