"""The API's request budget is an operator's setting, counted per token (or address)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bastion.app import create_app
from bastion.errors import ConfigurationError
from bastion.runtime import Runtime
from bastion.settings import load_settings
from bastion.storage.db import make_session_factory


@pytest.mark.anyio
async def test_a_caller_over_the_configured_budget_is_told_to_retry_later(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    settings = load_settings(
        {"BASTION_DATA_DIR": str(tmp_path), "BASTION_API_RATE_LIMIT": "3/minute"}
    )
    app = create_app(Runtime(settings, sqlite_engine, make_session_factory(sqlite_engine)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bastion.test") as client:
        first = [(await client.get("/api/v1/me")).status_code for _ in range(3)]
        refused = await client.get("/api/v1/me")
        other_token = await client.get("/api/v1/me", headers={"Authorization": "Bearer bst_api_x"})
    assert first == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["retry-after"]
    assert other_token.status_code == 401


def test_a_budget_that_is_not_one_rate_is_refused_by_name() -> None:
    for bad in ("lots", "0/minute", "5/minute;100/hour"):
        with pytest.raises(ConfigurationError, match="BASTION_API_RATE_LIMIT"):
            load_settings({"BASTION_API_RATE_LIMIT": bad})
