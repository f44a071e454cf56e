"""single sign-on that asks the person to sign in again

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

A sign-in sent to the identity provider can ask it to have the person sign in again now (before
a saved password is shown); the answer's ``auth_time`` is then checked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sso_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reauthenticate", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sso_attempts", schema=None) as batch_op:
        batch_op.drop_column("reauthenticate")
