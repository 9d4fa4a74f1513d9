"""Places as publishers write them, stored one way: Maryland = MD = FIPS 24 -> ``MD``.

Pure functions over the `us` package's tables (states, territories and their counties with
Census FIPS codes; no I/O). A state is stored as its postal code and the nation as ``US``, so
values imported from a file that writes "Maryland" and one that writes "MD" or "24" meet, and
people ask for them as they say them ("in MD"). A county is stored as its Census name and its
state's code, "Baltimore city, MD": read, never guessed, from a 5-digit county FIPS code.

Numbers are read as FIPS codes only where the whole column is states (every place a state by
name, code or FIPS number) and some code has two digits ("01", "24") or sits among names: a column
of district numbers ("1", "2", "3") stays as written. Anything that is not a state (a city, a
region, "Statewide") is kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from us import states as us_states

NATION = "US"
_NATION_NAMES = (
    "us",
    "usa",
    "u s",
    "u s a",
    "united states",
    "united states of america",
    "national",
    "nationwide",
)

# Connecticut's nine planning regions replaced its counties in Census FIPS codes in 2022; the `us`
# package still lists the old counties (CDC county files from 2023 on use the regions).
_CONNECTICUT_REGIONS = {
    "09110": "Capitol Planning Region",
    "09120": "Greater Bridgeport Planning Region",
    "09130": "Lower Connecticut River Valley Planning Region",
    "09140": "Naugatuck Valley Planning Region",
    "09150": "Northeastern Connecticut Planning Region",
    "09160": "Northwest Hills Planning Region",
    "09170": "South Central Connecticut Planning Region",
    "09180": "Southeastern Connecticut Planning Region",
    "09190": "Western Connecticut Planning Region",
}

_NUMBER = re.compile(r"^\d{1,3}(?:\.0+)?$")  # 24, 024, 24.0 (a code that went through Excel)
_COUNTY = re.compile(r"^\d{4,5}(?:\.0+)?$")  # 24510, 1001 (Excel dropped Alabama's leading 0)


class PlaceError(ValueError):
    """A place code we cannot read; the message says why."""


def _folded(text: str) -> str:
    """Lowercase words only: "Washington, D.C." -> "washington d c"."""
    return " ".join(re.findall(r"[a-z0-9]+", text.casefold()))


@cache
def _tables() -> tuple[dict[str, str], dict[str, str], dict[str, tuple[str, str]]]:
    """(folded name or code -> postal code, FIPS -> postal code, county FIPS -> (name, code))."""
    by_name: dict[str, str] = {name: NATION for name in _NATION_NAMES}
    by_fips: dict[str, str] = {"00": NATION}
    counties: dict[str, tuple[str, str]] = {}
    for state in us_states.STATES_AND_TERRITORIES:
        by_name[_folded(state.name)] = state.abbr
        by_name[state.abbr.casefold()] = state.abbr
        if state.fips:
            by_fips[state.fips] = state.abbr
        for county in state.counties or ():
            counties[county.fips] = (county.name, state.abbr)
    for spelling in ("washington d c", "washington dc", "d c", "dist of columbia"):
        by_name[spelling] = "DC"
    for fips, name in _CONNECTICUT_REGIONS.items():
        counties[fips] = (name, "CT")
    return by_name, by_fips, counties


def state_code(text: str, *, numbers: bool = False) -> str | None:
    """The postal code ("MD", "US") of a state, territory or the nation written by name, postal
    code or (when `numbers`) FIPS code ("24", "024"); None when the text names none."""
    by_name, by_fips, _ = _tables()
    stripped = text.strip()
    if _NUMBER.match(stripped):
        if not numbers:
            return None
        return by_fips.get(f"{int(float(stripped)):02d}")
    return by_name.get(_folded(stripped))


def is_nation(text: str) -> bool:
    """Whether a place is the national total ("US", "United States", "USA"…): not a state."""
    return state_code(text) == NATION


def unify(places: Iterable[str]) -> dict[str, str]:
    """Each distinct place of a column as it is stored: a state as its postal code, anything else
    as written (trimmed). Numbers become states only when every place of the column is one."""
    texts = list(dict.fromkeys(p.strip() for p in places))
    written = [t for t in texts if t]
    numeric = [t for t in written if _NUMBER.match(t)]
    numbers = (
        bool(numeric)
        and all(state_code(t, numbers=True) is not None for t in written)
        # 1, 2, 4 could be districts; 01 or 24 (or a name among them) are written as codes
        and (len(numeric) < len(written) or any(len(t.split(".")[0]) > 1 for t in numeric))
    )
    return {t: (state_code(t, numbers=numbers) or t) for t in texts}


def county_place(fips: str) -> str:
    """The place a county FIPS code stands for: "Baltimore city, MD" for 24510; a state's own
    total (county 000, or a 2-digit code) is the state, "MD"; 00000 is the nation."""
    text = fips.strip()
    if not text:
        raise PlaceError("the county FIPS code is blank")
    if _NUMBER.match(text) and len(text.split(".")[0]) <= 2:
        state = state_code(text, numbers=True)
        if state is None:
            raise PlaceError(f"'{text[:20]}' is not a state's FIPS code")
        return state
    if not _COUNTY.match(text):
        raise PlaceError(
            f"'{text[:20]}' is not a county FIPS code (5 digits: the state's 2 and the county's "
            "3, e.g. 24510)"
        )
    code = f"{int(float(text)):05d}"
    _, by_fips, counties = _tables()
    if code[2:] == "000":
        state = by_fips.get(code[:2])
        if state is None:
            raise PlaceError(f"'{text}': {code[:2]} is not a state's FIPS code")
        return state
    found = counties.get(code)
    if found is None:
        if code[:2] not in by_fips:
            raise PlaceError(f"'{text}': {code[:2]} is not a state's FIPS code")
        raise PlaceError(f"'{text}' is not a county of {by_fips[code[:2]]} that I know")
    name, state = found
    return f"{name}, {state}"
