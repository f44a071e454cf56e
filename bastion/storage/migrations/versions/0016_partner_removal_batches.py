"""partner removal batches

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02

A partner removal gathers its residue into one batch of items an owner trims and applies once;
removing a partner's access to one asset is an operation kind of its own.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bastion.storage.models.base

CONSTRAINT = "ck_operations_operation_kind"
KINDS_BEFORE = (
    "invite",
    "cancel_invitation",
    "remove",
    "set_role",
    "grant_tasks",
    "revoke_tasks",
    "remove_partner",
)
KINDS_AFTER = (*KINDS_BEFORE, "remove_partner_access")


def _replace_kind_check(kinds: Sequence[str]) -> None:
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(CONSTRAINT), type_="check")
        batch_op.create_check_constraint(batch_op.f(CONSTRAINT), sa.text(f"kind IN ({listed})"))


revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_removals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("local_partner_id", sa.Integer(), nullable=True),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("applied_at", bastion.storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("applied_by_id", sa.Integer(), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("created_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_partner_removals_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["applied_by_id"],
            ["users.id"],
            name=op.f("fk_partner_removals_applied_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_partner_removals_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["local_partner_id"],
            ["local_partners.id"],
            name=op.f("fk_partner_removals_local_partner_id_local_partners"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_removals_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_partner_removals_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_removals")),
    )
    with op.batch_alter_table("partner_removals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_removals_app_id"), ["app_id"], unique=False)
        batch_op.create_index(
            "ix_partner_removals_partner", ["partner_id", "applied_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_partner_removals_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "partner_removal_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("removal_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "partner",
                "partner_access",
                "person",
                "invitation",
                name="partner_removal_item_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("target_external_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=400), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("trimmed", sa.Boolean(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("created_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bastion.storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_partner_removal_items_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_partner_removal_items_asset_id_assets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operations.id"],
            name=op.f("fk_partner_removal_items_operation_id_operations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["removal_id"],
            ["partner_removals.id"],
            name=op.f("fk_partner_removal_items_removal_id_partner_removals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_partner_removal_items_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_removal_items")),
    )
    with op.batch_alter_table("partner_removal_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_removal_items_removal_id"), ["removal_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_partner_removal_items_workspace_id"), ["workspace_id"], unique=False
        )

    _replace_kind_check(KINDS_AFTER)


def downgrade() -> None:
    # Operations of the new kind cannot be kept under the old constraint.
    op.execute(sa.text("DELETE FROM operations WHERE kind = 'remove_partner_access'"))
    _replace_kind_check(KINDS_BEFORE)
    with op.batch_alter_table("partner_removal_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_removal_items_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_partner_removal_items_removal_id"))

    op.drop_table("partner_removal_items")
    with op.batch_alter_table("partner_removals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_removals_workspace_id"))
        batch_op.drop_index("ix_partner_removals_partner")
        batch_op.drop_index(batch_op.f("ix_partner_removals_app_id"))

    op.drop_table("partner_removals")
