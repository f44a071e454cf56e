"""Reading the simulated business the way Bastion and Meta's SDK do."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from simulator_support import Graph, error_of

from bastion.connectors.meta.simulator import Simulator


def test_business_node_returns_requested_fields(graph: Graph, sim: Simulator) -> None:
    response = graph.get(
        sim.business_id, fields="id,name,two_factor_type,verification_status,created_time"
    )
    body = response.json()
    assert response.status_code == 200
    assert body["id"] == sim.business_id
    assert body["two_factor_type"] in ("admin_required", "all_required", "none")
    assert body["created_time"].endswith("+0000")


def test_default_fields_are_id_and_name(graph: Graph, sim: Simulator) -> None:
    assert set(graph.get(sim.business_id).json()) == {"id", "name"}


def test_answers_are_compact_ascii_json_as_graph_writes_them(graph: Graph, sim: Simulator) -> None:
    person = sim.state.add_person(
        name="Zoë Ångström 😀", email="zoe@example.com", role="EMPLOYEE", now=sim.now()
    )
    response = graph.get(person.id, fields="id,name")
    assert response.content.isascii()
    assert "Zo\\u00eb \\u00c5ngstr\\u00f6m \\ud83d\\ude00" in response.text
    assert response.json() == {"id": person.id, "name": "Zoë Ångström 😀"}
    assert ", " not in response.text and '": ' not in response.text


def test_unknown_field_is_code_100(graph: Graph, sim: Simulator) -> None:
    error = error_of(graph.get(sim.business_id, fields="id,shoe_size"))
    assert error["code"] == 100
    assert "shoe_size" in error["message"]


@pytest.mark.parametrize("version", ["v22.0", "v25.0", "v27.0"])
def test_supported_versions_and_trailing_slash(graph: Graph, sim: Simulator, version: str) -> None:
    response = graph.client.get(
        f"/{version}/{sim.business_id}/", params={"access_token": sim.token}
    )
    assert response.status_code == 200
    assert response.headers["facebook-api-version"] == version


def test_unversioned_path_works(graph: Graph, sim: Simulator) -> None:
    response = graph.client.get(f"/{sim.business_id}", params={"access_token": sim.token})
    assert response.json()["id"] == sim.business_id


def test_old_version_is_refused(graph: Graph, sim: Simulator) -> None:
    response = graph.client.get(f"/v21.0/{sim.business_id}", params={"access_token": sim.token})
    assert error_of(response)["code"] == 2635


def test_bearer_header_is_accepted(graph: Graph, sim: Simulator) -> None:
    response = graph.client.get(
        f"/v25.0/{sim.business_id}", headers={"Authorization": f"Bearer {sim.token}"}
    )
    assert response.status_code == 200


def test_missing_bad_and_expired_tokens(graph: Graph, sim: Simulator) -> None:
    assert error_of(graph.client.get(f"/v25.0/{sim.business_id}"))["code"] == 104
    assert error_of(graph.get(sim.business_id, token="EAAnonsense"))["code"] == 190
    expiring = sim.make_token(expires_at=int(sim.now()) + 60)
    assert graph.get(sim.business_id, token=expiring).status_code == 200
    sim.advance_clock(120)
    error = error_of(graph.get(sim.business_id, token=expiring))
    assert (error["code"], error["error_subcode"]) == (190, 463)
    assert error["type"] == "OAuthException"
    assert set(error) >= {"message", "fbtrace_id", "is_transient", "error_user_title"}


def test_appsecret_proof_checked_when_required(graph: Graph, sim: Simulator) -> None:
    assert sim.app_secret is not None
    sim.update_settings(require_appsecret_proof=True)
    assert error_of(graph.get(sim.business_id))["code"] == 100
    assert error_of(graph.get(sim.business_id, appsecret_proof="00"))["code"] == 100
    proof = hmac.new(sim.app_secret.encode(), sim.token.encode(), hashlib.sha256).hexdigest()
    assert graph.get(sim.business_id, appsecret_proof=proof).status_code == 200


def test_business_users_page_through_with_cursors(graph: Graph, sim: Simulator) -> None:
    first = graph.get(f"{sim.business_id}/business_users", limit=10, summary="total_count").json()
    assert len(first["data"]) == 10
    assert first["summary"]["total_count"] == 40
    assert "next" in first["paging"] and "previous" not in first["paging"]
    second = graph.get(
        f"{sim.business_id}/business_users", limit=10, after=first["paging"]["cursors"]["after"]
    ).json()
    assert {p["id"] for p in first["data"]}.isdisjoint(p["id"] for p in second["data"])
    back = graph.get(
        f"{sim.business_id}/business_users", limit=10, before=second["paging"]["cursors"]["before"]
    ).json()
    assert back["data"] == first["data"]
    everyone = graph.all_pages(f"{sim.business_id}/business_users", limit=7, fields="id,email,role")
    assert len({p["id"] for p in everyone}) == 40
    assert all("email" in p and "role" in p for p in everyone)


def test_last_page_has_after_cursor_but_no_next(graph: Graph, sim: Simulator) -> None:
    body = graph.get(f"{sim.business_id}/business_users", limit=100).json()
    assert "next" not in body["paging"]
    assert body["paging"]["cursors"]["after"]


def test_limit_is_served_as_asked_unless_the_scenario_caps_pages(
    graph: Graph, sim: Simulator
) -> None:
    sim.state.settings.business_call_budget = 10**6
    for index in range(120):
        sim.add_person(name=f"Temp Person{index}", email=f"temp{index}@example.com")
    everyone = len(sim.state.people)
    body = graph.get(f"{sim.business_id}/business_users", limit=1000).json()
    assert len(body["data"]) == everyone
    sim.state.settings.max_page_size = 30
    body = graph.get(f"{sim.business_id}/business_users", limit=1000).json()
    assert len(body["data"]) == 30
    assert "next" in body["paging"]


def test_pending_users_filter_by_email(graph: Graph, sim: Simulator) -> None:
    everyone = graph.get(f"{sim.business_id}/pending_users", summary="true").json()
    assert everyone["summary"]["total_count"] == len(everyone["data"]) > 0
    target = everyone["data"][0]
    assert set(target) >= {"id", "email", "role", "status"}
    found = graph.get(f"{sim.business_id}/pending_users", email=target["email"].upper()).json()
    assert [item["id"] for item in found["data"]] == [target["id"]]


def test_system_users_list_roles(graph: Graph, sim: Simulator) -> None:
    body = graph.get(f"{sim.business_id}/system_users").json()
    assert any(s["id"] == sim.admin_system_user_id and s["role"] == "ADMIN" for s in body["data"])


@pytest.mark.parametrize(
    "edge",
    [
        "owned_pages",
        "client_pages",
        "owned_ad_accounts",
        "client_ad_accounts",
        "owned_product_catalogs",
        "client_product_catalogs",
        "owned_pixels",
        "adspixels",
        "client_pixels",
        "owned_instagram_assets",
        "client_instagram_assets",
    ],
)
def test_asset_edges_list_assets(graph: Graph, sim: Simulator, edge: str) -> None:
    if "instagram" in edge:
        # Meta's InstagramBusinessAsset has only id, ig_user_id and ig_username.
        response = graph.get(f"{sim.business_id}/{edge}", fields="id,ig_user_id,ig_username")
        assert response.status_code == 200
        assert all("ig_username" in item for item in response.json()["data"])
        return
    response = graph.get(f"{sim.business_id}/{edge}", fields="id,name,owner_business{id}")
    assert response.status_code == 200
    for item in response.json()["data"]:
        owned = item["owner_business"]["id"] == sim.business_id
        assert owned == (not edge.startswith("client_"))


@pytest.mark.parametrize("field", ["name", "owner_business{id,name}", "business"])
def test_instagram_assets_refuse_fields_meta_lacks(
    graph: Graph, sim: Simulator, field: str
) -> None:
    error = error_of(graph.get(f"{sim.business_id}/owned_instagram_assets", fields=f"id,{field}"))
    name = field.split("{")[0]
    assert error["code"] == 100
    assert error["message"] == (
        f"(#100) Tried accessing nonexisting field ({name}) on node type (InstagramBusinessAsset)"
    )


def test_expanded_read_with_a_field_meta_lacks_fails_whole(graph: Graph, sim: Simulator) -> None:
    fields = "id,name,owned_instagram_assets{id,name}"
    assert error_of(graph.get(sim.business_id, fields=fields))["code"] == 100


def test_fields_meta_has_are_served_or_left_out(graph: Graph, sim: Simulator) -> None:
    person = next(iter(sim.state.people))
    body = graph.get(person, fields="id,business_role_request,invited_user_type").json()
    assert body == {"id": person}
    assert error_of(graph.get(person, fields="id,created_time"))["code"] == 100
    business = graph.get(sim.business_id, fields="id,payment_account_id,vertical_id").json()
    assert business == {"id": sim.business_id}


def test_business_users_list_role_by_default(graph: Graph, sim: Simulator) -> None:
    first = graph.get(f"{sim.business_id}/business_users").json()["data"][0]
    assert {"id", "name", "role"} <= set(first)


def test_ad_accounts_have_act_ids_and_fields(graph: Graph, sim: Simulator) -> None:
    body = graph.get(
        f"{sim.business_id}/owned_ad_accounts", fields="id,account_id,account_status,currency"
    ).json()
    for account in body["data"]:
        assert account["id"] == f"act_{account['account_id']}"
        assert isinstance(account["account_status"], int)


def test_inline_assigned_users_with_business_modifier(graph: Graph, sim: Simulator) -> None:
    fields = f"id,name,assigned_users.business({sim.business_id}).limit(1){{id,name,tasks}}"
    body = graph.get(f"{sim.business_id}/owned_ad_accounts", fields=fields).json()
    seen = 0
    for account in body["data"]:
        holders = sim.state.asset_users.get(account["id"], {})
        if not holders:
            assert "assigned_users" not in account
            continue
        nested = account["assigned_users"]
        assert len(nested["data"]) == 1
        assert nested["data"][0]["tasks"] == list(holders[nested["data"][0]["id"]])
        if len(holders) > 1:
            next_page = graph.client.get(nested["paging"]["next"]).json()
            assert next_page["data"][0]["id"] != nested["data"][0]["id"]
        seen += 1
    assert seen > 0


def test_inline_assigned_users_needs_business(graph: Graph, sim: Simulator) -> None:
    response = graph.get(f"{sim.business_id}/owned_ad_accounts", fields="id,assigned_users{id}")
    assert error_of(response)["code"] == 100


@pytest.mark.parametrize("asset_type", ["page", "ad_account", "catalog", "pixel", "instagram"])
def test_assigned_users_per_asset(graph: Graph, sim: Simulator, asset_type: str) -> None:
    asset = next(
        a
        for a in sim.state.assets.values()
        if a.type == asset_type and a.id in sim.state.asset_users
    )
    assert error_of(graph.get(f"{asset.id}/assigned_users"))["code"] == 100
    body = graph.get(
        f"{asset.id}/assigned_users",
        business=sim.business_id,
        fields="id,name,user_type,tasks"
        + (",permitted_tasks" if asset_type != "instagram" else ""),
        summary="total_count",
    ).json()
    assert body["summary"]["total_count"] == len(sim.state.asset_users[asset.id])
    holder = body["data"][0]
    assert holder["user_type"] in ("BUSINESS_USER", "SYSTEM_USER")
    assert ("permitted_tasks" in holder) == (asset_type != "instagram")
    if asset_type == "instagram":
        refused = graph.get(
            f"{asset.id}/assigned_users", business=sim.business_id, fields="id,permitted_tasks"
        )
        assert error_of(refused)["code"] == 100


def test_person_assigned_asset_edges(graph: Graph, sim: Simulator) -> None:
    user_id, held = max(sim.state.user_assets.items(), key=lambda item: len(item[1]))
    counted = 0
    for edge, kind in [
        ("assigned_pages", "page"),
        ("assigned_ad_accounts", "ad_account"),
        ("assigned_product_catalogs", "catalog"),
    ]:
        body = graph.get(f"{user_id}/{edge}", fields="id,name,tasks,permitted_tasks").json()
        expected = {a for a in held if sim.state.assets[a].type == kind}
        assert {item["id"] for item in body["data"]} == expected
        counted += len(expected)
    assert counted > 0


@pytest.mark.parametrize("edge", ["assigned_pixels", "assigned_instagram_accounts"])
def test_edges_meta_lacks_are_refused(graph: Graph, sim: Simulator, edge: str) -> None:
    person = next(iter(sim.state.people))
    assert error_of(graph.get(f"{person}/{edge}"))["code"] == 100


def test_client_instagram_accounts_does_not_exist(graph: Graph, sim: Simulator) -> None:
    assert error_of(graph.get(f"{sim.business_id}/client_instagram_accounts"))["code"] == 100


def test_unknown_object_is_100_subcode_33(graph: Graph) -> None:
    error = error_of(graph.get("123456789"))
    assert (error["code"], error["error_subcode"]) == (100, 33)


def test_partners(graph: Graph, sim: Simulator) -> None:
    agencies = graph.get(f"{sim.business_id}/agencies", fields="id,name,page_permissions").json()
    clients = graph.get(f"{sim.business_id}/clients").json()
    assert len(agencies["data"]) + len(clients["data"]) == len(sim.state.partners)
    shared = next(iter(sim.state.partner_access))
    agency = next(p for p in sim.state.partners.values() if p.relation == "agency")
    account = next(a for a in sim.state.assets.values() if a.type == "ad_account")
    page = next(a for a in sim.state.assets.values() if a.type == "page")
    sim.state.share_asset(account.id, agency.id, ["ANALYZE"])
    per_asset = graph.get(f"{account.id}/agencies", fields="id,name,permitted_tasks,access_status")
    assert per_asset.json()["data"][0]["access_status"] == "CONFIRMED"
    # Only ad accounts' agencies carry permitted_tasks in Meta's reference.
    assert error_of(graph.get(f"{page.id}/agencies", fields="id,permitted_tasks"))["code"] == 100
    assert graph.get(f"{shared}/agencies", fields="id,name").json()["data"]


def test_me_and_permissions(graph: Graph, sim: Simulator) -> None:
    me = graph.get("me").json()
    assert me["id"] == sim.admin_system_user_id
    # Meta's SystemUser has no permissions edge; a person's User node does.
    assert error_of(graph.get("me/permissions"))["code"] == 100
    person_token = sim.make_token(user_type="USER")
    permissions = graph.get("me/permissions", token=person_token).json()["data"]
    assert {p["permission"] for p in permissions} >= {"business_management", "ads_management"}
    assert {p["status"] for p in permissions} == {"granted"}
    person_me = graph.get(
        "me", token=person_token, fields="id,name,business_users{id,business{id}}"
    ).json()
    scoped = person_me["business_users"]["data"][0]
    assert scoped["business"]["id"] == sim.business_id
    assert scoped["id"] != person_me["id"]


def test_debug_token(graph: Graph, sim: Simulator) -> None:
    refused = error_of(graph.get("debug_token", input_token=sim.token))
    assert refused["code"] == 100
    assert "app access token" in refused["message"]
    data = graph.get("debug_token", token=sim.app_token, input_token=sim.token).json()["data"]
    assert data["type"] == "SYSTEM_USER"
    assert data["expires_at"] == 0
    assert data["is_valid"] is True
    assert data["app_id"] == sim.app_id
    assert len(data["scopes"]) == 6
    bad = graph.get("debug_token", token=sim.app_token, input_token="EAAbogus").json()["data"]
    assert bad["is_valid"] is False


def test_missing_permissions_answer_200_or_10(graph: Graph, sim: Simulator) -> None:
    no_business = sim.make_token(scopes=["pages_show_list"])
    assert (
        error_of(graph.get(f"{sim.business_id}/business_users", token=no_business))["code"] == 200
    )
    no_metadata = sim.make_token(scopes=["business_management", "pages_show_list"])
    page = next(a for a in sim.state.assets.values() if a.type == "page")
    error = error_of(
        graph.get(f"{page.id}/assigned_users", token=no_metadata, business=sim.business_id)
    )
    assert error["code"] == 10
    no_ads = sim.make_token(scopes=["business_management"])
    assert error_of(graph.get(f"{sim.business_id}/owned_ad_accounts", token=no_ads))["code"] == 200


def test_field_syntax_error(graph: Graph, sim: Simulator) -> None:
    assert error_of(graph.get(sim.business_id, fields="id,{name"))["code"] == 2500


def test_every_response_carries_usage_headers(graph: Graph, sim: Simulator) -> None:
    for response in (graph.get(sim.business_id), graph.get("nonexistent")):
        assert json.loads(response.headers["x-app-usage"])["call_count"] >= 0
        usage = json.loads(response.headers["x-business-use-case-usage"])
        assert usage[sim.business_id][0]["estimated_time_to_regain_access"] == 0
