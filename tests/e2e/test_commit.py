"""/commit end to end: signed requests in, what partners see in Slack out, and the database."""

import threading
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.web.base_client import BaseClient
from slack_sdk.webhook import WebhookClient
from sqlalchemy import event, func, select

from bot.usecases.indicators import done_markers
from storage.models import Commitment, CommitmentEvent, CommitmentIndicator, Indicator, Team
from tests.helpers import all_text, wait_for

CHANNEL = "C0MEETING"
NY = ZoneInfo("America/New_York")


def replies(bot):
    """What the bot said through response URLs (ephemeral answers to one person)."""
    return [c.params for c in bot.slack.calls_to("response_url")]


def last_reply(bot, count_before=0):
    return wait_for(lambda: replies(bot)[count_before:] and replies(bot)[-1])


def channel_messages(bot, channel=CHANNEL):
    return bot.slack.messages(channel)


def stored(bot):
    with bot.services.sessions() as session:
        return session.scalars(select(Commitment).order_by(Commitment.id)).all()


def events(bot, kind=None):
    with bot.services.sessions() as session:
        query = select(CommitmentEvent).order_by(CommitmentEvent.id)
        if kind:
            query = query.where(CommitmentEvent.kind == kind)
        return session.scalars(query).all()


def commit(bot, text, user="U0MARIA", channel=CHANNEL, **kwargs):
    answer = bot.driver.command("/commit", text, user=user, channel=channel, **kwargs)
    assert answer.status == 200
    assert answer.seconds < 3
    return answer


def ask(bot, text, user="U0MARIA", **kwargs):
    """Send a command and wait for the bot's private answer to it."""
    count = len(replies(bot))
    commit(bot, text, user=user, **kwargs)
    return last_reply(bot, count)


def make(bot, text, user="U0MARIA"):
    """Make a commitment and return (it, its confirmation message)."""
    before = len(channel_messages(bot))
    commit(bot, text, user=user)
    message = wait_for(lambda: len(channel_messages(bot)) > before and channel_messages(bot)[-1])
    wait_for(lambda: stored(bot) and stored(bot)[-1].message_ts)
    return stored(bot)[-1], message


def make_in(bot, text, *, channel):
    """Make a commitment in another channel and return it once its confirmation is posted."""
    before = len(stored(bot))
    commit(bot, text, channel=channel)
    return wait_for(
        lambda: len(stored(bot)) > before and stored(bot)[-1].message_ts and stored(bot)[-1]
    )


# --- making a commitment ------------------------------------------------------------------------


def test_a_partner_commits_in_one_line_and_the_channel_sees_it(bot):
    commitment, message = make(bot, "Distribute 200 naloxone kits by end of month")
    seen = all_text(message)
    assert f"#{commitment.id}" in seen
    assert "Distribute 200 naloxone kits" in seen
    assert "<@U0MARIA>" in seen
    assert "Mon, Nov 30, 2026" in seen
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [e["type"] for e in buttons] == ["button", "datepicker", "static_select", "button"]
    assert all_text({"blocks": [{"elements": buttons}]}).count("Done") == 1
    assert commitment.owner_ids == ["U0MARIA"]
    assert commitment.due_at.astimezone(NY) == datetime(2026, 11, 30, 17, 0, tzinfo=NY)
    assert commitment.message_ts == message["ts"]
    assert [e.kind for e in events(bot)] == ["created"]


@pytest.mark.parametrize(
    ("when", "shown"),
    [
        ("the 15th", "Tue, Dec 15, 2026"),
        ("in 2 weeks", "Mon, Dec 7, 2026"),
        ("Dec 4", "Fri, Dec 4, 2026"),
    ],
)
def test_due_dates_are_read_the_way_people_say_them(sqlite_bot, when, shown):
    text = f"Distribute 200 naloxone kits {'by ' if not when.startswith('in ') else ''}{when}"
    _, message = make(sqlite_bot, text)
    assert shown in all_text(message)


def test_a_date_in_the_past_is_refused_and_nothing_is_stored(bot):
    commit(bot, "Distribute 200 naloxone kits by yesterday")
    assert "in the past" in last_reply(bot)["text"]
    assert last_reply(bot).get("response_type") == "ephemeral"
    assert stored(bot) == []
    assert channel_messages(bot) == []


def test_no_date_gets_a_hint_with_examples_and_nothing_is_stored(bot):
    commit(bot, "Distribute 200 naloxone kits")
    text = last_reply(bot)["text"]
    assert "When is it due?" in text
    assert "by Friday" in text
    assert stored(bot) == []


def test_mentioned_people_own_it_and_the_date_is_read_in_the_first_owners_zone(bot):
    commitment, message = make(bot, "<@U0LEE|lee> <@U0SAM|sam> Open the Saturday clinic by Friday")
    assert commitment.owner_ids == ["U0LEE", "U0SAM"]
    assert commitment.creator_id == "U0MARIA"
    la = ZoneInfo("America/Los_Angeles")
    assert commitment.due_at.astimezone(la) == datetime(2026, 11, 27, 17, 0, tzinfo=la)
    assert "<@U0LEE>, <@U0SAM>" in all_text(message)


def test_an_unknown_owner_is_refused(bot):
    commit(bot, "<@U0NOBODY|ghost> Open the clinic by Friday")
    assert "can't find <@U0NOBODY>" in last_reply(bot)["text"]
    assert stored(bot) == []


