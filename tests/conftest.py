"""Shared fixtures: real databases (a SQLite file; PostgreSQL when available), the local Slack
stand-in, and the real bot served over HTTP."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.app import create_app
from bot.bootstrap import Services, bootstrap
from bot.config import Settings, load_settings
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_driver import SlackDriver
from bot.slack.http_server import make_server, make_wsgi_app, run_until_closed
from storage.db import make_engine, upgrade

PG_ENV = "COMMSTAT_TEST_POSTGRES_URL"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BOT_TOKEN = "xoxb-0000-test-bot-token-do-not-log"
SIGNING_SECRET = "test-signing-secret-never-logged-0123456789"
TEAM_ID = "T0COALITION"
NEW_YORK_MONDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon Nov 23 2026, 10:00 in New York


class Clock:
    """The business clock the app reads; tests move it to travel in time."""

    def __init__(self, now: datetime = NEW_YORK_MONDAY) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- databases ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "commstat.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def _postgres_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        if IN_CI:
            pytest.fail(f"CI=true but {PG_ENV} is not set: PostgreSQL tests must run in CI")
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (see README: .ci/postgres.sh)")
    return url


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    admin_url = _postgres_admin_url()
    assert admin_url is not None
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"commstat_tpl_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    admin_url = os.environ[PG_ENV]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"commstat_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on a SQLite file and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


# --- Slack and the served bot ----------------------------------------------------------------


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(team_id=TEAM_ID, token=BOT_TOKEN).start()
    for user_id, name, tz in [
        ("U0MARIA", "maria", "America/New_York"),
        ("U0LEE", "lee", "America/Los_Angeles"),
        ("U0SAM", "sam", "America/Chicago"),
        ("U0KIM", "kim", "Pacific/Auckland"),
    ]:
        fake.add_user(user_id, name=name, tz=tz)
    fake.add_user("U0ADMIN", name="pat", tz="America/New_York", is_admin=True)
    yield fake
    fake.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_settings(database_url: str, api_url: str, **extra: str) -> Settings:
    env = {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "COMMSTAT_TIMEZONE": "America/New_York",
        **extra,
    }
    return load_settings(env)


@dataclass
class ServedBot:
    url: str
    services: Services
    slack: FakeSlack
    driver: SlackDriver
    clock: Clock


def _serve(database_url: str, fake: FakeSlack, clock: Clock) -> Iterator[ServedBot]:
    services = bootstrap(make_settings(database_url, fake.api_url), clock=clock)
    app = create_app(services)
    server = make_server(make_wsgi_app(app, services.engine), host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=run_until_closed, args=(server,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    driver = SlackDriver(
        f"{url}/slack/events", SIGNING_SECRET, TEAM_ID, response_url_for=fake.response_url
    )
    try:
        yield ServedBot(url, services, fake, driver, clock)
    finally:
        server.close()
        thread.join(timeout=5)
        services.engine.dispose()


@pytest.fixture
def bot(db_url: str, fake_slack: FakeSlack, clock: Clock) -> Iterator[ServedBot]:
    """The real app over HTTP, on SQLite and on PostgreSQL."""
    yield from _serve(db_url, fake_slack, clock)


@pytest.fixture
def sqlite_bot(sqlite_url: str, fake_slack: FakeSlack, clock: Clock) -> Iterator[ServedBot]:
    """The real app over HTTP on SQLite only, for behaviour that does not depend on the database."""
    yield from _serve(sqlite_url, fake_slack, clock)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many PostgreSQL tests ran, so a CI log shows they were not skipped."""
    ran = [
        r
        for r in terminalreporter.stats.get("passed", [])
        if "postgres" in r.nodeid.partition("[")[2]
    ]
    skipped = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if "postgres" in r.nodeid.partition("[")[2]
    ]
    terminalreporter.write_line(f"PostgreSQL tests: {len(ran)} passed, {len(skipped)} skipped")
