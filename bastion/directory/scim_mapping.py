"""Between SCIM resources and Bastion's rows.

The attributes Bastion reasons about live in columns (userName, externalId, names, active,
e-mails); everything else an identity provider sends (enterprise extension, phone numbers,
title …) is kept verbatim in ``User.scim_attributes`` so a GET returns what was PUT.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from scim2_models import Meta, Resource

from bastion.directory_records import EmailRecord, MemberRecord, PersonRecord, TeamRecord
from bastion.errors import InvalidInput
from bastion.storage.models import Team
from bastion.storage.models import User as UserRow
from bastion.storage.models.enums import UserStatus

ResourceModel = type[Resource[Any]]
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
# Attributes with a column, or never stored (password is write-only; groups are computed).
_COLUMN_ATTRIBUTES = frozenset(
    {"schemas", "id", "meta", "userName", "externalId", "displayName", "active", "emails"}
)
_NOT_STORED = frozenset({"password", "groups"})
# Kept in scim_attributes when a resource did not state ``active``, so it reads back without it.
_ACTIVE_UNSTATED = "bastion:activeUnstated"


def version_of(updated_at: datetime) -> str:
    """A weak ETag that changes with every write (actions stamp ``updated_at``)."""
    return f'W/"{int(updated_at.timestamp() * 1_000_000)}"'


def parse_id(resource_id: str) -> int | None:
    """Bastion ids are integers; anything else names no resource."""
    return int(resource_id) if resource_id.isdigit() and len(resource_id) < 19 else None


def person_from_resource(resource: Resource[Any]) -> PersonRecord:
    """The record a SCIM User resource describes."""
    data = resource.model_dump()
    name = dict(data.get("name") or {})
    given_name, family_name = name.pop("givenName", None), name.pop("familyName", None)
    remaining = {
        key: value
        for key, value in data.items()
        if key not in _COLUMN_ATTRIBUTES and key not in _NOT_STORED and key != "name"
    }
    if name:
        remaining["name"] = name
    if data.get("active") is None:
        remaining[_ACTIVE_UNSTATED] = True
    user_name = data.get("userName")
    if not isinstance(user_name, str):
        raise InvalidInput("userName", "is required")
    emails = tuple(
        EmailRecord(
            value=str(email.get("value") or ""),
            type=email.get("type"),
            primary=email.get("primary"),
            display=email.get("display"),
        )
        for email in data.get("emails") or []
    )
    return PersonRecord(
        user_name=user_name,
        display_name=data.get("displayName") or "",
        given_name=given_name,
        family_name=family_name,
        external_id=data.get("externalId"),
        active=data.get("active"),
        emails=emails,
        scim_attributes=remaining,
    )


def user_resource(
    row: UserRow, groups: Sequence[tuple[int, str]], model: ResourceModel
) -> Resource[Any]:
    """The SCIM User resource of a row; ``groups`` are the (team id, name) it belongs to.

    ``model`` is the provider's User model, which every resource of a request must share.
    """
    data: dict[str, Any] = dict(row.scim_attributes or {})
    active_unstated = data.pop(_ACTIVE_UNSTATED, False)
    name = dict(data.pop("name", None) or {})
    if row.given_name is not None:
        name["givenName"] = row.given_name
    if row.family_name is not None:
        name["familyName"] = row.family_name
    schemas = [USER_SCHEMA] + ([ENTERPRISE_SCHEMA] if ENTERPRISE_SCHEMA in data else [])
    data.update(
        {
            "schemas": schemas,
            "id": str(row.id),
            "userName": row.user_name,
        }
    )
    if not active_unstated:  # the status itself is unchanged by an unstated `active`
        data["active"] = row.status != UserStatus.DEPROVISIONED
    if name:
        data["name"] = name
    if row.display_name:
        data["displayName"] = row.display_name
    if row.external_id is not None:
        data["externalId"] = row.external_id
    if row.emails:
        data["emails"] = [
            {
                key: value
                for key, value in (
                    ("value", e.email),
                    ("type", e.type),
                    ("primary", e.primary),
                    ("display", e.display),
                )
                if value is not None
            }
            for e in row.emails
        ]
    if groups:
        data["groups"] = [
            {
                "value": str(team_id),
                "$ref": f"Groups/{team_id}",
                "display": display,
                "type": "direct",
            }
            for team_id, display in groups
        ]
    resource = model.model_validate(data)
    resource.meta = Meta(
        resource_type="User",
        created=row.created_at,
        last_modified=row.updated_at,
        version=version_of(row.updated_at),
    )
    return resource


def team_from_resource(resource: Resource[Any]) -> TeamRecord:
    """The record a SCIM Group resource describes; members must be Bastion user ids."""
    data = resource.model_dump()
    display_name = data.get("displayName")
    if not isinstance(display_name, str):
        raise InvalidInput("displayName", "is required")
    members: dict[int, MemberRecord] = {}
    for member in data.get("members") or []:
        member_type = member.get("type")
        if member_type is not None and str(member_type).lower() != "user":
            raise InvalidInput("members", "only users can be members (no nested groups)")
        user_id = parse_id(str(member.get("value") or ""))
        if user_id is None:
            raise InvalidInput("members", f"no user with id {member.get('value')!r}")
        members.setdefault(user_id, MemberRecord(user_id, member.get("display")))
    return TeamRecord(display_name, data.get("externalId"), tuple(members.values()))


def group_resource(
    team: Team, members: Sequence[tuple[int, str | None]] | None, model: ResourceModel
) -> Resource[Any]:
    """The SCIM Group resource of a team; ``members`` (id, label) of ``None`` leaves them out."""
    data: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": str(team.id),
        "displayName": team.display_name,
    }
    if team.external_id is not None:
        data["externalId"] = team.external_id
    if members:
        data["members"] = [
            {"value": str(user_id), "$ref": f"Users/{user_id}", "type": "User"}
            | ({"display": display} if display is not None else {})
            for user_id, display in members
        ]
    resource = model.model_validate(data)
    resource.meta = Meta(
        resource_type="Group",
        created=team.created_at,
        last_modified=team.updated_at,
        version=version_of(team.updated_at),
    )
    return resource
