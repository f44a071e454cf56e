"""Answering with a dialog: the fragment alone for htmx (it fills ``<dialog id="dialog">``), or
the same fragment as a page of its own when the link was opened without htmx."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from bastion.errors import NotFound
from bastion.storage.models import Account, App
from bastion.storage.tenancy import Tenant
from bastion.web.context import DB, Viewer, is_htmx, render


def dialog(
    request: Request,
    me: Viewer,
    template: str,
    context: dict[str, Any],
    *,
    page: str = "members/dialog_page.html",
    status_code: int = 200,
) -> Response:
    # htmx swaps only 2xx answers, so a refused form comes back as 200 to stay in its dialog.
    if is_htmx(request):
        return render(request, template, context, me=me)
    return render(request, page, {**context, "inner": template}, status_code=status_code, me=me)


def account_of(db: DB, me: Viewer, app: App, account_id: int) -> Account:
    account = Tenant(db, me.workspace_id).get(Account, account_id)
    if account.app_id != app.id:
        raise NotFound(f"Account {account_id} not found")
    return account


def label_of(account: Account) -> str:
    return account.name or account.email or account.external_id
