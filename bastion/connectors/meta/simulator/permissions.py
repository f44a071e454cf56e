"""Which token permissions each Graph read or write needs (the reference's permission table).

Missing permissions fail with code 200 ("Requires X permission"), except reading a Page's
``assigned_users``, where Meta was observed to answer code 10.

A person's user token (from Facebook Login, or ``make_token(user_type="USER")``) reaches the
business's objects only through the seat its holder has there (``check_person_seat``), as
Meta's business-user reference describes roles: "An Employee can see all of information in
business settings ... An Admin can control all aspects of the business including ... adding or
removing people" (documentation/ads-commerce/marketing-api/reference/business-user). So a person
without a seat is refused everything but their own User node, and an employee every write, with
code 200 "Permissions error" (the error the business_users reference lists). UNCONFIRMED: that
code for both (Meta may answer 100/33 for an object a person cannot see), and that a seat
alone lets a person read every asset (Meta may also want a task on it).
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.connectors.meta.simulator import errors
from bastion.connectors.meta.simulator.scenario import TokenRecord
from bastion.connectors.meta.simulator.state import BusinessState


@dataclass(frozen=True, slots=True)
class Need:
    """Satisfied when the token holds every permission of at least one alternative."""

    alternatives: tuple[frozenset[str], ...]
    label: str
    code: int = 200

    def check(self, token: TokenRecord) -> None:
        granted = set(token.scopes)
        if not any(option <= granted for option in self.alternatives):
            raise errors.missing_permission(self.label, code=self.code)


def check_person_seat(state: BusinessState, token: TokenRecord, method: str) -> None:
    """A person's token on the business's objects: a seat to read, an ADMIN seat to write."""
    person = state.people.get(state.holder_id(token))
    role = person.role if person is not None else None
    if role is None or (method != "GET" and role != "ADMIN"):
        raise errors.person_token_refused()


def _need(*alternatives: set[str], label: str, code: int = 200) -> Need:
    return Need(tuple(frozenset(option) for option in alternatives), label, code)


NONE = _need(set(), label="none")  # a person reading their own profile
# A person's own seats (``/me/business_users``, ``/me/ids_for_business``). UNCONFIRMED which
# permission these edges ask for (their pages name none); business_management, the narrowest
# reading: a login that did not ask for it cannot read them.
OWN_BUSINESS_ACCOUNTS = _need({"business_management"}, label="business_management")
BUSINESS = _need({"business_management"}, label="business_management")
PAGES_LIST = _need({"business_management", "pages_show_list"}, label="pages_show_list")
PAGE_TASKS = _need(
    {"business_management", "pages_manage_metadata"}, label="pages_manage_metadata", code=10
)
PAGE_TASKS_WRITE = _need(
    {"business_management", "pages_manage_metadata"}, label="pages_manage_metadata"
)
ADS_READ = _need(
    {"business_management", "ads_management"},
    {"business_management", "ads_read"},
    label="ads_management",
)
ADS_WRITE = _need({"business_management", "ads_management"}, label="ads_management")
CATALOG_READ = _need({"catalog_management"}, {"ads_management"}, label="catalog_management")
CATALOG_WRITE = _need({"catalog_management"}, label="catalog_management")

# asset type -> (node read, assigned_users read, assigned_users write)
ASSET_NEEDS: dict[str, tuple[Need, Need, Need]] = {
    "page": (PAGES_LIST, PAGE_TASKS, PAGE_TASKS_WRITE),
    "ad_account": (ADS_READ, ADS_READ, ADS_WRITE),
    "catalog": (CATALOG_READ, CATALOG_READ, CATALOG_WRITE),
    "pixel": (BUSINESS, BUSINESS, BUSINESS),
    "instagram": (BUSINESS, BUSINESS, BUSINESS),
}
