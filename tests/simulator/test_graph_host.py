"""Two simulated businesses behind one Graph host: each call reaches the business whose token it
carries, as graph.facebook.com serves every business."""

from __future__ import annotations

from bastion.connectors.meta.simulator import Simulator, generate_scenario
from bastion.connectors.meta.simulator.graph_host import GraphHost
from tests.simulator.simulator_support import SyncClient


def test_each_call_reaches_the_business_of_its_token() -> None:
    first = Simulator(generate_scenario("small", seed=42))
    second = Simulator(generate_scenario("small", seed=43, people=5))
    client = SyncClient(GraphHost([first, second]))
    try:
        for sim in (first, second):
            by_header = client.get(
                f"/v25.0/{sim.business_id}",
                headers={"Authorization": f"Bearer {sim.token}"},
            )
            assert by_header.status_code == 200, by_header.text
            assert by_header.json()["id"] == sim.business_id
            by_param = client.get(f"/v25.0/{sim.business_id}", params={"access_token": sim.token})
            assert by_param.json()["id"] == sim.business_id
            as_app = client.get(
                "/v25.0/debug_token",
                params={"input_token": sim.token, "access_token": sim.app_token},
            )
            assert as_app.json()["data"]["app_id"] == sim.app_id
        # Another business's node is not reachable with this business's token.
        crossed = client.get(f"/v25.0/{second.business_id}", params={"access_token": first.token})
        assert crossed.status_code >= 400
        expired = second.make_token(expires_at=int(second.now()) - 60)
        refused = client.get("/v25.0/me", params={"access_token": expired})
        assert refused.json()["error"]["code"] == 190
        unknown = client.get("/v25.0/me", params={"access_token": "EAAnot-a-token"})
        assert unknown.json()["error"]["code"] == 190
    finally:
        client.close()
