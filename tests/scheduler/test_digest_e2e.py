"""The pre-meeting and weekly digests, end to end: `/commstat meeting` over signed HTTP on a Monday,
scheduler passes through the week, and what reaches the channel: one digest per meeting (one
message when the weekly digest falls on the same day), headings that name the window they list,
what comes up before the following meeting, and a note when the meeting falls on a holiday
(Thanksgiving 2026 is Thursday, Nov 26)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.followup.scheduler import run_pass
from bot.sandbox import bundled
from storage.models import Commitment, OutboxMessage
from tests.conftest import TEAM_ID
from tests.helpers import all_text, wait_for

MEETING_CHANNEL = "C0MEETING"
WORK_CHANNEL = "C0WORK"
NY = ZoneInfo("America/New_York")


def ny(day, hour, minute=0, month=11):
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def tick(bot, at):
    bot.clock.now = at
    report = run_pass(bot.services, now=at, per_channel_interval=0)
    assert not report.errors, report.summary()
    return report


def digests(bot, channel=MEETING_CHANNEL):
    return [
        m
        for m in bot.slack.messages(channel)
        if m.get("blocks")
        and m["blocks"][0]["type"] == "header"
        and "CommStat digest" in m["blocks"][0]["text"]["text"]
    ]


def lists(digest):
    """The digest's list sections (not its note about a meeting on a holiday)."""
    return [
        b["text"]["text"]
        for b in digest["blocks"]
        if b["type"] == "section" and not b["text"]["text"].startswith("🗓️")
    ]


def notes(bot, channel=MEETING_CHANNEL):
    return [m for m in bot.slack.messages(channel) if m.get("text", "").startswith("🗓️ Heads-up")]


def outbox(bot):
    with bot.services.sessions() as session:
        return [
            (row.kind, row.idempotency_key)
            for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]


def command(bot, command_name, text, *, user="U0MARIA", channel=MEETING_CHANNEL):
    before = len(bot.slack.messages(channel))
    answer = bot.driver.command(command_name, text, user=user, channel=channel)
    assert answer.status == 200 and answer.seconds < 3
    return wait_for(
        lambda: len(bot.slack.messages(channel)) > before and bot.slack.messages(channel)[-1]
    )


def meeting_with_digest_2_hours_before(bot, weekday):
    """On Mon, Nov 23: a meeting every `weekday` at 10 AM, its digest at 8 AM."""
    bot.clock.now = ny(23, 10)
    command(bot, "/commstat", f"meeting every {weekday} at 10am")
    bot.driver.command(
        "/commstat", "digest 2 hours before", user="U0MARIA", channel=MEETING_CHANNEL
    )
    wait_for(lambda: bot.slack.calls_to("response_url"))


def done(bot, commitment):
    """`/commit done <id>` as its owner, at the clock's time."""
    bot.driver.command("/commit", f"done {commitment.id}", user="U0MARIA", channel=WORK_CHANNEL)
    wait_for(lambda: next(c for c in stored(bot) if c.id == commitment.id).status.value == "done")


def stored(bot):
    with bot.services.sessions() as session:
        return session.scalars(select(Commitment).order_by(Commitment.id)).all()


def test_one_digest_the_day_before_the_meeting_listing_overdue_and_upcoming_with_owners(bot):
    monday = ny(23, 10)
    bot.clock.now = monday
    said = command(bot, "/commstat", "meeting every Thursday at 10am")
    assert (
        "The digest will be posted here 24 hours before (Wed, Nov 25 at 10:00 AM)" in said["text"]
    )
    # Commitments made in another channel: the meeting covers the whole coalition.
    command(bot, "/commit", "Call the shelter by tomorrow", channel=WORK_CHANNEL)
    command(
        bot,
        "/commit",
        "<@U0SAM|sam> Open the Saturday clinic by Wednesday 5pm",
        channel=WORK_CHANNEL,
    )
    command(bot, "/commit", "Write the grant report by Dec 10", channel=WORK_CHANNEL)
    wait_for(lambda: len(stored(bot)) == 3 and all(c.message_ts for c in stored(bot)))

    posted_at = []
    at = ny(24, 0)
    while at <= ny(26, 12):
        before = len(digests(bot))
        tick(bot, at)
        if len(digests(bot)) > before:
            posted_at.append(at)
        at += timedelta(minutes=30)

    assert posted_at == [ny(25, 10)]  # Wednesday, at the first pass at/after 10:00 New York
    [digest] = digests(bot)
    blocks = digest["blocks"]
    assert blocks[0]["text"]["text"] == "CommStat digest — meeting Thu, Nov 26, 10:00 AM"
    sections = lists(digest)
    overdue, upcoming = sections[1], sections[2]
    shelter, clinic, grant = stored(bot)
    assert overdue.startswith("*⚠️ Overdue* (1)")
    assert (
        f"• *#{shelter.id}* Call the shelter — <@U0MARIA> · due Tue, Nov 24, 2026 · *1 day late*"
        in overdue
    )
    assert upcoming.startswith("*📅 Due before the next meeting (Thu, Nov 26)* (1)")
    assert (
        f"• *#{clinic.id}* Open the Saturday clinic — <@U0SAM> · due Wed, Nov 25, 2026" in upcoming
    )
    assert f"#{grant.id}" not in upcoming  # due after the meeting
    assert "commitments from all channels" in str(blocks[1])
    assert digests(bot, WORK_CHANNEL) == []
    # Thursday is Thanksgiving: the digest, posted the working day before, asks; no second note.
    assert blocks[2]["text"]["text"] == (
        "🗓️ *Thursday, Nov 26 is Thanksgiving Day — is the meeting still on?*"
    )
    assert notes(bot) == []


