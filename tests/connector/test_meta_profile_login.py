"""Facebook Login against the simulator: the dialog's address, who logged in and their seat in
the business, and each of Meta's refusals of a code exchange in Bastion's words."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from meta_harness import BASE_URL, Waits

from bastion.connectors.base import LoginRefused, ProfileIdentity, Transient
from bastion.connectors.meta import RetryPolicy
from bastion.connectors.meta.profile_login import MetaProfileLogin
from bastion.connectors.meta.simulator import Simulator, create_simulator_app

CALLBACK = "https://bastion.example/me/accounts/connect/callback"
SCOPES = ("public_profile", "business_management")


@pytest.fixture
def login(sim: Simulator, waits: Waits) -> MetaProfileLogin:
    sim.set_oauth_redirect_uris([CALLBACK])
    return MetaProfileLogin(
        app_id=sim.app_id,
        business_id=sim.business_id,
        app_secret=sim.app_secret or "",
        login_url="https://facebook.example",
        graph_url=BASE_URL,
        transport=httpx.ASGITransport(app=create_simulator_app(sim)),
        timeout=2.0,
        retry=RetryPolicy(sleep=waits, jitter=lambda: 0.5),
    )


def identify(login: MetaProfileLogin, code: str, redirect_uri: str = CALLBACK) -> ProfileIdentity:
    return asyncio.run(login.identify(code=code, redirect_uri=redirect_uri))


def refusal(login: MetaProfileLogin, code: str, redirect_uri: str = CALLBACK) -> LoginRefused:
    with pytest.raises(LoginRefused) as raised:
        identify(login, code, redirect_uri)
    return raised.value


def a_person(sim: Simulator) -> tuple[str, str, str]:
    """(business-scoped id, app-scoped id, name) of one of the business's people."""
    person = next(p for p in sim.state.people.values() if p.role == "EMPLOYEE")
    return person.id, person.global_id, person.name


def test_the_dialog_address_carries_the_app_the_return_address_and_the_state(
    login: MetaProfileLogin, sim: Simulator
) -> None:
    url = urlsplit(login.login_url(redirect_uri=CALLBACK, state="s-1"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://facebook.example/v25.0/dialog/oauth"
    assert parse_qs(url.query) == {
        "client_id": [sim.app_id],
        "redirect_uri": [CALLBACK],
        "state": ["s-1"],
        "response_type": ["code"],
        "scope": ["business_management"],
    }


def test_a_login_names_the_profile_and_the_seat_it_holds_in_the_business(
    login: MetaProfileLogin, sim: Simulator
) -> None:
    seat, app_scoped, name = a_person(sim)
    # Every Graph call with the person's token must then carry the proof.
    sim.update_settings(require_appsecret_proof=True)
    code = sim.issue_login_code(app_scoped, redirect_uri=CALLBACK, scopes=SCOPES)
    found = identify(login, code)
    assert found == ProfileIdentity(profile_id=app_scoped, name=name, account_external_id=seat)
    assert found.profile_id != found.account_external_id  # app-scoped is not business-scoped


def test_a_profile_without_a_seat_in_the_business_has_no_account(
    login: MetaProfileLogin, sim: Simulator
) -> None:
    stranger = sim.add_facebook_user(name="Sam Stranger", email="sam@elsewhere.test")
    code = sim.issue_login_code(stranger, redirect_uri=CALLBACK, scopes=SCOPES)
    found = identify(login, code)
    assert found.name == "Sam Stranger" and found.account_external_id is None


def test_a_code_used_twice_reads_as_used(login: MetaProfileLogin, sim: Simulator) -> None:
    _seat, app_scoped, _name = a_person(sim)
    code = sim.issue_login_code(app_scoped, redirect_uri=CALLBACK, scopes=SCOPES)
    identify(login, code)
    again = refusal(login, code)
    assert again.problem == "code_used"
    assert "already used" in again.message and code not in again.message


def test_a_code_past_its_time_reads_as_expired(login: MetaProfileLogin, sim: Simulator) -> None:
    _seat, app_scoped, _name = a_person(sim)
    code = sim.issue_login_code(app_scoped, redirect_uri=CALLBACK, scopes=SCOPES)
    sim.advance_clock(3600)
    assert refusal(login, code).problem == "code_expired"


def test_a_return_address_that_differs_is_named(login: MetaProfileLogin, sim: Simulator) -> None:
    _seat, app_scoped, _name = a_person(sim)
    code = sim.issue_login_code(app_scoped, redirect_uri=CALLBACK, scopes=SCOPES)
    found = refusal(login, code, CALLBACK + "/")
    assert found.problem == "redirect_mismatch"
    assert "Valid OAuth Redirect URIs" in found.message


def test_a_code_meta_never_issued_is_refused(login: MetaProfileLogin) -> None:
    found = refusal(login, "AQnot-a-code")
    assert found.problem == "code_rejected" and "AQnot-a-code" not in found.message


def test_a_wrong_app_secret_is_said_plainly_and_never_shown(
    login: MetaProfileLogin, sim: Simulator
) -> None:
    _seat, app_scoped, _name = a_person(sim)
    code = sim.issue_login_code(app_scoped, redirect_uri=CALLBACK, scopes=SCOPES)
    wrong = MetaProfileLogin(
        app_id=login.app_id,
        business_id=login.business_id,
        app_secret="not-the-secret-0123456789",
        graph_url=BASE_URL,
        transport=httpx.ASGITransport(app=create_simulator_app(sim)),
    )
    found = refusal(wrong, code)
    assert found.problem == "app_secret_rejected"
    assert "App secret" in found.message and "not-the-secret" not in found.message


def test_another_app_id_is_refused(login: MetaProfileLogin, sim: Simulator) -> None:
    other = MetaProfileLogin(
        app_id="1234567890",
        business_id=login.business_id,
        app_secret=sim.app_secret or "",
        graph_url=BASE_URL,
        transport=httpx.ASGITransport(app=create_simulator_app(sim)),
    )
    assert refusal(other, "AQanything").problem == "app_rejected"


def test_a_login_that_declined_the_business_permission_is_refused(
    login: MetaProfileLogin, sim: Simulator
) -> None:
    _seat, app_scoped, _name = a_person(sim)
    code = sim.issue_login_code(
        app_scoped, redirect_uri=CALLBACK, scopes=SCOPES, declined=("business_management",)
    )
    found = refusal(login, code)
    assert found.problem == "permission_declined" and "business_management" in found.message


def test_the_exchange_is_asked_once_when_meta_fails(
    login: MetaProfileLogin, sim: Simulator
) -> None:
    _seat, app_scoped, _name = a_person(sim)
    code = sim.issue_login_code(app_scoped, redirect_uri=CALLBACK, scopes=SCOPES)
    sim.inject_fault("http_500", path="/oauth/access_token")
    with pytest.raises(Transient):
        identify(login, code)
    exchanges = [r for r in sim.request_log.entries() if r["path"] == "/oauth/access_token"]
    assert len(exchanges) == 1
