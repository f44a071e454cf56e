"""grants keep only their account's and asset's foreign keys

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02

A check inserts a business's grants by the tens of thousands, and PostgreSQL looks up every
foreign key of every inserted row. A grant's workspace and app are its account's, and its run
stamps name check runs, which are kept: those four keys only cost time (models/apps.py, Grant).
Deleting a workspace or an app still deletes its grants, through their accounts.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (column, referenced table, ON DELETE)
DROPPED = (
    ("workspace_id", "workspaces", "CASCADE"),
    ("app_id", "apps", "CASCADE"),
    ("first_seen_run_id", "check_runs", "SET NULL"),
    ("last_seen_run_id", "check_runs", "SET NULL"),
)


def upgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        for column, table, _ondelete in DROPPED:
            batch_op.drop_constraint(batch_op.f(f"fk_grants_{column}_{table}"), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        for column, table, ondelete in DROPPED:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_grants_{column}_{table}"),
                table,
                [column],
                ["id"],
                ondelete=ondelete,
            )
