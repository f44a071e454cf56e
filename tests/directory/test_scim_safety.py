"""Tenants stay apart, and bad requests get RFC 7644 errors without touching the database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bastion.storage.models import ApiToken, AuditEvent, Team, User
from tests.directory.conftest import Directory

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
GROUP = b'"urn:ietf:params:scim:schemas:core:2.0:Group"'


def test_a_workspace_token_never_sees_or_changes_another_workspace(directory: Directory) -> None:
    with directory.client(directory.globex) as globex:
        theirs = globex.post("/Users", json={"schemas": [USER], "userName": "kim@globex.test"})
        their_id = theirs.json()["id"]
    with directory.client(directory.acme) as acme:
        assert acme.get(f"/Users/{their_id}").status_code == 404
        assert acme.get("/Users").json()["totalResults"] == 0
        found = acme.get("/Users", params={"filter": 'userName eq "kim@globex.test"'}).json()
        assert found["totalResults"] == 0
        replaced = acme.put(f"/Users/{their_id}", json={"schemas": [USER], "userName": "x@y.z"})
        assert replaced.status_code == 404
        assert acme.delete(f"/Users/{their_id}").status_code == 404
        # The same userName is free in another workspace.
        mine = acme.post("/Users", json={"schemas": [USER], "userName": "kim@globex.test"})
        assert mine.status_code == 201
    with directory.sessions() as session:
        kim = session.get_one(User, int(their_id))
        assert (kim.workspace_id, kim.user_name, kim.removed_at) == (
            directory.globex.id,
            "kim@globex.test",
            None,
        )


def _database_state(directory: Directory) -> tuple[int, int, int]:
    with directory.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(User)) or 0,
            session.scalar(select(func.count()).select_from(Team)) or 0,
            session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        )


@pytest.mark.parametrize(
    ("path", "body", "status", "scim_type"),
    [
        ("/Users", b'{"schemas": ["' + USER.encode() + b'"], "userName": ', 400, "invalidSyntax"),
        ("/Users", b'{"schemas": ["' + USER.encode() + b'"], "userName": 7}', 400, None),
        ("/Users", b'{"schemas": ["urn:example:unknown"], "userName": "a@b.c"}', 400, None),
        (
            "/Users",
            b'{"schemas": ["' + USER.encode() + b'"], "userName": "a@b.c", "shoe": 1}',
            400,
            None,
        ),
        (
            "/Users",
            b'{"schemas": ["'
            + USER.encode()
            + b'"], "userName": "a@b.c", "emails": [{"value": "nope"}]}',
            400,
            "invalidValue",
        ),
        (
            "/Users",
            b'{"schemas": ["' + USER.encode() + b'"], "userName": "' + b"x" * 400 + b'"}',
            400,
            "invalidValue",
        ),
        ("/Users", b"[1, 2, 3]", 400, None),
        (
            "/Groups",
            b'{"displayName": "G", "members": [{"value": "999"}], "schemas": [' + GROUP + b"]}",
            400,
            "invalidValue",
        ),
        ("/Users", b'{"userName": "' + b"x" * (2 * 1024 * 1024) + b'"}', 413, None),
    ],
    ids=[
        "bad-json",
        "wrong-type",
        "unknown-schema",
        "unknown-attribute",
        "bad-email",
        "too-long",
        "not-an-object",
        "unknown-member",
        "huge-body",
    ],
)
def test_malformed_payloads_get_scim_errors_and_change_nothing(
    sqlite_directory: Directory, path: str, body: bytes, status: int, scim_type: str | None
) -> None:
    before = _database_state(sqlite_directory)
    with sqlite_directory.client(sqlite_directory.acme) as client:
        response = client.post(path, content=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["schemas"] == [ERROR] and error["status"] == str(status)
    if scim_type is not None:
        assert error["scimType"] == scim_type
    assert _database_state(sqlite_directory) == before


def test_a_patch_failing_half_way_leaves_the_user_as_it_was(sqlite_directory: Directory) -> None:
    with sqlite_directory.client(sqlite_directory.acme) as client:
        user_id = client.post("/Users", json={"schemas": [USER], "userName": "a@b.c"}).json()["id"]
        client.post("/Users", json={"schemas": [USER], "userName": "taken@b.c"})
        before = _database_state(sqlite_directory)
        response = client.patch(
            f"/Users/{user_id}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "replace", "path": "displayName", "value": "Changed"},
                    {"op": "replace", "path": "userName", "value": "TAKEN@b.c"},
                ],
            },
        )
        assert response.status_code == 409
        assert client.get(f"/Users/{user_id}").json().get("displayName") is None
    assert _database_state(sqlite_directory) == before


def test_scim_answers_set_no_cookie_and_note_the_token_use_once_a_minute(
    sqlite_directory: Directory,
) -> None:
    def last_used() -> datetime | None:
        with sqlite_directory.sessions() as session:
            return session.scalars(
                select(ApiToken.last_used_at).where(
                    ApiToken.workspace_id == sqlite_directory.acme.id
                )
            ).one()

    assert last_used() is None
    with sqlite_directory.client(sqlite_directory.acme) as client:
        created = client.post("/Users", json={"schemas": [USER], "userName": "a@b.c"})
        assert created.status_code == 201, created.text
        assert "set-cookie" not in created.headers  # a machine client has no use for CSRF
        first = last_used()
        assert first is not None
        assert client.get("/Users").status_code == 200
        assert last_used() == first  # within the minute: the row is not rewritten
        with sqlite_directory.sessions.begin() as session:
            session.execute(
                update(ApiToken)
                .where(ApiToken.workspace_id == sqlite_directory.acme.id)
                .values(last_used_at=first - timedelta(minutes=5))
            )
        assert client.get("/Users").status_code == 200
    latest = last_used()
    assert latest is not None and latest >= first
