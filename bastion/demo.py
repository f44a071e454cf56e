"""`bastion demo`: a populated Bastion on this machine within a minute, with nothing to install.

SQLite in the data directory, the Meta simulator (``small`` scenario) served in-process through
``httpx.ASGITransport``, its corporate directory imported from CSV, a first admin, the simulated
business connected and checked once. The job consumer threads of ``bastion serve`` run in the same
process, so later checks and operations reach the same in-process simulator. A person's browser
cannot reach an in-process app, so the simulator's Facebook Login dialog is also served on a
loopback port of its own (``login_dialog_served``), and the simulated Meta app lists Bastion's
callback among its Valid OAuth Redirect URIs: connecting a profile works end to end.

A second simulated business, behind the same Graph host (``GraphHost``), is left unconnected for
the newcomer to connect by hand with the values ``welcome`` prints: its Business ID, App ID, a
system-user token it accepts and an expired one Meta refuses. They are the simulator's own test
values, made afresh on each start, never a real secret.

Running it again on the same data directory keeps what is there (the admin, the app, decisions
made) and regenerates the same simulated business from its seed.
"""

from __future__ import annotations

import dataclasses
import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import uvicorn
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.apps import ConnectRequest, connect_app
from bastion.actions.checks import run_check
from bastion.actions.profiles import redirect_uri
from bastion.actions.workspaces import Bootstrap, bootstrap_installation
from bastion.connectors.meta.simulator import Simulator, generate_scenario
from bastion.connectors.meta.simulator.graph_host import GraphHost
from bastion.connectors.registry import ConnectorOptions
from bastion.directory.csv_import import DirectoryImport
from bastion.errors import ConfigurationError
from bastion.runtime import Runtime
from bastion.settings import Settings
from bastion.storage.db import transaction
from bastion.storage.models import App
from bastion.storage.models.enums import RunTrigger
from bastion.storage.schema import upgrade

SIMULATOR_URL = "http://graph.simulator"
DEMO_SEED = 42
DEMO_LABEL = "Acme on Meta (simulated)"
# The business left for a person to connect: another seed, fewer people (its check is quick).
# Seed 44 names it Cobalt Cycle Works, so it is not mistaken for the first (Northwind Outfitters).
SECOND_SEED = DEMO_SEED + 2
SECOND_PEOPLE = 12


@dataclass(frozen=True)
class Demo:
    simulator: Simulator
    bootstrap: Bootstrap
    app_id: int  # 0 when the app was left to connect by hand
    # The second business, nobody's app yet, and a token of it that Meta refuses (expired).
    to_connect: Simulator
    refused_token: str


def use_simulator(runtime: Runtime, *simulators: Simulator) -> None:
    """Point every connector of this process at the in-process simulated businesses."""
    runtime.connector_options = ConnectorOptions(
        base_url=SIMULATOR_URL,
        api_version=runtime.connector_options.api_version,
        transport=httpx.ASGITransport(app=GraphHost(simulators)),
    )


def directory_csv(simulator: Simulator) -> str:
    """The scenario's corporate directory as the CSV an HR export would be."""
    lines = ["email,name,external_id,status,secondary_emails,groups"]
    for person in simulator.scenario_snapshot().directory_users():
        fields = [
            person.email,
            person.name,
            person.external_id or "",
            person.status,
            ";".join(person.secondary_emails),
            ";".join(person.groups),
        ]
        lines.append(",".join(_csv_field(f) for f in fields))
    return "\n".join(lines) + "\n"


