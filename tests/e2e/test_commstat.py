"""/commstat end to end: signed requests in; what the channel and the asker see; what is stored."""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from storage.models import (
    Commitment,
    CommitmentOwner,
    OutboxMessage,
    OutboxStatus,
    Person,
    Schedule,
    Team,
)
from storage.repositories import ensure_team
from tests.helpers import wait_for

CHANNEL = "C0MEETING"
TEAM = "T0COALITION"
NY = ZoneInfo("America/New_York")


def replies(bot):
    return [c.params for c in bot.slack.calls_to("response_url")]


def send(bot, text, user="U0MARIA", channel=CHANNEL, **kwargs):
    answer = bot.driver.command("/commstat", text, user=user, channel=channel, **kwargs)
    assert answer.status == 200
    assert answer.seconds < 3
    return answer


def ask(bot, text, user="U0MARIA", channel=CHANNEL):
    """A command whose answer comes privately through the response URL."""
    before = len(replies(bot))
    send(bot, text, user=user, channel=channel)
    reply = wait_for(lambda: len(replies(bot)) > before and replies(bot)[-1])
    assert reply.get("response_type") == "ephemeral"
    return reply["text"]


def announce(bot, text, user="U0MARIA", channel=CHANNEL):
    """A command whose answer is posted in the channel."""
    before = len(bot.slack.messages(channel))
    send(bot, text, user=user, channel=channel)
    return wait_for(
        lambda: len(bot.slack.messages(channel)) > before and bot.slack.messages(channel)[-1]
    )["text"]


def schedules(bot):
    with bot.services.sessions() as session:
        return session.scalars(select(Schedule).order_by(Schedule.id)).all()


def team(bot):
    with bot.services.sessions() as session:
        return session.get(Team, TEAM)


def quiet(bot, seconds=0.3):
    """Give the bot time to (not) do something."""
    time.sleep(seconds)


# --- meetings ---------------------------------------------------------------------------------


def test_setting_a_meeting_confirms_it_in_the_channel_in_words(bot):
    said = announce(bot, "meeting every Thursday at 10am")
    assert said.startswith(
        "CommStat meeting for <#C0MEETING>: every Thursday at 10:00 AM New York time. "
        "Next: Thu, Nov 26, 2026 at 10:00 AM. The digest will be posted here 24 hours before "
        "(Wed, Nov 25 at 10:00 AM)."
    )
    assert "Set by <@U0MARIA>" in said
    [stored] = schedules(bot)
    assert (stored.kind, stored.channel_id, stored.digest_lead_minutes) == (
        "meeting",
        CHANNEL,
        1440,
    )
    assert stored.dtstart == datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    assert stored.next_run_at is None


def test_replacing_a_meeting_says_what_it_replaced_and_keeps_one(sqlite_bot):
    announce(sqlite_bot, "meeting every other Tuesday at 9:30")
    said = announce(sqlite_bot, "meeting first Monday of the month at 2pm")
    assert "the first Monday of every month at 2:00 PM New York time" in said
    assert "Next: Mon, Dec 7, 2026 at 2:00 PM" in said
    assert (
        "(This replaces the previous meeting: every other Tuesday at 9:30 AM New York time.)"
        in said
    )
    assert len(schedules(sqlite_bot)) == 1


def test_an_unreadable_meeting_gets_help_and_nothing_is_stored(sqlite_bot):
    said = ask(sqlite_bot, "meeting whenever the mayor can")
    assert "I couldn't read `whenever the mayor can` as a meeting time" in said
    assert "`/commstat meeting every other Tuesday at 9:30`" in said
    said = ask(sqlite_bot, "meeting every Thursday")
    assert "I need a time of day" in said
    assert schedules(sqlite_bot) == []
    assert sqlite_bot.slack.messages(CHANNEL) == []


def test_meeting_off_removes_it_and_says_so(sqlite_bot):
    said = ask(sqlite_bot, "meeting off")
    assert said == "<#C0MEETING> has no CommStat meeting, so there is nothing to stop."
    announce(sqlite_bot, "meeting every Thursday at 10am")
    said = announce(sqlite_bot, "meeting off")
    assert said.startswith(
        "The CommStat meeting for <#C0MEETING> (every Thursday at 10:00 AM New York time) "
        "is removed"
    )
    assert schedules(sqlite_bot) == []