@pytest.mark.parametrize(
    ("text", "who"),
    [
        ("@lee Fix the housing list by Friday", "@lee"),
        ("@lee, @sam Fix the housing list by Friday", "@lee"),
        ("<@U0SAM|sam> @lee Fix the housing list by Friday", "@lee"),
        ("<@U0SAM|sam> and @lee Fix the housing list", "@lee"),
    ],
)
def test_an_owner_typed_without_picking_them_from_slacks_list_is_refused(bot, text, who):
    said = ask(bot, text)
    assert f"I couldn't tell who `{who}` is" in said["text"]
    assert "pick the person from Slack's list" in said["text"]
    assert said["response_type"] == "ephemeral"
    assert stored(bot) == []
    assert channel_messages(bot) == []


def test_a_plain_name_inside_the_action_stays_text(bot):
    commitment, _ = make(bot, "Call @lee about the housing list by Friday")
    assert commitment.text == "Call @lee about the housing list"
    assert commitment.owner_ids == ["U0MARIA"]


def test_a_weekday_said_on_that_weekday_means_next_week(bot):  # the clock is Mon Nov 23
    _, message = make(bot, "Call the shelters by Monday")
    assert "Mon, Nov 30, 2026" in all_text(message)
    commitment, message = make(bot, "Call the clinic by Monday 5pm")
    assert commitment.due_at.astimezone(NY) == datetime(2026, 11, 30, 17, 0, tzinfo=NY)
    commitment, _ = make(bot, "Call the mayor by this Monday")
    assert commitment.due_at.astimezone(NY).date().isoformat() == "2026-11-23"


def test_a_tag_links_a_known_indicator_and_an_unknown_one_is_refused(bot):
    with bot.services.sessions.begin() as session:
        from storage.repositories import ensure_team

        ensure_team(session, "T0COALITION", time_zone="America/New_York", now=bot.clock())
        session.add(
            Indicator(
                team_id="T0COALITION",
                slug="naloxone",
                name="Naloxone dispensing rate",
                created_at=bot.clock(),
                updated_at=bot.clock(),
            )
        )
    commitment, message = make(bot, "Distribute 200 kits by Friday #naloxone")
    assert commitment.indicator_id is not None
    assert commitment.text == "Distribute 200 kits"
    assert "#naloxone" in all_text(message)
    said = ask(bot, "Distribute 200 kits by Friday #nalox0ne-typo")["text"]
    assert "I don't know the indicator #nalox0ne-typo" in said
    assert len(stored(bot)) == 1


def test_every_tag_links_its_indicator_and_a_tag_that_is_none_is_pointed_out(bot):
    with bot.services.sessions.begin() as session:
        from storage.repositories import ensure_team

        ensure_team(session, "T0COALITION", time_zone="America/New_York", now=bot.clock())
        for slug in ("naloxone", "overdoses"):
            session.add(
                Indicator(
                    team_id="T0COALITION",
                    slug=slug,
                    name=slug.title(),
                    created_at=bot.clock(),
                    updated_at=bot.clock(),
                )
            )
    count = len(replies(bot))
    commitment, message = make(
        bot, "Distribute 200 kits by Friday #naloxone #overdoses #eastside #naloxone"
    )
    said = last_reply(bot, count)["text"]
    assert (
        f"#{commitment.id} is linked to #naloxone and #overdoses: each of their charts will mark "
        "it when it is done." in said
    )
    assert "#eastside matches no single indicator here, so it was not linked" in said
    assert "#naloxone" in all_text(message)
    with bot.services.sessions() as session:
        links = session.execute(
            select(Indicator.slug, CommitmentIndicator.position)
            .join(Indicator, Indicator.id == CommitmentIndicator.indicator_id)
            .where(CommitmentIndicator.commitment_id == commitment.id)
            .order_by(CommitmentIndicator.position)
        ).all()
    assert [tuple(link) for link in links] == [("naloxone", 0), ("overdoses", 1)]

    # Done: both indicators' charts mark it (not only the first tag's).
    ask(bot, f"done {commitment.id}")
    with bot.services.sessions() as session:
        for slug in ("naloxone", "overdoses"):
            indicator = session.scalars(select(Indicator).where(Indicator.slug == slug)).one()
            markers = done_markers(session, indicator, date(2020, 1, 1), date(2030, 1, 1))
            assert [m.label for m in markers] == [f"#{commitment.id} done"], slug


def test_a_slack_retry_creates_nothing_twice(bot):
    payload = bot.driver.command_payload(
        "/commit", "Call the shelter by Friday", user="U0MARIA", channel=CHANNEL
    )
    assert bot.driver.send_form(payload).status == 200
    wait_for(lambda: stored(bot) and stored(bot)[-1].message_ts)
    assert bot.driver.send_form(payload, retry_num=1).status == 200
    time.sleep(0.3)
    assert len(stored(bot)) == 1
    assert len(channel_messages(bot)) == 1


def test_in_a_conversation_the_bot_cannot_post_to_it_answers_through_the_response_url(sqlite_bot):
    sqlite_bot.slack.set_error("chat.postMessage", "channel_not_found", channel="C0PRIVATE")
    commit(sqlite_bot, "Call the shelter by Friday", channel="C0PRIVATE")
    reply = last_reply(sqlite_bot)
    assert reply["response_type"] == "in_channel"
    assert "Call the shelter" in all_text(reply)
    assert len(stored(sqlite_bot)) == 1


# --- lists --------------------------------------------------------------------------------------


def test_lists_mine_someones_all_and_overdue(bot):
    make(bot, "Mine later by Dec 10")
    make(bot, "Mine sooner by Friday")
    make(bot, "Lee's by Dec 4", user="U0LEE")
    bot.clock.now = datetime(2026, 12, 8, 15, 0, tzinfo=ZoneInfo("UTC"))  # Dec 8: two are overdue

    def listed(text):
        return all_text(ask(bot, text))

    mine = listed("list")
    assert mine.index("Mine sooner") < mine.index("Mine later")
    assert "Lee's" not in mine
    assert "Lee's" in listed("list <@U0LEE|lee>") and "Mine" not in listed("list <@U0LEE|lee>")
    everything = listed("list all")
    assert all(word in everything for word in ("Mine later", "Mine sooner", "Lee's"))
    overdue = listed("list overdue")
    assert "Mine sooner" in overdue and "Lee's" in overdue and "Mine later" not in overdue
    assert "Overdue by 11 days" in overdue  # Nov 27 → Dec 8


