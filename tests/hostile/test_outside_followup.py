"""The follow-up features (holidays, the morning message's buttons) attacked from outside,
through the served app: each test here is a defect found that way, fixed since."""

from __future__ import annotations

import pytest

from bot.slack import ids
from storage.models import Team
from tests.e2e.test_commstat import ask
from tests.helpers import all_text, wait_for
from tests.scheduler.test_morning_message import TEAM, line_text
from tests.scheduler.test_nudges_e2e import (
    dm_channel,
    dms,
    make,
    no_public_holidays,
    ny,
    stored,
    tick,
)

ADMIN = "U0ADMIN"


def team(bot) -> Team:
    with bot.services.sessions() as session:
        found = session.get(Team, TEAM)
        assert found is not None
        return found


def test_feb_29_can_be_added_as_a_holiday(sqlite_bot):
    """Mon Nov 23, 2026: the next Feb 29 is in 2028 (the parser accepts the day; the use case
    looks in 2026, 2027 and 2030 only)."""
    said = ask(sqlite_bot, "settings holidays add Feb 29", user=ADMIN)
    assert said.startswith("Now a holiday: Tue, Feb 29, 2028"), said
    assert team(sqlite_bot).holidays == ["2028-02-29"]


@pytest.mark.parametrize("words", ["Dec 31, 2026", "December 31st 2026", "31 Dec 2026"])
def test_a_holiday_written_with_its_year_is_read(sqlite_bot, words):
    said = ask(sqlite_bot, f"settings holidays add {words}", user=ADMIN)
    assert said.startswith("Now a holiday: Thu, Dec 31, 2026"), said
    assert team(sqlite_bot).holidays == ["2026-12-31"]


def test_naming_the_same_country_again_keeps_the_days_turned_off_or_says_so(sqlite_bot):
    ask(sqlite_bot, "settings holidays off Nov 26", user=ADMIN)
    assert team(sqlite_bot).holidays_off == ["2026-11-26"]
    said = ask(sqlite_bot, "settings holidays country US", user=ADMIN)  # it already was US
    # Thanksgiving is a working day for this coalition: naming the same calendar keeps it so,
    # and says so (it silently became a holiday again, and nudges skipped it)
    assert team(sqlite_bot).holidays_off == ["2026-11-26"]
    assert said.startswith(
        "Public holidays are US's already; these stay working days, as set: Thu, Nov 26, 2026"
    ), said
    # another calendar starts afresh, as before
    said = ask(sqlite_bot, "settings holidays country CA", user=ADMIN)
    assert said.startswith("Public holidays are now CA's.") and team(sqlite_bot).holidays_off == []


def test_a_day_in_the_past_is_not_added_and_nothing_changes(sqlite_bot):
    ask(sqlite_bot, "settings", user=ADMIN)  # the coalition's first use
    said = ask(sqlite_bot, "settings holidays add Dec 24, 2019-05-05", user=ADMIN)
    assert said.startswith("Sun, May 5, 2019 is in the past"), said
    assert "Nothing was changed." in said
    assert team(sqlite_bot).holidays == []


def test_the_same_day_twice_is_one_holiday_said_once(sqlite_bot):
    said = ask(sqlite_bot, "settings holidays add Dec 24 and 24 Dec, Dec 31", user=ADMIN)
    assert said.startswith("Now a holiday: Thu, Dec 24, 2026, Thu, Dec 31, 2026 ("), said
    assert team(sqlite_bot).holidays == ["2026-12-24", "2026-12-31"]


@pytest.mark.parametrize(
    "words",
    ["Dec 24, Christmas", "Dec 24, Nov 27"],  # unreadable; not a holiday to turn off
)
def test_one_bad_day_among_good_ones_changes_nothing_and_says_so(sqlite_bot, words):
    ask(sqlite_bot, "settings", user=ADMIN)  # the coalition's first use
    said = ask(sqlite_bot, f"settings holidays off {words}", user=ADMIN)
    assert "nothing was changed" in said, said
    assert team(sqlite_bot).holidays_off == []


