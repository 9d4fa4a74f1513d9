"""Reading what people type after `/indicator`: the question's name and modifiers, and a value
with its period and place."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import periods
from bot.core.indicator_parser import (
    IndicatorError,
    Query,
    looks_like_period,
    parse_query,
    parse_set,
    parse_value,
    period_problem,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("overdose deaths", Query("overdose deaths")),
        ("overdose deaths in MD", Query("overdose deaths", geography="MD")),
        (
            "overdose deaths in md since 2022",
            Query("overdose deaths", geography="md", since=periods.year_period(2022)),
        ),
        ("overdoses since Mar 2023", Query("overdoses", since=periods.month_period(2023, 3))),
        (
            "overdoses since 2023-03 by state",
            Query("overdoses", since=periods.month_period(2023, 3), by="state"),
        ),
        ("overdoses last 12 months", Query("overdoses", last=(12, "months"))),
        ("overdoses last 3 years in VT", Query("overdoses", last=(3, "years"), geography="VT")),
        ("overdoses by ward", Query("overdoses", by="ward")),
        ("overdoses in New York City", Query("overdoses", geography="New York City")),
    ],
)
def test_modifiers_come_anywhere_after_the_name(text, expected):
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("overdoses since whenever", "since whenever"),
        ("overdoses last few months", "last 12 months"),
        ("overdoses in VT by state", "not both"),
    ],
)
def test_unreadable_modifiers_are_explained(text, says):
    with pytest.raises(IndicatorError, match=says):
        parse_query(text)


# --- data entry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1,600", 1600.0),
        ("1600", 1600.0),
        ("12.5", 12.5),
        ("12.5%", 12.5),
        ("-3", -3.0),
        ("suppressed", None),
        ("*", None),
        ("NA", None),
    ],
)
def test_values_are_read_as_people_type_them(raw, value):
    assert parse_value(raw) == value


@pytest.mark.parametrize("raw", ["-", "twelve", "1,60", "1.2.3", "12e9"])
def test_values_that_are_not_numbers_are_refused(raw):
    with pytest.raises(IndicatorError, match="is not a number"):
        parse_value(raw)


def test_set_text_splits_name_value_period_and_place():
    request = parse_set("overdose deaths 1,600 for Apr 2025 in MD")
    assert (request.name, request.raw_value, request.period, request.geography) == (
        "overdose deaths",
        "1,600",
        "Apr 2025",
        "MD",
    )
    request = parse_set("kits 120 in Ward 3 for 2026-10")
    assert (request.name, request.raw_value, request.period, request.geography) == (
        "kits",
        "120",
        "2026-10",
        "Ward 3",
    )
    with pytest.raises(IndicatorError, match="which indicator and the value"):
        parse_set("kits")


# --- one period asked about ------------------------------------------------------------------

DEC_2023 = periods.month_period(2023, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("overdoses for Dec 2023", Query("overdoses", at=DEC_2023)),
        ("overdoses for December 2023", Query("overdoses", at=DEC_2023)),
        ("overdoses for 2023-12", Query("overdoses", at=DEC_2023)),
        ("overdoses for 12/2023", Query("overdoses", at=DEC_2023)),
        ("overdoses for the 12 months ending Dec 2023", Query("overdoses", at=DEC_2023)),
        ("overdoses for Q1 2024", Query("overdoses", at=periods.quarter_period(2024, 1))),
        ("overdoses in 2023", Query("overdoses", at=periods.year_period(2023))),
        ("overdoses in VT", Query("overdoses", geography="VT")),
        # `in` twice: one place and one period, in either order
        (
            "overdoses in VT in 2023",
            Query("overdoses", geography="VT", at=periods.year_period(2023)),
        ),
        ("overdoses in Dec 2023 in VT", Query("overdoses", geography="VT", at=DEC_2023)),
        ("overdoses in Ward 3 for Dec 2023", Query("overdoses", geography="Ward 3", at=DEC_2023)),
        # `since` is a range, `for` one period; both may be asked
        (
            "overdoses since 2022 for Dec 2023",
            Query("overdoses", since=periods.year_period(2022), at=DEC_2023),
        ),
        ("overdoses for Dec 2023 by state", Query("overdoses", by="state", at=DEC_2023)),
        # A year no data can have is still a question (answered "no data; nearest: …")
        ("overdoses in 1800", Query("overdoses", at=periods.year_period(1800))),
        ("overdoses for Dec 2099", Query("overdoses", at=periods.month_period(2099, 12))),
        # `for` before words that are not a period belongs to the name
        ("calls for service", Query("calls for service")),
        ("overdoses for last 12 months", Query("overdoses", last=(12, "months"))),
    ],
)
def test_a_period_is_read_after_for_and_told_apart_from_a_place_after_in(text, expected):
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("overdoses for Q5 2024", "`Q5 2024` is not a quarter: quarters are Q1 to Q4."),
        ("overdoses for 13/2024", "`13/2024` is not a month: 13 is not one of 1 to 12."),
        ("overdoses for Smarch 2023", "'Smarch' is not a month name"),
        ("overdoses for 2023-02-30", "February 2023 has days 1 to 28"),
        ("overdoses for Dec 2023 in 2023", "One period at a time"),
        ("overdoses for December", "Which year? Ask e.g. `for December 2024`"),
        ("overdoses for q1", "Which year? Ask e.g. `for Q1 2024`"),
        ("overdoses in MD in VT", "One place at a time"),
        ("overdoses for <!channel> 2023", "`@\u2060channel 2023` is not a period"),
    ],
)
def test_a_period_that_cannot_be_read_is_explained_with_examples(text, says):
    with pytest.raises(IndicatorError) as refused:
        parse_query(text)
    assert says in str(refused.value)
    assert "<!channel>" not in str(refused.value)


def test_in_with_an_unreadable_period_is_a_place_until_no_place_is_called_that():
    """`in 13/2024` might be a place's name; when it is not, the answer says why as a period."""
    assert parse_query("overdoses in 13/2024") == Query("overdoses", geography="13/2024")
    assert period_problem("13/2024") is not None and "13 is not one of 1 to 12" in period_problem(
        "13/2024"
    )
    assert period_problem("Ward 3") is None
    assert period_problem("Vermont") is None


