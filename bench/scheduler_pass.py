"""One scheduler pass over a big database: time and SQL statements, by how much is due.

The pass must cost what is due, not what is stored. What it does:

1. a fresh database (SQLite file, or a throwaway PostgreSQL database), migrated with Alembic;
2. seeds 100,000 open commitments (``--quick``: 10,000) for one team with Core bulk inserts
   (200 owners in seven time zones, 1-2 owners each, due within 30 days, ``next_check_at``
   spread over the next 30 days, so nothing is due) and 1,000 meeting schedules in 1,000 channels
   (digests planned within the next week);
3. for 0, 100 and 1,000 commitments due (their ``next_check_at`` set to just before the pass and
   their due date to tomorrow, so that each owner in New York gets a "due tomorrow" DM), runs
   ``run_pass`` at Tue 2026-11-24 10:30 New York against FakeSlack, counting SQL statements
   (planning only, and the whole pass with delivery);
4. doubles the table (another 100,000 commitments, not due) and measures the same three cases;
5. prints a table and writes ``bench/results/scheduler_pass-<db>.json``.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, insert, select, update

from bench import Database, Options, SqlCounter, print_table, run_on_throwaway_database
from bench.commit_ack import OWNERS, TEAM_ID, THINGS, VERBS, ZONES, _table
from bot.bootstrap import Services, bootstrap
from bot.config import load_settings
from bot.followup import digest, freshness, nudges
from bot.followup.scheduler import run_pass
from bot.sandbox.fake_slack import FakeSlack
from storage.db import make_engine, upgrade
from storage.models import Commitment, CommitmentOwner, OutboxMessage, Person, Schedule, Team

NAME = "scheduler_pass"
BOT_TOKEN = "xoxb-0000-bench-bot-token"
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)  # Tue Nov 24 2026, 10:30 in New York
TOMORROW = datetime(2026, 11, 25, 17, 0, tzinfo=ZoneInfo("America/New_York"))
FULL_ROWS, QUICK_ROWS = 100_000, 10_000
SCHEDULES = 1_000
DUE_CASES = (0, 100, 1_000)
BATCH = 10_000
SEED = 20261124


def seed_commitments(engine: Engine, *, first_id: int, rows: int, people: list[str]) -> float:
    """`rows` open commitments, none due: `next_check_at` 1 minute to 30 days ahead."""
    rng = random.Random(SEED + first_id)
    started = time.perf_counter()
    with engine.begin() as conn:
        for start in range(first_id, first_id + rows, BATCH):
            ids = range(start, min(start + BATCH, first_id + rows))
            commitments, owners = [], []
            for cid in ids:
                created = NOW - timedelta(minutes=rng.randrange(60, 20 * 24 * 60))
                commitments.append(
                    {
                        "id": cid,
                        "team_id": TEAM_ID,
                        "text": f"{rng.choice(VERBS)} {rng.choice(THINGS)} (seed {cid})",
                        "status": "open",
                        "due_at": NOW + timedelta(minutes=rng.randrange(24 * 60, 30 * 24 * 60)),
                        "due_has_time": False,
                        "time_zone": "America/New_York",
                        "due_version": 1,
                        "created_at": created,
                        "creator_id": rng.choice(people),
                        "channel_id": "C0MEETING",
                        "next_check_at": NOW + timedelta(minutes=rng.randrange(1, 30 * 24 * 60)),
                    }
                )
                for position, user in enumerate(rng.sample(people, rng.choice((1, 2)))):
                    owners.append(
                        {
                            "commitment_id": cid,
                            "user_id": user,
                            "team_id": TEAM_ID,
                            "position": position,
                        }
                    )
            conn.execute(insert(_table(Commitment)), commitments)
            conn.execute(insert(_table(CommitmentOwner)), owners)
    _analyze(engine)
    return time.perf_counter() - started


def seed_base(engine: Engine, people: list[str]) -> None:
    """The team, its people (zones known) and 1,000 weekly meetings, none due at NOW."""
    with engine.begin() as conn:
        conn.execute(
            insert(_table(Team)),
            [
                {
                    "id": TEAM_ID,
                    "name": "Coalition",
                    "time_zone": "America/New_York",
                    "working_days": ["mon", "tue", "wed", "thu", "fri"],
                    "holidays": [],
                    "nudge_hour": 9,
                    "overdue_every_days": 2,
                    "created_at": NOW - timedelta(days=400),
                }
            ],
        )
        conn.execute(
            insert(_table(Person)),
            [
                {
                    "team_id": TEAM_ID,
                    "user_id": user,
                    "time_zone": "America/New_York" if i % 2 == 0 else ZONES[i % len(ZONES)],
                    "is_admin": False,
                    "is_slack_admin": False,
                    "refreshed_at": NOW,
                }
                for i, user in enumerate(people)
            ],
        )
        conn.execute(
            insert(_table(Schedule)),
            [
                {
                    "team_id": TEAM_ID,
                    "channel_id": f"C0BENCH{i:04d}",
                    "kind": "meeting",
                    "rrule": "FREQ=WEEKLY;BYDAY=TH;BYHOUR=10;BYMINUTE=0;BYSECOND=0",
                    "dtstart": NOW - timedelta(days=30),
                    "time_zone": "America/New_York",
                    "digest_lead_minutes": 24 * 60,
                    "description": "every Thursday at 10am",
                    "created_by": people[0],
                    "created_at": NOW - timedelta(days=30),
                    "next_run_at": NOW + timedelta(minutes=1 + (i * 7 * 24 * 60) // SCHEDULES),
                }
                for i in range(SCHEDULES)
            ],
        )


def _analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def make_due(services: Services, how_many: int, total: int) -> list[int]:
    """Reset: no outbox rows, nothing due; then `how_many` commitments due tomorrow, now."""
    rng = random.Random(SEED + how_many + total)
    chosen = sorted(rng.sample(range(1, total + 1), how_many))
    with services.sessions.begin() as session:
        session.execute(delete(OutboxMessage))
        session.execute(
            update(Commitment)
            .where(Commitment.next_check_at <= NOW)
            .values(next_check_at=NOW + timedelta(days=40))
        )
        for start in range(0, len(chosen), 500):
            session.execute(
                update(Commitment)
                .where(Commitment.id.in_(chosen[start : start + 500]))
                .values(next_check_at=NOW - timedelta(minutes=1), due_at=TOMORROW)
            )
    return chosen


def measure(services: Services, counter: SqlCounter, total: int, due: int) -> dict[str, Any]:
    make_due(services, due, total)
    counter.count = 0
    started = time.perf_counter()
    planned = 0
    with services.sessions.begin() as session:
        planned += nudges.plan(session, now=NOW)
        planned += freshness.plan(session, now=NOW)
    planned += digest.plan(services, now=NOW)  # its own transactions: charts drawn between them
    plan_seconds = time.perf_counter() - started
    plan_statements = counter.count
    # The whole pass again from the same state, delivery included (to FakeSlack).
    make_due(services, due, total)
    counter.count = 0
    started = time.perf_counter()
    report = run_pass(services, now=NOW, per_channel_interval=0)
    pass_seconds = time.perf_counter() - started
    if report.errors:
        raise RuntimeError(report.summary())
    return {
        "table": total,
        "due": due,
        "planned": planned,
        "plan_ms": round(plan_seconds * 1000, 1),
        "plan_sql": plan_statements,
        "pass_ms": round(pass_seconds * 1000, 1),
        "pass_sql": counter.count,
        "summary": report.summary(),
    }


def run(options: Options) -> dict[str, Any]:
    rows = options.rows or (QUICK_ROWS if options.quick else FULL_ROWS)
    return run_on_throwaway_database(options, NAME, lambda database: _run(database, rows))


def _run(database: Database, rows: int) -> dict[str, Any]:
    engine = make_engine(database.url)
    upgrade(engine)
    people = [f"U0BENCH{i:03d}" for i in range(OWNERS)]
    seed_base(engine, people)
    print(f"database: {database.kind} at {database.shown}")
    print(f"seeding {rows:,} open commitments and {SCHEDULES:,} schedules ...", flush=True)
    seconds = seed_commitments(engine, first_id=1, rows=rows, people=people)
    print(f"seeded in {seconds:.1f} s", flush=True)
    engine.dispose()
    fake = FakeSlack(team_id=TEAM_ID, token=BOT_TOKEN).start()
    measured: list[dict[str, Any]] = []
    try:
        for i, user in enumerate(people):
            fake.add_user(user, name=f"partner{i:03d}", tz=ZONES[i % len(ZONES)])
        settings = load_settings(
            {
                "DATABASE_URL": database.url,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": "bench-signing-secret-0123456789abcdef",
                "SLACK_API_URL": fake.api_url,
                "COMMSTAT_TIMEZONE": "America/New_York",
            }
        )
        services = bootstrap(settings, clock=lambda: NOW)
        counter = SqlCounter(services.engine)
        measure(services, counter, rows, 10)  # warm up caches and compiled statements
        for table in (rows, 2 * rows):
            if table > rows:
                print(f"doubling the table to {table:,} ...", flush=True)
                seed_commitments(services.engine, first_id=rows + 1, rows=rows, people=people)
            with services.sessions() as session:
                open_rows = session.scalar(select(func.count()).select_from(Commitment))
            assert open_rows == table
            for due in DUE_CASES:
                result = measure(services, counter, table, due)
                measured.append(result)
                print(
                    f"  {table:,} open, {due:,} due: plan {result['plan_ms']} ms / "
                    f"{result['plan_sql']} SQL; pass {result['pass_ms']} ms / {result['pass_sql']} SQL",
                    flush=True,
                )
        services.engine.dispose()
    finally:
        fake.stop()
    print_table(
        ["open commitments", "due", "planned", "plan ms", "plan SQL", "pass ms", "pass SQL"],
        [
            [
                m["table"],
                m["due"],
                m["planned"],
                m["plan_ms"],
                m["plan_sql"],
                m["pass_ms"],
                m["pass_sql"],
            ]
            for m in measured
        ],
    )
    return {"database": database.kind, "rows": rows, "schedules": SCHEDULES, "cases": measured}
