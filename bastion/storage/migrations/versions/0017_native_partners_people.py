"""native partners' people

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02

A partner may have its own system-user token (a vault secret) with which each check imports the
partner's people on our assets; ``people_status`` says whether the last read worked and why
not. A partner's person nobody of ours vouches for has the account state ``partner``, so the
state's CHECK constraint is replaced (batch mode rebuilds the table on SQLite).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bastion.storage.models.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATE_CONSTRAINT = "ck_accounts_account_state"
STATES_BEFORE = ("onboarded", "unmatched", "guest", "exempted", "system_user")
STATES_AFTER = (*STATES_BEFORE, "partner")


def _replace_state_check(states: Sequence[str]) -> None:
    listed = ", ".join(f"'{state}'" for state in states)
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(STATE_CONSTRAINT), type_="check")
        batch_op.create_check_constraint(
            batch_op.f(STATE_CONSTRAINT), sa.text(f"state IN ({listed})")
        )


def upgrade() -> None:
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_secret_id", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("token_set_at", bastion.storage.models.base.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("token_set_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("token_identity", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "people_status",
                sa.Enum(
                    "ok",
                    "review_configuration",
                    name="partner_people_status",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("people_status_reason", sa.String(length=1000), nullable=True)
        )
        batch_op.add_column(
            sa.Column("people_checked_at", bastion.storage.models.base.UTCDateTime(), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_partners_token_set_by_id_users"),
            "users",
            ["token_set_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_partners_token_secret_id_secrets"),
            "secrets",
            ["token_secret_id"],
            ["id"],
            ondelete="SET NULL",
        )
    _replace_state_check(STATES_AFTER)


def downgrade() -> None:
    # Before this revision a partner's person sat among the people, unmatched.
    op.execute(sa.text("UPDATE accounts SET state = 'unmatched' WHERE state = 'partner'"))
    _replace_state_check(STATES_BEFORE)
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_partners_token_secret_id_secrets"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_partners_token_set_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("people_checked_at")
        batch_op.drop_column("people_status_reason")
        batch_op.drop_constraint(batch_op.f("ck_partners_partner_people_status"), type_="check")
        batch_op.drop_column("people_status")
        batch_op.drop_column("token_identity")
        batch_op.drop_column("token_set_by_id")
        batch_op.drop_column("token_set_at")
        batch_op.drop_column("token_secret_id")
