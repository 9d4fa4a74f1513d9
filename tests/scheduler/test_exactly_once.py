"""Exactly once, the hard way: a flaky Slack, a pass killed half-way, three passes at once.

"Once" is counted where the user would notice it: the messages that reached the Slack stand-in,
recognised by the outbox key each one carries (message metadata, or the chart's file name).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.bootstrap import Services, bootstrap
from bot.sandbox.fake_slack import FakeSlack
from bot.slack import outbox
from storage.models import OutboxMessage, OutboxStatus
from tests.conftest import BOT_TOKEN, TEAM_ID, make_settings

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
COMMSTAT = str(ROOT / ".venv" / "bin" / "commstat")
NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/eL9GtQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def services(db_url: str, fake_slack: FakeSlack) -> Iterator[Services]:
    services = bootstrap(make_settings(db_url, fake_slack.api_url))
    yield services
    services.engine.dispose()


def chart_name(key: str) -> str:
    return f"chart-{hashlib.sha256(key.encode()).hexdigest()[:10]}.png"


def enqueue_all(services: Services, targets: list[str], per_target: int, charts: bool) -> set[str]:
    """`per_target` messages to each target; with `charts`, each channel's last one is a chart."""
    keys: set[str] = set()
    with services.sessions.begin() as session:
        for n in range(per_target):
            for target in targets:
                key = f"test:{target}:{n:02d}"
                if charts and target.startswith("C") and n == per_target - 1:
                    payload: dict[str, Any] = {
                        "file": {"png_b64": base64.b64encode(PNG).decode(), "filename": "chart.png"}
                    }
                else:
                    payload = {"text": f"message {n} for {target}"}
                assert outbox.enqueue(
                    session,
                    team_id=TEAM_ID,
                    key=key,
                    kind="nudge",
                    channel=target,
                    payload=payload,
                    now=NOW,
                )
                keys.add(key)
    return keys


def arrivals(fake: FakeSlack, keys: set[str]) -> Counter[str]:
    """How many times each key reached Slack."""
    by_file = {chart_name(k): k for k in keys}
    seen: Counter[str] = Counter()
    for _channel, message in fake.all_messages():
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == outbox.METADATA_EVENT:
            seen[metadata["event_payload"]["key"]] += 1
        for file in message.get("files") or []:
            if file["name"] in by_file:
                seen[by_file[file["name"]]] += 1
    return seen


def statuses(services: Services) -> dict[OutboxStatus, int]:
    with services.sessions() as session:
        rows = session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    return {status: count for status, count in rows}


def total_attempts(services: Services) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.sum(OutboxMessage.attempts))) or 0)


