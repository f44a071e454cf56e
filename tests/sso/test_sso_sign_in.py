"""Single sign-on end to end: Bastion served on loopback, a real OpenID Provider beside it.

The "browser" is one httpx client that keeps both sites' cookies, as a browser would; the
provider's login pages are completed by ``complete_dev_login``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bastion.security import oidc
from bastion.storage.models import AuditEvent, SsoAttempt, User, WebSession, utcnow
from tests.checks.conftest import World
from tests.sso.conftest import Site
from tests.support.oidc_provider import abort_dev_login, complete_dev_login


def _audit(of: World, action: str) -> list[dict[str, Any]]:
    with of.runtime.sessions() as session:
        return [
            e.details
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        ]


def _sessions_of(of: World, user_id: int) -> int:
    with of.runtime.sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(WebSession).where(WebSession.user_id == user_id)
            )
            or 0
        )


def test_the_sign_in_page_offers_the_identity_provider(site: Site) -> None:
    with site.browser() as browser:
        page = browser.get("/signin").text
    assert "Sign in with Okta" in page
    assert "/signin/sso/northwind" in page
    # With an identity provider for the only workspace, nobody is offered an e-mailed link.
    assert "E-mail me a sign-in link" not in page


def test_an_employee_signs_in_through_okta_and_lands_on_their_accounts(site: Site) -> None:
    person = site.people["okta"]
    with site.browser() as browser:
        to_op = site.start(browser)
        assert to_op.startswith(site.op.issuer)
        for part in ("code_challenge=", "code_challenge_method=S256", "nonce=", "state="):
            assert part in to_op
        answer = browser.get(complete_dev_login(browser, to_op, "okta"))
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/me/accounts"
        page = browser.get("/me/accounts")
        assert page.status_code == 200
        assert person.email in page.text or person.display_name in page.text
    assert _audit(site.world, "user.signed_in")[-1]["method"] == "sso"
    with site.world.runtime.sessions() as session:
        assert session.get_one(User, person.id).signed_in_at is not None


def test_entra_claims_find_the_person_by_object_id(site: Site) -> None:
    with site.browser() as browser:
        answer = site.sign_in(browser, "entra")
        assert answer.status_code == 303, answer.text
    assert _sessions_of(site.world, site.people["entra"].id) == 1


def test_next_path_is_kept_and_an_outside_one_is_dropped(site: Site) -> None:
    with site.browser() as browser:
        callback = complete_dev_login(browser, site.start(browser, "/apps"), "okta")
        assert browser.get(callback).headers["location"] == "/apps"
    with site.browser() as browser:
        callback = complete_dev_login(browser, site.start(browser, "https://evil.test/x"), "okta")
        assert browser.get(callback).headers["location"] == "/me/accounts"


@pytest.mark.parametrize(
    ("login", "problem", "words"),
    [
        ("gone", "inactive_person", "not active in the directory"),
        ("stranger", "unknown_person", "is stranger@elsewhere.test"),
    ],
)
def test_someone_not_active_in_the_directory_is_refused_and_nothing_is_created(
    site: Site, login: str, problem: str, words: str
) -> None:
    with site.world.runtime.sessions() as session:
        users_before = session.scalar(select(func.count()).select_from(User))
    with site.browser() as browser:
        answer = site.sign_in(browser, login)
        assert answer.status_code == 400
        assert words in answer.text
        assert not any(name.startswith("bastion_session") for name in browser.cookies)
    assert _audit(site.world, "user.sso_refused")[-1]["problem"] == problem
    with site.world.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == users_before
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0


def test_an_e_mail_outside_the_allowed_domains_is_refused(site: Site) -> None:
    site.configure(client_secret=None, allowed_domains=["only-this.test"])
    with site.browser() as browser:
        answer = site.sign_in(browser, "okta")
    assert answer.status_code == 400
    assert "not in a domain allowed" in answer.text
    assert _audit(site.world, "user.sso_refused")[-1]["problem"] == "domain_not_allowed"


def test_a_replayed_callback_is_refused(site: Site) -> None:
    with site.browser() as browser:
        callback = complete_dev_login(browser, site.start(browser), "okta")
        assert browser.get(callback).status_code == 303
        again = browser.get(callback)
    assert again.status_code == 400
    assert "already" in again.text
    assert _sessions_of(site.world, site.people["okta"].id) == 1


def test_a_callback_in_another_browser_is_refused(site: Site) -> None:
    with site.browser() as browser:
        callback = complete_dev_login(browser, site.start(browser), "okta")
    with site.browser() as other:
        answer = other.get(callback)
    assert answer.status_code == 400
    assert "another browser" in answer.text
    assert _audit(site.world, "user.sso_refused")[-1]["problem"] == "other_browser"


def test_an_expired_attempt_is_refused(site: Site) -> None:
    with site.browser() as browser:
        callback = complete_dev_login(browser, site.start(browser), "okta")
        with site.world.runtime.sessions.begin() as session:
            session.execute(update(SsoAttempt).values(expires_at=utcnow() - timedelta(seconds=1)))
        answer = browser.get(callback)
    assert answer.status_code == 400
    assert "took too long" in answer.text


def test_a_cancelled_sign_in_says_the_provider_did_not_sign_you_in(site: Site) -> None:
    with site.browser() as browser:
        answer = browser.get(abort_dev_login(browser, site.start(browser)))
    assert answer.status_code == 400
    assert "access_denied" in answer.text
    assert _audit(site.world, "user.sso_refused")[-1]["problem"] == "provider_refused"


def test_a_wrong_client_secret_is_refused_by_the_provider(site: Site) -> None:
    site.configure(client_secret="not-the-secret")
    with site.browser() as browser:
        answer = site.sign_in(browser, "okta")
    assert answer.status_code == 400
    assert "refused to finish the sign-in" in answer.text
    assert _audit(site.world, "user.sso_refused")[-1]["problem"] == "code_refused"


def test_an_answer_naming_another_issuer_is_refused(site: Site) -> None:
    with site.browser() as browser:
        callback = complete_dev_login(browser, site.start(browser), "okta")
        forged = callback.replace("iss=", "iss=https%3A%2F%2Fevil.test&was=")
        answer = browser.get(forged)
    assert answer.status_code == 400
    assert _audit(site.world, "user.sso_refused")[-1]["problem"] == "issuer_mismatch"


def test_an_unreachable_provider_is_a_clear_page(site: Site) -> None:
    site.op.stop()
    oidc.forget_cached()
    with site.browser() as browser:
        answer = browser.get("/signin/sso/northwind")
    assert answer.status_code == 503
    assert "could not reach the identity provider" in answer.text


def test_configuring_a_wrong_issuer_is_refused_naming_it(site: Site) -> None:
    from bastion.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        site.configure(issuer=site.op.issuer + "/other")
    assert refused.value.field == "issuer"
    with pytest.raises(InvalidInput) as refused:
        site.configure(issuer="http://sso.example.test")
    assert "https" in refused.value.message


def test_signing_in_again_makes_the_provider_ask_and_shows_it_in_auth_time(site: Site) -> None:
    with site.browser() as browser:
        assert site.sign_in(browser, "okta").status_code == 303
        answer = browser.get("/signin/sso/northwind?next=/me/accounts&fresh=1")
        to_op = answer.headers["location"]
        assert "prompt=login" in to_op and "max_age=0" in to_op
        # The provider's own session does not answer for the person: they log in again.
        again = browser.get(complete_dev_login(browser, to_op, "okta"))
        assert again.status_code == 303, again.text
    assert _audit(site.world, "user.signed_in")[-1]["method"] == "sso"


def test_an_answer_without_a_fresh_sign_in_does_not_count_as_signing_in_again() -> None:
    from datetime import UTC, datetime

    started = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert oidc.authenticated_since({"auth_time": int(started.timestamp()) + 5}, started)
    assert not oidc.authenticated_since({"auth_time": int(started.timestamp()) - 3600}, started)
    assert not oidc.authenticated_since({}, started)
    assert not oidc.authenticated_since({"auth_time": True}, started)


@pytest.mark.parametrize(
    ("claims", "found"),
    [
        # An address the provider did not verify names nobody, whatever else it says.
        ({"sub": "x", "email": "{email}", "email_verified": "false"}, False),
        ({"sub": "x", "email": "{email}"}, False),
        ({"sub": "x", "email": "{email}", "email_verified": True}, True),
        ({"sub": "x", "email": "{email}", "email_verified": "true"}, True),
        # A username is someone's choice on some providers: only Entra ID's (its UPN) counts.
        ({"sub": "x", "preferred_username": "{email}"}, False),
    ],
)
def test_only_addresses_the_provider_vouches_for_find_a_person(
    site: Site, claims: dict[str, Any], found: bool
) -> None:
    from bastion.actions.sso import find_person

    person = site.people["okta"]
    filled = {
        k: v.format(email=person.email) if isinstance(v, str) else v for k, v in claims.items()
    }
    with site.world.runtime.sessions() as session:
        user, _email, _problem = find_person(
            session, site.world.workspace_id, filled, issuer=site.op.issuer
        )
        entra, _e, _p = find_person(
            session,
            site.world.workspace_id,
            {"sub": "x", "preferred_username": person.email},
            issuer="https://login.microsoftonline.com/9f0c1d2e-0000-4000-8000-000000000001/v2.0",
        )
    assert (user is not None and user.id == person.id) is found
    assert entra is not None and entra.id == person.id


def test_a_local_admin_signs_in_with_a_password_not_the_provider(site: Site) -> None:
    from bastion.actions.sso import find_person

    with site.world.runtime.sessions() as session:
        user, _email, problem = find_person(
            session,
            site.world.workspace_id,
            {"sub": "x", "email": "owner@northwind.test", "email_verified": True},
            issuer=site.op.issuer,
        )
    assert user is None and problem == "not_a_directory_person"
