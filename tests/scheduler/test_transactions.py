"""No Slack call and no chart rendering while a database transaction is open.

On SQLite every transaction starts with `BEGIN IMMEDIATE` (storage/db.py) and holds the only write
lock until it ends: a `users.info` that takes a second, or a chart that takes 300 ms, inside one
holds back every other command and the scheduler. The watch below listens to the engine's
transaction events (begin, commit, rollback), reads the time of every request the Slack stand-in
received, and wraps every `bot.core.charts.render_*`; a request or a render that falls inside an
open transaction is a violation, reported with the code that opened the transaction.

It runs over a scheduler pass (owner nudges, a steward Slack has to be asked about, a digest with
its chart) and over commands through the served app's signed HTTP path.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, event, select

from bot.core import charts
from bot.core.recurrence import parse_meeting
from bot.followup.scheduler import run_pass
from bot.sandbox import bundled
from bot.slack import ids
from storage.models import (
    Commitment,
    CommitmentOwner,
    Indicator,
    IndicatorValue,
    OutboxMessage,
    Person,
    Schedule,
)
from storage.repositories import ensure_team
from tests.conftest import TEAM_ID
from tests.helpers import all_text, wait_for

ROOT = Path(__file__).resolve().parents[2]
NY = ZoneInfo("America/New_York")
CHANNEL = "C0MEETING"


# --- the watch ---------------------------------------------------------------------------------


@dataclass
class Span:
    """One transaction: when it began and ended (monotonic seconds), in which thread, by whom."""

    start: float
    thread: int
    opened_by: str
    end: float = float("inf")  # still open

    def covers(self, at: float) -> bool:
        return self.start <= at <= self.end

    def overlaps(self, start: float, end: float) -> bool:
        return self.start < end and start < self.end


@dataclass
class Render:
    name: str
    start: float
    end: float
    thread: int


def _opened_by() -> str:
    """The innermost frames of our own code that opened the transaction."""
    frames = [
        f
        for f in traceback.extract_stack()[:-2]
        if f.filename.startswith(str(ROOT))
        and "/tests/" not in f.filename
        and "/.venv/" not in f.filename
        and not f.filename.endswith("storage/db.py")
    ]
    return " ← ".join(
        f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} {f.name}" for f in reversed(frames[-3:])
    )


@dataclass
class TransactionWatch:
    """Every transaction on an engine and every chart render, from `start()` on.

    `app_threads_only` leaves out transactions of the test's own thread: while the served app
    answers a command, the test may read the database to see what it did (a Slack request
    cannot tell which thread sent it, so those would be counted against the app otherwise).
    """

    engine: Engine
    app_threads_only: bool = False
    spans: list[Span] = field(default_factory=list)
    renders: list[Render] = field(default_factory=list)
    started: float = 0.0
    _open: dict[int, Span] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, monkeypatch: pytest.MonkeyPatch) -> TransactionWatch:
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "commit", self._end)
        event.listen(self.engine, "rollback", self._end)
        self._wrap_renders(monkeypatch)
        self.started = time.monotonic()
        return self

    def stop(self) -> None:
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "commit", self._end)
        event.remove(self.engine, "rollback", self._end)

    def _begin(self, conn: Any) -> None:
        thread = threading.get_ident()
        if self.app_threads_only and thread == threading.main_thread().ident:
            return
        span = Span(time.monotonic(), thread, _opened_by())
        with self._lock:
            self._open[id(conn)] = span
            self.spans.append(span)

    def _end(self, conn: Any) -> None:
        with self._lock:
            span = self._open.pop(id(conn), None)
        if span is not None:
            span.end = time.monotonic()

    def _wrap_renders(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Replace each `render_*` wherever our modules hold it (`from … import render_…` too)."""
        for name in [n for n in vars(charts) if n.startswith("render_")]:
            original = getattr(charts, name)
            if not callable(original):
                continue
            wrapped = self._timed(name, original)
            for module in list(sys.modules.values()):
                if module is None or module.__name__.partition(".")[0] not in ("bot", "handlers"):
                    continue
                for attribute, value in list(vars(module).items()):
                    if value is original:
                        monkeypatch.setattr(module, attribute, wrapped)

    def _timed(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def render(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                self.renders.append(Render(name, start, time.monotonic(), threading.get_ident()))

        return render

    def violations(self, slack_calls: list[Any]) -> list[str]:
        """What happened inside a transaction: Slack requests (any thread) and renders (its own)."""
        found: list[str] = []
        with self._lock:
            spans = list(self.spans)
        for call in slack_calls:
            if call.at < self.started:
                continue
            for span in spans:
                if span.covers(call.at):
                    found.append(f"Slack {call.method} inside a transaction from {span.opened_by}")
                    break
        for render in self.renders:
            for span in spans:
                if span.thread == render.thread and span.overlaps(render.start, render.end):
                    found.append(f"{render.name} inside a transaction from {span.opened_by}")
                    break
        return found


@pytest.fixture
def watch_app(sqlite_bot) -> Iterator[TransactionWatch]:
    watch = TransactionWatch(sqlite_bot.services.engine, app_threads_only=True)
    yield watch
    watch.stop()


def test_the_watch_sees_a_slack_call_and_a_chart_inside_a_transaction(sqlite_bot, monkeypatch):
    """The watch itself: what it must catch, it catches (and what is outside, it leaves)."""
    services = sqlite_bot.services
    watch = TransactionWatch(services.engine).start(monkeypatch)
    try:
        spec = charts.ChartSpec(
            title="Deaths",
            unit="deaths",
            period_label="monthly",
            series=[charts.Series("", [date(2026, m, 1) for m in (1, 2, 3)], [3.0, 2.0, 1.0])],
        )
        with services.sessions.begin() as session:
            ensure_team(session, TEAM_ID, time_zone="America/New_York", now=sqlite_bot.clock())
            services.client_for(TEAM_ID).users_info(user="U0LEE")
            charts.render_indicator_chart(spec)
        services.client_for(TEAM_ID).users_info(user="U0SAM")  # no transaction: fine
        charts.render_indicator_chart(spec)
        with services.sessions() as session:  # a read that ends (rollback) before Slack is asked
            session.get(Person, (TEAM_ID, "U0SAM"))
        services.client_for(TEAM_ID).users_info(user="U0KIM")
    finally:
        watch.stop()
    found = watch.violations(sqlite_bot.slack.calls)
    assert len(found) == 2, found
    assert found[0].startswith("Slack users.info inside a transaction from ")
    assert found[1].startswith("render_indicator_chart inside a transaction from ")
    assert "tests/" not in found[0]  # names our code only; here none of it opened it
    assert [r.name for r in watch.renders] == ["render_indicator_chart"] * 2


# --- a scheduler pass ------------------------------------------------------------------------


def ny(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def _busy_day(bot: Any) -> datetime:
    """Tue Dec 1 2026, 12:30 New York (09:30 in Los Angeles): an owner's "due tomorrow" nudge,
    another's "7 days overdue" and its creator's one notice, a late steward Slack was never
    asked about, and the digest of Wednesday's meeting with an indicator that moved (a chart)."""
    now = ny(1, 12, 30)
    created = ny(20, 9, month=11)
    with bot.services.sessions.begin() as session:
        team = ensure_team(session, TEAM_ID, time_zone="America/New_York", now=created)
        for user_id, zone in [("U0MARIA", "America/New_York"), ("U0SAM", "America/Chicago")]:
            session.add(Person(team_id=team.id, user_id=user_id, time_zone=zone, refreshed_at=now))
        for text, due, owner in [
            ("Call the shelter", ny(2, 17), "U0MARIA"),
            ("Open the Saturday clinic", ny(24, 17, month=11), "U0SAM"),
        ]:
            commitment = Commitment(
                team_id=team.id,
                text=text,
                due_at=due,
                time_zone="America/New_York",
                created_at=created,
                creator_id="U0MARIA",
                channel_id="C0WORK",
                next_check_at=created,
            )
            commitment.owners = [CommitmentOwner(user_id=owner, team_id=team.id, position=0)]
            session.add(commitment)
        indicator = Indicator(
            team_id=team.id,
            slug="md-overdose-deaths",
            name="Maryland overdose deaths",
            unit="deaths",
            period_kind="monthly",
            update_frequency="monthly, 4-month lag",
            steward_id="U0LEE",  # named in a catalog; Slack has to say where Lee lives
            created_at=created,
            updated_at=created,
        )
        session.add(indicator)
        session.flush()
        for month, value in [(4, 150.0), (5, 146.0), (6, 140.0)]:
            session.add(
                IndicatorValue(
                    team_id=team.id,
                    indicator_id=indicator.id,
                    period=f"2026-{month:02d}",
                    period_start=date(2026, month, 1),
                    geography="",
                    value=value,
                    updated_at=ny(30, 8, month=11),
                )
            )
        meeting = parse_meeting("every Wednesday at 10am", now=created, tz="America/New_York")
        session.add(
            Schedule(
                team_id=team.id,
                channel_id=CHANNEL,
                kind="meeting",
                rrule=meeting.rule,
                dtstart=meeting.dtstart,
                time_zone="America/New_York",
                digest_lead_minutes=24 * 60,
                description="every Wednesday at 10am",
                created_by="U0MARIA",
                created_at=created,
            )
        )
    return now


def test_a_scheduler_pass_asks_slack_and_draws_charts_outside_transactions(bot, monkeypatch):
    now = _busy_day(bot)
    bot.clock.now = now
    watch = TransactionWatch(bot.services.engine).start(monkeypatch)
    try:
        report = run_pass(bot.services, now=now, per_channel_interval=0)
    finally:
        watch.stop()
    assert not report.errors, report.summary()
    # The pass did everything the rule is about, so the check below means something.
    assert [c.params.get("user") for c in bot.slack.calls_to("users.info")] == ["U0LEE"]
    assert report.nudges == 2 and report.creator_notices == 1  # due tomorrow; a week late
    assert report.steward_nudges == 1
    assert report.digests == 2  # the message and its chart
    assert [r.name for r in watch.renders] == ["render_digest_chart"]
    assert [c for c in bot.slack.calls_to("files.completeUploadExternal") if c.ok]
    assert report.delivery.sent == 6
    assert watch.violations(bot.slack.calls) == []
    # Planned and sent once: the next pass, and one at the same instant, add nothing.
    for _ in range(2):
        again = run_pass(bot.services, now=now, per_channel_interval=0)
        assert (again.planned_nudges, again.digests, again.delivery.sent) == (0, 0, 0)
    with bot.services.sessions() as session:
        assert len(session.scalars(select(OutboxMessage)).all()) == 6


# --- commands through the served app ---------------------------------------------------------


def _settle(bot: Any, before: int, *, quiet: float = 0.5, timeout: float = 15.0) -> None:
    """Wait for the app to answer (a new Slack request) and then go quiet."""
    wait_for(lambda: len(bot.slack.calls) > before, timeout=timeout)
    deadline, seen, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(bot.slack.calls)
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


def _command(bot: Any, name: str, text: str, user: str = "U0MARIA") -> None:
    before = len(bot.slack.calls)
    answer = bot.driver.command(name, text, user=user, channel=CHANNEL)
    assert answer.status == 200
    _settle(bot, before)


def _commitment(bot: Any, text: str) -> tuple[int, dict[str, Any]]:
    """A commitment made through `/commit` (outside the watch): its number and its message."""
    _command(bot, "/commit", text)
    message = bot.slack.messages(CHANNEL)[-1]
    number = re.search(r"#(\d+)", all_text(message))
    assert number is not None, all_text(message)
    return int(number[1]), message


def _responses(bot: Any) -> list[dict[str, Any]]:
    return [c.params for c in bot.slack.calls_to("response_url")]


def _commit(bot: Any, _prepared: Any) -> None:
    _command(bot, "/commit", "Call the shelter by Friday")
    assert "Call the shelter" in all_text(bot.slack.messages(CHANNEL)[-1])


def _commit_done(bot: Any, prepared: tuple[int, dict[str, Any]]) -> None:
    number, message = prepared
    _command(bot, "/commit", f"done {number}")
    assert "✅ Done" in all_text(bot.slack.message(CHANNEL, message["ts"]) or {}) or any(
        "done" in all_text(r).lower() for r in _responses(bot)
    )


def _done_button(bot: Any, prepared: tuple[int, dict[str, Any]]) -> None:
    number, message = prepared
    before = len(bot.slack.calls)
    answer = bot.driver.click(
        ids.COMMIT_DONE,
        user="U0MARIA",
        value=str(number),
        channel=CHANNEL,
        message_ts=message["ts"],
    )
    assert answer.status == 200
    _settle(bot, before)
    assert "✅ Done" in all_text(bot.slack.message(CHANNEL, message["ts"]) or {})


def _indicator(bot: Any, _prepared: Any) -> None:
    _command(bot, "/indicator", "overdoses")
    wait_for(lambda: [c for c in bot.slack.calls_to("files.completeUploadExternal") if c.ok])


def _settings(bot: Any, _prepared: Any) -> None:
    _command(bot, "/commstat", "settings")
    assert any("CommStat settings" in all_text(r) for r in _responses(bot))


def _digest_now(bot: Any, _prepared: Any) -> None:
    _command(bot, "/commstat", "digest now")
    digests = [m for m in bot.slack.messages(CHANNEL) if "CommStat digest" in all_text(m)]
    assert len(digests) == 1
    wait_for(lambda: [c for c in bot.slack.calls_to("files.completeUploadExternal") if c.ok])


def _load_data(bot: Any) -> None:
    bundled.load_all(bot.services.sessions, team_id=TEAM_ID, now=bot.clock())


def _a_commitment(bot: Any) -> tuple[int, dict[str, Any]]:
    made = _commitment(bot, "Open the Saturday clinic by Friday")
    bot.clock.now += timedelta(hours=25)  # what Slack said about Maria is no longer fresh
    return made


@dataclass(frozen=True)
class Case:
    run: Callable[[Any, Any], None]
    prepare: Callable[[Any], Any] | None = None  # sets the scene, before the watch starts


CASES = {
    "/commit <text>": Case(_commit),
    "/commit done": Case(_commit_done, _a_commitment),
    "Done button": Case(_done_button, _a_commitment),
    "/indicator overdoses (chart)": Case(_indicator, _load_data),
    "/commstat settings": Case(_settings),
    "/commstat digest now (chart)": Case(_digest_now, _load_data),
}


@pytest.mark.parametrize("case", list(CASES))
def test_commands_ask_slack_and_draw_charts_outside_transactions(
    sqlite_bot, watch_app, monkeypatch, case
):
    what = CASES[case]
    prepared = what.prepare(sqlite_bot) if what.prepare is not None else None
    watch_app.start(monkeypatch)
    what.run(sqlite_bot, prepared)
    assert watch_app.violations(sqlite_bot.slack.calls) == []
