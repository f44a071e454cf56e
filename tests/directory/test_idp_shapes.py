"""The request shapes Okta and Entra really send (reference §1.1–1.2), replayed end to end."""

from __future__ import annotations

from sqlalchemy import select

from bastion.storage.models import Team, TeamMember, User
from bastion.storage.models.enums import UserSource, UserStatus
from tests.directory.conftest import Directory

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTRA_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def patch(*operations: dict[str, object]) -> dict[str, object]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def test_okta_provisions_updates_deactivates_and_pushes_groups(directory: Directory) -> None:
    with directory.client(directory.acme, bearer=False) as okta:  # Okta's "Header" auth mode
        probe = okta.get("/Users", params={"startIndex": 1, "count": 2})
        assert probe.json()["totalResults"] == 0 and probe.json()["startIndex"] == 1
        lookup = okta.get(
            "/Users", params={"filter": 'userName eq "jo@acme.test"', "startIndex": 1, "count": 100}
        )
        assert lookup.status_code == 200 and lookup.json()["totalResults"] == 0
        body = {
            "schemas": [USER],
            "userName": "jo@acme.test",
            "name": {"givenName": "Jo", "familyName": "Doe"},
            "emails": [{"primary": True, "value": "jo@acme.test", "type": "work"}],
            "displayName": "Jo Doe",
            "externalId": "00u1",
            "password": "Sup3rS3cret!",
            "groups": [],
            "active": True,
        }
        created = okta.post("/Users", json=body)
        assert created.status_code == 201
        user_id = created.json()["id"]
        duplicate = okta.post("/Users", json=body | {"userName": "JO@ACME.TEST"})
        assert duplicate.status_code == 409
        assert duplicate.json()["scimType"] == "uniqueness"

        profile = okta.get(f"/Users/{user_id}").json()
        profile["name"]["familyName"] = "Dough"
        assert okta.put(f"/Users/{user_id}", json=profile).status_code == 200

        group = okta.post("/Groups", json={"schemas": [GROUP], "displayName": "Eng", "members": []})
        group_id = group.json()["id"]
        rename_and_add = patch(
            {"op": "replace", "value": {"id": group_id, "displayName": "Engineering"}},
            {"op": "add", "path": "members", "value": [{"value": user_id, "display": "jo"}]},
        )
        assert okta.patch(f"/Groups/{group_id}", json=rename_and_add).status_code in (200, 204)
        listed = okta.get("/Groups", params={"filter": 'displayName eq "engineering"'}).json()
        assert [m["value"] for m in listed["Resources"][0]["members"]] == [user_id]
        remove = patch({"op": "remove", "path": f'members[value eq "{user_id}"]'})
        assert okta.patch(f"/Groups/{group_id}", json=remove).status_code in (200, 204)

        deactivate = patch({"op": "replace", "value": {"active": False}})
        assert okta.patch(f"/Users/{user_id}", json=deactivate).status_code in (200, 204)
        assert okta.get(f"/Users/{user_id}").json()["active"] is False

    with directory.sessions() as session:
        user = session.get_one(User, int(user_id))
        assert (user.status, user.source, user.family_name) == (
            UserStatus.DEPROVISIONED,
            UserSource.SCIM,
            "Dough",
        )
        assert user.status_changed_at is not None
        assert session.scalars(select(TeamMember)).all() == []
        assert session.scalars(select(Team.display_name)).all() == ["Engineering"]


def test_entra_queries_soft_deletes_and_manages_members(directory: Directory) -> None:
    with directory.client(directory.acme) as entra:
        test_connection = entra.get(
            "/Users", params={"filter": 'userName eq "5bd3b4b2-7c59-4c84-9a7e-2b7f3b8b9c11"'}
        )
        assert test_connection.status_code == 200
        assert test_connection.headers["content-type"].startswith("application/scim+json")
        assert test_connection.json()["Resources"] == []

        created = entra.post(
            "/Users",
            json={
                "schemas": [USER, ENTERPRISE],
                "externalId": "a1b2",
                "userName": "Sam@Acme.test",
                "active": True,
                "displayName": "Sam Lee",
                "emails": [{"primary": True, "type": "work", "value": "Sam@Acme.test"}],
                ENTERPRISE: {"employeeNumber": "42", "department": "Sales"},
            },
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        for query in (
            'externalId eq "a1b2"',
            'emails[type eq "work"].value eq "sam@acme.test"',
            'userName eq "sam@acme.test" and externalId eq "a1b2"',
        ):
            found = entra.get("/Users", params={"filter": query}).json()
            assert [r["id"] for r in found["Resources"]] == [user_id], query

        flagged_replace = patch(
            {
                "op": "Replace",
                "value": {"name.givenName": "Samuel", f"{ENTERPRISE}:department": "Ops"},
            },
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "sam@ops.test"},
        )
        assert entra.patch(f"/Users/{user_id}", json=flagged_replace).status_code in (200, 204)

        group = entra.post(
            "/Groups",
            json={"schemas": [GROUP, ENTRA_GROUP], "displayName": "Sales", "externalId": "g1"},
        )
        assert group.status_code == 201, group.text
        group_id = group.json()["id"]
        add = patch({"op": "Add", "path": "members", "value": [{"$ref": None, "value": user_id}]})
        assert entra.patch(f"/Groups/{group_id}", json=add).status_code == 204
        without_members = entra.get(
            "/Groups",
            params={"filter": 'displayName eq "Sales"', "excludedAttributes": "members"},
        ).json()["Resources"][0]
        assert "members" not in without_members
        remove = patch({"op": "Remove", "path": "members", "value": [{"value": user_id}]})
        assert entra.patch(f"/Groups/{group_id}", json=remove).status_code == 204

        soft_delete = patch({"op": "Replace", "path": "active", "value": "False"})
        assert entra.patch(f"/Users/{user_id}", json=soft_delete).status_code in (200, 204)
        inactive = entra.get(f"/Users/{user_id}").json()
        assert inactive["active"] is False
        assert inactive[ENTERPRISE] == {"employeeNumber": "42", "department": "Ops"}
        assert inactive["emails"][0]["value"] == "sam@ops.test"

        assert entra.delete(f"/Users/{user_id}").status_code == 204
        assert entra.get(f"/Users/{user_id}").status_code == 404

    with directory.sessions() as session:
        user = session.get_one(User, int(user_id))
        assert user.status == UserStatus.DEPROVISIONED and user.removed_at is not None
        assert user.given_name == "Samuel" and user.email == "sam@ops.test"
        assert session.scalars(select(TeamMember)).all() == []


def test_unknown_token_gets_a_scim_401(directory: Directory) -> None:
    with directory.client(None) as anonymous:
        response = anonymous.get("/Users", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_paging_is_stable_with_integer_totals(sqlite_directory: Directory) -> None:
    with sqlite_directory.client(sqlite_directory.acme) as okta:
        for n in range(5):
            okta.post("/Users", json={"schemas": [USER], "userName": f"p{n}@acme.test"})
        pages = [
            okta.get("/Users", params={"startIndex": start, "count": 2}).json()
            for start in (1, 3, 5)
        ]
    assert [p["totalResults"] for p in pages] == [5, 5, 5]
    assert [p["startIndex"] for p in pages] == [1, 3, 5]
    names = [r["userName"] for p in pages for r in p["Resources"]]
    assert names == [f"p{n}@acme.test" for n in range(5)]
