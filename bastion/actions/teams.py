"""Every write to the directory's teams (SCIM Groups, and the groups a CSV file names).

A membership is replaced by walking the wanted members and the current ones side by side in
user-id order, a bounded batch at a time, so a group of a million people costs the same memory
as a group of ten and no statement carries more than ``BATCH`` ids (SQLite and PostgreSQL both
cap the parameters of one statement). Callers commit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.audit import AuditAction, record
from bastion.directory_records import MemberRecord, TeamRecord
from bastion.errors import InvalidInput
from bastion.nul_characters import refuse_nul
from bastion.storage.models import Team, TeamMember, User, utcnow
from bastion.storage.models.enums import UserSource
from bastion.storage.tenancy import Tenant

BATCH = 500
# Past every real id: where the wanted or the current members run out.
_END = MemberRecord(sys.maxsize)


def _clean_team(team: TeamRecord) -> TeamRecord:
    refuse_nul("displayName", team.display_name)
    refuse_nul("externalId", team.external_id)
    name = team.display_name.strip()
    if not name:
        raise InvalidInput("displayName", "must not be empty")
    if len(name) > 200:
        raise InvalidInput("displayName", "is longer than 200 characters")
    if team.external_id is not None and len(team.external_id) > 200:
        raise InvalidInput("externalId", "is longer than 200 characters")
    if team.members is not None:
        refuse_nul("members.display", [member.display for member in team.members])
    return TeamRecord(name, team.external_id, team.members)


def _current_members(session: Session, team_id: int) -> Iterator[tuple[int, str | None]]:
    """The team's members in user-id order, one page per query.

    The caller writes between pages, but only rows at or below the last id it has read, and
    each page starts after the previous page's last id, so no page sees those writes.
    """
    after = 0
    while True:
        page = session.execute(
            select(TeamMember.user_id, TeamMember.display)
            .where(TeamMember.team_id == team_id, TeamMember.user_id > after)
            .order_by(TeamMember.user_id)
            .limit(BATCH)
        ).all()
        yield from ((row.user_id, row.display) for row in page)
        if len(page) < BATCH:
            return
        after = page[-1].user_id


@dataclass
class _Batch:
    added: list[MemberRecord] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    relabelled: list[MemberRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.added) + len(self.removed) + len(self.relabelled)


def _in_order(members: Iterable[MemberRecord]) -> Iterator[MemberRecord]:
    previous = 0
    for member in members:
        if member.user_id <= previous:
            raise ValueError("members must come in ascending user id order, each once")
        previous = member.user_id
        yield member


def _write(session: Session, team: Team, batch: _Batch, source: UserSource, actor: Actor) -> None:
    """Apply one batch of membership changes; joining and leaving are audited, labels are not."""
    if batch.added:
        wanted = [member.user_id for member in batch.added]
        found = set(
            session.scalars(
                select(User.id).where(
                    User.workspace_id == team.workspace_id,
                    User.id.in_(wanted),
                    User.removed_at.is_(None),
                )
            )
        )
        missing = [user_id for user_id in wanted if user_id not in found]
        if missing:
            raise InvalidInput("members", f"no user with id {missing[0]} in this directory")
        session.execute(
            insert(TeamMember),
            [
                {
                    "workspace_id": team.workspace_id,
                    "team_id": team.id,
                    "user_id": member.user_id,
                    "display": member.display,
                }
                for member in batch.added
            ],
        )
    if batch.removed:
        session.execute(
            delete(TeamMember).where(
                TeamMember.team_id == team.id, TeamMember.user_id.in_(batch.removed)
            )
        )
    if batch.relabelled:
        session.execute(
            update(TeamMember),
            [
                {"team_id": team.id, "user_id": member.user_id, "display": member.display}
                for member in batch.relabelled
            ],
        )
    team.updated_at = utcnow()
    if batch.added or batch.removed:
        record(
            session,
            workspace_id=team.workspace_id,
            actor=actor.label,
            action=AuditAction.TEAM_MEMBERS_CHANGED,
            target=f"team:{team.id}",
            details={
                "added": [member.user_id for member in batch.added],
                "removed": batch.removed,
                "source": source.value,
            },
            request_id=actor.request_id,
        )


def _replace_members(
    session: Session,
    team: Team,
    members: Iterable[MemberRecord],
    source: UserSource,
    actor: Actor,
) -> bool:
    """Make the membership exactly ``members`` (ascending ids); return whether anyone joined or
    left. One audit event per batch of joins and leaves."""
    wanted = _in_order(members)
    current = ((user_id, display) for user_id, display in _current_members(session, team.id))
    want, have = next(wanted, _END), next(current, (_END.user_id, None))
    batch, changed = _Batch(), False
    while want is not _END or have[0] != _END.user_id:
        if want.user_id < have[0]:
            batch.added.append(want)
            want = next(wanted, _END)
        elif have[0] < want.user_id:
            batch.removed.append(have[0])
            have = next(current, (_END.user_id, None))
        else:
            if want.display != have[1]:
                batch.relabelled.append(want)
            want, have = next(wanted, _END), next(current, (_END.user_id, None))
        if len(batch) >= BATCH:
            changed = changed or bool(batch.added or batch.removed)
            _write(session, team, batch, source, actor)
            batch = _Batch()
    if len(batch):
        changed = changed or bool(batch.added or batch.removed)
        _write(session, team, batch, source, actor)
    session.flush()
    return changed


def _sorted_members(members: Iterable[MemberRecord]) -> list[MemberRecord]:
    """A request's members in id order; a repeated id keeps its last label."""
    by_id = {member.user_id: member for member in members}
    return [by_id[user_id] for user_id in sorted(by_id)]


