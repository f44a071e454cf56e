"""The corporate directory that goes with a scenario, as CSV and as SCIM 2.0 User resources.

A demo needs both sides from one seed: the Meta business and the directory Bastion matches it
against. The generator builds the records; this module only defines them and writes the files.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DirectoryStatus = Literal["active", "deprovisioned"]
CSV_COLUMNS = ("email", "name", "external_id", "status", "secondary_emails", "groups")
SCIM_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@dataclass(slots=True)
class DirectoryUser:
    """One person of the corporate directory (an IdP user)."""

    email: str
    name: str
    external_id: str
    status: DirectoryStatus = "active"
    secondary_emails: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "external_id": self.external_id,
            "status": self.status,
            "secondary_emails": list(self.secondary_emails),
            "groups": list(self.groups),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DirectoryUser:
        return cls(
            email=data["email"],
            name=data["name"],
            external_id=data["external_id"],
            status=data.get("status", "active"),
            secondary_emails=list(data.get("secondary_emails", [])),
            groups=list(data.get("groups", [])),
        )

    def to_scim(self) -> dict[str, Any]:
        """A SCIM 2.0 User resource ready to POST (``groups`` is read-only and ignored on input)."""
        given, _, family = self.name.partition(" ")
        emails: list[dict[str, Any]] = [{"value": self.email, "type": "work", "primary": True}]
        emails.extend({"value": extra, "type": "other"} for extra in self.secondary_emails)
        return {
            "schemas": [SCIM_USER_SCHEMA],
            "externalId": self.external_id,
            "userName": self.email,
            "name": {"formatted": self.name, "givenName": given, "familyName": family},
            "displayName": self.name,
            "emails": emails,
            "active": self.status == "active",
            "groups": [{"display": group} for group in self.groups],
        }


def write_directory(users: list[DirectoryUser], folder: Path) -> tuple[Path, Path]:
    """Write ``directory.csv`` and ``directory.scim.json`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "directory.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for user in users:
            writer.writerow(
                [
                    user.email,
                    user.name,
                    user.external_id,
                    user.status,
                    ";".join(user.secondary_emails),
                    ";".join(user.groups),
                ]
            )
    scim_path = folder / "directory.scim.json"
    scim_path.write_text(
        json.dumps([user.to_scim() for user in users], indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return csv_path, scim_path
