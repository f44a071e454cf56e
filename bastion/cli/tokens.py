"""``bastion tokens …``: personal API tokens for scripts (shown once, stored hashed).

bastion tokens create --user EMAIL --name NAME [--expires-days N] [--workspace SLUG]
bastion tokens list [--workspace SLUG]
bastion tokens revoke TOKEN_ID [--workspace SLUG]
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token, revoke_token
from bastion.cli.common import runtime_or_exit
from bastion.errors import InvalidInput, NotFound
from bastion.queries import workspace_by_slug
from bastion.storage.models import ApiToken, User, utcnow
from bastion.storage.models.enums import TokenKind, UserStatus
from bastion.storage.tenancy import Tenant

tokens_app = typer.Typer(help="Personal API tokens for /api/v1.", no_args_is_help=True)
WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]


@tokens_app.command("create")
def create(
    user: Annotated[str, typer.Option(help="E-mail of the person the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'nightly export'.")],
    expires_days: Annotated[
        int | None, typer.Option(help="Days until it stops working (default: never).")
    ] = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """Create a token acting as a person, with their permissions; printed once."""
    if expires_days is not None and expires_days < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--expires-days")
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        ws = workspace_by_slug(session, workspace)
        person = session.scalars(
            select(User).where(User.workspace_id == ws.id, User.email_key == user.strip().lower())
        ).first()
        if person is None:
            raise NotFound(f"no person with e-mail {user!r} in workspace {workspace!r}")
        if person.status != UserStatus.ACTIVE:
            raise InvalidInput(
                "user", f"{user} is {person.status.value}; tokens act as active people"
            )
        new = create_token(
            session,
            workspace_id=ws.id,
            kind=TokenKind.API,
            name=name,
            actor=Actor.cli(),
            user_id=person.id,
            expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None,
        )
        typer.echo(f"token {new.row.id} for {person.email} (shown once; keep it secret):")
        typer.echo(f"    {new.token}")


@tokens_app.command("list")
def list_tokens(workspace: WorkspaceOption = "default") -> None:
    """Every API token of the workspace: whose, prefix, expiry, last use, revoked."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        ws = workspace_by_slug(session, workspace)
        table = Table("id", "name", "person", "prefix", "expires", "last used", "revoked")
        rows = session.execute(
            select(ApiToken, User.email)
            .outerjoin(User, User.id == ApiToken.user_id)
            .where(ApiToken.workspace_id == ws.id, ApiToken.kind == TokenKind.API)
            .order_by(ApiToken.id)
        )
        for token, email in rows:
            table.add_row(
                str(token.id),
                token.name,
                email or "",
                token.prefix + "…",
                f"{token.expires_at:%Y-%m-%d}" if token.expires_at else "never",
                f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never",
                f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "",
            )
        Console().print(table)


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(metavar="TOKEN_ID")],
    workspace: WorkspaceOption = "default",
) -> None:
    """Stop a token from working, at once."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        ws = workspace_by_slug(session, workspace)
        if Tenant(session, ws.id).get(ApiToken, token_id).kind != TokenKind.API:
            raise NotFound(f"no API token {token_id} (SCIM tokens: `bastion scim token revoke`)")
        revoke_token(session, workspace_id=ws.id, token_id=token_id, actor=Actor.cli())
        typer.echo(f"token {token_id} revoked")
