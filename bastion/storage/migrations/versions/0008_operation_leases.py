"""operation leases

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

A running operation's lease (renewed by the worker's heartbeat, so another worker resumes it
seconds after a crash instead of after a fixed 5 minutes), and the error code of its last
failure (an operation deferred by Meta's restriction keeps the app restricted).
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import bastion.storage.models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What revision 0007 allowed a running operation before another worker took it over.
_OLD_STALE_AFTER = timedelta(minutes=5)


def upgrade() -> None:
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_error_code", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("lease_expires_at", bastion.storage.models.base.UTCDateTime(), nullable=True)
        )
    # Operations running at the upgrade keep the window they were claimed under.
    operations = sa.table(
        "operations",
        sa.column("id", sa.Integer()),
        sa.column("state", sa.String()),
        sa.column("started_at", bastion.storage.models.base.UTCDateTime()),
        sa.column("lease_expires_at", bastion.storage.models.base.UTCDateTime()),
    )
    connection = op.get_bind()
    running = connection.execute(
        sa.select(operations.c.id, operations.c.started_at).where(operations.c.state == "running")
    ).all()
    for operation_id, started_at in running:
        connection.execute(
            operations.update()
            .where(operations.c.id == operation_id)
            .values(lease_expires_at=(started_at or datetime.now(UTC)) + _OLD_STALE_AFTER)
        )


def downgrade() -> None:
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("last_error_code")
