"""Attacks on `/indicator <name> for <period>` (issue 14), as an outsider would type them: two
periods at once, months and quarters that do not exist, years no data can have (0001, 9999,
FY1800), a restricted indicator asked from elsewhere, and very long text. Each gets a specific
answer in words, only to the asker when it is a refusal, within Slack's 3 seconds, and nothing
is stored. Through the served app (signed slash commands, the Slack stand-in) on the bundled CDC
file (12-month-ending overdose deaths, Jan 2015 – Apr 2025, MD/NC/VT/US).
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bot.core import periods
from storage.models import Indicator
from tests.e2e.test_indicator import ask, count_values, load_cdc
from tests.helpers import all_text
from tests.hostile.test_text_is_never_live import live_controls, shown_texts

DEATHS = "Number of Drug Overdose Deaths"


@pytest.fixture
def cdc_bot(sqlite_bot):
    load_cdc(sqlite_bot)
    return sqlite_bot


def said(bot, text: str) -> tuple[str, dict]:
    answer = ask(bot, text).answer()
    return all_text(answer), answer


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("overdose deaths for Q1 2024 in VT in 2023", "One period at a time"),
        ("overdose deaths in 2023 for Dec 2023", "One period at a time"),
        ("overdose deaths for 0/2024", "`0/2024` is not a month: 0 is not one of 1 to 12"),
        ("overdose deaths for 13/2024", "13 is not one of 1 to 12"),
        ("overdose deaths for Q5 2024", "quarters are Q1 to Q4"),
        ("overdose deaths for 2024-02-30", "February 2024 has days 1 to 29"),
        ("overdose deaths for 2024-W53", "2024 has ISO weeks 1 to 52, not 53"),
        ("overdose deaths for 1/0000", "the year 0 looks wrong"),
        ("overdose deaths for December", "Which year?"),
        ("overdose deaths in MD for Dec 2023 by state", "not both"),
    ],
)
def test_a_period_that_cannot_be_read_is_refused_privately_with_the_reason(cdc_bot, text, words):
    seen, answer = said(cdc_bot, text)
    assert words in seen
    assert answer.get("response_type") != "in_channel"
    assert "went wrong" not in seen


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # Years no data can have, but four digits as people write them: answered, not crashed.
        ("overdose deaths for FY1800", f"{DEATHS} has no data for 1800."),
        ("overdose deaths in 1800", "The nearest period with data: 12 months ending Jan 2015"),
        ("overdose deaths for Dec 9999", "has no data for Dec 9999, which is still to come"),
        ("overdose deaths in 9999", "has no data for 9999, which is still to come"),
        ("overdose deaths for Q4 9999", "has no data for Q4 9999, which is still to come"),
        ("overdose deaths in MD for 12/9999", "has no data for Dec 9999"),
        ("overdose deaths for 9999-12-31", "has no data for Dec 31, 9999"),
        # Year 1 would read "Jan 1" in the answer: refused as the year 0 is.
        ("overdose deaths for Jan 0001", "`Jan 0001` is not a period: the year 1 looks wrong"),
        ("overdose deaths for 0001-W01", "the year 1 looks wrong"),
        ("overdose deaths in 0999", "the year 999 looks wrong"),
    ],
)
def test_years_no_data_can_have_are_answered_in_words_never_a_crash(cdc_bot, text, words):
    seen, _ = said(cdc_bot, text)
    assert words in seen, seen
    assert "went wrong" not in seen


def test_the_end_of_the_last_representable_periods_is_a_date():
    """Unit: a question about 9999 compares dates up to its end, which used to overflow."""
    assert periods.period_end(periods.month_period(9999, 12), None) == date(9999, 12, 31)
    assert periods.period_end(periods.quarter_period(9999, 4), "quarterly") == date(9999, 12, 31)
    assert periods.period_end(periods.year_period(9999), None) == date(9999, 12, 31)
    assert periods.period_end(periods.day_period(date(9999, 12, 30)), "weekly") == date.max
    assert periods.period_end(periods.month_period(2024, 2), None) == date(2024, 2, 29)
    assert periods.period_end(periods.quarter_period(2023, 4), None) == date(2023, 12, 31)


def test_a_past_period_of_a_restricted_indicator_is_not_answered_elsewhere(cdc_bot):
    bot = cdc_bot
    with bot.services.sessions.begin() as session:
        secret = session.scalars(select(Indicator).where(Indicator.name == DEATHS)).one()
        secret.restricted_to = ["C0PRIVATE"]
    for text in (
        "number of drug overdose deaths for Dec 2023",
        "number of drug overdose deaths for Dec 1990",  # "no data … nearest period" would leak
        "number of drug overdose deaths in VT in 2023",
    ):
        seen, _ = said(bot, text)
        assert DEATHS not in seen and "246" not in seen and "Jan 2015" not in seen, seen
    seen, _ = said(bot, "number of drug overdose deaths in VT for Dec 2023")
    assert "246" not in seen
    answer = ask(bot, "number of drug overdose deaths in VT for Dec 2023", channel="C0PRIVATE")
    assert "246 deaths (12 months ending Dec 2023)" in all_text(answer.answer())


@pytest.mark.parametrize(
    "text",
    [
        "overdose deaths " + "in 2023 " * 480,
        "overdose deaths for " + "Dec " * 980 + "2023",
        "overdose deaths in " + "x" * 3980,
        "overdose deaths " + "for 2023 <!channel> " * 190,
        "<!channel> " * 360 + "for Dec 2023",
        "overdose deaths for " + "<@U0EVIL> " * 390 + "2023",
    ],
)
def test_very_long_text_is_answered_briefly_and_inertly(cdc_bot, text):
    bot = cdc_bot
    before = count_values(bot)
    asked = ask(bot, text[:4000])  # Slack's limit for a command's text
    answer = asked.answer()
    seen = all_text(answer)
    assert seen and "went wrong" not in seen
    assert len(seen) < 1000
    assert not live_controls(shown_texts(answer))
    assert count_values(bot) == before
