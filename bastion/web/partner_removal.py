"""Removing a partner with its residue: the batch page, its confirmation, and applying it once.

Routes:
    POST /apps/{app_id}/partners/{partner_id}/removal           gather (again), then the batch
    GET  /apps/{app_id}/partners/{partner_id}/removal           the batch with a box per item
    POST /apps/{app_id}/partners/{partner_id}/removal/confirm   how many people, seats and
                                                                invitations the ticked items remove
    POST /apps/{app_id}/partners/{partner_id}/removal/apply     apply them, once the counts
                                                                confirmed are still the counts

Reading the batch needs view_people; gathering and applying need remove_partner (owners).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from bastion.actions.partner_removal import (
    RemovalPreview,
    apply_partner_removal,
    gather_partner_removal,
    latest_removal,
    preview_partner_removal,
    read_partner_removal,
)
from bastion.actions.permissions import REMOVE_PARTNER, VIEW_PEOPLE
from bastion.errors import NotFound
from bastion.storage.models import App, LocalPartner, Partner
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
from bastion.web.dialogs import dialog

router = APIRouter(route_class=PageRoute)


def _partner(db: DB, me: Me, app: App, partner_id: int) -> Partner:
    partner = Tenant(db, me.workspace_id).get(Partner, partner_id)
    if partner.app_id != app.id:
        raise NotFound(f"Partner {partner_id} not found")
    return partner


def _page_url(app_id: int, partner_id: int) -> str:
    return f"/apps/{app_id}/partners/{partner_id}/removal"


def _ids(values: list[str] | None) -> list[int]:
    return [int(v) for v in values or [] if v.isdigit()]


@router.post("/apps/{app_id}/partners/{partner_id}/removal")
def gather(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    partner_id: int,
    local_partner_id: Annotated[str, Form()] = "",
    domains: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, REMOVE_PARTNER)
    partner = _partner(db, me, app, partner_id)
    gather_partner_removal(
        db,
        workspace_id=me.workspace_id,
        app_id=app.id,
        partner_id=partner.id,
        actor=me.actor,
        local_partner_id=int(local_partner_id) if local_partner_id.isdigit() else None,
        domains=domains.replace(",", " ").split(),
    )
    db.commit()
    return redirect(request, _page_url(app.id, partner.id))


@router.get("/apps/{app_id}/partners/{partner_id}/removal")
def removal_page(request: Request, db: DB, me: Me, app_id: int, partner_id: int) -> Response:
    app = app_for(db, me, app_id, VIEW_PEOPLE)
    partner = _partner(db, me, app, partner_id)
    removal = latest_removal(db, partner.id)
    view = (
        read_partner_removal(
            db, workspace_id=me.workspace_id, removal_id=removal.id, actor=me.actor
        )
        if removal is not None
        else None
    )
    local_partners = sorted(Tenant(db, me.workspace_id).all(LocalPartner), key=lambda p: p.name_key)
    return render(
        request,
        "apps/partner_removal.html",
        {
            **app_page(db, me, app, "partners"),
            "partner": partner,
            "view": view,
            "local_partners": local_partners,
            "can_remove": allowed(db, me, app, REMOVE_PARTNER),
            "running": view is not None
            and any(row.status in ("queued", "running", "deferred") for row in view.rows),
        },
        me=me,
    )


def _preview(
    db: DB, me: Me, app: App, partner: Partner, item_ids: list[int], force: bool
) -> RemovalPreview:
    removal = latest_removal(db, partner.id)
    if removal is None:
        raise NotFound("Gather the partner's removal first")
    return preview_partner_removal(
        db,
        workspace_id=me.workspace_id,
        removal_id=removal.id,
        actor=me.actor,
        kept_item_ids=item_ids,
        force=force,
    )


def _confirm(
    request: Request, db: DB, me: Me, app: App, partner: Partner, preview: RemovalPreview
) -> Response:
    view = read_partner_removal(
        db, workspace_id=me.workspace_id, removal_id=preview.removal_id, actor=me.actor
    )
    wanted = set(preview.item_ids)
    return dialog(
        request,
        me,
        "apps/_partner_removal_confirm.html",
        {
            **app_page(db, me, app, "partners"),
            "partner": partner,
            "preview": preview,
            "rows": [row for row in view.rows if row.item.id in wanted],
        },
    )


@router.post("/apps/{app_id}/partners/{partner_id}/removal/confirm")
def confirm(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    partner_id: int,
    item_id: Annotated[list[str] | None, Form()] = None,
    force: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, REMOVE_PARTNER)
    partner = _partner(db, me, app, partner_id)
    preview = _preview(db, me, app, partner, _ids(item_id), force == "on")
    if not preview.item_ids:
        return redirect(request, _page_url(app.id, partner.id), "Nothing left to apply.", "info")
    return _confirm(request, db, me, app, partner, preview)


@router.post("/apps/{app_id}/partners/{partner_id}/removal/apply")
def apply(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    partner_id: int,
    item_id: Annotated[list[str] | None, Form()] = None,
    force: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Applies what the confirmation showed; a batch that changed since (or a post without the
    confirmation, or one that orphans an asset without force) shows the confirmation again."""
    app = app_for(db, me, app_id, REMOVE_PARTNER)
    partner = _partner(db, me, app, partner_id)
    forced = force == "on"
    preview = _preview(db, me, app, partner, _ids(item_id), forced)
    if not preview.item_ids:
        return redirect(request, _page_url(app.id, partner.id), "Nothing left to apply.", "info")
    if confirmed != preview.confirmation or (preview.orphaned_assets and not forced):
        return _confirm(request, db, me, app, partner, preview)
    queued = apply_partner_removal(
        db,
        workspace_id=me.workspace_id,
        removal_id=preview.removal_id,
        actor=me.actor,
        kept_item_ids=_ids(item_id),
        force=forced,
    )
    db.commit()
    count = enqueue_operations(request, queued)
    return redirect(
        request,
        _page_url(app.id, partner.id),
        f"{count} operation{'s' if count != 1 else ''} queued. Progress shows on each line."
        if count
        else "Nothing left to apply.",
        "success" if count else "info",
    )
