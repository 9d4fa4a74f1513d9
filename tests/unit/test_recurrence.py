"""Meeting phrases → recurrence rules → the dates people expect, and back into words."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.recurrence import (
    RecurrenceError,
    describe_lead,
    next_after,
    parse_lead,
    parse_meeting,
    parse_weekly,
    previous_before,
    zone_words,
)

NY = ZoneInfo("America/New_York")
MONDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon Nov 23 2026, 10:00 New York


def first_three(phrase, now=MONDAY, tz="America/New_York"):
    found = parse_meeting(phrase, now=now, tz=tz)
    dates, at = [], now
    for _ in range(3):
        at = next_after(found.rule, found.dtstart, found.time_zone, at)
        dates.append(at.strftime("%a %Y-%m-%d %H:%M"))
    return found.describe(), dates


@pytest.mark.parametrize(
    ("phrase", "words", "dates"),
    [
        (
            "every Thursday at 10am",
            "every Thursday at 10:00 AM",
            ["Thu 2026-11-26 10:00", "Thu 2026-12-03 10:00", "Thu 2026-12-10 10:00"],
        ),
        (
            "every other Tuesday at 9:30",
            "every other Tuesday at 9:30 AM",
            ["Tue 2026-11-24 09:30", "Tue 2026-12-08 09:30", "Tue 2026-12-22 09:30"],
        ),
        (
            "first Monday of the month at 2pm",
            "the first Monday of every month at 2:00 PM",
            ["Mon 2026-12-07 14:00", "Mon 2027-01-04 14:00", "Mon 2027-02-01 14:00"],
        ),
        (
            "every weekday at 9",
            "every weekday (Monday to Friday) at 9:00 AM",
            ["Tue 2026-11-24 09:00", "Wed 2026-11-25 09:00", "Thu 2026-11-26 09:00"],
        ),
        (
            "last Friday of the month at 3pm",
            "the last Friday of every month at 3:00 PM",
            ["Fri 2026-11-27 15:00", "Fri 2026-12-25 15:00", "Fri 2027-01-29 15:00"],
        ),
        (
            "every 2 weeks on Monday at 10",
            "every other Monday at 10:00 AM",
            ["Mon 2026-11-30 10:00", "Mon 2026-12-14 10:00", "Mon 2026-12-28 10:00"],
        ),
        (
            "Thursdays at 10",
            "every Thursday at 10:00 AM",
            ["Thu 2026-11-26 10:00", "Thu 2026-12-03 10:00", "Thu 2026-12-10 10:00"],
        ),
        (
            "every Monday and Thursday at 9:00",
            "every Monday and Thursday at 9:00 AM",
            ["Thu 2026-11-26 09:00", "Mon 2026-11-30 09:00", "Thu 2026-12-03 09:00"],
        ),
        (
            "every monday at 10am",  # today at 10:00 is now: the meeting that starts now is past
            "every Monday at 10:00 AM",
            ["Mon 2026-11-30 10:00", "Mon 2026-12-07 10:00", "Mon 2026-12-14 10:00"],
        ),
        (
            "every Monday at 11am",  # later today still counts
            "every Monday at 11:00 AM",
            ["Mon 2026-11-23 11:00", "Mon 2026-11-30 11:00", "Mon 2026-12-07 11:00"],
        ),
        (
            "the 15th of the month at 10",
            "the 15th of every month at 10:00 AM",
            ["Tue 2026-12-15 10:00", "Fri 2027-01-15 10:00", "Mon 2027-02-15 10:00"],
        ),
        (
            "last day of the month at 4pm",
            "the last day of every month at 4:00 PM",
            ["Mon 2026-11-30 16:00", "Thu 2026-12-31 16:00", "Sun 2027-01-31 16:00"],
        ),
        (
            "daily at 8:30am",
            "every day at 8:30 AM",
            ["Tue 2026-11-24 08:30", "Wed 2026-11-25 08:30", "Thu 2026-11-26 08:30"],
        ),
        (
            "every first Monday of the month at 2pm",
            "the first Monday of every month at 2:00 PM",
            ["Mon 2026-12-07 14:00", "Mon 2027-01-04 14:00", "Mon 2027-02-01 14:00"],
        ),
        (
            "biweekly on Tuesday at 1:30pm",
            "every other Tuesday at 1:30 PM",
            ["Tue 2026-11-24 13:30", "Tue 2026-12-08 13:30", "Tue 2026-12-22 13:30"],
        ),
        (
            "biweekly Tuesday 9:30",
            "every other Tuesday at 9:30 AM",
            ["Tue 2026-11-24 09:30", "Tue 2026-12-08 09:30", "Tue 2026-12-22 09:30"],
        ),
        (
            "monthly on the second Wednesday at 09:00",
            "the second Wednesday of every month at 9:00 AM",
            ["Wed 2026-12-09 09:00", "Wed 2027-01-13 09:00", "Wed 2027-02-10 09:00"],
        ),
        (
            "every 3 weeks on Friday at noon",
            "every 3 weeks on Friday at 12:00 PM",
            ["Fri 2026-11-27 12:00", "Fri 2026-12-18 12:00", "Fri 2027-01-08 12:00"],
        ),
        (
            "Every Wednesday @ 2",  # a bare 2 is 2 PM: nobody meets at 2 in the night
            "every Wednesday at 2:00 PM",
            ["Wed 2026-11-25 14:00", "Wed 2026-12-02 14:00", "Wed 2026-12-09 14:00"],
        ),
        (
            "every Tues at 3:15 p.m.",
            "every Tuesday at 3:15 PM",
            ["Tue 2026-11-24 15:15", "Tue 2026-12-01 15:15", "Tue 2026-12-08 15:15"],
        ),
        (
            "every fortnight on Thursday at 16:00",
            "every other Thursday at 4:00 PM",
            ["Thu 2026-11-26 16:00", "Thu 2026-12-10 16:00", "Thu 2026-12-24 16:00"],
        ),
        (
            "third Thursday of every month at 10am",
            "the third Thursday of every month at 10:00 AM",
            ["Thu 2026-12-17 10:00", "Thu 2027-01-21 10:00", "Thu 2027-02-18 10:00"],
        ),
    ],
)
def test_meeting_phrases_give_the_dates_people_mean(phrase, words, dates):
    assert first_three(phrase) == (words, dates)


def test_every_other_tuesday_said_on_a_sunday_starts_on_the_coming_tuesday():
    sunday = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
    _, dates = first_three("every other Tuesday at 9:30", now=sunday)
    assert dates == ["Tue 2026-12-01 09:30", "Tue 2026-12-15 09:30", "Tue 2026-12-29 09:30"]


@pytest.mark.parametrize(
    ("phrase", "says"),
    [
        ("", "it's empty"),
        ("every Thursday", "I need a time of day"),
        ("Thursday at 10", "say how often"),
        ("every blursday at 10", "I don't recognise the days"),
        ("every Thursday at 25", "`25` is not a time of day"),
        ("every Thursday at 10:75", "is not a time of day"),
        ("every Thursday at 13pm", "is not a time of day"),
        ("the 31st of the month at 10", "pick a day from 1 to 28"),
        ("every 12 weeks on Monday at 10", "every 1 to 8 weeks"),
        ("weekly at 10", "which day?"),
        ("sometime next month at 10", "for a monthly meeting, say which week and day"),
        ("at 10", "I don't recognise the days"),
        ("whenever the mayor is free", "I need a time of day"),
    ],
)
def test_phrases_we_cannot_read_get_specific_help_with_examples(phrase, says):
    with pytest.raises(RecurrenceError) as caught:
        parse_meeting(phrase, now=MONDAY, tz="America/New_York")
    message = str(caught.value)
    assert says in message
    assert "every Thursday at 10am" in message
    assert "first Monday of the month at 2pm" in message


def test_the_meeting_keeps_its_wall_clock_time_across_the_end_of_daylight_saving():
    before_dst_ends = datetime(2026, 10, 26, 14, 0, tzinfo=UTC)  # Mon Oct 26, 10:00 EDT
    found = parse_meeting("every Thursday at 10am", now=before_dst_ends, tz="America/New_York")
    first = next_after(found.rule, found.dtstart, found.time_zone, before_dst_ends)
    second = next_after(found.rule, found.dtstart, found.time_zone, first)
    assert (first.hour, second.hour) == (10, 10)
    assert first.astimezone(UTC).hour == 14  # EDT
    assert second.astimezone(UTC).hour == 15  # EST after Nov 1
    assert second.date().isoformat() == "2026-11-05"


def test_across_the_start_of_daylight_saving_in_another_zone():
    before = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    found = parse_meeting("every Monday at 9", now=before, tz="Europe/London")
    mondays = []
    at = before
    for _ in range(5):
        at = next_after(found.rule, found.dtstart, found.time_zone, at)
        mondays.append((at.date().isoformat(), at.hour, at.astimezone(UTC).hour))
    assert mondays[3] == ("2027-03-29", 9, 8)  # BST from Mar 28
    assert mondays[2] == ("2027-03-22", 9, 9)


def test_previous_occurrence_is_the_last_meeting_start():
    found = parse_meeting("every Thursday at 10am", now=MONDAY, tz="America/New_York")
    later = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    previous = previous_before(found.rule, found.dtstart, found.time_zone, later)
    assert previous == datetime(2026, 12, 3, 10, 0, tzinfo=NY)
    assert previous_before(found.rule, found.dtstart, found.time_zone, MONDAY) is None


def test_a_meeting_is_read_in_the_zone_given():
    found = parse_meeting("every Thursday at 10am", now=MONDAY, tz="America/Los_Angeles")
    assert found.dtstart.astimezone(UTC) == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("phrase", "minutes", "words"),
    [
        ("2 hours before", 120, "2 hours"),
        ("30 minutes before", 30, "30 minutes"),
        ("1 day before", 1440, "24 hours"),
        ("an hour before", 60, "1 hour"),
        ("half an hour before", 30, "30 minutes"),
        ("3 days before", 4320, "3 days"),
        ("90 mins before", 90, "1 h 30 min"),
        ("10 minutes before", 10, "10 minutes"),
        ("7 days before", 10080, "7 days"),
    ],
)
def test_digest_lead_times(phrase, minutes, words):
    assert parse_lead(phrase) == minutes
    assert describe_lead(minutes) == words


@pytest.mark.parametrize(
    ("phrase", "says"),
    [
        ("5 minutes before", "between 10 minutes and 7 days"),
        ("8 days before", "between 10 minutes and 7 days"),
        ("soonish", "`/commstat digest 2 hours before`"),
        ("2 fortnights before", "`/commstat digest 2 hours before`"),
    ],
)
def test_lead_times_out_of_bounds_or_unreadable_are_refused(phrase, says):
    with pytest.raises(RecurrenceError, match=None) as caught:
        parse_lead(phrase)
    assert says in str(caught.value)


def test_weekly_digest_is_one_day_a_week():
    found = parse_weekly("Monday 9am", now=MONDAY, tz="America/New_York")
    assert found.describe() == "every Monday at 9:00 AM"
    assert found.dtstart == datetime(2026, 11, 30, 9, 0, tzinfo=NY)
    for phrase in (
        "every other Monday at 9",
        "Monday and Friday at 9",
        "first Monday of the month at 9",
    ):
        with pytest.raises(RecurrenceError, match="once a week"):
            parse_weekly(phrase, now=MONDAY, tz="America/New_York")
    with pytest.raises(RecurrenceError, match="weekly digest Monday 9am"):
        parse_weekly("someday", now=MONDAY, tz="America/New_York")


def test_rules_repeat_far_into_the_future():
    found = parse_meeting("last Friday of the month at 3pm", now=MONDAY, tz="America/New_York")
    at = MONDAY + timedelta(days=3650)
    assert next_after(found.rule, found.dtstart, found.time_zone, at) is not None


@pytest.mark.parametrize(
    ("zone", "words"),
    [
        ("America/New_York", "New York time"),
        ("America/Argentina/Buenos_Aires", "Buenos Aires time"),
        ("Europe/London", "London time"),
        ("UTC", "UTC"),
        ("Etc/UTC", "UTC"),
    ],
)
def test_time_zones_are_named_as_people_say_them(zone, words):
    assert zone_words(zone) == words