def test_list_filters_combine_and_unknown_words_never_ask_for_a_date(bot):
    make(bot, "Mine by Friday")
    make(bot, "Lee's by Friday", user="U0LEE")

    def listed(text):
        return all_text(ask(bot, text))

    lees = ask(bot, "list all <@U0LEE|lee>")
    assert lees["text"] == "Open commitments of <@U0LEE> (1)"
    assert "Lee's" in all_text(lees) and "Mine" not in all_text(lees)
    assert ask(bot, "list overdue <@U0LEE|lee>")["text"] == "Overdue commitments of <@U0LEE> (0)"
    assert "Mine" in listed("list mine") and "Lee's" not in listed("list mine")
    typed = ask(bot, "list @lee")["text"]
    assert "I couldn't tell who `@lee` is" in typed and "Slack's list" in typed
    for text in ("list banana", "list all the things", "list <@U0NOBODY|x> extra", "list @"):
        said = ask(bot, text)["text"]
        assert "When is it due?" not in said, text
        assert "/commit list" in said, text
    assert len(stored(bot)) == 2


def test_a_workspaces_first_list_is_empty_and_remembers_the_workspace(bot):
    assert all_text(ask(bot, "list")).endswith("Nothing here. 🎉")
    with bot.services.sessions() as session:
        team = session.get(Team, "T0COALITION")
        assert team is not None and team.time_zone == bot.services.settings.timezone


def test_a_new_commitment_may_start_with_list(bot):
    commitment, _ = make(bot, "List the open shelter beds by Friday")
    assert commitment.text == "List the open shelter beds"


def test_a_long_list_is_summarised_not_cut(sqlite_bot):
    for i in range(45):
        commit(sqlite_bot, f"Task {i} by Dec 10", trigger_id=f"t{i}")
    wait_for(
        lambda: len(stored(sqlite_bot)) == 45 and all(c.message_ts for c in stored(sqlite_bot)),
        timeout=20,
    )
    reply = ask(sqlite_bot, "list")
    assert len(reply["blocks"]) <= 50
    assert "…and 5 more" in all_text(reply)


# --- follow-up subcommands ----------------------------------------------------------------------


def test_done_with_a_note_updates_the_channel_message_and_the_trail(bot):
    commitment, message = make(bot, "Call the shelter by Friday")
    assert (
        ask(bot, f"done #{commitment.id} 40   beds confirmed")["text"]
        == f"✅ #{commitment.id} is done, with the note “40 beds confirmed”. Thank you!"
    )
    updated = wait_for(
        lambda: (
            "Done" in all_text(bot.slack.message(CHANNEL, message["ts"]))
            and bot.slack.message(CHANNEL, message["ts"])
        )
    )
    assert not any(b["type"] == "actions" for b in updated["blocks"])
    assert stored(bot)[0].status == "done"
    assert events(bot, "done")[0].detail == {"note": "40 beds confirmed"}


@pytest.mark.parametrize("joined", ["{a} {b}", "{a}, {b}", "#{a} #{b}", "{a} and {b}", "{a},{b}"])
def test_done_with_several_numbers_closes_each_and_says_which(bot, joined):
    first, _ = make(bot, "Call the shelter by Friday")
    second, _ = make(bot, "Draft the MOU by Dec 10")
    said = ask(bot, "done " + joined.format(a=first.id, b=second.id))["text"]
    assert said == f"✅ #{first.id} and #{second.id} are done. Thank you!"
    assert [c.status for c in stored(bot)] == ["done", "done"]
    assert [e.detail for e in events(bot, "done")] == [{}, {}]  # no note "4"


def test_done_with_several_numbers_names_each_one_refused(bot):
    mine, _ = make(bot, "Call the shelter by Friday")
    lees, _ = make(bot, "Open the clinic by Friday", user="U0LEE")
    said = ask(bot, f"done {mine.id} {lees.id} 999")["text"]
    assert said.startswith(f"✅ #{mine.id} is done. Thank you!")
    assert f"#{lees.id} was not closed: Only an owner (<@U0LEE>)" in said
    assert "#999 was not closed: I can't find commitment #999" in said
    assert [c.status for c in stored(bot)] == ["done", "open"]


def test_done_with_a_number_and_words_is_still_one_with_a_note(bot):
    commitment, _ = make(bot, "Call the shelter by Friday")
    said = ask(bot, f"done {commitment.id} Posted the map")["text"]
    assert said == f"✅ #{commitment.id} is done, with the note “Posted the map”. Thank you!"


@pytest.mark.parametrize(
    ("when", "shown"),
    [
        ("next week", "Fri, Dec 4, 2026"),
        ("this week", "Fri, Nov 27, 2026"),
        ("end of next week", "Fri, Dec 4, 2026"),
        ("next month", "Thu, Dec 31, 2026"),
    ],
)
def test_a_trailing_period_needs_no_by(bot, when, shown):
    commitment, message = make(bot, f"Check the numbers {when}")
    assert commitment.text == "Check the numbers"
    assert shown in all_text(message)


def press_move_to(bot, said, message) -> str:
    """Press the "Move to …" button of a day-off remark; its label."""
    button = next(e for b in said["blocks"] if b["type"] == "actions" for e in b["elements"])
    bot.driver.click(
        "commit_move",
        user="U0MARIA",
        value=button["value"],
        block_id=said["blocks"][-1]["block_id"],
        channel=CHANNEL,
        message_ts=message["ts"],
        ephemeral=True,
    )
    return str(button["text"]["text"])


