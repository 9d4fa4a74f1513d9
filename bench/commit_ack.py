"""How fast the bot acknowledges ``/commit`` and ``/commit list`` with a big commitments table.

Slack gives a slash command 3 seconds to be acknowledged (HTTP 200) before the user sees an
error, so the ack is what matters most; the follow-up (the confirmation posted in the channel,
or the list sent to the response URL) is what the user waits for next.

What it does, with the real app over HTTP (the same pieces the end-to-end tests use):

1. a fresh database (SQLite file, or a throwaway PostgreSQL database), migrated with Alembic;
2. seeds 100,000 commitments (``--quick``: 10,000) for one team with Core bulk inserts: ~200
   owners, 70% open / 20% done / 10% dropped, due from 90 days ago to 180 days ahead, 1-2 owners
   each, plus the team and its people with a fresh ``users.info`` cache;
3. serves the real Bolt app under waitress on 127.0.0.1 (port 0) against ``FakeSlack``, with a
   fixed business clock (Mon 2026-11-23 15:00 UTC);
4. warms up, then sends signed ``/commit <text> by Friday``, ``/commit list`` and
   ``/commit list all`` one at a time (200 each; ``--quick``: 50), recording for each the time
   until the HTTP answer (the ack) and until the follow-up reached FakeSlack ("complete"), and
   counting the SQL statements each request issued;
5. prints p50/p95/p99/max and writes ``bench/results/commit_ack-<db>.json``.
"""

from __future__ import annotations

import platform
import random
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy
from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.orm import Session

from bench import (
    Database,
    Options,
    SqlCounter,
    explain,
    print_table,
    run_on_throwaway_database,
    summary_ms,
    wait_until,
)
from bot.app import create_app, create_worker_app
from bot.bootstrap import Services, bootstrap
from bot.config import load_settings
from bot.sandbox.fake_slack import Call, FakeSlack
from bot.sandbox.slack_driver import SlackDriver
from bot.slack.http_server import make_server, make_wsgi_app
from bot.slack.worker import WorkerThreads
from storage.db import make_engine, upgrade
from storage.models import Base, Commitment, CommitmentOwner, CommitmentStatus, Person, Team

NAME = "commit_ack"
TEAM_ID = "T0COALITION"
CHANNEL = "C0MEETING"
BOT_TOKEN = "xoxb-0000-bench-bot-token"
SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
TEAM_ZONE = "America/New_York"
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon Nov 23 2026, 10:00 in New York

FULL_ROWS, QUICK_ROWS = 100_000, 10_000
FULL_REQUESTS, QUICK_REQUESTS = 200, 50
WARMUP = 5  # requests of each command before measuring
OWNERS = 200
BATCH = 10_000
SEED = 20261123

ZONES = (
    "America/New_York",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Pacific/Auckland",
)
VERBS = ("Distribute", "Follow up on", "Draft", "Share", "Review", "Collect", "Schedule", "Call")
THINGS = (
    "naloxone kits at the shelter",
    "the overdose data brief",
    "outreach schedule for the east side",
    "housing referrals backlog",
    "the school nurse survey",
    "peer-support volunteer list",
    "grant report numbers",
    "the harm-reduction flyer",
)


# --- seeding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    commitments: int
    owner_rows: int
    people: list[str]
    seconds: float


