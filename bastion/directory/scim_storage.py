"""scim2-server's storage contract on Bastion's tables, for one workspace and one request.

Reads query the rows directly (scoped by ``Tenant``); every write goes through
``bastion.actions.directory``. Bastion errors become the SCIM exceptions the protocol layer
turns into RFC 7644 error bodies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Union, cast

from scim2_models import (
    InvalidValueException,
    NotFoundException,
    NotImplementedException,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimFilter,
    ScimProvider,
    SearchRequest,
    UniquenessException,
)
from scim2_server.storage import ScimStorage, SearchPage
from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.orm import Session

from bastion.actions import directory as actions
from bastion.actions import teams as team_actions
from bastion.actions.actors import Actor
from bastion.directory.scim_filters import group_filter_clause, user_filter_clause
from bastion.directory.scim_mapping import (
    group_resource,
    parse_id,
    person_from_resource,
    team_from_resource,
    user_resource,
    version_of,
)
from bastion.errors import Conflict, InvalidInput, NotFound
from bastion.storage.models import Team, TeamMember, User
from bastion.storage.models.enums import UserSource
from bastion.storage.tenancy import Tenant


@contextmanager
def scim_errors() -> Iterator[None]:
    """Bastion's errors as the SCIM errors RFC 7644 §3.12 names."""
    try:
        yield
    except Conflict as exc:
        raise UniquenessException(detail=exc.message) from exc
    except InvalidInput as exc:
        raise InvalidValueException(detail=exc.message) from exc
    except NotFound as exc:
        raise NotFoundException(detail=exc.message) from exc


def _wants_members(parameters: ResponseParameters[Any] | None) -> bool:
    """Whether a response keeps Group.members: Entra lists groups with it excluded."""
    if parameters is None:
        return True
    if parameters.attributes:
        return any("members" in str(a).lower() for a in parameters.attributes)
    excluded = parameters.excluded_attributes or []
    return not any(str(a).lower().rsplit(":", 1)[-1] == "members" for a in excluded)


