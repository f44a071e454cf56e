"""API-only policies Meta applies on top of Business Manager's rules: restriction and 2FA.

- Restricted window: creating a system user puts the business in a restricted window (scenario
  setting ``restricted_window_days``, default 7). Meta's error for it is unconfirmed; we answer 368
  with a message naming the end of the window, for invites, removals and role changes only.
- Two-factor: when the business requires two-factor (``two_factor_type`` other than ``none``) and
  the scenario lists the action in ``two_factor_required_for`` (``invite``, ``update_user``,
  ``remove_user``, ``catalog_grant``), the API answers 415 because an API caller cannot pass 2FA.
"""

from __future__ import annotations

from bastion.connectors.meta.simulator import errors
from bastion.connectors.meta.simulator.context import GraphContext, graph_time

TWO_FACTOR_ACTIONS = ("invite", "update_user", "remove_user", "catalog_grant")


def guard(ctx: GraphContext, action: str, *, restricted_action: bool) -> None:
    business = ctx.state.business
    until = business.restricted_until
    if restricted_action and until is not None and ctx.now < until:
        raise errors.restricted(graph_time(until) or "later")
    if business.two_factor_type != "none" and action in ctx.state.settings.two_factor_required_for:
        raise errors.two_factor_required()
