"""The nudge rules as pure functions: which days, which instants, and what a pass does at `now`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest

from bot.core.nudge_rules import (
    COMING,
    DATA,
    OVERDUE,
    TODAY,
    Rules,
    Slot,
    creator_notice_time,
    deadline_on,
    decide,
    group_of,
    lines_that_fit,
    local_instant,
    morning_order,
    slots,
    state_text,
)

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
AKL = ZoneInfo("Pacific/Auckland")
LONDON = ZoneInfo("Europe/London")
WEEKDAYS = Rules()


def days(
    due: date, rules: Rules = WEEKDAYS, zone: ZoneInfo = NY, n: int = 6
) -> list[tuple[str, str]]:
    return [(s.day.strftime("%a %b %d"), s.kind) for s in islice(slots(due, rules, zone), n)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- which days ------------------------------------------------------------------------------


def test_due_wednesday_reminds_tuesday_wednesday_then_every_other_working_day():
    assert days(date(2026, 11, 25)) == [
        ("Tue Nov 24", "before"),
        ("Wed Nov 25", "today"),
        ("Thu Nov 26", "overdue"),
        ("Mon Nov 30", "overdue"),  # two working days after Thursday, skipping the weekend
        ("Wed Dec 02", "overdue"),
        ("Fri Dec 04", "overdue"),
    ]


def test_due_monday_is_reminded_on_the_friday_before():
    assert days(date(2026, 11, 30), n=3) == [
        ("Fri Nov 27", "before"),
        ("Mon Nov 30", "today"),
        ("Tue Dec 01", "overdue"),
    ]


def test_due_saturday_gets_friday_then_monday_and_no_weekend_message():
    assert days(date(2026, 11, 28), n=3) == [
        ("Fri Nov 27", "before"),
        ("Mon Nov 30", "overdue"),
        ("Wed Dec 02", "overdue"),
    ]


def test_holidays_are_skipped_like_weekends():
    thanksgiving = Rules(holidays=frozenset({date(2026, 11, 26), date(2026, 11, 27)}))
    assert days(date(2026, 11, 25), thanksgiving, n=4) == [
        ("Tue Nov 24", "before"),
        ("Wed Nov 25", "today"),
        ("Mon Nov 30", "overdue"),
        ("Wed Dec 02", "overdue"),
    ]
    # Due on the holiday itself: reminded the day before, no "due today", overdue on Monday.
    assert days(date(2026, 11, 26), thanksgiving, n=2) == [
        ("Wed Nov 25", "before"),
        ("Mon Nov 30", "overdue"),
    ]


def test_overdue_cadence_follows_the_team_setting():
    daily = Rules(overdue_every=1)
    assert [d for d, _ in days(date(2026, 11, 25), daily, n=6)][2:] == [
        "Thu Nov 26",
        "Fri Nov 27",
        "Mon Nov 30",
        "Tue Dec 01",
    ]
    every_three = Rules(overdue_every=3)
    assert [d for d, _ in days(date(2026, 11, 25), every_three, n=5)][2:] == [
        "Thu Nov 26",
        "Tue Dec 01",
        "Fri Dec 04",
    ]


def test_overdue_nudges_are_at_least_weekly():
    lazy = Rules(overdue_every=10)  # a setting of 10 working days is capped at a week
    overdue = [s.day for s in islice(slots(date(2026, 11, 25), lazy, NY), 2, 7)]
    gaps = {(b - a).days for a, b in pairwise(overdue)}
    assert gaps == {7}


def test_a_long_holiday_never_leaves_more_than_a_week_between_overdue_nudges():
    winter = Rules(
        overdue_every=2,
        holidays=frozenset(date(2026, 12, 21) + timedelta(days=i) for i in range(12)),
    )
    overdue = [s.day for s in islice(slots(date(2026, 12, 17), winter, NY), 2, 6)]
    assert overdue[0] == date(2026, 12, 18)  # Friday, the day after
    # Mon Dec 21 - Fri Jan 1 are all off: the next working day is Mon Jan 4 (17 days later);
    # nothing could be sent in between, so that is the next nudge, then the cadence resumes.
    assert overdue[1:] == [date(2027, 1, 4), date(2027, 1, 6), date(2027, 1, 8)]


def test_custom_working_days():
    four_day_week = Rules(working_days=frozenset({0, 1, 2, 3}))  # Mon-Thu
    assert days(date(2026, 11, 30), four_day_week, n=2) == [
        ("Thu Nov 26", "before"),
        ("Mon Nov 30", "today"),
    ]


# --- which instants: time zones and clock changes --------------------------------------------


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (NY, utc(2026, 11, 24, 14)),  # 09:00 EST
        (LA, utc(2026, 11, 24, 17)),  # 09:00 PST
        (AKL, utc(2026, 11, 23, 20)),  # 09:00 NZDT on Tue 24 is still Monday in UTC
        (LONDON, utc(2026, 11, 24, 9)),
    ],
)
def test_nudges_are_at_nine_in_the_owners_zone(zone, expected):
    first = next(slots(date(2026, 11, 25), WEEKDAYS, zone))
    assert first.at == expected
    assert first.at.astimezone(zone).hour == 9


def test_spring_forward_in_new_york():
    # Clocks go forward on Sun Mar 8 2026: Friday's 09:00 is 14:00 UTC, Monday's is 13:00 UTC.
    series = list(islice(slots(date(2026, 3, 9), WEEKDAYS, NY), 3))
    assert [s.at for s in series] == [
        utc(2026, 3, 6, 14),
        utc(2026, 3, 9, 13),
        utc(2026, 3, 10, 13),
    ]
    assert {s.at.astimezone(NY).hour for s in series} == {9}


def test_fall_back_in_new_york_and_los_angeles():
    # Clocks go back on Sun Nov 1 2026.
    ny = list(islice(slots(date(2026, 11, 2), WEEKDAYS, NY), 2))
    assert [s.at for s in ny] == [utc(2026, 10, 30, 13), utc(2026, 11, 2, 14)]
    la = list(islice(slots(date(2026, 11, 2), WEEKDAYS, LA), 2))
    assert [s.at for s in la] == [utc(2026, 10, 30, 16), utc(2026, 11, 2, 17)]


def test_auckland_clock_changes():
    # New Zealand daylight time ends Sun Apr 5 2026 (+13 -> +12) and starts Sun Sep 27 (+12 -> +13).
    april = list(islice(slots(date(2026, 4, 6), WEEKDAYS, AKL), 2))
    assert [s.at for s in april] == [utc(2026, 4, 2, 20), utc(2026, 4, 5, 21)]
    september = list(islice(slots(date(2026, 9, 28), WEEKDAYS, AKL), 2))
    assert [s.at for s in september] == [utc(2026, 9, 24, 21), utc(2026, 9, 27, 20)]


# --- what a pass does at `now` ---------------------------------------------------------------


def at_ny(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY).astimezone(UTC)


def run(now: datetime, rules: Rules = WEEKDAYS, zone: ZoneInfo = NY, **kwargs):
    return decide(slots(date(2026, 11, 25), rules, zone), now=now, rules=rules, zone=zone, **kwargs)


def test_the_tuesday_pass_sends_the_reminder_and_wakes_on_wednesday_morning():
    decision = run(at_ny(24, 10, 30), start=at_ny(23, 10))
    assert decision.send is not None
    assert (decision.send.day, decision.send.kind) == (date(2026, 11, 24), "before")
    assert decision.wake == at_ny(25, 9)


def test_before_the_first_slot_nothing_is_sent():
    decision = run(at_ny(23, 10), start=at_ny(23, 9, 59))
    assert decision.send is None
    assert decision.wake == at_ny(24, 9)


def test_a_commitment_made_after_the_slot_does_not_get_that_reminder():
    # Made on Tuesday at 10:00, due Wednesday: no "due tomorrow" half an hour later.
    decision = run(at_ny(24, 10, 30), start=at_ny(24, 10))
    assert decision.send is None
    assert decision.wake == at_ny(25, 9)


def test_after_downtime_missed_reminders_collapse_into_one():
    # Down from Tuesday morning to the next Thursday: one message, the latest ("overdue").
    decision = run(at_ny(3, 11, month=12), start=at_ny(23, 10))
    assert decision.send is not None
    assert decision.send.day == date(2026, 12, 2)
    assert state_text(decision.send, date(2026, 11, 25)) == "7 days overdue"
    assert decision.wake == at_ny(4, 9, month=12)


def test_nothing_is_sent_at_the_weekend_it_waits_for_monday_morning():
    decision = run(at_ny(28, 11), start=at_ny(23, 10))  # Saturday, after Friday's slot was missed
    assert decision.send is None
    assert decision.wake == at_ny(30, 9)
    monday = run(at_ny(30, 9), start=at_ny(23, 10))
    assert monday.send is not None
    assert monday.send.day == date(2026, 11, 30)


def test_nothing_is_sent_in_the_evening():
    decision = run(at_ny(24, 21), start=at_ny(23, 10))
    assert decision.send is None
    assert decision.wake == at_ny(25, 9)


def test_quiet_hours_that_wrap_midnight_hold_the_nine_oclock_nudge_until_they_end():
    quiet = Rules(quiet_start=22, quiet_end=10)
    assert quiet.is_quiet(23) and quiet.is_quiet(0) and quiet.is_quiet(9)
    assert not quiet.is_quiet(10) and not quiet.is_quiet(21)
    early = run(at_ny(24, 9, 15), quiet, start=at_ny(23, 10))
    assert early.send is None
    assert early.wake == at_ny(24, 10)
    on_time = run(at_ny(24, 10), quiet, start=at_ny(23, 10))
    assert on_time.send is not None
    assert on_time.send.day == date(2026, 11, 24)


def test_quiet_hours_within_a_day():
    lunch = Rules(quiet_start=9, quiet_end=11)
    assert [lunch.is_quiet(h) for h in (8, 9, 10, 11)] == [False, True, True, False]
    assert lunch.next_allowed(at_ny(24, 8), NY) == at_ny(24, 11)


def test_night_quiet_hours_do_not_move_a_nine_oclock_nudge():
    night = Rules(quiet_start=20, quiet_end=7)
    decision = run(at_ny(24, 9, 1), night, start=at_ny(23, 10))
    assert decision.send is not None


def test_snoozed_reminders_are_skipped_until_the_day_the_snooze_ends():
    start = at_ny(23, 10)
    snoozed = at_ny(26, 10, 35)  # snoozed on Tuesday at 10:35 for 2 days: until Thursday
    assert run(at_ny(25, 9, 30), start=start, snoozed_until=snoozed).send is None  # Wednesday
    thursday = run(at_ny(26, 9, 30), start=start, snoozed_until=snoozed)
    assert thursday.send is not None  # Thursday's morning, though 09:00 is before 10:35
    assert thursday.send.day == date(2026, 11, 26)


def test_a_one_day_snooze_still_reminds_on_the_due_date():
    # "due tomorrow" on Tuesday, snoozed for a day at 10:30: Wednesday's "due today" still comes.
    tuesday = run(at_ny(24, 10, 35), start=at_ny(23, 10), snoozed_until=at_ny(25, 10, 30))
    assert tuesday.send is None
    wednesday = run(at_ny(25, 9, 5), start=at_ny(23, 10), snoozed_until=at_ny(25, 10, 30))
    assert wednesday.send is not None and wednesday.send.kind == "today"


def test_an_owner_in_auckland_is_reminded_on_their_own_tuesday_morning():
    # 09:00 Tue Nov 24 in Auckland is 15:00 Mon Nov 23 in New York.
    start = at_ny(23, 10)
    decision = run(at_ny(23, 15, 30), zone=AKL, start=start)
    assert decision.send is not None
    assert decision.send.day == date(2026, 11, 24)
    assert state_text(decision.send, date(2026, 11, 25)) == "due tomorrow"


def test_next_allowed_skips_holidays_and_weekends():
    rules = Rules(holidays=frozenset({date(2026, 11, 26), date(2026, 11, 27)}))
    assert rules.next_allowed(at_ny(25, 18), NY) == at_ny(30, 9)
    assert rules.allowed(at_ny(25, 17, 59), NY)
    assert not rules.allowed(at_ny(25, 18), NY)
    assert Rules(working_days=frozenset()).next_allowed(at_ny(25, 18), NY) is None


# --- words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slot_day", "kind", "due", "expected"),
    [
        (date(2026, 11, 24), "before", date(2026, 11, 25), "due tomorrow"),
        (date(2026, 11, 27), "before", date(2026, 11, 30), "due Monday"),
        (date(2026, 11, 25), "today", date(2026, 11, 25), "due today"),
        (date(2026, 11, 26), "overdue", date(2026, 11, 25), "1 day overdue"),
        (date(2026, 11, 30), "overdue", date(2026, 11, 27), "3 days overdue"),
        (date(2026, 12, 1), "before", date(2026, 12, 14), "due Mon, Dec 14, 2026"),
    ],
)
def test_state_text(slot_day, kind, due, expected):
    assert state_text(Slot(slot_day, kind, local_instant(slot_day, 9, NY)), due) == expected


def test_the_creator_is_told_on_the_first_working_day_a_week_after_the_due_date():
    assert creator_notice_time(date(2026, 11, 25), WEEKDAYS, NY) == at_ny(2, 9, month=12)
    # A week after a Saturday due date is a Saturday: Monday then.
    assert creator_notice_time(date(2026, 11, 28), WEEKDAYS, NY) == at_ny(7, 9, month=12)


# --- one message a morning -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "due", "expected"),
    [
        (date(2026, 11, 24), date(2026, 11, 25), "due tomorrow"),
        (date(2026, 11, 27), date(2026, 11, 30), "due Monday"),
        (date(2026, 11, 25), date(2026, 11, 25), "due today"),
        (date(2026, 11, 26), date(2026, 11, 25), "1 day overdue"),
        (date(2026, 12, 2), date(2026, 11, 25), "7 days overdue"),
        (date(2026, 12, 1), date(2026, 12, 14), "due Mon, Dec 14, 2026"),
    ],
)
def test_a_morning_message_speaks_of_the_deadline_from_its_own_day(day, due, expected):
    assert deadline_on(day, due) == expected


def test_overdue_lines_come_first_most_late_first_then_today_then_coming_then_data():
    day = date(2026, 11, 27)
    lines = {
        "due Monday": (date(2026, 11, 30), 1),
        "due today": (date(2026, 11, 27), 2),
        "1 day overdue": (date(2026, 11, 26), 3),
        "9 days overdue": (date(2026, 11, 18), 4),
        "due next week": (date(2026, 12, 4), 5),
    }
    order = sorted(
        lines,
        key=lambda k: morning_order(group_of(day, lines[k][0]), lines[k][0], day, lines[k][1]),
    )
    assert order == ["9 days overdue", "1 day overdue", "due today", "due Monday", "due next week"]
    data = morning_order(DATA, date(2026, 9, 30), day, 1)
    assert all(data > morning_order(g, day, day, 9) for g in (OVERDUE, TODAY, COMING))
    assert morning_order(DATA, date(2026, 9, 1), day, 2) < data  # later data first


def test_lines_that_fit_keeps_whole_lines_within_every_limit():
    def fit(sizes, **limits):
        rules = {"max_blocks": 50, "max_chars": 10_000, "max_lines": 15, "reserve": (3, 600)}
        return lines_that_fit(sizes, **{**rules, **limits})

    assert fit([(2, 500)] * 3) == 3
    assert fit([(2, 500)] * 40) == 15  # at most 15 lines
    assert fit([(2, 500)] * 40, max_lines=99) == 18  # 600 + 18 × 500 = 9,600 characters
    assert fit([(2, 100)] * 40, max_lines=99) == 23  # 3 + 23 × 2 = 49 blocks
    assert fit([(2, 9_500), (2, 10)]) == 0  # a line never fits half: none rather than cut
    assert fit([]) == 0
