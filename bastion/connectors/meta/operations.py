"""Write operations on a Business Manager, each safe to run again.

Every operation is *read-check-act*: when a call's outcome is unknown (a timeout, a 5xx), it
reads the current state before repeating the call and only acts if the change is still needed —
so a removal that timed out but went through is never sent twice (DESIGN §6). A removal or
cancellation of something already gone is reported as ``already_done``: after a crash the
operations engine may run an operation whose effect already happened.

Meta quirks relied on (reference §2.6 and the simulator's documented choices): posting tasks to
``assigned_users`` *replaces* the user's task set, and Meta expands a set with the tasks it
implies, so grants post the union of held and wanted tasks and are checked as a superset.

Parameters follow Meta's published schema (facebook-business SDK 25.0.3, ``adobjects/``):
``POST /{asset}/assigned_users`` takes ``user`` and ``tasks``, ``DELETE`` takes ``user``;
``business`` belongs only to the ``GET``, where it is required.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bastion.connectors.base import (
    BadRequest,
    ManualOnly,
    NotFound,
    OperationKind,
    OperationRequest,
    OperationResult,
    Outcome,
    PartnerRelation,
    Transient,
    TwoFactorRequired,
)
from bastion.connectors.meta.client import GraphClient

OPEN_INVITATION_STATUSES = frozenset({"PENDING", "EXPIRED"})
MANUAL_STEPS = {
    "invite": "invite {email} as {role} in Business settings > People > Add",
    "cancel_invitation": "cancel the invitation in Business settings > People > Pending",
    "remove": "remove the person in Business settings > People",
    "set_role": "change the person's access to {role} in Business settings > People",
    "grant_tasks": "assign the tasks on the asset in Business settings > Accounts",
    "revoke_tasks": "remove the person's tasks on the asset in Business settings > Accounts",
    "remove_partner": "remove the partner business in Business settings > Users > Partners",
    "remove_partner_access": "remove the partner's access to the asset in Business settings > "
    "Users > Partners",
}
PARTNER_EDGES: dict[PartnerRelation, str] = {"agency": "agencies", "client": "clients"}


@dataclass(frozen=True)
class OperationContext:
    client: GraphClient
    business_id: str
    attempts: int = 3
    # The operation was started before and its outcome is unknown (the worker died): look at
    # the business first and act only if the change has not happened.
    resumed: bool = False


async def perform_operation(ctx: OperationContext, request: OperationRequest) -> OperationResult:
    """Carry out ``request`` once, however many calls that takes; raise ConnectorError if Meta
    refuses (two-factor refusals carry the manual step for this exact change)."""
    handlers: dict[
        str, Callable[[OperationContext, OperationRequest], Awaitable[OperationResult]]
    ] = {
        "invite": _invite,
        "cancel_invitation": _cancel_invitation,
        "remove": _remove,
        "set_role": _set_role,
        "grant_tasks": _grant_tasks,
        "revoke_tasks": _revoke_tasks,
        "remove_partner": _remove_partner,
        "remove_partner_access": _remove_partner_access,
    }
    try:
        return await handlers[request.kind](ctx, request)
    except TwoFactorRequired as exc:
        step = MANUAL_STEPS[request.kind].format(email=request.email, role=request.role)
        raise TwoFactorRequired(
            exc.message,
            manual_step=f"Two-factor authentication is required: an admin must {step}, then run "
            "a check so Bastion confirms it.",
        ) from None


async def _until_done(
    ctx: OperationContext,
    *,
    already_done: Callable[[], Awaitable[bool]],
    act: Callable[[], Awaitable[None]],
) -> Outcome:
    """Act, and after an unknown outcome check the state before acting again."""
    if ctx.resumed and await already_done():
        return "already_done"
    for attempt in range(1, ctx.attempts + 1):
        try:
            await act()
            return "applied"
        except Transient:
            if attempt == ctx.attempts:
                raise
            await ctx.client.retry.sleep(ctx.client.retry.backoff(attempt))
            if await already_done():
                return "applied"
    raise AssertionError("unreachable")  # pragma: no cover


def _required(value: str | None, name: str) -> str:
    if not value:
        raise BadRequest(f"The operation needs {name}.")
    return value


# --- people and invitations ----------------------------------------------------------------------


async def _pending_invitation_id(ctx: OperationContext, email: str) -> str | None:
    invitations = await ctx.client.get_all(
        f"{ctx.business_id}/pending_users", {"email": email, "fields": "id,email,role,status"}
    )
    for item in invitations:
        if str(item.get("email", "")).lower() == email.lower():
            return str(item.get("id"))
    return None


async def _invite(ctx: OperationContext, request: OperationRequest) -> OperationResult:
    email = _required(request.email, "an e-mail address")
    role = _required(request.role, "a role")
    created: list[str] = []

    async def act() -> None:
        answer = await ctx.client.post(
            f"{ctx.business_id}/business_users", {"email": email, "role": role}
        )
        created.append(str(answer.get("id")))

    async def done() -> bool:
        found = await _pending_invitation_id(ctx, email)
        if found:
            created.append(found)
        return found is not None

    outcome = await _until_done(ctx, already_done=done, act=act)
    # Asset tasks need the business-scoped id of a person, which exists only once the invitee
    # accepts (reference §2.0), so they are handed back for the engine to grant then.
    return OperationResult(
        kind="invite",
        outcome=outcome,
        external_id=created[-1] if created else None,
        detail=f"Invited {email} as {role}.",
        pending_asset_tasks=request.asset_tasks,
    )


async def _cancel_invitation(ctx: OperationContext, request: OperationRequest) -> OperationResult:
    invitation_id = _required(request.account_external_id, "an invitation id")

    async def gone() -> bool:
        # A cancelled, declined or accepted invitation still reads back, but is no longer open.
        try:
            node = await ctx.client.get(invitation_id, {"fields": "id,status"})
        except NotFound:
            return True
        return str(node.get("status") or "").upper() not in OPEN_INVITATION_STATUSES

    return await _delete_node(ctx, "cancel_invitation", invitation_id, "The invitation", gone)


async def _remove(ctx: OperationContext, request: OperationRequest) -> OperationResult:
    person_id = _required(request.account_external_id, "a person id")

    async def gone() -> bool:
        try:
            await ctx.client.get(person_id, {"fields": "id"})
        except NotFound:
            return True
        return False

    # Meta removes a person's asset tasks together with the seat (the simulator does too).
    return await _delete_node(ctx, "remove", person_id, "The person", gone)


async def _delete_node(
    ctx: OperationContext,
    kind: OperationKind,
    node_id: str,
    label: str,
    gone: Callable[[], Awaitable[bool]],
) -> OperationResult:
    async def act() -> None:
        await ctx.client.delete(node_id)

    try:
        outcome = await _until_done(ctx, already_done=gone, act=act)
    except NotFound:
        if not await gone():
            # Meta refuses to delete some accounts at all, e.g. system users (reference §2.4).
            raise BadRequest(
                f"{label} cannot be removed through Meta's API (system users can only be "
                "removed in Business settings > Users > System users)."
            ) from None
        return OperationResult(
            kind=kind,
            outcome="already_done",
            external_id=node_id,
            detail=f"{label} was already gone.",
        )
    return OperationResult(
        kind=kind, outcome=outcome, external_id=node_id, detail=f"{label} was removed."
    )


async def _set_role(ctx: OperationContext, request: OperationRequest) -> OperationResult:
    person_id = _required(request.account_external_id, "a person id")
    role = _required(request.role, "a role")

    async def current_role() -> str | None:
        node = await ctx.client.get(person_id, {"fields": "id,role"})
        return str(node.get("role") or "") or None

    if await current_role() == role:
        return OperationResult(
            kind="set_role",
            outcome="already_done",
            external_id=person_id,
            detail=f"Already {role}.",
        )

    async def act() -> None:
        await ctx.client.post(person_id, {"role": role})

    async def done() -> bool:
        return await current_role() == role

    outcome = await _until_done(ctx, already_done=done, act=act)
    return OperationResult(
        kind="set_role", outcome=outcome, external_id=person_id, detail=f"Role set to {role}."
    )


# --- asset tasks ---------------------------------------------------------------------------------


async def held_tasks(ctx: OperationContext, asset_id: str, user_id: str) -> frozenset[str]:
    """The tasks ``user_id`` holds on the asset now (empty when none)."""
    tasks, _name = await _assignment(ctx, asset_id, user_id)
    return tasks


async def _assignment(
    ctx: OperationContext, asset_id: str, user_id: str
) -> tuple[frozenset[str], str | None]:
    """The tasks ``user_id`` holds on the asset, and the name Meta lists them under."""
    assignees = await ctx.client.get_all(
        f"{asset_id}/assigned_users",
        {"business": ctx.business_id, "fields": "id,name,tasks", "limit": "100"},
    )
    for user in assignees:
        if str(user.get("id")) == user_id:
            name = str(user.get("name") or "") or None
            return frozenset(str(t) for t in user.get("tasks") or ()), name
    return frozenset(), None


async def _grant_tasks(ctx: OperationContext, request: OperationRequest) -> OperationResult:
    user_id = _required(request.account_external_id, "an account id")
    asset_id = _required(request.asset_external_id, "an asset id")
    wanted = frozenset(request.tasks)
    if not wanted:
        raise BadRequest("Granting needs at least one task.")
    held = await held_tasks(ctx, asset_id, user_id)
    if wanted <= held:
        return _task_result("grant_tasks", "already_done", asset_id, held, "Already held.")

    async def act() -> None:
        tasks = sorted(held | wanted)
        await ctx.client.post(f"{asset_id}/assigned_users", {"user": user_id, "tasks": tasks})

    async def done() -> bool:
        return wanted <= await held_tasks(ctx, asset_id, user_id)

    outcome = await _until_done(ctx, already_done=done, act=act)
    now_held = await held_tasks(ctx, asset_id, user_id)
    return _task_result("grant_tasks", outcome, asset_id, now_held, "Tasks granted.")


async def _revoke_tasks(ctx: OperationContext, request: OperationRequest) -> OperationResult:
    user_id = _required(request.account_external_id, "an account id")
    asset_id = _required(request.asset_external_id, "an asset id")
    held, name = await _assignment(ctx, asset_id, user_id)
    unwanted = frozenset(request.tasks) or held
    if not held & unwanted:
        return _task_result("revoke_tasks", "already_done", asset_id, held, "Not held.")
    keep = held - unwanted
    if not keep and request.asset_type is None:
        # Only a DELETE takes the last task away, and pixels have none: without the asset's type
        # Bastion cannot tell whether the call exists, so it sends nothing.
        raise BadRequest(
            f"Bastion does not know what kind of asset {asset_id} is yet; run a check, then try "
            "again."
        )
    if not keep and request.asset_type == "pixel":
        # AdsPixel has no DELETE on assigned_users (only GET and POST; facebook-business 25.0.3
        # adobjects/adspixel.py), and a POST needs at least one task: only Business Manager
        # can take a person's last task on a pixel away.
        person = f"{name} ({user_id})" if name else f"the person {user_id}"
        raise ManualOnly(
            "Meta's API cannot remove a person's last task on a pixel.",
            # UNCONFIRMED: the menu path, from Business Manager's help pages.
            manual_step=f"In Business settings > Data sources > Pixels, select the pixel "
            f"{asset_id}, open People, and remove {person}; then run a check so Bastion "
            "confirms it.",
        )

    async def act() -> None:
        if keep:
            await ctx.client.post(
                f"{asset_id}/assigned_users", {"user": user_id, "tasks": sorted(keep)}
            )
        else:
            await ctx.client.delete(f"{asset_id}/assigned_users", {"user": user_id})

    async def done() -> bool:
        now_held = await held_tasks(ctx, asset_id, user_id)
        return now_held == keep or not now_held & unwanted

    outcome = await _until_done(ctx, already_done=done, act=act)
    now_held = await held_tasks(ctx, asset_id, user_id)
    detail = "Tasks revoked."
    implied = now_held & unwanted
    if implied:
        detail = (
            f"Meta keeps {', '.join(sorted(implied))} because the remaining tasks imply it; "
            "revoke those too to remove it."
        )
    return _task_result("revoke_tasks", outcome, asset_id, now_held, detail)


# --- partners ------------------------------------------------------------------------------------


async def _delete_business(ctx: OperationContext, edge: str, partner_id: str) -> Outcome | None:
    """Takes the partner business off ``edge`` (``DELETE /{edge}?business={partner_id}``): None,
    sending nothing, when the edge did not list it to begin with; else how the DELETE ended."""

    async def gone() -> bool:
        listed = await ctx.client.get_all(edge, {"fields": "id", "limit": "100"})
        return all(str(item.get("id")) != partner_id for item in listed)

    if await gone():
        return None

    async def act() -> None:
        await ctx.client.delete(edge, {"business": partner_id})

    return await _until_done(ctx, already_done=gone, act=act)


async def _remove_partner(ctx: OperationContext, request: OperationRequest) -> OperationResult:
    partner_id = _required(request.partner_external_id, "a partner business id")
    relation = request.partner_relation
    if relation is None:
        raise BadRequest("The operation needs the partner's relation (agency or client).")
    # Ending a partnership is a DELETE on the business's edge with the partner's id as
    # ``business`` (facebook-business 25.0.3 adobjects/business.py, delete_agencies/clients).
    label = f"The {relation} {partner_id}"
    outcome = await _delete_business(
        ctx, f"{ctx.business_id}/{PARTNER_EDGES[relation]}", partner_id
    )
    if outcome is None:
        return OperationResult(
            kind="remove_partner",
            outcome="already_done",
            external_id=partner_id,
            detail=f"{label} was not a partner any more.",
        )
    detail = f"{label} was removed." if outcome == "applied" else f"{label} was already gone."
    return OperationResult(
        kind="remove_partner", outcome=outcome, external_id=partner_id, detail=detail
    )


async def _remove_partner_access(
    ctx: OperationContext, request: OperationRequest
) -> OperationResult:
    """One of our assets taken away from an agency: ``DELETE /{asset}/agencies?business=``
    (facebook-business 25.0.3 adobjects: ``delete_agencies`` on AdAccount, Page, ProductCatalog,
    AdsPixel and InstagramBusinessAsset take ``business``). Whether ending the partnership also
    takes back what was shared is UNCONFIRMED, so a partner removal unshares each asset first."""
    partner_id = _required(request.partner_external_id, "a partner business id")
    asset_id = _required(request.asset_external_id, "an asset id")
    label = f"The agency {partner_id}"
    outcome = await _delete_business(ctx, f"{asset_id}/agencies", partner_id)
    if outcome is None:
        return OperationResult(
            kind="remove_partner_access",
            outcome="already_done",
            external_id=asset_id,
            detail=f"{label} had no access to {asset_id} any more.",
        )
    return OperationResult(
        kind="remove_partner_access",
        outcome=outcome,
        external_id=asset_id,
        detail=f"{label} no longer reaches {asset_id}.",
    )


def _task_result(
    kind: OperationKind, outcome: Outcome, asset_id: str, held: frozenset[str], detail: str
) -> OperationResult:
    return OperationResult(
        kind=kind,
        outcome=outcome,
        external_id=asset_id,
        detail=detail,
        tasks=tuple(sorted(held)),
    )
