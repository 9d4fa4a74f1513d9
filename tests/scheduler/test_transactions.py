"""No Slack call and no chart rendering while a database transaction is open.

On SQLite every write transaction starts with `BEGIN IMMEDIATE` (storage/db.py) and holds the only
write lock until it ends: a `users.info` that takes a second, or a chart that takes 300 ms, inside one
holds back every other command and the scheduler. The watch below listens to the engine's
transaction events (begin, commit, rollback), reads the time of every request the Slack stand-in
received, and wraps every `bot.core.charts.render_*`; a request or a render that falls inside an
open transaction is a violation, reported with the code that opened the transaction.

It runs over a scheduler pass (owner nudges, a steward Slack has to be asked about, a digest with
its chart) and over every way a person changes something through the served app, each sent over
the signed HTTP path as Slack sends it: slash commands, buttons and pickers (in the channel's
message and in a reminder DM), forms, and App Home.
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
    CommitmentEvent,
    CommitmentOwner,
    Indicator,
    IndicatorValue,
    OutboxMessage,
    Person,
    Schedule,
)
from storage.repositories import ensure_team
from tests.conftest import TEAM_ID, ServedBot
from tests.helpers import all_text

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
        if span.opened_by.startswith("storage/jobs.py"):
            # The job queue's own short transactions (store, poll, claim, journal): the storage
            # layer cannot call Slack (an import contract), but another thread's call may fall
            # inside one, and a Slack request cannot tell which thread sent it.
            return
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
    assert report.digests == 1  # one digest (its chart is part of it)
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
#
# Every way a person changes something through the served app, sent over the signed HTTP path
# exactly as Slack sends it: slash commands, clicks in a message, in a reminder DM, forms (view
# submissions) and App Home (an event). Each case first checks it did what it is for (what was
# stored, what Slack was shown), then that nothing reached Slack and no chart was drawn while a
# transaction was open.


@dataclass
class Served(ServedBot):
    """The served bot, and a way to wait for the work Bolt runs after each ack to end."""

    listeners_done: Callable[[], None]


@pytest.fixture
def served(sqlite_bot: ServedBot, request: pytest.FixtureRequest, _served_apps: Any) -> Served:
    """`sqlite_bot` (the module's one served app), with its listeners to wait for."""
    app = _served_apps(request, "sqlite")  # the app `sqlite_bot` serves, not a new one
    return Served(**vars(sqlite_bot), listeners_done=app.settle)


def _settle(bot: Served, before: int) -> None:
    """Wait for the app's answer: Bolt's listeners have ended, having asked Slack something."""
    bot.listeners_done()
    assert len(bot.slack.calls) > before, "the app sent Slack nothing"


def _command(bot: Served, name: str, text: str, user: str = "U0MARIA") -> None:
    before = len(bot.slack.calls)
    answer = bot.driver.command(name, text, user=user, channel=CHANNEL)
    assert answer.status == 200
    _settle(bot, before)


def _click(bot: Served, action_id: str, **kwargs: Any) -> None:
    before = len(bot.slack.calls)
    answer = bot.driver.click(action_id, user="U0MARIA", **kwargs)
    assert answer.status == 200
    _settle(bot, before)


def _submit(bot: Served, callback_id: str, values: dict[str, Any], **kwargs: Any) -> None:
    """Submit a form; it must be accepted (no field errors)."""
    before = len(bot.slack.calls)
    answer = bot.driver.submit_view(callback_id, values, user="U0MARIA", **kwargs)
    assert answer.status == 200 and not answer.body, answer.text
    _settle(bot, before)


def _event(bot: Served, event: dict[str, Any]) -> None:
    before = len(bot.slack.calls)
    assert bot.driver.event(event).status == 200
    _settle(bot, before)


def _commitment(bot: Served, text: str, user: str = "U0MARIA") -> tuple[int, dict[str, Any]]:
    """A commitment made through `/commit` (outside the watch): its number and its message."""
    _command(bot, "/commit", text, user=user)
    message = bot.slack.messages(CHANNEL)[-1]
    number = re.search(r"#(\d+)", all_text(message))
    assert number is not None, all_text(message)
    return int(number[1]), message


def _responses(bot: Served) -> list[dict[str, Any]]:
    return [c.params for c in bot.slack.calls_to("response_url")]


def _said(bot: Served) -> str:
    """The text of the app's last private answer (through the response URL)."""
    return str(_responses(bot)[-1]["text"])


def _opened_view(bot: Served) -> dict[str, Any]:
    view: dict[str, Any] = bot.slack.calls_to("views.open")[-1].params["view"]
    return view


def _stored(bot: Served, number: int) -> Commitment:
    with bot.services.sessions() as session:
        commitment = session.get(Commitment, number)
        assert commitment is not None
        return commitment


def _events(bot: Served, number: int) -> list[tuple[str, dict[str, Any] | None]]:
    with bot.services.sessions() as session:
        found = session.scalars(
            select(CommitmentEvent)
            .where(CommitmentEvent.commitment_id == number)
            .order_by(CommitmentEvent.id)
        )
        return [(e.kind, e.detail) for e in found]


def _person(bot: Served, user_id: str) -> Person:
    with bot.services.sessions() as session:
        person = session.get(Person, (TEAM_ID, user_id))
        assert person is not None
        return person


def _schedules(bot: Served) -> list[tuple[str, str]]:
    with bot.services.sessions() as session:
        return [(s.kind, s.channel_id) for s in session.scalars(select(Schedule))]


def _charts_uploaded(bot: Served) -> list[Any]:
    return [c for c in bot.slack.calls_to("files.completeUploadExternal") if c.ok]


def _seen(message: dict[str, Any] | None) -> str:
    assert message is not None
    return all_text(message)


# What each case does, and checks it did, while the watch is on.


def _commit(bot: Served, _prepared: Any) -> None:
    _command(bot, "/commit", "Call the shelter by Friday")
    assert "Call the shelter" in all_text(bot.slack.messages(CHANNEL)[-1])


def _commit_done(bot: Served, prepared: tuple[int, dict[str, Any]]) -> None:
    number, message = prepared
    _command(bot, "/commit", f"done {number}")
    assert "✅ Done" in all_text(bot.slack.message(CHANNEL, message["ts"]) or {}) or any(
        "done" in all_text(r).lower() for r in _responses(bot)
    )


def _done_button(bot: Served, prepared: tuple[int, dict[str, Any]]) -> None:
    number, message = prepared
    _click(bot, ids.COMMIT_DONE, value=str(number), channel=CHANNEL, message_ts=message["ts"])
    assert "✅ Done" in _seen(bot.slack.message(CHANNEL, message["ts"]))


def _form_values(what: str, owner: str, due: str) -> dict[str, Any]:
    """The new-commitment form's state as Slack sends it ({block_id: {action_id: state}})."""
    return {
        "what": {"value": {"type": "plain_text_input", "value": what}},
        "owners": {"value": {"type": "multi_users_select", "selected_users": [owner]}},
        "due": {"value": {"type": "datepicker", "selected_date": due}},
        "channel": {"value": {"type": "conversations_select", "selected_conversation": CHANNEL}},
    }


def _new_commitment_form(bot: Served, _prepared: Any) -> None:
    _command(bot, "/commit", "")  # `/commit` alone opens the form
    assert _opened_view(bot)["callback_id"] == ids.NEW_COMMITMENT_VIEW
    values = _form_values("Open the warming center", "U0LEE", "2026-12-04")
    _submit(bot, ids.NEW_COMMITMENT_VIEW, values, view_id="VFORM1")
    message = bot.slack.messages(CHANNEL)[-1]
    assert "Open the warming center" in all_text(message)
    assert "Fri, Dec 4, 2026" in all_text(message)
    number = re.search(r"#(\d+)", all_text(message))
    assert number is not None
    made = _stored(bot, int(number[1]))
    assert (made.owner_ids, made.message_ts) == (["U0LEE"], message["ts"])


def _note_form(bot: Served, prepared: tuple[int, dict[str, Any]]) -> None:
    number, message = prepared
    _click(bot, ids.COMMIT_NOTE, value=str(number), channel=CHANNEL, message_ts=message["ts"])
    view = _opened_view(bot)
    assert view["callback_id"] == ids.NOTE_VIEW
    _submit(
        bot,
        ids.NOTE_VIEW,
        {"note": {"text": {"type": "plain_text_input", "value": "Director says yes"}}},
        private_metadata=view["private_metadata"],
    )
    assert _events(bot, number)[-1] == ("noted", {"note": "Director says yes"})
    [note] = [
        m for m in bot.slack.messages(CHANNEL) if "Director says yes" in (m.get("text") or "")
    ]
    assert note.get("thread_ts") == message["ts"]


def _dm_channel(bot: Served, message: dict[str, Any]) -> str:
    """The DM conversation a message was posted in (as Slack puts it in a click's payload)."""
    for call in bot.slack.calls_to("chat.postMessage"):
        if isinstance(call.response, dict) and call.response.get("ts") == message["ts"]:
            return str(call.response["channel"])
    raise AssertionError("that message was not posted")


def _a_reminder(bot: Served) -> tuple[int, dict[str, Any], str]:
    """Maria's commitment due Wednesday, and Tuesday's "due tomorrow" DM with its buttons."""
    number, _ = _commitment(bot, "Send the naloxone report by Wednesday")  # Mon Nov 23, 10:00
    at = ny(24, 10, 30, month=11)  # what Slack said about Maria on Monday is no longer fresh
    bot.clock.now = at
    report = run_pass(bot.services, now=at, per_channel_interval=0)
    assert report.nudges == 1 and report.delivery.sent == 1, report.summary()
    [reminder] = bot.slack.messages("U0MARIA")
    assert "*due tomorrow*" in all_text(reminder)
    return number, reminder, _dm_channel(bot, reminder)


def _snooze_in_reminder(bot: Served, prepared: tuple[int, dict[str, Any], str]) -> None:
    number, reminder, dm = prepared
    _click(
        bot,
        ids.COMMIT_SNOOZE,
        selected_option=f"{number}:3",
        block_id=f"commitment-{number}",
        channel=dm,
        message_ts=reminder["ts"],
    )
    assert _stored(bot, number).snoozed_until == bot.clock() + timedelta(days=3)
    assert "💤 Snoozed until" in _seen(bot.slack.message("U0MARIA", reminder["ts"]))


def _change_date_in_reminder(bot: Served, prepared: tuple[int, dict[str, Any], str]) -> None:
    number, reminder, dm = prepared
    _click(
        bot,
        ids.COMMIT_MOVE,
        selected_date="2026-12-07",
        block_id=f"commitment-{number}",
        channel=dm,
        message_ts=reminder["ts"],
    )
    moved = _stored(bot, number)
    assert moved.due_version == 2
    assert moved.due_at.astimezone(NY).date() == date(2026, 12, 7)
    assert "Mon, Dec 7, 2026" in _seen(bot.slack.message("U0MARIA", reminder["ts"]))
    assert moved.message_ts is not None
    assert "Mon, Dec 7, 2026" in _seen(bot.slack.message(CHANNEL, moved.message_ts))


def _commit_move(bot: Served, prepared: tuple[int, dict[str, Any]]) -> None:
    number, message = prepared
    _command(bot, "/commit", f"move {number} Dec 11")
    assert "now due Fri, Dec 11, 2026" in _said(bot)
    assert _stored(bot, number).due_version == 2
    assert "Fri, Dec 11, 2026" in _seen(bot.slack.message(CHANNEL, message["ts"]))


def _commit_snooze(bot: Served, prepared: tuple[int, dict[str, Any]]) -> None:
    number, _message = prepared
    _command(bot, "/commit", f"snooze {number} 1 week")
    assert _said(bot).startswith(f"💤 Reminders for #{number} are paused until")
    assert _stored(bot, number).snoozed_until == bot.clock() + timedelta(days=7)


def _commitments_of_two(bot: Served) -> None:
    _commitment(bot, "Open the Saturday clinic by Friday")
    _commitment(bot, "Fix the housing list by Dec 4", user="U0LEE")
    bot.clock.now += timedelta(hours=25)


def _commit_list_all(bot: Served, _prepared: Any) -> None:
    _command(bot, "/commit", "list all")
    answer = _responses(bot)[-1]
    assert answer["text"] == "All open commitments (2)"
    assert "Open the Saturday clinic" in all_text(answer)
    assert "Fix the housing list" in all_text(answer)


def _app_home_opened(bot: Served, _prepared: Any) -> None:
    _event(bot, {"type": "app_home_opened", "user": "U0MARIA", "channel": "D0MARIA", "tab": "home"})
    published = bot.slack.calls_to("views.publish")[-1].params
    assert published["user_id"] == "U0MARIA"
    assert "Open the Saturday clinic" in all_text(published["view"])


def _meeting(bot: Served, _prepared: Any) -> None:
    _command(bot, "/commstat", "meeting every Thursday at 10am")
    said = bot.slack.messages(CHANNEL)[-1]["text"]
    assert said.startswith(
        "CommStat meeting for <#C0MEETING>: every Thursday at 10:00 AM New York time."
    )
    assert _schedules(bot) == [("meeting", CHANNEL)]


def _weekly_digest(bot: Served, _prepared: Any) -> None:
    _command(bot, "/commstat", "weekly digest Monday 9am")
    said = bot.slack.messages(CHANNEL)[-1]["text"]
    assert said.startswith(
        "Weekly CommStat digest for <#C0MEETING>: every Monday at 9:00 AM New York time."
    )
    assert _schedules(bot) == [("weekly_digest", CHANNEL)]


def _admin_add(bot: Served, _prepared: Any) -> None:
    _command(bot, "/commstat", "settings admin add <@U0LEE|lee>", user="U0ADMIN")
    assert _said(bot).startswith("<@U0LEE> can now change CommStat settings.")
    assert _person(bot, "U0LEE").is_admin
    asked = {c.params.get("user") for c in bot.slack.calls_to("users.info")}
    assert {"U0ADMIN", "U0LEE"} <= asked  # both looked up, while the watch was on


def _org(bot: Served, _prepared: Any) -> None:
    _command(bot, "/commstat", "org <@U0LEE|lee> Health Department", user="U0ADMIN")
    assert _said(bot) == "<@U0LEE> is now with *Health Department* in on-time reports."
    assert _person(bot, "U0LEE").organisation == "Health Department"


def _a_late_and_a_done_commitment(bot: Served) -> None:
    done, _ = _commitment(bot, "Call the shelter by Friday")
    _command(bot, "/commit", f"done {done}")
    _commitment(bot, "Open the Saturday clinic by Nov 24")
    bot.clock.now += timedelta(days=3)  # Thursday: the clinic is late, Maria no longer fresh


def _report(bot: Served, _prepared: Any) -> None:
    _command(bot, "/commstat", "report")
    answer = _responses(bot)[-1]
    assert answer["text"] == "On-time report, last 30 days"
    assert answer["blocks"]


def _indicator(bot: Served, _prepared: Any) -> None:
    _command(bot, "/indicator", "overdoses")
    assert any("Number of Drug Overdose Deaths" in all_text(r) for r in _responses(bot))
    assert _charts_uploaded(bot)


def _indicator_by_state(bot: Served, _prepared: Any) -> None:
    _command(bot, "/indicator", "overdoses by state")
    [answer] = [r for r in _responses(bot) if r.get("response_type") == "in_channel"]
    for place in ("MD", "NC", "US", "VT"):
        assert f"*{place}* " in all_text(answer)
    [upload] = _charts_uploaded(bot)
    # The states are drawn; the US, the national total, is listed apart and not drawn.
    assert "3 places" in bot.slack.files[upload.params["files"][0]["id"]]["alt_txt"]


def _overdose_value(bot: Served, period: str, geography: str) -> float | None:
    with bot.services.sessions() as session:
        return session.scalars(
            select(IndicatorValue.value)
            .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
            .where(
                Indicator.name == "Number of Drug Overdose Deaths",
                IndicatorValue.period == period,
                IndicatorValue.geography == geography,
            )
        ).one()


def _indicator_set(bot: Served, _prepared: Any) -> None:
    assert _overdose_value(bot, "2025-04", "MD") == 1562
    _command(bot, "/indicator", "set overdoses 1,600 for Apr 2025 in MD")  # Maria: its steward
    assert "MD, 12 months ending Apr 2025: 1,562 → 1,600 deaths" in _said(bot)
    assert _overdose_value(bot, "2025-04", "MD") == 1600


def _settings(bot: Served, _prepared: Any) -> None:
    _command(bot, "/commstat", "settings")
    assert any("CommStat settings" in all_text(r) for r in _responses(bot))


def _digest_now(bot: Served, _prepared: Any) -> None:
    _command(bot, "/commstat", "digest now")
    digests = [m for m in bot.slack.messages(CHANNEL) if "CommStat digest" in all_text(m)]
    assert len(digests) == 1
    assert _charts_uploaded(bot)


# What sets each scene, before the watch starts.


def _load_data(bot: Served) -> None:
    bundled.load_all(bot.services.sessions, team_id=TEAM_ID, now=bot.clock())


def _a_commitment(bot: Served) -> tuple[int, dict[str, Any]]:
    made = _commitment(bot, "Open the Saturday clinic by Friday")
    bot.clock.now += timedelta(hours=25)  # what Slack said about Maria is no longer fresh
    return made


@dataclass(frozen=True)
class Case:
    run: Callable[[Served, Any], None]
    prepare: Callable[[Served], Any] | None = None  # sets the scene, before the watch starts
    draws: tuple[str, ...] = ()  # the charts it renders, under the watch


INDICATOR_CHART = ("render_indicator_chart",)
CASES = {
    "/commit <text>": Case(_commit),
    "/commit done": Case(_commit_done, _a_commitment),
    "Done button": Case(_done_button, _a_commitment),
    "/commit alone, then the new-commitment form": Case(_new_commitment_form),
    "Add note button, then the note form": Case(_note_form, _a_commitment),
    "Snooze in a reminder DM": Case(_snooze_in_reminder, _a_reminder),
    "Change date in a reminder DM": Case(_change_date_in_reminder, _a_reminder),
    "/commit move": Case(_commit_move, _a_commitment),
    "/commit snooze": Case(_commit_snooze, _a_commitment),
    "/commit list all": Case(_commit_list_all, _commitments_of_two),
    "App Home opened": Case(_app_home_opened, _a_commitment),
    "/indicator overdoses (chart)": Case(_indicator, _load_data, draws=INDICATOR_CHART),
    "/indicator overdoses by state (chart)": Case(
        _indicator_by_state, _load_data, draws=INDICATOR_CHART
    ),
    "/indicator set, by its steward": Case(_indicator_set, _load_data),
    "/commstat settings": Case(_settings),
    "/commstat settings admin add": Case(_admin_add),
    "/commstat org": Case(_org),
    "/commstat meeting": Case(_meeting),
    "/commstat weekly digest": Case(_weekly_digest),
    "/commstat report": Case(_report, _a_late_and_a_done_commitment),
    "/commstat digest now (chart)": Case(_digest_now, _load_data, draws=("render_digest_chart",)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_commands_ask_slack_and_draw_charts_outside_transactions(
    served, watch_app, monkeypatch, case
):
    what = CASES[case]
    prepared = what.prepare(served) if what.prepare is not None else None
    watch_app.start(monkeypatch)
    what.run(served, prepared)
    assert [r.name for r in watch_app.renders] == list(what.draws)
    assert watch_app.violations(served.slack.calls) == []
