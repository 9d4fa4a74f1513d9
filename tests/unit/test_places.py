"""Places written several ways are stored one way (bot/core/places.py)."""

from __future__ import annotations

import pytest

from bot.core.places import PlaceError, county_place, state_code, unify


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("MD", "MD"),
        ("md", "MD"),
        (" Maryland ", "MD"),
        ("MARYLAND", "MD"),
        ("US", "US"),
        ("United States", "US"),
        ("U.S.", "US"),
        ("District of Columbia", "DC"),
        ("Washington, D.C.", "DC"),
        ("Puerto Rico", "PR"),
        ("Baltimore", None),
        ("Statewide", None),
        ("24", None),  # a number is a FIPS code only when asked (a whole column of states)
    ],
)
def test_state_code_by_name_or_postal_code(written: str, stored: str | None) -> None:
    assert state_code(written) == stored


@pytest.mark.parametrize(
    ("written", "stored"),
    [("24", "MD"), ("024", "MD"), ("24.0", "MD"), ("01", "AL"), ("1", "AL"), ("00", "US")],
)
def test_state_code_by_fips(written: str, stored: str) -> None:
    assert state_code(written, numbers=True) == stored


def test_state_code_refuses_numbers_that_are_no_state() -> None:
    assert state_code("03", numbers=True) is None  # 03 was never used
    assert state_code("99", numbers=True) is None


def test_a_column_of_states_written_every_way_is_stored_as_postal_codes() -> None:
    assert unify(["Maryland", "MD", "24", "024", " md ", "United States", ""]) == {
        "Maryland": "MD",
        "MD": "MD",
        "24": "MD",
        "024": "MD",
        "md": "MD",
        "United States": "US",
        "": "",
    }


@pytest.mark.parametrize(
    "column",
    [
        ["1", "2", "3"],  # districts: 03 is no state
        ["1", "2"],  # districts too (single digits, no name among them)
        ["24", "Baltimore City"],  # not every place is a state: the numbers are not FIPS codes
        ["Region 3", "Region 4"],
    ],
)
def test_numbers_that_may_not_be_states_stay_as_written(column: list[str]) -> None:
    assert unify(column) == {text: text for text in column}


def test_a_place_that_is_no_state_is_kept_beside_states() -> None:
    assert unify(["Maryland", "Baltimore City"]) == {
        "Maryland": "MD",
        "Baltimore City": "Baltimore City",
    }


@pytest.mark.parametrize(
    ("fips", "place"),
    [
        ("24510", "Baltimore city, MD"),
        ("24031", "Montgomery County, MD"),
        ("24510.0", "Baltimore city, MD"),
        ("1001", "Autauga County, AL"),  # Excel dropped the leading zero
        ("24000", "MD"),  # the state's own total
        ("24", "MD"),
        ("00000", "US"),
        ("09110", "Capitol Planning Region, CT"),  # newer than the `us` package's counties
    ],
)
def test_county_place_by_fips(fips: str, place: str) -> None:
    assert county_place(fips) == place


@pytest.mark.parametrize(
    ("fips", "says"),
    [
        ("", "the county FIPS code is blank"),
        ("99999", "99 is not a state's FIPS code"),
        ("24999", "'24999' is not a county of MD that I know"),
        ("Baltimore", "is not a county FIPS code"),
        ("245100", "is not a county FIPS code"),
        ("03", "'03' is not a state's FIPS code"),
    ],
)
def test_county_place_refuses_what_is_no_county(fips: str, says: str) -> None:
    with pytest.raises(PlaceError, match=says):
        county_place(fips)


def test_the_national_total_is_known_by_any_of_its_names():
    from bot.core.places import is_nation

    assert all(is_nation(n) for n in ("US", "us", "United States", "USA", " national "))
    assert not any(is_nation(n) for n in ("MD", "Maryland", "Ward 3", "", "24"))
