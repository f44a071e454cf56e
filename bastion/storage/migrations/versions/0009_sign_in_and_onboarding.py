"""sign-in and onboarding

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Single sign-on with the workspace's identity provider (its settings, the sign-ins waiting for
the provider's answer), e-mailed sign-in links, the facts a member's onboarding status is settled
from (invitation sent or refused, account connected, last sign-in), the invitation an e-mail
belongs to, and a ``not_sent`` e-mail state for when no SMTP server is configured.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bastion.storage.models.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


STATE_CHECK = "ck_notifications_notification_state"
STATES_BEFORE = ("pending", "sent", "failed")
STATES_AFTER = (*STATES_BEFORE, "not_sent")


def _replace_state_check(states: Sequence[str]) -> None:
    listed = ", ".join(f"'{state}'" for state in states)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(STATE_CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(STATE_CHECK), sa.text(f"state IN ({listed})"))


def upgrade() -> None:
    op.create_table(
        "sso_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("next_path", sa.String(length=500), nullable=False),
        sa.Column("created_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("used_at", bastion.storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_sso_attempts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_attempts")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_sso_attempts_state_hash")),
    )
    with op.batch_alter_table("sso_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sso_attempts_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sso_attempts_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "sign_in_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("used_at", bastion.storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sign_in_links_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_sign_in_links_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_in_links_token_hash")),
    )
    with op.batch_alter_table("sign_in_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_links_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sign_in_links_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "sso_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=300), nullable=False),
        sa.Column("client_secret_id", sa.String(length=36), nullable=False),
        sa.Column("allowed_domains", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("created_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_secret_id"],
            ["secrets.id"],
            name=op.f("fk_sso_configs_client_secret_id_secrets"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_sso_configs_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_sso_configs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_configs")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_sso_configs_workspace_id")),
    )
    with op.batch_alter_table("sso_configs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sso_configs_workspace_id"), ["workspace_id"], unique=False
        )

    with op.batch_alter_table("app_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("invited_at", bastion.storage.models.base.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("invite_error", sa.String(length=300), nullable=True))
        batch_op.add_column(
            sa.Column("connected_at", bastion.storage.models.base.UTCDateTime(), nullable=True)
        )

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_member_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_notifications_app_member_id"), ["app_member_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_notifications_app_member_id_app_members"),
            "app_members",
            ["app_member_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signed_in_at", bastion.storage.models.base.UTCDateTime(), nullable=True)
        )

    _replace_state_check(STATES_AFTER)


def downgrade() -> None:
    # A message kept unsent has no state before this revision but failed.
    op.execute(sa.text("UPDATE notifications SET state = 'failed' WHERE state = 'not_sent'"))
    _replace_state_check(STATES_BEFORE)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("signed_in_at")

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_notifications_app_member_id_app_members"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_notifications_app_member_id"))
        batch_op.drop_column("app_member_id")

    with op.batch_alter_table("app_members", schema=None) as batch_op:
        batch_op.drop_column("connected_at")
        batch_op.drop_column("invite_error")
        batch_op.drop_column("invited_at")

    with op.batch_alter_table("sso_configs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_configs_workspace_id"))

    op.drop_table("sso_configs")
    with op.batch_alter_table("sign_in_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_links_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_sign_in_links_user_id"))

    op.drop_table("sign_in_links")
    with op.batch_alter_table("sso_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_attempts_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_sso_attempts_expires_at"))

    op.drop_table("sso_attempts")
