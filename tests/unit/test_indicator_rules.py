"""What /indicator works out, on small synthetic data: matching names, visibility, the numbers,
places and the chart's window."""

from datetime import date

import pytest

from bot.core import periods
from bot.core.indicator_parser import IndicatorError, Query
from bot.core.indicator_rules import (
    Point,
    choose_geographies,
    fill_gaps,
    find,
    is_visible,
    match_geography,
    summarise,
    window_start,
)
from storage.models import Direction, Indicator

CATALOG = [
    ("Number of Drug Overdose Deaths", ["overdoses", "OD deaths"]),
    ("Opioids (T40.0-T40.4,T40.6)", ["opioid overdose deaths"]),
    ("Synthetic opioids, excl. methadone (T40.4)", ["fentanyl"]),
    ("Naloxone dispensing rate", []),
    ("Naloxone kits distributed", ["kits"]),
    ("Emergency department visits for overdose", ["ED visits"]),
]


def catalog():
    return [
        Indicator(id=n, name=name, slug=name.lower().replace(" ", "-"), aliases=aliases)
        for n, (name, aliases) in enumerate(CATALOG, start=1)
    ]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("overdose deaths", "Number of Drug Overdose Deaths"),
        ("Overdose Deaths", "Number of Drug Overdose Deaths"),
        ("deaths overdose", "Number of Drug Overdose Deaths"),  # word order
        ("overdoes deaths", "Number of Drug Overdose Deaths"),  # misspelling
        ("overdoses", "Number of Drug Overdose Deaths"),  # alias
        ("OD deaths", "Number of Drug Overdose Deaths"),  # alias with capitals
        ("number of drug overdose deaths", "Number of Drug Overdose Deaths"),  # full name
        ("fentanyl", "Synthetic opioids, excl. methadone (T40.4)"),  # alias only
        ("synthetic opioid", "Synthetic opioids, excl. methadone (T40.4)"),  # singular
        ("opioids", "Opioids (T40.0-T40.4,T40.6)"),  # the shorter, closer name
        ("naloxon dispensing", "Naloxone dispensing rate"),  # misspelling
        ("naloxone kit", "Naloxone kits distributed"),
        ("ed visits", "Emergency department visits for overdose"),
        ("emergency visits", "Emergency department visits for overdose"),
    ],
)
def test_names_match_forgivingly(typed, meant):
    assert find(catalog(), typed).indicator.name == meant


def test_overdose_deaths_is_not_ambiguous_with_the_opioid_series():
    found = find(catalog(), "overdose deaths")
    assert found.also == ()


def test_two_close_names_pick_the_best_and_mention_the_other():
    found = find(catalog(), "opioids")
    assert [i.name for i in found.also] == ["Synthetic opioids, excl. methadone (T40.4)"]


def test_an_unknown_name_says_so_and_lists_the_closest_three():
    with pytest.raises(IndicatorError) as error:
        find(catalog(), "housing waitlist")
    message = str(error.value)
    assert message.startswith("I don't know an indicator called “housing waitlist”. Closest: ")
    assert message.split("Closest: ")[1].count(",") >= 2


def test_an_empty_catalog_says_how_to_load_one():
    with pytest.raises(
        IndicatorError, match="No indicators yet — load some with `commstat import`"
    ):
        find([], "overdoses")


def test_hostile_names_are_echoed_harmlessly():
    with pytest.raises(IndicatorError) as error:
        find(catalog(), "<!channel> " + "x" * 4000)
    message = str(error.value)
    assert "<!channel>" not in message
    assert "“@\u2060channel xxx" in message
    assert len(message) < 400


def test_restricted_indicators_exist_only_in_their_channels():
    secret = Indicator(name="Jail releases", slug="jail", aliases=[], restricted_to=["C0PRIVATE"])
    assert is_visible(secret, "C0PRIVATE")
    assert not is_visible(secret, "C0MEETING")
    assert not is_visible(secret, "D0DM")
    assert is_visible(Indicator(name="x", slug="x", restricted_to=[]), "D0DM")


def test_windows_count_back_from_the_latest_period():
    latest = periods.month_period(2025, 4)
    assert window_start(Query("x", last=(12, "months")), latest, "monthly") == date(2024, 4, 2)
    assert window_start(Query("x", since=periods.year_period(2022)), latest, None) == date(
        2022, 1, 1
    )
    yearly = periods.year_period(2023)
    assert window_start(Query("x", last=(3, "years")), yearly, "yearly") == date(2020, 1, 2)


