"""The served app, driven over HTTP exactly as Slack drives it."""

import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.sandbox.slack_driver import post, sign
from bot.slack.http_server import make_wsgi_app
from storage.db import make_engine
from storage.models import Commitment, Team
from tests.conftest import SIGNING_SECRET


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.status, answer.read()


def _nothing_stored(bot):
    with bot.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Commitment)) == 0
        assert session.scalar(select(func.count()).select_from(Team)) == 0


def test_health_check_answers_when_the_database_does(bot):
    status, body = _get(f"{bot.url}/healthz")
    assert status == 200
    assert b'"database": "ok"' in body


def test_health_check_fails_when_the_database_is_unreachable():
    engine = make_engine(
        "postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 1}
    )
    wsgi = make_wsgi_app(app=None, engine=engine, signing_secret="")  # type: ignore[arg-type]
    seen = {}
    body = b"".join(
        wsgi({"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}, lambda s, h: seen.update(status=s))
    )
    assert seen["status"].startswith("503")
    assert b"unreachable" in body


@pytest.mark.parametrize(
    ("command", "text"),
    [(c, t) for c in ("/commit", "/indicator", "/commstat") for t in ("help", "  HELP  ")]
    + [("/indicator", ""), ("/commstat", "")],  # an empty /commit opens a form instead
)
def test_help_is_answered_quickly_and_privately(sqlite_bot, command, text):
    answer = sqlite_bot.driver.command(command, text, user="U0MARIA")
    assert answer.status == 200
    assert answer.seconds < 3
    body = answer.json()
    assert command in body["text"]
    assert body.get("response_type", "ephemeral") == "ephemeral"


def test_commit_help_lists_every_subcommand(bot):
    answer = bot.driver.command("/commit", "help", user="U0MARIA")
    text = answer.json()["text"]
    for word in ("list", "done", "move", "note", "drop", "end of month"):
        assert word in text
    _nothing_stored(bot)


def _form(text="help"):
    return urlencode(
        {
            "command": "/commit",
            "text": text,
            "team_id": "T0COALITION",
            "user_id": "U0MARIA",
            "channel_id": "C1",
            "trigger_id": "t",
            "response_url": "http://127.0.0.1:9/x",
        }
    ).encode()


def test_unsigned_requests_are_refused(bot):
    answer = post(
        f"{bot.url}/slack/events", _form(), {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status == 401
    _nothing_stored(bot)


def test_wrongly_signed_requests_are_refused(bot):
    body = _form()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign("not-the-secret", body, int(time.time())),
    }
    assert post(f"{bot.url}/slack/events", body, headers).status == 401
    _nothing_stored(bot)


def test_a_signature_over_another_body_is_refused(bot):
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(SIGNING_SECRET, _form("help"), int(time.time())),
    }
    assert post(f"{bot.url}/slack/events", _form("list all"), headers).status == 401


def test_replayed_requests_older_than_five_minutes_are_refused(bot):
    body = _form()
    stale = int(time.time()) - 301
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(SIGNING_SECRET, body, stale),
    }
    assert post(f"{bot.url}/slack/events", body, headers).status == 401
    _nothing_stored(bot)


def test_oversized_bodies_are_refused_before_the_app(sqlite_bot):
    body = b"text=" + b"a" * 2_000_000
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(SIGNING_SECRET, body, int(time.time())),
    }
    try:
        status = post(f"{sqlite_bot.url}/slack/events", body, headers).status
    except urllib.error.URLError as error:  # waitress may answer 413 and hang up mid-upload
        assert isinstance(error.reason, (BrokenPipeError, ConnectionResetError))
        status = 413
    assert status == 413
    assert (
        sqlite_bot.driver.command("/commit", "help", user="U0MARIA").status == 200
    )  # still serving


def test_unknown_paths_are_not_found(sqlite_bot):
    answer = post(f"{sqlite_bot.url}/admin", b"", {})
    assert answer.status == 404


def test_nothing_but_auth_test_reached_slack_for_help(sqlite_bot):
    sqlite_bot.driver.command("/commit", "help", user="U0MARIA")
    methods = {call.method for call in sqlite_bot.slack.calls}
    assert methods <= {"auth.test"}