def seed(engine: Engine, *, rows: int, owners: int, now: datetime) -> Seeded:
    """One team, its people (users.info cache fresh at `now`) and `rows` commitments.

    Core inserts on the tables (executemany, in batches), not ORM bulk inserts: the same column
    types process the values, about five times faster.
    """
    rng = random.Random(SEED)
    people = [f"U0BENCH{i:03d}" for i in range(owners)]
    started = time.perf_counter()
    owner_rows = 0
    with Session(engine) as session, session.begin():
        session.execute(
            insert(_table(Team)),
            [
                {
                    "id": TEAM_ID,
                    "name": "Coalition",
                    "time_zone": TEAM_ZONE,
                    "working_days": ["mon", "tue", "wed", "thu", "fri"],
                    "holidays": [],
                    "nudge_hour": 9,
                    "overdue_every_days": 2,
                    "created_at": now - timedelta(days=400),
                }
            ],
        )
        session.execute(
            insert(_table(Person)),
            [
                {
                    "team_id": TEAM_ID,
                    "user_id": user_id,
                    "display_name": f"partner{i:03d}",
                    "time_zone": TEAM_ZONE if i == 0 else ZONES[i % len(ZONES)],
                    "organisation": f"Agency {i % 37}",
                    "is_admin": False,
                    "is_slack_admin": False,
                    "refreshed_at": now,
                }
                for i, user_id in enumerate(people)
            ],
        )
        for first in range(1, rows + 1, BATCH):
            ids = range(first, min(first + BATCH, rows + 1))
            commitments, owned = [], []
            for cid in ids:
                commitments.append(_commitment(rng, cid, people, now))
                for position, user_id in enumerate(rng.sample(people, rng.choice((1, 2)))):
                    owned.append(
                        {
                            "commitment_id": cid,
                            "user_id": user_id,
                            "team_id": TEAM_ID,
                            "position": position,
                        }
                    )
            session.execute(insert(_table(Commitment)), commitments)
            session.execute(insert(_table(CommitmentOwner)), owned)
            owner_rows += len(owned)
        if engine.dialect.name == "postgresql":
            # Ids were given explicitly: move the sequence past them for the bot's own inserts.
            session.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('commitments', 'id'), "
                    "(SELECT max(id) FROM commitments))"
                )
            )
    if engine.dialect.name == "postgresql":
        # Autovacuum would analyse a table this size soon after a bulk load; do it now.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return Seeded(rows, owner_rows, people, time.perf_counter() - started)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _commitment(rng: random.Random, cid: int, people: list[str], now: datetime) -> dict[str, Any]:
    due = now + timedelta(minutes=rng.randrange(-90 * 24 * 60, 180 * 24 * 60))
    created = min(now, due - timedelta(minutes=rng.randrange(24 * 60, 60 * 24 * 60)))
    roll = rng.random()
    status = (
        CommitmentStatus.OPEN
        if roll < 0.7
        else CommitmentStatus.DONE
        if roll < 0.9
        else CommitmentStatus.DROPPED
    )
    closed = None
    if status != CommitmentStatus.OPEN:
        closed = min(now, created + timedelta(minutes=rng.randrange(60, 30 * 24 * 60)))
    return {
        "id": cid,
        "team_id": TEAM_ID,
        "text": f"{rng.choice(VERBS)} {rng.choice(THINGS)} (seed {cid})",
        "status": status,
        "due_at": due,
        "due_has_time": rng.random() < 0.2,
        "time_zone": TEAM_ZONE,
        "due_version": 1,
        "snoozed_until": None,
        "created_at": created,
        "closed_at": closed,
        "creator_id": rng.choice(people),
        "channel_id": CHANNEL,
        "message_ts": f"{1_700_000_000 + cid}.000100",
        "indicator_id": None,
        "request_key": None,
    }


# --- the served bot --------------------------------------------------------------------------


@dataclass
class Served:
    services: Services
    fake: FakeSlack
    driver: SlackDriver
    counter: SqlCounter

    def idle(self) -> bool:
        """No connection of the bot's engine is checked out (its transactions are over)."""
        checked_out: Callable[[], int] | None = getattr(
            self.services.engine.pool, "checkedout", None
        )
        return checked_out is None or checked_out() == 0


@contextmanager
def serve(database_url: str, people: list[str]) -> Iterator[Served]:
    """FakeSlack plus the real app under waitress on an ephemeral port, as tests/conftest.py does."""
    fake = FakeSlack(team_id=TEAM_ID, token=BOT_TOKEN).start()
    try:
        for i, user_id in enumerate(people):
            zone = TEAM_ZONE if i == 0 else ZONES[i % len(ZONES)]
            fake.add_user(user_id, name=f"partner{i:03d}", tz=zone)
        settings = load_settings(
            {
                "DATABASE_URL": database_url,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": fake.api_url,
                "COMMSTAT_TIMEZONE": TEAM_ZONE,
            }
        )
        services = bootstrap(settings, clock=lambda: NOW)
        counter = SqlCounter(services.engine)
        app = create_app(services)
        # The jobs the app stores are carried out by worker threads here (as `serve`'s worker
        # processes would); bench/burst.py measures the real processes.
        workers = WorkerThreads(services, create_worker_app(services)).start()
        server = make_server(
            make_wsgi_app(app, services.engine, signing_secret=SIGNING_SECRET),
            host="127.0.0.1",
            port=0,
            threads=4,
        )
        thread = threading.Thread(target=server.run, name="bench-waitress", daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.effective_port}/slack/events"
        driver = SlackDriver(url, SIGNING_SECRET, TEAM_ID, response_url_for=fake.response_url)
        try:
            yield Served(services, fake, driver, counter)
        finally:
            server.close()
            thread.join(timeout=5)
            workers.close()
            counter.close()
            services.engine.dispose()
    finally:
        fake.stop()


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Samples:
    command: str
    ack: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    last_sql: list[tuple[str, Any]] = field(default_factory=list)
    last_answer: str = ""


