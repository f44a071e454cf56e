"""Migration 0011 sets system users apart: they leave the people's tabs with whatever match or
exemption they were given, every account state fits the CHECK constraint, and the downgrade puts
them back among the unmatched."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from bastion.storage.db import make_engine, make_session_factory
from bastion.storage.models.enums import AccountState
from bastion.storage.schema import downgrade, upgrade
from tests.factories import make_workspace

NOW = datetime(2026, 12, 4)  # naive UTC, as UTCDateTime stores it


def _app(engine: Engine) -> tuple[int, int]:
    with make_session_factory(engine).begin() as session:
        workspace_id = make_workspace(session, "apart").id
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO apps (workspace_id, kind, label, settings, login_method, status, "
                "safeguard_threshold_percent, created_at, updated_at) VALUES "
                "(:w, 'meta_business', 'Apart', '{}', 'sso', 'healthy', 20, :now, :now)"
            ),
            {"w": workspace_id, "now": NOW},
        )
        app_id = connection.execute(text("SELECT max(id) FROM apps")).scalar_one()
    return workspace_id, int(app_id)


def _account(engine: Engine, ids: tuple[int, int], external_id: str, kind: str, state: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (workspace_id, app_id, kind, external_id, name, details, "
                "state, exemption_reason, present, created_at, updated_at) VALUES "
                "(:w, :a, :kind, :ext, :ext, '{}', :state, :reason, true, :now, :now)"
            ),
            {
                "w": ids[0],
                "a": ids[1],
                "kind": kind,
                "ext": external_id,
                "state": state,
                "reason": "kept by hand" if state == "exempted" else None,
                "now": NOW,
            },
        )


def _grant(engine: Engine, ids: tuple[int, int]) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO assets (workspace_id, app_id, external_id, name, type, ownership, "
                "details, present, created_at, updated_at) VALUES "
                "(:w, :a, 'page-1', 'Page', 'page', 'owned', '{}', true, :now, :now)"
            ),
            {"w": ids[0], "a": ids[1], "now": NOW},
        )
        connection.execute(
            text(
                "INSERT INTO grants (workspace_id, app_id, account_id, asset_id, tasks, present, "
                "created_at, updated_at) SELECT :w, :a, accounts.id, assets.id, '[\"MANAGE\"]', "
                "true, :now, :now FROM accounts, assets WHERE accounts.external_id = '2'"
            ),
            {"w": ids[0], "a": ids[1], "now": NOW},
        )


def _grants(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM grants")).scalar_one())


def _states(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT external_id, state, exemption_reason FROM accounts ORDER BY id")
        )
        return {external_id: (state, reason) for external_id, state, reason in rows}


def test_system_users_move_apart_and_back(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0010")
        ids = _app(engine)
        _account(engine, ids, "1", "person", "unmatched")
        _account(engine, ids, "2", "system_user", "unmatched")
        _account(engine, ids, "3", "system_user", "exempted")
        with pytest.raises(IntegrityError):
            _account(engine, ids, "4", "system_user", "system_user")
        _grant(engine, ids)

        upgrade(engine, "0011")
        assert _states(engine) == {
            "1": ("unmatched", None),
            "2": ("system_user", None),
            "3": ("system_user", None),
        }
        assert _grants(engine) == 1
        # Every state revision 0011 knows: all of today's but "partner", which 0017 adds.
        for state in AccountState:
            if state != AccountState.PARTNER:
                _account(engine, ids, f"s-{state.value}", "person", state.value)

        downgrade(engine, "0010")
        assert {s for s, _ in _states(engine).values()} == {
            "onboarded",
            "unmatched",
            "guest",
            "exempted",
        }
        assert _states(engine)["2"] == ("unmatched", None)
        # Rebuilding the accounts table on SQLite kept what references it.
        assert _grants(engine) == 1
    finally:
        engine.dispose()
