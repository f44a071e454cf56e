"""The audit log, for workspace admins.

GET /api/v1/audit-events               filter by actor, action, target, time; cursor
GET /api/v1/audit-events/export        the same filters, every row, as JSON Lines or CSV
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import Session

from bastion.actions.permissions import MANAGE_DIRECTORY, require
from bastion.api.auth import DB, CurrentPrincipal, Principal
from bastion.api.common import Cursor, DateTimeWithZone, decode_cursor, encode_cursor
from bastion.api.errors import READ_ERRORS
from bastion.storage.models import AuditEvent
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["audit"])


class AuditEventOut(BaseModel):
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]
    request_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


def _out(e: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        seq=e.seq,
        occurred_at=e.occurred_at,
        actor=e.actor,
        action=e.action,
        target=e.target,
        details=e.details,
        request_id=e.request_id,
    )


def _query(
    session: Session,
    principal: Principal,
    actor: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[AuditEvent]:
    require(session, actor=principal.actor, app=None, action=MANAGE_DIRECTORY)
    query = Tenant(session, principal.workspace_id).select(AuditEvent)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    if target:
        query = query.where(AuditEvent.target == target)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    return query


Text = Annotated[str | None, Query(max_length=200)]
Since = Annotated[
    DateTimeWithZone | None,
    Query(description="From this time on (RFC 3339), e.g. 2030-01-31T00:00:00Z"),
]
Until = Annotated[
    DateTimeWithZone | None,
    Query(description="Before this time (RFC 3339), e.g. 2030-02-01T00:00:00Z"),
]


@router.get("/audit-events", responses=READ_ERRORS)
def audit_events(
    session: DB,
    principal: CurrentPrincipal,
    actor: Text = None,
    action: Text = None,
    target: Text = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: int = Query(100, ge=1, le=1000),
) -> AuditPage:
    """Newest first; ``since`` and ``until`` are RFC 3339 times with their offset."""
    query = _query(session, principal, actor, action, target, since, until)
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        query = query.where(AuditEvent.seq < (before if isinstance(before, int) else 0))
    rows = list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[_out(e) for e in rows],
        next_cursor=encode_cursor([rows[-1].seq]) if more and rows else None,
    )


@router.get(
    "/audit-events/export",
    responses={
        **READ_ERRORS,
        200: {
            "content": {"application/x-ndjson": {}, "text/csv": {}},
            "description": "JSON Lines or CSV",
        },
    },
    response_class=StreamingResponse,
)
def export_audit_events(
    session: DB,
    principal: CurrentPrincipal,
    format: Literal["jsonl", "csv"] = "jsonl",
    actor: Text = None,
    action: Text = None,
    target: Text = None,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    query = _query(session, principal, actor, action, target, since, until)
    rows = [_out(e) for e in session.scalars(query.order_by(AuditEvent.seq))]

    def jsonl() -> Iterator[str]:
        for row in rows:
            yield row.model_dump_json() + "\n"

    def as_csv() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["seq", "occurred_at", "actor", "action", "target", "details"])
        for row in rows:
            writer.writerow(
                [
                    row.seq,
                    row.occurred_at.isoformat(),
                    row.actor,
                    row.action,
                    row.target or "",
                    json.dumps(row.details, sort_keys=True),
                ]
            )
        yield buffer.getvalue()

    if format == "csv":
        return StreamingResponse(
            as_csv(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="audit-events.csv"'},
        )
    return StreamingResponse(
        jsonl(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit-events.jsonl"'},
    )
