"""All accounts: for any signed-in person, a card per app account matched to them, with its
status and the next step (``bastion/account_cards.py``, which the API answers from too).

Routes:
    GET /me/accounts                          one card per present account matched to me
    GET /me/accounts/{account_id}/connect     what the card's Log in button opens (a dialog
                                              with htmx, else a page)
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bastion.account_cards import account_cards
from bastion.errors import NotFound
from bastion.web.context import DB, Me, PageRoute, is_htmx, render

router = APIRouter(route_class=PageRoute)


@router.get("/me/accounts")
def my_accounts(request: Request, db: DB, me: Me) -> Response:
    cards = account_cards(db, actor=me.actor, viewer=me.user, person=me.user)
    return render(request, "me/accounts.html", {"section": "me", "cards": cards}, me=me)


@router.get("/me/accounts/{account_id}/connect")
def connect_account(request: Request, db: DB, me: Me, account_id: int) -> Response:
    """Explains connecting, honestly: the flow itself is not built yet.

    Replaced by the Facebook Login flow and the credential vault (``bastion/people/``, ending in
    ``onboarding.account_connected``) when they land; the card's Log in button points here.
    """
    cards = account_cards(db, actor=me.actor, viewer=me.user, person=me.user)
    card = next((c for c in cards if c.account.id == account_id), None)
    if card is None:  # another person's account reads as one that does not exist
        raise NotFound(f"Account {account_id} is not one of your accounts")
    template = "me/_connect.html" if is_htmx(request) else "me/connect.html"
    return render(request, template, {"section": "me", "card": card}, me=me)