@given(
    st.sampled_from(["monthly", "quarterly", "yearly"]),
    st.integers(min_value=1000, max_value=9999),  # four-digit years, as people write them
    st.integers(min_value=1, max_value=12),
)
def test_any_period_people_read_in_an_answer_can_be_asked_back(grain, year, month):
    """The plain label the bot shows ("Dec 2023", "Q4 2023", "2023") asks for that period."""
    period = {
        "monthly": periods.month_period(year, month),
        "quarterly": periods.quarter_period(year, (month - 1) // 3 + 1),
        "yearly": periods.year_period(year),
    }[grain]
    label = periods.label(period, None)
    assert parse_query(f"overdoses for {label}").at == period
    assert parse_query(f"overdoses in {label} in VT") == Query(
        "overdoses", geography="VT", at=period
    )


@given(st.text(max_size=60))
def test_anything_typed_is_read_or_refused_with_words_never_a_crash(text):
    try:
        query = parse_query(f"overdoses {text}")
    except IndicatorError as refused:
        assert str(refused)
    else:
        assert query.name.startswith("overdoses")


@given(st.from_regex(r"[A-Za-z][a-z]{2,12}( [A-Z][a-z]{2,10})?", fullmatch=True))
def test_a_place_without_numbers_stays_a_place(place):
    if looks_like_period(place):  # "May", "March Valley": a month's name comes first
        return
    assert parse_query(f"overdoses in {place}").geography == place


@pytest.mark.parametrize(
    ("text", "name", "period", "place"),
    [
        ("overdoses Dec 2023", "overdoses", "2023-12", None),
        ("overdoses December 2023", "overdoses", "2023-12", None),
        ("overdoses Q1 2024", "overdoses", "2024-Q1", None),
        ("overdoses 2023-12", "overdoses", "2023-12", None),
        ("overdoses 12/2023", "overdoses", "2023-12", None),
        ("overdoses in MD Dec 2023", "overdoses", "2023-12", "MD"),
        ("overdoses in North Carolina Q1 2024", "overdoses", "2024-Q1", "North Carolina"),
        # a bare year or number stays part of the name or place
        ("Healthy People 2030", "Healthy People 2030", None, None),
        ("overdoses in Ward 3", "overdoses", None, "Ward 3"),
    ],
)
def test_a_period_said_without_for_is_the_period_asked(text, name, period, place):
    query = parse_query(text)
    assert (query.name, query.geography) == (name, place)
    assert (query.at.text if query.at else None) == period


def test_two_periods_one_said_without_for_are_refused():
    with pytest.raises(IndicatorError, match="One period at a time"):
        parse_query("overdoses Dec 2023 for Jan 2024")
