"""`make run` runs `bastion demo`: it must come up on a fresh data directory, answer, and tell a
person at a terminal what they need in one framed block printed once it listens."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx

from tests.e2e.demo_process import RULE, demo_process


def test_demo_starts_on_a_fresh_data_dir_and_frames_what_a_newcomer_needs(tmp_path: Path) -> None:
    with demo_process(tmp_path) as demo:
        # The block is printed once the server listens: it answers at once.
        assert httpx.get(f"http://127.0.0.1:{demo.port}/healthz", timeout=5).status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{demo.port}/readyz", timeout=5)
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "database": "ok"}
        keys = tmp_path / "data" / "secret.keys"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        welcome = demo.welcome
        emails = httpx.get(welcome.emails_url, timeout=5, follow_redirects=False)
        assert emails.status_code == 303  # the E-mail page, behind sign-in
    assert demo.stdout.count(RULE) == 2
    assert welcome.url == f"http://127.0.0.1:{demo.port}"
    assert welcome.email == "admin@example.com"
    assert len(welcome.password) >= 20
    assert welcome.emails_url == f"http://127.0.0.1:{demo.port}/emails"
    assert welcome.business_id.isdigit() and welcome.app_id.isdigit()
    assert welcome.token.startswith("EAA") and welcome.refused_token.startswith("EAA")
    assert welcome.token != welcome.refused_token
    # Nothing but the block comes after the "preparing" line: the password is easy to find.
    assert [line for line in demo.stdout if not line.startswith(("|", "+"))] == [
        "Preparing the demo: simulated Meta business, directory, first check…"
    ]
    # Logs for a person: console lines, Bastion's warnings and info, no library chatter.
    stderr = demo.stderr
    assert welcome.password not in stderr and welcome.token not in stderr
    assert "production must set its own" in stderr
    assert "HTTP Request" not in stderr and "Uvicorn running" not in stderr
    assert not any(line.startswith("{") for line in stderr.splitlines())


def test_the_demo_still_logs_json_when_asked(tmp_path: Path) -> None:
    with demo_process(tmp_path, BASTION_LOG_FORMAT="json") as demo:
        assert demo.welcome.password
    lines = [json.loads(line) for line in demo.stderr.splitlines() if line.strip()]
    assert any("production must set its own" in line["event"] for line in lines)
    assert all(line["logger"].startswith("bastion") or line["level"] != "info" for line in lines)
