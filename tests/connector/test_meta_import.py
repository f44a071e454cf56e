"""Importing a Business Manager: everything Meta holds arrives, in few Graph operations."""

from __future__ import annotations

import pytest
from meta_harness import ConnectorFactory, expected_snapshot, import_business, observed_snapshot

from bastion.connectors.meta.simulator import Simulator, generate_scenario


def test_a_full_import_equals_the_simulated_business(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    snapshot = import_business(connect())
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())


def test_people_carry_role_email_names_two_factor_and_permissions(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = sim.dump()["people"][0]
    snapshot = import_business(connect())
    record = next(a for a in snapshot.accounts if a.external_id == person["id"])
    assert (record.kind, record.email, record.role) == ("person", person["email"], person["role"])
    assert (record.first_name, record.last_name) == (person["first_name"], person["last_name"])
    assert record.two_factor_status == person["two_fac_status"]


def test_a_busy_business_needs_follow_up_pages_and_still_imports_completely(
    connect: ConnectorFactory, sim: Simulator
) -> None:
    # More than a page of people, and assets with more assignees than one inline page holds.
    sim.load(
        generate_scenario(
            "small",
            seed=7,
            people=260,
            assignments=1000,
            pages=2,
            ad_accounts=2,
            catalogs=1,
            pixels=1,
            instagram_assets=1,
        )
    )
    snapshot = import_business(connect())
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())
    assert sim.request_log.batch_requests >= 1


def test_the_import_counts_what_it_cost(sim: Simulator, connect: ConnectorFactory) -> None:
    sim.load(generate_scenario("small", seed=7, people=260, assignments=1000, pages=2))
    snapshot = import_business(connect())
    log = sim.request_log.summary()
    assert snapshot.graph_operations == log["operations"]
    assert snapshot.http_requests == log["http_requests"]


def test_the_import_reads_assignments_inline_instead_of_once_per_asset(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    import_business(connect())
    routes = sim.request_log.summary()["by_route"]
    assert not [route for route in routes if route.endswith("/assigned_users")]


def test_changes_made_by_hand_in_business_manager_show_in_the_next_import(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    import_business(connect())
    person_id = sim.add_person(name="Grace Hopper", email="grace@example.com")
    page_id = sim.add_asset(asset_type="page", name="Hopper Page")
    sim.grant_tasks(asset_id=page_id, user_id=person_id, tasks=["ANALYZE"])
    snapshot = import_business(connect())
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())
    assert any(
        g.account_external_id == person_id and g.asset_external_id == page_id
        for g in snapshot.grants
    )


@pytest.mark.parametrize("version", ["v23.0", "v27.0"])
def test_the_api_version_is_a_setting(
    sim: Simulator, connect: ConnectorFactory, version: str
) -> None:
    snapshot = import_business(connect(api_version=version))
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())


def test_an_app_secret_adds_a_proof_the_app_accepts(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    sim.update_settings(require_appsecret_proof=True)
    snapshot = import_business(connect(app_secret=sim.app_secret))
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())


@pytest.mark.slow
def test_the_large_business_with_its_instagram_assets_imports_against_metas_schema(
    connect: ConnectorFactory, sim: Simulator
) -> None:
    sim.load(generate_scenario("large", seed=42))
    snapshot = import_business(connect())
    instagram = [a for a in snapshot.assets if a.type == "instagram_asset"]
    assert len(instagram) == sum(1 for a in sim.state.assets.values() if a.type == "instagram")
    assert all(a.name and a.name.startswith("@") for a in instagram)
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())


def test_short_pages_from_meta_still_import_completely(
    connect: ConnectorFactory, sim: Simulator
) -> None:
    # Meta may cap limit on any edge: the import follows next through pages shorter than asked.
    sim.state.settings.max_page_size = 3
    snapshot = import_business(connect())
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())


def test_a_read_meta_finds_too_large_falls_back_to_one_read_per_edge_at_once(
    connect: ConnectorFactory, sim: Simulator
) -> None:
    from bastion.connectors.meta.sync import ALL_EDGES

    plain = import_business(connect())
    # Code 1, "reduce the amount of data": asked again it would be refused again.
    sim.inject_fault("too_much_data", method="GET", path=f"/{sim.business_id}")
    fallen_back = import_business(connect())
    assert observed_snapshot(fallen_back) == observed_snapshot(plain)
    # The refused read, the business alone, then each edge's first page: nothing asked twice.
    assert fallen_back.graph_operations == plain.graph_operations + 1 + len(ALL_EDGES)
