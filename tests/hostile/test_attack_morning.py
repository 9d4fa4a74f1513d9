"""The one morning message a person a day, attacked from outside: clicks that race, come from
elsewhere or land on yesterday's message, people far east and west of the coalition, Slack
failing while the message goes, and lists far longer than Slack shows."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.followup.scheduler import run_pass
from bot.slack import ids
from storage.models import Team
from tests.helpers import all_text, wait_for
from tests.scheduler.test_morning_message import (
    TEAM,
    commit,
    line_text,
    lines,
    store_commitments,
    three_due_wednesday,
)
from tests.scheduler.test_nudges_e2e import (
    dm_channel,
    dms,
    no_public_holidays,
    ny,
    stored,
    tick,
)


def done_click(bot, commitment_id: int, message: dict, *, user: str = "U0MARIA", **extra):
    return bot.driver.click(
        ids.COMMIT_DONE,
        user=user,
        value=str(commitment_id),
        block_id=f"commitment-{commitment_id}",
        channel=dm_channel(bot, message),
        message_ts=message["ts"],
        **extra,
    )


def test_two_clicks_whose_updates_reach_slack_out_of_order_both_show(bot):
    """Done on the first line, then on the second: the first click's update of the message reads
    the database before the second click is stored and reaches Slack last. Both lines must still
    show done (the message is not left saying the second is open)."""
    first, second, third = three_due_wednesday(bot)
    tick(bot, ny(24, 10, 30))
    [morning] = dms(bot)
    dm = dm_channel(bot, morning)

    def morning_updates():
        return [c for c in bot.slack.calls_to("chat.update") if c.params.get("channel") == dm]

    bot.slack.delay("chat.update", 1.5)  # the first click's updates are slow to reach Slack
    done_click(bot, first.id, morning)
    wait_for(lambda: morning_updates(), timeout=15)  # its morning update is on its way
    bot.slack.delay("chat.update", 0)
    done_click(bot, second.id, morning)
    wait_for(lambda: stored(bot, second.id).status == "done")
    wait_for(lambda: len(morning_updates()) >= 2, timeout=15)
    time.sleep(2.0)  # the slow update lands
    wait_for(
        lambda: all_text(bot.slack.message("U0MARIA", morning["ts"])).count("✓ Done — ") == 2,
        timeout=15,
    )
    shown = bot.slack.message("U0MARIA", morning["ts"])
    assert line_text(shown, first.id).startswith("✓ Done — ")
    assert line_text(shown, second.id).startswith("✓ Done — ")
    assert not line_text(shown, third.id).startswith("✓ Done — ")
    assert len(dms(bot)) == 1


def test_a_click_on_yesterdays_message_changes_that_message_only(bot):
    first, second, _third = three_due_wednesday(bot)
    tick(bot, ny(24, 10, 30))
    tick(bot, ny(25, 10, 30))
    yesterday, today = dms(bot)
    done_click(bot, first.id, yesterday)
    wait_for(lambda: "✓ Done — " in all_text(bot.slack.message("U0MARIA", yesterday["ts"])))
    assert stored(bot, first.id).status == "done"
    assert f"*#{second.id}*" in line_text(bot.slack.message("U0MARIA", yesterday["ts"]), second.id)
    # today's message was not touched by a click on yesterday's, and nothing new was posted
    assert bot.slack.message("U0MARIA", today["ts"])["blocks"] == today["blocks"]
    assert len(dms(bot)) == 2
    # the next morning lists what is still open only
    tick(bot, ny(26, 10, 30))
    assert f"#{first.id}" not in all_text(dms(bot)[-1])
    assert len(lines(dms(bot)[-1])) == 2


def test_a_click_from_another_workspace_changes_nothing(bot):
    first, *_ = three_due_wednesday(bot)
    tick(bot, ny(24, 10, 30))
    [morning] = dms(bot)
    payload = bot.driver.click_payload(
        ids.COMMIT_DONE,
        user="U0MARIA",
        value=str(first.id),
        block_id=f"commitment-{first.id}",
        channel=dm_channel(bot, morning),
        message_ts=morning["ts"],
        response_key="other",
    )
    payload["team"] = {"id": "T0OTHER", "domain": "other"}
    payload["user"]["team_id"] = "T0OTHER"
    answer = bot.driver.interaction(payload)
    assert answer.status == 200
    time.sleep(1.0)
    assert stored(bot, first.id).status == "open"
    assert bot.slack.message("U0MARIA", morning["ts"])["blocks"] == morning["blocks"]
    assert len(dms(bot)) == 1


def test_a_click_on_a_line_whose_commitment_was_dropped_says_so_and_changes_nothing(bot):
    first, second, _third = three_due_wednesday(bot)
    tick(bot, ny(24, 10, 30))
    [morning] = dms(bot)
    bot.driver.command("/commit", f"drop {first.id} merged", user="U0MARIA", channel="C0MEETING")
    wait_for(lambda: stored(bot, first.id).status != "open")
    done_click(bot, first.id, morning, response_key="late")
    [answer] = wait_for(lambda: bot.slack.responses("late"))
    assert f"#{first.id}" in answer["text"]
    assert stored(bot, first.id).status != "done"
    assert f"*#{second.id}*" in all_text(bot.slack.message("U0MARIA", morning["ts"]))
    assert len(dms(bot)) == 1


def sent_local_times(bot, user: str, zone: str, start: datetime, hours: int) -> list[datetime]:
    """Hourly passes from `start`: the local time of each pass that sent `user` a message."""
    sent = []
    for hour in range(hours):
        at = start + timedelta(hours=hour)
        before = len(dms(bot, user))
        tick(bot, at)
        if len(dms(bot, user)) > before:
            sent.append(at.astimezone(ZoneInfo(zone)))
    return sent


def test_a_person_far_east_gets_one_message_a_local_day(bot):
    """Kiritimati is UTC+14: its Wednesday morning is New York's Tuesday afternoon."""
    bot.slack.add_user("U0KIRI", name="kiri", tz="Pacific/Kiritimati")
    made = commit(bot, "<@U0KIRI|kiri> Send the outreach numbers by Thursday")
    no_public_holidays(bot, made.team_id)
    local = sent_local_times(
        bot, "U0KIRI", "Pacific/Kiritimati", datetime(2026, 11, 23, 12, tzinfo=UTC), 96
    )
    assert local, "no reminder reached Kiritimati"
    assert len({d.date() for d in local}) == len(local)  # one a local day
    assert all(9 <= d.hour < 12 for d in local)  # in their morning, never at night
    assert all(f"#{made.id}" in all_text(m) for m in dms(bot, "U0KIRI"))


