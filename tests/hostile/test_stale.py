"""Nothing stale is sent: a message Slack held back (429, 5xx) is checked again right before it
goes, and dropped, with the reason, when it is no longer true.

Through the served app on SQLite and PostgreSQL: commitments, meetings and values come in as
signed slash commands; scheduler passes run at chosen instants against the Slack stand-in, which
fails `chat.postMessage` while the message is planned; then the commitment is done (moved,
dropped, snoozed, given other owners), the meeting starts or the value arrives, Slack recovers,
and the next pass sends nothing. The outbox row says why, and `/commstat settings` shows it. A
message that still holds is sent once, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.followup.scheduler import PassReport, run_pass
from bot.sandbox import bundled
from bot.slack import outbox
from storage.models import (
    Commitment,
    CommitmentOwner,
    Indicator,
    OutboxMessage,
    OutboxStatus,
)
from tests.conftest import TEAM_ID, ServedBot
from tests.helpers import add_late_indicator, all_text, wait_for

CHANNEL = "C0MEETING"
NY = ZoneInfo("America/New_York")
TIMEOUT = 0.2  # the outbox's per-call timeout in these passes: a 5xx row rests 3 × this


def ny(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def tick(bot: ServedBot, at: datetime) -> PassReport:
    """One scheduler pass at `at`; the business clock moves there too."""
    bot.clock.now = at
    report = run_pass(bot.services, now=at, per_channel_interval=0, timeout=TIMEOUT)
    assert not report.errors, report.summary()
    return report


def slack_down(bot: ServedBot, status: int) -> None:
    """Every post gets HTTP `status` (429 with Retry-After: 1) until `slack_up`."""
    bot.slack.fail_randomly(
        1.0, seed=13, statuses=(status,), methods=("chat.postMessage",), retry_after=1
    )


def slack_up(bot: ServedBot) -> None:
    bot.slack.fail_randomly(0, seed=0)


def rested(status: int) -> None:
    """After a 5xx a row rests 3 × the timeout (real time) before it is looked for and retried."""
    if status >= 500:
        time.sleep(3 * TIMEOUT + 0.2)


def command(bot: ServedBot, name: str, text: str, user: str = "U0MARIA") -> None:
    answer = bot.driver.command(name, text, user=user, channel=CHANNEL)
    assert answer.status == 200


def replies(bot: ServedBot) -> list[dict[str, Any]]:
    return [c.params for c in bot.slack.calls_to("response_url")]


def ask(bot: ServedBot, name: str, text: str, user: str = "U0MARIA") -> str:
    """A command whose answer comes privately through its own response URL (answers to
    earlier commands, carried out by other workers, may still be arriving)."""
    payload = bot.driver.command_payload(name, text, user=user, channel=CHANNEL)
    assert bot.driver.send_form(payload).status == 200
    key = payload["response_url"].rstrip("/").rsplit("/", 1)[-1]
    return str(wait_for(lambda: bot.slack.responses(key))[-1]["text"])


def make(bot: ServedBot, text: str, user: str = "U0MARIA") -> Commitment:
    before = len(bot.slack.messages(CHANNEL))
    command(bot, "/commit", text, user=user)
    wait_for(lambda: len(bot.slack.messages(CHANNEL)) > before)

    def newest() -> Commitment | None:
        with bot.services.sessions() as session:
            return session.scalars(
                select(Commitment)
                .where(Commitment.message_ts.is_not(None))
                .order_by(Commitment.id.desc())
            ).first()

    return wait_for(newest)


def stored(bot: ServedBot, commitment_id: int) -> Commitment:
    with bot.services.sessions() as session:
        found = session.get(Commitment, commitment_id)
        assert found is not None
        return found


def rows(bot: ServedBot, kind: str | None = None) -> list[OutboxMessage]:
    with bot.services.sessions() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        found = list(session.scalars(query))
        session.expunge_all()
        return found


def arrived(bot: ServedBot, key: str) -> int:
    """How many times the message queued under `key` reached Slack."""
    return sum(
        1
        for _channel, message in bot.slack.all_messages()
        if ((message.get("metadata") or {}).get("event_payload") or {}).get("key") == key
    )


def dropped_for(bot: ServedBot, kind: str) -> OutboxMessage:
    [row] = rows(bot, kind)
    assert row.status == OutboxStatus.DROPPED, (row.status, row.last_error)
    assert arrived(bot, row.idempotency_key) == 0
    assert row.last_error and row.last_error.startswith("no longer true, not sent: ")
    return row


def still_dropped_later(bot: ServedBot, at: datetime) -> None:
    """A dropped row is never tried again, and planning it again adds nothing."""
    before = {r.idempotency_key: (r.status, r.attempts) for r in rows(bot)}
    posts = len(bot.slack.calls_to("chat.postMessage"))
    tick(bot, at)
    tick(bot, at + timedelta(hours=3))
    after = {r.idempotency_key: (r.status, r.attempts) for r in rows(bot)}
    for key, (status, attempts) in before.items():
        if status == OutboxStatus.DROPPED:
            assert after[key] == (status, attempts)
    assert len(bot.slack.calls_to("chat.postMessage")) == posts


# --- owner nudges --------------------------------------------------------------------------------


def _done(bot: ServedBot, commitment: Commitment) -> str:
    command(bot, "/commit", f"done {commitment.id}")
    wait_for(lambda: stored(bot, commitment.id).status == "done")
    return f"#{commitment.id} was marked done"


def _dropped(bot: ServedBot, commitment: Commitment) -> str:
    command(bot, "/commit", f"drop {commitment.id} the shelter closed")
    wait_for(lambda: stored(bot, commitment.id).status == "dropped")
    return f"#{commitment.id} was dropped"


def _moved(bot: ServedBot, commitment: Commitment) -> str:
    command(bot, "/commit", f"move {commitment.id} Friday")
    wait_for(lambda: stored(bot, commitment.id).due_version == 2)
    return f"#{commitment.id} is now due Fri, Nov 27, 2026"


def _snoozed(bot: ServedBot, commitment: Commitment) -> str:
    command(bot, "/commit", f"snooze {commitment.id} 3 days")
    wait_for(lambda: stored(bot, commitment.id).snoozed_until is not None)
    return f"#{commitment.id} was snoozed until Fri, Nov 27, 2026 at 10:30 AM"


def _owners_changed(bot: ServedBot, commitment: Commitment) -> str:
    # No command hands a commitment to someone else yet: the stored fact changes directly.
    with bot.services.sessions.begin() as session:
        row = session.get(Commitment, commitment.id)
        assert row is not None
        row.owners.append(CommitmentOwner(user_id="U0LEE", team_id=TEAM_ID, position=1))
    return f"the owners of #{commitment.id} changed"


CHANGES: dict[str, Callable[[ServedBot, Commitment], str]] = {
    "done": _done,
    "dropped": _dropped,
    "moved": _moved,
    "snoozed": _snoozed,
    "owners": _owners_changed,
}


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ("done", 429),
        ("done", 503),
        ("dropped", 500),
        ("moved", 429),
        ("snoozed", 503),
        ("owners", 429),
    ],
)
def test_a_nudge_held_back_by_slack_is_not_sent_once_it_no_longer_holds(
    bot: ServedBot, change: str, status: int
):
    commitment = make(bot, "Send the naloxone report by Wednesday")  # Mon Nov 23, 10:00 NY
    slack_down(bot, status)
    report = tick(bot, ny(24, 10, 30))  # Tuesday: "due tomorrow", refused by Slack
    assert (report.nudges, report.delivery.sent, report.delivery.retrying) == (1, 0, 1)
    assert bot.slack.messages("U0MARIA") == []
    slack_up(bot)

    why = CHANGES[change](bot, commitment)
    rested(status)
    report = tick(bot, ny(24, 10, 45))

    assert report.delivery.sent == 0 and report.delivery.dropped == 1
    assert "dropped 1 no longer true" in report.summary()
    assert bot.slack.messages("U0MARIA") == []  # nothing reached Maria
    row = dropped_for(bot, "morning")  # Maria's morning message: its one line no longer holds
    assert why in str(row.last_error)
    assert "held back" in str(row.last_error)  # and by what
    if status >= 500:  # an earlier try may have reached Slack: it was looked for first
        assert bot.slack.calls_to("conversations.history")
    # An admin reads why in /commstat settings.
    assert why in ask(bot, "/commstat", "settings")
    still_dropped_later(bot, ny(24, 11, 0))


def test_a_creator_notice_and_a_nudge_held_back_are_not_sent_once_it_is_done(bot: ServedBot):
    commitment = make(bot, "<@U0LEE|lee> Send the naloxone report by Wednesday")
    slack_down(bot, 503)
    # A week overdue, Wed Dec 2 09:30 New York, Maria, who logged it, is told once; Lee (Los
    # Angeles) is reminded at 09:00 his time.
    report = tick(bot, ny(2, 9, 30, month=12))
    assert report.creator_notices == 1
    tick(bot, ny(2, 12, 30, month=12))
    assert bot.slack.messages("U0MARIA") == [] and bot.slack.messages("U0LEE") == []
    slack_up(bot)
    waiting = rows(bot)
    assert {r.kind for r in waiting} == {"creator_notice", "morning"}
    assert {r.status for r in waiting} == {OutboxStatus.PENDING}

    command(bot, "/commit", f"done {commitment.id}", user="U0LEE")
    wait_for(lambda: stored(bot, commitment.id).status == "done")
    rested(503)
    report = tick(bot, ny(2, 12, 45, month=12))

    assert report.delivery.dropped == len(waiting) and report.delivery.sent == 0
    why = f"#{commitment.id} was marked done"
    assert why in str(dropped_for(bot, "creator_notice").last_error)
    assert all(why in str(r.last_error) for r in rows(bot) if r.kind == "morning")
    assert {r.status for r in rows(bot)} == {OutboxStatus.DROPPED}
    assert bot.slack.messages("U0MARIA") == [] and bot.slack.messages("U0LEE") == []
    still_dropped_later(bot, ny(3, 10, 0, month=12))


# --- digests ---------------------------------------------------------------------------------


def _meeting_on_tuesday(bot: ServedBot) -> None:
    bundled.load_all(bot.services.sessions, team_id=TEAM_ID, now=ny(23, 10))  # a chart, too
    with bot.services.sessions.begin() as session:  # their stewards are not this test's
        session.execute(update(Indicator).values(steward_id=None))
    before = len(bot.slack.messages(CHANNEL))
    command(bot, "/commstat", "meeting every Tuesday at 10am")
    wait_for(lambda: len(bot.slack.messages(CHANNEL)) > before)


def _digests_in_channel(bot: ServedBot) -> list[dict[str, Any]]:
    return [m for m in bot.slack.messages(CHANNEL) if "CommStat digest" in all_text(m)]


def test_a_digest_whose_meeting_has_started_is_not_posted(bot: ServedBot):
    _meeting_on_tuesday(bot)
    slack_down(bot, 503)
    report = tick(bot, ny(23, 10, 30))  # the digest of Tuesday's 10:00 meeting is due
    assert report.digests == 1  # one digest (its chart is part of it)
    assert report.delivery.retrying == 1  # the chart waits behind its message
    rested(503)
    report = tick(bot, ny(24, 9, 0))  # still down the next morning
    assert report.delivery.retrying == 1
    assert _digests_in_channel(bot) == []
    slack_up(bot)

    rested(503)
    report = tick(bot, ny(24, 10, 0))  # Slack is back as the meeting begins

    assert report.delivery.sent == 0 and report.delivery.dropped == 2
    assert _digests_in_channel(bot) == []
    assert not [c for c in bot.slack.calls_to("files.completeUploadExternal") if c.ok]
    for kind in ("digest", "digest_chart"):
        row = dropped_for(bot, kind)
        assert "its meeting started at Tue, Nov 24, 2026 at 10:00 AM New York time" in str(
            row.last_error
        )
    assert "its meeting started at Tue, Nov 24" in ask(bot, "/commstat", "settings")
    still_dropped_later(bot, ny(24, 10, 30))


# --- data stewards ---------------------------------------------------------------------------


def test_a_steward_nudge_is_not_sent_once_the_value_arrived(bot: ServedBot):
    add_late_indicator(bot.services.sessions, TEAM_ID, now=bot.clock())
    slack_down(bot, 429)
    report = tick(bot, ny(1, 12, 30, month=12))  # 09:30 in Los Angeles, where Lee lives
    assert report.steward_nudges == 1 and report.delivery.retrying == 1
    assert bot.slack.messages("U0LEE") == []
    slack_up(bot)

    said = ask(bot, "/indicator", "set md-overdose-deaths 152 for 2026-07", user="U0LEE")
    assert "152" in said
    report = tick(bot, ny(1, 12, 45, month=12))

    assert report.delivery.sent == 0 and report.delivery.dropped == 1
    assert bot.slack.messages("U0LEE") == []
    row = dropped_for(bot, "morning")  # Lee's morning message: its one line no longer holds
    assert "a value for md-overdose-deaths 2026-07 arrived" in str(row.last_error)
    still_dropped_later(bot, ny(2, 12, 30, month=12))


# --- what still holds is sent, once -----------------------------------------------------------


def _held_then_sent(bot: ServedBot, status: int, at: datetime, kinds: list[str]) -> None:
    """A pass at `at` while Slack refuses every post, then one 15 minutes later once it is back:
    the messages of these kinds planned at `at` are sent then, once each."""
    slack_down(bot, status)
    tick(bot, at)
    held = [r for r in rows(bot) if r.kind in kinds and r.status == OutboxStatus.PENDING]
    assert sorted(r.kind for r in held) == sorted(kinds)
    assert all(arrived(bot, r.idempotency_key) == 0 for r in held)
    assert "HTTP 503" in str(held[0].last_error) or "slow down" in str(held[0].last_error)
    slack_up(bot)
    rested(status)
    tick(bot, at + timedelta(minutes=15))
    for row in rows(bot):
        if row.id in {r.id for r in held}:
            assert row.status == OutboxStatus.SENT, (row.kind, row.last_error)
            assert row.last_error is None
            assert row.kind == "digest_chart" or arrived(bot, row.idempotency_key) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_held_back_messages_that_still_hold_are_sent_once(bot: ServedBot, status: int):
    """A digest with its chart, a nudge and a steward's nudge, each refused by Slack, then sent
    at the next pass: once each, and never again."""
    commitment = make(bot, "Send the naloxone report by Wednesday")
    _meeting_on_tuesday(bot)
    add_late_indicator(bot.services.sessions, TEAM_ID, now=bot.clock())

    _held_then_sent(bot, status, ny(23, 10, 30), ["digest", "digest_chart"])
    [digest] = _digests_in_channel(bot)
    assert "Tue, Nov 24" in all_text(digest)
    assert len([c for c in bot.slack.calls_to("files.completeUploadExternal") if c.ok]) == 1

    _held_then_sent(bot, status, ny(24, 10, 30), ["morning"])
    [dm] = bot.slack.messages("U0MARIA")
    assert f"#{commitment.id}" in all_text(dm) and "*due tomorrow*" in all_text(dm)

    # Lee's data is late, Maria's report overdue: a morning message each.
    _held_then_sent(bot, status, ny(1, 12, 30, month=12), ["morning", "morning"])
    [asked] = bot.slack.messages("U0LEE")
    assert "No value yet for *Maryland overdose deaths*, Jul 2026" in all_text(asked)

    posts = len(bot.slack.calls_to("chat.postMessage"))
    for at in (ny(1, 13, 0, month=12), ny(1, 12, 30, month=12)):  # later, and back in time
        tick(bot, at)
    assert len(bot.slack.calls_to("chat.postMessage")) == posts
    assert all(arrived(bot, r.idempotency_key) <= 1 for r in rows(bot))
    assert {r.status for r in rows(bot)} == {OutboxStatus.SENT}
    # What a row was planned on travels with it, never to Slack, and leaves its key alone.
    nudge = rows(bot, "morning")[0]
    [line] = nudge.payload[outbox.PARTS]
    assert line[outbox.HOLDS]["commitment"]["id"] == commitment.id
    assert nudge.idempotency_key == f"morning:{TEAM_ID}:U0MARIA:2026-11-24"
    assert line["key"].startswith(f"nudge:{commitment.id}:U0MARIA:1:")
    sent = bot.slack.calls_to("chat.postMessage")
    assert not [c for c in sent if outbox.HOLDS in c.params or outbox.PARTS in c.params]