def test_only_whoever_set_the_meeting_or_an_admin_changes_or_stops_it(sqlite_bot):
    announce(sqlite_bot, "meeting every Thursday at 10am")  # Maria sets the first one
    announce(sqlite_bot, "weekly digest Monday 9am")
    for text in ("meeting every Friday at 3pm", "meeting off", "digest 2 hours before"):
        said = ask(sqlite_bot, text, user="U0SAM")
        assert said == (
            "Only <@U0MARIA>, who set this channel's CommStat meeting, or a coalition admin can "
            "change or stop it. Nothing was changed."
        )
    assert "who set this channel's weekly digest" in ask(
        sqlite_bot, "weekly digest off", user="U0SAM"
    )
    meeting, weekly = schedules(sqlite_bot)
    assert "BYDAY=TH" in meeting.rrule and meeting.digest_lead_minutes == 1440
    assert weekly.kind == "weekly_digest"
    said = announce(sqlite_bot, "meeting every Friday at 3pm", user="U0ADMIN")
    assert "every Friday at 3:00 PM New York time" in said


def test_meeting_alone_shows_the_current_one(sqlite_bot):
    assert "has no CommStat meeting yet" in ask(sqlite_bot, "meeting")
    announce(sqlite_bot, "meeting every Thursday at 10am")
    said = ask(sqlite_bot, "meeting")
    assert "every Thursday at 10:00 AM New York time. Next: Thu, Nov 26, 2026" in said


def test_a_channel_the_bot_cannot_post_in_gets_the_confirmation_in_place(sqlite_bot):
    sqlite_bot.slack.set_error("chat.postMessage", "not_in_channel", channel="C0PRIVATE")
    before = len(replies(sqlite_bot))
    send(sqlite_bot, "meeting every Thursday at 10am", channel="C0PRIVATE")
    reply = wait_for(lambda: len(replies(sqlite_bot)) > before and replies(sqlite_bot)[-1])
    assert reply["response_type"] == "in_channel"
    assert reply["text"].startswith("CommStat meeting for <#C0PRIVATE>: every Thursday")


# --- digest lead time, weekly digest ----------------------------------------------------------


def test_digest_lead_needs_a_meeting_and_is_confirmed_with_the_next_time(bot):
    said = ask(bot, "digest 2 hours before")
    assert "has no CommStat meeting yet" in said
    assert schedules(bot) == []
    announce(bot, "meeting every Thursday at 10am")
    said = ask(bot, "digest 2 hours before")
    assert said == (
        "The pre-meeting digest for <#C0MEETING> will now be posted 2 hours before each meeting. "
        "Next: Thu, Nov 26 at 8:00 AM, for the meeting on Thu, Nov 26, 2026 at 10:00 AM "
        "New York time."
    )
    assert schedules(bot)[0].digest_lead_minutes == 120


def test_moving_the_lead_after_the_digest_went_out_does_not_promise_a_second_one(sqlite_bot):
    from bot.followup.scheduler import run_pass

    announce(sqlite_bot, "meeting every Thursday at 10am")
    sqlite_bot.clock.now = datetime(2026, 11, 25, 10, 30, tzinfo=NY)  # Wednesday: digest is out
    run_pass(sqlite_bot.services, now=sqlite_bot.clock(), per_channel_interval=0)
    posted = len(sqlite_bot.slack.messages(CHANNEL))
    said = ask(sqlite_bot, "digest 2 hours before")
    assert "Next: Thu, Dec 3 at 8:00 AM, for the meeting on Thu, Dec 3, 2026 at 10:00 AM" in said
    assert "(The digest for the meeting on Thu, Nov 26 at 10:00 AM was already posted" in said
    sqlite_bot.clock.now = datetime(2026, 11, 26, 8, 30, tzinfo=NY)
    run_pass(sqlite_bot.services, now=sqlite_bot.clock(), per_channel_interval=0)
    assert len(sqlite_bot.slack.messages(CHANNEL)) == posted


