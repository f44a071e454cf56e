"""What the directory interfaces (SCIM, CSV) hand to the directory actions, below both layers.

SCIM resources and CSV lines are different shapes of the same facts about a person or a team;
turning both into these records first means the rules (uniqueness, lengths, lifecycle) live in
one place, ``bastion.actions.directory``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EmailRecord:
    value: str
    type: str | None = None
    # None: the directory did not say (SCIM keeps that apart from false).
    primary: bool | None = None
    display: str | None = None


@dataclass(frozen=True)
class PersonRecord:
    """A person as the directory describes them.

    ``scim_attributes`` holds the SCIM attributes that have no column; ``None`` leaves the stored
    ones alone (a CSV line knows nothing about them). ``active`` of ``None`` leaves the status
    alone: SCIM allows a resource that does not state it.
    """

    user_name: str
    display_name: str = ""
    given_name: str | None = None
    family_name: str | None = None
    external_id: str | None = None
    active: bool | None = True
    emails: tuple[EmailRecord, ...] = ()
    scim_attributes: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MemberRecord:
    user_id: int
    # The label the identity provider gave the member, kept as sent.
    display: str | None = None


@dataclass(frozen=True)
class TeamRecord:
    """A directory group; ``members`` of ``None`` leaves the membership alone."""

    display_name: str
    external_id: str | None = None
    members: tuple[MemberRecord, ...] | None = None