class DirectoryStorage(ScimStorage):
    """The Users and Groups of one workspace, as the SCIM token's owner sees them."""

    def __init__(
        self,
        session: Session,
        *,
        provider: ScimProvider,
        workspace_id: int,
        actor: Actor,
        check_delay: timedelta,
    ) -> None:
        self.session = session
        self.user_model = cast(type[Resource[Any]], provider.model_for("User"))
        self.group_model = cast(type[Resource[Any]], provider.model_for("Group"))
        self.tenant = Tenant(session, workspace_id)
        self.actor = actor
        self.check_delay = check_delay

    # -- reading ------------------------------------------------------------------------------

    def _user_row(self, resource_id: str) -> User:
        user_id = parse_id(resource_id)
        user = None if user_id is None else self.session.get(User, user_id)
        if user is None or user.workspace_id != self.tenant.workspace_id or user.removed_at:
            raise NotFoundException(detail=f"User {resource_id} not found")
        return user

    def _team_row(self, resource_id: str) -> Team:
        team_id = parse_id(resource_id)
        team = None if team_id is None else self.session.get(Team, team_id)
        if team is None or team.workspace_id != self.tenant.workspace_id:
            raise NotFoundException(detail=f"Group {resource_id} not found")
        return team

    def _groups_of(self, user_ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
        groups: dict[int, list[tuple[int, str]]] = {user_id: [] for user_id in user_ids}
        if not user_ids:
            return groups
        rows = self.session.execute(
            select(TeamMember.user_id, Team.id, Team.display_name)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.workspace_id == self.tenant.workspace_id)
            .where(TeamMember.user_id.in_(user_ids))
            .order_by(Team.id)
        )
        for user_id, team_id, name in rows:
            groups[user_id].append((team_id, name))
        return groups

    def _members_of(self, team_ids: Sequence[int]) -> dict[int, list[tuple[int, str | None]]]:
        members: dict[int, list[tuple[int, str | None]]] = {team_id: [] for team_id in team_ids}
        if not team_ids:
            return members
        rows = self.session.execute(
            select(TeamMember.team_id, TeamMember.user_id, TeamMember.display)
            .where(TeamMember.workspace_id == self.tenant.workspace_id)
            .where(TeamMember.team_id.in_(team_ids))
            .order_by(TeamMember.user_id)
        )
        for team_id, user_id, name in rows:
            members[team_id].append((user_id, name))
        return members

    def _users(self, rows: Sequence[User]) -> list[Resource[Any]]:
        groups = self._groups_of([row.id for row in rows])
        return [user_resource(row, groups[row.id], self.user_model) for row in rows]

    def _groups(self, rows: Sequence[Team], with_members: bool) -> list[Resource[Any]]:
        members = self._members_of([row.id for row in rows]) if with_members else {}
        return [group_resource(row, members.get(row.id), self.group_model) for row in rows]

    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        if resource_type.name == "User":
            return self._users([self._user_row(resource_id)])[0]
        team = self._team_row(resource_id)
        return self._groups([team], _wants_members(response_parameters))[0]

    def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        if len(resource_types) != 1:
            raise NotImplementedException(detail="search one endpoint: /Users or /Groups")
        is_user = resource_types[0].name == "User"
        model: type[User] | type[Team] = User if is_user else Team
        criteria: list[ColumnElement[bool]] = []
        if is_user:
            criteria.append(User.removed_at.is_(None))
        scim_filter = search_request.filter
        clause: ColumnElement[bool] | None = true()
        if scim_filter is not None:
            ast = scim_filter.ast
            clause = (
                user_filter_clause(ast, self.tenant.workspace_id)
                if is_user
                else group_filter_clause(ast)
            )
        if clause is None:
            return self._search_in_python(is_user, criteria, search_request)
        query: Select[Any] = self.tenant.select(model, *criteria, clause)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        start = search_request.start_index_0 or 0
        count = search_request.count
        if count == 0:
            return SearchPage(total, [])
        # With a filter, ``id + 0`` stops SQLite from walking the whole table in id order to
        # honour ORDER BY … LIMIT instead of using the filter's index (then sorting a few rows).
        order = model.id if scim_filter is None else model.id + 0
        page = query.order_by(order).offset(start)
        if count is not None:
            page = page.limit(count)
        rows = list(self.session.scalars(page))
        if is_user:
            return SearchPage(total, self._users(rows))
        return SearchPage(total, self._groups(rows, _wants_members(search_request)))

    def _search_in_python(
        self,
        is_user: bool,
        criteria: list[ColumnElement[bool]],
        search_request: SearchRequest[Any],
    ) -> SearchPage:
        """Any other filter: evaluate it on every resource of the workspace, in id order."""
        if is_user:
            users = self.tenant.all(User, *criteria)
            resources = self._users(sorted(users, key=lambda u: u.id))
        else:
            teams = self.tenant.all(Team)
            resources = self._groups(sorted(teams, key=lambda t: t.id), True)
        scim_filter = search_request.filter
        assert scim_filter is not None
        if resources and not scim_filter.models:
            models = tuple(dict.fromkeys(type(r) for r in resources))
            scim_filter = ScimFilter[Union[models]](str(scim_filter))  # type: ignore[valid-type]  # noqa: UP007
        found = [r for r in resources if scim_filter.match(r)]
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        return SearchPage(len(found), found[start:stop])

    # -- writing ------------------------------------------------------------------------------

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        with scim_errors():
            if resource_type.name == "User":
                user = actions.create_person(
                    self.session,
                    workspace_id=self.tenant.workspace_id,
                    person=person_from_resource(resource),
                    source=UserSource.SCIM,
                    actor=self.actor,
                    check_delay=self.check_delay,
                )
                # A new person belongs to no group yet (groups are read-only on a User).
                return user_resource(user, [], self.user_model)
            team = team_actions.create_team(
                self.session,
                workspace_id=self.tenant.workspace_id,
                team=team_from_resource(resource),
                source=UserSource.SCIM,
                actor=self.actor,
            )
            return self._groups([team], True)[0]

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        resource_id = str(resource.id)
        with scim_errors():
            if resource_type.name == "User":
                user = self._user_row(resource_id)
                self._check_version(user.updated_at, expected_version)
                actions.update_person(
                    self.session,
                    workspace_id=self.tenant.workspace_id,
                    user_id=user.id,
                    person=person_from_resource(resource),
                    source=UserSource.SCIM,
                    actor=self.actor,
                    check_delay=self.check_delay,
                )
                return self._users([user])[0]
            team = self._team_row(resource_id)
            self._check_version(team.updated_at, expected_version)
            team_actions.update_team(
                self.session,
                workspace_id=self.tenant.workspace_id,
                team_id=team.id,
                team=team_from_resource(resource),
                source=UserSource.SCIM,
                actor=self.actor,
            )
            return self._groups([team], True)[0]

    def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        with scim_errors():
            if resource_type.name == "User":
                user = self._user_row(resource_id)
                self._check_version(user.updated_at, expected_version)
                actions.remove_person(
                    self.session,
                    workspace_id=self.tenant.workspace_id,
                    user_id=user.id,
                    source=UserSource.SCIM,
                    actor=self.actor,
                    check_delay=self.check_delay,
                )
                return
            team = self._team_row(resource_id)
            self._check_version(team.updated_at, expected_version)
            team_actions.delete_team(
                self.session,
                workspace_id=self.tenant.workspace_id,
                team_id=team.id,
                source=UserSource.SCIM,
                actor=self.actor,
            )

    @staticmethod
    def _check_version(updated_at: Any, expected_version: str | None) -> None:
        if expected_version is not None and version_of(updated_at) != expected_version:
            raise PreconditionFailedException(detail="the resource changed since it was read")
