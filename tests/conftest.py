"""Shared fixtures: real databases (a SQLite file; PostgreSQL when available), the local Slack
stand-in, and the real bot served over HTTP."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from bot.app import create_app, create_worker_app
from bot.bootstrap import Services, bootstrap
from bot.config import Settings, load_settings
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_driver import SlackDriver
from bot.slack.http_server import make_server, make_wsgi_app, run_until_closed
from bot.slack.worker import WorkerThreads
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
#
# Building the app costs ~0.1 s of CPU (Bolt, dateparser and matplotlib warm-ups), so the tests of
# a module that use `bot` or `sqlite_bot` share one served app per database kind, with its Slack
# stand-in and clock; every test still starts from scratch: a new stand-in's state, the clock at
# NEW_YORK_MONDAY and an empty migrated database. The app's background work (Bolt's listeners) is
# waited for when a test ends, so nothing it started reaches the next one.

PEOPLE = [
    ("U0MARIA", "maria", "America/New_York"),
    ("U0LEE", "lee", "America/Los_Angeles"),
    ("U0SAM", "sam", "America/Chicago"),
    ("U0KIM", "kim", "Pacific/Auckland"),
]


@pytest.fixture(scope="module")
def _module_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(team_id=TEAM_ID, token=BOT_TOKEN).start()
    yield fake
    fake.stop()


SERVED_BOTS = ("bot", "sqlite_bot")


@pytest.fixture
def fake_slack(request: pytest.FixtureRequest) -> Iterator[FakeSlack]:
    """The Slack stand-in with the coalition's people, as new for every test: under a served bot
    the module's own (the one the app talks to), reset; otherwise one for this test alone, so work
    an app of the test's own leaves behind cannot reach the next test."""
    shared = any(name in request.fixturenames for name in SERVED_BOTS)
    if shared:
        fake = request.getfixturevalue("_module_slack")
        fake.reset_all()
    else:
        fake = FakeSlack(team_id=TEAM_ID, token=BOT_TOKEN).start()
    for user_id, name, tz in PEOPLE:
        fake.add_user(user_id, name=name, tz=tz)
    fake.add_user("U0ADMIN", name="pat", tz="America/New_York", is_admin=True)
    yield fake
    if not shared:
        fake.stop()


@pytest.fixture(scope="module")
def _module_clock() -> Clock:
    return Clock()


@pytest.fixture
def clock(_module_clock: Clock) -> Clock:
    """The business clock, back at NEW_YORK_MONDAY for every test."""
    _module_clock.now = NEW_YORK_MONDAY
    return _module_clock


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


