"""Public holidays by default: the calendar a coalition gets from its time zone, and the days
an admin turns off or adds."""

from dataclasses import dataclass, field
from datetime import date

import pytest

from bot.core.coalition_settings_parser import SettingsError, parse_change
from bot.core.nudge_rules import Rules, team_holidays
from bot.core.public_holidays import calendar_country, country_of_zone, public_holidays


@dataclass
class Team:
    id: str = "T1"
    time_zone: str = "America/New_York"
    holiday_country: str | None = None
    holidays: list[str] = field(default_factory=list)
    holidays_off: list[str] = field(default_factory=list)
    working_days: list[str] = field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    nudge_hour: int = 9
    overdue_every_days: int = 2
    quiet_start: int | None = None
    quiet_end: int | None = None


def test_a_time_zone_names_its_country_and_its_public_holidays():
    assert country_of_zone("America/Chicago") == "US"
    assert country_of_zone("Europe/London") == "GB"
    assert country_of_zone("Mars/Olympus") is None
    assert calendar_country(None, "America/Los_Angeles") == "US"
    assert calendar_country("none", "America/New_York") is None
    assert calendar_country("CA", "America/New_York") == "CA"
    assert calendar_country(None, "UTC") is None  # no country: no calendar
    us = public_holidays("US")
    assert us[date(2026, 11, 26)] == "Thanksgiving Day"
    assert date(2026, 7, 3) in us  # Independence Day on a Saturday: observed on Friday


def test_a_us_coalition_has_thanksgiving_off_unless_an_admin_turned_it_off():
    assert not Rules.of(Team()).is_working_day(date(2026, 11, 26))
    assert Rules.of(Team()).is_working_day(date(2026, 11, 25))
    turned_off = Team(holidays_off=["2026-11-26"])
    assert Rules.of(turned_off).is_working_day(date(2026, 11, 26))
    assert Rules.of(Team(holiday_country="none")).is_working_day(date(2026, 11, 26))
    local = Team(holiday_country="none", holidays=["2026-12-31"])
    assert team_holidays(local) == {date(2026, 12, 31): "local holiday"}


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("holidays add Dec 31", ["--12-31"]),
        ("holidays add December 24th, Dec 31", ["--12-24", "--12-31"]),
        ("holidays add 31 Dec", ["--12-31"]),
        ("holidays add 2026-12-31", ["2026-12-31"]),
        ("holidays off Nov 26", ["--11-26"]),
    ],
)
def test_holidays_are_written_as_people_write_them(text, days):
    assert parse_change(text).value == days


@pytest.mark.parametrize("text", ["holidays add Feb 30", "holidays add Christmas"])
def test_a_day_that_is_not_one_is_refused(text):
    with pytest.raises(SettingsError, match="like `Dec 31`"):
        parse_change(text)