def test_digest_lead_out_of_bounds_is_refused_and_nothing_changes(sqlite_bot):
    announce(sqlite_bot, "meeting every Thursday at 10am")
    for phrase in ("digest 5 minutes before", "digest 2 weeks before"):
        assert "between 10 minutes and 7 days" in ask(sqlite_bot, phrase)
    assert "`/commstat digest 30 minutes before`" in ask(sqlite_bot, "digest whenever")
    assert schedules(sqlite_bot)[0].digest_lead_minutes == 1440


def test_weekly_digest_on_and_off(bot):
    said = announce(bot, "weekly digest Monday 9am")
    assert said.startswith(
        "Weekly CommStat digest for <#C0MEETING>: every Monday at 9:00 AM New York time. "
        "Next: Mon, Nov 30, 2026 at 9:00 AM."
    )
    [stored] = schedules(bot)
    assert stored.kind == "weekly_digest"
    said = announce(bot, "weekly digest off")
    assert "weekly CommStat digest for <#C0MEETING>" in said and "is stopped" in said
    assert schedules(bot) == []


def test_weekly_digest_refusals_store_nothing(sqlite_bot):
    assert "once a week" in ask(sqlite_bot, "weekly digest every other Monday at 9")
    assert "weekly digest Monday 9am" in ask(sqlite_bot, "weekly digest someday")
    assert "When?" in ask(sqlite_bot, "weekly digest")
    assert "nothing to stop" in ask(sqlite_bot, "weekly digest off")
    assert schedules(sqlite_bot) == []


# --- digest now -------------------------------------------------------------------------------


def make_commitments(bot):
    now = bot.clock()
    with bot.services.sessions.begin() as session:
        ensure_team(session, TEAM, time_zone="America/New_York", now=now)
        for text, owner, due in [
            ("Open the Saturday clinic", "U0LEE", now - timedelta(days=9)),
            ("Call the shelter", "U0SAM", now + timedelta(days=2)),
        ]:
            c = Commitment(
                team_id=TEAM,
                text=text,
                due_at=due,
                time_zone="America/New_York",
                created_at=now - timedelta(days=20),
                creator_id="U0MARIA",
                channel_id="C0OTHER",
            )
            c.owners = [CommitmentOwner(user_id=owner, team_id=TEAM, position=0)]
            session.add(c)


def test_digest_now_posts_the_digest_here_once(bot):
    make_commitments(bot)
    payload = bot.driver.command_payload("/commstat", "digest now", user="U0MARIA", channel=CHANNEL)
    assert bot.driver.send_form(payload).status == 200
    message = wait_for(lambda: bot.slack.messages(CHANNEL) and bot.slack.messages(CHANNEL)[-1])
    blocks = message["blocks"]
    assert blocks[0]["text"]["text"] == "CommStat digest — Mon, Nov 23, 2026"
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert "*Open the Saturday clinic* " not in sections[1]
    assert (
        "Open the Saturday clinic — <@U0LEE> · due Sat, Nov 14, 2026 · *9 days late* · ⚑"
        in sections[1]
    )
    assert "Call the shelter — <@U0SAM> · due Wed, Nov 25, 2026" in sections[2]
    assert bot.driver.send_form(payload, retry_num=1).status == 200  # Slack retries the command
    quiet(bot, 0.5)
    assert len(bot.slack.messages(CHANNEL)) == 1
    with bot.services.sessions() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    assert [(r.kind, r.status) for r in rows] == [("digest", OutboxStatus.SENT)]


def test_digest_now_with_a_meeting_names_it(sqlite_bot):
    announce(sqlite_bot, "meeting every Thursday at 10am")
    send(sqlite_bot, "digest now")
    message = wait_for(
        lambda: (
            len(sqlite_bot.slack.messages(CHANNEL)) > 1 and sqlite_bot.slack.messages(CHANNEL)[-1]
        )
    )
    assert message["blocks"][0]["text"]["text"] == "CommStat digest — meeting Thu, Nov 26, 10:00 AM"