def test_a_due_day_off_is_said_with_a_button_to_the_next_working_day(bot):
    count = len(replies(bot))
    commitment, message = make(bot, "Call the shelter by Saturday")  # Mon Nov 23: Sat Nov 28
    said = last_reply(bot, count)
    assert f"#{commitment.id} is due Sat — not a working day; Mon, Nov 30?" in said["text"]
    assert press_move_to(bot, said, message) == "Move to Mon, Nov 30"
    wait_for(lambda: "Mon, Nov 30, 2026" in all_text(bot.slack.message(CHANNEL, message["ts"])))
    assert stored(bot)[0].due_at.astimezone(NY) == datetime(2026, 11, 30, 17, 0, tzinfo=NY)


def test_moving_off_a_day_off_keeps_the_time_that_was_typed(sqlite_bot):
    bot = sqlite_bot
    count = len(replies(bot))
    _, message = make(bot, "Call the shelter by Saturday 3pm")  # Sat Nov 28, 3:00 PM
    said = last_reply(bot, count)
    assert "not a working day; Mon, Nov 30 at 3:00 PM?" in said["text"]
    assert press_move_to(bot, said, message) == "Move to Mon, Nov 30 at 3:00 PM"
    wait_for(
        lambda: (
            "Mon, Nov 30, 2026 at 3:00 PM" in all_text(bot.slack.message(CHANNEL, message["ts"]))
        )
    )
    moved = stored(bot)[0]
    assert moved.due_at.astimezone(NY) == datetime(2026, 11, 30, 15, 0, tzinfo=NY)
    assert moved.due_has_time


def test_a_working_day_gets_no_remark(bot):
    count = len(replies(bot))
    make(bot, "Call the shelter by Friday")
    time.sleep(0.2)
    assert replies(bot)[count:] == []


def test_a_due_public_holiday_is_named(bot):
    count = len(replies(bot))
    commitment, message = make(bot, "Send the year-end report by Dec 25")  # a Friday
    said = last_reply(bot, count)
    assert (
        f"#{commitment.id} is due Fri — Christmas Day, not a working day; Mon, Dec 28?"
        in said["text"]
    )
    assert press_move_to(bot, said, message) == "Move to Mon, Dec 28"
    wait_for(lambda: "Mon, Dec 28, 2026" in all_text(bot.slack.message(CHANNEL, message["ts"])))


def test_a_day_an_admin_made_a_holiday_is_called_a_local_one(sqlite_bot):
    bot = sqlite_bot
    make(bot, "Call the shelter by Friday")  # the coalition's first use
    with bot.services.sessions.begin() as session:
        session.get(Team, "T0COALITION").holidays = ["2026-12-31"]
    count = len(replies(bot))
    commitment, _ = make(bot, "Close the books by Dec 31")  # a Thursday
    said = last_reply(bot, count)
    assert (
        f"#{commitment.id} is due Thu — a local holiday, not a working day; Mon, Jan 4?"
        in said["text"]
    )  # Jan 1 is New Year's Day, then the weekend


def test_a_move_to_a_day_off_is_said_with_a_button_to_the_next_working_day(bot):
    commitment, message = make(bot, "Call the shelter by Friday")
    said = ask(bot, f"move {commitment.id} Saturday")
    assert said["text"].startswith(f"📅 #{commitment.id} is now due Sat, Nov 28, 2026.")
    assert f"#{commitment.id} is due Sat — not a working day; Mon, Nov 30?" in said["text"]
    assert all_text(message) != all_text(bot.slack.message(CHANNEL, message["ts"]))
    assert press_move_to(bot, said, message) == "Move to Mon, Nov 30"
    wait_for(lambda: "Mon, Nov 30, 2026" in all_text(bot.slack.message(CHANNEL, message["ts"])))
    assert stored(bot)[0].due_at.astimezone(NY).date() == date(2026, 11, 30)
    # the click's own answer, before the next command's (it comes after the message's edit)
    wait_for(lambda: any("is now due Mon, Nov 30" in r.get("text", "") for r in replies(bot)))
    # the same move again is refused as it always was: nothing to move, no button
    again = ask(bot, f"move {commitment.id} Nov 30")
    assert again["text"] == f"#{commitment.id} is already due Mon, Nov 30, 2026."
    assert not any(b["type"] == "actions" for b in again.get("blocks") or [])


def test_a_move_to_a_working_day_gets_no_remark(bot):
    commitment, _ = make(bot, "Call the shelter by Friday")
    said = ask(bot, f"move {commitment.id} Dec 1")
    assert said["text"] == f"📅 #{commitment.id} is now due Tue, Dec 1, 2026."
    assert "blocks" not in said or not said["blocks"]


def test_move_drop_and_note_by_number_with_or_without_hash(bot):
    first, _ = make(bot, "Call the shelter by Friday")
    second, _ = make(bot, "Draft the MOU by Dec 10")
    assert "now due Fri, Dec 11, 2026" in ask(bot, f"move {first.id} Dec 11")["text"]
    assert (
        ask(bot, f"note #{first.id} waiting on the director")["text"]
        == f"📝 Note added to #{first.id}: “waiting on the director”."
    )
    assert (
        ask(bot, f"drop {second.id} merged into #{first.id}")["text"]
        == f"✖️ #{second.id} was dropped: “merged into #{first.id}”."
    )
    first_now, second_now = stored(bot)
    assert first_now.due_at.astimezone(NY).date().isoformat() == "2026-12-11"
    assert first_now.due_version == 2
    assert second_now.status == "dropped"
    assert [e.kind for e in events(bot)] == ["created", "created", "moved", "noted", "dropped"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("drop 1", "Please say why"),
        ("move 1", "To when?"),
        ("note 1", "Write the note"),
        ("move 1 yesterday", "in the past"),
        ("done", "Which commitment?"),
        ("done 999", "can't find commitment #999"),
        ("done 99999999999999", "can't find commitment"),
    ],
)
def test_follow_up_mistakes_get_a_specific_answer_and_change_nothing(bot, text, says):
    make(bot, "Call the shelter by Friday")
    before = [(e.kind, e.id) for e in events(bot)]
    assert says in ask(bot, text)["text"]
    assert [(e.kind, e.id) for e in events(bot)] == before
    assert stored(bot)[0].status == "open"


