"""Activity: the workspace's audit log, filtered, paged, and exported as CSV.

Routes:
    GET /activity        events, newest first; filters: action, actor, target, app, since date
    GET /activity.csv    the same filtered events as a CSV file (up to 100,000 rows)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from bastion.audit import AuditAction
from bastion.storage.models import AuditEvent, User
from bastion.web.context import DB, Me, PageRoute, render, require_admin
from bastion.web.reads import user_names

router = APIRouter(route_class=PageRoute)
PER_PAGE = 50
CSV_LIMIT = 100_000


def _query(
    workspace_id: int, action: str, actor: str, target: str, since: str
) -> Select[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if action:
        query = query.where(
            AuditEvent.action == action if "." in action else AuditEvent.action.startswith(action)
        )
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if target:
        query = query.where(
            or_(AuditEvent.target == target, AuditEvent.target.startswith(target + ":"))
        )
    if since:
        try:
            day = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            day = None
        if day is not None:
            query = query.where(AuditEvent.occurred_at >= day)
    return query


def actor_label(actor: str, people: dict[int, User]) -> str:
    kind, _, ident = actor.partition(":")
    if kind == "user" and ident.isdigit() and int(ident) in people:
        person = people[int(ident)]
        return person.display_name or person.email or actor
    if kind == "system":
        return f"Bastion ({ident})"
    return actor


def _people(db: Session, events: list[AuditEvent]) -> dict[int, User]:
    ids: set[int | None] = set()
    for event in events:
        kind, _, ident = event.actor.partition(":")
        if kind == "user" and ident.isdigit():
            ids.add(int(ident))
    return user_names(db, ids)


@router.get("/activity")
def activity(
    request: Request,
    db: DB,
    me: Me,
    action: str = "",
    actor: str = "",
    target: str = "",
    since: str = "",
    page: int = 1,
) -> Response:
    require_admin(db, me)
    page = max(1, min(page, 10_000))
    events = list(
        db.scalars(
            _query(me.workspace_id, action, actor, target, since)
            .order_by(AuditEvent.seq.desc())
            .limit(PER_PAGE + 1)
            .offset((page - 1) * PER_PAGE)
        )
    )
    more = len(events) > PER_PAGE
    events = events[:PER_PAGE]
    filters = {"action": action, "actor": actor, "target": target, "since": since}
    return render(
        request,
        "activity.html",
        {
            "section": "activity",
            "events": events,
            "people": _people(db, events),
            "actor_label": actor_label,
            "filters": filters,
            "page": page,
            "more": more,
            "actions": sorted({a.value.split(".")[0] for a in AuditAction})
            + sorted(a.value for a in AuditAction),
            "details": _details,
        },
        me=me,
    )


def _details(details: dict[str, Any]) -> str:
    return ", ".join(
        f"{key}: {json.dumps(value) if isinstance(value, dict | list) else value}"
        for key, value in details.items()
        if value not in (None, "", [], {})
    )


@router.get("/activity.csv")
def activity_csv(
    db: DB, me: Me, action: str = "", actor: str = "", target: str = "", since: str = ""
) -> Response:
    require_admin(db, me)
    rows = list(
        db.scalars(
            _query(me.workspace_id, action, actor, target, since)
            .order_by(AuditEvent.seq.desc())
            .limit(CSV_LIMIT)
        )
    )
    people = _people(db, rows)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            [
                "seq",
                "time_utc",
                "actor",
                "actor_name",
                "action",
                "target",
                "details",
                "request_id",
                "hash",
            ]
        )
        for event in rows:
            writer.writerow(
                [
                    event.seq,
                    event.occurred_at.isoformat(),
                    event.actor,
                    actor_label(event.actor, people),
                    event.action,
                    event.target or "",
                    json.dumps(event.details, sort_keys=True),
                    event.request_id or "",
                    event.hash,
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="bastion-activity-{stamp}.csv"'},
    )
