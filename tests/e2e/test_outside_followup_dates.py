"""/commit with a date written day first (`31/12`, `25/12/2026`), as people outside the US
write it. Numbers go month first here (`12/4` is Dec 4), so one that only reads day first is
not read silently day first (the same person's `4/12` would then become Apr 12 without a
word): the answer names the date it would be and how to write it, and nothing is stored."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bot.core.dates import DateError, parse_due
from tests.e2e.test_commit import NY, ask, channel_messages, make, stored
from tests.helpers import all_text

MONDAY = datetime(2026, 11, 23, 10, tzinfo=NY)  # the served app's clock


def test_a_date_written_day_first_gets_the_date_it_would_be_and_nothing_is_stored(bot):
    said = ask(bot, "Send the year-end figures by 31/12")
    assert said["response_type"] == "ephemeral"
    assert said["text"] == (
        'I couldn\'t read "31/12" as a date: dates in numbers go month first here. '
        'Did you mean Dec 31? Write "Dec 31" or "12/31".'
    )
    assert stored(bot) == [] and channel_messages(bot) == []
    # Written as suggested, it is the date it named.
    _, message = make(bot, "Send the year-end figures by Dec 31")
    assert "due *Thu, Dec 31, 2026*" in all_text(message)


@pytest.mark.parametrize(
    ("phrase", "suggested"),
    [
        ("25/12/2026", 'Did you mean Dec 25, 2026? Write "Dec 25, 2026" or "12/25/2026".'),
        ("31-12-2026", 'Did you mean Dec 31, 2026? Write "Dec 31, 2026" or "12/31/2026".'),
        ("25/12/26", 'Did you mean Dec 25, 2026? Write "Dec 25, 2026" or "12/25/2026".'),
        ("by 13/1 5pm", 'Did you mean Jan 13? Write "Jan 13" or "1/13".'),
    ],
)
def test_day_first_dates_name_the_date_they_would_be(phrase, suggested):
    with pytest.raises(DateError) as refused:
        parse_due(phrase, now=MONDAY, tz="America/New_York")
    assert refused.value.reason == "unrecognised"
    assert str(refused.value).endswith(f"month first here. {suggested}")


@pytest.mark.parametrize(
    ("phrase", "day"),
    [
        ("12/31", date(2026, 12, 31)),
        ("4/12", date(2027, 4, 12)),
        ("12/25/2026", date(2026, 12, 25)),
    ],
)
def test_month_first_dates_are_read_as_before(phrase, day):
    assert parse_due(phrase, now=MONDAY, tz="America/New_York").at.date() == day


@pytest.mark.parametrize("phrase", ["31/11", "13/13", "0/12", "32/12/2026", "30/2"])
def test_numbers_that_are_no_day_either_way_get_the_plain_refusal(phrase):
    with pytest.raises(DateError) as refused:
        parse_due(phrase, now=MONDAY, tz="America/New_York")
    assert refused.value.reason == "unrecognised"
    assert "month first" not in str(refused.value)