@pytest.mark.parametrize(
    "text",
    ["done abc", "done -1", "done 1.5", "done #", "done ##3", "move x Friday",
     "snooze soon", "drop #1; all of it"],
)  # fmt: skip
def test_a_malformed_number_asks_which_commitment_and_changes_nothing(bot, text):
    make(bot, "Call the shelter by Friday")
    before = [(e.kind, e.id) for e in events(bot)]
    said = ask(bot, text)["text"]
    assert "Which commitment? Give its number" in said
    assert "`/commit list`" in said
    assert "When is it due?" not in said
    assert [(e.kind, e.id) for e in events(bot)] == before
    assert len(stored(bot)) == 1 and stored(bot)[0].status == "open"


@pytest.mark.parametrize(
    "text",
    [
        "Drop off kits at the shelter by Friday",
        "Move the van by Friday",
        "Note the bed counts by Friday",
        "Done-for-you kits handed out by Friday",
        "Snooze alarms fixed in 2 weeks",
    ],
)
def test_a_new_commitment_may_start_with_a_follow_up_verb(bot, text):
    commitment, _ = make(bot, text)
    assert commitment.text == text.rsplit(" by ", 1)[0].removesuffix(" in 2 weeks")


@pytest.mark.parametrize(
    ("words", "days"),
    [("1 week", 7), ("2 weeks", 14), ("5", 5), ("5 days", 5), ("1 day", 1), ("for a week", 7),
     ("", 3)],
)  # fmt: skip
def test_snooze_reads_days_and_weeks(bot, words, days):
    commitment, _ = make(bot, "Call the shelter by Friday")
    said = ask(bot, f"snooze #{commitment.id} {words}")["text"]
    assert said.startswith(f"💤 Reminders for #{commitment.id} are paused until")
    assert stored(bot)[0].snoozed_until - bot.clock() == timedelta(days=days)


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("5 weeks", "1 to 30 days"),
        ("0", "1 to 30 days"),
        ("a fortnight", "how long to snooze"),
        ("1 month", "how long to snooze"),
        ("until Friday", "how long to snooze"),
        ("3 dayz", "how long to snooze"),
    ],
)
def test_snooze_refuses_what_it_cannot_read_and_changes_nothing(bot, words, says):
    commitment, _ = make(bot, "Call the shelter by Friday")
    assert says in ask(bot, f"snooze {commitment.id} {words}")["text"]
    assert stored(bot)[0].snoozed_until is None
    assert [e.kind for e in events(bot)] == ["created"]


def test_only_owners_creators_and_admins_may_change_a_commitment(bot):
    commitment, _ = make(
        bot, "<@U0LEE|lee> Open the clinic by Friday"
    )  # made by Maria, owned by Lee
    assert "Only an owner (<@U0LEE>)" in ask(bot, f"done {commitment.id}", user="U0SAM")["text"]
    assert stored(bot)[0].status == "open"
    ask(bot, f"move {commitment.id} Dec 4", user="U0MARIA")  # the creator may
    ask(bot, f"note {commitment.id} keys picked up", user="U0LEE")  # an owner may
    ask(bot, f"done {commitment.id}", user="U0ADMIN")  # a workspace admin may
    assert stored(bot)[0].status == "done"
    assert [(e.kind, e.actor_id) for e in events(bot)] == [
        ("created", "U0MARIA"),
        ("moved", "U0MARIA"),
        ("noted", "U0LEE"),
        ("done", "U0ADMIN"),
    ]


def test_another_workspaces_commitment_cannot_be_seen_or_changed(bot):
    """In token mode the bot serves its token's workspace only: another is answered privately,
    in the ack, and goes no further (no team row, no lookup). OAuth mode: tests/e2e/test_oauth.py."""
    commitment, _ = make(bot, "Call the shelter by Friday")
    for text in (f"done {commitment.id}", "list all"):
        answer = commit(bot, text, team_id="T0OTHER").json()
        assert answer["response_type"] == "ephemeral"
        assert "isn't set up for this Slack workspace" in answer["text"]
        assert "Call the shelter" not in answer["text"]
    assert stored(bot)[0].status == "open"
    with bot.services.sessions() as session:
        assert session.scalars(select(Team.id)).all() == ["T0COALITION"]


@pytest.mark.parametrize(
    ("words", "due"),
    [
        ("to next Tuesday", "Tue, Dec 1, 2026"),
        ("to Dec 8", "Tue, Dec 8, 2026"),
        ("to Friday", "Fri, Nov 27, 2026"),
        ("To  friday", "Fri, Nov 27, 2026"),
        ("until Dec 8", "Tue, Dec 8, 2026"),
        ("next Tuesday", "Tue, Dec 1, 2026"),
    ],
)
def test_move_reads_the_date_after_to(bot, words, due):
    commitment, _ = make(bot, "Call the shelter by Dec 10")
    said = ask(bot, f"move {commitment.id} {words}")["text"]
    assert said == f"📅 #{commitment.id} is now due {due}."
    assert [e.kind for e in events(bot)] == ["created", "moved"]
    assert stored(bot)[0].due_at.astimezone(NY).strftime("%a, %b %-d, %Y") == due


