"""OAuth mode end to end: a second coalition installs CommStat from the "Add to Slack" page, and
from then on its commands, and the nudges the scheduler sends there, use its own bot token."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import yaml
from sqlalchemy import select

from bot.app import create_app
from bot.bootstrap import NotInstalled, Services, bootstrap
from bot.config import ConfigError, load_settings
from bot.followup.scheduler import run_pass
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_driver import SlackDriver
from bot.slack.http_server import make_server, make_wsgi_app, run_until_closed
from bot.slack.oauth import DEFAULT_BOT_SCOPES
from storage.models import Commitment
from tests.conftest import SIGNING_SECRET, Clock
from tests.helpers import running_workers, wait_for

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "client-secret-never-logged-42"
OTHER_TEAM = "T0OTHER"
OTHER_TOKEN = "xoxb-other-coalition-bot-token"
OTHER_CODE = "code-for-the-other-coalition"
CHANNEL = "C0OTHERMEETING"


@dataclass
class Page:
    status: int
    text: str
    headers: dict[str, str]

    def cookie(self) -> str:
        """The Cookie header a browser would send back (name=value of Set-Cookie)."""
        return self.headers.get("Set-Cookie", "").split(";", 1)[0]


def browse(url: str, cookie: str | None = None) -> Page:
    """A GET as a browser makes it, without following redirects."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return Page(answer.status, answer.read().decode(), dict(answer.headers))
    except urllib.error.HTTPError as error:
        return Page(error.code, error.read().decode(), dict(error.headers))


def authorize_link(page: Page) -> str:
    """Where the "Add to Slack" button goes."""
    return unescape(re.search(r'<a href="([^"]+)"', page.text).group(1))


@dataclass
class OAuthBot:
    url: str
    services: Services
    slack: FakeSlack
    clock: Clock

    def driver(self, team_id: str) -> SlackDriver:
        return SlackDriver(
            f"{self.url}/slack/events",
            SIGNING_SECRET,
            team_id,
            response_url_for=self.slack.response_url,
        )

    def install(self, code: str = OTHER_CODE) -> Page:
        """Open the install page, click "Add to Slack", approve in Slack, come back."""
        page = browse(f"{self.url}/slack/install")
        assert page.status == 200
        link = authorize_link(page)
        state = parse_qs(urlsplit(link).query)["state"][0]
        query = urlencode({"code": code, "state": state})
        return browse(f"{self.url}/slack/oauth_redirect?{query}", cookie=page.cookie())

    def installations(self) -> list[dict]:
        store = self.services.installation_store
        with self.services.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(store.installations)).mappings()]


def oauth_env(database_url: str, api_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "COMMSTAT_TIMEZONE": "America/New_York",
    }


def serve_oauth(database_url: str, fake: FakeSlack, clock: Clock) -> Iterator[OAuthBot]:
    """The real app in OAuth mode (no SLACK_BOT_TOKEN at all), served over HTTP."""
    fake.allow_oauth(CLIENT_ID, CLIENT_SECRET)
    fake.allow_install(
        OTHER_CODE,
        team_id=OTHER_TEAM,
        team_name="Riverside Recovery Coalition",
        bot_token=OTHER_TOKEN,
        bot_user_id="U0OTHERBOT",
        installer="U0DANA",
    )
    fake.add_user("U0DANA", name="dana", tz="America/New_York", team_id=OTHER_TEAM)
    services = bootstrap(load_settings(oauth_env(database_url, fake.api_url)), clock=clock)
    app = create_app(services)
    server = make_server(
        make_wsgi_app(app, services.engine, signing_secret=SIGNING_SECRET),
        host="127.0.0.1",
        port=0,
        threads=4,
    )
    thread = threading.Thread(target=run_until_closed, args=(server,), daemon=True)
    thread.start()
    try:
        with running_workers(services):
            yield OAuthBot(f"http://127.0.0.1:{server.effective_port}", services, fake, clock)
    finally:
        server.close()
        thread.join(timeout=5)
        services.engine.dispose()


@pytest.fixture
def oauth_bot(db_url: str, fake_slack: FakeSlack, clock: Clock) -> Iterator[OAuthBot]:
    yield from serve_oauth(db_url, fake_slack, clock)


@pytest.fixture
def sqlite_oauth_bot(sqlite_url: str, fake_slack: FakeSlack, clock: Clock) -> Iterator[OAuthBot]:
    yield from serve_oauth(sqlite_url, fake_slack, clock)


def bearer(call) -> str | None:
    auth = call.header("Authorization") or ""
    return auth[7:] if auth.startswith("Bearer ") else None


# --- installing ----------------------------------------------------------------------------------


