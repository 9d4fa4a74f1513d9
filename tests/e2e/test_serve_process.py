"""`commstat serve` as a real process: what an operator sees, and what must never be logged."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.sandbox.slack_driver import SlackDriver
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM_ID

COMMSTAT = [sys.executable, "-m", "bot.cli"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DATABASE_URL", "COMMSTAT_"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        MPLCONFIGDIR=str(tmp_path / "mpl"),
    )
    env.update(extra)
    return env


def _wait_healthy(url: str, process: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not become healthy")


def test_serve_answers_signed_requests_and_stops_cleanly(tmp_path, fake_slack):
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *COMMSTAT,
                "--log-level",
                "debug",
                "serve",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--no-scheduler",
            ],
            env=_env(tmp_path, fake_slack.api_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, process)
            driver = SlackDriver(
                f"{url}/slack/events",
                SIGNING_SECRET,
                TEAM_ID,
                response_url_for=fake_slack.response_url,
            )
            answer = driver.command("/commit", "help", user="U0MARIA")
            assert answer.status == 200
            assert answer.seconds < 3
            assert "/commit" in answer.json()["text"]
            # A request signed with the wrong secret is refused, and logged, without the secrets.
            bad = SlackDriver(f"{url}/slack/events", "wrong-secret", TEAM_ID)
            assert bad.command("/commit", "help", user="U0MARIA").status == 401
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
    output = log.read_text()
    assert "listening on http://127.0.0.1" in output
    assert "As you gave `client` as well" not in output  # Bolt's routine note, every start
    assert "auth.test" in output  # debug logging really was on, including the Slack client's
    assert BOT_TOKEN not in output
    assert SIGNING_SECRET not in output
    assert "xoxb-" not in output


def test_a_rejected_token_stops_with_one_line_and_no_secret(tmp_path, fake_slack):
    result = subprocess.run(
        [*COMMSTAT, "--log-level", "debug", "serve", "--port", str(_free_port()), "--no-scheduler"],
        env=_env(tmp_path, fake_slack.api_url, SLACK_BOT_TOKEN="xoxb-wrong-token-123"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SLACK_BOT_TOKEN was not accepted" in result.stderr
    assert "Traceback" not in result.stderr
    assert "xoxb-wrong-token-123" not in result.stderr + result.stdout
    assert SIGNING_SECRET not in result.stderr + result.stdout


def test_slack_out_of_reach_stops_with_one_line_not_a_traceback(tmp_path):
    result = subprocess.run(
        [*COMMSTAT, "serve", "--port", str(_free_port())],
        env=_env(tmp_path, "http://127.0.0.1:9/api/"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: Slack could not be reached at SLACK_API_URL=http://127.0.0.1:9/api/")
    )
    assert "Traceback" not in result.stderr
    # slack_sdk says it retries (a few lines); no traceback: was ~100 lines
    assert len(result.stderr.strip().splitlines()) < 12, result.stderr


@pytest.mark.parametrize("missing", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"])
def test_a_missing_setting_stops_with_one_clear_line(tmp_path, missing):
    env = _env(tmp_path, "http://127.0.0.1:9/api/")
    del env[missing]
    result = subprocess.run(
        [*COMMSTAT, "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"Error: {missing} is not set; see README.md, 'Connecting to Slack'."
    )
    assert "Traceback" not in result.stderr


def test_db_upgrade_creates_the_database(tmp_path):
    env = _env(tmp_path, "http://127.0.0.1:9/api/")
    result = subprocess.run(
        [*COMMSTAT, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "database is up to date" in result.stdout
    assert (tmp_path / "serve.sqlite3").exists()
    assert "Running upgrade" not in result.stderr  # Alembic's steps only with --log-level debug
    assert result.stderr == ""
