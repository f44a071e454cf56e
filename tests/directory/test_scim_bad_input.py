"""SCIM requests with NUL characters: refused with the attribute named, on both databases.

PostgreSQL text cannot hold U+0000 (SQLite stores it), so before this a NUL was stored on one
database and a 500 on the other. The identity provider's admin must see which attribute to fix.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bastion.actions.actors import Actor
from bastion.actions.directory import create_person
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.errors import InvalidInput
from bastion.storage.db import transaction
from bastion.storage.models.enums import UserSource
from tests.directory.conftest import Directory
from tests.row_counts import database_state

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _user(**fields: Any) -> dict[str, Any]:
    return {"schemas": [USER, ENTERPRISE], "userName": "ann@acme.test", **fields}


def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["scimType"] == "invalidValue"
    assert error["detail"] == f"{field}: must not contain NUL characters"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_user(userName="ann\x00@acme.test"), "userName"),
        (_user(displayName="Ann\x00Lee"), "displayName"),
        (_user(name={"givenName": "A\x00nn"}), "name.givenName"),
        (
            _user(emails=[{"value": "ann@acme.test"}, {"value": "a\x00@acme.test"}]),
            "emails[1].value",
        ),
        (_user(externalId="e\x00"), "externalId"),
        (_user(**{ENTERPRISE: {"department": "Sa\x00les"}}), f"{ENTERPRISE}.department"),
        (_user(title="Boss\x00"), "title"),
    ],
)
def test_a_new_user_with_a_nul_character_is_refused_naming_the_attribute(
    directory: Directory, acme: httpx.Client, body: dict[str, Any], field: str
) -> None:
    before = database_state(directory.runtime.engine)
    _refused(acme.post("/Users", json=body), field)
    assert database_state(directory.runtime.engine) == before


def test_replacing_or_patching_a_user_with_a_nul_character_changes_nothing(
    directory: Directory, acme: httpx.Client
) -> None:
    created = acme.post("/Users", json=_user(displayName="Ann Lee"))
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    before = database_state(directory.runtime.engine)

    _refused(acme.put(f"/Users/{user_id}", json=_user(displayName="Ann\x00")), "displayName")
    by_path = {"op": "replace", "path": "name.familyName", "value": "L\x00ee"}
    patched = acme.patch(f"/Users/{user_id}", json={"schemas": [PATCH], "Operations": [by_path]})
    _refused(patched, "name.familyName")
    by_value = {"op": "replace", "value": {"displayName": "Ann\x00"}}
    patched = acme.patch(f"/Users/{user_id}", json={"schemas": [PATCH], "Operations": [by_value]})
    _refused(patched, "displayName")

    assert database_state(directory.runtime.engine) == before
    assert acme.get(f"/Users/{user_id}").json()["displayName"] == "Ann Lee"


def test_a_group_with_a_nul_character_is_refused(directory: Directory, acme: httpx.Client) -> None:
    ann = acme.post("/Users", json=_user()).json()["id"]
    before = database_state(directory.runtime.engine)
    _refused(
        acme.post("/Groups", json={"schemas": [GROUP], "displayName": "Sa\x00les"}), "displayName"
    )
    members = [{"value": ann, "display": "Ann\x00"}]
    group = {"schemas": [GROUP], "displayName": "Sales", "members": members}
    _refused(acme.post("/Groups", json=group), "members[0].display")
    assert database_state(directory.runtime.engine) == before


def test_a_filter_or_a_raw_body_with_nul_is_refused(
    directory: Directory, acme: httpx.Client
) -> None:
    before = database_state(directory.runtime.engine)
    _refused(acme.get("/Users", params={"filter": 'userName eq "a\x00@b.c"'}), "filter")
    raw = json.dumps(_user()).encode().replace(b"ann@", b"ann\x00@")
    _refused(acme.post("/Users", content=raw), "body")
    assert database_state(directory.runtime.engine) == before


def test_the_directory_actions_refuse_nul_whatever_calls_them(directory: Directory) -> None:
    """Below SCIM and the CSV import: the one place every directory write goes through."""
    person = PersonRecord(
        "ann@acme.test",
        emails=(EmailRecord("ann@acme.test"),),
        scim_attributes={"phoneNumbers": [{"value": "+1\x00"}]},
    )
    before = database_state(directory.runtime.engine)
    refused = pytest.raises(InvalidInput, match=r"^phoneNumbers\[0\]\.value: must not contain NUL")
    with refused, transaction(directory.sessions) as session:
        create_person(
            session,
            workspace_id=directory.acme.id,
            person=person,
            source=UserSource.SCIM,
            actor=Actor.system("tests"),
            check_delay=timedelta(minutes=5),
        )
    assert database_state(directory.runtime.engine) == before


def test_without_a_token_a_nul_character_is_still_401(directory: Directory) -> None:
    with directory.client(None) as anonymous:
        answer = anonymous.post("/Users", json=_user(displayName="Ann\x00"))
    assert answer.status_code == 401
