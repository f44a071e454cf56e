"""``bastion simulate meta``: serve the Graph API simulator on a local port.

Prints what a user needs to point Bastion (or Meta's SDK) at it: the Graph base URL, the business
id, the app id and a ready system-user token; ``--json`` prints one JSON object for scripts.
``--oauth-redirect-uri`` (repeatable) lists where the Facebook Login dialog may send people back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bastion.connectors.meta.simulator.app import create_simulator_app
from bastion.connectors.meta.simulator.generator import PRESETS, generate_scenario
from bastion.connectors.meta.simulator.scenario import Scenario, load_scenario
from bastion.connectors.meta.simulator.simulator import Simulator

simulate_app = typer.Typer(help="Run simulators of the apps Bastion governs.", no_args_is_help=True)


def _scenario(name: str, seed: int) -> Scenario:
    if name in PRESETS:
        return generate_scenario(name, seed=seed)
    path = Path(name)
    if not path.is_file():
        raise typer.BadParameter(
            f"{name!r} is neither a preset ({', '.join(PRESETS)}) nor a scenario file",
            param_hint="--scenario",
        )
    try:
        return load_scenario(path)
    except (ValueError, KeyError) as error:
        raise typer.BadParameter(f"{name}: {error}", param_hint="--scenario") from None


@simulate_app.command()
def meta(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    scenario: Annotated[
        str, typer.Option(help="Preset (small, large) or a scenario JSON file.")
    ] = "small",
    seed: Annotated[int, typer.Option(help="Seed of the generated scenario.")] = 42,
    latency_ms: Annotated[float, typer.Option(help="Delay added to every Graph request.")] = 0,
    oauth_redirect_uri: Annotated[
        list[str] | None,
        typer.Option(help="A Valid OAuth Redirect URI of the app's Facebook Login (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Serve a simulated Meta Business Manager (Graph API) until interrupted."""
    import uvicorn

    simulator = Simulator(_scenario(scenario, seed), latency_ms=latency_ms)
    try:
        simulator.set_oauth_redirect_uris(oauth_redirect_uri or [])
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--oauth-redirect-uri") from None
    base_url = f"http://{host}:{port}"
    details = {
        "base_url": base_url,
        "business_id": simulator.business_id,
        "app_id": simulator.app_id,
        "token": simulator.token,
    }
    if as_json:
        typer.echo(json.dumps(details))
    else:
        typer.echo(f"Graph base URL   {base_url}/v25.0")
        typer.echo(f"Business ID      {simulator.business_id}")
        typer.echo(f"App ID           {simulator.app_id}")
        typer.echo(f"System user token {simulator.token}")
        typer.echo(f"Facebook Login   {base_url}/v25.0/dialog/oauth")
        typer.echo(f"Control API      {base_url}/_sim/info")
    uvicorn.run(create_simulator_app(simulator), host=host, port=port, log_level="warning")
