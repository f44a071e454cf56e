"""App accounts: listing, searching and exporting.

    GET /api/v1/apps/{app_id}/accounts             filter (state, kind, role, q), sort, cursor
    GET /api/v1/apps/{app_id}/accounts/export.csv  the same filters, every row, as CSV
    GET /api/v1/accounts/{account_id}              one account
    GET /api/v1/me/accounts                        the caller's accounts across apps, each with
                                                   its status and next step (the All accounts page)
                                                   and whether its profile is connected
    GET /api/v1/directory/users/{user_id}/accounts the same for one person (read_directory; an
                                                   owner gets only the apps they own)

Owners and admins see every account; everyone else sees only the accounts matched to them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from bastion.account_cards import AccountCard, CardStatus, account_cards, person_for_cards
from bastion.account_status import account_statuses
from bastion.actions.permissions import VIEW_APP, require, sees_every_account
from bastion.api.auth import DB, CurrentPrincipal, Principal
from bastion.api.common import (
    Cursor,
    PathId,
    app_for,
    decode_cursor,
    encode_cursor,
    like_pattern,
)
from bastion.api.errors import READ_ERRORS
from bastion.api.schemas import AccountOut
from bastion.errors import NotFound
from bastion.storage.models import Account, App, User
from bastion.storage.models.enums import AccountKind, AccountState
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["accounts"])

Sort = Literal["name", "-name", "email", "-email", "id", "-id"]
_SORT_COLUMNS: dict[str, Any] = {
    "name": func.lower(Account.name),
    "email": func.coalesce(Account.email_key, ""),
    "id": Account.id,
}


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None


class HeldAssetOut(BaseModel):
    id: int
    name: str
    type: str
    tasks: list[str]


class AccountCardOut(BaseModel):
    """One card of the All accounts page: the account, its app, and what to do next."""

    account: AccountOut
    app_id: int
    app_label: str
    app_kind: str
    login_method: str
    bastion_role: str | None
    onboarding_status: str | None
    status: CardStatus
    next_step: str
    # The person's own profile, connected through the app's login (never any token).
    profile_connected: bool
    profile_name: str | None
    assets: list[HeldAssetOut]

    @classmethod
    def of(cls, card: AccountCard) -> AccountCardOut:
        return cls(
            account=AccountOut.of(card.account),
            app_id=card.app.id,
            app_label=card.app.label,
            app_kind=card.app.kind.value,
            login_method=card.app.login_method.value,
            bastion_role=card.member.role.value if card.member else None,
            onboarding_status=card.member.onboarding_status.value if card.member else None,
            status=card.status,
            next_step=card.next_step,
            profile_connected=card.profile_connected,
            profile_name=card.account.profile_name if card.profile_connected else None,
            assets=[
                HeldAssetOut(id=asset.id, name=asset.name, type=asset.type.value, tasks=tasks)
                for asset, tasks in card.holdings
            ],
        )


def _filtered(
    session: Session,
    principal: Principal,
    app: App,
    *,
    state: AccountState | None,
    kind: AccountKind | None,
    role: str | None,
    q: str | None,
) -> Select[Account]:
    query = select(Account).where(
        Account.workspace_id == principal.workspace_id,
        Account.app_id == app.id,
        Account.present.is_(True),
    )
    if not sees_every_account(session, user=principal.user, app=app):
        query = query.where(Account.matched_user_id == principal.user.id)
    if state is not None:
        query = query.where(Account.state == state)
    if kind is not None:
        query = query.where(Account.kind == kind)
    if role:
        query = query.where(func.upper(Account.app_role) == role.strip().upper())
    if q and q.strip():
        pattern = like_pattern(q)
        query = query.where(
            or_(
                func.lower(Account.name).like(pattern, escape="\\"),
                Account.email_key.like(pattern, escape="\\"),
            )
        )
    return query


def _sorted(query: Select[Account], sort: str) -> tuple[Select[Account], Any, bool]:
    descending = sort.startswith("-")
    column = _SORT_COLUMNS[sort.lstrip("-")]
    if column is Account.id:
        order = [Account.id.desc() if descending else Account.id]
    else:
        order = [column.desc(), Account.id.desc()] if descending else [column, Account.id]
    return query.order_by(*order), column, descending


def _sort_value(account: Account, sort: str) -> Any:
    key = sort.lstrip("-")
    if key == "name":
        return account.name.lower()
    if key == "email":
        return account.email_key or ""
    return account.id


@router.get("/apps/{app_id}/accounts", responses=READ_ERRORS)
def list_accounts(
    app_id: PathId,
    session: DB,
    principal: CurrentPrincipal,
    state: AccountState | None = None,
    kind: AccountKind | None = None,
    role: str | None = Query(None, max_length=64, description="App role, e.g. ADMIN"),
    q: str | None = Query(None, max_length=200, description="Text in the name or e-mail"),
    sort: Sort = "name",
    cursor: Cursor = None,
    limit: int = Query(50, ge=1, le=500),
) -> AccountPage:
    app = app_for(session, principal, app_id, VIEW_APP)
    query = _filtered(session, principal, app, state=state, kind=kind, role=role, q=q)
    query, column, descending = _sorted(query, sort)
    if cursor:
        if column is Account.id:
            (last_id,) = decode_cursor(cursor, 1)
            value = None
        else:
            value, last_id = decode_cursor(cursor, 2)
        if not isinstance(last_id, int):
            last_id = 0
        if column is Account.id:
            query = query.where(Account.id < last_id if descending else Account.id > last_id)
        else:
            value = str(value)
            after = (
                or_(column < value, and_(column == value, Account.id < last_id))
                if descending
                else or_(column > value, and_(column == value, Account.id > last_id))
            )
            query = query.where(after)
    rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        keys = [last.id] if column is Account.id else [_sort_value(last, sort), last.id]
        next_cursor = encode_cursor(keys)
    return AccountPage(items=[AccountOut.of(a) for a in rows], next_cursor=next_cursor)


# "status" is what the Members tab says of the account (an unmatched one's reason, a member's
# onboarding), in the same words (bastion/account_status.py).
CSV_COLUMNS = (
    "id",
    "kind",
    "name",
    "email",
    "app_role",
    "state",
    "matched_user",
    "exemption",
    "status",
)


@router.get(
    "/apps/{app_id}/accounts/export.csv",
    responses={**READ_ERRORS, 200: {"content": {"text/csv": {}}, "description": "CSV"}},
    response_class=StreamingResponse,
)
def export_accounts(
    app_id: PathId,
    session: DB,
    principal: CurrentPrincipal,
    state: AccountState | None = None,
    kind: AccountKind | None = None,
    role: str | None = Query(None, max_length=64),
    q: str | None = Query(None, max_length=200),
    sort: Sort = "name",
) -> StreamingResponse:
    app = app_for(session, principal, app_id, VIEW_APP)
    query, _column, _desc = _sorted(
        _filtered(session, principal, app, state=state, kind=kind, role=role, q=q), sort
    )
    rows = session.execute(
        query.add_columns(User.email).outerjoin(User, User.id == Account.matched_user_id)
    ).all()
    statuses = account_statuses(session, app.workspace_id, app.id, [a for a, _ in rows])

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for account, user_email in rows:
            writer.writerow(
                [
                    account.id,
                    account.kind.value,
                    _csv_safe(account.name),
                    _csv_safe(account.email or ""),
                    account.app_role or "",
                    account.state.value,
                    _csv_safe(user_email or ""),
                    _csv_safe(account.exemption_reason or ""),
                    _csv_safe(statuses[account.id]),
                ]
            )
        yield buffer.getvalue()

    filename = f"accounts-app-{app.id}.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; a leading quote stops that."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


@router.get("/accounts/{account_id}", responses=READ_ERRORS)
def get_account(account_id: PathId, session: DB, principal: CurrentPrincipal) -> AccountOut:
    tenant = Tenant(session, principal.workspace_id)
    account = tenant.get(Account, account_id)
    app = tenant.get(App, account.app_id)
    require(session, actor=principal.actor, app=app, action=VIEW_APP)
    if account.matched_user_id != principal.user.id and not sees_every_account(
        session, user=principal.user, app=app
    ):
        raise NotFound(f"Account {account_id} not found")
    return AccountOut.of(account)


@router.get("/me/accounts", responses=READ_ERRORS)
def my_accounts(session: DB, principal: CurrentPrincipal) -> list[AccountCardOut]:
    cards = account_cards(
        session, actor=principal.actor, viewer=principal.user, person=principal.user
    )
    return [AccountCardOut.of(card) for card in cards]


@router.get("/directory/users/{user_id}/accounts", responses=READ_ERRORS)
def person_accounts(
    user_id: PathId, session: DB, principal: CurrentPrincipal
) -> list[AccountCardOut]:
    person = person_for_cards(
        session, actor=principal.actor, viewer=principal.user, person_id=user_id
    )
    cards = account_cards(session, actor=principal.actor, viewer=principal.user, person=person)
    return [AccountCardOut.of(card) for card in cards]
