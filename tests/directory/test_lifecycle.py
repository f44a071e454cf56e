"""Deprovisioning keeps the person, says so in the audit log, and brings app checks forward."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.directory import create_person
from bastion.audit import verify_chain
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.storage.db import transaction
from bastion.storage.models import Account, App, AuditEvent, User, utcnow
from bastion.storage.models.enums import (
    AccountKind,
    AppKind,
    AppStatus,
    LoginMethod,
    UserSource,
    UserStatus,
)
from tests.directory.conftest import Directory

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _app(workspace_id: int, label: str, next_check_in: timedelta | None) -> App:
    return App(
        workspace_id=workspace_id,
        kind=AppKind.META_BUSINESS,
        label=label,
        login_method=LoginMethod.SSO,
        status=AppStatus.HEALTHY,
        next_check_at=None if next_check_in is None else utcnow() + next_check_in,
    )


def test_deprovisioning_asks_each_app_holding_a_seat_to_check_within_minutes(
    directory: Directory,
) -> None:
    with directory.client(directory.acme) as okta:
        user_id = int(
            okta.post("/Users", json={"schemas": [USER], "userName": "lee@acme.test"}).json()["id"]
        )
    with transaction(directory.sessions) as session:
        apps = {
            "seat, daily check tomorrow": _app(directory.acme.id, "ads", timedelta(hours=20)),
            "seat, check already sooner": _app(directory.acme.id, "shop", timedelta(minutes=1)),
            "no seat": _app(directory.acme.id, "brand", timedelta(hours=20)),
        }
        session.add_all(apps.values())
        session.flush()
        for key in ("seat, daily check tomorrow", "seat, check already sooner"):
            session.add(
                Account(
                    workspace_id=directory.acme.id,
                    app_id=apps[key].id,
                    kind=AccountKind.PERSON,
                    external_id=f"meta-{key[:8]}",
                    matched_user_id=user_id,
                )
            )
        ids = {key: app.id for key, app in apps.items()}

    started = utcnow()
    with directory.client(directory.acme) as okta:
        deactivate = {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        }
        assert okta.patch(f"/Users/{user_id}", json=deactivate).status_code == 204

    with directory.sessions() as session:
        ads = session.get_one(App, ids["seat, daily check tomorrow"])
        shop = session.get_one(App, ids["seat, check already sooner"])
        brand = session.get_one(App, ids["no seat"])
        assert ads.status == AppStatus.REQUIRES_CHECK
        assert ads.next_check_at is not None
        assert started + timedelta(minutes=4) < ads.next_check_at <= utcnow() + timedelta(minutes=5)
        assert shop.status == AppStatus.REQUIRES_CHECK
        assert shop.next_check_at is not None and shop.next_check_at < started + timedelta(
            minutes=2
        )
        assert brand.status == AppStatus.HEALTHY
        user = session.get_one(User, user_id)
        assert user.status == UserStatus.DEPROVISIONED
        assert user.status_changed_by is not None and user.status_changed_by.startswith("scim:")
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.workspace_id == directory.acme.id)
        ).all()
        assert actions.count("app.check_requested") == 2
        assert "user.status_changed" in actions
        assert verify_chain(session, directory.acme.id) is None


def test_a_deleted_person_with_a_seat_is_kept_and_comes_back_when_provisioned_again(
    directory: Directory,
) -> None:
    with directory.client(directory.acme) as entra:
        user_id = int(
            entra.post("/Users", json={"schemas": [USER], "userName": "max@acme.test"}).json()["id"]
        )
    with transaction(directory.sessions) as session:
        app = _app(directory.acme.id, "ads", None)
        session.add(app)
        session.flush()
        session.add(
            Account(
                workspace_id=directory.acme.id,
                app_id=app.id,
                kind=AccountKind.PERSON,
                external_id="meta-1",
                matched_user_id=user_id,
            )
        )
    with directory.client(directory.acme) as entra:
        assert entra.delete(f"/Users/{user_id}").status_code == 204
        assert entra.get(f"/Users/{user_id}").status_code == 404
        with directory.sessions() as session:
            account = session.scalars(select(Account)).one()
            assert account.matched_user_id == user_id
            assert session.get_one(User, user_id).status == UserStatus.DEPROVISIONED
        again = entra.post(
            "/Users", json={"schemas": [USER], "userName": "MAX@acme.test", "active": True}
        )
        assert again.status_code == 201
        assert again.json()["id"] == str(user_id)
    with directory.sessions() as session:
        user = session.get_one(User, user_id)
        assert (user.status, user.removed_at, user.user_name) == (
            UserStatus.ACTIVE,
            None,
            "MAX@acme.test",
        )


def test_a_person_created_again_after_a_rollback_in_the_same_session_is_the_new_row(
    sqlite_directory: Directory,
) -> None:
    """SQLite hands the rolled-back id out again; the session must not confuse the two rows."""
    person = PersonRecord(
        user_name="again@example.com",
        emails=(EmailRecord("again@example.com", "work", True, None),),
    )

    def create(session: Session) -> User:
        return create_person(
            session,
            workspace_id=sqlite_directory.acme.id,
            person=person,
            source=UserSource.SCIM,
            actor=Actor.cli(),
            check_delay=timedelta(minutes=5),
        )

    with sqlite_directory.sessions() as session:
        first = create(session)
        session.rollback()
        second = create(session)
        second.display_name = "Again"
        session.commit()
        assert second is not first
        assert [e.email for e in second.emails] == ["again@example.com"]
    with sqlite_directory.sessions() as session:
        stored = session.scalars(select(User).where(User.user_name == "again@example.com")).one()
        assert stored.display_name == "Again"
        assert [e.email for e in stored.emails] == ["again@example.com"]
        assert verify_chain(session, sqlite_directory.acme.id) is None
