"""The pre-meeting digest, end to end: `/commstat meeting` over signed HTTP on a Monday, scheduler
passes every 30 minutes through the week, and the one digest that reaches the channel."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.followup.scheduler import run_pass
from storage.models import Commitment
from tests.helpers import wait_for

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


def command(bot, command_name, text, *, user="U0MARIA", channel=MEETING_CHANNEL):
    before = len(bot.slack.messages(channel))
    answer = bot.driver.command(command_name, text, user=user, channel=channel)
    assert answer.status == 200 and answer.seconds < 3
    return wait_for(
        lambda: len(bot.slack.messages(channel)) > before and bot.slack.messages(channel)[-1]
    )


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
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    overdue, upcoming = sections[1], sections[2]
    shelter, clinic, grant = stored(bot)
    assert overdue.startswith("*⚠️ Overdue* (1)")
    assert (
        f"• *#{shelter.id}* Call the shelter — <@U0MARIA> · due Tue, Nov 24, 2026 · *1 day late*"
        in overdue
    )
    assert upcoming.startswith("*📅 Due before the next meeting* (1)")
    assert (
        f"• *#{clinic.id}* Open the Saturday clinic — <@U0SAM> · due Wed, Nov 25, 2026" in upcoming
    )
    assert f"#{grant.id}" not in upcoming  # due after the meeting
    assert "commitments from all channels" in str(blocks[1])
    assert digests(bot, WORK_CHANNEL) == []


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
    bot.clock.now = ny(23, 10)
    command(bot, "/commstat", "meeting every Thursday at 10am")
    bot.driver.command(
        "/commstat", "digest 2 hours before", user="U0MARIA", channel=MEETING_CHANNEL
    )
    wait_for(lambda: bot.slack.calls_to("response_url"))
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
