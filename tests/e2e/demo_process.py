"""`bastion demo` run as `make run` runs it: its own process on a free port and a fresh data
directory, with the framed block it prints once it listens read back from its output."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port

RULE = "+" + "-" * 78
# Under load the first check of the simulated business takes a while; this bounds a hang only.
STARTUP_BOUND_SECONDS = 120


@dataclass
class Welcome:
    """What the framed block says, and its lines as printed."""

    lines: list[str]
    url: str = ""
    email: str = ""
    password: str = ""
    business_id: str = ""
    app_id: str = ""
    token: str = ""
    refused_token: str = ""
    emails_url: str = ""


@dataclass
class DemoProcess:
    process: subprocess.Popen[str]
    port: int
    welcome: Welcome
    stdout: list[str] = field(default_factory=list)
    stderr: str = ""


def parse_welcome(lines: list[str]) -> Welcome:
    body = [line.removeprefix("|").strip() for line in lines if line.startswith("|")]
    welcome = Welcome(lines)
    for index, line in enumerate(body):
        following = body[index + 1] if index + 1 < len(body) else ""
        if line.startswith("Bastion is ready at "):
            welcome.url = line.split()[-1]
        elif line.endswith("with the one-time password:"):
            welcome.email = line.split()[3]
            welcome.password = following
        elif line.startswith("Business ID:"):
            welcome.business_id = line.split()[-1]
        elif line.startswith("App ID:"):
            welcome.app_id = line.split()[-1]
        elif line.startswith("A system-user token it accepts"):
            welcome.token = following
        elif line.startswith("A token Meta refuses"):
            welcome.refused_token = following
        elif "/emails" in line:
            welcome.emails_url = next(w for w in line.split() if w.endswith("/emails"))
    return welcome


def demo_command() -> list[str]:
    """The `bastion` script `make run` calls ($(BIN)/bastion demo), else the module."""
    script = Path(sys.executable).parent / "bastion"
    return [str(script), "demo"] if script.exists() else [sys.executable, "-m", "bastion", "demo"]


@contextmanager
def demo_process(tmp_path: Path, **env_values: str) -> Iterator[DemoProcess]:
    """Start the demo; yields once the framed block is printed; stops it after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env |= {"BASTION_DATA_DIR": str(tmp_path / "data"), "BASTION_PORT": str(port), **env_values}
    errors = tmp_path / "demo-stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            demo_command(), env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    printed: list[str] = []
    block: list[str] = []
    running = DemoProcess(process, port, Welcome([]), printed)
    try:
        while True:
            try:
                line = lines.get(timeout=STARTUP_BOUND_SECONDS)
            except queue.Empty:
                raise AssertionError("bastion demo printed nothing for too long") from None
            if line is None:
                process.wait(timeout=30)
                raise AssertionError(f"bastion demo ended before it listened: {errors.read_text()}")
            printed.append(line)
            if line == RULE or block:
                block.append(line)
            if len(block) > 1 and line == RULE:
                break
        running.welcome = parse_welcome(block)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        running.stderr = errors.read_text()
        while not lines.empty():
            rest = lines.get()
            if rest is not None:
                printed.append(rest)