def create_team(
    session: Session, *, workspace_id: int, team: TeamRecord, source: UserSource, actor: Actor
) -> Team:
    team = _clean_team(team)
    now = utcnow()
    row = Tenant(session, workspace_id).add(
        Team(
            display_name=team.display_name,
            display_name_key=team.display_name.lower(),
            external_id=team.external_id,
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.TEAM_CREATED,
        target=f"team:{row.id}",
        details={"name": row.display_name, "source": source.value},
        request_id=actor.request_id,
    )
    if team.members:
        _replace_members(session, row, _sorted_members(team.members), source, actor)
    return row


def update_team(
    session: Session,
    *,
    workspace_id: int,
    team_id: int,
    team: TeamRecord,
    source: UserSource,
    actor: Actor,
) -> Team:
    """Rename a team and, when the record lists members, make the membership exactly that."""
    team = _clean_team(team)
    row = Tenant(session, workspace_id).get(Team, team_id)
    changed = []
    if row.display_name != team.display_name:
        row.display_name = team.display_name
        row.display_name_key = team.display_name.lower()
        changed.append("displayName")
    if row.external_id != team.external_id:
        row.external_id = team.external_id
        changed.append("externalId")
    if changed:
        row.updated_at = utcnow()
        session.flush()
        record(
            session,
            workspace_id=workspace_id,
            actor=actor.label,
            action=AuditAction.TEAM_UPDATED,
            target=f"team:{row.id}",
            details={"fields": changed, "source": source.value},
            request_id=actor.request_id,
        )
    if team.members is not None:
        _replace_members(session, row, _sorted_members(team.members), source, actor)
    return row


def set_team_members(
    session: Session,
    *,
    workspace_id: int,
    team_id: int,
    members: Iterable[MemberRecord],
    source: UserSource,
    actor: Actor,
) -> bool:
    """Make a team's membership exactly ``members``, which come in ascending user id order, each
    once: a CSV import streams a group of any size through here."""
    team = Tenant(session, workspace_id).get(Team, team_id)
    return _replace_members(session, team, members, source, actor)


def delete_team(
    session: Session, *, workspace_id: int, team_id: int, source: UserSource, actor: Actor
) -> None:
    """Delete a team and its memberships; the people stay."""
    tenant = Tenant(session, workspace_id)
    team = tenant.get(Team, team_id)
    session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.TEAM_DELETED,
        target=f"team:{team.id}",
        details={"name": team.display_name, "source": source.value},
        request_id=actor.request_id,
    )
    tenant.delete(team)
    session.flush()