def test_a_digest_is_never_posted_late_and_the_next_meeting_still_gets_one(bot):
    bot.clock.now = ny(23, 10)
    command(bot, "/commstat", "meeting every Thursday at 10am")
    tick(bot, ny(26, 10, 30))  # the bot was down until the meeting had started
    tick(bot, ny(26, 11))
    assert digests(bot) == []
    at = ny(26, 11, 30)
    while at <= ny(3, 11, month=12):
        tick(bot, at)
        at += timedelta(minutes=30)
    [digest] = digests(bot)
    assert digest["blocks"][0]["text"]["text"] == "CommStat digest — meeting Thu, Dec 3, 10:00 AM"


def test_passes_at_any_instant_in_any_order_post_one_digest_per_meeting(bot):
    meeting_with_digest_2_hours_before(bot, "Thursday")
    for at in [ny(26, 9), ny(25, 10), ny(26, 8), ny(26, 8, 1), ny(26, 9, 59), ny(24, 9)]:
        tick(bot, at)
    [digest] = digests(bot)
    assert digest["blocks"][0]["text"]["text"] == "CommStat digest — meeting Thu, Nov 26, 10:00 AM"


def test_a_weekly_digest_goes_out_on_its_day_once(bot):
    bot.clock.now = ny(23, 10)
    command(bot, "/commstat", "weekly digest Monday 9am")
    at = ny(23, 10, 30)
    while at <= ny(1, 12, month=12):
        tick(bot, at)
        at += timedelta(hours=1)
    [digest] = digests(bot)
    assert digest["blocks"][0]["text"]["text"] == "Weekly CommStat digest — Mon, Nov 30, 2026"


# --- coming up before the following meeting -------------------------------------------------


def test_coming_up_lists_what_is_due_before_the_following_meeting_with_owners(bot):
    bot.clock.now = ny(23, 10)
    command(bot, "/commstat", "meeting every Thursday at 10am")
    for line in (
        "Call the shelter by Wednesday",  # before this meeting
        "<@U0SAM|sam> Draft the MOU by Dec 1",  # before the following one
        "<!channel> <@U0BOSS> <https://evil.example|click here> *now* by Dec 2",  # hostile words
        "Send the minutes by Dec 3",  # the following meeting's own day, no time: its business
        "Write the grant report by Dec 10",  # after the following meeting
    ):
        command(bot, "/commit", line, channel=WORK_CHANNEL)
    wait_for(lambda: len(stored(bot)) == 5)
    shelter, mou, hostile, minutes, grant = stored(bot)

    tick(bot, ny(25, 10))
    [digest] = digests(bot)
    sections = lists(digest)
    due, coming = sections[2], sections[3]
    assert due.startswith("*📅 Due before the next meeting (Thu, Nov 26)* (1)")
    assert f"#{shelter.id}*" in due and f"#{mou.id}*" not in due
    assert coming.startswith("*🔭 Coming up before the following meeting (Thu, Dec 3)* (3)\n")
    assert f"• *#{mou.id}* Draft the MOU — <@U0SAM> · due Tue, Dec 1, 2026" in coming
    assert f"• *#{minutes.id}* Send the minutes — <@U0MARIA> · due Thu, Dec 3, 2026" in coming
    assert f"*#{hostile.id}*" in coming and f"#{grant.id}*" not in coming
    assert f"#{shelter.id}*" not in coming  # each commitment in one list only
    shown = json.dumps(digest, ensure_ascii=False)
    for live in ("<!channel>", "<@U0BOSS>", "<https://evil.example"):
        assert live not in shown  # the words are shown, never run
    assert "click here" in coming
    assert "1 due before the next meeting (Thu, Nov 26), 3 coming up" in digest["text"]