def subprocess_env(database_url: str, fake: FakeSlack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_"))}
    env.update(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=fake.api_url,
        COMMSTAT_TIMEZONE="America/New_York",
        PYTHONPATH=str(ROOT),
    )
    return env


def test_a_fifth_of_slack_calls_failing_loses_nothing_and_doubles_nothing(
    services: Services, fake_slack: FakeSlack
):
    channels = [f"C0CH{i:02d}" for i in range(15)]
    users = [f"U0P{i:02d}" for i in range(15)]
    keys = enqueue_all(services, channels + users, per_target=10, charts=True)
    assert len(keys) == 300
    # 429 / 500 / 503 / dropped connections / answers slower than the 0.3 s client timeout.
    fake_slack.fail_randomly(0.2, seed=20261201, statuses=(429, 500, 503, 0), slow_seconds=0.7)

    started = time.monotonic()
    now, passes = NOW, 0
    while statuses(services).get(OutboxStatus.PENDING) and time.monotonic() - started < 90:
        report = outbox.deliver(
            services, now=now, per_channel_interval=0.01, timeout=0.3, lease_seconds=5
        )
        passes += 1
        now += timedelta(minutes=10)  # past every backoff and Retry-After
        if not report.sent:
            time.sleep(0.2)  # rows resting after a timeout; let them become due in real time
    elapsed = time.monotonic() - started
    fake_slack.fail_randomly(0, seed=0)
    time.sleep(1.0)  # slow answers still in flight land now (they must not add copies)

    calls = [c for c in fake_slack.calls if c.method not in ("upload",)]
    injected = sum(1 for c in calls if c.status in (0, 429, 500, 503))
    seen = arrivals(fake_slack, keys)
    print(
        f"\n300 messages (15 charts), {passes} passes, {len(calls)} Slack calls, {injected} "
        f"failed by status or dropped (plus slow answers), {total_attempts(services)} attempts, "
        f"{elapsed:.1f} s"
    )
    assert statuses(services) == {OutboxStatus.SENT: 300}
    assert set(seen) == keys  # zero lost
    assert max(seen.values()) == 1  # zero duplicated
    assert injected >= 30
    assert total_attempts(services) > 300  # retries really happened


def test_a_pass_killed_half_way_is_finished_by_the_next_one_exactly_once(
    services: Services, fake_slack: FakeSlack, db_url: str
):
    targets = [f"C0KILL{i}" for i in range(4)]
    keys = enqueue_all(services, targets, per_target=10, charts=False)
    fake_slack.delay("chat.postMessage", 0.3)
    script = (
        "from datetime import datetime\n"
        "from bot.config import load_settings\n"
        "from bot.slack.outbox import deliver\n"
        "from bot.bootstrap import bootstrap\n"
        "services = bootstrap(load_settings(), migrate=False)\n"
        f"deliver(services, now=datetime.fromisoformat({NOW.isoformat()!r}),"
        " per_channel_interval=0, timeout=0.5, lease_seconds=4)\n"
    )
    process = subprocess.Popen(
        [PYTHON, "-c", script],
        env=subprocess_env(db_url, fake_slack),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            posts = fake_slack.calls_to("chat.postMessage")
            if len(posts) >= 5 and posts[-1].status == 0:  # killed with a post in flight
                break
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        else:
            pytest.fail("the pass never got going")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    time.sleep(0.5)  # the post that was in flight lands in Slack
    fake_slack.delay("chat.postMessage", 0)
    killed_at = len(fake_slack.calls_to("chat.postMessage"))
    landed_before = sum(arrivals(fake_slack, keys).values())
    assert 5 <= landed_before < 40

    # Its claims hold until their lease (4 s) ends; a pass right now leaves those rows alone.
    early = outbox.deliver(services, now=NOW, per_channel_interval=0, timeout=0.5, lease_seconds=4)
    assert early.found == 0
    time.sleep(4.2)
    report = outbox.deliver(services, now=NOW, per_channel_interval=0, timeout=0.5, lease_seconds=4)

    seen = arrivals(fake_slack, keys)
    print(
        f"\nkilled after {killed_at} posts ({landed_before} landed); the next passes sent "
        f"{early.sent} + {report.sent}, of which {report.found} were found already in Slack"
    )
    assert statuses(services) == {OutboxStatus.SENT: 40}
    assert set(seen) == keys
    assert max(seen.values()) == 1
    assert report.found == 1  # the message Slack took while the process died: not sent again


def test_a_flaky_slack_and_commitments_done_meanwhile_send_each_one_once_or_not_at_all(
    services: Services, fake_slack: FakeSlack
):
    """Holds leave exactly-once alone: under random 429/5xx/dropped connections, a nudge whose
    commitment was done while it waited is dropped unless an interrupted try already put it in
    Slack (then it is marked sent); every other one arrives exactly once."""
    from storage.models import Commitment, CommitmentOwner, CommitmentStatus
    from storage.repositories import ensure_team

    users = [f"U0F{i:02d}" for i in range(40)]
    keys: dict[str, int] = {}
    with services.sessions.begin() as session:
        ensure_team(session, TEAM_ID, time_zone="America/New_York", now=NOW)
        for user in users:
            commitment = Commitment(
                team_id=TEAM_ID,
                text=f"Call {user}",
                due_at=NOW + timedelta(days=1),
                time_zone="America/New_York",
                created_at=NOW,
                creator_id=user,
                owners=[CommitmentOwner(user_id=user, team_id=TEAM_ID)],
            )
            session.add(commitment)
            session.flush()
            key = f"nudge:{commitment.id}:{user}:1:2026-12-01"
            assert outbox.enqueue(
                session,
                team_id=TEAM_ID,
                key=key,
                kind="nudge",
                channel=user,
                payload={"text": f"#{commitment.id} is due tomorrow"},
                now=NOW,
                holds=outbox.holds_commitment(commitment),
            )
            keys[key] = commitment.id
    fake_slack.fail_randomly(0.5, seed=20261206, statuses=(429, 500, 503, 0), slow_seconds=0.7)
    outbox.deliver(services, now=NOW, per_channel_interval=0.01, timeout=0.3, lease_seconds=5)
    done = {key for i, key in enumerate(sorted(keys)) if i % 2 == 0}
    with services.sessions.begin() as session:
        for key in done:
            commitment = session.get(Commitment, keys[key])
            assert commitment is not None
            commitment.status, commitment.closed_at = CommitmentStatus.DONE, NOW
    time.sleep(1.0)  # slow answers in flight land now: those count as arrived before Done
    before_done = arrivals(fake_slack, set(keys))

    started, now = time.monotonic(), NOW
    while statuses(services).get(OutboxStatus.PENDING) and time.monotonic() - started < 60:
        outbox.deliver(services, now=now, per_channel_interval=0.01, timeout=0.3, lease_seconds=5)
        now += timedelta(minutes=10)
        time.sleep(0.2)
    fake_slack.fail_randomly(0, seed=0)
    time.sleep(1.0)

    seen = arrivals(fake_slack, set(keys))
    with services.sessions() as session:
        rows = {
            r.idempotency_key: r.status
            for r in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "nudge"))
        }
    print(
        f"\n40 nudges, half done after the first pass: {len(before_done)} had arrived by then; "
        f"{sum(1 for s in rows.values() if s == OutboxStatus.DROPPED)} dropped"
    )
    assert max(seen.values(), default=0) == 1  # zero duplicated
    for key in keys:
        if key in done and key not in before_done:
            assert (rows[key], seen[key]) == (OutboxStatus.DROPPED, 0), key
        else:
            assert (rows[key], seen[key]) == (OutboxStatus.SENT, 1), key
    assert any(rows[k] == OutboxStatus.DROPPED for k in done)