def _csv_field(value: str) -> str:
    if any(c in value for c in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def prepare_demo(
    runtime: Runtime,
    *,
    admin_email: str = "admin@example.com",
    scenario: str = "small",
    connect: bool = True,
) -> Demo:
    """Migrate, bootstrap, import the directory, connect the simulated app and check it once.

    With ``connect=False`` the app is left for a person to connect (the browser test does).
    """
    simulator = Simulator(generate_scenario(scenario, seed=DEMO_SEED))
    to_connect = Simulator(generate_scenario("small", seed=SECOND_SEED, people=SECOND_PEOPLE))
    refused = to_connect.make_token(expires_at=int(to_connect.now()) - 86_400)
    use_simulator(runtime, simulator, to_connect)
    for business in (simulator, to_connect):
        business.set_oauth_redirect_uris([redirect_uri(runtime.settings.base_url)])
    upgrade(runtime.engine)
    actor = Actor.system("demo")
    with transaction(runtime.sessions) as session:
        boot = bootstrap_installation(session, admin_email=admin_email)
    workspace_id = boot.workspace.id
    with (
        DirectoryImport(runtime.settings.data_dir) as directory,
        transaction(runtime.sessions) as session,
    ):
        directory.read(io.StringIO(directory_csv(simulator), newline=""))
        if directory.plan(session, workspace_id=workspace_id).changes:
            directory.apply(
                session,
                workspace_id=workspace_id,
                actor=actor,
                check_delay=timedelta(minutes=5),
                file_name="demo-directory.csv",
            )
    with transaction(runtime.sessions) as session:
        app_id = session.scalar(
            select(App.id).where(
                App.workspace_id == workspace_id,
                App.label == DEMO_LABEL,
                App.disconnected_at.is_(None),
            )
        )
        first_time = app_id is None
        if not connect:
            return Demo(simulator, boot, 0, to_connect, refused)
        if app_id is None:
            app = connect_app(
                session,
                runtime.require_key_ring(),
                runtime.connector_options,
                workspace_id=workspace_id,
                request=ConnectRequest(
                    kind="meta_business",
                    label=DEMO_LABEL,
                    token=simulator.token,
                    settings={"business_id": simulator.business_id, "app_id": simulator.app_id},
                    login_method="sso",
                    # The simulated app's own secret, so the demo validates as a real
                    # installation should: debug_token asked as the app, appsecret_proof sent.
                    app_secret=simulator.app_secret,
                ),
                actor=Actor.user(boot.admin.id),
            )
            app_id = app.id
    run_check(
        runtime,
        workspace_id=workspace_id,
        app_id=app_id,
        trigger=RunTrigger.CONNECT if first_time else RunTrigger.MANUAL,
        actor=actor,
    )
    return Demo(simulator, boot, app_id, to_connect, refused)


@contextmanager
def login_dialog_served(runtime: Runtime, *simulators: Simulator) -> Iterator[str]:
    """The simulated businesses on a free port next to Bastion, for browsers to log in with
    Facebook on; yields its URL, which ``runtime`` sends them to (connectors keep reaching them
    in-process)."""
    sock = socket.socket()
    sock.bind((runtime.settings.host, 0))
    sock.listen(128)
    server = uvicorn.Server(
        uvicorn.Config(
            GraphHost(simulators),
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="demo-login-dialog", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        sock.close()
        raise ConfigurationError("the simulated Facebook Login dialog did not start")
    host = urlsplit(runtime.settings.base_url).hostname or "127.0.0.1"
    url = f"http://{host}:{sock.getsockname()[1]}"
    runtime.settings = runtime.settings.model_copy(update={"facebook_url": url})
    runtime.connector_options = dataclasses.replace(runtime.connector_options, login_url=url)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def welcome(settings: Settings, demo: Demo, *, facebook_url: str) -> str:
    """The framed block ``bastion demo`` prints once its server is listening: where to sign in,
    what to connect by hand, where the e-mail is."""
    boot, second = demo.bootstrap, demo.to_connect
    url = settings.base_url
    lines = [f"Bastion is ready at {url}", ""]
    if boot.one_time_password:
        lines += [
            f"Sign in as {boot.admin.email} with the one-time password:",
            f"    {boot.one_time_password}",
        ]
    else:
        lines += [
            f"Sign in as {boot.admin.email} (password set earlier; "
            "`bastion users create-admin` makes another admin)"
        ]
    lines += [
        "",
        "Try connecting it yourself: Apps > Connect app > Meta Business Manager, with a second",
        "simulated business (the simulator's own test values, made for this run):",
        f"    Business ID:  {second.business_id}",
        f"    App ID:       {second.app_id}",
        "    A system-user token it accepts:",
        f"    {second.token}",
        "    A token Meta refuses (expired), to see what Bastion says:",
        f"    {demo.refused_token}",
        "",
    ]
    for partner_id, token in demo.simulator.partner_tokens().items():
        name = demo.simulator.state.partners[partner_id].name
        lines += [
            f"Native partner {name}: Partners tab > Add token with this test token,",
            "and the next check lists its people on your assets:",
            f"    {token}",
            "",
        ]
    if settings.smtp_url is None:
        lines += [
            "E-mail: no SMTP server is set (BASTION_SMTP_URL), so nothing is mailed; read the",
            f"invitations and sign-in links Bastion writes at {url}/emails",
        ]
    else:
        lines += ["E-mail goes out through the SMTP server BASTION_SMTP_URL names."]
    lines += [
        f"Simulated Facebook Login (to connect profiles): {facebook_url}",
        f"Data directory: {settings.data_dir}",
        "Stop with Ctrl+C.",
    ]
    rule = "+" + "-" * 78
    return "\n".join([rule, *(f"| {line}".rstrip() for line in lines), rule])
