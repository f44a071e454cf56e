"""The REST API under ``/api/v1``: one router per resource, each module listing its endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from bastion.api import (
    account_actions,
    accounts,
    apps,
    assets,
    audit_events,
    credentials,
    directory,
    emails,
    operations,
    partner_removals,
    partners,
    reports,
    reviews,
    sso,
    webhooks,
)
from bastion.api.input_guard import reject_nul_characters
from bastion.api.rate_limit import enforce_rate_limit

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(
        prefix=API_PREFIX,
        dependencies=[Depends(enforce_rate_limit), Depends(reject_nul_characters)],
    )
    for module in (
        apps,
        accounts,
        account_actions,
        assets,
        partners,
        partner_removals,
        reports,
        reviews,
        operations,
        directory,
        audit_events,
        emails,
        sso,
        credentials,
        webhooks,
    ):
        router.include_router(module.router)
    return router
