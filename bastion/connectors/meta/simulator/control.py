"""The control API under ``/_sim/``: drive the simulator from tests, demos and scripts.

Endpoints (JSON in, JSON out; never under a Graph path):

- ``GET  /_sim/info``                       base URL, business id, app id, admin token
- ``POST /_sim/reset``                      back to the loaded scenario
- ``POST /_sim/scenario``                   load ``{"preset","seed","sizes"}`` or a scenario JSON
- ``GET  /_sim/scenario``                   the live state as a saveable scenario JSON
- ``GET  /_sim/state``                      dump of the full state
- ``GET  /_sim/clock`` / ``POST /_sim/clock/advance``  ``{"seconds"|"days": n}``
- ``POST /_sim/latency``                    ``{"ms": n}``
- ``POST /_sim/settings``                   change scenario settings (budgets, windows, 2FA, …)
- ``GET/POST/DELETE /_sim/faults``          list, inject ``{"kind","count","method","path","code",
  "hang_seconds"}``, clear
- ``POST /_sim/tokens``                     ``{"scopes","expires_at","user_type","user_id"}``
- ``POST /_sim/invitations/{id}/accept`` (``{"name"}`` optional) and ``/decline``
- ``POST /_sim/oob/{change}``               out-of-band change as if made by hand in Business
  Manager: ``add_person, remove_person, set_role, add_asset, remove_asset, grant_tasks,
  revoke_tasks, add_partner, remove_partner``
- ``GET/DELETE /_sim/requests``             request log summary (``?entries=N`` adds the last N)
- ``GET/POST /_sim/oauth/redirect_uris``    the app's Valid OAuth Redirect URIs (``{"uris": […]}``)
- ``GET  /_sim/facebook_accounts``          who can log in with Facebook, and their seat
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bastion.connectors.meta.simulator.errors import GraphError
from bastion.connectors.meta.simulator.generator import generate_scenario
from bastion.connectors.meta.simulator.scenario import Scenario
from bastion.connectors.meta.simulator.simulator import Simulator

Handler = Callable[[Simulator, dict[str, Any], Request], Any]

OOB_CHANGES: dict[str, Callable[[Simulator, dict[str, Any]], Any]] = {
    "add_person": lambda sim, b: {"id": sim.add_person(**b)},
    "remove_person": lambda sim, b: sim.remove_person(b["user_id"]),
    "set_role": lambda sim, b: sim.set_role(b["user_id"], b["role"]),
    "add_asset": lambda sim, b: {"id": sim.add_asset(**b)},
    "remove_asset": lambda sim, b: sim.remove_asset(b["asset_id"]),
    "grant_tasks": lambda sim, b: {"tasks": sim.grant_tasks(**b)},
    "revoke_tasks": lambda sim, b: sim.revoke_tasks(**b),
    "add_partner": lambda sim, b: {"id": sim.add_partner(**b)},
    "remove_partner": lambda sim, b: sim.remove_partner(b["partner_id"]),
    "add_facebook_user": lambda sim, b: {"id": sim.add_facebook_user(**b)},
}


def info(sim: Simulator, request: Request) -> dict[str, Any]:
    return {
        "base_url": str(request.base_url).rstrip("/"),
        "business_id": sim.business_id,
        "app_id": sim.app_id,
        "token": sim.token,
        "admin_system_user_id": sim.admin_system_user_id,
    }


def _load(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    if "format" in body:
        sim.load(Scenario.from_json(body))
    else:
        sizes = body.get("sizes") or {}
        sim.load(
            generate_scenario(body.get("preset", "small"), seed=int(body.get("seed", 42)), **sizes)
        )
    return {"business_id": sim.business_id, "token": sim.token}


def _advance(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    seconds = float(body.get("seconds", 0)) + float(body.get("days", 0)) * 86_400
    return {"now": sim.advance_clock(seconds)}


def _fault(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    kind = body.pop("kind", None)
    if not isinstance(kind, str):
        raise ValueError("kind is required")
    sim.inject_fault(kind, **body)
    return {"faults": [fault.to_json() for fault in sim.faults.faults]}


def _redirect_uris(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    uris = body.get("uris")
    if not isinstance(uris, list) or not all(isinstance(uri, str) for uri in uris):
        raise ValueError("uris must be a list of strings")
    sim.set_oauth_redirect_uris(uris)
    return {"uris": sim.oauth_redirect_uris}


def _facebook_accounts(sim: Simulator) -> dict[str, Any]:
    return {
        "data": [
            {
                "id": account.id,
                "name": account.name,
                "email": account.email,
                "business_user_id": account.person.id if account.person else None,
            }
            for account in sim.facebook_accounts()
        ]
    }


def _requests(sim: Simulator, request: Request) -> dict[str, Any]:
    summary = sim.request_log.summary()
    entries = int(request.query_params.get("entries", "0"))
    if entries:
        summary["entries"] = sim.request_log.entries(entries)
    return summary


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        sim: Simulator = request.app.state.simulator
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            async with sim.state_lock.writing():
                result = handler(sim, body, request)
        except GraphError as error:
            return JSONResponse(error.body(), status_code=400)
        except (LookupError, KeyError) as error:
            return JSONResponse({"error": str(error)}, status_code=404)
        except (ValueError, TypeError, json.JSONDecodeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(result if result is not None else {"success": True})

    return endpoint


def _oob(sim: Simulator, body: dict[str, Any], request: Request) -> Any:
    change = OOB_CHANGES.get(request.path_params["change"])
    if change is None:
        raise LookupError(f"unknown change; choose one of {', '.join(OOB_CHANGES)}")
    return change(sim, body)


def control_routes() -> list[Route]:
    def route(path: str, handler: Handler, method: str) -> Route:
        return Route(path, _endpoint(handler), methods=[method])

    return [
        route("/info", lambda sim, b, r: info(sim, r), "GET"),
        route("/reset", lambda sim, b, r: sim.reset(), "POST"),
        route("/scenario", lambda sim, b, r: _load(sim, b), "POST"),
        route("/scenario", lambda sim, b, r: sim.scenario_snapshot().to_json(), "GET"),
        route("/state", lambda sim, b, r: sim.dump(), "GET"),
        route("/clock", lambda sim, b, r: {"now": sim.now()}, "GET"),
        route("/clock/advance", lambda sim, b, r: _advance(sim, b), "POST"),
        route("/latency", lambda sim, b, r: sim.set_latency(float(b["ms"])), "POST"),
        route("/settings", lambda sim, b, r: asdict(sim.update_settings(**b)), "POST"),
        route(
            "/faults", lambda sim, b, r: {"faults": [f.to_json() for f in sim.faults.faults]}, "GET"
        ),
        route("/faults", lambda sim, b, r: _fault(sim, b), "POST"),
        route("/faults", lambda sim, b, r: sim.clear_faults(), "DELETE"),
        route("/tokens", lambda sim, b, r: {"token": sim.make_token(**b)}, "POST"),
        route(
            "/invitations/{invitation_id}/accept",
            lambda sim, b, r: {"id": sim.accept_invitation(r.path_params["invitation_id"], **b)},
            "POST",
        ),
        route(
            "/invitations/{invitation_id}/decline",
            lambda sim, b, r: sim.decline_invitation(r.path_params["invitation_id"]),
            "POST",
        ),
        route("/oob/{change}", _oob, "POST"),
        route("/requests", lambda sim, b, r: _requests(sim, r), "GET"),
        route("/requests", lambda sim, b, r: sim.request_log.clear(), "DELETE"),
        route("/oauth/redirect_uris", lambda sim, b, r: {"uris": sim.oauth_redirect_uris}, "GET"),
        route("/oauth/redirect_uris", lambda sim, b, r: _redirect_uris(sim, b), "POST"),
        route("/facebook_accounts", lambda sim, b, r: _facebook_accounts(sim), "GET"),
    ]
