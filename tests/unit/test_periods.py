"""Periods as publishers write them and as people read them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from bot.core.periods import (
    CDC_WEEK,
    Period,
    PeriodError,
    expected_next,
    explain,
    has_begun,
    infer_kind,
    label,
    names_an_end,
    names_cdc_weeks,
    parse_period,
    parse_update_frequency,
    period_end,
    period_from_parts,
    school_years_in_doubt,
    shift,
    week_ending,
    year_earlier,
)


@pytest.mark.parametrize(
    ("written", "text", "start", "grain"),
    [
        ("2025-04", "2025-04", date(2025, 4, 1), "month"),
        ("2025-4", "2025-04", date(2025, 4, 1), "month"),
        ("2025/04", "2025-04", date(2025, 4, 1), "month"),
        (" 2025-04 ", "2025-04", date(2025, 4, 1), "month"),
        ("Apr 2025", "2025-04", date(2025, 4, 1), "month"),
        ("April 2025", "2025-04", date(2025, 4, 1), "month"),
        ("sept 2024", "2024-09", date(2024, 9, 1), "month"),
        ("04/2025", "2025-04", date(2025, 4, 1), "month"),
        ("4/2025", "2025-04", date(2025, 4, 1), "month"),
        ("2025M04", "2025-04", date(2025, 4, 1), "month"),
        ("2025m4", "2025-04", date(2025, 4, 1), "month"),
        ("2025-W14", "2025-03-31", date(2025, 3, 31), "day"),
        ("2020W53", "2020-12-28", date(2020, 12, 28), "day"),
        # a fiscal year is stored as the year it ends in (how publishers name it)
        ("FY2024", "2024", date(2024, 1, 1), "year"),
        ("fy 2024", "2024", date(2024, 1, 1), "year"),
        ("FY24", "2024", date(2024, 1, 1), "year"),
        ("FY2023-24", "2024", date(2024, 1, 1), "year"),
        ("FY 2023-2024", "2024", date(2024, 1, 1), "year"),
        # a school or fiscal year written without FY is read as FY2022-23: the year it ends in
        ("2022-23", "2023", date(2023, 1, 1), "year"),
        ("2022/23", "2023", date(2023, 1, 1), "year"),
        ("2022-2023", "2023", date(2023, 1, 1), "year"),
        ("1999-00", "2000", date(2000, 1, 1), "year"),
        ("2009-10", "2009-10", date(2009, 10, 1), "month"),  # alone, as months are stored
        ("2025-Q1", "2025-Q1", date(2025, 1, 1), "quarter"),
        ("2025-q4", "2025-Q4", date(2025, 10, 1), "quarter"),
        ("Q3 2024", "2024-Q3", date(2024, 7, 1), "quarter"),
        ("2025", "2025", date(2025, 1, 1), "year"),
        ("2025.0", "2025", date(2025, 1, 1), "year"),
        (2025, "2025", date(2025, 1, 1), "year"),
        (2025.0, "2025", date(2025, 1, 1), "year"),
        ("2025-03-03", "2025-03-03", date(2025, 3, 3), "day"),
        ("2024-02-29", "2024-02-29", date(2024, 2, 29), "day"),
        ("2025/3/3", "2025-03-03", date(2025, 3, 3), "day"),
        ("2025-03-03 00:00:00", "2025-03-03", date(2025, 3, 3), "day"),
        (date(2025, 3, 3), "2025-03-03", date(2025, 3, 3), "day"),
        (datetime(2025, 3, 3), "2025-03-03", date(2025, 3, 3), "day"),
        (pd.Timestamp("2025-03-01"), "2025-03-01", date(2025, 3, 1), "day"),
    ],
)
def test_parse_period_reads_publishers_forms(
    written: object, text: str, start: date, grain: str
) -> None:
    period = parse_period(written)
    assert (period.text, period.start, period.grain) == (text, start, grain)


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("2025-13", "'2025-13' is not a month"),
        ("2025-00", "is not a month"),
        ("2023-02-29", "February 2023 has days 1 to 28"),
        ("2025-04-31", "April 2025 has days 1 to 30"),
        ("2025-Q5", "quarters are Q1 to Q4"),
        ("2025-Q0", "quarters are Q1 to Q4"),
        ("Foo 2025", "'Foo' is not a month name"),
        ("12 month-ending", "is not a period"),
        ("", "blank"),
        ("0", "is not a period"),
        ("99", "is not a period"),
        (1, "the year 1 looks wrong"),
        (2025.5, "is not a period"),
        (float("nan"), "blank"),
        ("13/2025", "'13/2025' is not a month"),
        ("2025M13", "is not a month"),
        ("2021-W53", "2021 has ISO weeks 1 to 52, not 53"),
        ("FY2023-25", "a fiscal year spans two years in a row"),
        ("2022-2024", "a school or fiscal year spans two years in a row"),
        ("2022-24", "'2022-24' is not a month"),
        ("FY", "is not a period"),
        ("04/05/2025", "is not a period"),
        (datetime(2025, 3, 3, 13, 0), "time of day"),
        (None, "is not a period"),
        (True, "is not a period"),
    ],
)
def test_parse_period_refuses_what_it_cannot_read(written: object, says: str) -> None:
    with pytest.raises(PeriodError, match=says):
        parse_period(written)


def test_periods_sort_in_time_order() -> None:
    periods = [parse_period(t) for t in ["2025-04", "2024-12", "2025-01"]]
    assert [p.text for p in sorted(periods)] == ["2024-12", "2025-01", "2025-04"]


@pytest.mark.parametrize(
    ("period", "kind", "shown"),
    [
        ("2025-04", "monthly", "Apr 2025"),
        ("2025-04", None, "Apr 2025"),
        ("2025-04", "12-month-ending", "12 months ending Apr 2025"),
        ("2023-12", "12-month-ending", "12 months ending Dec 2023"),
        ("2025-Q1", "quarterly", "Q1 2025"),
        ("2025", "yearly", "2025"),
        ("2025-03-03", "weekly", "week of Mar 3, 2025"),
        ("2025-03-03", "daily", "Mar 3, 2025"),
        ("2025-03-03", None, "Mar 3, 2025"),
        ("2025-04", "12 month-ending", "12 months ending Apr 2025"),  # CDC's spelling
    ],
)
def test_label_says_periods_as_people_do(period: str, kind: str | None, shown: str) -> None:
    assert label(period, kind) == shown


def test_label_refuses_an_unknown_kind() -> None:
    with pytest.raises(PeriodError, match="'fortnightly' is not a period kind"):
        label("2025-04", "fortnightly")


def test_explain_says_what_12_month_ending_means_and_nothing_for_plain_kinds() -> None:
    sentence = explain("12-month-ending")
    assert sentence is not None
    assert "12 months up to and including the month shown" in sentence
    assert explain("monthly") is None
    assert explain("yearly") is None
    assert explain(None) is None
    assert "7 days" in (explain("weekly") or "")


@pytest.mark.parametrize(
    ("period", "kind", "steps", "expected"),
    [
        ("2025-01", "monthly", -1, "2024-12"),
        ("2024-12", "monthly", 1, "2025-01"),
        ("2025-04", "12-month-ending", -12, "2024-04"),
        ("2024-Q4", "quarterly", 1, "2025-Q1"),
        ("2025-Q1", "quarterly", -1, "2024-Q4"),
        ("2025-Q1", None, -4, "2024-Q1"),
        ("2025", "yearly", -1, "2024"),
        ("2024-12-30", "weekly", 1, "2025-01-06"),
        ("2025-01-06", "weekly", -1, "2024-12-30"),
        ("2024-02-28", "daily", 1, "2024-02-29"),
        ("2024-03-01", "daily", -1, "2024-02-29"),
        ("2025-03-01", "daily", -1, "2025-02-28"),
        ("2025-03", "quarterly", 1, "2025-06"),  # quarterly data written as months
        ("2025-01-31", "monthly", 1, "2025-02-28"),  # month ends clamp
    ],
)
def test_shift_steps_by_the_kind(period: str, kind: str | None, steps: int, expected: str) -> None:
    assert shift(parse_period(period), kind, steps).text == expected


@pytest.mark.parametrize(
    ("period", "kind", "expected"),
    [
        ("2025-04", "12-month-ending", "2024-04"),
        ("2025-Q1", "quarterly", "2024-Q1"),
        ("2025", "yearly", "2024"),
        ("2024-02-29", "daily", "2023-02-28"),
        ("2025-03-03", "weekly", "2024-03-04"),  # 52 weeks: still a Monday
    ],
)
def test_year_earlier(period: str, kind: str, expected: str) -> None:
    assert year_earlier(parse_period(period), kind).text == expected


@pytest.mark.parametrize(
    ("periods", "kind"),
    [
        (["2025-01", "2025-02", "2025-03"], "monthly"),
        (["2024-11", "2024-12", "2025-01"], "monthly"),
        (["2025-01", "2025-04", "2025-07"], "quarterly"),
        (["2023-06", "2024-06"], "yearly"),
        (["2024-Q4", "2025-Q1"], "quarterly"),
        (["2019", "2020", "2023"], "yearly"),
        (["2024-12-23", "2024-12-30", "2025-01-06"], "weekly"),
        (["2024-12-30", "2025-01-13"], "weekly"),  # a week missing
        (["2024-02-28", "2024-02-29", "2024-03-01"], "daily"),
        (["2025-01-01", "2025-02-01", "2025-03-01"], "monthly"),
        (["2025-03-03"], "daily"),
        (["2025-03"], "monthly"),
    ],
)
def test_infer_kind(periods: list[str], kind: str) -> None:
    assert infer_kind([parse_period(p) for p in periods]) == kind


def test_infer_kind_refuses_mixed_grains() -> None:
    with pytest.raises(PeriodError, match="mix months and years"):
        infer_kind([parse_period("2025-04"), parse_period("2024")])
    with pytest.raises(PeriodError, match="no periods"):
        infer_kind([])


@pytest.mark.parametrize(
    ("period", "kind", "end"),
    [
        ("2024-02", "monthly", date(2024, 2, 29)),
        ("2025-02", "monthly", date(2025, 2, 28)),
        ("2025-Q4", "quarterly", date(2025, 12, 31)),
        ("2025", "yearly", date(2025, 12, 31)),
        ("2025-03-03", "weekly", date(2025, 3, 9)),
        ("2025-03-03", "daily", date(2025, 3, 3)),
    ],
)
def test_period_end(period: str, kind: str, end: date) -> None:
    assert period_end(parse_period(period), kind) == end


@pytest.mark.parametrize(
    ("latest", "kind", "frequency", "due"),
    [
        # next period May 2025 ends May 31; published 4 months later
        ("2025-04", "12-month-ending", "monthly, 4-month lag", date(2025, 9, 30)),
        # no lag stated: one publication interval after the next period ends
        ("2025-04", "monthly", "monthly", date(2025, 6, 30)),
        ("2023", "yearly", "yearly", date(2025, 12, 31)),
        ("2024-Q4", "quarterly", "quarterly", date(2025, 6, 30)),
        ("2024-Q4", "quarterly", None, date(2025, 6, 30)),
        ("2025-03-03", "weekly", "weekly, 2-week lag", date(2025, 3, 30)),
        ("2023", "yearly", "yearly, lag of 11 months", date(2025, 11, 30)),
        ("2025-04", "monthly", "whenever they feel like it", date(2025, 6, 30)),  # ignored
    ],
)
def test_expected_next(latest: str, kind: str, frequency: str | None, due: date) -> None:
    assert expected_next(parse_period(latest), kind, frequency) == due


def test_parse_update_frequency_refuses_nonsense() -> None:
    with pytest.raises(PeriodError, match="not an update frequency"):
        parse_update_frequency("every blue moon")
    interval, lag = parse_update_frequency("Monthly, 4-month lag")
    assert interval is not None and interval.months == 1
    assert lag is not None and lag.months == 4


def test_period_is_a_value() -> None:
    assert parse_period("2025-04") == Period(date(2025, 4, 1), "2025-04", "month")
    assert str(parse_period("2025-q2")) == "2025-Q2"


@pytest.mark.parametrize(
    ("year", "part", "value", "text"),
    [
        ("2025", "month", "4", "2025-04"),
        ("2025", "month", "04", "2025-04"),
        ("2025.0", "month", "4.0", "2025-04"),  # numbers that went through Excel
        (2025, "month", 12, "2025-12"),
        ("2025", "month", "Apr", "2025-04"),
        ("2025", "month", "September", "2025-09"),
        ("2025", "quarter", "2", "2025-Q2"),
        ("2025", "quarter", "q3", "2025-Q3"),
        ("2025", "week", "1", "2024-12-30"),  # ISO week 1 of 2025 starts on Monday Dec 30, 2024
        ("2020", "week", "53", "2020-12-28"),
        ("2024", None, None, "2024"),
    ],
)
def test_a_period_written_over_columns(year: object, part: str, value: object, text: str) -> None:
    assert period_from_parts(year, part, value).text == text


@pytest.mark.parametrize(
    ("year", "part", "value", "says"),
    [
        ("2025", "month", "13", "month 13 is not a month (1 to 12)"),
        ("2025", "month", "0", "month 0 is not a month"),
        ("2025", "month", "", "the month is blank"),
        ("2025", "month", " ", "the month is blank"),
        ("", "month", "4", "the year is blank"),
        ("25", "month", "4", "the year '25' is not a year"),
        ("1850", "month", "4", "the year 1850 looks wrong"),
        ("2025", "month", "1.5", "the month '1.5' is not a month"),
        ("2025", "month", "Foo", "the month 'Foo' is not a month"),
        ("2025", "quarter", "5", "quarter 5 is not a quarter (1 to 4)"),
        ("2021", "week", "53", "2021 has ISO weeks 1 to 52, not 53"),
        ("2025", "week", "0", "week 0 is not a week"),
        ("2025", "day", "1", "'day' is not a part of a period"),
        ("twenty", None, None, "the year 'twenty' is not a year"),
    ],
)
def test_a_period_over_columns_that_cannot_be(
    year: object, part: str, value: object, says: str
) -> None:
    with pytest.raises(PeriodError, match=re.escape(says)):
        period_from_parts(year, part, value)


def test_a_period_has_begun_on_its_first_day_anywhere():
    from datetime import UTC, datetime

    from bot.core.periods import has_begun

    evening = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # already Dec 1 in Auckland
    assert has_begun(parse_period("2026-12"), evening)
    assert not has_begun(parse_period("2026-12"), datetime(2026, 11, 29, 12, tzinfo=UTC))
    assert not has_begun(parse_period("2027"), evening)
    assert has_begun(parse_period("2026-Q4"), evening)


# --- CDC (MMWR) weeks: Sunday to Saturday, week 1 the first with four days in the year ---------


@pytest.mark.parametrize(
    ("year", "week", "sunday"),
    [
        ("2026", "1", date(2026, 1, 4)),  # Jan 1, 2026 is a Thursday: ISO week 1 is Dec 29
        ("2025", "53", date(2025, 12, 28)),  # 2025 has 53 MMWR weeks (and 52 ISO weeks)
        ("2025", "52", date(2025, 12, 21)),
        ("2025", "1", date(2024, 12, 29)),  # week 1 of 2025 starts in December 2024
        ("2020", "53", date(2020, 12, 27)),
        ("2025.0", "1.0", date(2024, 12, 29)),  # numbers that went through Excel
    ],
)
def test_an_mmwr_week_is_stored_as_its_sunday(year: str, week: str, sunday: date) -> None:
    period = period_from_parts(year, CDC_WEEK, week)
    assert (period.start, period.grain, period.start.weekday()) == (sunday, "day", 6)


@pytest.mark.parametrize(
    ("year", "week", "says"),
    [
        ("2026", "53", "2026 has MMWR weeks 1 to 52, not 53"),
        ("2025", "54", "MMWR week 54 is not a week (1 to 53)"),
        ("2025", "0", "MMWR week 0 is not a week (1 to 53)"),
        ("2025", "W1", "the MMWR week 'W1' is not a week"),
        ("2025", "", "the MMWR week is blank"),
    ],
)
def test_an_mmwr_week_that_is_not_one_is_refused(year: str, week: str, says: str) -> None:
    with pytest.raises(PeriodError, match=re.escape(says)):
        period_from_parts(year, CDC_WEEK, week)


def test_an_mmwr_week_is_shown_and_stepped_as_the_seven_days_from_its_sunday() -> None:
    week_1 = period_from_parts("2026", CDC_WEEK, "1")
    assert label(week_1, "weekly") == "week of Jan 4, 2026"
    assert period_end(week_1, "weekly") == date(2026, 1, 10)  # the Saturday CDC's table names
    assert shift(week_1, "weekly", 1) == period_from_parts("2026", CDC_WEEK, "2")
    assert shift(week_1, "weekly", -1) == period_from_parts("2025", CDC_WEEK, "53")
    assert infer_kind([period_from_parts("2025", CDC_WEEK, w) for w in ("52", "53")]) == "weekly"
    # its value can exist from its Sunday on (a day of slack for time zones ahead of UTC)
    assert not has_begun(week_1, datetime(2026, 1, 2, 12, tzinfo=UTC))
    assert has_begun(week_1, datetime(2026, 1, 3, 12, tzinfo=UTC))
    assert expected_next(week_1, "weekly", "weekly") == date(2026, 1, 24)


def test_iso_weeks_stay_iso_weeks() -> None:
    assert period_from_parts("2026", "week", "1").start == date(2025, 12, 29)  # a Monday
    with pytest.raises(PeriodError, match="2025 has ISO weeks 1 to 52, not 53"):
        period_from_parts("2025", "week", "53")


@pytest.mark.parametrize(
    ("column", "cdc"),
    [
        ("MMWR Week", True),
        ("mmwr_year", True),
        ("epiweek", True),
        ("Epi Week", True),
        ("CDC Week", True),
        ("Week", False),
        ("ISO week", False),
        ("Epidemic", False),
    ],
)
def test_a_column_name_says_whether_its_weeks_are_cdcs(column: str, cdc: bool) -> None:
    assert names_cdc_weeks(column) is cdc


# --- a week named by its last day -----------------------------------------------------------


def test_a_week_ending_date_is_the_week_that_ends_that_day() -> None:
    week = week_ending("2026-01-10")  # Saturday: the end of MMWR week 1 of 2026
    assert week == period_from_parts("2026", CDC_WEEK, "1")
    assert period_end(week, "weekly") == date(2026, 1, 10)
    assert week_ending(date(2025, 3, 9)).text == "2025-03-03"  # an ISO week's Sunday
    with pytest.raises(PeriodError, match="'2026-01' is not a day, so it ends no week"):
        week_ending("2026-01")


@pytest.mark.parametrize(
    ("column", "ends"),
    [
        ("Week Ending Date", True),
        ("week_end", True),
        ("WeekEnding", True),
        ("Period End", True),
        ("Week Start", False),
        ("Date", False),
        ("Weekday", False),
        ("Endorsed", False),
    ],
)
def test_a_column_name_says_whether_its_dates_end_their_periods(column: str, ends: bool) -> None:
    assert names_an_end(column) is ends


# --- school and fiscal years written like months -----------------------------------------------


@pytest.mark.parametrize(
    "column",
    [
        ["2009-10", "2010-11", "2011-12"],  # each could be a month: one a year, never two
        ["2010-11", "2011-12", "2012-13"],  # 2012-13 can only be a school year
        ["2009/10", "2010/11"],
        ["2011-12", "2012-13", "2013-14", "2014-06"],  # school years and a month: refused too
    ],
)
def test_school_years_written_like_months_are_refused_with_how_to_write_them(
    column: list[str],
) -> None:
    why = school_years_in_doubt(column)
    assert why is not None
    first = column[0]
    year = int(first[:4])
    assert f"'{first}' could be " in why and f"the school or fiscal year {first}" in why
    assert f"{year}-{year + 1}" in why and f"FY{year}-" in why
    assert parse_period(f"{year}-{year + 1}").text == str(year + 1)  # what the hint says works


@pytest.mark.parametrize(
    "column",
    [
        ["2009-09", "2009-10", "2009-11"],  # a monthly series: 2009-10 is October
        ["2009-10"],  # one value alone: a month, as stored months are written
        ["2020-21", "2021-22", "2022-23"],  # school years beyond doubt: read as years
        ["2025-01", "2025-02"],
        ["", "not a period", "2009-10"],
        [],
    ],
)
def test_columns_whose_periods_are_not_in_doubt(column: list[str]) -> None:
    assert school_years_in_doubt(column) is None


@pytest.mark.parametrize("serial", ["45566", "45566.0", 45566, 45566.0])
def test_an_excel_date_number_is_named_as_one(serial) -> None:
    """A date in a cell not formatted as a date is Excel's day count: said so, with its day."""
    with pytest.raises(PeriodError) as refused:
        parse_period(serial)
    assert "looks like a date as Excel counts days (Oct 1, 2024)" in str(refused.value)
    assert "format the column as dates in Excel" in str(refused.value)


@pytest.mark.parametrize("text", ["12345", "99999", 2024])
def test_numbers_outside_excels_dates_are_not_called_dates(text) -> None:
    try:
        parse_period(text)
    except PeriodError as error:
        assert "Excel" not in str(error)
