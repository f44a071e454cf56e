"""system users apart

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

System users get a tab of their own (``accounts.state = 'system_user'``), so they are never
counted or listed among people; the match or exemption one may have been given as a person is
dropped. ``apps.token_identity`` keeps the app's id of the identity the token acts as, which
Bastion never removes or demotes. ``accounts.state`` is a VARCHAR with a named CHECK constraint
listing the states, so a new state means replacing that constraint (batch mode rebuilds the
table on SQLite).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_accounts_account_state"
STATES_BEFORE = ("onboarded", "unmatched", "guest", "exempted")
STATES_AFTER = (*STATES_BEFORE, "system_user")


def _replace_state_check(states: Sequence[str]) -> None:
    listed = ", ".join(f"'{state}'" for state in states)
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(CONSTRAINT), type_="check")
        batch_op.create_check_constraint(batch_op.f(CONSTRAINT), sa.text(f"state IN ({listed})"))


def upgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_identity", sa.String(length=64), nullable=True))
    _replace_state_check(STATES_AFTER)
    op.execute(
        sa.text(
            "UPDATE accounts SET state = 'system_user', matched_user_id = NULL, "
            "match_rule = NULL, match_confidence = NULL, matched_by_id = NULL, "
            "matched_at = NULL, exemption_reason = NULL, exempted_by_id = NULL, "
            "exempted_at = NULL, exemption_expires_at = NULL WHERE kind = 'system_user'"
        )
    )


def downgrade() -> None:
    # Before this revision a system user sat among the people, unmatched.
    op.execute(sa.text("UPDATE accounts SET state = 'unmatched' WHERE state = 'system_user'"))
    _replace_state_check(STATES_BEFORE)
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("token_identity")
