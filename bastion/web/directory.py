"""The directory: people and teams, SCIM tokens, and CSV import with a preview.

Routes:
    GET  /directory                       people with status and source (search, filter, pages)
    GET  /directory/people/{user_id}      one person, and their All accounts cards (an owner sees
                                          only the cards of the apps they own)
    GET  /directory/teams                 teams and their member counts
    GET  /directory/tokens                SCIM tokens
    POST /directory/tokens                create one (the token is shown once, on this answer)
    POST /directory/tokens/{id}/revoke    revoke one
    GET  /directory/import                the CSV upload form
    POST /directory/import                preview what the file would change (writes nothing)
    POST /directory/import/apply          import it (the file travels back in the form)
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import func, or_, select

from bastion.account_cards import account_cards, person_for_cards
from bastion.actions.permissions import READ_DIRECTORY, require
from bastion.actions.tokens import create_token, revoke_token
from bastion.directory.csv_import import Change, DirectoryImport
from bastion.storage.models import ApiToken, Team, TeamMember, User
from bastion.storage.models.enums import TokenKind, UserStatus
from bastion.web.context import (
    DB,
    Me,
    PageRoute,
    redirect,
    render,
    require_admin,
    runtime_of,
)
from bastion.web.member_table import _escape_like
from bastion.web.reads import user_names

router = APIRouter(route_class=PageRoute)
PER_PAGE = 50
MAX_CSV_BYTES = 5 * 1024 * 1024
SHOWN_ERRORS, SHOWN_CHANGES = 20, 500
DONE = {
    Change.CREATE: "created",
    Change.UPDATE: "updated",
    Change.DEPROVISION: "deprovisioned",
    Change.REACTIVATE: "reactivated",
}


@router.get("/directory")
def people(
    request: Request, db: DB, me: Me, q: str = "", status: str = "", page: int = 1
) -> Response:
    require(db, actor=me.actor, app=None, action=READ_DIRECTORY)
    where = [User.workspace_id == me.workspace_id, User.removed_at.is_(None)]
    if status in {s.value for s in UserStatus}:
        where.append(User.status == UserStatus(status))
    if q.strip():
        pattern = f"%{_escape_like(q.strip().lower())}%"
        where.append(
            or_(
                func.lower(User.display_name).like(pattern, escape="\\"),
                User.email_key.like(pattern, escape="\\"),
            )
        )
    total = int(db.scalar(select(func.count()).select_from(User).where(*where)) or 0)
    pages = max(1, -(-total // PER_PAGE))
    page = max(1, min(page, pages))
    users = list(
        db.scalars(
            select(User)
            .where(*where)
            .order_by(func.lower(User.display_name), User.id)
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        )
    )
    return render(
        request,
        "directory/people.html",
        {
            "section": "directory",
            "sub": "people",
            "users": users,
            "q": q,
            "status": status,
            "page": page,
            "pages": pages,
            "total": total,
        },
        me=me,
    )


@router.get("/directory/people/{user_id}")
def person(request: Request, db: DB, me: Me, user_id: int) -> Response:
    """Read-only: the cards as the person sees them, without their Log in button."""
    found = person_for_cards(db, actor=me.actor, viewer=me.user, person_id=user_id)
    cards = account_cards(db, actor=me.actor, viewer=me.user, person=found)
    return render(
        request,
        "directory/person.html",
        {"section": "directory", "sub": "people", "person": found, "cards": cards},
        me=me,
    )


@router.get("/directory/teams")
def teams(request: Request, db: DB, me: Me) -> Response:
    require(db, actor=me.actor, app=None, action=READ_DIRECTORY)
    rows = db.execute(
        select(Team, func.count(TeamMember.user_id))
        .outerjoin(TeamMember, TeamMember.team_id == Team.id)
        .where(Team.workspace_id == me.workspace_id)
        .group_by(Team.id)
        .order_by(Team.display_name_key)
    ).all()
    return render(
        request,
        "directory/teams.html",
        {"section": "directory", "sub": "teams", "rows": rows},
        me=me,
    )


def _tokens_page(request: Request, db: DB, me: Me, **extra: object) -> Response:
    tokens = list(
        db.scalars(
            select(ApiToken)
            .where(ApiToken.workspace_id == me.workspace_id, ApiToken.kind == TokenKind.SCIM)
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
        )
    )
    return render(
        request,
        "directory/tokens.html",
        {
            "section": "directory",
            "sub": "tokens",
            "tokens": tokens,
            "people": user_names(db, {t.created_by_id for t in tokens}),
            "scim_url": runtime_of(request).settings.base_url + "/scim/v2",
            **extra,
        },
        me=me,
    )


@router.get("/directory/tokens")
def tokens(request: Request, db: DB, me: Me) -> Response:
    require_admin(db, me)
    return _tokens_page(request, db, me)


@router.post("/directory/tokens")
def token_create(request: Request, db: DB, me: Me, name: Annotated[str, Form()] = "") -> Response:
    """The new token is in this one answer and nowhere else (only its hash is stored)."""
    require_admin(db, me)
    new = create_token(
        db, workspace_id=me.workspace_id, kind=TokenKind.SCIM, name=name, actor=me.actor
    )
    db.commit()
    response = _tokens_page(request, db, me, new_token=new.token, new_name=new.row.name)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/directory/tokens/{token_id}/revoke")
def token_revoke(request: Request, db: DB, me: Me, token_id: int) -> Response:
    require_admin(db, me)
    row = revoke_token(db, workspace_id=me.workspace_id, token_id=token_id, actor=me.actor)
    db.commit()
    return redirect(
        request,
        "/directory/tokens",
        f"Token {row.name} is revoked; requests with it are refused from now on.",
    )


@router.get("/directory/import")
def import_form(request: Request, db: DB, me: Me) -> Response:
    require_admin(db, me)
    return render(
        request, "directory/import.html", {"section": "directory", "sub": "import"}, me=me
    )


def _plan(db: DB, me: Me, job: DirectoryImport, text: str) -> dict[str, object]:
    job.read(io.StringIO(text, newline=""))
    plan = job.plan(db, workspace_id=me.workspace_id)
    return {
        "errors": job.errors(SHOWN_ERRORS),
        "invalid": job.invalid,
        "unreadable": job.unreadable,
        "plan": plan,
        "counts": {change.value: plan.count(change) for change in Change},
        "changes": list(job.preview(SHOWN_CHANGES)),
    }


@router.post("/directory/import")
async def import_preview(request: Request, db: DB, me: Me, file: UploadFile) -> Response:
    require_admin(db, me)
    data = await file.read(MAX_CSV_BYTES + 1)
    context: dict[str, object] = {"section": "directory", "sub": "import"}
    if len(data) > MAX_CSV_BYTES:
        context["error"] = "The file is larger than 5 MB. Split it, or use SCIM."
        return render(request, "directory/import.html", context, status_code=400, me=me)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        context["error"] = "The file is not UTF-8 text. Save it as CSV UTF-8 and try again."
        return render(request, "directory/import.html", context, status_code=400, me=me)
    with DirectoryImport(runtime_of(request).settings.data_dir) as job:
        context |= _plan(db, me, job, text)
    context |= {"csv_text": text, "file_name": file.filename or "upload.csv"}
    if "\x00" in text:
        # A browser sends a NUL of the form's copy back as U+FFFD, which would then import.
        context["error"] = "The file holds NUL characters: remove them and upload it again."
        context["unreadable"] = True
        return render(request, "directory/import.html", context, status_code=400, me=me)
    return render(request, "directory/import.html", context, me=me)


@router.post("/directory/import/apply")
def import_apply(
    request: Request,
    db: DB,
    me: Me,
    csv_text: Annotated[str, Form()] = "",
    file_name: Annotated[str, Form()] = "upload.csv",
    skip_invalid: Annotated[str, Form()] = "",
) -> Response:
    require_admin(db, me)
    settings = runtime_of(request).settings
    with DirectoryImport(settings.data_dir) as job:
        job.read(io.StringIO(csv_text, newline=""))
        refused = job.unreadable is not None or "\x00" in csv_text  # as the preview says
        if refused or (job.invalid and skip_invalid != "yes"):
            return redirect(
                request, "/directory/import", "The file has errors; nothing was imported.", "error"
            )
        job.plan(db, workspace_id=me.workspace_id)
        plan = job.apply(
            db,
            workspace_id=me.workspace_id,
            actor=me.actor,
            check_delay=timedelta(minutes=settings.deprovision_check_delay_minutes),
            file_name=file_name[:200],
        )
    db.commit()
    counts = ", ".join(f"{plan.count(c)} {DONE[c]}" for c in Change if plan.count(c))
    return redirect(request, "/directory", f"Imported {file_name}: {counts or 'no change'}.")
