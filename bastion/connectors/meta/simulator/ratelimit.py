"""Rolling-window call budgets and Meta's usage headers.

Three budgets are kept per scenario settings: a business use case (BUC) budget per business, an
app budget, and a per-token ("user") budget. Every Graph operation — each batch operation
separately — counts against all three. Usage is reported on every response in ``X-App-Usage`` and
``X-Business-Use-Case-Usage`` as percentages of the budget, as Meta does. Past a budget, calls are
refused without counting; BUC wins where both could apply (Meta's rule), so the BUC error comes
first: 80004 for ad-account calls, 613 for other business calls; then 4 (app) and 17 (user).

Choices where Meta is unconfirmed: the BUC bucket ``type`` is ``business_management`` (or
``ads_management`` for ad-account calls); ``estimated_time_to_regain_access`` (minutes) is also
copied into the error's ``error_data`` for convenience.
"""

from __future__ import annotations

import json
import math
from collections import deque

from bastion.connectors.meta.simulator.errors import GraphError
from bastion.connectors.meta.simulator.scenario import ScenarioSettings


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

    def admit(self, *, business_id: str, token: str, now: float, ad_account: bool) -> None:
        """Count one call, or raise the throttling error when a budget is spent."""
        window = self.settings.rate_window_seconds
        buc = self.business.setdefault(business_id, RollingCounter())
        user = self.users.setdefault(token, RollingCounter())
        for counter in (buc, self.app, user):
            counter.prune(now, window)
        if buc.total >= self.settings.business_call_budget:
            raise throttled(80004 if ad_account else 613, buc.minutes_to_free(now, window))
        if self.app.total >= self.settings.app_call_budget:
            raise throttled(4, self.app.minutes_to_free(now, window))
        if user.total >= self.settings.user_call_budget:
            raise throttled(17, user.minutes_to_free(now, window))
        for counter in (buc, self.app, user):
            counter.add(now)

    def headers(
        self, *, business_id: str, now: float, ad_account: bool, forced_minutes: int | None = None
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
            "type": "ads_management" if ad_account else "business_management",
            "call_count": buc_pct,
            "total_cputime": max(0, buc_pct // 2),
            "total_time": max(0, buc_pct // 2),
            "estimated_time_to_regain_access": regain,
        }
        return {
            "X-App-Usage": json.dumps(
                {"call_count": app_pct, "total_cputime": app_pct // 2, "total_time": app_pct // 2}
            ),
            "X-Business-Use-Case-Usage": json.dumps({business_id: [usage]}),
        }


_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80004: "(#80004) There have been too many calls to this ad-account. Wait a bit and try "
    "again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
}


def throttled(code: int, minutes: int) -> GraphError:
    """Meta's throttling error for ``code`` (4, 17, 613 or 80004)."""
    return GraphError(
        _MESSAGES.get(code, f"(#{code}) Too many calls. Wait a bit and try again."),
        code,
        subcode=2446079 if code == 80004 else None,
        is_transient=True,
        error_data={"estimated_time_to_regain_access": minutes},
    )