def test_the_install_page_offers_add_to_slack_with_a_fresh_state(sqlite_oauth_bot):
    page = browse(f"{sqlite_oauth_bot.url}/slack/install")
    assert page.status == 200
    assert "Add to Slack" in page.text
    link = authorize_link(page)
    assert link.startswith("https://slack.com/oauth/v2/authorize?")
    query = parse_qs(urlsplit(link).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == [",".join(DEFAULT_BOT_SCOPES)]
    assert page.cookie() == f"slack-app-oauth-state={query['state'][0]}"
    again = browse(f"{sqlite_oauth_bot.url}/slack/install")
    assert again.cookie() != page.cookie()  # each visit gets its own one-time state


def test_a_coalition_installs_and_its_own_token_answers_its_commands_and_nudges(oauth_bot):
    bot = oauth_bot
    page = bot.install()
    assert page.status == 200, page.text
    assert "CommStat is now installed in <strong>Riverside Recovery Coalition</strong>" in page.text
    assert "/commit help" in page.text

    # Slack was asked for the token with the app's credentials, and the token is in our database.
    exchange = bot.slack.calls_to("oauth.v2.access")
    assert len(exchange) == 1
    assert exchange[0].header("Authorization").startswith("Basic ")
    assert [(i["team_id"], i["bot_token"], i["user_id"]) for i in bot.installations()] == [
        (OTHER_TEAM, OTHER_TOKEN, "U0DANA")
    ]

    # A signed /commit from that workspace is answered with that workspace's token.
    bot.slack.clear()
    answer = bot.driver(OTHER_TEAM).command(
        "/commit", "Open the Saturday naloxone clinic by tomorrow", user="U0DANA", channel=CHANNEL
    )
    assert answer.status == 200
    assert answer.seconds < 3
    posted = wait_for(lambda: bot.slack.messages(CHANNEL))
    assert "Open the Saturday naloxone clinic" in posted[0]["text"]
    assert "Tue, Nov 24, 2026" in posted[0]["text"]
    post = bot.slack.calls_to("chat.postMessage")[0]
    assert bearer(post) == OTHER_TOKEN

    def stored() -> Commitment | None:  # once its job has finished (the message is recorded)
        with bot.services.sessions() as session:
            found = session.scalars(select(Commitment)).one()
        return found if found.message_ts else None

    commitment = wait_for(stored)
    assert commitment.team_id == OTHER_TEAM

    # Scheduled work has no request to borrow a token from: it looks the team's token up.
    assert bot.services.client_for(OTHER_TEAM).token == OTHER_TOKEN
    with pytest.raises(NotInstalled):
        bot.services.client_for("T0NEVERINSTALLED")
    bot.slack.clear()
    report = run_pass(bot.services, now=datetime(2026, 11, 24, 14, 0, tzinfo=UTC))  # 9:00 NY
    assert report.nudges >= 1, report.summary()
    nudge = wait_for(lambda: bot.slack.messages("U0DANA"))
    assert "Open the Saturday naloxone clinic" in str(nudge[-1])
    sent = [c for c in bot.slack.calls_to("chat.postMessage") if c.ok]
    assert sent
    assert {bearer(c) for c in sent} == {OTHER_TOKEN}


@pytest.mark.parametrize(
    ("query", "cookie", "status", "says"),
    [
        ({"code": OTHER_CODE}, False, 400, "different browser"),
        ({"code": OTHER_CODE, "state": "forged-state"}, "forged", 401, "expired or was already"),
        ({"error": "access_denied", "state": "x"}, False, 200, "cancelled"),
    ],
)
def test_a_bad_or_cancelled_redirect_gets_a_clear_page_and_stores_nothing(
    sqlite_oauth_bot, query, cookie, status, says
):
    bot = sqlite_oauth_bot
    browse(f"{bot.url}/slack/install")  # a real state exists, but this browser does not hold it
    page = browse(
        f"{bot.url}/slack/oauth_redirect?{urlencode(query)}",
        cookie=f"slack-app-oauth-state={query.get('state')}" if cookie else None,
    )
    assert page.status == status
    assert "CommStat was not installed" in page.text
    assert says in page.text
    assert "/slack/install" in page.text  # how to start again
    assert bot.slack.calls_to("oauth.v2.access") == []
    assert bot.installations() == []


def test_a_state_cannot_be_used_twice(sqlite_oauth_bot):
    bot = sqlite_oauth_bot
    page = browse(f"{bot.url}/slack/install")
    link = authorize_link(page)
    state = parse_qs(urlsplit(link).query)["state"][0]
    url = f"{bot.url}/slack/oauth_redirect?{urlencode({'code': OTHER_CODE, 'state': state})}"
    assert browse(url, cookie=page.cookie()).status == 200
    replay = browse(url, cookie=page.cookie())
    assert replay.status == 401
    assert "expired or was already used" in replay.text
    assert len(bot.installations()) == 1


def test_a_code_slack_refuses_installs_nothing(sqlite_oauth_bot):
    page = sqlite_oauth_bot.install(code="a-code-slack-never-issued")
    assert page.status == 401
    assert "Slack did not accept the installation code" in page.text
    assert sqlite_oauth_bot.installations() == []


# --- settings -----------------------------------------------------------------------------------


def test_oauth_mode_without_the_client_secret_stops_with_one_line(sqlite_url):
    env = oauth_env(sqlite_url, "http://127.0.0.1:9/api/")
    del env["SLACK_CLIENT_SECRET"]
    services = bootstrap(load_settings(env))
    with pytest.raises(ConfigError) as error:
        create_app(services)
    assert (
        str(error.value) == "SLACK_CLIENT_SECRET is not set; see README.md, 'Connecting to Slack'."
    )
    services.engine.dispose()


def test_the_client_secret_is_treated_as_a_secret(sqlite_url):
    settings = load_settings(oauth_env(sqlite_url, "http://127.0.0.1:9/api/"))
    assert CLIENT_SECRET in settings.secret_values()
    assert CLIENT_SECRET not in repr(settings)


def test_token_mode_has_no_install_pages(sqlite_bot):
    assert browse(f"{sqlite_bot.url}/slack/install").status == 404
    assert browse(f"{sqlite_bot.url}/slack/oauth_redirect?code=x&state=y").status == 404
    assert sqlite_bot.services.installation_store is None


def test_the_scopes_asked_for_are_the_manifests():
    manifest = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text())
    assert tuple(manifest["oauth_config"]["scopes"]["bot"]) == DEFAULT_BOT_SCOPES
