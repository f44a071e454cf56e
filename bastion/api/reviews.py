"""Reviews of risky changes, and the security overview.

GET  /api/v1/apps/{app_id}/reviews          an app's reviews, newest first, optionally by state
GET  /api/v1/reviews/{review_id}            one review
POST /api/v1/reviews/{review_id}/decision   keep it (with a reason) or revert it
GET  /api/v1/overview                       across the caller's apps, what needs a person
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from bastion.actions.permissions import VIEW_PEOPLE
from bastion.actions.review_decisions import keep_review, revert_review, revert_words
from bastion.api.auth import DB, CurrentPrincipal
from bastion.api.common import NOT_BLANK, PathId, app_for, enqueue_operations
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS
from bastion.errors import InvalidInput
from bastion.overview import KINDS, security_overview
from bastion.storage.models import Review, utcnow
from bastion.storage.models.enums import ReviewState
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["reviews"])


class ReviewOut(BaseModel):
    id: int
    app_id: int
    run_id: int | None
    kind: str
    state: str
    summary: str
    outside_bastion: bool
    account_id: int | None
    asset_id: int | None
    partner_id: int | None
    revert_does: str = Field(description="What reverting queues; empty when it cannot be undone")
    created_at: datetime
    escalated_at: datetime | None
    decided_at: datetime | None
    decided_by_user_id: int | None
    reason: str | None
    operation_ids: list[int]

    @classmethod
    def of(cls, r: Review) -> ReviewOut:
        return cls(
            id=r.id,
            app_id=r.app_id,
            run_id=r.run_id,
            kind=r.kind.value,
            state=r.state.value,
            summary=r.summary,
            outside_bastion=r.outside_bastion,
            account_id=r.account_id,
            asset_id=r.asset_id,
            partner_id=r.partner_id,
            revert_does=revert_words(r),
            created_at=r.created_at,
            escalated_at=r.escalated_at,
            decided_at=r.decided_at,
            decided_by_user_id=r.decided_by_id,
            reason=r.reason,
            operation_ids=list(r.operation_ids),
        )


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["keep", "revert"]
    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        pattern=NOT_BLANK,
        description="Why the change may stay: needed to keep",
    )
    force: StrictBool = Field(
        default=False,
        description="Revert even if it leaves an asset with nobody in full control",
    )


class OverviewItemOut(BaseModel):
    kind: str
    kind_title: str
    app_id: int
    app_label: str
    title: str
    detail: str
    link: str = Field(description="The page where it is fixed (a path of the web interface)")
    since: datetime | None


class OverviewOut(BaseModel):
    counts: dict[str, int]
    items: list[OverviewItemOut]


@router.get("/apps/{app_id}/reviews", responses=READ_ERRORS)
def list_reviews(
    app_id: PathId,
    session: DB,
    principal: CurrentPrincipal,
    state: Annotated[ReviewState | None, Query()] = None,
) -> list[ReviewOut]:
    app = app_for(session, principal, app_id, VIEW_PEOPLE)
    where = [Review.app_id == app.id]
    if state is not None:
        where.append(Review.state == state)
    rows = Tenant(session, principal.workspace_id).all(Review, *where)
    return [ReviewOut.of(r) for r in sorted(rows, key=lambda r: -r.id)]


@router.get("/reviews/{review_id}", responses=READ_ERRORS)
def get_review(review_id: PathId, session: DB, principal: CurrentPrincipal) -> ReviewOut:
    review = Tenant(session, principal.workspace_id).get(Review, review_id)
    app_for(session, principal, review.app_id, VIEW_PEOPLE)
    return ReviewOut.of(review)


@router.post("/reviews/{review_id}/decision", responses=WRITE_ERRORS)
def decide(
    review_id: PathId,
    body: DecisionIn,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
) -> ReviewOut:
    if body.decision == "keep":
        if body.force:
            raise InvalidInput("force", "applies to revert only")
        review = keep_review(
            session,
            workspace_id=principal.workspace_id,
            review_id=review_id,
            reason=body.reason or "",
            actor=principal.actor,
        )
        session.commit()
        return ReviewOut.of(review)
    operations = revert_review(
        session,
        workspace_id=principal.workspace_id,
        review_id=review_id,
        actor=principal.actor,
        force=body.force,
        reason=body.reason,
    )
    session.commit()
    enqueue_operations(request, [o.id for o in operations])
    return ReviewOut.of(Tenant(session, principal.workspace_id).get(Review, review_id))


@router.get("/overview", responses=READ_ERRORS)
def overview(session: DB, principal: CurrentPrincipal) -> OverviewOut:
    items = security_overview(
        session, workspace_id=principal.workspace_id, actor=principal.actor, now=utcnow()
    )
    counts = {kind: 0 for kind in KINDS}
    for item in items:
        counts[item.kind] += 1
    return OverviewOut(
        counts=counts,
        items=[
            OverviewItemOut(
                kind=i.kind,
                kind_title=KINDS[i.kind],
                app_id=i.app_id,
                app_label=i.app_label,
                title=i.title,
                detail=i.detail,
                link=i.link,
                since=i.since,
            )
            for i in items
        ],
    )
