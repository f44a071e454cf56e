"""An app with many accounts for paging and search tests (seeded in bulk, as a check would)."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from bastion.storage.models import Account, App
from bastion.storage.models.enums import AccountKind, AccountState, AppKind, LoginMethod


def seed_big_app(session: Session, workspace_id: int, accounts: int = 10_000) -> int:
    app = App(
        workspace_id=workspace_id,
        kind=AppKind.META_BUSINESS,
        label="Big business",
        settings={"business_id": "1", "app_id": "2"},
        login_method=LoginMethod.SSO,
    )
    session.add(app)
    session.flush()
    states = [AccountState.ONBOARDED, AccountState.UNMATCHED, AccountState.EXEMPTED]
    session.execute(
        insert(Account),
        [
            {
                "workspace_id": workspace_id,
                "app_id": app.id,
                "kind": AccountKind.PERSON,
                "external_id": f"9{i:08d}",
                "name": f"Person {i:05d}",
                "email": f"person{i:05d}@big.test",
                "email_key": f"person{i:05d}@big.test",
                "app_role": "EMPLOYEE",
                "state": states[i % 3],
                "details": {},
                "present": True,
            }
            for i in range(accounts)
        ],
    )
    return app.id