def test_a_person_far_west_gets_one_message_a_local_day(bot):
    bot.slack.add_user("U0PAGO", name="pago", tz="Pacific/Pago_Pago")  # UTC-11
    made = commit(bot, "<@U0PAGO|pago> Send the outreach numbers by Thursday")
    no_public_holidays(bot, made.team_id)
    local = sent_local_times(
        bot, "U0PAGO", "Pacific/Pago_Pago", datetime(2026, 11, 23, 12, tzinfo=UTC), 96
    )
    assert local, "no reminder reached Pago Pago"
    assert len({d.date() for d in local}) == len(local)  # one a local day
    assert all(9 <= d.hour < 12 for d in local)


def test_slack_timing_out_while_the_morning_message_goes_never_sends_two(bot):
    """Slack keeps the message but its answer comes after the bot stopped waiting (and then a
    dropped connection and a 503): later passes find it there and never post a second."""
    three_due_wednesday(bot)
    bot.slack.delay("chat.postMessage", 0.6)
    at = ny(24, 10, 30)
    bot.clock.now = at
    run_pass(bot.services, now=at, per_channel_interval=0, timeout=0.3)
    bot.slack.delay("chat.postMessage", 0)
    bot.slack.fail_next("conversations.history", status=0, times=1)
    bot.slack.fail_next("chat.postMessage", status=503, times=1)
    for minute in (31, 33, 40, 55, 70):
        time.sleep(1.0)  # the row rests 3 x timeout (real time) after an unknown outcome
        at = ny(24, 10) + timedelta(minutes=minute)
        bot.clock.now = at
        run_pass(bot.services, now=at, per_channel_interval=0, timeout=0.3)
    wait_for(lambda: dms(bot))
    time.sleep(0.5)
    assert len(dms(bot)) == 1
    assert "*3 commitments* need you today" in all_text(dms(bot)[0])


def test_two_hundred_commitments_due_the_same_day_make_one_message_within_limits(bot):
    store_commitments(bot, [f"Partner visit {n} <!channel>" for n in range(200)], due=ny(25, 17))
    no_public_holidays(bot, TEAM)
    tick(bot, ny(24, 10, 30))
    [morning] = dms(bot)
    assert len(morning["blocks"]) <= 50
    assert "*200 commitments* need you today" in all_text(morning)
    assert "<!channel>" not in json.dumps(morning)
    assert "more: `/commit list`" in all_text(morning)
    tick(bot, ny(24, 11, 30))
    assert len(dms(bot)) == 1


def test_a_public_holiday_holds_the_morning_message_to_the_next_working_day(bot):
    made = commit(bot, "Send the naloxone report by Friday")  # Fri Nov 27; Thu 26 Thanksgiving
    with bot.services.sessions.begin() as session:
        team = session.get(Team, made.team_id)
        assert team.holiday_country != "none"
    tick(bot, ny(26, 10, 30))  # Thanksgiving: the reminder due the day before waits
    assert dms(bot) == []
    tick(bot, ny(27, 10, 30))
    [morning] = dms(bot)
    assert "*due today*" in all_text(morning)
