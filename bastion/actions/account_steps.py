"""Steps every account action shares: finding the account and its app, queueing an operation
exactly once per idempotency key, auditing, and running one action over many accounts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.operations import queue_operation
from bastion.audit import AuditAction, record
from bastion.checks.classify import is_guest
from bastion.errors import BastionError, Conflict, InvalidInput
from bastion.storage.models import Account, App, Operation, User
from bastion.storage.models.enums import AccountKind, AccountState, OperationKind
from bastion.storage.tenancy import Tenant


def account_and_app(tenant: Tenant, account_id: int) -> tuple[Account, App]:
    account = tenant.get(Account, account_id)
    return account, tenant.get(App, account.app_id)


def require_present(account: Account) -> None:
    if not account.present:
        raise Conflict(f"account {account.id} is no longer in the app")


def account_label(account: Account) -> str:
    return account.name or account.email or account.external_id


def is_bastions_own(app: App, account: Account) -> bool:
    """Whether the account is the identity Bastion's own token acts as (Meta: its system user)."""
    return (
        account.kind == AccountKind.SYSTEM_USER
        and app.token_identity is not None
        and account.external_id == app.token_identity
    )


def require_not_bastions_own(app: App, account: Account, consequence: str) -> None:
    """Bastion never removes or demotes the identity its own token acts as."""
    if is_bastions_own(app, account):
        raise Conflict(
            f"{account_label(account)} is Bastion's own system user: Bastion's token acts as "
            f"it, so {consequence}"
        )


def require_person(app: App, account: Account, doing: str) -> None:
    """The people actions (match, exempt, remove, invite as guest …) refuse a system user."""
    if account.kind != AccountKind.SYSTEM_USER:
        return
    own = (
        " (it is Bastion's own: Bastion's token acts as it)"
        if is_bastions_own(app, account)
        else ""
    )
    raise Conflict(
        f"{account_label(account)} is a system user, not a person{own}, so it cannot be "
        f"{doing}; system users are listed apart, under System users"
    )


def audit_event(
    session: Session,
    app: App,
    actor: Actor,
    action: AuditAction,
    target: str,
    details: dict[str, Any],
) -> None:
    record(
        session,
        workspace_id=app.workspace_id,
        actor=actor.label,
        action=action,
        target=target,
        details=details,
        request_id=actor.request_id,
    )


def clean_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200:
        raise InvalidInput("Idempotency-Key", "must be 1 to 200 characters")
    return key


def earlier_operation(session: Session, app: App, key: str | None) -> Operation | None:
    """The operation an earlier request with this Idempotency-Key queued, if any."""
    if key is None:
        return None
    return Tenant(session, app.workspace_id).find(Operation, Operation.idempotency_key == key)


def queue_once(
    session: Session,
    *,
    app: App,
    kind: OperationKind,
    actor: Actor,
    idempotency_key: str | None,
    **fields: Any,
) -> tuple[Operation, bool]:
    """Queue an operation; a repeat with the same key returns the first one (and False)."""
    idempotency_key = clean_idempotency_key(idempotency_key)
    existing = earlier_operation(session, app, idempotency_key)
    if existing is not None:
        if (existing.kind, existing.app_id) != (kind, app.id) or (
            existing.target_external_id != fields.get("target_external_id")
        ):
            raise Conflict("this Idempotency-Key was already used for another operation")
        return existing, False
    operation = queue_operation(
        session, app=app, kind=kind, actor=actor, idempotency_key=idempotency_key, **fields
    )
    return operation, True


def state_for(user: User | None, *, kind: AccountKind = AccountKind.PERSON) -> AccountState:
    """The tab an account belongs in once matched to ``user`` (or to nobody); a partner's
    person stays under its partner unless a guest of ours vouches for it."""
    if kind == AccountKind.PARTNER_PERSON and (user is None or not is_guest(user)):
        return AccountState.PARTNER
    if user is None:
        return AccountState.UNMATCHED
    return AccountState.GUEST if is_guest(user) else AccountState.ONBOARDED


@dataclass(frozen=True)
class AccountResult:
    """One account's outcome in a bulk action."""

    account_id: int
    ok: bool
    message: str = ""
    code: str = ""
    operation_id: int | None = None


def for_each_account(
    session: Session,
    account_ids: Iterable[int],
    act: Callable[[int], Account | Operation],
) -> list[AccountResult]:
    """Run ``act`` per account in its own savepoint: one failure undoes only its own writes."""
    results = []
    for account_id in dict.fromkeys(account_ids):
        try:
            with session.begin_nested():
                done = act(account_id)
        except BastionError as exc:
            results.append(AccountResult(account_id, False, exc.message, exc.code))
            continue
        operation_id = done.id if isinstance(done, Operation) else None
        results.append(AccountResult(account_id, True, "done", "ok", operation_id))
    return results
