"""The Members table as one paged query: a tab, a search, a sort, 50 rows at a time.

Counting and paging run in SQL on the ``(app_id, state)`` index; per-row extras (asset counts,
matched person, Bastion role, last seen) are fetched for the page's rows only, so the page costs
the same at 100 or 10,000 accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bastion.account_status import unmatched_reasons
from bastion.errors import NotFound
from bastion.storage.models import Account, App, AppMember, CheckRun, Grant, User
from bastion.storage.models.enums import AccountState, OnboardingStatus

PER_PAGE = 50
TABS = (
    ("onboarded", "Onboarded"),
    ("unmatched", "Unmatched"),
    ("guest", "Guest users"),
    ("exempted", "Exempted"),
    ("system_user", "System users"),
    # A partner's people nobody of ours vouches for, each under its partner.
    ("partner", "Partners' people"),
)
SORTS = ("name", "email", "role", "assets", "last_seen")


@dataclass(frozen=True)
class MemberQuery:
    tab: str = "onboarded"
    q: str = ""
    sort: str = "name"
    desc: bool = False
    page: int = 1

    @classmethod
    def clean(cls, tab: str, q: str, sort: str, order: str, page: int) -> MemberQuery:
        if tab not in {key for key, _ in TABS}:
            # A mistyped tab is not quietly another one (a link would show the wrong people).
            names = ", ".join(key for key, _ in TABS)
            raise NotFound(f"Members has no tab {tab[:40]!r}; its tabs are {names}.")
        return cls(
            tab=tab,
            q=q.strip()[:100],
            sort=sort if sort in SORTS else "name",
            desc=order == "desc",
            page=max(1, min(page, 100_000)),
        )

    def url(self, app_id: int, **changes: Any) -> str:
        values = {
            "tab": self.tab,
            "q": self.q,
            "sort": self.sort,
            "order": "desc" if self.desc else "asc",
            "page": self.page,
            **changes,
        }
        from urllib.parse import urlencode

        return f"/apps/{app_id}/members?{urlencode(values)}"


@dataclass(frozen=True)
class MemberRow:
    account: Account
    assets: int
    person: User | None
    bastion_role: str | None
    onboarding: OnboardingStatus | None
    last_seen: datetime | None
    why: str | None = None  # an unmatched account's reason


@dataclass(frozen=True)
class MemberPage:
    rows: list[MemberRow]
    total: int
    counts: dict[str, int]
    pages: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def member_page(
    session: Session, app_id: int, query: MemberQuery, *, only_user_id: int | None = None
) -> MemberPage:
    """One page of a tab; ``only_user_id`` limits the table to that person's own accounts."""
    base = [Account.app_id == app_id, Account.present.is_(True)]
    if only_user_id is not None:
        base.append(Account.matched_user_id == only_user_id)
    counts = {key: 0 for key, _ in TABS}
    for state, count in session.execute(
        select(Account.state, func.count()).where(*base).group_by(Account.state)
    ):
        counts[state.value] = count
    where = [*base, Account.state == AccountState(query.tab)]
    if query.q:
        pattern = f"%{_escape_like(query.q.lower())}%"
        where.append(
            or_(
                func.lower(Account.name).like(pattern, escape="\\"),
                Account.email_key.like(pattern, escape="\\"),
            )
        )
    total = (
        counts[query.tab]
        if not query.q
        else int(session.scalar(select(func.count()).select_from(Account).where(*where)) or 0)
    )
    assets = (
        select(func.count())
        .where(Grant.account_id == Account.id, Grant.present.is_(True))
        .correlate(Account)
        .scalar_subquery()
    )
    order_column: Any = {
        "name": func.lower(Account.name),
        "email": Account.email_key,
        "role": Account.app_role,
        "assets": assets,
        "last_seen": Account.last_seen_run_id,
    }[query.sort]
    ordering = [order_column.desc() if query.desc else order_column.asc(), Account.id]
    pages = max(1, -(-total // PER_PAGE))
    page = min(query.page, pages)
    accounts = list(
        session.scalars(
            select(Account)
            .where(*where)
            .order_by(*ordering)
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        )
    )
    return MemberPage(_rows(session, app_id, accounts), total, counts, pages)


def _rows(session: Session, app_id: int, accounts: list[Account]) -> list[MemberRow]:
    ids = [a.id for a in accounts]
    if not ids:
        return []
    workspace_id = session.get_one(App, app_id).workspace_id
    reasons = unmatched_reasons(session, workspace_id, accounts)
    asset_counts = dict(
        session.execute(
            select(Grant.account_id, func.count())
            .where(Grant.account_id.in_(ids), Grant.present.is_(True))
            .group_by(Grant.account_id)
        ).all()
    )
    user_ids = {a.matched_user_id for a in accounts if a.matched_user_id is not None}
    people = (
        {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    members = (
        {
            m.user_id: m
            for m in session.scalars(
                select(AppMember).where(AppMember.app_id == app_id, AppMember.user_id.in_(user_ids))
            )
        }
        if user_ids
        else {}
    )
    run_ids = {a.last_seen_run_id for a in accounts if a.last_seen_run_id is not None}
    seen = (
        dict(
            session.execute(
                select(CheckRun.id, CheckRun.started_at).where(CheckRun.id.in_(run_ids))
            ).all()
        )
        if run_ids
        else {}
    )
    rows = []
    for account in accounts:
        member = members.get(account.matched_user_id or -1)
        rows.append(
            MemberRow(
                account=account,
                assets=asset_counts.get(account.id, 0),
                person=people.get(account.matched_user_id or -1),
                bastion_role=member.role.value if member else None,
                onboarding=member.onboarding_status if member else None,
                last_seen=seen.get(account.last_seen_run_id or -1),
                why=reasons.get(account.id),
            )
        )
    return rows


def directory_candidates(session: Session, workspace_id: int, q: str, limit: int = 8) -> list[User]:
    """Active directory people whose name or e-mail contains ``q`` (the match dialog's search)."""
    pattern = f"%{_escape_like(q.strip().lower())}%"
    return list(
        session.scalars(
            select(User)
            .where(
                User.workspace_id == workspace_id,
                User.status == "active",
                User.removed_at.is_(None),
                or_(
                    func.lower(User.display_name).like(pattern, escape="\\"),
                    User.email_key.like(pattern, escape="\\"),
                ),
            )
            .order_by(func.lower(User.display_name))
            .limit(limit)
        )
    )