def test_geography_choice():
    known = ["MD", "NC", "US", "VT"]
    assert choose_geographies(Query("x", geography="vt"), known, None, "X")[:2] == (["VT"], True)
    assert choose_geographies(Query("x"), known, "MD", "X")[:2] == (["MD"], True)
    assert choose_geographies(Query("x"), known, "Ohio", "X")[:2] == (known, False)
    assert choose_geographies(Query("x", by="state"), known, "MD", "X")[:2] == (known, False)
    with pytest.raises(IndicatorError, match="Places with data: MD, NC, US, VT"):
        choose_geographies(Query("x", geography="Ohio"), known, None, "X")


# --- the numbers ---------------------------------------------------------------------------------


def monthly(values, start=(2024, 1)):
    year, month = start
    points = []
    for value in values:
        points.append(Point(periods.month_period(year, month), value))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return points


def test_changes_vs_prior_and_year_earlier_with_direction_and_target():
    # Jan 2024 .. Apr 2025: 16 months; Apr 2024 = 200, Mar 2025 = 160, Apr 2025 = 150.
    values = [210.0, 205.0, 202.0, 200.0, *[190.0] * 10, 160.0, 150.0]
    summary = summarise(
        "MD", monthly(values), kind="12-month-ending", direction="lower", target=120
    )
    assert summary.reported.value == 150
    assert summary.prior.period.text == "2025-03"
    assert (summary.prior.delta, round(summary.prior.pct, 2)) == (-10, -6.25)
    assert summary.prior.verdict == "better"
    assert summary.year_ago.period.text == "2024-04"
    assert (summary.year_ago.delta, summary.year_ago.pct) == (-50, -25)
    assert summary.year_ago.verdict == "better"
    assert summary.target_gap == 30

    higher = summarise(
        "MD", monthly(values), kind="monthly", direction=Direction.HIGHER_IS_BETTER, target=None
    )
    assert higher.prior.verdict == "worse"
    assert higher.target_gap is None


def test_a_missing_latest_period_is_reported_as_missing_not_zero():
    values = [100.0] * 12 + [90.0, 80.0, None]  # Jan 2024 .. Mar 2025, March missing
    summary = summarise("NC", monthly(values), kind="monthly", direction="lower", target=None)
    assert summary.latest.period.text == "2025-03" and summary.latest.value is None
    assert summary.reported.period.text == "2025-02" and summary.reported.value == 80
    assert summary.prior.value == 90
    assert summary.year_ago.period.text == "2024-02" and summary.year_ago.value == 100


def test_a_missing_comparison_period_gives_no_comparison():
    values = [None] * 12 + [90.0, 80.0]
    summary = summarise("NC", monthly(values), kind="monthly", direction="lower", target=None)
    assert summary.year_ago.value is None
    assert summary.year_ago.delta is None
    assert summary.year_ago.verdict == "not reported"


def test_no_change_is_neither_better_nor_worse():
    summary = summarise("", monthly([5.0, 5.0]), kind="monthly", direction="lower", target=None)
    assert summary.prior.verdict == "no change"


def test_gaps_are_filled_as_missing_for_the_chart():
    points = monthly([1.0, 2.0, 3.0])
    del points[1]
    filled = fill_gaps(points, "monthly", date(2024, 1, 1), date(2024, 3, 1))
    assert [(p.period.text, p.value) for p in filled] == [
        ("2024-01", 1.0),
        ("2024-02", None),
        ("2024-03", 3.0),
    ]


# --- places --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "known", "found"),
    [
        ("Maryland", ["MD", "NC", "US"], "MD"),
        ("north carolina", ["MD", "NC", "US"], "NC"),
        ("the U.S.", ["MD", "US"], "US"),
        ("MD", ["Maryland", "Vermont"], "Maryland"),
        ("md", ["MD"], "MD"),
        ("Narnia", ["MD", "US"], None),
        ("Ward 3", ["Ward 3", "Ward 4"], "Ward 3"),
    ],
)
def test_places_match_by_code_or_full_state_name(typed, known, found):
    assert match_geography(typed, known) == found


def test_yearly_values_compare_with_the_year_before_once():
    points = [
        Point(periods.parse_period(str(year)), value)
        for year, value in [(2021, 0.6), (2022, 0.7), (2023, 0.8)]
    ]
    summary = summarise("MD", points, kind="yearly", direction="higher", target=None)
    assert summary is not None
    assert summary.prior is not None and summary.prior.period.text == "2022"
    assert summary.year_ago is None
