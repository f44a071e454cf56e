"""Reviews: a risky change a check found, opened for the app's owners to keep or revert.

After a successful check ``open_reviews`` reads what the run recorded and opens one review per
risky change made outside Bastion (a change one of Bastion's own operations explains was asked
for by an owner already, and audited then):

    a person or invitation added as business admin          → full_control (revert: remove)
    a person made business admin                             → full_control (revert: the role back)
    MANAGE (full control of an asset) given to an account    → full_control (revert: the tasks back)
    a system user added                                      → system_user  (revert: take its tasks)
    a partner business added                                 → partner      (revert: remove it)
    an asset newly shared with a partner already there       → partner_asset (revert: unshare)

A baseline check opens none: everything in it is new. The owners get one e-mail per check; an
open review older than ``review_escalation_days`` is e-mailed to the workspace admins, once
(``escalate_overdue_reviews``, from the minute tick). Keeping and reverting are in
``review_decisions.py``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import account_label, is_bastions_own
from bastion.audit import AuditAction, record
from bastion.checks.reports import owner_emails
from bastion.notify import queue_email
from bastion.storage.models import (
    Account,
    App,
    Asset,
    Change,
    CheckRun,
    Partner,
    PartnerGrant,
    Review,
    User,
)
from bastion.storage.models.enums import (
    AccountKind,
    ChangeKind,
    ReviewKind,
    ReviewState,
    RunState,
    UserStatus,
    WorkspaceRole,
)
from bastion.webhook_events import emit_event

ADMIN_ROLE = "ADMIN"
FULL_CONTROL_TASK = "MANAGE"
_REVIEWED_CHANGES = (
    ChangeKind.ACCOUNT_ADDED,
    ChangeKind.ROLE_CHANGED,
    ChangeKind.GRANT_ADDED,
    ChangeKind.GRANT_CHANGED,
    ChangeKind.PARTNER_ADDED,
)
KIND_WORDS = {
    ReviewKind.FULL_CONTROL: "New full control",
    ReviewKind.SYSTEM_USER: "New system user",
    ReviewKind.PARTNER: "New partner",
    ReviewKind.PARTNER_ASSET: "Asset shared with a partner",
}


@dataclass
class _Found:
    kind: ReviewKind
    subject_key: str
    summary: str
    undo: dict[str, Any]
    change: Change | None = None
    account_id: int | None = None
    asset_id: int | None = None
    partner_id: int | None = None


def review_link(base_url: str, review: Review) -> str:
    return f"{base_url}/apps/{review.app_id}/reviews/{review.id}"


def open_reviews(session: Session, app: App, run: CheckRun, *, base_url: str) -> list[Review]:
    """Open a review per risky change the run found; e-mail the owners once. Returns them."""
    earlier = session.scalar(
        select(
            exists().where(
                CheckRun.app_id == app.id,
                CheckRun.state == RunState.SUCCEEDED,
                CheckRun.id != run.id,
            )
        )
    )
    if not earlier:
        return []
    opened_before = set(session.scalars(select(Review.subject_key).where(Review.run_id == run.id)))
    reviews = []
    for found in _risky_changes(session, app, run):
        if found.subject_key in opened_before:
            continue
        review = Review(
            workspace_id=app.workspace_id,
            app_id=app.id,
            run_id=run.id,
            change_id=found.change.id if found.change else None,
            kind=found.kind,
            subject_key=found.subject_key,
            account_id=found.account_id,
            asset_id=found.asset_id,
            partner_id=found.partner_id,
            summary=found.summary[:500],
            outside_bastion=found.change.outside_bastion if found.change else True,
            undo=found.undo,
        )
        session.add(review)
        reviews.append(review)
    if not reviews:
        return []
    session.flush()
    for review in reviews:
        record(
            session,
            workspace_id=app.workspace_id,
            actor="system:check",
            action=AuditAction.REVIEW_OPENED,
            target=f"review:{review.id}",
            details={
                "review_id": review.id,
                "kind": review.kind.value,
                "run_id": run.id,
                "outside_bastion": review.outside_bastion,
            },
        )
        announce(session, review, "review.opened")
    _email_owners(session, app, run, reviews, base_url)
    return reviews


def _risky_changes(session: Session, app: App, run: CheckRun) -> list[_Found]:
    changes = session.scalars(
        select(Change)
        .where(
            Change.run_id == run.id,
            Change.kind.in_(_REVIEWED_CHANGES),
            Change.outside_bastion.is_(True),
        )
        .order_by(Change.id)
    ).all()
    accounts = {
        a.id: a
        for a in session.scalars(
            select(Account).where(Account.id.in_({c.account_id for c in changes if c.account_id}))
        )
    }
    found: list[_Found] = []
    new_accounts: set[int] = set()
    for change in changes:
        account = accounts.get(change.account_id) if change.account_id else None
        if change.kind == ChangeKind.PARTNER_ADDED and change.partner_id is not None:
            found.append(
                _Found(
                    ReviewKind.PARTNER,
                    f"partner:{change.partner_id}",
                    f"Partner business {change.summary}",
                    {"action": "remove_partner"},
                    change,
                    partner_id=change.partner_id,
                )
            )
            continue
        if account is None or is_bastions_own(app, account):
            continue
        label = account_label(account)
        if change.kind == ChangeKind.ACCOUNT_ADDED:
            new_accounts.add(account.id)
            if account.kind == AccountKind.SYSTEM_USER:
                found.append(
                    _Found(
                        ReviewKind.SYSTEM_USER,
                        f"account:{account.id}",
                        f"System user {label} was added ({account.app_role or 'no role'})",
                        {"action": "take_tasks"},
                        change,
                        account_id=account.id,
                    )
                )
            elif (
                account.kind in (AccountKind.PERSON, AccountKind.INVITATION)
                and account.app_role == ADMIN_ROLE
            ):
                what = "invited" if account.kind == AccountKind.INVITATION else "added"
                found.append(
                    _Found(
                        ReviewKind.FULL_CONTROL,
                        f"account:{account.id}",
                        f"{label} was {what} with full control of the business (admin)",
                        {"action": "remove"},
                        change,
                        account_id=account.id,
                    )
                )
        elif change.kind == ChangeKind.ROLE_CHANGED and account.kind == AccountKind.PERSON:
            before = (change.before or {}).get("role")
            if (change.after or {}).get("role") == ADMIN_ROLE and before != ADMIN_ROLE:
                found.append(
                    _Found(
                        ReviewKind.FULL_CONTROL,
                        f"role:{account.id}",
                        f"{label} was made a business admin (was {before or 'no role'})",
                        {"action": "role", "role": before if before == "EMPLOYEE" else "EMPLOYEE"},
                        change,
                        account_id=account.id,
                    )
                )
    found.extend(_new_full_control_grants(session, changes, accounts, new_accounts, app))
    reviewed_partners = {f.partner_id for f in found if f.partner_id is not None}
    found.extend(_new_partner_assets(session, app, run, reviewed_partners))
    return found


def _new_full_control_grants(
    session: Session,
    changes: Any,
    accounts: dict[int, Account],
    new_accounts: set[int],
    app: App,
) -> list[_Found]:
    """MANAGE given to an account the run did not find new (a new one is reviewed whole)."""
    found = []
    for change in changes:
        if change.kind not in (ChangeKind.GRANT_ADDED, ChangeKind.GRANT_CHANGED):
            continue
        account = accounts.get(change.account_id) if change.account_id else None
        if account is None or account.id in new_accounts or is_bastions_own(app, account):
            continue
        before = list((change.before or {}).get("tasks") or [])
        after = list((change.after or {}).get("tasks") or [])
        if FULL_CONTROL_TASK not in after or FULL_CONTROL_TASK in before:
            continue
        asset = session.get(Asset, change.asset_id) if change.asset_id else None
        if asset is None:
            continue
        holder = "System user" if account.kind == AccountKind.SYSTEM_USER else "Person"
        found.append(
            _Found(
                ReviewKind.FULL_CONTROL,
                f"grant:{account.id}/{asset.id}",
                f"{holder} {account_label(account)} got full control (MANAGE) of "
                f"{asset.type.value} {asset.name or asset.external_id}",
                {"action": "tasks", "asset_id": asset.id, "tasks": before},
                change,
                account_id=account.id,
                asset_id=asset.id,
            )
        )
    return found


def _new_partner_assets(
    session: Session, app: App, run: CheckRun, reviewed_partners: set[int]
) -> list[_Found]:
    """Assets this run first saw shared with a partner that was there before (the load writes
    no Change for a partner's tasks, so the run stamp on the share tells)."""
    rows = session.execute(
        select(PartnerGrant, Partner, Asset)
        .join(Partner, Partner.id == PartnerGrant.partner_id)
        .join(Asset, Asset.id == PartnerGrant.asset_id)
        .where(
            Partner.app_id == app.id,
            PartnerGrant.first_seen_run_id == run.id,
            PartnerGrant.present.is_(True),
            Partner.present.is_(True),
        )
        .order_by(PartnerGrant.id)
    ).all()
    return [
        _Found(
            ReviewKind.PARTNER_ASSET,
            f"partner_asset:{partner.id}/{asset.id}",
            f"{asset.type.value} {asset.name or asset.external_id} was shared with partner "
            f"{partner.name or partner.external_id} ({', '.join(grant.tasks) or 'no tasks'})",
            {"action": "remove_partner_access"},
            None,
            asset_id=asset.id,
            partner_id=partner.id,
        )
        for grant, partner, asset in rows
        if partner.id not in reviewed_partners
    ]


def announce(session: Session, review: Review, event: str) -> None:
    """Tell webhook receivers about a review (``review.opened`` / ``review.decided``)."""
    emit_event(
        session,
        workspace_id=review.workspace_id,
        app_id=review.app_id,
        event_type=event,
        data={
            "review_id": review.id,
            "kind": review.kind.value,
            "state": review.state.value,
            "summary": review.summary,
            "outside_bastion": review.outside_bastion,
            "account_id": review.account_id,
            "asset_id": review.asset_id,
            "partner_id": review.partner_id,
            "run_id": review.run_id,
            "operation_ids": list(review.operation_ids),
        },
    )


def _email_owners(
    session: Session, app: App, run: CheckRun, reviews: list[Review], base_url: str
) -> None:
    lines = [f"- {r.summary}: {review_link(base_url, r)}" for r in reviews]
    intro = (
        f"The check of {app.label} found {len(reviews)} risky change"
        f"{'s' if len(reviews) != 1 else ''} made outside Bastion. Keep each (with a reason) "
        "or revert it:"
    )
    queue_email(
        session,
        workspace_id=app.workspace_id,
        kind=f"reviews:{run.id}",
        recipients=owner_emails(session, app),
        subject=f"[Bastion] {app.label}: {len(reviews)} change"
        f"{'s' if len(reviews) != 1 else ''} to review",
        text=intro + "\n\n" + "\n".join(lines) + "\n",
        html=f"<p>{html.escape(intro)}</p><ul>"
        + "".join(
            f'<li>{html.escape(r.summary)}: <a href="{html.escape(review_link(base_url, r))}">'
            "review</a></li>"
            for r in reviews
        )
        + "</ul>",
    )


def admin_emails(session: Session, workspace_id: int) -> list[str]:
    emails = session.scalars(
        select(User.email).where(
            User.workspace_id == workspace_id,
            User.role == WorkspaceRole.ADMIN,
            User.status == UserStatus.ACTIVE,
            User.removed_at.is_(None),
        )
    ).all()
    return [e for e in emails if e]


def escalate_overdue_reviews(
    session: Session, *, now: datetime, after: timedelta, base_url: str
) -> int:
    """E-mail the workspace admins about each review left open longer than ``after``, once.

    ``escalated_at`` is set in the e-mail's transaction, so however often the tick runs no
    review is escalated twice; one with no admin to tell waits until there is one.
    """
    overdue = session.scalars(
        select(Review)
        .where(
            Review.state == ReviewState.OPEN,
            Review.escalated_at.is_(None),
            Review.created_at <= now - after,
        )
        .order_by(Review.id)
        .with_for_update(skip_locked=True)
    ).all()
    escalated = 0
    for review in overdue:
        app = session.get_one(App, review.app_id)
        age = (now - review.created_at).days
        link = review_link(base_url, review)
        text = (
            f"A review of {app.label} has been open for {age} days and nobody has decided it: "
            f"{review.summary}. Keep it (with a reason) or revert it: {link}"
        )
        queued = queue_email(
            session,
            workspace_id=review.workspace_id,
            kind=f"review-escalated:{review.id}",
            recipients=admin_emails(session, review.workspace_id),
            subject=f"[Bastion] {app.label}: a review has waited {age} days",
            text=text + "\n",
            html=f"<p>{html.escape(text.removesuffix(link))}"
            f'<a href="{html.escape(link)}">{html.escape(link)}</a></p>',
        )
        if queued is None:
            continue
        review.escalated_at = now
        record(
            session,
            workspace_id=review.workspace_id,
            actor="system:jobs",
            action=AuditAction.REVIEW_ESCALATED,
            target=f"review:{review.id}",
            details={"review_id": review.id, "age_days": age},
        )
        escalated += 1
    session.flush()
    return escalated
