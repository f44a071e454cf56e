"""Graph payloads, shaped as reference/meta-graph-api.md §2 shows them, become typed records."""

from __future__ import annotations

from datetime import UTC, datetime

from bastion.connectors.base import AccountRecord, GrantRecord, PartnerAssetTasks
from bastion.connectors.meta.transform import (
    FetchedAsset,
    FetchedBusiness,
    invitation_from_graph,
    person_from_graph,
    snapshot_from_graph,
)

BUSINESS = {
    "id": "111",
    "name": "Acme Corp",
    "two_factor_type": "admin_required",
    "verification_status": "verified",
}
PERSON = {
    "id": "201",
    "name": "Ada Lovelace",
    "email": "ada@acme.test",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "role": "ADMIN",
    "two_fac_status": "enabled",
    "finance_permission": "EDITOR",
    "ip_permission": "REVIEWER",
}
INVITATION = {
    "id": "301",
    "email": "new@acme.test",
    "role": "EMPLOYEE",
    "status": "PENDING",
    "expiration_time": "2026-12-16T09:00:00+0000",
}
SYSTEM_USER = {"id": "401", "name": "Bastion", "role": "ADMIN"}
AD_ACCOUNT = {
    "id": "act_555",
    "name": "Acme - US",
    "account_id": "555",
    "owner_business": {"id": "111", "name": "Acme Corp"},
}
CLIENT_PAGE = {
    "id": "666",
    "name": "Client Brand",
    "owner_business": {"id": "777", "name": "Client"},
}


def fetched() -> FetchedBusiness:
    return FetchedBusiness(
        business=BUSINESS,
        people=(PERSON,),
        invitations=(INVITATION,),
        system_users=(SYSTEM_USER,),
        assets=(
            FetchedAsset(
                type="ad_account",
                ownership="owned",
                node=AD_ACCOUNT,
                assignees=(
                    {
                        "id": "201",
                        "name": "Ada",
                        "user_type": "business_user",
                        "tasks": ["DRAFT", "ANALYZE", "ADVERTISE", "MANAGE"],
                    },
                    {"id": "401", "name": "Bastion", "tasks": []},
                ),
                agencies=(
                    {"id": "888", "name": "Agency", "permitted_tasks": ["ANALYZE", "ADVERTISE"]},
                ),
            ),
            FetchedAsset(
                type="page", ownership="client", node=CLIENT_PAGE, assignees=(), agencies=()
            ),
        ),
        agencies=({"id": "888", "name": "Agency"},),
        clients=({"id": "777", "name": "Client"},),
    )


def test_a_person_keeps_role_two_factor_and_finance_and_ads_rights() -> None:
    assert person_from_graph(PERSON) == AccountRecord(
        kind="person",
        external_id="201",
        name="Ada Lovelace",
        email="ada@acme.test",
        role="ADMIN",
        first_name="Ada",
        last_name="Lovelace",
        two_factor_status="enabled",
        finance_permission="EDITOR",
        ads_rights_permission="REVIEWER",
    )


def test_an_invitation_keeps_status_and_expiry() -> None:
    record = invitation_from_graph(INVITATION)
    assert record.kind == "invitation"
    assert record.invitation_status == "PENDING"
    assert record.invitation_expires_at == datetime(2026, 12, 16, 9, 0, tzinfo=UTC)


def test_grants_carry_sorted_tasks_and_skip_empty_assignments() -> None:
    snapshot = snapshot_from_graph(fetched())
    assert snapshot.grants == (
        GrantRecord("201", "act_555", ("ADVERTISE", "ANALYZE", "DRAFT", "MANAGE")),
    )


def test_assets_know_their_ownership_and_owner() -> None:
    snapshot = snapshot_from_graph(fetched())
    by_id = {a.external_id: a for a in snapshot.assets}
    assert by_id["act_555"].ownership == "owned"
    assert by_id["666"].ownership == "client"
    assert by_id["666"].owner_business_id == "777"


def test_partners_hold_tasks_per_asset() -> None:
    partners = {p.external_id: p for p in snapshot_from_graph(fetched()).partners}
    assert partners["888"].relation == "agency"
    assert partners["888"].asset_tasks == (PartnerAssetTasks("act_555", ("ADVERTISE", "ANALYZE")),)
    assert partners["777"].relation == "client"
    assert [a.asset_external_id for a in partners["777"].asset_tasks] == ["666"]


def test_every_account_kind_is_in_the_snapshot() -> None:
    kinds = sorted(a.kind for a in snapshot_from_graph(fetched()).accounts)
    assert kinds == ["invitation", "person", "system_user"]
