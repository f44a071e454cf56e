"""The simulator's state as JSON (for ``/_sim/state``) and back as a saveable Scenario.

``dump`` is for people and tests reading the state: assets are grouped by type and carry their
assignments and partner access; ``facebook_users`` are the Facebook accounts without a seat.
``snapshot`` turns the live state into a ``Scenario`` that can be saved and loaded again, so a
hand-tuned business can be replayed.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bastion.connectors.meta.simulator.scenario import (
    AssignmentRecord,
    PartnerAccessRecord,
    Scenario,
)
from bastion.connectors.meta.simulator.state import DUMP_ASSET_KEYS, BusinessState


def dump_state(state: BusinessState, now: float) -> dict[str, Any]:
    assets: dict[str, list[dict[str, Any]]] = {key: [] for key in DUMP_ASSET_KEYS.values()}
    for asset in state.assets.values():
        item = asdict(asset)
        item["assigned_users"] = [
            {"user_id": user_id, "tasks": list(tasks)}
            for user_id, tasks in state.asset_users.get(asset.id, {}).items()
        ]
        item["agencies"] = [
            {"business_id": access.partner_id, "permitted_tasks": list(access.permitted_tasks)}
            for access in state.partner_access.get(asset.id, {}).values()
        ]
        assets[DUMP_ASSET_KEYS[asset.type]].append(item)
    invitations = []
    for invitation in state.invitations.values():
        item = asdict(invitation)
        item["status"] = state.invitation_status(invitation, now)
        invitations.append(item)
    return {
        "clock": int(now),
        "settings": asdict(state.settings),
        "business": asdict(state.business),
        "app": {
            "id": state.app.id,
            "name": state.app.name,
            "oauth_redirect_uris": list(state.app.oauth_redirect_uris),
        },
        "admin_system_user_id": state.admin_system_user_id,
        "people": [asdict(person) for person in state.people.values()],
        "invitations": invitations,
        "system_users": [asdict(user) for user in state.system_users.values()],
        "assets": assets,
        "partners": [asdict(partner) for partner in state.partners.values()],
        "facebook_users": [asdict(user) for user in state.facebook_users.values()],
        "partner_people": [
            {
                **asdict(person),
                "assigned": {
                    asset_id: list(holders[person.id])
                    for asset_id, holders in state.partner_asset_users.items()
                    if person.id in holders
                },
            }
            for person in state.partner_people.values()
        ],
        "partner_system_users": [asdict(user) for user in state.partner_system_users.values()],
    }


def snapshot(state: BusinessState, now: float) -> Scenario:
    preset, seed, _ = state.scenario_meta
    assignments = [
        AssignmentRecord(asset_id, user_id, list(tasks))
        for asset_id, holders in state.asset_users.items()
        for user_id, tasks in holders.items()
    ]
    access: list[PartnerAccessRecord] = [
        record for by_partner in state.partner_access.values() for record in by_partner.values()
    ]
    return Scenario.from_json(
        Scenario(
            preset=preset,
            seed=seed,
            clock_start=int(now),
            settings=state.settings,
            business=state.business,
            app=state.app,
            admin_system_user_id=state.admin_system_user_id,
            people=list(state.people.values()),
            invitations=list(state.invitations.values()),
            system_users=list(state.system_users.values()),
            assets=list(state.assets.values()),
            assignments=assignments,
            partners=list(state.partners.values()),
            partner_access=access,
            tokens=list(state.tokens.values()),
            directory=state.directory,
            facebook_users=list(state.facebook_users.values()),
            partner_people=list(state.partner_people.values()),
            partner_system_users=list(state.partner_system_users.values()),
            partner_assignments=[
                AssignmentRecord(asset_id, user_id, list(tasks))
                for asset_id, holders in state.partner_asset_users.items()
                for user_id, tasks in holders.items()
            ],
        ).to_json()
    )
