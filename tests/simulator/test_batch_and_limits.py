"""Batch requests, rate limits and injected faults."""

from __future__ import annotations

import json
from typing import Any

from simulator_support import Graph, business_state, error_of

from bastion.connectors.meta.simulator import Simulator


def batch(graph: Graph, operations: list[dict[str, Any]], **extra: str) -> Any:
    response = graph.client.post(
        "/v25.0/",
        data={"access_token": graph.sim.token, "batch": json.dumps(operations), **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_batch_answers_in_order_with_code_headers_body(graph: Graph, sim: Simulator) -> None:
    result = batch(
        graph,
        [
            {"method": "GET", "relative_url": f"v25.0/{sim.business_id}?fields=id,name"},
            {"method": "GET", "relative_url": "nonexistent_id"},
            {
                "method": "POST",
                "relative_url": f"{sim.business_id}/business_users",
                "body": "email=batch@example.com&role=EMPLOYEE",
            },
        ],
    )
    assert [item["code"] for item in result] == [200, 400, 200]
    assert json.loads(result[0]["body"])["id"] == sim.business_id
    assert json.loads(result[1]["body"])["error"]["code"] == 100
    assert any(h["name"] == "X-Business-Use-Case-Usage" for h in result[0]["headers"])
    assert sim.state.listed_invitations(sim.now(), "batch@example.com")


def test_unversioned_batch_and_no_headers(graph: Graph, sim: Simulator) -> None:
    response = graph.client.post(
        "/",
        data={
            "access_token": sim.token,
            "include_headers": "false",
            "batch": json.dumps([{"method": "GET", "relative_url": sim.business_id}]),
        },
    )
    assert "headers" not in response.json()[0]


def test_batch_counts_every_operation(graph: Graph, sim: Simulator) -> None:
    sim.request_log.clear()
    batch(graph, [{"method": "GET", "relative_url": sim.business_id}] * 50)
    summary = sim.request_log.summary()
    assert summary["operations"] == 50
    assert summary["http_requests"] == 1
    assert summary["by_route"]["GET /{business_id}"] == 50


def test_batch_over_fifty_is_refused_without_running(graph: Graph, sim: Simulator) -> None:
    operations = [
        {
            "method": "POST",
            "relative_url": f"{sim.business_id}/business_users",
            "body": f"email=b{i}@x.co",
        }
        for i in range(51)
    ]
    before = business_state(sim)
    response = graph.client.post(
        "/v25.0/", data={"access_token": sim.token, "batch": json.dumps(operations)}
    )
    assert error_of(response)["code"] == 100
    assert business_state(sim) == before


def test_depends_on_and_result_references(graph: Graph, sim: Simulator) -> None:
    result = batch(
        graph,
        [
            {
                "name": "people",
                "method": "GET",
                "relative_url": f"{sim.business_id}/business_users?limit=2",
            },
            {
                "method": "GET",
                "depends_on": "people",
                "relative_url": "{result=people:$.data.0.id}?fields=id,email",
            },
        ],
    )
    assert result[0] is None  # referenced by a later operation, so omitted
    person = json.loads(result[1]["body"])
    assert person["id"] in sim.state.people


def test_failed_parent_fails_dependants(graph: Graph, sim: Simulator) -> None:
    result = batch(
        graph,
        [
            {"name": "bad", "method": "GET", "relative_url": "nonexistent"},
            {"method": "GET", "depends_on": "bad", "relative_url": sim.business_id},
        ],
    )
    assert result[1]["code"] == 400
    assert "bad" in json.loads(result[1]["body"])["error"]["message"]


def test_null_in_batch_fault(graph: Graph, sim: Simulator) -> None:
    sim.inject_fault("batch_null", path="/business_users")
    result = batch(
        graph,
        [
            {"method": "GET", "relative_url": sim.business_id},
            {"method": "GET", "relative_url": f"{sim.business_id}/business_users"},
            {"method": "GET", "relative_url": f"{sim.business_id}/business_users"},
        ],
    )
    assert result[0]["code"] == 200
    assert result[1] is None
    assert result[2]["code"] == 200


def test_business_budget_throttles_with_613_and_80004(graph: Graph, sim: Simulator) -> None:
    sim.update_settings(business_call_budget=3, rate_window_seconds=600)
    for _ in range(3):
        assert graph.get(sim.business_id).status_code == 200
    response = graph.get(sim.business_id)
    error = error_of(response)
    assert error["code"] == 613
    usage = json.loads(response.headers["x-business-use-case-usage"])[sim.business_id][0]
    assert usage["call_count"] == 100
    assert 1 <= usage["estimated_time_to_regain_access"] <= 10
    account = next(a for a in sim.state.assets.values() if a.type == "ad_account")
    assert error_of(graph.get(account.id))["code"] == 80004
    sim.advance_clock(601)
    assert graph.get(sim.business_id).status_code == 200


def test_app_and_user_budgets(graph: Graph, sim: Simulator) -> None:
    sim.update_settings(user_call_budget=2)
    graph.get(sim.business_id)
    graph.get(sim.business_id)
    assert error_of(graph.get(sim.business_id))["code"] == 17
    other = sim.make_token()
    assert graph.get(sim.business_id, token=other).status_code == 200
    sim.update_settings(app_call_budget=3, user_call_budget=100)
    assert error_of(graph.get(sim.business_id, token=other))["code"] == 4


def test_usage_rises_with_calls(graph: Graph, sim: Simulator) -> None:
    sim.update_settings(business_call_budget=10)
    for _ in range(5):
        response = graph.get(sim.business_id)
    usage = json.loads(response.headers["x-business-use-case-usage"])[sim.business_id][0]
    assert usage["call_count"] == 50  # five of ten calls, this one included
    app_usage = json.loads(response.headers["x-app-usage"])
    assert app_usage["call_count"] >= 0


def test_injected_faults(graph: Graph, sim: Simulator) -> None:
    sim.inject_fault("http_500", count=2, method="GET", path="/business_users")
    for _ in range(2):
        response = graph.get(f"{sim.business_id}/business_users")
        assert response.status_code == 500
        assert error_of(response)["is_transient"] is True
    assert graph.get(f"{sim.business_id}/business_users").status_code == 200
    sim.inject_fault("rate_limit", code=80004)
    response = graph.get(sim.business_id)
    assert error_of(response)["code"] == 80004
    usage = json.loads(response.headers["x-business-use-case-usage"])[sim.business_id][0]
    assert usage["estimated_time_to_regain_access"] == 5
    sim.inject_fault("restricted")
    assert error_of(graph.get(sim.business_id))["code"] == 368
    sim.inject_fault("error", code=2)
    assert error_of(graph.get(sim.business_id))["code"] == 2


def test_injected_faults_change_nothing(graph: Graph, sim: Simulator) -> None:
    before = business_state(sim)
    sim.inject_fault("http_500", method="POST")
    response = graph.post(f"{sim.business_id}/business_users", email="never@example.com")
    assert response.status_code == 500
    assert business_state(sim) == before


def test_hang_then_answer(graph: Graph, sim: Simulator) -> None:
    sim.inject_fault("hang", hang_seconds=0.05)
    assert graph.get(sim.business_id).status_code == 200


def test_usage_headers_name_metas_use_cases_and_access_tier(graph: Graph, sim: Simulator) -> None:
    account = next(a for a in sim.state.assets.values() if a.type == "ad_account")
    page = next(a for a in sim.state.assets.values() if a.type == "page")
    on_account = graph.get(account.id, fields="id")
    ad_usage = json.loads(on_account.headers["x-ad-account-usage"])
    assert set(ad_usage) == {"acc_id_util_pct", "reset_time_duration", "ads_api_access_tier"}
    cases = {}
    for path in (account.id, page.id, f"{sim.business_id}/business_users"):
        response = graph.get(path)
        (entry,) = json.loads(response.headers["x-business-use-case-usage"])[sim.business_id]
        assert entry["ads_api_access_tier"] == "standard_access"
        cases[path] = entry["type"]
    # Meta's documented use cases only: there is no "business_management" type.
    assert cases == {
        account.id: "ads_management",
        page.id: "pages",
        f"{sim.business_id}/business_users": "ads_management",
    }
    assert "x-ad-account-usage" not in graph.get(page.id).headers