def test_move_to_nothing_asks_when(bot):
    commitment, _ = make(bot, "Call the shelter by Dec 1")
    assert "To when?" in ask(bot, f"move {commitment.id} to")["text"]
    assert [e.kind for e in events(bot)] == ["created"]


# --- buttons --------------------------------------------------------------------------------------


def test_done_button_updates_the_message_in_place_and_a_double_click_changes_nothing(bot):
    commitment, message = make(bot, "Call the shelter by Friday")
    for _ in range(2):
        answer = bot.driver.click(
            "commit_done",
            user="U0MARIA",
            value=str(commitment.id),
            channel=CHANNEL,
            message_ts=message["ts"],
        )
        assert answer.status == 200 and answer.seconds < 3
    wait_for(lambda: replies(bot) and "already done" in replies(bot)[-1]["text"])
    assert len(events(bot, "done")) == 1
    # (Two workers: the second click's answer can come before the first one's update lands.)
    wait_for(lambda: "✅ Done" in all_text(bot.slack.message(CHANNEL, message["ts"])))
    assert len(channel_messages(bot)) == 1  # updated in place, nothing new posted


def test_change_date_picker_and_snooze_menu(bot):
    commitment, message = make(bot, "Call the shelter by Friday")
    bot.driver.click(
        "commit_move",
        user="U0MARIA",
        block_id=f"commitment-{commitment.id}",
        selected_date="2026-12-09",
        channel=CHANNEL,
        message_ts=message["ts"],
    )
    wait_for(lambda: "Wed, Dec 9, 2026" in all_text(bot.slack.message(CHANNEL, message["ts"])))
    bot.driver.click(
        "commit_snooze",
        user="U0MARIA",
        selected_option=f"{commitment.id}:7",
        channel=CHANNEL,
        message_ts=message["ts"],
    )
    wait_for(lambda: stored(bot)[0].snoozed_until is not None)
    assert (stored(bot)[0].snoozed_until - bot.clock()).days == 7
    assert [e.kind for e in events(bot)] == ["created", "moved", "snoozed"]


def test_a_past_date_from_the_picker_is_refused(bot):
    commitment, message = make(bot, "Call the shelter by Friday")
    bot.driver.click(
        "commit_move",
        user="U0MARIA",
        block_id=f"commitment-{commitment.id}",
        selected_date="2026-11-01",
        channel=CHANNEL,
        message_ts=message["ts"],
    )
    assert "in the past" in last_reply(bot)["text"]
    assert stored(bot)[0].due_version == 1


def test_note_button_opens_a_form_whose_note_is_logged_and_threaded(bot):
    commitment, message = make(bot, "Call the shelter by Friday")
    bot.driver.click(
        "commit_note",
        user="U0MARIA",
        value=str(commitment.id),
        channel=CHANNEL,
        message_ts=message["ts"],
    )
    opened = wait_for(lambda: bot.slack.calls_to("views.open"))
    view = opened[-1].params["view"]
    assert view["callback_id"] == "commitment_note"
    empty = bot.driver.submit_view(
        "commitment_note",
        {"note": {"text": {"value": "  "}}},
        user="U0MARIA",
        private_metadata=view["private_metadata"],
    )
    assert empty.json()["response_action"] == "errors"
    answer = bot.driver.submit_view(
        "commitment_note",
        {"note": {"text": {"value": "Director says yes"}}},
        user="U0MARIA",
        private_metadata=view["private_metadata"],
    )
    assert answer.status == 200 and not answer.body
    assert events(bot, "noted")[0].detail == {"note": "Director says yes"}
    thread = wait_for(
        lambda: [m for m in channel_messages(bot) if "Director says yes" in (m.get("text") or "")]
    )
    assert thread[0]["thread_ts"] == message["ts"]


# --- the form -------------------------------------------------------------------------------------


def _form(
    what="Open the warming center",
    owners=("U0LEE",),
    date="2026-12-04",
    channel=CHANNEL,
    indicator=None,
):
    values = {
        "what": {"value": {"type": "plain_text_input", "value": what}},
        "owners": {"value": {"type": "multi_users_select", "selected_users": list(owners)}},
        "due": {"value": {"type": "datepicker", "selected_date": date}},
        "channel": {"value": {"type": "conversations_select", "selected_conversation": channel}},
    }
    if indicator:
        values["indicator"] = {
            "value": {"type": "static_select", "selected_option": {"value": indicator}}
        }
    return values


def test_empty_commit_opens_the_form_and_a_valid_form_is_stored_and_posted(bot):
    commit(bot, "")
    opened = wait_for(lambda: bot.slack.calls_to("views.open"))
    assert opened[-1].params["view"]["callback_id"] == "new_commitment"
    answer = bot.driver.submit_view("new_commitment", _form(), user="U0MARIA", view_id="VFORM1")
    assert answer.status == 200
    message = wait_for(lambda: channel_messages(bot) and channel_messages(bot)[-1])
    assert "Open the warming center" in all_text(message) and "Fri, Dec 4, 2026" in all_text(
        message
    )
    assert stored(bot)[0].owner_ids == ["U0LEE"]
    bot.driver.submit_view(
        "new_commitment", _form(), user="U0MARIA", view_id="VFORM1"
    )  # double submit
    time.sleep(0.2)
    assert len(stored(bot)) == 1