def _new_calls(fake: FakeSlack, since: int) -> list[Call]:
    return fake.calls[since:]


def _response_key(driver: SlackDriver) -> str:
    return str(driver.sent[-1]["response_url"]).rsplit("/", 1)[-1]


def _reply_text(call: Call) -> str:
    return str(call.params.get("text") or "")


class Runner:
    def __init__(self, served: Served, user: str) -> None:
        self.served = served
        self.user = user
        self.run_id = uuid.uuid4().hex[:6]

    def create(self, i: int, samples: Samples | None) -> None:
        """``/commit <text> by Friday``; complete = its chat.postMessage reached Slack."""
        fake, counter = self.served.fake, self.served.counter
        marker = f"bench-{self.run_id}-{i:04d}"
        since = len(fake.calls)
        captured = counter.capture()
        before = counter.count
        started = time.monotonic()
        answer = self.served.driver.command(
            "/commit",
            f"Call {marker} partners about kits by Friday",
            user=self.user,
            channel=CHANNEL,
        )
        if answer.status != 200:
            raise RuntimeError(f"/commit answered HTTP {answer.status}: {answer.text[:200]}")
        key = _response_key(self.served.driver)

        def posted() -> Call | None:
            for call in _new_calls(fake, since):
                if call.method == "chat.postMessage" and marker in _reply_text(call):
                    return call
                if call.method == "response_url" and call.path.endswith(f"/{key}"):
                    raise RuntimeError(f"/commit was refused: {_reply_text(call)[:200]}")
            return None

        call = wait_until(posted)
        if not call.ok:
            raise RuntimeError(f"chat.postMessage failed: {call.response}")
        # The bot then stores the message ts; let that finish before the next request.
        wait_until(
            lambda: counter.seen_like("UPDATE commitments SET message_ts") and self.served.idle()
        )
        if samples is not None:
            samples.ack.append(answer.seconds)
            samples.complete.append(call.at - started)
            samples.statements.append(counter.count - before)
            samples.last_sql = list(captured)
            samples.last_answer = _reply_text(call)

    def ask(self, text_: str, samples: Samples | None) -> None:
        """``/commit list ...``; complete = the answer reached the response URL."""
        fake, counter = self.served.fake, self.served.counter
        since = len(fake.calls)
        captured = counter.capture()
        before = counter.count
        started = time.monotonic()
        answer = self.served.driver.command("/commit", text_, user=self.user, channel=CHANNEL)
        if answer.status != 200:
            raise RuntimeError(f"/commit {text_} answered HTTP {answer.status}")
        key = _response_key(self.served.driver)

        def replied() -> Call | None:
            for call in _new_calls(fake, since):
                if call.method == "response_url" and call.path.endswith(f"/{key}"):
                    return call
            return None

        call = wait_until(replied)
        reply = _reply_text(call)
        if "commitments (" not in reply:
            raise RuntimeError(f"/commit {text_} answered: {reply[:200]}")
        wait_until(self.served.idle)
        if samples is not None:
            samples.ack.append(answer.seconds)
            samples.complete.append(call.at - started)
            samples.statements.append(counter.count - before)
            samples.last_sql = list(captured)
            samples.last_answer = reply


