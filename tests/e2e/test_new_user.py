"""A busy public servant tries CommStat for the first time: what they type, what they read.

Data: the bundled CDC files loaded the way `commstat demo` loads them (overdose deaths for US, MD,
NC and VT to Apr 2025; naloxone dispensing rates by state, yearly to 2023) and bot/data/catalog.yml
(aliases, units, stewards: Maria for overdoses, Lee for naloxone; default place MD).
"""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.sandbox import bundled
from storage.models import Indicator, IndicatorValue, Schedule
from tests.helpers import all_text, wait_for

TEAM_ID = "T0COALITION"
CHANNEL = "C0MEETING"
DEATHS = "Number of Drug Overdose Deaths"


def load_demo_data(bot):
    """What the data analyst does once, exactly as `commstat demo` does it."""
    bundled.load_all(bot.services.sessions, team_id=TEAM_ID, now=bot.clock())


def ask(bot, command, text, user="U0MARIA"):
    """The first thing the bot sends back to this command (its ack text or its response)."""
    answer = bot.driver.command(command, text, user=user, channel=CHANNEL)
    assert answer.status == 200
    assert answer.seconds < 3
    body = answer.json() if answer.body else None
    if body and body.get("text"):
        return body
    key = bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1]
    return wait_for(lambda: bot.slack.responses(key))[0]


def geographies(bot, name):
    with bot.services.sessions() as session:
        return set(
            session.scalars(
                select(IndicatorValue.geography)
                .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
                .where(Indicator.name == name)
                .distinct()
            )
        )


def value_of(bot, name, period, geography):
    with bot.services.sessions() as session:
        return session.scalars(
            select(IndicatorValue.value)
            .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
            .where(
                Indicator.name == name,
                IndicatorValue.period == period,
                IndicatorValue.geography == geography,
            )
        ).one_or_none()


# --- /indicator -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "header", "value"),
    [
        ("overdose deaths in Maryland", "Number of Drug Overdose Deaths — MD", "*1,562 deaths*"),
        ("naloxone in vermont", "Naloxone dispensing rate — VT", "*0.4 prescriptions"),
        ("overdoses in the United States", "Number of Drug Overdose Deaths — US", "*73,690"),
        ("naloxone in District of Columbia", "Naloxone dispensing rate — DC", "*1.2 prescriptions"),
    ],
)
def test_a_place_written_out_in_full_finds_its_two_letter_code(sqlite_bot, typed, header, value):
    load_demo_data(sqlite_bot)
    reply = ask(sqlite_bot, "/indicator", typed)
    seen = all_text(reply)
    assert reply["response_type"] == "in_channel"
    assert header in seen
    assert value in seen
    assert "has no data for" not in seen


def test_a_steward_entering_a_value_in_maryland_adds_to_md_not_a_new_place(sqlite_bot):
    load_demo_data(sqlite_bot)
    before = geographies(sqlite_bot, DEATHS)
    reply = ask(sqlite_bot, "/indicator", "set overdoses 1,600 for 2025-05 in Maryland")
    assert "MD, 12 months ending May 2025" in reply["text"]
    assert value_of(sqlite_bot, DEATHS, "2025-05", "MD") == 1600
    assert geographies(sqlite_bot, DEATHS) == before


def test_a_yearly_indicator_compares_with_the_year_before_only_once(sqlite_bot):
    load_demo_data(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "/indicator", "naloxone in MD"))
    section = seen.split("Naloxone dispensing rate — MD", 2)[-1]
    assert "*0.8 prescriptions per 100 persons* · 2023" in section
    assert section.count("vs 2022") == 1
    by_state = all_text(ask(sqlite_bot, "/indicator", "naloxone by state"))
    assert "vs prior" in by_state
    assert "vs a year earlier" not in by_state


def test_a_monthly_indicator_still_compares_with_last_month_and_last_year(sqlite_bot):
    load_demo_data(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "/indicator", "overdoses in MD"))
    assert "▼ 3.2% (−52) vs 12 months ending Mar 2025 (1,614) — better" in seen
    assert "▼ 33.0% (−768) vs 12 months ending Apr 2024 (2,330) — better" in seen


def test_the_answer_says_when_the_next_value_is_late(sqlite_bot):
    load_demo_data(sqlite_bot)  # the clock reads Mon, Nov 23, 2026; data ends Apr 2025
    seen = all_text(ask(sqlite_bot, "/indicator", "overdoses"))
    assert "12 months ending May 2025 was expected by Tue, Sep 30, 2025" in seen
    assert "updated Mon, Nov 23, 2026" in seen


def test_fresh_data_is_not_called_late(sqlite_bot):
    sqlite_bot.clock.now = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)  # May 2025 due by Sep 30
    load_demo_data(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "/indicator", "overdoses"))
    assert "*1,562 deaths*" in seen
    assert "expected by" not in seen


def test_entering_the_value_already_stored_says_nothing_changed(sqlite_bot):
    load_demo_data(sqlite_bot)
    reply = ask(sqlite_bot, "/indicator", "set overdoses 1,562 for 2025-04 in MD")
    assert "1,562 → 1,562" not in reply["text"]
    assert "already 1,562 deaths" in reply["text"]
    assert value_of(sqlite_bot, DEATHS, "2025-04", "MD") == 1562


# --- /commstat --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["meeting tomorrow", "meeting tomorrow at 10am", "meeting next Tuesday at 9"]
)
def test_a_one_off_meeting_is_told_that_meetings_repeat_and_nothing_is_stored(sqlite_bot, typed):
    reply = ask(sqlite_bot, "/commstat", typed, user="U0ADMIN")
    assert reply["response_type"] == "ephemeral"
    assert "repeats" in reply["text"]
    assert "`/commstat meeting every Thursday at 10am`" in reply["text"]
    assert "I need a time of day" not in reply["text"]
    with sqlite_bot.services.sessions() as session:
        assert session.scalars(select(Schedule)).all() == []