def test_digest_now_where_the_bot_is_not_a_member_says_how_to_fix_it(sqlite_bot):
    sqlite_bot.slack.set_error("chat.postMessage", "not_in_channel", channel=CHANNEL)
    said = ask(sqlite_bot, "digest now")
    assert said.startswith("I couldn't post the digest here.")
    assert "`/invite @CommStat`" in said
    shown = ask(sqlite_bot, "settings")
    assert (
        "*Delivery problems* (messages I could not send, or held back because they were no longer true)"
        in shown
    )
    assert "• digest to <#C0MEETING> on Mon, Nov 23, 2026 at 10:00 AM: " in shown
    assert "not_in_channel" in shown


# --- settings ---------------------------------------------------------------------------------


def test_settings_are_shown_to_anyone(bot):
    announce(bot, "meeting every Thursday at 10am")
    said = ask(bot, "settings")
    assert "• Time zone: *New York time* (`America/New_York`)" in said
    assert "at *9:00 AM* in each person's own time zone, on *Mon–Fri*" in said
    assert "overdue reminders every *2* working days" in said
    assert "• Quiet hours: *off*" in said
    assert "• Coalition admins: none yet" in said
    assert "• Meeting in <#C0MEETING>: every Thursday at 10:00 AM New York time" in said
    assert "• Delivery problems: none" in said


def test_a_non_admin_cannot_change_settings_and_nothing_changes(bot):
    ask(bot, "settings", user="U0LEE")
    said = ask(bot, "settings nudge hour 8", user="U0LEE")
    assert "Only coalition admins and Slack workspace admins can change CommStat settings" in said
    assert "Nothing was changed" in said
    assert team(bot).nudge_hour == 9


def test_a_slack_admin_changes_settings_and_each_is_confirmed_in_words(bot):
    announce(bot, "meeting every Thursday at 10am")
    with bot.services.sessions.begin() as session:
        session.get(Schedule, schedules(bot)[0].id).next_run_at = bot.clock()
    admin = "U0ADMIN"
    assert ask(bot, "settings nudge hour 8", user=admin).startswith(
        "Nudges now go out at 8:00 AM in each person's own time zone."
    )
    assert ask(bot, "settings nudge every 3 days", user=admin).startswith(
        "Overdue commitments are now nudged every 3 working days."
    )
    assert ask(bot, "settings nudge cadence 3", user=admin).startswith(
        "Overdue commitments are now nudged every 3 working days."
    )
    assert ask(bot, "settings quiet hours 19-7", user=admin).startswith(
        "Quiet hours are now 7:00 PM to 7:00 AM"
    )
    assert ask(bot, "settings working days sun-thu", user=admin).startswith(
        "Working days are now Sun–Thu"
    )
    assert ask(bot, "settings time zone America/Chicago", user=admin).startswith(
        "The coalition's time zone is now America/Chicago."
    )
    assert ask(bot, "settings holidays add Dec 24", user=admin).startswith(
        "Now a holiday: Thu, Dec 24, 2026 (no nudges on holidays)."
    )
    assert ask(bot, "settings default geography MD", user=admin).startswith(
        "Indicators with several places now show MD"
    )
    stored = team(bot)
    assert (stored.nudge_hour, stored.overdue_every_days) == (8, 3)
    assert (stored.quiet_start, stored.quiet_end) == (19, 7)
    assert stored.working_days == ["mon", "tue", "wed", "thu", "sun"]
    assert stored.time_zone == "America/Chicago"
    assert stored.holidays == ["2026-12-24"]
    assert stored.default_geography == "MD"
    assert schedules(bot)[0].next_run_at is None  # digest times are worked out again
    assert ask(bot, "settings quiet hours off", user=admin).startswith("Quiet hours are off.")
    assert ask(bot, "settings holidays remove 2026-12-24", user=admin).startswith(
        "No longer a holiday: Thu, Dec 24, 2026"
    )


