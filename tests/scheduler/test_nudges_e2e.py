"""A new user's week of reminders, end to end: /commit over signed HTTP, scheduler passes at
chosen instants, the DMs that reach Slack, and the buttons clicked in those DMs. (Several
commitments in one morning message: tests/scheduler/test_morning_message.py.)"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.followup.scheduler import run_pass
from bot.slack import ids
from storage.models import Commitment, OutboxMessage, Person, Team
from tests.helpers import add_late_indicator, all_text, wait_for

CHANNEL = "C0MEETING"
NY = ZoneInfo("America/New_York")


def ny(day, hour, minute=0, month=11):
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def tick(bot, at):
    """One scheduler pass at `at` (the business clock moves there too, as in production)."""
    bot.clock.now = at
    report = run_pass(bot.services, now=at, per_channel_interval=0)
    assert not report.errors, report.summary()
    return report


def dms(bot, user="U0MARIA"):
    return bot.slack.messages(user)


def make(bot, text, user="U0MARIA"):
    """/commit over signed HTTP: the new commitment once its confirmation is in the channel; never
    the one made before it (this one's message can be posted before its ts is stored)."""
    with bot.services.sessions() as session:
        before = session.scalar(select(func.max(Commitment.id))) or 0
    answer = bot.driver.command("/commit", text, user=user, channel=CHANNEL)
    assert answer.status == 200

    def confirmed() -> Commitment | None:
        # A fresh session each time: one open read transaction would keep an old snapshot.
        with bot.services.sessions() as session:
            return session.scalars(
                select(Commitment).where(Commitment.id > before, Commitment.message_ts.is_not(None))
            ).first()

    return wait_for(confirmed)


def stored(bot, commitment_id):
    with bot.services.sessions() as session:
        return session.get(Commitment, commitment_id)


def dm_channel(bot, message):
    """The DM conversation a message was posted in (as Slack puts it in a click's payload)."""
    for call in bot.slack.calls_to("chat.postMessage"):
        if isinstance(call.response, dict) and call.response.get("ts") == message["ts"]:
            return call.response["channel"]
    raise AssertionError("that message was not posted")


def click_in_dm(bot, action_id, commitment_id, message, *, user="U0MARIA", **kwargs):
    """A click on a commitment's line in the DM `message` (a reminder or a morning message),
    with the payload Slack sends: a button's value is the commitment's id unless given."""
    if "selected_option" not in kwargs:
        kwargs.setdefault("value", str(commitment_id))
    return bot.driver.click(
        action_id,
        user=user,
        block_id=f"commitment-{commitment_id}",
        channel=dm_channel(bot, message),
        message_ts=message["ts"],
        **kwargs,
    )


def buttons(message):
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def no_public_holidays(bot, team_id: str) -> None:
    """For the tests of the reminder rhythm itself: Thanksgiving (Thu Nov 26, this week) is left
    to test_team_quiet_hours_and_holidays_hold_reminders."""
    with bot.services.sessions.begin() as session:
        session.get(Team, team_id).holiday_country = "none"


def test_a_week_of_reminders_for_a_commitment_due_wednesday(bot):
    commitment = make(bot, "Send the naloxone report by Wednesday")  # Mon Nov 23, 10:00 NY
    no_public_holidays(bot, commitment.team_id)
    assert commitment.due_at.astimezone(NY).date().isoformat() == "2026-11-25"

    assert tick(bot, ny(23, 16)).planned_nudges == 0  # Monday: nothing yet
    assert dms(bot) == []

    report = tick(bot, ny(24, 10, 30))  # Tuesday 10:30 New York
    assert report.summary() == "planned 1 nudge, 0 digests; sent 1, retrying 0, failed 0"
    [first] = dms(bot)
    seen = all_text(first)
    assert "*due tomorrow*" in seen
    assert f"#{commitment.id}" in seen and "Send the naloxone report" in seen
    assert "due Wed, Nov 25, 2026" in seen
    assert "Mark it done, change the date or snooze it and I'll stop." in seen
    assert [e["action_id"] for e in buttons(first)] == list(ids.ACTIONS)

    tick(bot, ny(24, 10, 31))  # a second pass a minute later
    tick(bot, ny(24, 10, 30))  # and one back in time
    assert len(dms(bot)) == 1

    tick(bot, ny(25, 10, 30))
    assert len(dms(bot)) == 2
    assert "*due today*" in all_text(dms(bot)[-1])

    tick(bot, ny(26, 10, 30))
    assert len(dms(bot)) == 3
    overdue = dms(bot)[-1]
    assert "*1 day overdue*" in all_text(overdue)

    # Done, clicked in the DM itself: its line changes in place, the channel message too.
    answer = click_in_dm(bot, ids.COMMIT_DONE, commitment.id, overdue)
    assert answer.status == 200
    wait_for(lambda: "✓ Done — " in all_text(bot.slack.message("U0MARIA", overdue["ts"])))
    assert not buttons(bot.slack.message("U0MARIA", overdue["ts"]))
    wait_for(lambda: "✅ Done" in all_text(bot.slack.message(CHANNEL, commitment.message_ts)))
    assert stored(bot, commitment.id).status == "done"

    for day, month in [(27, 11), (30, 11), (1, 12), (2, 12), (3, 12), (10, 12)]:
        tick(bot, ny(day, 10, 30, month=month))
    assert len(dms(bot)) == 3
    assert not bot.slack.messages("U0LEE")


def test_snooze_from_the_dm_stops_reminders_until_it_ends(bot):
    commitment = make(bot, "Send the naloxone report by Wednesday")
    no_public_holidays(bot, commitment.team_id)
    tick(bot, ny(24, 10, 30))
    [reminder] = dms(bot)
    click_in_dm(
        bot, ids.COMMIT_SNOOZE, commitment.id, reminder, selected_option=f"{commitment.id}:3"
    )
    wait_for(lambda: stored(bot, commitment.id).snoozed_until is not None)
    wait_for(
        lambda: (
            "💤 Snoozed until Fri, Nov 27" in all_text(bot.slack.message("U0MARIA", reminder["ts"]))
        )
    )
    # Snoozed until Fri Nov 27: Wednesday's and Thursday's reminders are skipped; Friday has
    # none (overdue reminders come every other working day); Monday's is the next.
    for day in (25, 26, 27):
        tick(bot, ny(day, 10, 30))
    assert len(dms(bot)) == 1
    tick(bot, ny(30, 9, 30))
    assert len(dms(bot)) == 2
    assert "*5 days overdue*" in all_text(dms(bot)[-1])


def test_a_day_snoozed_on_the_day_before_still_brings_the_due_date_reminder(bot):
    # Tuesday 10:30, "due tomorrow": snoozed for a day, until Wednesday 10:30. Wednesday's 09:00
    # "due today" comes all the same: a snooze ends on a day, not at the minute it was clicked.
    commitment = make(bot, "Send the naloxone report by Wednesday")
    no_public_holidays(bot, commitment.team_id)
    tick(bot, ny(24, 10, 30))
    [reminder] = dms(bot)
    click_in_dm(
        bot, ids.COMMIT_SNOOZE, commitment.id, reminder, selected_option=f"{commitment.id}:1"
    )
    wait_for(
        lambda: (
            "💤 Snoozed until Wed, Nov 25" in all_text(bot.slack.message("U0MARIA", reminder["ts"]))
        )
    )
    tick(bot, ny(24, 16, 0))
    assert len(dms(bot)) == 1  # quiet for the rest of Tuesday
    tick(bot, ny(25, 9, 30))
    assert len(dms(bot)) == 2
    assert "*due today*" in all_text(dms(bot)[-1])


def test_moving_the_date_from_the_dm_replans_the_reminders(bot):
    commitment = make(bot, "Send the naloxone report by Wednesday")
    tick(bot, ny(24, 10, 30))
    [reminder] = dms(bot)
    bot.driver.click(
        ids.COMMIT_MOVE,
        user="U0MARIA",
        block_id=f"commitment-{commitment.id}",
        selected_date="2026-12-07",
        channel=dm_channel(bot, reminder),
        message_ts=reminder["ts"],
    )
    wait_for(lambda: stored(bot, commitment.id).due_version == 2)
    wait_for(
        lambda: (
            "📅 Now due *Mon, Dec 7, 2026*"
            in all_text(bot.slack.message("U0MARIA", reminder["ts"]))
        )
    )
    for day, month in [(25, 11), (26, 11), (27, 11), (30, 11), (1, 12), (2, 12), (3, 12)]:
        tick(bot, ny(day, 10, 30, month=month))
    assert len(dms(bot)) == 1  # nothing until the Friday before the new date
    tick(bot, ny(4, 10, 30, month=12))
    assert len(dms(bot)) == 2
    assert "*due Monday*" in all_text(dms(bot)[-1])
    assert "Mon, Dec 7, 2026" in all_text(dms(bot)[-1])


def test_each_owner_is_reminded_at_nine_in_their_own_zone_and_the_creator_is_told_once(bot):
    commitment = make(bot, "<@U0LEE|lee> <@U0KIM|kim> Send the naloxone report by Wednesday")
    # Kim (Auckland) is reminded at 09:00 Tuesday Auckland time = 15:00 Monday in New York.
    tick(bot, ny(23, 14, 30))
    assert dms(bot, "U0KIM") == []
    tick(bot, ny(23, 15, 5))
    assert len(dms(bot, "U0KIM")) == 1
    assert dms(bot, "U0LEE") == []
    tick(bot, ny(24, 11, 30))  # 08:30 in Los Angeles
    assert dms(bot, "U0LEE") == []
    tick(bot, ny(24, 12, 5))  # 09:05 in Los Angeles
    assert len(dms(bot, "U0LEE")) == 1
    assert "*due tomorrow*" in all_text(dms(bot, "U0LEE")[0])
    assert dms(bot, "U0MARIA") == []  # Maria logged it but does not own it
    # A week overdue: Maria (the creator) is told once, on Wed Dec 2 at 09:00 New York.
    for day, month in [(1, 12), (2, 12), (3, 12), (4, 12), (9, 12)]:
        tick(bot, ny(day, 9, 30, month=month))
    [notice] = dms(bot, "U0MARIA")
    assert "which you logged, is 7 days overdue" in all_text(notice)
    assert "<@U0LEE>, <@U0KIM>" in all_text(notice)
    with bot.services.sessions() as session:
        keys = session.scalars(select(OutboxMessage.idempotency_key)).all()
    assert f"creator:{commitment.id}:1" in keys


def test_team_quiet_hours_and_holidays_hold_reminders(bot):
    commitment = make(bot, "Send the naloxone report by Wednesday")
    with bot.services.sessions.begin() as session:
        team = session.get(Team, commitment.team_id)
        team.quiet_start, team.quiet_end = 20, 10  # nothing before 10:00
        team.holidays = ["2026-11-25"]
    tick(bot, ny(24, 9, 30))
    assert dms(bot) == []
    tick(bot, ny(24, 10, 0))
    assert len(dms(bot)) == 1
    tick(bot, ny(25, 10, 30))  # the due date is a holiday: no "due today"
    assert len(dms(bot)) == 1
    tick(bot, ny(26, 10, 30))  # Thanksgiving: a US federal holiday, a day off by default
    assert len(dms(bot)) == 1
    tick(bot, ny(27, 10, 30))  # the first working day after the due date
    assert len(dms(bot)) == 2
    assert "overdue" in all_text(dms(bot)[-1])


def test_a_late_data_steward_is_nudged(bot):
    # Lee was named steward in the catalog and has never used the bot: the scheduler asks
    # Slack where he lives (Los Angeles) rather than nudging at 9:00 New York, 6:00 his time.
    add_late_indicator(bot.services.sessions, "T0COALITION", now=bot.clock())
    # July's value is expected by the end of November (July + 4 months): late from Tue Dec 1.
    tick(bot, ny(30, 12, 30))
    assert dms(bot, "U0LEE") == []
    tick(bot, ny(1, 10, 30, month=12))  # 07:30 in Los Angeles: too early
    assert dms(bot, "U0LEE") == []
    with bot.services.sessions() as session:
        assert session.get(Person, ("T0COALITION", "U0LEE")).time_zone == "America/Los_Angeles"
    tick(bot, ny(1, 12, 30, month=12))  # 09:30 in Los Angeles
    [nudge] = dms(bot, "U0LEE")
    seen = all_text(nudge)
    assert (
        "No value yet for *Maryland overdose deaths*, Jul 2026: it was expected by Mon, Nov 30, 2026"
        in seen
    )
    assert "/indicator set md-overdose-deaths <value> for 2026-07" in seen
    tick(bot, ny(1, 13, 30, month=12))
    assert len(dms(bot, "U0LEE")) == 1
