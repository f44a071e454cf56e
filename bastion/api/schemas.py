"""Response shapes several API resources share: accounts, operations, bulk results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from bastion.actions.account_steps import AccountResult
from bastion.storage.models import Account, Operation


class AccountOut(BaseModel):
    id: int
    app_id: int
    kind: str
    external_id: str
    name: str
    email: str | None
    app_role: str | None
    state: str
    present: bool
    matched_user_id: int | None
    match_rule: str | None
    match_confidence: float | None
    matched_at: datetime | None
    exemption_reason: str | None
    exempted_by_id: int | None
    exempted_at: datetime | None
    exemption_expires_at: datetime | None

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        return cls(
            id=a.id,
            app_id=a.app_id,
            kind=a.kind.value,
            external_id=a.external_id,
            name=a.name,
            email=a.email,
            app_role=a.app_role,
            state=a.state.value,
            present=a.present,
            matched_user_id=a.matched_user_id,
            match_rule=a.match_rule,
            match_confidence=a.match_confidence,
            matched_at=a.matched_at,
            exemption_reason=a.exemption_reason,
            exempted_by_id=a.exempted_by_id,
            exempted_at=a.exempted_at,
            exemption_expires_at=a.exemption_expires_at,
        )


class OperationOut(BaseModel):
    id: int
    app_id: int
    kind: str
    state: str
    account_id: int | None
    asset_id: int | None
    target_external_id: str | None
    parameters: dict[str, Any]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    manual_steps: str | None
    result: dict[str, Any] | None
    idempotency_key: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, o: Operation) -> OperationOut:
        return cls(
            id=o.id,
            app_id=o.app_id,
            kind=o.kind.value,
            state=o.state.value,
            account_id=o.account_id,
            asset_id=o.asset_id,
            target_external_id=o.target_external_id,
            parameters=o.parameters,
            attempts=o.attempts,
            next_attempt_at=o.next_attempt_at,
            last_error=o.last_error,
            manual_steps=o.manual_steps,
            result=o.result,
            idempotency_key=o.idempotency_key,
            created_at=o.created_at,
            finished_at=o.finished_at,
        )


class AccountResultOut(BaseModel):
    account_id: int
    ok: bool
    code: str
    message: str
    operation_id: int | None

    @classmethod
    def of(cls, r: AccountResult) -> AccountResultOut:
        return cls(
            account_id=r.account_id,
            ok=r.ok,
            code=r.code,
            message=r.message,
            operation_id=r.operation_id,
        )