# --- honest headings --------------------------------------------------------------------------


def test_a_weekly_digest_names_its_week_and_lists_only_what_happened_in_it(bot):
    bot.clock.now = ny(20, 10)  # Friday the week before
    command(bot, "/commit", "Call the shelter by Nov 30", channel=WORK_CHANNEL)
    wait_for(lambda: len(stored(bot)) == 1)
    [early] = stored(bot)
    done(bot, early)  # before the week
    bot.clock.now = ny(23, 10)
    command(bot, "/commstat", "meeting every Thursday at 10am")
    command(bot, "/commstat", "weekly digest Monday 9am")
    command(bot, "/commit", "Book the room by Nov 25", channel=WORK_CHANNEL)
    wait_for(lambda: len(stored(bot)) == 2)
    _, room = stored(bot)
    bot.clock.now = ny(24, 11)
    done(bot, room)

    tick(bot, ny(25, 10))  # Thursday's pre-meeting digest
    tick(bot, ny(30, 9))  # the weekly digest, after that meeting
    meeting, weekly = digests(bot)
    assert weekly["blocks"][0]["text"]["text"] == "Weekly CommStat digest — Mon, Nov 30, 2026"
    finished, _overdue, due, coming, new, moved, _late = lists(weekly)
    assert finished.startswith("*✅ Done since Mon, Nov 23, 9:00 AM* (1)\n")
    assert f"#{room.id}*" in finished and f"#{early.id}*" not in finished  # before the window
    assert new.startswith("*🆕 New since Mon, Nov 23, 9:00 AM* (1)\n") and f"#{room.id}*" in new
    assert moved.startswith("*📈 Indicators with new data since Mon, Nov 23, 9:00 AM*")
    assert due.startswith("*📅 Due before the next meeting (Thu, Dec 3)*")
    assert coming.startswith("*🔭 Coming up before the following meeting (Thu, Dec 10)*")
    assert "last meeting" not in all_text(weekly)
    assert weekly["blocks"][1]["elements"][0]["text"].startswith("Since Mon, Nov 23, 9:00 AM · ")

    # The pre-meeting digest of the first meeting had no meeting before it: it says from when.
    assert lists(meeting)[0].startswith("*✅ Done since Thu, Nov 19, 10:00 AM* (2)")
    assert f"#{early.id}*" in lists(meeting)[0] and f"#{room.id}*" in lists(meeting)[0]


# --- a weekly digest and a pre-meeting digest on the same day: one message -------------------


def test_a_weekly_digest_on_the_pre_meeting_digests_day_is_one_message(bot):
    bot.clock.now = ny(23, 10)
    command(bot, "/commstat", "meeting every Thursday at 10am")  # digest Wednesday 10:00
    command(bot, "/commstat", "weekly digest Wednesday 9am")
    command(bot, "/commit", "Call the shelter by Nov 27", channel=WORK_CHANNEL)
    wait_for(lambda: stored(bot))
    posted_at = []
    at = ny(23, 10, 30)
    while at <= ny(26, 12):
        before = len(digests(bot))
        tick(bot, at)
        tick(bot, at)  # a repeated pass adds nothing
        if len(digests(bot)) > before:
            posted_at.append(at)
        at += timedelta(minutes=30)
    assert posted_at == [ny(25, 9)]  # at the first of the two times, once
    [digest] = digests(bot)
    assert digest["blocks"][0]["text"]["text"] == (
        "Weekly and pre-meeting CommStat digest — meeting Thu, Nov 26, 10:00 AM"
    )
    scope = digest["blocks"][1]["elements"][0]["text"]
    assert scope.startswith("Since Wed, Nov 18, 9:00 AM · ")  # the longer of the two windows
    assert scope.endswith("this week's digest and the pre-meeting digest in one")
    assert lists(digest)[0].startswith("*✅ Done since Wed, Nov 18, 9:00 AM*")
    assert lists(digest)[3].startswith(
        "*🔭 Coming up before the following meeting (Thu, Dec 3)* (1)"
    )
    assert [kind for kind, _ in outbox(bot) if kind.startswith("digest")] == ["digest"]

    # The week after, on the same day again: one message again.
    at = ny(2, 8, month=12)
    while at <= ny(2, 11, month=12):
        tick(bot, at)
        at += timedelta(minutes=30)
    assert len(digests(bot)) == 2


