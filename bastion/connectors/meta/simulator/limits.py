"""Fixed limits of the simulated Graph API.

Page sizes: Meta documents that "some edges cap ``limit``" and that a page may hold fewer items
than asked, without listing caps; Graph's usual default page is 25 items (UNCONFIRMED). So the
simulator serves the ``limit`` a client asks for, and caps it only when a scenario sets
``settings.max_page_size`` (tests use it to show that a client follows ``next`` through short
pages). No edge has a cap of its own here: the connector must not size its requests to ours.
"""

from __future__ import annotations

DEFAULT_PAGE_SIZE = 25

MAX_BATCH_OPERATIONS = 50
SUPPORTED_VERSIONS = tuple(range(22, 28))
LATEST_VERSION = 27
DEFAULT_VERSION = 25  # the SDKs' default when a path carries no version

REQUIRED_PERMISSIONS = (
    "business_management",
    "pages_show_list",
    "catalog_management",
    "pages_read_engagement",
    "pages_manage_metadata",
    "ads_management",
)