def test_public_holidays_apply_by_default_and_an_admin_can_turn_them_off(sqlite_bot):
    admin = "U0ADMIN"
    shown = ask(sqlite_bot, "settings", user=admin)
    assert "Holidays: *US public holidays* — next: Thu, Nov 26 (Thanksgiving Day)" in shown
    said = ask(sqlite_bot, "settings holidays off Nov 26", user=admin)
    assert said.startswith("No longer a holiday: Thu, Nov 26, 2026")
    assert "Next: Fri, Dec 25 (Christmas Day)" in said
    assert team(sqlite_bot).holidays_off == ["2026-11-26"]
    assert "except Thu, Nov 26, 2026" in ask(sqlite_bot, "settings", user=admin)
    assert ask(sqlite_bot, "settings holidays on Nov 26", user=admin).startswith(
        "Now a holiday: Thu, Nov 26, 2026"
    )
    assert team(sqlite_bot).holidays_off == []
    assert ask(sqlite_bot, "settings holidays country none", user=admin).startswith(
        "Public holidays are off"
    )
    assert "Holidays: no public holidays — none coming" in ask(sqlite_bot, "settings", user=admin)


def test_bad_settings_are_refused_specifically_and_nothing_changes(sqlite_bot):
    admin = "U0ADMIN"
    assert "I don't know the time zone `Mars/Olympus`" in ask(
        sqlite_bot, "settings time zone Mars/Olympus", user=admin
    )
    assert "every 1 to 5 working days" in ask(
        sqlite_bot, "settings nudge every 30 days", user=admin
    )
    assert "as quiet hours" in ask(sqlite_bot, "settings quiet hours late", user=admin)
    assert "as days of the week" in ask(sqlite_bot, "settings working days funday", user=admin)
    assert "like `Dec 31`" in ask(sqlite_bot, "settings holidays add Christmas", user=admin)
    assert "is not a holiday here" in ask(
        sqlite_bot, "settings holidays remove 2026-07-08", user=admin
    )
    assert "I don't know the public holidays of `XX`" in ask(
        sqlite_bot, "settings holidays country xx", user=admin
    )
    said = ask(sqlite_bot, "settings colour blue", user=admin)
    assert "I don't know the setting `colour blue`" in said
    assert "`/commstat settings nudge hour 8`" in said
    ask(sqlite_bot, "settings quiet hours 19-7", user=admin)
    assert "inside quiet hours" in ask(sqlite_bot, "settings nudge hour 21", user=admin)
    stored = team(sqlite_bot)
    assert stored.time_zone == "America/New_York"
    assert (stored.overdue_every_days, stored.nudge_hour) == (2, 9)
    assert stored.working_days == ["mon", "tue", "wed", "thu", "fri"]
    assert stored.holidays == []


def test_removing_a_workspace_admin_from_the_list_says_they_keep_the_right(sqlite_bot):
    ask(sqlite_bot, "settings admin add <@U0LEE|lee>", user="U0ADMIN")
    said = ask(sqlite_bot, "settings admin remove <@U0ADMIN|pat> <@U0LEE|lee>", user="U0LEE")
    assert said.startswith(
        "<@U0ADMIN>, <@U0LEE> are no longer on the coalition's admin list. "
        "<@U0ADMIN> can still change settings as a Slack workspace admin."
    )


@pytest.mark.parametrize(
    ("said", "zone"),
    [
        ("EST", "America/New_York"),
        ("Central", "America/Chicago"),
        ("pacific time", "America/Los_Angeles"),
    ],
)
def test_us_zone_abbreviations_mean_the_city_clock_with_daylight_saving(sqlite_bot, said, zone):
    answer = ask(sqlite_bot, f"settings time zone {said}", user="U0ADMIN")
    assert answer.startswith(f"The coalition's time zone is now {zone}.")
    assert team(sqlite_bot).time_zone == zone


