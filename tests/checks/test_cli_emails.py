"""`bastion emails …`: an operator reads what Bastion queued and retries one that did not go out."""

from __future__ import annotations

from typer.testing import CliRunner

from bastion.cli import app
from bastion.email_delivery import NO_SMTP_SERVER, send_due_notifications
from bastion.notify import queue_email
from bastion.settings import load_settings
from bastion.storage.models import Notification
from bastion.storage.models.enums import NotificationState
from tests.checks.conftest import World, worker_env

runner = CliRunner()
WS = ("--workspace", "northwind")


def _queue(world: World, subject: str) -> int:
    with world.runtime.sessions.begin() as session:
        notification = queue_email(
            session,
            workspace_id=world.workspace_id,
            kind="guest-invite:9",
            recipients=["fran@studio.test"],
            subject=subject,
            text="Set your password: http://127.0.0.1:8000/guest/set-password?token=abc",
            html="<p>html</p>",
        )
        assert notification is not None
        session.flush()
        return notification.id


def test_list_show_and_retry_an_email_kept_unsent(world: World, key_entry: str) -> None:
    env = worker_env(world, "http://graph.invalid", key_entry) | {"COLUMNS": "200"}
    email_id = _queue(world, "You are invited")
    settings = load_settings({"BASTION_DATA_DIR": str(world.runtime.settings.data_dir)})
    send_due_notifications(world.runtime.sessions, settings)

    listed = runner.invoke(app, ["emails", "list", "--state", "not_sent", *WS], env=env)
    assert listed.exit_code == 0, listed.output
    assert "You are invited" in listed.output and "fran@studio.test" in listed.output
    assert (
        "You are"
        not in runner.invoke(app, ["emails", "list", "--state", "sent", *WS], env=env).output
    )

    shown = runner.invoke(app, ["emails", "show", str(email_id), *WS], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"id: {email_id}\n" in shown.output
    assert "to: fran@studio.test\n" in shown.output
    assert "state: not_sent\n" in shown.output
    assert f"last error: {NO_SMTP_SERVER}\n" in shown.output
    assert shown.output.endswith(
        "\n\nSet your password: http://127.0.0.1:8000/guest/set-password?token=abc\n"
    )

    retried = runner.invoke(app, ["emails", "retry", str(email_id), *WS], env=env)
    assert retried.exit_code == 0, retried.output
    assert f"e-mail {email_id} queued again" in retried.output
    assert "no SMTP server is configured" in retried.output
    with world.runtime.sessions() as session:
        assert session.get_one(Notification, email_id).state == NotificationState.PENDING

    again = runner.invoke(app, ["emails", "retry", str(email_id), *WS], env=env)
    assert again.exit_code == 1
    assert f"error: e-mail {email_id} is pending; only a failed or not sent" in again.output


def test_bad_input_exits_2_naming_what_is_wrong(world: World, key_entry: str) -> None:
    env = worker_env(world, "http://graph.invalid", key_entry)
    missing = runner.invoke(app, ["emails", "show", "999999", *WS], env=env)
    assert missing.exit_code == 2 and "error: E-mail 999999 not found" in missing.output
    assert runner.invoke(app, ["emails", "retry", "999999", *WS], env=env).exit_code == 2
    state = runner.invoke(app, ["emails", "list", "--state", "lost", *WS], env=env)
    assert state.exit_code == 2 and "--state" in state.output
    assert runner.invoke(app, ["emails", "show", "zero", *WS], env=env).exit_code == 2
    assert runner.invoke(app, ["emails", "show", "0", *WS], env=env).exit_code == 2
    workspace = runner.invoke(app, ["emails", "list", "--workspace", "nowhere"], env=env)
    assert workspace.exit_code == 2 and "no workspace 'nowhere'" in workspace.output
