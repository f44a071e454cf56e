"""Removing an agency with its residue: the people who came with it, their tasks and the pending
invitations to its domain, in one batch an owner trims and applies, each change made once."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.guests import create_local_partner, invite_partner_guest
from bastion.actions.operations import run_due_operations
from bastion.actions.partner_removal import (
    RemovalPreview,
    RemovalView,
    apply_partner_removal,
    gather_partner_removal,
    preview_partner_removal,
    read_partner_removal,
)
from bastion.errors import Conflict, PermissionDenied
from bastion.storage.models import Account, Operation, Partner
from bastion.storage.models.enums import OperationKind
from tests.checks.conftest import World


@dataclass
class Residue:
    agency: str
    page: str
    ad_account: str
    ann: str  # at the agency's domain, tasks on the page
    ben: str  # matched to a guest of the local partner, at a shared mail provider
    cleo_email: str  # invited at the agency's domain
    local_partner_id: int
    bystander: str  # an employee at our own domain: never part of the residue


def _residue(world: World) -> Residue:
    sim = world.sim
    agency = next(p["id"] for p in sim.dump()["partners"] if p["relation"] == "agency")
    page = sim.dump()["assets"]["pages"][0]["id"]
    ad_account = sim.dump()["assets"]["ad_accounts"][1]["id"]
    sim.state.share_asset(page, agency, ["ANALYZE", "ADVERTISE"])
    sim.state.share_asset(ad_account, agency, ["ANALYZE"])
    ann = sim.add_person(name="Ann Archer", email="ann.archer@brightline.example")
    sim.grant_tasks(asset_id=page, user_id=ann, tasks=["ANALYZE"])
    ben = sim.add_person(name="Ben Bolt", email="ben.bolt@gmail.com")
    cleo = "cleo@brightline.example"
    sim.state.invite(
        email=cleo,
        role="EMPLOYEE",
        invited_user_type=["FB"],
        tasks=[],
        now=sim.now(),
        created_by_id=None,
    )
    bystander = next(
        p["id"]
        for p in sim.dump()["people"]
        if (p["email"] or "").endswith("@northwindoutfitters.com")
    )
    admin = Actor.user(world.admin_id)
    with world.runtime.sessions.begin() as session:
        local = create_local_partner(
            session, workspace_id=world.workspace_id, name="Brightline", actor=admin
        )
        guest = invite_partner_guest(
            session,
            workspace_id=world.workspace_id,
            partner_id=local.id,
            email="ben.bolt@gmail.com",
            name="Ben Bolt",
            actor=admin,
        ).user
        invite_partner_guest(  # brings the agency's domain
            session,
            workspace_id=world.workspace_id,
            partner_id=local.id,
            email="gia.gold@brightline.example",
            name="Gia Gold",
            actor=admin,
        )
        local_id, guest_id = local.id, guest.id
    world.check()
    with world.runtime.sessions.begin() as session:
        account = session.scalars(select(Account).where(Account.external_id == ben)).one()
        account.matched_user_id = guest_id
    return Residue(agency, page, ad_account, ann, ben, cleo, local_id, bystander)


def _partner_id(world: World, external_id: str) -> int:
    with world.runtime.sessions() as session:
        return session.scalars(select(Partner.id).where(Partner.external_id == external_id)).one()


def _gather(world: World, r: Residue, **kwargs: object) -> int:
    with world.runtime.sessions.begin() as session:
        return gather_partner_removal(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            partner_id=_partner_id(world, r.agency),
            actor=Actor.user(world.admin_id),
            **kwargs,  # type: ignore[arg-type]
        ).id


def _view(world: World, removal_id: int) -> RemovalView:
    """The batch as the admin reads it."""
    with world.runtime.sessions() as session:
        return read_partner_removal(
            session,
            workspace_id=world.workspace_id,
            removal_id=removal_id,
            actor=Actor.user(world.admin_id),
        )


def _preview(world: World, removal_id: int, **kwargs: object) -> RemovalPreview:
    """What applying the batch (or the kept items) removes, as the admin is shown it."""
    with world.runtime.sessions() as session:
        return preview_partner_removal(
            session,
            workspace_id=world.workspace_id,
            removal_id=removal_id,
            actor=Actor.user(world.admin_id),
            **kwargs,  # type: ignore[arg-type]
        )


def _items(world: World, removal_id: int) -> dict[str, tuple[int, str, str]]:
    """target external id → (item id, kind, status)."""
    return {
        row.item.target_external_id
        if row.item.kind.value != "invitation"
        else f"invitation:{row.item.label}": (row.item.id, row.item.kind.value, row.status)
        for row in _view(world, removal_id).rows
    }


def _apply(world: World, removal_id: int, **kwargs: object) -> list[int]:
    with world.runtime.sessions.begin() as session:
        return [
            o.id
            for o in apply_partner_removal(
                session,
                workspace_id=world.workspace_id,
                removal_id=removal_id,
                actor=Actor.user(world.admin_id),
                **kwargs,  # type: ignore[arg-type]
            )
        ]


def _deletes(world: World) -> dict[str, int]:
    routes = world.sim.request_log.summary()["by_route"]
    return {k: v for k, v in routes.items() if k.startswith("DELETE")}


def test_the_residue_is_the_agencys_people_tasks_invitations_and_shared_assets(
    world: World,
) -> None:
    r = _residue(world)
    removal_id = _gather(world, r, local_partner_id=r.local_partner_id)
    items = _items(world, removal_id)

    assert items[r.page][1] == items[r.ad_account][1] == "partner_access"
    assert items[r.ann][1] == "person"  # e-mail at brightline.example, the guests' domain
    assert items[r.ben][1] == "person"  # matched to the local partner's guest
    assert items[f"invitation:{r.cleo_email}"][1] == "invitation"
    assert items[r.agency][1] == "partner"
    assert r.bystander not in items
    assert {status for _id, _kind, status in items.values()} == {"pending"}
    # gmail.com is a domain our own directory uses: Ben comes by his match, not his domain.
    view = _view(world, removal_id)
    assert view.removal.domains == ["brightline.example"]
    ann_row = next(row for row in view.rows if row.item.target_external_id == r.ann)
    assert any("ANALYZE" in tasks for _name, tasks in ann_row.holds)
    residue = {k for k, (_i, kind, _s) in items.items() if kind != "partner_access"}
    assert residue == {r.ann, r.ben, f"invitation:{r.cleo_email}", r.agency}


def test_without_a_local_partner_named_domains_find_the_residue(world: World) -> None:
    r = _residue(world)
    items = _items(world, _gather(world, r, domains=["@Brightline.Example"]))
    residue = {k for k, (_i, kind, _s) in items.items() if kind != "partner_access"}
    assert residue == {r.ann, f"invitation:{r.cleo_email}", r.agency}
    assert {r.page, r.ad_account} <= set(items)


def test_a_trimmed_batch_is_applied_once_with_one_delete_per_kept_item(world: World) -> None:
    r = _residue(world)
    removal_id = _gather(world, r, local_partner_id=r.local_partner_id)
    items = _items(world, removal_id)
    kept = [items[k][0] for k in (r.page, r.ad_account, r.ann, r.agency)]
    kept.append(items[f"invitation:{r.cleo_email}"][0])  # Ben is trimmed: he stays

    preview = _preview(world, removal_id, kept_item_ids=kept)
    assert (preview.people, preview.seats, preview.invitations) == (2, 1, 1)
    assert preview.partner_accesses == 2 and preview.ends_partnership
    assert preview.summary == (
        "2 people, 1 seat, 1 pending invitation, 2 shared assets and the partnership"
    )

    world.sim.request_log.clear()
    queued = _apply(world, removal_id, kept_item_ids=kept)
    assert len(queued) == 5
    assert _apply(world, removal_id, kept_item_ids=kept) == []  # a second click queues nothing
    assert _apply(world, removal_id) == []  # nor does one that names no items
    assert run_due_operations(world.runtime) == {"succeeded": 5}
    assert run_due_operations(world.runtime) == {}

    deletes = _deletes(world)
    assert sum(deletes.values()) == 5, deletes
    state = world.sim.dump()
    assert r.agency not in {p["id"] for p in state["partners"]}
    assert r.ann not in {p["id"] for p in state["people"]}
    assert r.ben in {p["id"] for p in state["people"]}
    [cleo] = [i for i in state["invitations"] if i["email"] == r.cleo_email]
    assert cleo["status"] == "CANCELED"
    for kind in ("pages", "ad_accounts"):
        for asset in state["assets"][kind]:
            assert all(a["id"] != r.agency for a in asset.get("agencies", []))
    statuses = {status for _id, _kind, status in _items(world, removal_id).values()}
    assert statuses == {"succeeded", "trimmed"}

    assert _apply(world, removal_id) == []  # after it ran, applying again does nothing
    world.check()
    assert run_due_operations(world.runtime) == {}
    assert sum(_deletes(world).values()) == 5


def test_a_crash_after_meta_removed_the_partner_does_not_remove_it_twice(world: World) -> None:
    r = _residue(world)
    removal_id = _gather(world, r)
    items = _items(world, removal_id)
    [queued] = _apply(world, removal_id, kept_item_ids=[items[r.agency][0]])
    world.sim.remove_partner(r.agency)  # Meta did it; the worker died before recording it
    world.sim.request_log.clear()
    assert run_due_operations(world.runtime) == {"succeeded": 1}
    assert _deletes(world) == {}
    with world.runtime.sessions() as session:
        operation = session.get_one(Operation, queued)
    assert operation.kind == OperationKind.REMOVE_PARTNER
    assert operation.result is not None and operation.result["outcome"] == "already_done"


def test_a_batch_that_orphans_an_asset_needs_force(world: World) -> None:
    r = _residue(world)
    catalog = world.sim.add_asset(asset_type="catalog", name="Brightline feed")
    world.sim.grant_tasks(asset_id=catalog, user_id=r.ann, tasks=["MANAGE"])
    world.check()
    removal_id = _gather(world, r, domains=["brightline.example"])
    with pytest.raises(Conflict, match="Brightline feed") as refused:
        _apply(world, removal_id)
    assert "force" in str(refused.value)
    preview = _preview(world, removal_id, force=True)
    assert preview.orphaned_assets == ("Brightline feed",) and preview.forced
    items = _items(world, removal_id)
    without_ann = [i for key, (i, _k, _s) in items.items() if key != r.ann]
    assert len(_apply(world, removal_id, kept_item_ids=without_ann)) == len(without_ann)


def test_only_owners_gather_a_partner_removal(world: World) -> None:
    r = _residue(world)
    with world.runtime.sessions.begin() as session:
        from bastion.actions.users import create_admin

        other, _ = create_admin(
            session,
            workspace_id=world.workspace_id,
            email="temp@northwind.test",
            name="Temp",
            actor=Actor.system("tests"),
        )
        other.role = other.role.__class__("member")
        other_id = other.id
    with world.runtime.sessions.begin() as session, pytest.raises(PermissionDenied):
        gather_partner_removal(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            partner_id=_partner_id(world, r.agency),
            actor=Actor.user(other_id),
        )


def test_gathering_again_keeps_the_ids_of_what_is_still_there(world: World) -> None:
    r = _residue(world)
    first = _items(world, _gather(world, r, local_partner_id=r.local_partner_id))
    again = _items(world, _gather(world, r, local_partner_id=r.local_partner_id))
    assert again == first
    by_match_only = _items(world, _gather(world, r, domains=[]))
    assert r.ann not in by_match_only  # no local partner, no domain: Ann is not residue now
    assert by_match_only[r.agency][0] == first[r.agency][0]


def test_an_exempted_person_of_the_partner_is_gathered_saying_so(world: World) -> None:
    from bastion.actions.members import exempt_account

    r = _residue(world)
    with world.runtime.sessions.begin() as session:
        ann = session.scalars(select(Account).where(Account.external_id == r.ann)).one()
        exempt_account(
            session,
            workspace_id=world.workspace_id,
            account_id=ann.id,
            reason="Runs our launch campaign",
            expires_at=None,
            actor=Actor.user(world.admin_id),
        )
    removal_id = _gather(world, r, domains=["brightline.example"])
    [row] = [row for row in _view(world, removal_id).rows if row.item.target_external_id == r.ann]
    assert row.item.reason.endswith("exempted: Runs our launch campaign")