def test_a_form_due_on_a_day_off_gets_the_same_remark_and_button_privately(bot):
    answer = bot.driver.submit_view("new_commitment", _form(date="2026-11-28"), user="U0MARIA")
    assert answer.status == 200
    remark = wait_for(lambda: bot.slack.ephemeral_messages(CHANNEL, "U0MARIA"))[-1]
    assert "is due Sat — not a working day; Mon, Nov 30?" in all_text(remark)
    button = next(e for b in remark["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert button["text"]["text"] == "Move to Mon, Nov 30"
    assert button["value"] == f"{stored(bot)[0].id}:2026-11-30"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (_form(what="   "), "what"),
        (_form(what="\u200b \u200b\u2066"), "what"),  # invisible: an empty commitment
        (_form(what="Call the shelters " * 150), "what"),  # a forged form past Slack's 2,000
        (_form(owners=()), "owners"),
        (_form(date="2026-11-01"), "due"),
        (_form(date=None), "due"),
        (_form(owners=("U0NOBODY",)), "owners"),
    ],
)
def test_form_mistakes_are_shown_next_to_the_field_and_nothing_is_stored(bot, form, field):
    answer = bot.driver.submit_view("new_commitment", form, user="U0MARIA")
    body = answer.json()
    assert body["response_action"] == "errors"
    assert field in body["errors"]
    assert stored(bot) == []


def _add_indicator(bot, slug, name, *, aliases=(), restricted_to=()):
    with bot.services.sessions.begin() as session:
        from storage.repositories import ensure_team

        ensure_team(session, "T0COALITION", time_zone="America/New_York", now=bot.clock())
        session.add(
            Indicator(
                team_id="T0COALITION",
                slug=slug,
                name=name,
                aliases=list(aliases),
                restricted_to=list(restricted_to),
                created_at=bot.clock(),
                updated_at=bot.clock(),
            )
        )


def _submit(bot, form, view_id=None):
    """Submit the new-commitment form; the field errors, or {} once it is accepted."""
    answer = bot.driver.submit_view("new_commitment", form, user="U0MARIA", view_id=view_id)
    assert answer.status == 200
    return answer.json().get("errors", {}) if answer.body else {}


def test_the_form_makes_a_commitment_exactly_as_the_command_does(bot):
    """One create path: the coalition's zone from settings when the owner's is unknown, and the
    same indicators, visible only in their channels."""
    chicago = ZoneInfo("America/Chicago")
    admin = bot.driver.command(
        "/commstat", "settings time zone America/Chicago", user="U0ADMIN", channel=CHANNEL
    )
    assert admin.status == 200
    assert "now America/Chicago" in last_reply(bot)["text"]
    _add_indicator(bot, "naloxone", "Naloxone kits distributed", aliases=["kits"])
    _add_indicator(bot, "ward-5", "Ward 5 overdoses", restricted_to=["C0WARD5"])
    bot.slack.set_error("users.info", "fatal_error")  # Slack can't tell us anyone's zone now

    commit(bot, "")  # the form offers the indicators that exist in this channel only
    opened = wait_for(lambda: bot.slack.calls_to("views.open"))[-1].params["view"]
    picker = next(b for b in opened["blocks"] if b["block_id"] == "indicator")
    assert [o["value"] for o in picker["element"]["options"]] == ["naloxone"]

    assert _submit(bot, _form(what="Restock kits", indicator="naloxone"), "VFORM1") == {}
    by_form = wait_for(lambda: [c for c in stored(bot) if c.message_ts])[-1]
    by_command, _ = make(bot, "<@U0LEE|lee> Restock kits again by Dec 4 #kits")
    for commitment in (by_form, by_command):
        assert commitment.due_at.astimezone(chicago) == datetime(2026, 12, 4, 17, 0, tzinfo=chicago)
        assert commitment.time_zone == "America/Chicago"
        assert commitment.owner_ids == ["U0LEE"]
    assert by_form.indicator_id is not None and by_form.indicator_id == by_command.indicator_id

    refused = _submit(bot, _form(what="Count ward 5", indicator="ward-5"))
    assert "I don't know the indicator #ward-5" in refused["indicator"]
    said = ask(bot, "Count ward 5 by Dec 4 #ward-5")["text"]
    assert "I don't know the indicator #ward-5" in said
    assert len(stored(bot)) == 2
    assert _submit(bot, _form(what="Count ward 5", indicator="ward-5", channel="C0WARD5")) == {}
    in_ward = make_in(bot, "Count ward 5 again by Dec 4 #ward-5", channel="C0WARD5")
    ward_ids = {c.indicator_id for c in stored(bot) if c.channel_id == "C0WARD5"}
    assert len(ward_ids) == 1 and None not in ward_ids
    assert in_ward.indicator_id in ward_ids


# --- App Home -------------------------------------------------------------------------------------


def test_app_home_shows_my_commitments_overdue_first_with_buttons(bot):
    make(bot, "Later one by Dec 18")
    make(bot, "Overdue one by Nov 24")
    make(bot, "Not mine by Dec 1", user="U0LEE")
    bot.clock.now = datetime(2026, 11, 30, 15, 0, tzinfo=ZoneInfo("UTC"))
    bot.driver.event(
        {"type": "app_home_opened", "user": "U0MARIA", "channel": "D0MARIA", "tab": "home"}
    )
    published = wait_for(lambda: bot.slack.calls_to("views.publish"))[-1].params
    assert published["user_id"] == "U0MARIA"
    text = all_text(published["view"])
    assert text.index("Overdue one") < text.index("Later one")
    assert "Not mine" not in text
    assert "*3* open" in text and "*1* overdue" in text
    assert len(published["view"]["blocks"]) <= 100


def test_a_workspaces_first_app_home_is_empty_and_remembers_the_workspace(bot):
    bot.driver.event(
        {"type": "app_home_opened", "user": "U0MARIA", "channel": "D0MARIA", "tab": "home"}
    )
    published = wait_for(lambda: bot.slack.calls_to("views.publish"))[-1].params
    assert "no open commitments" in all_text(published["view"])
    with bot.services.sessions() as session:
        assert session.get(Team, "T0COALITION") is not None


