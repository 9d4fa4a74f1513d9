"""Socket Mode end to end: the real app connects out to a Socket Mode stand-in, acknowledges the
commands Slack pushes over the WebSocket, and answers through the Web API as in HTTP mode."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.bootstrap import bootstrap
from bot.config import ConfigError, load_settings
from bot.sandbox.fake_socket import FakeSocketMode
from bot.slack.socket_mode import APP_TOKEN_MISSING, connect
from storage.models import Commitment
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.helpers import running_workers, wait_for

COMMSTAT = [sys.executable, "-m", "bot.cli"]
CHANNEL = "C0MEETING"


@pytest.fixture
def socket_mode(fake_slack):
    with FakeSocketMode(fake_slack) as server:
        yield server


def socket_env(database_url: str, api_url: str, app_token: str) -> dict[str, str]:
    # No signing secret: over the socket Slack authenticates the connection, not each request.
    return {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": app_token,
        "SLACK_API_URL": api_url,
        "COMMSTAT_TIMEZONE": "America/New_York",
    }


def _connect(services):
    return connect(create_app(services, socket_mode=True), services.settings)


@pytest.fixture
def socket_bot(db_url, fake_slack, socket_mode, clock):
    services = bootstrap(
        load_settings(socket_env(db_url, fake_slack.api_url, socket_mode.app_token)), clock=clock
    )
    with running_workers(services):
        handler = _connect(services)
        socket_mode.wait_connected()
        yield services
        handler.close()
    services.engine.dispose()


def test_a_command_pushed_over_the_socket_is_acked_there_and_answered(
    socket_bot, socket_mode, fake_slack
):
    # The app asked the Web API for the socket's address with its app-level token.
    opened = fake_slack.calls_to("apps.connections.open")
    assert [c.header("Authorization") for c in opened] == [f"Bearer {socket_mode.app_token}"]

    ack = socket_mode.wait_for_ack(socket_mode.push_command("/commit", "help", user="U0MARIA"))
    assert ack.seconds < 3
    assert ack.payload is not None
    assert "/commit" in ack.payload["text"]
    assert "by Friday" in ack.payload["text"] or "by end of month" in ack.payload["text"]

    envelope = socket_mode.push_command(
        "/commit", "Distribute 200 naloxone kits by Friday", user="U0MARIA", channel=CHANNEL
    )
    assert socket_mode.wait_for_ack(envelope).seconds < 3
    message = wait_for(lambda: fake_slack.messages(CHANNEL))[-1]
    assert "Distribute 200 naloxone kits" in message["text"]
    assert "Fri, Nov 27, 2026" in message["text"]
    post = fake_slack.calls_to("chat.postMessage")[-1]
    assert post.header("Authorization") == f"Bearer {BOT_TOKEN}"

    def stored():
        with socket_bot.sessions() as session:
            return session.scalars(select(Commitment)).all()

    commitment = wait_for(lambda: stored() and stored()[0].message_ts and stored()[0])
    assert len(stored()) == 1
    assert commitment.text == "Distribute 200 naloxone kits"
    assert commitment.message_ts == message["ts"]


def test_the_app_reconnects_when_slack_drops_the_connection(sqlite_url, fake_slack, socket_mode):
    services = bootstrap(
        load_settings(socket_env(sqlite_url, fake_slack.api_url, socket_mode.app_token))
    )
    handler = _connect(services)
    try:
        socket_mode.wait_connected()
        socket_mode.disconnect_all()  # Slack refreshes connections every few hours
        wait_for(lambda: socket_mode.connections_opened >= 2, timeout=20)
        socket_mode.wait_connected()
        ack = socket_mode.wait_for_ack(socket_mode.push_command("/commit", "help", user="U0LEE"))
        assert "/commit" in ack.payload["text"]
    finally:
        handler.close()
        services.engine.dispose()


def test_a_bot_token_in_place_of_the_app_token_is_refused_in_one_line(sqlite_url, fake_slack):
    settings = load_settings(socket_env(sqlite_url, fake_slack.api_url, BOT_TOKEN))
    services = bootstrap(settings)
    with pytest.raises(ConfigError) as error:
        _connect(services)
    assert str(error.value).startswith("SLACK_APP_TOKEN must be an app-level token starting with")
    assert BOT_TOKEN not in str(error.value)
    services.engine.dispose()


def test_an_app_token_slack_does_not_know_is_refused_in_one_line(
    sqlite_url, fake_slack, socket_mode
):
    settings = load_settings(socket_env(sqlite_url, fake_slack.api_url, "xapp-1-unknown-token"))
    services = bootstrap(settings)
    with pytest.raises(ConfigError) as error:
        _connect(services)
    assert str(error.value).startswith(
        "SLACK_APP_TOKEN was not accepted: Slack did not recognise it"
    )
    assert "xapp-1-unknown-token" not in str(error.value)
    services.engine.dispose()


# --- `commstat socket` as a real process ---------------------------------------------------------


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DATABASE_URL", "COMMSTAT_"))
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'socket.sqlite3'}", **values)
    env["MPLCONFIGDIR"] = str(tmp_path / "mpl")
    return env


def test_commstat_socket_without_the_app_token_stops_with_one_clear_line(tmp_path):
    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL="http://127.0.0.1:9/api/",
    )
    result = subprocess.run(
        [*COMMSTAT, "socket"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"Error: {APP_TOKEN_MISSING}"]
    assert "Basic Information → App-Level Tokens" in result.stderr
    assert not (tmp_path / "socket.sqlite3").exists()  # stopped before touching anything


def test_commstat_socket_serves_commands_and_stops_cleanly_on_sigterm(
    tmp_path, fake_slack, socket_mode
):
    log = tmp_path / "socket.log"
    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=socket_mode.app_token,
        SLACK_API_URL=fake_slack.api_url,
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*COMMSTAT, "--log-level", "debug", "socket"],  # with the scheduler, like serve
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            socket_mode.wait_connected(timeout=30)
            ack = socket_mode.wait_for_ack(
                socket_mode.push_command("/commit", "help", user="U0MARIA")
            )
            assert ack.seconds < 3
            assert "/commit" in ack.payload["text"]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
    output = log.read_text()
    assert "connected to Slack in Socket Mode" in output
    assert "scheduler: a pass every minute" in output
    assert "received signal 15; shutting down" in output
    assert "stopped" in output
    assert socket_mode.app_token not in output
    assert BOT_TOKEN not in output
    assert "Traceback" not in output