@pytest.mark.postgres
def test_three_tick_processes_at_once_send_each_message_once(
    postgres_url: str, fake_slack: FakeSlack
):
    services = bootstrap(make_settings(postgres_url, fake_slack.api_url))
    try:
        users = [f"U0T{i:03d}" for i in range(300)]
        keys = enqueue_all(services, users, per_target=1, charts=False)
        fake_slack.delay("chat.postMessage", 0.02)  # long enough for the three to overlap
        env = subprocess_env(postgres_url, fake_slack)
        command = [COMMSTAT, "tick", "--now", NOW.isoformat()]
        started = time.monotonic()
        processes = [
            subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=120) for p in processes]
        elapsed = time.monotonic() - started
        for process, (_out, err) in zip(processes, outputs, strict=True):
            assert process.returncode == 0, err.decode()
        sent_each = [int(re.search(rb"sent (\d+)", out).group(1)) for out, _ in outputs]  # type: ignore[union-attr]

        seen = arrivals(fake_slack, keys)
        print(f"\n3 × commstat tick: sent {sent_each} of 300 in {elapsed:.1f} s")
        assert sum(sent_each) == 300
        assert sum(1 for n in sent_each if n > 0) >= 2  # they really ran side by side
        assert statuses(services) == {OutboxStatus.SENT: 300}
        assert set(seen) == keys
        assert max(seen.values()) == 1
        assert len(fake_slack.calls_to("chat.postMessage")) == 300
    finally:
        services.engine.dispose()


def test_digest_planning_in_four_threads_at_once_posts_the_meetings_digest_once(
    services: Services, fake_slack: FakeSlack
):
    """Drafted in one transaction, drawn outside it, enqueued in another: four planners at the
    same instant may all draw it, but the outbox gets one message and one chart."""
    from bot.core.recurrence import parse_meeting
    from bot.followup import digest
    from bot.followup.scheduler import run_pass
    from bot.sandbox import bundled
    from storage.models import Schedule

    monday = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon 10:00 New York
    bundled.load_all(services.sessions, team_id=TEAM_ID, now=monday)  # indicators: a chart
    meeting = parse_meeting("every Tuesday at 10am", now=monday, tz="America/New_York")
    with services.sessions.begin() as session:
        session.add(
            Schedule(
                team_id=TEAM_ID,
                channel_id="C0MEETING",
                kind="meeting",
                rrule=meeting.rule,
                dtstart=meeting.dtstart,
                time_zone="America/New_York",
                digest_lead_minutes=24 * 60,
                description="every Tuesday at 10am",
                created_by="U0MARIA",
                created_at=monday,
            )
        )
    now = monday + timedelta(minutes=30)  # the digest of Tuesday's meeting is due
    start = threading.Barrier(4)
    added: list[int] = []

    def planner() -> None:
        start.wait()
        added.append(digest.plan(services, now=now))

    threads = [threading.Thread(target=planner) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(added) == [0, 0, 0, 1]  # one planner planned the digest (with its chart)
    for at in (now, now + timedelta(minutes=1)):  # later passes: nothing new
        assert run_pass(services, now=at, per_channel_interval=0).digests == 0
    with services.sessions() as session:
        keys = session.scalars(
            select(OutboxMessage.idempotency_key).where(OutboxMessage.kind.like("digest%"))
        ).all()
    assert sorted(k.rsplit(":", 1)[1] for k in keys) == ["1-message", "2-chart"]
    [message_key] = [k for k in keys if k.endswith(":1-message")]
    assert arrivals(fake_slack, {message_key})[message_key] == 1
    assert len([c for c in fake_slack.calls_to("files.completeUploadExternal") if c.ok]) == 1
    headers = [
        m["blocks"][0]["text"]["text"] for m in fake_slack.messages("C0MEETING") if m.get("blocks")
    ]
    assert headers == ["CommStat digest — meeting Tue, Nov 24, 10:00 AM"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-s"]))
