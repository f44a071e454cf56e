"""Reading Meta's usage headers, so the client slows down before Meta throttles it.

Meta sends ``X-App-Usage``, ``X-Ad-Account-Usage`` and ``X-Business-Use-Case-Usage`` with
percentages of the quota; throttling starts at 100 and there is no ``Retry-After`` header
(reference §3). Which bucket Business Manager endpoints count against is unconfirmed, so every
header counts and the highest figure wins.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

APP_USAGE = "x-app-usage"
AD_ACCOUNT_USAGE = "x-ad-account-usage"
BUSINESS_USAGE = "x-business-use-case-usage"
_PERCENT_KEYS = ("call_count", "total_time", "total_cputime", "acc_id_util_pct")


@dataclass(frozen=True)
class Usage:
    """The highest quota use (percent) a response reported, how long Meta said to wait, and the
    app's Marketing API access tier when Meta named it (``ads_api_access_tier``)."""

    percent: float
    regain_access_seconds: float | None
    access_tier: str | None = None


def _load(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _percents(entry: object) -> list[float]:
    if not isinstance(entry, Mapping):
        return []
    return [
        float(entry[key])
        for key in _PERCENT_KEYS
        if isinstance(entry.get(key), int | float) and not isinstance(entry.get(key), bool)
    ]


def _business_entries(headers: Mapping[str, str]) -> list[Mapping[str, Any]]:
    parsed = _load(headers.get(BUSINESS_USAGE))
    entries: list[Mapping[str, Any]] = []
    if isinstance(parsed, Mapping):
        for value in parsed.values():
            items = value if isinstance(value, list) else [value]
            entries.extend(item for item in items if isinstance(item, Mapping))
    return entries


def read_usage(headers: Mapping[str, str]) -> Usage:
    percents: list[float] = []
    percents += _percents(_load(headers.get(APP_USAGE)))
    ad_account = _load(headers.get(AD_ACCOUNT_USAGE))
    percents += _percents(ad_account)
    entries = _business_entries(headers)
    for entry in entries:
        percents += _percents(entry)
    tiers = [
        str(entry["ads_api_access_tier"])
        for entry in [ad_account, *entries]
        if isinstance(entry, Mapping) and isinstance(entry.get("ads_api_access_tier"), str)
    ]
    return Usage(
        percent=max(percents, default=0.0),
        regain_access_seconds=regain_access_seconds(headers),
        access_tier=tiers[0] if tiers else None,
    )


def regain_access_seconds(
    headers: Mapping[str, str], error_data: Mapping[str, Any] | None = None
) -> float | None:
    """Meta's ``estimated_time_to_regain_access`` (minutes) as seconds, if any is above zero."""
    minutes: list[float] = []
    candidates: list[Mapping[str, Any]] = _business_entries(headers)
    if error_data:
        candidates.append(error_data)
    for entry in candidates:
        value = entry.get("estimated_time_to_regain_access")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            minutes.append(float(value))
    return max(minutes) * 60.0 if minutes else None
