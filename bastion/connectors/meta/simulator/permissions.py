"""Which token permissions each Graph read or write needs (the reference's permission table).

Missing permissions fail with code 200 ("Requires X permission"), except reading a Page's
``assigned_users``, where Meta was observed to answer code 10.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.connectors.meta.simulator import errors
from bastion.connectors.meta.simulator.scenario import TokenRecord


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


def _need(*alternatives: set[str], label: str, code: int = 200) -> Need:
    return Need(tuple(frozenset(option) for option in alternatives), label, code)


NONE = _need(set(), label="none")  # a person reading their own profile
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
