"""The ``bastion`` command line, one module per command group, assembled here.

Each command calls actions; none writes storage itself. ``bastion.cli.common`` holds what every
group shares (the runtime, reading files, failing with a message and an exit code).
"""

from __future__ import annotations

import typer

# access adds its commands to `bastion members`, partner_removal `bastion partners remove`.
from bastion.cli import access, partner_removal  # noqa: F401
from bastion.cli.audit import audit_app
from bastion.cli.checks import (
    apps_app,
    changes,
    check,
    operations_app,
    report_app,
    runs_app,
    worker,
)
from bastion.cli.credentials import credentials_app
from bastion.cli.directory import directory_app, scim_app
from bastion.cli.emails import emails_app
from bastion.cli.guests import guests_app, local_partners_app
from bastion.cli.keys import keys_app
from bastion.cli.members import members_app
from bastion.cli.partners import partners_app
from bastion.cli.reviews import overview, reviews_app
from bastion.cli.server import demo, migrate, serve
from bastion.cli.sso import sso_app
from bastion.cli.tokens import tokens_app
from bastion.cli.webhooks import webhooks_app
from bastion.cli.workspaces import users_app, workspaces_app
from bastion.connectors.meta.simulator.cli import simulate_app

app = typer.Typer(
    help="Bastion: who can reach your business apps, and who vouches for them.",
    no_args_is_help=True,
    add_completion=False,
    # A traceback with its local variables would print whatever a command held: a CSV file's
    # people, a token read from a file.
    pretty_exceptions_show_locals=False,
)

app.add_typer(workspaces_app, name="workspaces")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(simulate_app, name="simulate")
app.add_typer(apps_app, name="apps")
app.add_typer(runs_app, name="runs")
app.add_typer(report_app, name="report")
app.add_typer(operations_app, name="operations")
app.add_typer(scim_app, name="scim")
app.add_typer(directory_app, name="directory")
app.add_typer(members_app, name="members")
app.add_typer(emails_app, name="emails")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(sso_app, name="sso")
app.add_typer(local_partners_app, name="local-partners")
app.add_typer(guests_app, name="guests")
app.add_typer(partners_app, name="partners")
app.add_typer(credentials_app, name="credentials")
app.add_typer(reviews_app, name="reviews")
app.command()(migrate)
app.command()(serve)
app.command()(demo)
app.command()(check)
app.command()(changes)
app.command()(overview)
app.command()(worker)


def main() -> None:
    app()