def test_done_from_app_home_refreshes_the_home_tab(bot):
    commitment, _ = make(bot, "Call the shelter by Friday")
    bot.driver.click("commit_done", user="U0MARIA", value=str(commitment.id), home=True)
    published = wait_for(lambda: bot.slack.calls_to("views.publish"))[-1].params
    assert "no open commitments" in all_text(published["view"])
    assert stored(bot)[0].status == "done"


# --- help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["help", "?", " ? "])
def test_a_question_mark_shows_the_help(bot, text):
    answer = commit(bot, text)
    body = answer.json()
    assert "/commit list" in body["text"] and "/commit done 12" in body["text"]
    assert body.get("response_type", "ephemeral") == "ephemeral"
    assert stored(bot) == []


# --- hostile input --------------------------------------------------------------------------------

HOSTILE = [
    "x" * 5000,
    "🚑🚑🚑 by 🔥",
    "Distribuir kits de naloxona antes del viernes",
    "done #1; DROP TABLE commitments",
    "done -1",
    "move 1 " + "next " * 400,
    "note 1 " + "n" * 3000,
    "list <@U0NOBODY|x> extra",
    "by Friday",
    "<script>alert(1)</script> by 2099-13-45",
    "Call the shelter by \x1b[31m\x00",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_gets_a_clear_private_answer_and_stores_nothing(bot, text):
    count = len(replies(bot))
    answer = bot.driver.command("/commit", text, user="U0MARIA", channel=CHANNEL)
    assert answer.status == 200
    assert answer.seconds < 3
    said = last_reply(bot, count)
    assert said["response_type"] == "ephemeral"
    assert "went wrong" not in said["text"]
    assert len(said["text"]) < 1500
    with bot.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Commitment)) == 0
    assert channel_messages(bot) == []


@pytest.mark.parametrize("text", [" ", "\t\n"])
def test_blank_text_opens_the_form_and_stores_nothing(bot, text):
    assert commit(bot, text).body == b""
    assert wait_for(lambda: bot.slack.calls_to("views.open"))
    assert stored(bot) == []


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("'; DROP TABLE commitments; -- by Friday", "'; DROP TABLE commitments"),
        (
            "Robert'); DELETE FROM commitments WHERE ('1'='1 by Friday",
            "Robert'); DELETE FROM commitments WHERE ('1'='1",
        ),
        ("Call\x00 the\x07 shelter by Friday", "Call the shelter"),
        ("Prévenir les surdoses 🚑 by Friday", "Prévenir les surdoses 🚑"),
        ("Tell <!channel> about the clinic by Friday", "Tell @channel about the clinic"),
        ("Brief <!subteam^S0OUTREACH|@outreach> by Friday", "Brief @outreach"),
    ],
)
def test_odd_but_valid_commitments_are_stored_exactly_and_never_ping_everyone(bot, text, kept):
    commitment, message = make(bot, text)
    assert commitment.text == kept
    assert "<!" not in all_text(message)
    with bot.services.sessions() as session:  # the table is still there, with one row
        assert session.scalar(select(func.count()).select_from(Commitment)) == 1


# --- Slack is never asked while the database is held ----------------------------------------------


@pytest.fixture
def slack_calls_in_transactions(sqlite_bot, monkeypatch):
    """Every Slack call (Web API or response URL) made while the same thread had a database
    transaction open. On SQLite a write transaction takes the one write lock (BEGIN IMMEDIATE), so
    a slow Slack inside one would hold back every other command; none is made inside a read
    either."""
    depth: dict[int, int] = {}
    caught: list[str] = []

    def began(_conn):
        depth[threading.get_ident()] = depth.get(threading.get_ident(), 0) + 1

    def ended(_conn):
        depth[threading.get_ident()] = depth.get(threading.get_ident(), 1) - 1

    engine = sqlite_bot.services.engine
    listeners = [("begin", began), ("commit", ended), ("rollback", ended)]
    for name, listener in listeners:
        event.listen(engine, name, listener)

    def watched(original, name_of):
        def call(self, *args, **kwargs):
            if depth.get(threading.get_ident(), 0) > 0:
                caught.append(name_of(args))
            return original(self, *args, **kwargs)

        return call

    monkeypatch.setattr(BaseClient, "api_call", watched(BaseClient.api_call, lambda a: a[0]))
    monkeypatch.setattr(
        WebhookClient, "send_dict", watched(WebhookClient.send_dict, lambda a: "response_url")
    )
    yield caught
    for name, listener in listeners:
        event.remove(engine, name, listener)


def test_no_slack_call_while_a_transaction_is_open(sqlite_bot, slack_calls_in_transactions):
    bot = sqlite_bot
    commitment, message = make(bot, "<@U0LEE|lee> Call the shelter by Friday")
    ask(bot, "list all")
    ask(bot, f"note {commitment.id} Director says yes")
    bot.driver.click(
        "commit_move",
        user="U0MARIA",
        block_id=f"commitment-{commitment.id}",
        selected_date="2026-12-09",
        channel=CHANNEL,
        message_ts=message["ts"],
    )
    wait_for(lambda: stored(bot)[0].due_version == 2)
    assert _submit(bot, _form(what="Open the warming center")) == {}
    wait_for(lambda: len(stored(bot)) == 2 and stored(bot)[-1].message_ts)
    bot.driver.click("commit_done", user="U0MARIA", value=str(commitment.id), home=True)
    wait_for(lambda: bot.slack.calls_to("views.publish"))
    assert stored(bot)[0].status == "done"
    assert slack_calls_in_transactions == []
