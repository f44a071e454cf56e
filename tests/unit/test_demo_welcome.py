"""The block `bastion demo` prints once it listens, for a first start and for a start again."""

from __future__ import annotations

from pathlib import Path

from bastion.actions.workspaces import Bootstrap
from bastion.connectors.meta.simulator import Simulator, generate_scenario
from bastion.demo import Demo, welcome
from bastion.settings import load_settings
from bastion.storage.models import User, Workspace


def _demo(password: str | None) -> Demo:
    first = Simulator(generate_scenario("small", seed=42, people=3))
    second = Simulator(generate_scenario("small", seed=43, people=3))
    admin = User(email="admin@example.com")
    boot = Bootstrap(Workspace(name="My company"), admin, password)
    return Demo(first, boot, 1, second, "EAArefused")


def test_a_first_start_frames_the_password_and_the_business_to_connect(tmp_path: Path) -> None:
    settings = load_settings({"BASTION_DATA_DIR": str(tmp_path)})
    demo = _demo("a-one-time-password")
    text = welcome(settings, demo, facebook_url="http://127.0.0.1:9")
    lines = text.splitlines()
    assert lines[0] == lines[-1] == "+" + "-" * 78
    assert all(line.startswith("|") for line in lines[1:-1])
    assert "|     a-one-time-password" in lines
    assert f"|     Business ID:  {demo.to_connect.business_id}" in lines
    assert f"|     App ID:       {demo.to_connect.app_id}" in lines
    assert f"|     {demo.to_connect.token}" in lines
    assert "|     EAArefused" in lines
    assert demo.simulator.token not in text  # the connected business's token stays unsaid
    assert f"{settings.base_url}/emails" in text


def test_a_start_again_says_the_password_was_set_and_mail_goes_out_by_smtp(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        {"BASTION_DATA_DIR": str(tmp_path), "BASTION_SMTP_URL": "smtp://127.0.0.1:2525"}
    )
    text = welcome(settings, _demo(None), facebook_url="http://127.0.0.1:9")
    assert "Sign in as admin@example.com (password set earlier" in text
    assert "one-time password" not in text
    assert "/emails" not in text and "BASTION_SMTP_URL" in text
