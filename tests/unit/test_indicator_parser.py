"""Reading what people type after `/indicator`: the question's name and modifiers, and a value
with its period and place."""

import pytest

from bot.core import periods
from bot.core.indicator_parser import IndicatorError, Query, parse_query, parse_set, parse_value


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
