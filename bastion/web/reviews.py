"""Reviews of risky changes on an app, and the workspace's security overview.

Routes:
    GET  /apps/{app_id}/reviews                        open reviews first, then decided ones
    GET  /apps/{app_id}/reviews/{review_id}            one review: the change, keep or revert
    POST /apps/{app_id}/reviews/{review_id}/keep       keep it, with a reason
    POST /apps/{app_id}/reviews/{review_id}/revert     queue what undoes it (force: blast radius)
    GET  /overview                                     across my apps, what needs a person

Reviews need view_people to read and manage_members to decide, as their API routes do; the
overview shows each app's lines to those who see its people.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from bastion.actions.permissions import MANAGE_MEMBERS, VIEW_PEOPLE
from bastion.actions.review_decisions import (
    decider_name,
    keep_review,
    revert_review,
    revert_words,
)
from bastion.actions.reviews import KIND_WORDS
from bastion.errors import Conflict, InvalidInput, NotFound
from bastion.overview import KINDS, security_overview
from bastion.storage.models import Account, Asset, Operation, Partner, Review, utcnow
from bastion.storage.models.enums import ReviewState
from bastion.storage.tenancy import Tenant
from bastion.web.context import (
    DB,
    Me,
    PageRoute,
    allowed,
    app_for,
    app_page,
    enqueue_operations,
    redirect,
    render,
)

router = APIRouter(route_class=PageRoute)


def _review(db: DB, me: Me, app_id: int, review_id: int) -> Review:
    review = Tenant(db, me.workspace_id).get(Review, review_id)
    if review.app_id != app_id:
        raise NotFound(f"Review {review_id} not found")
    return review


@router.get("/apps/{app_id}/reviews")
def reviews_tab(request: Request, db: DB, me: Me, app_id: int) -> Response:
    app = app_for(db, me, app_id, VIEW_PEOPLE)
    rows = Tenant(db, me.workspace_id).all(Review, Review.app_id == app.id)
    rows = sorted(rows, key=lambda r: (r.state != ReviewState.OPEN, -r.id))
    return render(
        request,
        "reviews/list.html",
        {
            **app_page(db, me, app, "reviews"),
            "open": [r for r in rows if r.state == ReviewState.OPEN],
            "decided": [r for r in rows if r.state != ReviewState.OPEN][:100],
            "kind_words": KIND_WORDS,
        },
        me=me,
    )


@router.get("/apps/{app_id}/reviews/{review_id}")
def review_page(request: Request, db: DB, me: Me, app_id: int, review_id: int) -> Response:
    app = app_for(db, me, app_id, VIEW_PEOPLE)
    review = _review(db, me, app.id, review_id)
    return render(
        request,
        "reviews/review.html",
        {
            **app_page(db, me, app, "reviews"),
            "review": review,
            "kind_words": KIND_WORDS,
            "revert_does": revert_words(review),
            "account": db.get(Account, review.account_id) if review.account_id else None,
            "asset": db.get(Asset, review.asset_id) if review.asset_id else None,
            "partner": db.get(Partner, review.partner_id) if review.partner_id else None,
            "operations": [db.get(Operation, i) for i in review.operation_ids],
            "decider": decider_name(db, review),
            "can_decide": allowed(db, me, app, MANAGE_MEMBERS),
        },
        me=me,
    )


@router.post("/apps/{app_id}/reviews/{review_id}/keep")
def review_keep(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    review_id: int,
    reason: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    review = _review(db, me, app.id, review_id)
    page = f"/apps/{app.id}/reviews/{review.id}"
    try:
        keep_review(
            db, workspace_id=me.workspace_id, review_id=review.id, reason=reason, actor=me.actor
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return redirect(request, page, exc.message, "error")
    db.commit()
    return redirect(request, page, "Kept. The reason is in the review and the audit log.")


@router.post("/apps/{app_id}/reviews/{review_id}/revert")
def review_revert(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    review_id: int,
    force: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    review = _review(db, me, app.id, review_id)
    page = f"/apps/{app.id}/reviews/{review.id}"
    try:
        operations = revert_review(
            db,
            workspace_id=me.workspace_id,
            review_id=review.id,
            actor=me.actor,
            force=force == "on",
        )
    except Conflict as exc:
        db.rollback()
        return redirect(request, page, exc.message, "error")
    db.commit()
    count = enqueue_operations(request, operations)
    return redirect(
        request,
        page,
        f"Reverting: {count} operation{'s' if count != 1 else ''} queued. Progress shows below.",
    )


@router.get("/overview")
def overview_page(request: Request, db: DB, me: Me) -> Response:
    items = security_overview(db, workspace_id=me.workspace_id, actor=me.actor, now=utcnow())
    groups = [(kind, title, [i for i in items if i.kind == kind]) for kind, title in KINDS.items()]
    return render(
        request,
        "reviews/overview.html",
        {"section": "overview", "groups": groups, "total": len(items)},
        me=me,
    )
