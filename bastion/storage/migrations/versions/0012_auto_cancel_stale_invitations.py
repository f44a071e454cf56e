"""auto-cancel stale invitations

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

``apps.auto_cancel_invitations_days``: each check cancels the app's pending invitations first seen
more than this many days ago (null: only an admin cancels them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auto_cancel_invitations_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("auto_cancel_invitations_days")