def test_when_the_pre_meeting_digest_comes_first_the_weekly_digest_adds_nothing(bot):
    meeting_with_digest_2_hours_before(bot, "Tuesday")
    command(bot, "/commstat", "weekly digest Tuesday 9am")  # after that digest, same day
    for at in (ny(24, 7), ny(24, 8), ny(24, 9), ny(24, 9, 30), ny(24, 11), ny(24, 14)):
        tick(bot, at)
    [digest] = digests(bot)
    assert digest["blocks"][0]["text"]["text"] == (
        "Weekly and pre-meeting CommStat digest — meeting Tue, Nov 24, 10:00 AM"
    )
    assert [kind for kind, _ in outbox(bot) if kind.startswith("digest")] == ["digest"]
    tick(bot, ny(1, 8, month=12))  # the next Tuesday: the meeting's digest, merged, once more
    tick(bot, ny(1, 9, month=12))
    assert len(digests(bot)) == 2


def test_a_weekly_digest_goes_alone_when_that_days_meeting_digest_never_went(bot):
    meeting_with_digest_2_hours_before(bot, "Tuesday")
    command(bot, "/commstat", "weekly digest Tuesday 11am")
    tick(bot, ny(24, 11, 30))  # down through the meeting: its digest is never sent late
    [digest] = digests(bot)
    assert digest["blocks"][0]["text"]["text"] == "Weekly CommStat digest — Tue, Nov 24, 2026"
    assert lists(digest)[2].startswith("*📅 Due before the next meeting (Tue, Dec 1)*")


# --- a meeting on a public holiday -------------------------------------------------------------


def test_a_meeting_on_thanksgiving_gets_a_note_the_working_day_before_and_in_its_digest(bot):
    meeting_with_digest_2_hours_before(bot, "Thursday")
    noted_at, summaries = [], []
    at = ny(23, 11)
    while at <= ny(26, 12):
        before = len(notes(bot))
        report = tick(bot, at)
        tick(bot, at + timedelta(minutes=1))  # passes repeat: nothing twice
        if len(notes(bot)) > before:
            noted_at.append(at)
            summaries.append(report.summary())
        at += timedelta(minutes=30)
    assert noted_at == [ny(25, 9)]  # Wednesday, the working day before, at 09:00
    [note] = notes(bot)
    assert note["text"] == (
        "🗓️ Heads-up: tomorrow, Thursday, Nov 26, is Thanksgiving Day — is the CommStat meeting at "
        "10:00 AM still on? If it is off or moves, let everyone know here."
    )
    assert summaries == [
        "planned 0 nudges, 0 digests, 1 holiday note; sent 1, retrying 0, failed 0"
    ]
    [digest] = digests(bot)  # Thursday 08:00, on the holiday itself: it asks too
    assert "Thursday, Nov 26 is Thanksgiving Day — is the meeting still on?" in all_text(digest)
    # The following Thursday is no holiday: no note.
    at = ny(2, 8, month=12)
    while at <= ny(3, 9, month=12):
        tick(bot, at)
        at += timedelta(hours=1)
    assert len(notes(bot)) == 1 and len(digests(bot)) == 2
    assert "Thanksgiving" not in all_text(digests(bot)[1])


def test_a_holiday_the_admins_turned_off_gets_no_note(bot):
    meeting_with_digest_2_hours_before(bot, "Thursday")
    bot.driver.command(
        "/commstat", "settings holidays remove Nov 26", user="U0ADMIN", channel=MEETING_CHANNEL
    )
    wait_for(lambda: len(bot.slack.calls_to("response_url")) >= 2)
    for at in (ny(25, 9), ny(25, 10), ny(26, 8)):
        tick(bot, at)
    assert notes(bot) == []
    [digest] = digests(bot)
    assert "Thanksgiving" not in all_text(digest)


# --- the pass summary -------------------------------------------------------------------------


def test_the_pass_summary_counts_a_digest_with_its_chart_once(bot):
    bundled.load_all(bot.services.sessions, team_id=TEAM_ID, now=bot.clock())  # so a chart
    command(bot, "/commstat", "meeting every Thursday at 10am")
    report = tick(bot, ny(25, 10))
    shared = [c for c in bot.slack.calls_to("files.completeUploadExternal") if c.ok]
    assert len(digests(bot)) == 1 and len(shared) == 1
    nudges = report.planned_nudges
    assert report.delivery.sent == nudges + 2  # the outbox's rows: the message and its chart
    assert re.fullmatch(
        rf"planned {nudges} nudges?, 1 digest; sent {nudges + 1} \(1 with its chart\), "
        r"retrying 0, failed 0",
        report.summary(),
    ), report.summary()
    again = tick(bot, ny(25, 10, 30))
    assert again.summary().startswith("planned 0 nudges, 0 digests; sent 0,")
