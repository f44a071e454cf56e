"""app secret and token checks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

The App secret of an app's dedicated Meta app (a vault secret, like the token), and what the
connection check found: the token's expiry, the business's verification status, the warnings
shown when connecting, and which expiry reminder was last e-mailed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bastion.storage.models.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_secret_id", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("token_expires_at", bastion.storage.models.base.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("token_expiry_reminded_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("business_verification_status", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "connection_checked_at", bastion.storage.models.base.UTCDateTime(), nullable=True
            )
        )
        # Apps connected before this revision had no warnings recorded.
        batch_op.add_column(
            sa.Column(
                "connection_warnings", sa.JSON(), nullable=False, server_default=sa.text("'[]'")
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_apps_app_secret_id_secrets"),
            "secrets",
            ["app_secret_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_apps_app_secret_id_secrets"), type_="foreignkey")
        batch_op.drop_column("connection_warnings")
        batch_op.drop_column("connection_checked_at")
        batch_op.drop_column("business_verification_status")
        batch_op.drop_column("token_expiry_reminded_days")
        batch_op.drop_column("token_expires_at")
        batch_op.drop_column("app_secret_id")