def _count(engine: Engine, model: Any) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _server_version(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    with engine.connect() as conn:
        return f"PostgreSQL {conn.exec_driver_sql('SHOW server_version').scalar()}"


def _one_line(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


# --- the benchmark ---------------------------------------------------------------------------


def run(options: Options) -> dict[str, Any]:
    rows = options.rows or (QUICK_ROWS if options.quick else FULL_ROWS)
    requests = options.requests or (QUICK_REQUESTS if options.quick else FULL_REQUESTS)
    return run_on_throwaway_database(
        options, NAME, lambda database: _run(database, options, rows=rows, requests=requests)
    )


def _run(database: Database, options: Options, *, rows: int, requests: int) -> dict[str, Any]:
    engine = make_engine(database.url)
    try:
        migrate_started = time.perf_counter()
        upgrade(engine)
        migrate_seconds = time.perf_counter() - migrate_started
        version = _server_version(engine)
        print(f"database: {database.kind} ({version}) at {database.shown}")
        print(f"seeding {rows:,} commitments for {OWNERS} owners ...", flush=True)
        seeded = seed(engine, rows=rows, owners=OWNERS, now=NOW)
        print(
            f"seeded {seeded.commitments:,} commitments + {seeded.owner_rows:,} owner rows "
            f"in {seeded.seconds:.1f} s",
            flush=True,
        )

        user = seeded.people[0]
        commands = {
            "/commit <text> by Friday": Samples("/commit <text> by Friday"),
            "/commit list": Samples("/commit list"),
            "/commit list all": Samples("/commit list all"),
        }
        with serve(database.url, seeded.people) as served:
            runner = Runner(served, user)
            measured_started = time.perf_counter()
            for i in range(WARMUP):
                runner.create(-1 - i, None)
                runner.ask("list", None)
                runner.ask("list all", None)
            print(f"measuring {requests} requests per command ...", flush=True)
            for i in range(requests):
                runner.create(i, commands["/commit <text> by Friday"])
            for _ in range(requests):
                runner.ask("list", commands["/commit list"])
            for _ in range(requests):
                runner.ask("list all", commands["/commit list all"])
            measured_seconds = time.perf_counter() - measured_started
            users_info_calls = len(served.fake.calls_to("users.info"))
            fake_errors = list(served.fake.errors)
        if fake_errors:
            raise RuntimeError(f"FakeSlack itself failed: {fake_errors[0]}")

        final_rows = _count(engine, Commitment)
        plans = {
            name: [
                {"sql": _one_line(sql), "plan": explain(engine, sql, params)}
                for sql, params in samples.last_sql
                if sql.lstrip().upper().startswith("SELECT")
            ]
            for name, samples in commands.items()
            if name.startswith("/commit list")
        }
    finally:
        engine.dispose()

    report = {
        name: {
            "requests": len(s.ack),
            "ack_ms": summary_ms(s.ack),
            "complete_ms": summary_ms(s.complete),
            "sql_statements": {
                "min": min(s.statements),
                "max": max(s.statements),
                "last": [_one_line(sql) for sql, _ in s.last_sql],
            },
            "last_answer": s.last_answer,
        }
        for name, s in commands.items()
    }
    _print_report(database, rows, final_rows, seeded, report, requests)
    print(
        f"users.info calls: {users_info_calls} (the cache was warm); "
        f"measured requests took {measured_seconds:.1f} s"
    )
    if options.explain:
        for name, statements in plans.items():
            for entry in statements:
                print(f"\n{name}: {entry['sql']}")
                for line in entry["plan"]:
                    print(f"    {line}")
        print()
    return {
        "benchmark": NAME,
        "database": database.kind,
        "database_url": database.shown,
        "server_version": version,
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "business_clock": NOW.isoformat(),
        "quick": options.quick,
        "seeded_rows": seeded.commitments,
        "owner_rows": seeded.owner_rows,
        "owners": OWNERS,
        "rows": final_rows,
        "migrate_seconds": round(migrate_seconds, 2),
        "seed_seconds": round(seeded.seconds, 2),
        "warmup_per_command": WARMUP,
        "requests_per_command": requests,
        "measured_seconds": round(measured_seconds, 1),
        "users_info_calls": users_info_calls,
        "commands": report,
        "query_plans": plans,
    }


def _print_report(
    database: Database,
    seeded_rows: int,
    final_rows: int,
    seeded: Seeded,
    report: dict[str, dict[str, Any]],
    requests: int,
) -> None:
    print(
        f"\n{database.kind}: {final_rows:,} commitments in the table ({seeded_rows:,} seeded, "
        f"seeding {seeded.seconds:.1f} s); {requests} sequential requests per command, "
        f"after {WARMUP} warm-up each; times in ms"
    )
    rows = []
    for name, r in report.items():
        ack, done, sql = r["ack_ms"], r["complete_ms"], r["sql_statements"]
        statements = str(sql["min"]) if sql["min"] == sql["max"] else f"{sql['min']}-{sql['max']}"
        rows.append(
            [
                name,
                r["requests"],
                ack["p50"],
                ack["p95"],
                ack["p99"],
                ack["max"],
                done["p50"],
                done["p95"],
                done["p99"],
                done["max"],
                statements,
            ]
        )
    print_table(
        [
            "command",
            "n",
            "ack p50",
            "p95",
            "p99",
            "max",
            "complete p50",
            "p95",
            "p99",
            "max",
            "SQL/request",
        ],
        rows,
    )
    for name, r in report.items():
        if name.startswith("/commit list"):
            print(f"{name}: answered {r['last_answer']!r}")