class _ServedApp:
    """The real app under waitress for one test module, on a database of its own (a copy of the
    migrated template) that `fresh_database()` empties again between tests."""

    def __init__(
        self, database_url: str, empty: Callable[[Engine], None], fake: FakeSlack, clock: Clock
    ) -> None:
        self._empty = empty
        self.slack = fake
        self.services = bootstrap(make_settings(database_url, fake.api_url), clock=clock)
        app = create_app(self.services)
        self.workers = WorkerThreads(self.services, create_worker_app(self.services)).start()
        self._server = make_server(
            make_wsgi_app(app, self.services.engine, signing_secret=SIGNING_SECRET),
            host="127.0.0.1",
            port=0,
            threads=4,
        )
        self._thread = threading.Thread(target=run_until_closed, args=(self._server,), daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.effective_port}"

    def fresh_database(self) -> None:
        with self.workers.held():
            self._empty(self.services.engine)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait for the jobs stored by the acks (answers, chart uploads) to be carried out."""
        self.workers.settle(timeout)

    def close(self) -> None:
        self.settle()
        self.workers.close()
        self._server.close()
        self._thread.join(timeout=5)
        self.services.engine.dispose()


def _copy_of(template: Path, path: Path) -> Callable[[Engine], None]:
    """SQLite: the template copied over the file, once no connection has it open."""

    shutil.copy(template, path)

    def empty(engine: Engine) -> None:
        engine.dispose()
        for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
            path.with_name(name).unlink(missing_ok=True)
        shutil.copy(template, path)

    return empty


def _truncating(admin: Engine, template: str, name: str) -> Callable[[Engine], None]:
    """PostgreSQL: a copy of the template, then every table but alembic's emptied and its ids
    restarted between tests (the template holds no rows: the same state, 3x faster than a copy)."""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    statement = ""

    def empty(engine: Engine) -> None:
        nonlocal statement
        with engine.begin() as conn:
            if not statement:
                tables = conn.scalars(
                    text(
                        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version' ORDER BY tablename"
                    )
                ).all()
                seeded = [t for t in tables if conn.scalar(text(f"SELECT EXISTS (TABLE {t})"))]
                assert not seeded, f"the migrations now put rows in {seeded}: keep them here"
                statement = f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(text(statement))

    return empty


ServedApps = Callable[[pytest.FixtureRequest, str], _ServedApp]


@pytest.fixture(scope="module")
def _served_apps(
    tmp_path_factory: pytest.TempPathFactory, _module_slack: FakeSlack, _module_clock: Clock
) -> Iterator[ServedApps]:
    """This module's served apps, one per database kind, made when a test first asks."""
    apps: dict[str, _ServedApp] = {}
    databases: list[str] = []
    admin: Engine | None = None

    def served(request: pytest.FixtureRequest, kind: str) -> _ServedApp:
        nonlocal admin
        if kind in apps:
            return apps[kind]
        if kind == "sqlite":
            template = request.getfixturevalue("sqlite_template")
            path = tmp_path_factory.mktemp("served") / "commstat.sqlite3"
            url, empty = f"sqlite:///{path}", _copy_of(template, path)
        else:
            template = request.getfixturevalue("postgres_template")  # skips without PostgreSQL
            admin_url = os.environ[PG_ENV]
            admin = admin or create_engine(admin_url, isolation_level="AUTOCOMMIT")
            name = f"commstat_m_{uuid.uuid4().hex[:10]}"
            databases.append(name)
            empty = _truncating(admin, template, name)
            url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        apps[kind] = _ServedApp(url, empty, _module_slack, _module_clock)
        return apps[kind]

    yield served
    for app in apps.values():
        app.close()
    if admin is not None:
        with admin.connect() as conn:
            for name in databases:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _serve(
    served_apps: ServedApps,
    request: pytest.FixtureRequest,
    kind: str,
    fake: FakeSlack,
    clock: Clock,
) -> Iterator[ServedBot]:
    served = served_apps(request, kind)
    assert fake is served.slack, (
        "ask for bot or sqlite_bot as a test's (or fixture's) argument, not with "
        "request.getfixturevalue(), so that fake_slack is the stand-in the served app talks to"
    )
    served.fresh_database()
    driver = SlackDriver(
        f"{served.url}/slack/events", SIGNING_SECRET, TEAM_ID, response_url_for=fake.response_url
    )
    try:
        yield ServedBot(served.url, served.services, fake, driver, clock)
    finally:
        served.settle()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bot(
    request: pytest.FixtureRequest,
    _served_apps: ServedApps,
    fake_slack: FakeSlack,
    clock: Clock,
) -> Iterator[ServedBot]:
    """The real app over HTTP, on SQLite and on PostgreSQL (a fresh database for each test)."""
    yield from _serve(_served_apps, request, request.param, fake_slack, clock)


@pytest.fixture
def sqlite_bot(
    request: pytest.FixtureRequest,
    _served_apps: ServedApps,
    fake_slack: FakeSlack,
    clock: Clock,
) -> Iterator[ServedBot]:
    """The real app over HTTP on SQLite only, for behaviour that does not depend on the database."""
    yield from _serve(_served_apps, request, "sqlite", fake_slack, clock)


@pytest.fixture
def workers(request: pytest.FixtureRequest, _served_apps: ServedApps) -> WorkerThreads:
    """The worker threads of the app `bot` (or `sqlite_bot`) serves in this test: hold them
    (`with workers.held():`) to see what waits in the queue."""
    callspec = getattr(request.node, "callspec", None)
    kind = callspec.params.get("bot", "sqlite") if callspec is not None else "sqlite"
    return _served_apps(request, kind).workers


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
