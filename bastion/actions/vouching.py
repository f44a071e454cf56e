"""Full control only for accounts someone vouches for, unless the admin accepts the risk.

Full control in Meta is the business ``ADMIN`` role (every asset at once) or ``MANAGE`` on an
asset. An account that is not onboarded has nobody in the directory standing behind it, so
handing it full control is refused unless the caller confirms (``confirm_unvouched`` in the
actions and the API, a confirm step on the web, ``--confirm-unmatched`` on the command line).
"""

from __future__ import annotations

from bastion.errors import Conflict
from bastion.storage.models import Account
from bastion.storage.models.enums import AccountState

WHY_UNVOUCHED = {
    "unmatched": "it is unmatched: no person in your directory vouches for it",
    "guest": "it belongs to a guest user, who is not in your directory",
    "exempted": "it is exempted: Bastion does not manage it",
    "system_user": "it is a system user, which no person vouches for",
}


class UnvouchedFullControl(Conflict):
    """Giving full control to an account that is not onboarded, without the confirmation."""

    code = "confirmation_required"

    def __init__(self, account: Account, what: str) -> None:
        self.account_id = account.id
        self.risk = unvouched_risk(account, what)
        super().__init__(f"{self.risk}; confirm with confirm_unvouched to go ahead")


def unvouched_risk(account: Account, what: str) -> str:
    """The risk in words: who the account is, why nobody vouches for it, what it would get."""
    label = account.name or account.email or account.external_id
    why = WHY_UNVOUCHED.get(account.state.value, f"it is {account.state.value}")
    return f"{what} gives {label} full control, but {why}"


def is_vouched_for(account: Account) -> bool:
    return account.state == AccountState.ONBOARDED


def require_vouched_or_confirmed(account: Account, *, what: str, confirmed: bool) -> bool:
    """Refuse unless the account is onboarded or the caller confirmed; True when confirmed for an
    unvouched account (the audit event records it)."""
    if is_vouched_for(account):
        return False
    if not confirmed:
        raise UnvouchedFullControl(account, what)
    return True
