"""Rolling-window call budgets and Meta's usage headers.

Three budgets are kept per scenario settings: a business use case (BUC) budget per business, an
app budget, and a per-token ("user") budget. Every Graph operation — each batch operation
separately — counts against all three. Usage is reported on every response as percentages of the
budget, in Meta's headers (docs/graph-api/overview/rate-limiting): ``X-App-Usage``
(``call_count, total_cputime, total_time``), ``X-Business-Use-Case-Usage`` (per business id, a
list of ``{type, call_count, total_cputime, total_time, estimated_time_to_regain_access,
ads_api_access_tier}`` with ``type`` from Meta's list of use cases) and, on ad-account calls,
``X-Ad-Account-Usage`` (``acc_id_util_pct, reset_time_duration, ads_api_access_tier``). Past a
budget, calls are refused without counting; BUC wins where both could apply (Meta's rule), so the
BUC error comes first: 80004 for ads_management calls on ad accounts, 80001 for pages, 80002 for
Instagram, 613 for other business calls; then 4 (app) and 17 (user).

Choices where Meta is unconfirmed: the access tier reads ``standard_access`` (the value Meta's
examples show; the 2026 rename to "Limited Access" may change it);
``estimated_time_to_regain_access`` (minutes) is also copied into the error's ``error_data``.
"""

from __future__ import annotations

import json
import math
from collections import deque

from bastion.connectors.meta.simulator.errors import GraphError
from bastion.connectors.meta.simulator.scenario import ScenarioSettings

ACCESS_TIER = "standard_access"


class RollingCounter:
    """Calls per whole second over a sliding window; memory bounded by the window length."""

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()
        self.total = 0

    def prune(self, now: float, window: int) -> None:
        horizon = int(now) - window
        while self.buckets and self.buckets[0][0] <= horizon:
            self.total -= self.buckets.popleft()[1]

    def add(self, now: float) -> None:
        second = int(now)
        if self.buckets and self.buckets[-1][0] == second:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([second, 1])
        self.total += 1

    def minutes_to_free(self, now: float, window: int) -> int:
        if not self.buckets:
            return 0
        return max(1, math.ceil((self.buckets[0][0] + window - now) / 60))


def _percent(used: int, budget: int) -> int:
    return min(100, math.floor(used * 100 / budget)) if budget > 0 else 100


class RateLimiter:
    def __init__(self, settings: ScenarioSettings) -> None:
        self.settings = settings
        self.business: dict[str, RollingCounter] = {}
        self.app = RollingCounter()
        self.users: dict[str, RollingCounter] = {}

    def admit(
        self, *, business_id: str, token: str, now: float, use_case: str, ad_account: bool
    ) -> None:
        """Count one call, or raise the throttling error when a budget is spent."""
        window = self.settings.rate_window_seconds
        buc = self.business.setdefault(business_id, RollingCounter())
        user = self.users.setdefault(token, RollingCounter())
        for counter in (buc, self.app, user):
            counter.prune(now, window)
        if buc.total >= self.settings.business_call_budget:
            code = 80004 if ad_account else {"pages": 80001, "instagram": 80002}.get(use_case, 613)
            raise throttled(code, buc.minutes_to_free(now, window))
        if self.app.total >= self.settings.app_call_budget:
            raise throttled(4, self.app.minutes_to_free(now, window))
        if user.total >= self.settings.user_call_budget:
            raise throttled(17, user.minutes_to_free(now, window))
        for counter in (buc, self.app, user):
            counter.add(now)

    def headers(
        self,
        *,
        business_id: str,
        now: float,
        ad_account: bool,
        use_case: str = "ads_management",
        forced_minutes: int | None = None,
    ) -> dict[str, str]:
        window = self.settings.rate_window_seconds
        buc = self.business.get(business_id) or RollingCounter()
        buc.prune(now, window)
        self.app.prune(now, window)
        app_pct = _percent(self.app.total, self.settings.app_call_budget)
        buc_pct = _percent(buc.total, self.settings.business_call_budget)
        regain = 0
        if buc.total >= self.settings.business_call_budget:
            regain = buc.minutes_to_free(now, window)
        if forced_minutes is not None:
            buc_pct, regain = 100, forced_minutes
        usage = {
            "type": use_case,
            "call_count": buc_pct,
            "total_cputime": max(0, buc_pct // 2),
            "total_time": max(0, buc_pct // 2),
            "estimated_time_to_regain_access": regain,
            "ads_api_access_tier": ACCESS_TIER,
        }
        headers = {
            "X-App-Usage": json.dumps(
                {"call_count": app_pct, "total_cputime": app_pct // 2, "total_time": app_pct // 2}
            ),
            "X-Business-Use-Case-Usage": json.dumps({business_id: [usage]}),
        }
        if ad_account:
            headers["X-Ad-Account-Usage"] = json.dumps(
                {
                    "acc_id_util_pct": buc_pct,
                    "reset_time_duration": regain * 60,
                    "ads_api_access_tier": ACCESS_TIER,
                }
            )
        return headers


_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try "
    "again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
    80002: "(#80002) There have been too many calls to this Instagram account. Wait a bit and "
    "try again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
    80004: "(#80004) There have been too many calls to this ad-account. Wait a bit and try "
    "again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
}


def throttled(code: int, minutes: int) -> GraphError:
    """Meta's throttling error for ``code`` (4, 17, 613, 80001, 80002 or 80004)."""
    return GraphError(
        _MESSAGES.get(code, f"(#{code}) Too many calls. Wait a bit and try again."),
        code,
        subcode=2446079 if code == 80004 else None,
        is_transient=True,
        error_data={"estimated_time_to_regain_access": minutes},
    )