def test_change_date_to_a_day_off_from_a_morning_line_is_pointed_out(sqlite_bot):
    """`/commit move 1 Saturday` says 'is due Sat — not a working day; Mon, Nov 30?' with a
    Move button; the same move made with the line's own Change date picker says nothing."""
    bot = sqlite_bot
    made = make(bot, "Call the shelters by Wednesday")
    no_public_holidays(bot, TEAM)
    tick(bot, ny(24, 10, 30))
    [morning] = dms(bot)
    channel, ts = dm_channel(bot, morning), morning["ts"]
    posted_before = len(bot.slack.calls)
    bot.driver.click(
        ids.COMMIT_MOVE,
        user="U0MARIA",
        block_id=f"commitment-{made.id}",
        selected_date="2026-11-28",  # Saturday
        channel=channel,
        message_ts=ts,
        response_key="maria",
    )
    wait_for(
        lambda: (
            "Now due *Sat, Nov 28, 2026*" in line_text(bot.slack.message("U0MARIA", ts), made.id)
        )
    )
    assert stored(bot, made.id).due_version == 2

    def told() -> bool:
        seen = [r.get("text", "") + str(r.get("blocks", "")) for r in bot.slack.responses("maria")]
        for call in bot.slack.calls[posted_before:]:
            if call.method in ("chat.postEphemeral", "chat.postMessage"):
                seen.append(str(call.params))
        seen.append(all_text(bot.slack.message("U0MARIA", ts)))
        return any("not a working day" in s and "Mon, Nov 30" in s for s in seen)

    wait_for(told, timeout=5)


def test_change_date_to_a_holiday_on_the_channel_message_is_pointed_out(sqlite_bot):
    """The confirmation's own date picker: the remark, privately, with its Move button."""
    bot = sqlite_bot
    made = make(bot, "Send the year-end report by Dec 18")
    message_ts = stored(bot, made.id).message_ts
    bot.driver.click(
        ids.COMMIT_MOVE,
        user="U0MARIA",
        block_id=f"commitment-{made.id}",
        selected_date="2026-12-25",
        channel="C0MEETING",
        message_ts=message_ts,
        response_key="maria-channel",
    )
    said = wait_for(lambda: bot.slack.responses("maria-channel"))[-1]
    assert said["response_type"] == "ephemeral" and said["replace_original"] is False
    assert said["text"] == (
        f"📅 #{made.id} is now due Fri, Dec 25, 2026.\n"
        f"#{made.id} is due Fri — Christmas Day, not a working day; Mon, Dec 28?"
    )
    [button] = [e for b in said["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == "Move to Mon, Dec 28"
    assert button["value"] == f"{made.id}:2026-12-28"


def test_change_date_to_a_day_off_in_app_home_is_said_by_dm(sqlite_bot):
    """App Home has no response URL: the remark and its button come by DM; Home shows the date."""
    bot = sqlite_bot
    made = make(bot, "Send the year-end report by Dec 18")
    bot.driver.click(
        ids.COMMIT_MOVE,
        user="U0MARIA",
        block_id=f"commitment-{made.id}",
        selected_date="2026-12-26",  # a Saturday
        home=True,
    )
    [said] = wait_for(lambda: dms(bot))
    assert all_text(said).startswith(
        f"📅 #{made.id} is now due Sat, Dec 26, 2026.\n"
        f"#{made.id} is due Sat — not a working day; Mon, Dec 28?"
    )
    [button] = [e for b in said["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["value"] == f"{made.id}:2026-12-28"
    home = wait_for(lambda: bot.slack.calls_to("views.publish"))[-1].params["view"]
    assert "Sat, Dec 26, 2026" in all_text(home)


def test_a_three_letter_country_code_is_its_two_letter_one(sqlite_bot):
    ask(sqlite_bot, "settings holidays country CA", user=ADMIN)
    said = ask(sqlite_bot, "settings holidays country USA", user=ADMIN)
    assert said.startswith("Public holidays are now US's."), said
    assert team(sqlite_bot).holiday_country == "US"


@pytest.mark.parametrize("country", ["united states", "<!channel>", "xx"])
def test_a_country_that_is_no_two_letter_code_gets_how_to_write_it(sqlite_bot, country):
    ask(sqlite_bot, "settings", user=ADMIN)  # the coalition's first use
    said = ask(sqlite_bot, f"settings holidays country {country}", user=ADMIN)
    assert said.startswith("I don't know the public holidays of `"), said
    assert "Use a two-letter country code such as US, CA or GB, or `none`." in said
    assert "Nothing was changed." in said and "<!channel>" not in said
    assert team(sqlite_bot).holiday_country is None
