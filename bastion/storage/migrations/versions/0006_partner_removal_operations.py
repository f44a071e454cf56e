"""partner removal operations

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

``operations.kind`` is a VARCHAR with a named CHECK constraint listing the kinds; a new kind
means replacing that constraint (batch mode rebuilds the table on SQLite).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_operations_operation_kind"
KINDS_BEFORE = (
    "invite",
    "cancel_invitation",
    "remove",
    "set_role",
    "grant_tasks",
    "revoke_tasks",
)
KINDS_AFTER = (*KINDS_BEFORE, "remove_partner")


def _replace_kind_check(kinds: Sequence[str]) -> None:
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(CONSTRAINT), type_="check")
        batch_op.create_check_constraint(batch_op.f(CONSTRAINT), sa.text(f"kind IN ({listed})"))


def upgrade() -> None:
    _replace_kind_check(KINDS_AFTER)


def downgrade() -> None:
    # Operations of the new kind cannot be kept under the old constraint.
    op.execute(sa.text("DELETE FROM operations WHERE kind = 'remove_partner'"))
    _replace_kind_check(KINDS_BEFORE)