def test_admins_can_be_added_and_then_change_settings(sqlite_bot):
    said = ask(sqlite_bot, "settings admin add <@U0LEE|lee>", user="U0ADMIN")
    assert said.startswith("<@U0LEE> can now change CommStat settings.")
    assert ask(sqlite_bot, "settings nudge hour 10", user="U0LEE").startswith(
        "Nudges now go out at 10:00 AM"
    )
    refused = ask(sqlite_bot, "settings nudge hour 11", user="U0SAM")
    assert "Only coalition admins (<@U0LEE>) and Slack workspace admins" in refused
    assert "can't find <@U0NOBODY>" in ask(
        sqlite_bot, "settings admin add <@U0NOBODY|ghost>", user="U0LEE"
    )
    ask(sqlite_bot, "settings admin remove <@U0LEE|lee>", user="U0ADMIN")
    assert "Only coalition admins" in ask(sqlite_bot, "settings nudge hour 11", user="U0LEE")
    assert team(sqlite_bot).nudge_hour == 10


# --- organisations and the report -------------------------------------------------------------


def test_org_is_for_admins_and_feeds_the_report(sqlite_bot):
    refused = ask(sqlite_bot, "org <@U0LEE|lee> Health Department", user="U0SAM")
    assert "Only coalition admins" in refused
    said = ask(sqlite_bot, "org <@U0LEE|lee> Health Department", user="U0ADMIN")
    assert said == "<@U0LEE> is now with *Health Department* in on-time reports."
    with sqlite_bot.services.sessions() as session:
        assert session.get(Person, (TEAM, "U0LEE")).organisation == "Health Department"
    assert "Say whose organisation" in ask(sqlite_bot, "org Health", user="U0ADMIN")
    before = len(replies(sqlite_bot))
    send(sqlite_bot, "report last 90 days")
    reply = wait_for(lambda: len(replies(sqlite_bot)) > before and replies(sqlite_bot)[-1])
    assert reply["text"] == "On-time report, last 90 days"
    assert reply["blocks"]
    assert "Say which period" in ask(sqlite_bot, "report yesterday-ish")


@pytest.mark.parametrize("text", ["dance", "meetings every day", "digest"])
def test_anything_else_gets_an_answer(sqlite_bot, text):
    said = ask(sqlite_bot, text)
    assert said
    if text != "digest":
        assert said.startswith(f"Sorry, I didn't understand `/commstat {text}`.")
    else:
        assert "has no CommStat meeting yet" in said


def test_help(sqlite_bot):
    answer = send(sqlite_bot, "help")
    assert "/commstat meeting every Thursday at 10am" in answer.json()["text"]


def test_a_name_that_arrives_without_its_user_id_is_explained(sqlite_bot):
    said = ask(sqlite_bot, "settings admin add @lee", user="U0ADMIN")
    assert "I couldn't tell who `@lee` is" in said
    said = ask(sqlite_bot, "org @lee Health Department", user="U0ADMIN")
    assert "I couldn't tell who `@lee` is" in said
    with sqlite_bot.services.sessions() as session:
        assert session.scalars(select(Person).where(Person.is_admin.is_(True))).all() == []


def test_slack_is_asked_about_people_before_any_transaction_opens(sqlite_bot):
    """On SQLite a write transaction holds the only write lock: a slow `users.info` inside one
    would hold back every other command and the scheduler (and none is asked inside a read)."""
    engine = sqlite_bot.services.engine
    opened: dict[int, float] = {}
    spans: list[tuple[float, float]] = []

    def began(conn):
        opened[id(conn)] = time.monotonic()

    def ended(conn):
        spans.append((opened.pop(id(conn), time.monotonic()), time.monotonic()))

    listeners = [("begin", began), ("commit", ended), ("rollback", ended)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        ask(sqlite_bot, "settings admin add <@U0LEE|lee>", user="U0ADMIN")
        ask(sqlite_bot, "org <@U0SAM|sam> Police", user="U0LEE")
        announce(sqlite_bot, "meeting every Thursday at 10am", user="U0KIM")
        ask(sqlite_bot, "settings", user="U0MARIA")
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    asked = [call.at for call in sqlite_bot.slack.calls_to("users.info")]
    assert len(asked) == 5  # each person once: the admin, lee, sam, kim, maria
    assert spans
    assert [at for at in asked for start, end in spans if start < at < end] == []
