"""`make run` runs `bastion demo`: it must come up on a fresh data directory and answer."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_starts_on_a_fresh_data_dir_and_serves_healthz(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env |= {"BASTION_DATA_DIR": str(tmp_path / "data"), "BASTION_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bastion", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "bastion demo did not answer within 60 s"
            time.sleep(0.2)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "database": "ok"}
        keys = tmp_path / "data" / "secret.keys"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in stdout
    assert "Sign in as admin@example.com with the one-time password:" in stdout
    password = stdout.split("one-time password:")[1].split()[0]
    assert len(password) >= 20
    assert f"http://127.0.0.1:{port}/emails" in stdout
    assert password not in stderr
    assert "production must set its own" in stderr
