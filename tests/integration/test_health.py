from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bastion.app import create_app
from bastion.runtime import Runtime
from bastion.settings import load_settings
from bastion.storage.db import make_engine, make_session_factory
from bastion.storage.schema import downgrade


def runtime_for(engine: Engine, tmp_path: Path) -> Runtime:
    settings = load_settings({"BASTION_DATA_DIR": str(tmp_path)})
    return Runtime(settings, engine, make_session_factory(engine))


async def get(runtime: Runtime, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://bastion.test") as client:
        return await client.get(path)


@pytest.mark.anyio
async def test_ready_when_the_database_answers_at_the_newest_migration(
    engine: Engine, tmp_path: Path
) -> None:
    runtime = runtime_for(engine, tmp_path)
    health = await get(runtime, "/healthz")
    assert health.status_code == 200
    assert health.headers["x-content-type-options"] == "nosniff"
    assert health.headers["x-request-id"]
    ready = await get(runtime, "/readyz")
    assert (ready.status_code, ready.json()["database"]) == (200, "ok")


@pytest.mark.anyio
async def test_not_ready_while_migrations_are_pending(engine: Engine, tmp_path: Path) -> None:
    downgrade(engine, "base")
    ready = await get(runtime_for(engine, tmp_path), "/readyz")
    assert ready.status_code == 503
    assert "bastion migrate" in ready.json()["database"]


@pytest.mark.anyio
async def test_not_ready_when_the_database_is_unreachable(tmp_path: Path) -> None:
    engine = make_engine(
        "postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    ready = await get(runtime_for(engine, tmp_path), "/readyz")
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"
