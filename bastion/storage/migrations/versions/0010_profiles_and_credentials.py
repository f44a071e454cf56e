"""profiles and credentials

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

A person's own profile linked to their account through the app's login (and the logins waiting
for the app's answer), the credentials they save for apps logged in to with a username and
password (values in the vault), each app's credential policy, and when a session last proved
who its person is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bastion.storage.models.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("login_secret_id", sa.String(length=36), nullable=False),
        sa.Column("password_secret_id", sa.String(length=36), nullable=False),
        sa.Column("totp_secret_id", sa.String(length=36), nullable=True),
        sa.Column("pending_password_secret_id", sa.String(length=36), nullable=True),
        sa.Column("password_set_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("last_revealed_at", bastion.storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("rotation_due_at", bastion.storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("overdue_notified_at", bastion.storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("owners_notified_at", bastion.storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("created_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_credentials_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["login_secret_id"],
            ["secrets.id"],
            name=op.f("fk_credentials_login_secret_id_secrets"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["password_secret_id"],
            ["secrets.id"],
            name=op.f("fk_credentials_password_secret_id_secrets"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["pending_password_secret_id"],
            ["secrets.id"],
            name=op.f("fk_credentials_pending_password_secret_id_secrets"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["totp_secret_id"],
            ["secrets.id"],
            name=op.f("fk_credentials_totp_secret_id_secrets"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credentials_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_credentials_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("account_id", name=op.f("uq_credentials_account_id")),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credentials_rotation_due_at"), ["rotation_due_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_credentials_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_credentials_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "profile_link_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("used_at", bastion.storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_profile_link_attempts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_profile_link_attempts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_profile_link_attempts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_link_attempts")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_profile_link_attempts_state_hash")),
    )
    with op.batch_alter_table("profile_link_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profile_link_attempts_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_profile_link_attempts_workspace_id"), ["workspace_id"], unique=False
        )

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile_name", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("profile_linked_at", bastion.storage.models.base.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("profile_linked_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_accounts_profile_linked_by_id_users"),
            "users",
            ["profile_linked_by_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("require_two_factor", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("rotation_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "rotate_after_reveal", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )

    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("authenticated_at", bastion.storage.models.base.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_column("authenticated_at")

    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("rotate_after_reveal")
        batch_op.drop_column("rotation_days")
        batch_op.drop_column("require_two_factor")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_accounts_profile_linked_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("profile_linked_by_id")
        batch_op.drop_column("profile_linked_at")
        batch_op.drop_column("profile_name")

    with op.batch_alter_table("profile_link_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_link_attempts_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_profile_link_attempts_expires_at"))

    op.drop_table("profile_link_attempts")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_credentials_user_id"))
        batch_op.drop_index(batch_op.f("ix_credentials_rotation_due_at"))

    op.drop_table("credentials")
