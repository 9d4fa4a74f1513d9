"""Due dates as partners type them, resolved in the owner's zone on chosen days of the year."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.dates import END_OF_DAY, DateError, Due, format_due, parse_due, warm_up

NY = "America/New_York"
LA = "America/Los_Angeles"
LONDON = "Europe/London"
AUCKLAND = "Pacific/Auckland"
KOLKATA = "Asia/Kolkata"

# The instants the table is read at: (now, the owner's zone).
NOWS: dict[str, tuple[datetime, str]] = {
    # Mon 23 Nov 2026, 10:00 in New York
    "mon": (datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo(NY)), NY),
    # Fri 27 Nov 2026, morning and evening
    "fri": (datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo(NY)), NY),
    "fri_evening": (datetime(2026, 11, 27, 18, 30, tzinfo=ZoneInfo(NY)), NY),
    # Sat 28 Nov 2026
    "sat": (datetime(2026, 11, 28, 11, 0, tzinfo=ZoneInfo(NY)), NY),
    # Thu 31 Dec 2026: year, quarter and month end at once
    "dec31": (datetime(2026, 12, 31, 9, 0, tzinfo=ZoneInfo(NY)), NY),
    # Wed 31 Mar 2027: quarter end
    "mar31": (datetime(2027, 3, 31, 9, 0, tzinfo=ZoneInfo(NY)), NY),
    # Sat 31 Oct 2026, evening before the US clocks fall back (Sun 1 Nov, 02:00)
    "fall_back_eve": (datetime(2026, 10, 31, 20, 0, tzinfo=ZoneInfo(NY)), NY),
    # Sat 13 Mar 2027, evening before the US clocks spring forward (Sun 14 Mar, 02:00)
    "spring_eve": (datetime(2027, 3, 13, 20, 0, tzinfo=ZoneInfo(NY)), NY),
    # 04:00 UTC on Tue 24 Nov is still Mon 23 Nov, 20:00 in Los Angeles
    "la_evening": (datetime(2026, 11, 24, 4, 0, tzinfo=UTC), LA),
    # 12:00 UTC on Mon 23 Nov is already Tue 24 Nov, 01:00 in Auckland
    "auckland": (datetime(2026, 11, 23, 12, 0, tzinfo=UTC), AUCKLAND),
    # 20:00 UTC on Mon 23 Nov is Tue 24 Nov, 01:30 in Kolkata
    "kolkata": (datetime(2026, 11, 23, 20, 0, tzinfo=UTC), KOLKATA),
    # Sat 27 Mar 2027, 22:00 in London; British Summer Time starts the next morning
    "london_bst_eve": (datetime(2027, 3, 27, 22, 0, tzinfo=UTC), LONDON),
}

# Thu 26 Nov 2026, 10:00 in New York, given in UTC as the scheduler stores it
MEETING = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)

# Expected: "YYYY-MM-DD" = that day, no time named (17:00);
# "YYYY-MM-DD HH:MM" = that local time, named by the user;
# "YYYY-MM-DD HH:MM*" = that local time although the user named none (late today);
# "!reason" = refused with that DateError reason.
TABLE: list[tuple[str, str, str]] = [
    # --- Monday 23 Nov 2026, 10:00 New York ------------------------------------------------
    ("mon", "friday", "2026-11-27"),
    ("mon", "Friday", "2026-11-27"),
    ("mon", "this friday", "2026-11-27"),
    ("mon", "fri", "2026-11-27"),
    ("mon", "next friday", "2026-12-04"),
    ("mon", "friday next week", "2026-12-04"),
    # a bare weekday said on that weekday is next week's; "this monday" / "today" stay today
    ("mon", "monday", "2026-11-30"),
    ("mon", "Monday", "2026-11-30"),
    ("mon", "mon", "2026-11-30"),
    ("mon", "by monday", "2026-11-30"),
    ("mon", "on monday", "2026-11-30"),
    ("mon", "monday 5pm", "2026-11-30 17:00"),
    ("mon", "monday at 9am", "2026-11-30 09:00"),
    ("mon", "monday eod", "2026-11-30"),
    ("mon", "this monday", "2026-11-23"),
    ("mon", "this monday 5pm", "2026-11-23 17:00"),
    ("mon", "next monday", "2026-11-30"),
    ("mon", "next tuesday", "2026-12-01"),
    ("mon", "thurs", "2026-11-26"),
    ("mon", "tomorrow", "2026-11-24"),
    ("mon", "today", "2026-11-23"),
    ("mon", "the day after tomorrow", "2026-11-25"),
    ("mon", "tomorrow 5pm", "2026-11-24 17:00"),
    ("mon", "3pm tomorrow", "2026-11-24 15:00"),
    ("mon", "friday at noon", "2026-11-27 12:00"),
    ("mon", "dec 4 at 9:30am", "2026-12-04 09:30"),
    ("mon", "Dec 4, 9 a.m.", "2026-12-04 09:00"),
    ("mon", "5pm", "2026-11-23 17:00"),
    ("mon", "at 5", "2026-11-23 17:00"),
    ("mon", "tomorrow at 9:30", "2026-11-24 09:30"),
    ("mon", "thursday 10am", "2026-11-26 10:00"),
    ("mon", "friday morning", "2026-11-27 09:00"),
    ("mon", "midnight", "2026-11-23 23:59"),
    ("mon", "tonight", "2026-11-23 20:00"),
    ("mon", "in 2 hours", "2026-11-23 12:00"),
    ("mon", "9am", "!past"),
    ("mon", "12/4", "2026-12-04"),
    ("mon", "Dec 4", "2026-12-04"),
    ("mon", "dec. 4th", "2026-12-04"),
    ("mon", "december the 4th", "2026-12-04"),
    ("mon", "4th of December", "2026-12-04"),
    ("mon", "12/4/2026", "2026-12-04"),
    ("mon", "1/2/27", "2027-01-02"),
    ("mon", "2026-12-04", "2026-12-04"),
    ("mon", "Wed, Dec 2, 2026", "2026-12-02"),
    ("mon", "Jan 15", "2027-01-15"),
    ("mon", "feb 29", "2028-02-29"),
    ("mon", "Nov 20", "!past"),
    ("mon", "sept 5", "!past"),
    ("mon", "Nov 2 2025", "!past"),
    ("mon", "yesterday", "!past"),
    ("mon", "last Friday", "!past"),
    ("mon", "2 days ago", "!past"),
    ("mon", "in 2 weeks", "2026-12-07"),
    ("mon", "two weeks", "2026-12-07"),
    ("mon", "in 3 days", "2026-11-26"),
    ("mon", "a week from today", "2026-11-30"),
    ("mon", "a week from now", "2026-11-30"),
    ("mon", "in a week", "2026-11-30"),
    ("mon", "2 weeks from friday", "2026-12-11"),
    ("mon", "in a fortnight", "2026-12-07"),
    ("mon", "in 10 working days", "2026-12-07"),
    ("mon", "in 3 business days", "2026-11-26"),
    ("mon", "in 2 months", "2027-01-23"),
    ("mon", "in 2 weeks' time", "2026-12-07"),
    ("mon", "next business day", "2026-11-24"),
    ("mon", "last day of the month", "2026-11-30"),
    ("mon", "friday evening at 7", "2026-11-27 19:00"),
    ("mon", "tonight at 9", "2026-11-23 21:00"),
    # formats left to dateparser, with our year rules
    ("mon", "12.4.2026", "2026-12-04"),
    ("mon", "2026 december 4", "2026-12-04"),
    ("mon", "dec 4 27", "2027-12-04"),
    ("mon", "dec 2 10", "!past"),
    ("mon", "3 weeks ago", "!past"),
    ("mon", "last week", "!past"),
    # mixes of date words that dateparser would accept
    ("mon", "yesterday tomorrow", "!unrecognised"),
    ("mon", "monday 11", "!unrecognised"),
    ("mon", "march 3 of", "!unrecognised"),
    ("mon", "the 15th", "2026-12-15"),
    ("mon", "15th", "2026-12-15"),
    ("mon", "on the 3rd", "2026-12-03"),
    ("mon", "the 23rd", "2026-11-23"),
    ("mon", "the 31st", "2026-12-31"),
    ("mon", "the 15th of next month", "2026-12-15"),
    ("mon", "end of month", "2026-11-30"),
    ("mon", "end of the month", "2026-11-30"),
    ("mon", "eom", "2026-11-30"),
    ("mon", "end-of-month", "2026-11-30"),
    ("mon", "end of next month", "2026-12-31"),
    ("mon", "end of quarter", "2026-12-31"),
    ("mon", "eoq", "2026-12-31"),
    ("mon", "end of year", "2026-12-31"),
    ("mon", "end of week", "2026-11-27"),
    ("mon", "eow", "2026-11-27"),
    ("mon", "end of the week", "2026-11-27"),
    ("mon", "end of next week", "2026-12-04"),
    ("mon", "next week", "2026-12-04"),
    ("mon", "next month", "2026-12-31"),
    ("mon", "eod", "2026-11-23"),
    ("mon", "EOD", "2026-11-23"),
    ("mon", "end of day", "2026-11-23"),
    ("mon", "end of today", "2026-11-23"),
    ("mon", "cob", "2026-11-23"),
    ("mon", "close of business", "2026-11-23"),
    ("mon", "friday eod", "2026-11-27"),
    ("mon", "first of next month", "2026-12-01"),
    ("mon", "start of next month", "2026-12-01"),
    ("mon", "beginning of next month", "2026-12-01"),
    ("mon", "may", "2027-05-31"),
    ("mon", "end of december", "2026-12-31"),
    ("mon", "q1", "2027-03-31"),
    ("mon", "before the next meeting", "2026-11-26 10:00"),
    ("mon", "next meeting", "2026-11-26 10:00"),
    ("mon", "the next meeting", "2026-11-26 10:00"),
    ("mon", "before next meeting", "2026-11-26 10:00"),
    ("mon", "by the meeting", "2026-11-26 10:00"),
    ("mon", "in 6 years", "!too_far"),
    ("mon", "2099", "!too_far"),
    ("mon", "in 99999 months", "!too_far"),
    ("mon", "", "!empty"),
    ("mon", "   ", "!empty"),
    ("mon", "monitor", "!unrecognised"),
    ("mon", "the plan", "!unrecognised"),
    ("mon", "to", "!unrecognised"),
    ("mon", "on", "!unrecognised"),
    ("mon", "wave", "!unrecognised"),
    ("mon", "march on", "!unrecognised"),
    ("mon", "the 5th wave", "!unrecognised"),
    ("mon", "10", "!unrecognised"),
    ("mon", "1700000000", "!unrecognised"),
    ("mon", "13/4", "!unrecognised"),
    ("mon", "feb 30", "!unrecognised"),
    ("mon", "thursday dec 4", "!unrecognised"),
    ("mon", "vendredi", "!unrecognised"),
    ("mon", "🎉 friday", "!unrecognised"),
    ("mon", "'; DROP TABLE commitments; --", "!unrecognised"),
    ("mon", "friday\x00", "!unrecognised"),
    ("mon", "friday " * 20, "!unrecognised"),
    # --- Friday 27 Nov 2026 -------------------------------------------------------------------
    ("fri", "friday", "2026-12-04"),
    ("fri", "this friday", "2026-11-27"),
    ("fri", "friday 5pm", "2026-12-04 17:00"),
    ("fri", "next friday", "2026-12-04"),
    ("fri", "end of week", "2026-11-27"),
    ("fri", "end of next week", "2026-12-04"),
    ("fri", "monday", "2026-11-30"),
    ("fri", "in 3 working days", "2026-12-02"),
    ("fri", "the 27th", "2026-11-27"),
    ("fri_evening", "friday", "2026-12-04"),
    ("fri_evening", "this friday", "2026-11-27 23:59*"),
    ("fri_evening", "today", "2026-11-27 23:59*"),
    ("fri_evening", "eod", "2026-11-27 23:59*"),
    ("fri_evening", "5pm", "!past"),
    ("fri_evening", "9pm", "2026-11-27 21:00"),
    ("fri_evening", "tomorrow", "2026-11-28"),
    # --- Saturday 28 Nov 2026 -----------------------------------------------------------------
    ("sat", "friday", "2026-12-04"),
    ("sat", "next friday", "2026-12-04"),
    ("sat", "end of week", "2026-12-04"),
    ("sat", "eow", "2026-12-04"),
    ("sat", "monday", "2026-11-30"),
    ("sat", "saturday", "2026-12-05"),
    ("sat", "sunday", "2026-11-29"),
    ("sat", "end of month", "2026-11-30"),
    ("sat", "in 1 working day", "2026-11-30"),
    ("sat", "in 5 working days", "2026-12-04"),
    ("sat", "tomorrow", "2026-11-29"),
    # --- Thursday 31 Dec 2026 -----------------------------------------------------------------
    ("dec31", "end of year", "2026-12-31"),
    ("dec31", "end of month", "2026-12-31"),
    ("dec31", "end of quarter", "2026-12-31"),
    ("dec31", "end of next month", "2027-01-29"),
    ("dec31", "end of next quarter", "2027-03-31"),
    ("dec31", "end of next year", "2027-12-31"),
    ("dec31", "first of next month", "2027-01-01"),
    ("dec31", "tomorrow", "2027-01-01"),
    ("dec31", "friday", "2027-01-01"),
    ("dec31", "next friday", "2027-01-08"),
    ("dec31", "jan 15", "2027-01-15"),
    ("dec31", "1/4", "2027-01-04"),
    ("dec31", "12/31", "2026-12-31"),
    ("dec31", "dec 30", "!past"),
    ("dec31", "the 15th", "2027-01-15"),
    ("dec31", "in 2 months", "2027-02-28"),
    # --- Wednesday 31 Mar 2027 ----------------------------------------------------------------
    ("mar31", "end of quarter", "2027-03-31"),
    ("mar31", "eoq", "2027-03-31"),
    ("mar31", "end of next quarter", "2027-06-30"),
    ("mar31", "q2", "2027-06-30"),
    ("mar31", "end of month", "2027-03-31"),
    ("mar31", "end of next month", "2027-04-30"),
    ("mar31", "start of next month", "2027-04-01"),
    ("mar31", "the 31st", "2027-03-31"),
    ("mar31", "the 30th", "2027-04-30"),
    ("mar31", "in 1 month", "2027-04-30"),
    ("mar31", "mar 30", "!past"),
    # --- around the clock changes -------------------------------------------------------------
    ("fall_back_eve", "tomorrow 9am", "2026-11-01 09:00"),
    ("fall_back_eve", "tomorrow", "2026-11-01"),
    ("fall_back_eve", "monday 8am", "2026-11-02 08:00"),
    ("fall_back_eve", "in 2 hours", "2026-10-31 22:00"),
    ("fall_back_eve", "end of month", "2026-10-31 23:59*"),
    ("spring_eve", "tomorrow 9am", "2027-03-14 09:00"),
    ("spring_eve", "tomorrow 2:30am", "2027-03-14 03:30"),
    ("spring_eve", "in 12 hours", "2027-03-14 09:00"),
    ("spring_eve", "monday", "2027-03-15"),
    # --- other zones --------------------------------------------------------------------------
    ("la_evening", "today", "2026-11-23 23:59*"),
    ("la_evening", "tomorrow", "2026-11-24"),
    ("la_evening", "tomorrow 9am", "2026-11-24 09:00"),
    ("la_evening", "9pm", "2026-11-23 21:00"),
    ("la_evening", "7pm", "!past"),
    ("la_evening", "friday", "2026-11-27"),
    ("auckland", "today", "2026-11-24"),
    ("auckland", "tomorrow", "2026-11-25"),
    ("auckland", "yesterday", "!past"),
    ("auckland", "friday", "2026-11-27"),
    ("auckland", "next friday", "2026-12-04"),
    ("auckland", "end of month", "2026-11-30"),
    ("kolkata", "today", "2026-11-24"),
    ("kolkata", "9am", "2026-11-24 09:00"),
    ("kolkata", "tomorrow 10:30am", "2026-11-25 10:30"),
    ("kolkata", "the 24th", "2026-11-24"),
    ("kolkata", "in 3 days", "2026-11-27"),
    ("london_bst_eve", "tomorrow 9am", "2027-03-28 09:00"),
    ("london_bst_eve", "tomorrow", "2027-03-28"),
    ("london_bst_eve", "monday", "2027-03-29"),
    ("london_bst_eve", "end of month", "2027-03-31"),
]


def _parse(now_key: str, phrase: str) -> Due:
    now, tz = NOWS[now_key]
    return parse_due(phrase, now=now, tz=tz, next_meeting=MEETING)


@pytest.mark.parametrize(("now_key", "phrase", "expected"), TABLE)
def test_phrase_resolves_to_expected_local_date(now_key: str, phrase: str, expected: str) -> None:
    _, tz = NOWS[now_key]
    if expected.startswith("!"):
        with pytest.raises(DateError) as caught:
            _parse(now_key, phrase)
        assert caught.value.reason == expected[1:]
        return
    due = _parse(now_key, phrase)
    local = due.at.astimezone(ZoneInfo(tz))
    assert due.at.utcoffset() == local.utcoffset()  # already in the owner's zone
    day, _, clock = expected.partition(" ")
    assert local.date() == date.fromisoformat(day)
    if not clock:
        assert (local.hour, local.minute) == (END_OF_DAY.hour, END_OF_DAY.minute)
        assert due.has_time is False
    else:
        assert local.strftime("%H:%M") == clock.rstrip("*")
        assert due.has_time is (not clock.endswith("*"))


def test_the_table_is_large_and_covers_every_instant() -> None:
    assert len(TABLE) >= 60
    assert {row[0] for row in TABLE} == set(NOWS)


def test_result_is_in_the_owners_zone_even_when_now_is_utc() -> None:
    due = _parse("la_evening", "tomorrow")
    assert isinstance(due.at.tzinfo, ZoneInfo)
    assert str(due.at.tzinfo) == LA
    # 17:00 PST is 01:00 UTC the following day
    assert due.at.astimezone(UTC) == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now_key", "phrase", "offset_hours"),
    [
        ("fall_back_eve", "tomorrow 9am", -5),  # EST after the fall back
        ("fall_back_eve", "in 2 hours", -4),  # still EDT that evening
        ("spring_eve", "tomorrow 9am", -4),  # EDT after the spring forward
        ("london_bst_eve", "tomorrow 9am", 1),  # BST
        ("mon", "tomorrow 9am", -5),
    ],
)
def test_wall_clock_time_survives_daylight_saving_changes(
    now_key: str, phrase: str, offset_hours: int
) -> None:
    assert _parse(now_key, phrase).at.utcoffset() == timedelta(hours=offset_hours)


def test_hours_from_now_count_real_time_across_the_spring_forward() -> None:
    now, tz = NOWS["spring_eve"]
    due = parse_due("in 12 hours", now=now, tz=tz)
    # same-zone subtraction in Python is wall-clock, so compare in UTC
    assert due.at.astimezone(UTC) - now.astimezone(UTC) == timedelta(hours=12)


# --- meetings -------------------------------------------------------------------------------


def test_meeting_is_kept_exactly_and_shown_with_its_time() -> None:
    due = _parse("mon", "before the next meeting")
    assert due.at == MEETING
    assert due.has_time is True
    assert str(due.at.tzinfo) == NY


def test_meeting_without_a_meeting_explains_how_to_set_one() -> None:
    now, tz = NOWS["mon"]
    with pytest.raises(DateError) as caught:
        parse_due("before the next meeting", now=now, tz=tz, next_meeting=None)
    assert caught.value.reason == "no_meeting"
    assert "/commstat meeting every Thursday at 10am" in str(caught.value)


def test_a_meeting_that_already_happened_is_not_a_due_date() -> None:
    now, tz = NOWS["mon"]
    with pytest.raises(DateError) as caught:
        parse_due("next meeting", now=now, tz=tz, next_meeting=now - timedelta(hours=1))
    assert caught.value.reason == "no_meeting"


# --- messages -------------------------------------------------------------------------------


def test_past_message_says_so_and_shows_the_date() -> None:
    with pytest.raises(DateError) as caught:
        _parse("mon", "yesterday")
    assert str(caught.value).startswith("that date is in the past")
    assert "Sun, Nov 22, 2026" in str(caught.value)


def test_past_date_without_year_suggests_adding_the_year() -> None:
    with pytest.raises(DateError) as caught:
        _parse("mon", "Nov 20")
    assert "add the year" in str(caught.value)


def test_unrecognised_message_quotes_the_phrase_shortened_and_gives_examples() -> None:
    phrase = "sometime after the budget hearing when the council reconvenes"
    with pytest.raises(DateError) as caught:
        _parse("mon", phrase)
    message = str(caught.value)
    assert caught.value.reason == "unrecognised"
    assert phrase[:30] in message
    assert phrase not in message  # truncated
    assert "…" in message
    for example in ('"Friday"', '"Dec 4"', '"in 2 weeks"'):
        assert example in message


def test_unrecognised_message_does_not_echo_control_characters() -> None:
    with pytest.raises(DateError) as caught:
        _parse("mon", "fri\x07day")
    assert "\x07" not in str(caught.value)


def test_weekday_that_disagrees_with_the_date_is_explained() -> None:
    with pytest.raises(DateError) as caught:
        _parse("mon", "thursday dec 4")
    assert "is a Friday, not a Thursday" in str(caught.value)


def test_too_far_message_names_the_limit() -> None:
    with pytest.raises(DateError) as caught:
        _parse("mon", "in 6 years")
    assert "5 years" in str(caught.value)


def test_exactly_five_years_ahead_is_still_allowed() -> None:
    due = _parse("mon", "11/23/2031")
    assert due.at.date() == date(2031, 11, 23)


@pytest.mark.parametrize("tz", [AUCKLAND, LA, "Pacific/Kiritimati", "Etc/GMT+12"])
@pytest.mark.parametrize(
    ("phrase", "reason"),
    [
        ("1/1/0001 12am", "past"),
        ("jan 1 0001", "past"),
        ("12/31/9999 11pm", "too_far"),
        ("9999", "too_far"),
        ("in 99999 years", "too_far"),
        ("in 99999 hours", "too_far"),
        ("99999 weeks from dec 31 9999", "too_far"),
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_refused_not_crashed(
    phrase: str, reason: str, tz: str
) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with pytest.raises(DateError) as caught:
        parse_due(phrase, now=now, tz=tz)
    assert caught.value.reason == reason


# --- programming errors are not user errors ---------------------------------------------------


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware") as caught:
        parse_due("friday", now=datetime(2026, 11, 23, 10, 0), tz=NY)
    assert not isinstance(caught.value, DateError)


def test_unknown_zone_is_a_programming_error() -> None:
    now, _ = NOWS["mon"]
    with pytest.raises(ValueError, match="time zone") as caught:
        parse_due("friday", now=now, tz="Mars/Olympus_Mons")
    assert not isinstance(caught.value, DateError)


# --- format_due -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "has_time", "expected"),
    [
        (datetime(2026, 12, 2, 17, 0), False, "Wed, Dec 2, 2026"),
        (datetime(2026, 12, 2, 17, 0), True, "Wed, Dec 2, 2026 at 5:00 PM"),
        (datetime(2027, 1, 4, 9, 5), True, "Mon, Jan 4, 2027 at 9:05 AM"),
        (datetime(2026, 11, 1, 0, 0), True, "Sun, Nov 1, 2026 at 12:00 AM"),
        (datetime(2026, 11, 1, 12, 30), True, "Sun, Nov 1, 2026 at 12:30 PM"),
        (datetime(2026, 11, 30, 23, 59), True, "Mon, Nov 30, 2026 at 11:59 PM"),
    ],
)
def test_format_due_writes_dates_unambiguously(at: datetime, has_time: bool, expected: str) -> None:
    assert format_due(at.replace(tzinfo=ZoneInfo(NY)), has_time=has_time) == expected


def test_format_due_of_a_due_uses_its_own_has_time() -> None:
    at = datetime(2026, 12, 2, 9, 30, tzinfo=ZoneInfo(NY))
    assert format_due(Due(at, has_time=True)) == "Wed, Dec 2, 2026 at 9:30 AM"
    assert format_due(Due(at, has_time=False)) == "Wed, Dec 2, 2026"


def test_format_due_round_trips_through_parse_due() -> None:
    due = _parse("mon", "dec 2 at 9:30am")
    assert _parse("mon", format_due(due)) == _parse("mon", "dec 2 at 9:30am")


def test_warm_up_leaves_parsing_working() -> None:
    warm_up()
    assert _parse("mon", "in a fortnight").at.date() == date(2026, 12, 7)


# --- properties -----------------------------------------------------------------------------

ZONES = [NY, LA, LONDON, AUCKLAND, KOLKATA, "UTC", "Australia/Lord_Howe", "America/St_Johns"]
DATE_WORDS = (
    "friday", "next", "this", "last", "the", "of", "in", "on", "at", "by", "a", "an", "end",
    "start", "first", "week", "month", "quarter", "year", "eod", "eom", "tomorrow", "today",
    "yesterday", "dec", "4", "15th", "12/4", "2026", "2", "weeks", "days", "working", "5pm",
    "9:30", "noon", "midnight", "morning", "meeting", "before", "from", "now", "ago",
    "fortnight", "q1", "may", "march", "monitor", "wave", "31st", "31", "0", "99999", "13/13",
    "2/29", "hours",
)  # fmt: skip

nows = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2090, 12, 31),
    timezones=st.sampled_from([ZoneInfo(z) for z in ZONES]),
)
meetings = st.one_of(st.none(), st.timedeltas(timedelta(days=-3), timedelta(days=400)))
phrases = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.ascii_letters + string.digits + " /:,.'-", max_size=30),
    st.lists(st.sampled_from(DATE_WORDS), min_size=1, max_size=4).map(" ".join),
)


@settings(max_examples=400, deadline=None)
@given(phrase=phrases, now=nows, tz=st.sampled_from(ZONES), meeting_offset=meetings)
def test_any_text_gives_a_future_aware_due_or_a_date_error(
    phrase: str, now: datetime, tz: str, meeting_offset: timedelta | None
) -> None:
    meeting = None if meeting_offset is None else now + meeting_offset
    try:
        due = parse_due(phrase, now=now, tz=tz, next_meeting=meeting)
    except DateError as exc:
        assert exc.reason in {"empty", "unrecognised", "past", "no_meeting", "too_far"}
        assert str(exc)
        return
    assert isinstance(due, Due)
    assert due.at.tzinfo is not None and due.at.utcoffset() is not None
    assert str(due.at.tzinfo) == tz
    assert due.at >= now


@settings(max_examples=150, deadline=None)
@given(now=nows, tz=st.sampled_from(ZONES))
def test_tomorrow_at_nine_is_nine_on_the_next_local_day_in_any_zone_and_season(
    now: datetime, tz: str
) -> None:
    due = parse_due("tomorrow 9am", now=now, tz=tz)
    local_today = now.astimezone(ZoneInfo(tz)).date()
    assert due.at.date() == local_today + timedelta(days=1)
    assert (due.at.hour, due.at.minute) == (9, 0)


@settings(max_examples=150, deadline=None)
@given(now=nows, tz=st.sampled_from(ZONES))
def test_a_day_without_a_time_is_never_refused_as_past_today(now: datetime, tz: str) -> None:
    for phrase in ("today", "eod", "end of week", "end of month", "end of quarter", "the 31st"):
        due = parse_due(phrase, now=now, tz=tz)
        assert due.at >= now
        assert due.has_time is False
