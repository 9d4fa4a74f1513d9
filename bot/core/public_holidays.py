"""Public holidays by default: nobody has to type Thanksgiving in before the bot stops nudging
on it. A coalition's country comes from its time zone (tzdb's own `zone.tab`, shipped with the
`tzdata` package), its public holidays from the `holidays` package (US: the federal holidays,
with the observed day when one falls on a weekend). An admin can name another country, turn the
calendar off, turn single days off, and add local days (`/commstat settings holidays …`)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from importlib import resources

import holidays as calendars

YEARS = range(2020, 2041)
OFF = "none"  # the stored setting that turns public holidays off


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    table = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    found: dict[str, str] = {}
    for line in table.splitlines():
        if line and not line.startswith("#"):
            fields = line.split("\t")
            if len(fields) >= 3:
                found[fields[2]] = fields[0]
    return found


def country_of_zone(zone: str) -> str | None:
    """The ISO country code of an IANA time zone (America/Chicago → US), or None."""
    return _zone_countries().get(zone)


def supported(country: str) -> bool:
    return country.upper() in calendars.list_supported_countries()


def canonical(country: str) -> str:
    """A supported country's two-letter code, whichever of its codes was given (USA -> US)."""
    return str(calendars.country_holidays(country.upper()).country)


def calendar_country(setting: str | None, zone: str) -> str | None:
    """Whose public holidays apply: the admin's choice, "none" for no calendar, or by default
    the time zone's country (when the `holidays` package knows it)."""
    if setting == OFF:
        return None
    country = (setting or country_of_zone(zone) or "").upper()
    return country if country and supported(country) else None


@lru_cache(maxsize=32)
def public_holidays(country: str) -> dict[date, str]:
    """Every public holiday of `country` in YEARS, with its name."""
    days = calendars.country_holidays(country, years=YEARS)
    return {day: str(name) for day, name in sorted(days.items())}
