"""My accounts: for any signed-in person, the app accounts matched to them and their status.

Routes:
    GET /me/accounts    every present account matched to me, per app, with role and state
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from bastion.storage.models import Account, App, AppMember
from bastion.web.context import DB, Me, PageRoute, render
from bastion.web.reads import holdings_by_account

router = APIRouter(route_class=PageRoute)


@router.get("/me/accounts")
def my_accounts(request: Request, db: DB, me: Me) -> Response:
    rows = list(
        db.execute(
            select(Account, App, AppMember)
            .join(App, App.id == Account.app_id)
            .outerjoin(
                AppMember,
                (AppMember.app_id == App.id) & (AppMember.user_id == me.user.id),
            )
            .where(
                Account.workspace_id == me.workspace_id,
                Account.matched_user_id == me.user.id,
                Account.present.is_(True),
                App.disconnected_at.is_(None),
            )
            .order_by(App.label, Account.name)
        )
    )
    return render(
        request,
        "me.html",
        {
            "section": "me",
            "rows": rows,
            "holdings": holdings_by_account(db, [account.id for account, _a, _m in rows]),
        },
        me=me,
    )
