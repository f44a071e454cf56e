"""A faithful, seedable Meta Business Manager that Meta's own SDK can talk to.

Meta is never reachable from our machines, yet users want to try Bastion before handing it a real
token, and our tests and benchmarks need a Graph API that behaves like Meta's. This package is that
Graph API: an ASGI app speaking Meta's dialect (paths, envelopes, paging, batch, errors, usage
headers) over an in-memory business generated from a seed.

Contract (other modules rely on these names)
--------------------------------------------
- ``generate_scenario(preset="small", *, seed=42, **size_overrides) -> Scenario`` — presets
  ``small`` and ``large``; size knobs: ``people, invitations, system_users, pages, ad_accounts,
  catalogs, pixels, instagram_assets, assignments, partners, directory_extra``.
- ``load_scenario(path) -> Scenario``; ``Scenario.save(path)``; ``Scenario.to_json()`` /
  ``Scenario.from_json(data)``.
- ``Scenario.directory_users() -> list[DirectoryUser]`` (``email, name, external_id, status``
  ``"active"|"deprovisioned"``, ``secondary_emails, groups``) and
  ``Scenario.write_directory(folder)`` writing ``directory.csv`` (columns
  ``email,name,external_id,status,secondary_emails,groups``; lists joined by ``;``) and
  ``directory.scim.json`` (a list of SCIM 2.0 User resources).
- ``Simulator(scenario, *, latency_ms=0)``: ``business_id``, ``app_id``, ``app_secret``,
  ``token`` (never-expiring SYSTEM_USER token of an admin system user with the six permissions),
  ``admin_system_user_id``, ``clock`` (``now()``, ``advance(seconds)``), ``dump() -> dict``,
  ``scenario_snapshot() -> Scenario``, ``request_log`` (``summary() -> dict``, ``clear()``),
  ``make_token(scopes=..., expires_at=0, user_type="SYSTEM_USER", user_id=None) -> str``,
  ``inject_fault(kind, *, count=1, method=None, path=None, code=None, hang_seconds=30.0)``,
  ``clear_faults()``, ``advance_clock(seconds)``, ``set_latency(ms)``, ``reset()``,
  ``load(scenario)``, ``accept_invitation(id) -> person_id``, ``decline_invitation(id)``,
  ``update_settings(**values)`` and the out-of-band changes ``add_person, remove_person,
  set_role, add_asset, remove_asset, grant_tasks, revoke_tasks, add_partner``.
- Facebook Login: ``set_oauth_redirect_uris(uris)`` / ``oauth_redirect_uris``,
  ``facebook_accounts() -> list[FacebookProfile]`` (``id`` app-scoped, ``name``, ``email``,
  ``person`` the seat or ``None``), ``add_facebook_user(name=, email=) -> id``,
  ``issue_login_code(user, *, redirect_uri, scopes=("public_profile",), declined=()) -> code``;
  routes ``/[vN.0/]dialog/oauth`` and ``/[vN.0/]oauth/access_token`` (``login_routes``).
- ``create_simulator_app(simulator) -> Starlette``; ``app.state.simulator`` is the Simulator.
- ``limits.EDGE_LIMIT_CAPS``: edge name -> ``EdgeLimit(default, maximum)``;
  ``limits.MAX_BATCH_OPERATIONS`` = 50.
- CLI: ``cli.simulate_app`` (Typer) with the ``meta`` command.

The Graph surface, the control API under ``/_sim/`` and every choice made where Meta's behaviour
is unconfirmed are described in ``docs/simulator.md`` and in the docstring of the module that
implements them.
"""

from __future__ import annotations

from bastion.connectors.meta.simulator.app import create_simulator_app
from bastion.connectors.meta.simulator.directory import DirectoryUser
from bastion.connectors.meta.simulator.generator import generate_scenario
from bastion.connectors.meta.simulator.scenario import Scenario, load_scenario
from bastion.connectors.meta.simulator.simulator import Simulator

__all__ = [
    "DirectoryUser",
    "Scenario",
    "Simulator",
    "create_simulator_app",
    "generate_scenario",
    "load_scenario",
]
