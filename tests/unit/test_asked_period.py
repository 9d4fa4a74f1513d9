"""Which stored period answers a question about one period, in the data's own grain."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import periods
from bot.core.asked_period import answering, nearest, no_data_text, short_label

MONTHS = [periods.month_period(y, m) for y in range(2015, 2026) for m in range(1, 13)][:124]
YEARS = [periods.year_period(y) for y in range(2019, 2024)]
month, quarter, year = periods.month_period, periods.quarter_period, periods.year_period


def test_a_month_asked_of_monthly_data_is_that_month_without_a_note():
    found = answering(month(2023, 12), MONTHS, "12-month-ending")
    assert (found.period, found.note, found.within) == (month(2023, 12), None, ())


def test_a_year_of_12_month_ending_data_is_the_window_ending_in_december():
    found = answering(year(2023), MONTHS, "12-month-ending")
    assert found.period == month(2023, 12)
    assert found.note == "The 12 months ending Dec 2023 are the calendar year 2023."
    assert found.within == ()  # rolling totals are not the year's parts


def test_a_quarter_of_12_month_ending_data_says_it_is_a_rolling_total():
    found = answering(quarter(2024, 1), MONTHS, "12-month-ending")
    assert found.period == month(2024, 3)
    assert "12 months ending Mar 2024, the last month of Q1 2024" in found.note
    assert "rolling annual total, not Q1 2024 alone" in found.note


def test_a_year_of_monthly_data_is_its_last_month_and_lists_every_month():
    found = answering(year(2023), MONTHS, "monthly")
    assert found.period == month(2023, 12)
    assert found.within == tuple(month(2023, m) for m in range(1, 13))
    assert found.note == "Showing Dec 2023, the last month of 2023."


def test_a_year_the_data_has_not_finished_says_latest_not_last():
    found = answering(year(2025), MONTHS, "monthly")
    assert found.period == month(2025, 4)
    assert found.note == "Showing Apr 2025, the latest month of 2025 in the data."


def test_a_month_of_yearly_data_is_the_year_that_includes_it():
    found = answering(month(2023, 12), YEARS, "yearly")
    assert found.period == year(2023)
    assert found.note == "The data is by year: showing 2023, the year that includes Dec 2023."


def test_a_day_of_weekly_data_is_its_week():
    weeks = [periods.day_period(periods.date(2025, 3, 3 + 7 * n)) for n in range(4)]
    found = answering(periods.day_period(periods.date(2025, 3, 12)), weeks, "weekly")
    assert found.period == weeks[1]
    assert "the week that includes Mar 12, 2025" in found.note


@pytest.mark.parametrize("asked", [year(1800), month(2099, 12), quarter(2014, 4)])
def test_outside_the_data_there_is_no_answer_only_the_nearest(asked):
    assert answering(asked, MONTHS, "12-month-ending") is None
    before, after = nearest(asked, MONTHS)
    assert (before, after) in ((None, MONTHS[0]), (MONTHS[-1], None))


def test_the_no_data_sentence_names_the_nearest_periods_and_how_to_ask():
    text = no_data_text(
        "Overdoses", month(2099, 12), MONTHS[-1], None, "12-month-ending", future=True
    )
    assert text == (
        "Overdoses has no data for Dec 2099, which is still to come. The nearest period with "
        "data: 12 months ending Apr 2025 (`for Apr 2025`)."
    )
    gap = no_data_text(
        "Opioids", month(2024, 1), month(2023, 9), month(2024, 10), None, future=False
    )
    assert "nearest periods with data: Sep 2023 (`for Sep 2023`) and Oct 2024" in gap


def test_short_labels_leave_out_what_the_asked_period_says():
    assert short_label(month(2023, 12), year(2023)) == "Dec"
    assert short_label(quarter(2023, 4), year(2023)) == "Q4"


@given(
    st.sampled_from(["monthly", "12-month-ending", "quarterly", "yearly"]),
    st.integers(min_value=2010, max_value=2030),
    st.integers(min_value=1, max_value=12),
    st.sampled_from(["month", "quarter", "year"]),
)
def test_the_answer_is_always_a_stored_period_inside_or_holding_the_one_asked(kind, y, m, grain):
    stored = {
        "monthly": MONTHS,
        "12-month-ending": MONTHS,
        "quarterly": [quarter(x, q) for x in range(2015, 2026) for q in range(1, 5)],
        "yearly": YEARS,
    }[kind]
    asked = {"month": month(y, m), "quarter": quarter(y, (m - 1) // 3 + 1), "year": year(y)}[grain]
    found = answering(asked, stored, kind)
    asked_end = periods.period_end(asked, None)
    if found is None:
        assert not any(
            asked.start <= p.start <= asked_end
            or p.start <= asked.start <= periods.period_end(p, kind)
            for p in stored
        )
        return
    assert found.period in stored
    inside = asked.start <= found.period.start <= asked_end
    holds = found.period.start <= asked.start <= periods.period_end(found.period, kind)
    assert inside or holds
    assert (found.note is None) == (
        found.period.start == asked.start and found.period.grain == grain
    )
