"""`commstat import FILE`: indicator values from CSV or Excel into the database.

The contract (the README, "Indicator data"): long format, one row per value
(``indicator,period,value[,geography][,unit]``), or any publisher's shape named with a column
mapping. Blank cells and suppression markers are *missing* values, never zero. A file with any bad
row is refused whole, with spreadsheet row numbers (the header is row 1), and nothing is written.
Importing the same file again changes nothing.

Parsing is vectorised with pandas: repeated text (indicator names, periods, geographies) is read
as categories and each distinct value is checked once, so a million rows cost seconds, not
minutes. Writes are bulk executemany statements in one transaction, after comparing with what is
stored, so unchanged rows are never rewritten and the added/updated/unchanged counts are exact.

Files that can't hurt: Excel workbooks are streamed by `storage.xlsx` with limits (a stray cell
at XFD1048576 or a zip bomb is refused in a second, never unpacked into a dense sheet); a CSV row
with more fields than the header is found on the raw bytes before pandas reads the file (pandas
would drop the extras silently); UTF-16 and UTF-32 files with a byte-order mark are read; and a
value no indicator can have is refused by the rule `/indicator set` applies too
(`bot.core.indicator_rules.value_range`, with the catalog's `min` and `max`). A file of more
than MAX_COLUMNS columns is refused before it is parsed; an indicator name, unit or place holding
a control character is refused; and whatever a message quotes from the file is clipped and shown
without control characters, so a hostile file cannot flood or drive the operator's terminal.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from itertools import repeat
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from rapidfuzz import process
from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.core import places
from bot.core.indicator_rules import value_problem, value_range
from bot.core.periods import (
    CDC_WEEK,
    CDC_WEEK_PARTS,
    PART_WORDS,
    PERIOD_KINDS,
    Period,
    PeriodError,
    explain,
    has_begun,
    infer_kind,
    label,
    month_period,
    names_an_end,
    names_cdc_weeks,
    normalise_kind,
    parse_period,
    period_end,
    period_from_parts,
    quarter_period,
    school_years_in_doubt,
    week_ending,
    year_period,
)
from bot.core.text import clip, format_number
from storage.models import Direction, Indicator, IndicatorValue
from storage.repositories import ensure_team
from storage.xlsx import Cells, SpreadsheetError, Workbook, cell_name, column_name

# What publishers write instead of a number when a value is missing or suppressed (compared
# trimmed and case-insensitively). "<N" (e.g. "<10", "<5") is suppression too: a small count
# hidden for privacy, so it is missing, never zero and never N.
_MARKERS = ("*", "§", "¶", "NA", "n/a", "suppressed", "missing", "not applicable", "unreliable")
SUPPRESSION_MARKERS = frozenset(m.casefold() for m in _MARKERS)
MARKERS_SHOWN = ", ".join(("blank", *_MARKERS, "<10"))  # (in a refusal: one list, not a copy)
_SUPPRESSED_BELOW = re.compile(r"^<\s*\d+(?:\.\d+)?$")
# CDC WONDER's flag on a rate from fewer than 20 deaths: "15.8 (Unreliable)". The number is the
# publisher's own; it is kept, and the preview says how many carried the flag.
# "87.3%": a share written as a percentage, stored as the number shown (87.3), the way an Excel
# cell formatted as a percentage is read (storage/xlsx.py). "%" alone, or "n/a%", is no number.
_PERCENT = re.compile(r"^(.*\d)\s*%$")
_FLAGGED_UNRELIABLE = re.compile(r"^(.*?)\s*\(\s*unreliable\s*\)$", re.IGNORECASE)


def without_percent(cell: str) -> str:
    """A number written as a percentage without its sign ("87.3%" -> "87.3"), for the upload's
    guess and the import alike; any other text as it is."""
    percent = _PERCENT.match(cell)
    return percent[1] if percent else cell


def without_flag(cell: str) -> str:
    """A cell without WONDER's "(Unreliable)" flag ("15.8 (Unreliable)" -> "15.8"), for the
    upload's guess of the value column to see the number the import will read."""
    flag = _FLAGGED_UNRELIABLE.match(cell)
    return flag[1].strip() if flag else cell


def reads_as_number(cell: str) -> bool:
    """Whether the import reads `cell` as a value or a missing one (with a decimal point or a
    decimal comma, flagged, as a percentage, or a marker): the upload's guess of the value
    column asks this, so the guess and the import keep one rule."""
    bare = without_percent(without_flag(cell.strip()))
    return any(_number(bare, commas=commas) is not None for commas in (False, True))


# A row that sums others: a dashboard's "Total" line, a table's "Grand Total" or "All" row.
# Compared with the whole trimmed cell of a place, indicator or period, case-insensitively; a
# real place ("United States", "US") is never one.
TOTAL_ROW = re.compile(
    r"^(?:(?:grand|sub)[\s-]*)?totals?(?:\s*[:(\[].*)?$"
    r"|^(?:all|overall)$"
    r"|^all\s+(?:states|counties|jurisdictions|areas|regions|places|locations|wards|districts)$"
    r"|^(?:state|county|city|national|regional)(?:[\s-]*wide)?\s+totals?$",
    re.IGNORECASE,
)
# A publisher's notes column marks its total rows (CDC WONDER's "Show Totals", on by default:
# Notes = "Total" and the period cell blank).
NOTES_COLUMNS = ("notes", "note")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
# Numbers as a European spreadsheet writes them: a decimal comma ("22,2"), points between
# thousands ("1.234,5", "1.234"). Which way a column is written is settled per column: see
# `_decimal_commas`.
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_POINT_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+$")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")

MAX_CELL_CHARS = 1_000  # a longer cell is a broken file (or a pasted document), not data
MAX_NAME_CHARS = 200  # Indicator.name
MAX_GEOGRAPHY_CHARS = 100  # IndicatorValue.geography
MAX_UNIT_CHARS = 100  # Indicator.unit
MAX_PROBLEMS_SHOWN = 20
MAX_COLUMNS = 1_000  # the widest bundled file has 11; a publisher's wide file is well under this
MAX_COLUMNS_SHOWN = 30  # column names listed in a message
SHOWN_CHARS = 80  # any text of the file quoted in a message is clipped to this
MAX_MESSAGE_CHARS = 20_000  # a last guard on what a refusal or summary prints
# C0 and C1 control characters (tab and line break are allowed in messages, not in names):
# written to a terminal they set its title, clear the screen or fake other output.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# In a name, unit or place a line break is refused too; a tab is kept (a cell may hold one).
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
PROGRESS_ROWS = 5_000  # show a progress bar only for files longer than this
CHUNK_ROWS = 50_000  # rows per executemany (or COPY) batch

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")

# Words in an indicator's name that suggest more is better. Everything else defaults to "lower is
# better" (most CommStat indicators count harms); the summary says which guess was made.
HIGHER_IS_BETTER_WORDS = (
    "naloxone",
    "narcan",
    "treatment",
    "treated",
    "enrolled",
    "enrollment",
    "enrolment",
    "housed",
    "housing placements",
    "vaccinated",
    "vaccination",
    "vaccine",
    "screened",
    "screening",
    "employed",
    "employment",
    "retention",
    "retained",
    "recovery",
    "reversal",
    "graduated",
    "graduation",
    "insured",
    "coverage",
    "access",
    "referral",
    "linked to care",
    "distributed",
    "trained",
)

ProgressBar = Callable[..., AbstractContextManager[Any]]


class ImportError_(Exception):
    """The file was refused; nothing was written. The message says what to fix.

    The message is made safe for a terminal whatever the file held: no control characters
    (a `?` instead) and never longer than MAX_MESSAGE_CHARS."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


class ImportRaced(ImportError_):
    """Another import (or process) wrote the same indicators or values first, between this
    import's reading and writing; nothing of this one was written. Importing again finds what
    the other wrote, so it is a moment's problem, not the file's."""


class ImportHidden(ImportError_):
    """The file names an indicator the caller may not see (`import_file(visible=...)`); the
    message says so without its stored name, limits or grain, and nothing was written."""


# PostgreSQL's unique_violation: a raw driver error (the COPY and executemany paths go below
# SQLAlchemy) carries it as `sqlstate`, SQLAlchemy's IntegrityError on its `orig`.
UNIQUE_VIOLATION = "23505"


def _raced(error: BaseException) -> bool:
    """Did writing fail because another transaction stored the same keys first?"""
    if isinstance(error, IntegrityError):
        return True
    return getattr(error, "sqlstate", None) == UNIQUE_VIOLATION


def printable(text: str) -> str:
    """Text fit to print to an operator's terminal: control characters shown as `?`, and
    at most MAX_MESSAGE_CHARS characters."""
    text = CONTROL.sub("?", text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


def shown(text: object, limit: int = SHOWN_CHARS) -> str:
    """A name, column or value of the file as a message quotes it: one line, clipped, with no
    control characters."""
    return clip(CONTROL.sub("?", str(text)), limit)


def shown_columns(columns: Sequence[str]) -> str:
    """The file's column names for a message: each clipped, at most MAX_COLUMNS_SHOWN of them."""
    listed = ", ".join(shown(c) for c in columns[:MAX_COLUMNS_SHOWN])
    if len(columns) > MAX_COLUMNS_SHOWN:
        listed += f" and {len(columns) - MAX_COLUMNS_SHOWN:,} more"
    return listed


@dataclass(frozen=True)
class ImportMapping:
    """Which columns hold what; the defaults read the long format (indicator, period, value...).

    Publishers' shapes: `period_columns` is a period split over columns, as (part, column) pairs
    with part "year", "month", "quarter" or "week" (an ISO week, stored as its Monday);
    `value_columns` is several measures in one row, as (column, indicator name) pairs, each its
    own indicator; `skip_rows` is how many lines stand above the header (None: found by looking);
    `county_fips_column` names each row's county by its 5-digit FIPS code.
    """

    indicator: str | None = None  # every row is this indicator
    indicator_column: str | None = None  # default: "indicator"
    period_column: str | None = None  # default: "period"
    value_column: str | None = None  # default: "value"
    geography_column: str | None = None  # default: "geography" if the file has it
    unit_column: str | None = None  # default: "unit" if the file has it
    filters: tuple[tuple[str, str], ...] = ()  # (column, value): keep matching rows
    sheet: str | None = None  # Excel sheet; default the first
    period_columns: tuple[tuple[str, str], ...] = ()  # (part, column): year + month/quarter/week
    value_columns: tuple[tuple[str, str], ...] = ()  # (column, indicator name), one per measure
    skip_rows: int | None = None  # lines above the header; None: detected
    county_fips_column: str | None = None  # 5-digit county FIPS: the place is that county
    unit: str | None = None  # every value's unit, e.g. "per 10,000 ED visits"
    period_kind: str | None = None  # a new indicator's kind (the catalog's still wins)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (for `import_sources.mapping`): only what differs from the defaults."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value in (None, ()):
                continue
            out[name] = (
                [list(v) if isinstance(v, tuple) else v for v in value]
                if isinstance(value, tuple)
                else value
            )
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportMapping:
        """The inverse of `to_dict`; unknown keys (a newer version's) are refused."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ImportError_(f"Unknown import mapping settings: {', '.join(sorted(unknown))}.")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            values[name] = value
        return cls(**values)

    @classmethod
    def from_options(
        cls,
        *,
        indicator: str | None = None,
        indicator_column: str | None = None,
        period_column: str | Sequence[str] | None = None,
        value_column: str | Sequence[str] | None = None,
        geography_column: str | None = None,
        unit_column: str | None = None,
        filters: Iterable[str] = (),
        sheet: str | None = None,
        skip_rows: int | None = None,
        county_fips_column: str | None = None,
        unit: str | None = None,
        period_kind: str | None = None,
    ) -> ImportMapping:
        """Build from the CLI options; `filters` are "COLUMN=VALUE" texts.

        `period_column` may be given several times (a period split over columns: year and month,
        quarter or week; each "PART=COLUMN" or a column whose name says its part). `value_column`
        may be "COLUMN=INDICATOR NAME", and given several times (several measures in one row; a
        bare column then names its indicator by the header)."""
        if indicator is not None and indicator_column is not None:
            raise ImportError_(
                "Use either --indicator NAME (every row is that indicator) or --indicator-column "
                "COLUMN (the column holding each row's indicator), not both."
            )
        if indicator is not None and not indicator.strip():
            raise ImportError_("--indicator needs a name, e.g. --indicator 'Overdose deaths'.")
        parsed: list[tuple[str, str]] = []
        for text in filters:
            column, sign, value = text.partition("=")
            if not sign or not column.strip():
                raise ImportError_(
                    f"--filter '{text}' should look like COLUMN=VALUE, e.g. --filter State=MD."
                )
            parsed.append((column.strip(), value.strip()))
        periods = _listed(period_column)
        single_period: str | None = None
        split_period: tuple[tuple[str, str], ...] = ()
        if len(periods) == 1 and "=" not in periods[0]:
            single_period = periods[0]
        elif periods:
            split_period = _period_parts(periods)
        values = _listed(value_column)
        single_value: str | None = None
        measures: tuple[tuple[str, str], ...] = ()
        if len(values) == 1 and "=" not in values[0]:
            single_value = values[0]
        elif values:
            measures = _measures(values)
            if indicator is not None or indicator_column is not None:
                raise ImportError_(
                    "Each --value-column COLUMN=NAME is its own indicator; leave out "
                    f"--indicator{'-column' if indicator is None else ''} (or give one bare "
                    "--value-column COLUMN)."
                )
        if skip_rows is not None and skip_rows < 0:
            raise ImportError_(f"--skip-rows {skip_rows}: give 0 or more lines to skip.")
        if unit is not None and unit_column is not None:
            raise ImportError_("Use either --unit TEXT or --unit-column COLUMN, not both.")
        if unit is not None and (not unit.strip() or len(unit) > MAX_UNIT_CHARS):
            raise ImportError_(f"--unit needs a unit of at most {MAX_UNIT_CHARS} characters.")
        if unit is not None and CONTROL_IN_TEXT.search(unit):
            raise ImportError_("--unit holds a control character; type it again.")
        kind = normalise_kind(period_kind) if period_kind is not None else None
        if period_kind is not None and kind is None:
            raise ImportError_(
                f"--period-kind '{shown(period_kind)}' is not a period kind; use one of "
                f"{', '.join(PERIOD_KINDS)}."
            )
        return cls(
            indicator=indicator.strip() if indicator else None,
            indicator_column=indicator_column,
            period_column=single_period,
            value_column=single_value,
            geography_column=geography_column,
            unit_column=unit_column,
            filters=tuple(parsed),
            sheet=sheet,
            period_columns=split_period,
            value_columns=measures,
            skip_rows=skip_rows,
            county_fips_column=county_fips_column,
            unit=unit.strip() if unit else None,
            period_kind=kind,
        )


PERIOD_PARTS = ("year", "month", "quarter", "week")
# A CDC (MMWR) week, Sunday to Saturday: `mmwr week=COLUMN`, or a week column whose name says
# MMWR, epi or CDC ("MMWR Week"); read as the week CDC counted, not an ISO week.
_PART_ORDER = (*PERIOD_PARTS, CDC_WEEK)


def _listed(option: str | Sequence[str] | None) -> list[str]:
    if option is None:
        return []
    if isinstance(option, str):
        return [option]
    return list(option)


def _period_parts(texts: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(part, column) for each --period-column: "month=Mo", or a column named like its part."""
    parts: list[tuple[str, str]] = []
    for text in texts:
        part, sign, column = text.partition("=")
        if sign:
            part, column = re.sub(r"[\s_-]+", " ", part.strip().casefold()), column.strip()
            if part in CDC_WEEK_PARTS:
                part = CDC_WEEK
            elif part not in PERIOD_PARTS:
                raise ImportError_(
                    f"--period-column '{shown(text)}': '{shown(part)}' is not a part of a period; "
                    "write year=COLUMN, month=COLUMN, quarter=COLUMN, week=COLUMN (an ISO week) "
                    "or 'mmwr week=COLUMN' (a CDC week)."
                )
        else:
            column = text.strip()
            words = set(re.findall(r"[a-z]+", column.casefold()))
            found = [p for p in PERIOD_PARTS if words & PART_WORDS[p]]
            if len(found) != 1:
                raise ImportError_(
                    f"--period-column '{shown(column)}': which part of the period does it hold? "
                    f"Write year={shown(column)}, month={shown(column)}, "
                    f"quarter={shown(column)} or week={shown(column)}."
                )
            part = found[0]
        if not column:
            raise ImportError_(f"--period-column '{shown(text)}' names no column.")
        parts.append((part, column))
    if any(names_cdc_weeks(c) for _, c in parts):  # "MMWR Year" + "MMWR Week": CDC's weeks
        parts = [(CDC_WEEK if p == "week" else p, c) for p, c in parts]
    named = [p for p, _ in parts]
    columns = [c.casefold() for _, c in parts]
    for column in columns:
        if columns.count(column) > 1:
            raise ImportError_(f"--period-column names the column '{shown(column)}' twice.")
    for part in _PART_ORDER:
        if named.count(part) > 1:
            raise ImportError_(f"--period-column: two columns hold the {part}; give one.")
    if "year" not in named:
        raise ImportError_(
            "--period-column: a period split over columns needs the year too, e.g. "
            "--period-column year --period-column month."
        )
    if len(parts) > 2:
        raise ImportError_(
            "--period-column: give the year and at most one of month, quarter or week "
            f"(not {', '.join(named)})."
        )
    return tuple(sorted(parts, key=lambda p: _PART_ORDER.index(p[0])))


def _measures(texts: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(column, indicator name) for each --value-column: "COLUMN=NAME", or a bare column (whose
    header is then the indicator's name)."""
    measures: list[tuple[str, str]] = []
    for text in texts:
        column, sign, name = text.partition("=")
        column, name = column.strip(), name.strip()
        if not column:
            raise ImportError_(
                f"--value-column '{shown(text)}' should look like COLUMN=NAME, e.g. "
                '--value-column opioid_rate="Opioid overdose ED visits".'
            )
        if sign and not name:
            raise ImportError_(
                f"--value-column '{shown(text)}' names no indicator after '='; write "
                f"{shown(column)}=NAME, or just {shown(column)} to use the header as the name."
            )
        measures.append((column, name or column))
    seen_columns: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for column, name in measures:
        if column.casefold() in seen_columns:
            raise ImportError_(f"--value-column names the column '{shown(column)}' twice.")
        seen_columns[column.casefold()] = column
        slug = slugify(name)
        if not slug:
            raise ImportError_(
                f"--value-column {shown(column)}: the name '{shown(name)}' has no letters or digits."
            )
        if len(name) > MAX_NAME_CHARS or CONTROL_IN_TEXT.search(name):
            raise ImportError_(
                f"--value-column {shown(column)}: the indicator name must be at most "
                f"{MAX_NAME_CHARS} characters, with no control characters."
            )
        if slug in seen_names:
            raise ImportError_(
                f"--value-column {shown(seen_names[slug])} and {shown(column)} name the same "
                f"indicator ('{shown(name)}'); give each column its own name."
            )
        seen_names[slug] = column
    return tuple(measures)


@dataclass
class IndicatorResult:
    """What one import did to one indicator."""

    name: str
    slug: str
    period_kind: str | None
    created: bool = False
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    missing: int = 0  # rows of the file with no value (blank or suppressed)
    first: Period | None = None
    last: Period | None = None
    geographies: tuple[str, ...] = ()
    kind_reason: str | None = None  # for a new indicator: why this kind
    direction: Direction | None = None  # for a new indicator: the guess
    direction_reason: str | None = None
    # Places with values stored for this indicator that the file has no row for (kept as stored)
    kept_places: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return self.added + self.updated + self.unchanged


@dataclass(frozen=True)
class ValueChange:
    """A stored value the file changes: what a steward checks before pressing Import."""

    indicator: str  # the indicator's name (the catalog's)
    period: Period
    geography: str  # "" = no place
    old: float | None  # None = stored as missing
    new: float | None  # None = missing in the file

    def words(self, *, named: bool = False) -> str:
        """ "MD Apr 2025: 1,562 → 1,571" (raw text from the file: escape it for Slack), with
        the indicator's name first when `named` (a file of several indicators)."""
        old, new = _change_number(self.old), _change_number(self.new)
        if old == new:  # a change below what two decimals show
            old, new = _change_number(self.old, exact=True), _change_number(self.new, exact=True)
        where = " ".join(
            part for part in (shown(self.geography, 40), label(self.period, None)) if part
        )
        name = f"{shown(self.indicator, 60)}, " if named else ""
        return f"{name}{where}: {old} → {new}"


def _change_number(value: float | None, *, exact: bool = False) -> str:
    if value is None:
        return "missing"
    return f"{value:,.15g}" if exact else format_number(value)


MAX_CHANGES_KEPT = 10  # changed values a report lists (the count says how many in all)


@dataclass
class ImportReport:
    file: str
    indicators: list[IndicatorResult] = field(default_factory=list)
    decimal_commas: tuple[str, ...] = ()  # value columns read with decimal commas ("22,2")
    read_notes: tuple[str, ...] = ()  # how the file was read: total rows left out, flags dropped
    changes: tuple[ValueChange, ...] = ()  # the first MAX_CHANGES_KEPT updates, in file order

    @property
    def decimal_comma_note(self) -> str | None:
        """How the numbers were read, when it was the European way (raw text)."""
        if not self.decimal_commas:
            return None
        columns = ", ".join(f"'{shown(c)}'" for c in self.decimal_commas[:8])
        return (
            f"Numbers in {columns} were read with decimal commas, as a European spreadsheet "
            "writes them: 22,5 is 22.5 and 1.234,5 is 1234.5."
        )

    @property
    def rows(self) -> int:
        return sum(i.rows for i in self.indicators)

    @property
    def added(self) -> int:
        return sum(i.added for i in self.indicators)

    @property
    def updated(self) -> int:
        return sum(i.updated for i in self.indicators)

    @property
    def unchanged(self) -> int:
        return sum(i.unchanged for i in self.indicators)

    @property
    def missing(self) -> int:
        return sum(i.missing for i in self.indicators)

    @property
    def changes_named(self) -> bool:
        """Whether each listed change names its indicator (the file has more than one)."""
        return len({c.indicator for c in self.changes}) > 1 or len(self.indicators) > 1

    def change_lines(self, limit: int = MAX_CHANGES_KEPT) -> list[str]:
        """The stored values this file changes (raw text: escape it for Slack), "and N more"."""
        if not self.changes:
            return []
        listed = [f"  {c.words(named=self.changes_named)}" for c in self.changes[:limit]]
        more = self.updated - len(listed)
        if more > 0:
            listed.append(f"  …and {more:,} more.")
        return [f"Stored values this file changes ({self.updated:,}):", *listed]

    def kept_lines(self, limit: int = 8) -> list[str]:
        """Places with stored values this file has none for (raw text: escape it for Slack)."""
        by_place: dict[str, list[str]] = {}
        for result in self.indicators:
            for place in result.kept_places:
                by_place.setdefault(place, []).append(result.name)
        lines = []
        for place, names in list(by_place.items())[:limit]:
            where = shown(place, 40) or "(no place)"
            if len(self.indicators) > 1 and len(names) > 1:
                lines.append(
                    f"{where}: stored values of {len(names)} indicators are kept; this file has "
                    "none."
                )
                continue
            which = f" for {shown(names[0], 60)}" if len(self.indicators) > 1 else ""
            lines.append(f"{where}: stored values are kept; this file has none{which}.")
        if len(by_place) > limit:
            lines.append(
                f"…and {len(by_place) - limit:,} more places whose stored values are kept."
            )
        return lines

    def by_name(self, name: str) -> IndicatorResult:
        for result in self.indicators:
            if result.name == name or result.slug == name:
                return result
        raise KeyError(name)

    def summary(self) -> str:
        count = len(self.indicators)
        lines = [
            f"Imported {self.file}: {self.rows:,} rows for {count} indicator{_s(count)} — "
            f"{self.added:,} added, {self.updated:,} updated, {self.unchanged:,} unchanged; "
            f"{self.missing:,} missing (blank or suppressed, stored as missing, not zero)."
        ]
        if self.decimal_comma_note:
            lines.append(self.decimal_comma_note)
        lines += self.read_notes
        lines += self.change_lines()
        lines += self.kept_lines()
        for result in self.indicators:
            span = ""
            if result.first and result.last:
                first = label(result.first, _plain_kind(result.period_kind))
                last = label(result.last, _plain_kind(result.period_kind))
                span = f"{first} – {last}" if first != last else first
                span += f" ({result.period_kind})" if result.period_kind else ""
            places = ", ".join(result.geographies[:8])
            if len(result.geographies) > 8:
                places += f" and {len(result.geographies) - 8} more"
            where = f"; {places}" if places else ""
            new = " (new)" if result.created else ""
            lines.append(
                f"• {result.name} #{result.slug}{new}: {result.added:,} added, "
                f"{result.updated:,} updated, {result.unchanged:,} unchanged, "
                f"{result.missing:,} missing; {span}{where}"
            )
        created = [r for r in self.indicators if r.created]
        if created:
            lines.append(
                "New indicators got guessed settings. If a guess is wrong, fix it in a catalog "
                "file and run `commstat indicators load catalog.yml`:"
            )
            for result in created:
                better = "lower" if result.direction == Direction.LOWER_IS_BETTER else "higher"
                lines.append(
                    f"• {result.name}: period kind {result.period_kind} ({result.kind_reason}); "
                    f"{better} is better ({result.direction_reason})."
                )
            kinds = {r.period_kind for r in created}
            for kind in sorted(k for k in kinds if k):
                sentence = explain(kind)
                if sentence:
                    lines.append(sentence[0].upper() + sentence[1:])
        return printable("\n".join(lines))


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _plain_kind(kind: str | None) -> str | None:
    # Ranges read better as "Jan 2015 – Apr 2025 (12-month-ending)" than repeating the prefix.
    return None if kind == "12-month-ending" else kind


def slugify(name: str) -> str:
    """Lowercase words joined by "-": how people tag an indicator (#overdose-deaths)."""
    words = re.findall(r"[a-z0-9]+", name.casefold())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > 100:
            break
        slug = candidate
    return slug or "-".join(words)[:100]


def guess_direction(name: str) -> tuple[Direction, str]:
    """Lower is better unless the name says the indicator counts help, not harm."""
    folded = name.casefold()
    for word in HIGHER_IS_BETTER_WORDS:
        if re.search(rf"\b{re.escape(word)}", folded):
            return Direction.HIGHER_IS_BETTER, f'the name mentions "{word}"'
    return Direction.LOWER_IS_BETTER, "the default for counts of harm"


# --- reading the file --------------------------------------------------------------------------


@dataclass
class _Problems:
    """Problems found, kept cheap for huge files: every count, but only the first rows' texts."""

    found: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0
    headline: list[str] = field(default_factory=list)
    limit: int = MAX_PROBLEMS_SHOWN  # fewer when one headline explains them all

    def add(self, row: int, text: str) -> None:
        self.total += 1
        self.found.append((row, text))

    def add_rows(self, rows: np.ndarray, text: Callable[[int], str]) -> None:
        """Rows (spreadsheet numbers, ascending) that share one kind of problem."""
        self.total += len(rows)
        for row in rows[:MAX_PROBLEMS_SHOWN]:
            self.found.append((int(row), text(int(row))))

    def raise_if_any(self, file: str) -> None:
        if not self.total:
            return
        shown = sorted(self.found, key=lambda p: p[0])[: self.limit]
        lines = [
            f"Nothing was imported: {file} has {self.total:,} problem{_s(self.total)} "
            "(row numbers as a spreadsheet shows them: the header and any lines above it count)."
        ]
        lines += self.headline
        lines += [f"  row {row}: {text}" for row, text in shown]
        if self.total > len(shown):
            lines.append(f"  …and {self.total - len(shown):,} more.")
        lines.append("Fix these rows (or the column options) and import the file again.")
        raise ImportError_("\n".join(lines))


@dataclass
class _Source:
    """The file being imported: CSV (its encoding and separator) or Excel (the open workbook,
    read twice: a sample of every column, then the wanted columns of every row)."""

    path: Path
    kind: str  # "csv" or "excel"
    sheet: str | None = None
    book: Workbook | None = None
    csv: dict[str, Any] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # the header's column names, trimmed, unique
    header_row: int = 1  # Excel: the sheet's row of column names (title lines above it)
    notes: list[str] = field(default_factory=list)  # Excel: which sheet, percentages (raw)

    @property
    def file(self) -> str:
        return self.path.name

    def close(self) -> None:
        if self.book is not None:
            self.book.close()


def _open(
    path: Path, sheet: str | None, skip_rows: int | None = None
) -> tuple[_Source, pd.DataFrame]:
    """Check the file can be read at all, and safely; return it and its first rows (all
    columns)."""
    if not path.exists():
        raise ImportError_(f"There is no file at {path}. Check the path and try again.")
    if path.is_dir():
        raise ImportError_(f"{path} is a folder; give the path of a CSV or Excel (.xlsx) file.")
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise ImportError_(f"{path.name} is empty: it has no header and no rows.")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if suffix == ".xls":
        raise ImportError_(
            f"{path.name} is an old Excel file (.xls); open it in Excel and save it as .xlsx or CSV."
        )
    if suffix in EXCEL_SUFFIXES or (suffix in CSV_SUFFIXES and magic == b"PK\x03\x04"):
        if magic != b"PK\x03\x04":
            raise ImportError_(f"{path.name} is not a readable Excel file; save it again as .xlsx.")
        source = _Source(path, "excel", sheet)
        try:
            source.book = Workbook(path)
            return source, _excel_sample(source, skip_rows)
        except SpreadsheetError as exc:
            source.close()
            raise ImportError_(str(exc)) from None
        except BaseException:
            source.close()
            raise
    if suffix not in CSV_SUFFIXES:
        raise ImportError_(
            f"{path.name}: I can read CSV (.csv) and Excel (.xlsx) files, not '{suffix or 'no suffix'}'."
        )
    if sheet:
        raise ImportError_(f"--sheet is for Excel files; {path.name} is a CSV file.")
    source = _Source(path, "csv", csv=_csv_options(path, skip_rows))
    source.names = _csv_names(source)
    _refuse_long_rows(source)
    return source, _read_csv(source, nrows=SAMPLE_ROWS)


SAMPLE_ROWS = 200  # rows read first, every column: enough to name columns and spot period kinds

_BOMS = (  # longest first: UTF-32's little-endian mark begins like UTF-16's
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


GUESS_ROWS = 50  # rows read to guess a mapping: enough to tell periods, numbers and places


def file_sample(
    path: Path, *, sheet: str | None = None, skip_rows: int | None = None
) -> tuple[list[str], list[dict[str, str]]]:
    """A file's column names and its first rows (as trimmed texts), read with the importer's own
    checks (encodings, separators, Excel's limits): what a mapping is guessed from, or checked
    against. `storage.importer.ImportError_` when the file cannot be read at all."""
    source, sample = _open(path, sheet, skip_rows)
    try:
        columns = [str(c) for c in sample.columns]
        rows = [
            {c: _sample_cell(v) for c, v in zip(columns, values, strict=True)}
            for values in sample.head(GUESS_ROWS).itertuples(index=False, name=None)
        ]
    finally:
        source.close()
    return columns, rows


def sheet_names(path: Path) -> list[str]:
    """An Excel file's worksheets, in order ([] for a CSV file, or one that can't be read)."""
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        return []
    try:
        with Workbook(path) as book:
            return list(book.sheet_names)
    except SpreadsheetError:
        return []


def _sample_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN: an empty cell
        return ""
    return str(value).strip()


def _csv_options(path: Path, skip_rows: int | None = None) -> dict[str, Any]:
    """Encoding, separator and the lines above the header: UTF-16 or UTF-32 when the file starts
    with their byte-order mark (Excel's "Unicode text"), else UTF-8 (with or without BOM), else
    Windows-1252; comma, tab or semicolon; `skiprows` (pandas counts records, as a spreadsheet
    counts rows) when a title or notes stand above the table."""
    with path.open("rb") as handle:
        head = handle.read(CSV_HEAD_BYTES)
        whole = not handle.read(1)
    encoding = next((name for mark, name in _BOMS if head.startswith(mark)), None)
    if encoding is not None:
        text = head.decode(encoding, errors="ignore")  # (the sample may end inside a character)
    elif b"\x00" in head[:4096]:
        odd, even = head[1:4096:2], head[0:4096:2]
        hint = ""
        if odd.count(0) > len(odd) * 0.6 or even.count(0) > len(even) * 0.6:
            hint = " It looks like UTF-16 text without a byte-order mark;"
        raise ImportError_(
            f"{path.name} does not look like a text CSV file (it holds binary data).{hint} "
            "Save it as CSV UTF-8 and import that."
        )
    else:
        try:
            text = head.decode("utf-8-sig")
            encoding = "utf-8-sig"
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a character cut at the end of our sample
                text, encoding = head.decode("cp1252", errors="replace"), "cp1252"
            else:
                text, encoding = head[: exc.start].decode("utf-8-sig"), "utf-8-sig"
    first_line = text.splitlines()[0] if text.splitlines() else ""
    sep = ","
    if "," not in first_line:
        if "\t" in first_line:
            sep = "\t"
        elif ";" in first_line:
            sep = ";"
    options: dict[str, Any] = {"encoding": encoding, "sep": sep}
    if skip_rows == 0:
        return options
    records = _csv_records(text, sep, whole)
    if skip_rows is None and (not records or _filled(records[0]) >= 2):
        return options  # the header is the first line, as in most files
    found = _csv_table_start(text, whole, skip_rows)
    if found is None:
        if skip_rows is None:
            return options  # no table found below: read as written, and say what is wrong then
        lines = len(records)
        raise ImportError_(
            f"--skip-rows {skip_rows}: {path.name} has only {lines:,} line{_s(lines)}"
            + (" in its first part" if not whole else "")
            + f"; nothing is left to be the header. Use --skip-rows {max(lines - 2, 0)} or less."
        )
    sep, start = found
    options["sep"] = sep
    if start:
        options["skiprows"] = start
    return options


CSV_HEAD_BYTES = 64 * 1024  # read to settle the encoding, separator and lines above the header
MAX_LINES_ABOVE = 100  # a title and notes above the table; more is not a file to guess about


def _filled(record: Sequence[str]) -> int:
    return sum(1 for field in record if field.strip())


def _csv_records(text: str, sep: str, whole: bool) -> list[list[str]]:
    """The first records of the file's text (quotes read as pandas reads them); the last one is
    dropped when the text is only the file's first part (it may be cut)."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        records = list(itertools.islice(reader, MAX_LINES_ABOVE + 20))
    except csv.Error:
        return []
    if not whole and records:
        records.pop()
    return records


def _csv_table_start(text: str, whole: bool, skip: int | None) -> tuple[str, int] | None:
    """(separator, records above the header). Given `skip`, the header is the record after it;
    else it is the first record with two or more filled fields, under lines of one field at
    most (a title, a date, a note, a blank line), when the record after it is as wide (or there
    is none). A separator that makes such a header wins, comma first."""
    for sep in (",", "\t", ";"):
        records = _csv_records(text, sep, whole)
        if skip is not None:
            if skip < len(records) and _filled(records[skip]) >= 2:
                return sep, skip
            continue
        for index, record in enumerate(records[:MAX_LINES_ABOVE]):
            if _filled(record) >= 2:
                following = records[index + 1] if index + 1 < len(records) else None
                if following is None or len(following) == len(record):
                    return sep, index
                break
    if skip is not None and skip < len(_csv_records(text, ",", whole)):
        return ",", skip  # the user's word: the header is there, even if it is one column
    return None


def _unique_names(raw: Sequence[str]) -> list[str]:
    """Column names as the frame has them: trimmed, a blank one `Unnamed: N`, a repeated one
    `name.1` (pandas' own spelling)."""
    names: list[str] = []
    taken: set[str] = set()
    for position, text in enumerate(raw):
        name = str(text).strip() or f"Unnamed: {position}"
        candidate, count = name, 0
        while candidate in taken:
            count += 1
            candidate = f"{name}.{count}"
        taken.add(candidate)
        names.append(candidate)
    return names


def _refuse_wide(file: str, columns: int) -> None:
    if columns > MAX_COLUMNS:
        raise ImportError_(
            f"{file} has more than {MAX_COLUMNS:,} columns, more than can be imported. "
            "Keep the columns that hold the indicator, period, value (and geography or unit), "
            "and import that file."
        )


def _header_fields(source: _Source) -> int:
    """How many fields the header line has (at least), counted on its raw bytes: separators
    outside double quotes, reading no further once there are more than MAX_COLUMNS."""
    sep = ord(source.csv["sep"])
    parity, fields = 0, 1
    for chunk in _utf8_chunks(source.path, source.csv["encoding"]):
        data = np.frombuffer(chunk, dtype=np.uint8)
        quotes = np.flatnonzero(data == 34)
        breaks = np.flatnonzero(data == 10)
        seps = np.flatnonzero(data == sep)
        if len(quotes) or parity:
            breaks = breaks[((np.searchsorted(quotes, breaks) + parity) & 1) == 0]
            seps = seps[((np.searchsorted(quotes, seps) + parity) & 1) == 0]
            parity = (parity + len(quotes)) & 1
        if len(breaks):
            return fields + int(np.searchsorted(seps, breaks[0]))
        fields += len(seps)
        if fields > MAX_COLUMNS:
            break
    return fields


def _csv_names(source: _Source) -> list[str]:
    _refuse_wide(source.file, _header_fields(source))
    with _csv_errors(source):
        header = pd.read_csv(source.path, nrows=0, dtype=object, **source.csv)
    raw = [str(c) for c in header.columns]
    _refuse_wide(source.file, len(raw))
    # pandas' name for a blank header cell: keep it, trimmed ("Unnamed: 3")
    return _unique_names(["" if c.startswith("Unnamed: ") else c for c in raw])


def _read_csv(
    source: _Source,
    *,
    nrows: int | None = None,
    usecols: Sequence[str] | None = None,
    categories: Sequence[str] = (),
) -> pd.DataFrame:
    dtype: dict[str, Any] | type = object
    if usecols is not None:
        dtype = {c: ("category" if c in categories else object) for c in usecols}
    with _csv_errors(source):
        frame = pd.read_csv(
            source.path,
            header=0,
            names=source.names,  # trimmed and unique, so --value-column finds " value "
            index_col=False,  # never take the first column as an index (a ragged first row)
            dtype=dtype,
            na_filter=False,  # blanks and markers are ours to read: "NA" must not become NaN silently
            keep_default_na=False,
            skip_blank_lines=False,  # keep row numbers as a spreadsheet shows them
            nrows=nrows,
            usecols=list(usecols) if usecols is not None else None,
            **source.csv,
        )
    return frame


@contextmanager
def _csv_errors(source: _Source) -> Iterator[None]:
    """pandas' reading errors in words an analyst can act on."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise ImportError_(f"{source.file} is empty: it has no header and no rows.") from None
    except (pd.errors.ParserError, csv.Error) as exc:
        raise ImportError_(
            f"{source.file} is not a well-formed CSV file: {shown(exc, 200)}"
        ) from None
    except UnicodeDecodeError as exc:
        raise ImportError_(
            f"{source.file} has text I cannot read ({exc.reason}); save it as CSV UTF-8."
        ) from None


def _refuse_long_rows(source: _Source) -> None:
    """A row with more fields than the header is refused, wherever it is: pandas would drop the
    extra fields of the first data row silently (or shift its columns), and of later rows when
    only some columns are read."""
    long_rows, count = _long_rows(source)
    if not count:
        return
    problems = _Problems()
    problems.total = count
    names = len(source.names)
    for row, fields in long_rows:
        problems.found.append(
            (
                row,
                f"{fields} fields, but the header names {names} column{_s(names)}; remove the "
                "extra field (a stray separator?) or name its column in the header",
            )
        )
    problems.raise_if_any(source.file)


def _long_rows(source: _Source) -> tuple[list[tuple[int, int]], int]:
    """The first rows with more fields than the header, as (row, fields), and how many there are.

    Counted on the raw bytes, vectorised, aware of double quotes: a separator or line break
    between an odd number of `"` is inside a quoted field. Any row found, and any file whose
    quoting or line breaks that count cannot follow (a lone `\r`, an unclosed quote), is counted
    again by Python's csv reader, which reads quotes as pandas does."""
    if source.csv.get("skiprows"):
        return _long_rows_by_csv(source)  # (lines above the header: rare, and short files)
    sep = ord(source.csv["sep"])
    encoding = source.csv["encoding"]
    parity = 0  # quotes seen so far, modulo 2
    carried = 0  # separators of the record still open at the end of the last chunk
    open_record = False  # the last chunk ended inside a record (some bytes after the last \n)
    record = 0  # records finished
    header = 0
    found: list[tuple[int, int]] = []
    count = 0
    last_byte = b""
    previous = b""  # the last two bytes before this chunk
    for chunk in _utf8_chunks(source.path, encoding):
        if b"\r" in chunk:
            crs, crlfs = chunk.count(b"\r"), chunk.count(b"\r\n")
            if last_byte == b"\r" and chunk[:1] == b"\n":
                crlfs += 1  # a \r\n cut by the chunk
            if chunk.endswith(b"\r"):
                crs -= 1  # judged with the next chunk
            if crs != crlfs:
                break  # old Mac line breaks: counted by the csv reader below
        last_byte = chunk[-1:]
        before_tail, previous = previous, (previous + chunk[-2:])[-2:]
        data = np.frombuffer(chunk, dtype=np.uint8)
        breaks = np.flatnonzero(data == 10)
        seps = np.flatnonzero(data == sep)
        quotes = np.flatnonzero(data == 34)
        if len(quotes) or parity:  # (a chunk may start inside a quoted field)
            breaks = breaks[((np.searchsorted(quotes, breaks) + parity) & 1) == 0]
            seps = seps[((np.searchsorted(quotes, seps) + parity) & 1) == 0]
            parity = (parity + len(quotes)) & 1
        if not len(breaks):
            carried += len(seps)
            open_record = open_record or bool(len(chunk))
            continue
        before = np.searchsorted(seps, breaks)  # separators before each line break
        fields = np.diff(before, prepend=0) + 1
        fields[0] += carried
        if record == 0:
            header = int(fields[0])
        long = np.flatnonzero(fields > header)
        long = long[long + record > 0]  # (the header itself)
        if len(long):  # one more field, empty, at the end: a trailing separator (pandas drops it)
            trailing = (fields[long] == header + 1) & _ends_with(
                data, breaks[long], before_tail, sep
            )
            long = long[~trailing]
        count += len(long)
        for index in long[: MAX_PROBLEMS_SHOWN - len(found)].tolist():
            found.append((record + index + 1, int(fields[index])))
        record += len(breaks)
        carried = len(seps) - int(before[-1])
        open_record = int(breaks[-1]) < len(chunk) - 1
    else:
        trailing = carried == header and previous[-1:] == bytes([sep])
        if open_record and record > 0 and carried + 1 > header and not trailing:
            count += 1
            if len(found) < MAX_PROBLEMS_SHOWN:
                found.append((record + 1, carried + 1))
        if not count and not parity:
            return [], 0
    return _long_rows_by_csv(source)


def _ends_with(data: np.ndarray, breaks: np.ndarray, tail: bytes, sep: int) -> np.ndarray:
    """Per line break (positions in `data`, outside quotes), whether its line ends with the
    separator (before any `\r`); `tail` is the two bytes before `data` (a line cut by chunks)."""
    padded = np.concatenate([np.frombuffer(tail, dtype=np.uint8), data])
    at = breaks + len(tail) - 1
    cr = padded[np.maximum(at, 0)] == 13
    at = np.where(cr, at - 1, at)
    return (padded[np.maximum(at, 0)] == sep) & (at >= 0)


def _utf8_chunks(path: Path, encoding: str) -> Iterator[bytes]:
    """The file's bytes in chunks of ~1 MB (numpy is fastest on chunks that stay in cache), as
    UTF-8 when it is UTF-16 or UTF-32 (the bytes of `"`, `,`, tab, `;` and line breaks are the
    same in every encoding the importer reads)."""
    if encoding.startswith("utf-16") or encoding.startswith("utf-32"):
        with path.open(encoding=encoding, newline="") as text:
            while decoded := text.read(1 << 19):
                yield decoded.encode("utf-8")
        return
    with path.open("rb") as raw:
        while part := raw.read(1 << 20):
            yield part


def _long_rows_by_csv(source: _Source) -> tuple[list[tuple[int, int]], int]:
    """`_long_rows` by Python's csv reader: exact, slower; for the files the bytes can't settle."""
    found: list[tuple[int, int]] = []
    count = 0
    header = 0
    header_row = source.csv.get("skiprows", 0) + 1  # (a title or notes above the header)
    encoding = source.csv["encoding"]
    errors = "replace" if encoding == "cp1252" else "strict"
    with (
        _csv_errors(source),
        source.path.open(encoding=encoding, errors=errors, newline="") as text,
    ):
        reader = csv.reader(text, delimiter=source.csv["sep"])
        for number, fields in enumerate(reader, start=1):
            if number < header_row:
                continue
            if number == header_row:
                header = len(fields)
            elif len(fields) > header and not (len(fields) == header + 1 and not fields[-1]):
                count += 1
                if len(found) < MAX_PROBLEMS_SHOWN:
                    found.append((number, len(fields)))
    return found, count


def _read_cells(source: _Source, columns: set[int] | None, last_row: int | None) -> Cells:
    assert source.book is not None
    try:
        return source.book.read(
            source.sheet, columns=columns, last_row=last_row, header_row=source.header_row
        )
    except SpreadsheetError as exc:
        raise ImportError_(str(exc)) from None


def _excel_sample(source: _Source, skip_rows: int | None = None) -> pd.DataFrame:
    """The first rows of the sheet, every column. The header is row 1, or the row after
    `skip_rows` lines, or (not told) the first row of two or more values under title lines of
    one value at most - as a CSV file's header is found."""
    assert source.book is not None
    names = source.book.sheet_names
    if source.sheet is not None and not source.book.has_sheet(source.sheet):
        raise ImportError_(
            f"{source.file} has no sheet '{shown(source.sheet)}'. Its sheets are: "
            f"{shown_columns(names)}."
        )
    if skip_rows is not None:
        source.header_row = skip_rows + 1
    cells = _read_cells(source, None, source.header_row + SAMPLE_ROWS)
    if skip_rows is None and sum(1 for text in cells.header if text) < 2:
        start = _excel_table_start(source)
        if start is not None and start != 1:
            source.header_row = start
            cells = _read_cells(source, None, start + SAMPLE_ROWS)
    label = source.sheet or (names[0] if names else "")
    if not cells.header and skip_rows:
        raise ImportError_(
            f"--skip-rows {skip_rows}: row {source.header_row:,} of the sheet '{shown(label)}' in "
            f"{source.file} is empty, so it cannot be the header (the column names). Give the "
            "number of lines above the header."
        )
    if not cells.header:
        raise ImportError_(
            f"The sheet '{shown(label)}' in {source.file} is empty, or has nothing in row 1: the "
            "column names (the header) must be the sheet's first row, or below title lines "
            "(--skip-rows N: the lines above it)."
        )
    _refuse_wide(source.file, len(cells.header))
    source.names = _unique_names(cells.header)
    _refuse_uncalculated(source, cells)
    return _excel_frame(source, cells)


def _excel_table_start(source: _Source) -> int | None:
    """The row of a table's header under title lines: the first row with two or more values,
    when every row above it has one at most (a title, a date, a note); None if there is none in
    the first MAX_LINES_ABOVE + 1 rows."""
    assert source.book is not None
    try:
        filled = source.book.filled(source.sheet, MAX_LINES_ABOVE + 1)
    except SpreadsheetError as exc:
        raise ImportError_(str(exc)) from None
    return next((row for row in sorted(filled) if filled[row] >= 2), None)


def _excel_frame(source: _Source, cells: Cells) -> pd.DataFrame:
    """The cells as a frame whose index is the spreadsheet row number - 2 (as a CSV's is)."""
    index = pd.Index(np.asarray(cells.rows, dtype=np.int64) - 2)
    data = {source.names[c - 1]: cells.columns[c] for c in sorted(cells.columns)}
    return pd.DataFrame(data, index=index, dtype=object)


def _refuse_uncalculated(source: _Source, cells: Cells) -> None:
    if not cells.uncalculated_count:
        return
    shown = ", ".join(cell_name(r, c) for r, c in cells.uncalculated[:10])
    more = cells.uncalculated_count - min(len(cells.uncalculated), 10)
    if more:
        shown += f" and {more:,} more"
    count = cells.uncalculated_count
    raise ImportError_(
        f"Nothing was imported: {count:,} cell{_s(count)} of {source.file} that the import reads "
        f"hold{'s' if count == 1 else ''} a formula that was never calculated ({shown}), so "
        f"{'its value is' if count == 1 else 'their values are'} unknown, not missing. The file "
        "was saved by a program that writes formulas without computing them: open it in Excel or "
        "LibreOffice and save it again (or paste the values as values), then import it."
    )


def _refuse_outside(source: _Source, cells: Cells) -> None:
    if not cells.outside_count:
        return
    problems = _Problems()
    problems.total = cells.outside_count
    width = len(source.names)
    last = column_name(width) if width else "A"
    for row, column in cells.outside:
        problems.found.append(
            (
                row,
                f"cell {cell_name(row, column)} holds a value, but row {source.header_row} names "
                f"columns only up to {last}; name its column in row {source.header_row}, or "
                "delete the stray cell",
            )
        )
    problems.raise_if_any(source.file)


def _resolve(columns: Sequence[str], wanted: str, option: str, *, file: str) -> str:
    """The file's column for `wanted`: exact name, else the one that matches ignoring case."""
    if wanted in columns:
        return wanted
    folded = [c for c in columns if c.strip().casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    hint = ""
    best = process.extractOne(wanted, list(columns), score_cutoff=70)
    if best:
        hint = f" Did you mean '{shown(best[0])}'?"
    raise ImportError_(
        f"{file} has no column '{shown(wanted)}' (for {option}).{hint} "
        f"Its columns are: {shown_columns(columns)}."
    )


@dataclass(frozen=True)
class _Columns:
    indicator: str | None
    period: str  # the period's column; with period parts, the year's
    value: str  # the value's column; with measures, the first measure's
    geography: str | None
    unit: str | None
    filters: tuple[tuple[str, str], ...]
    kind_hints: tuple[str, ...]  # columns whose every value names a period kind ("12 month-ending")
    period_parts: tuple[tuple[str, str], ...] = ()  # (part, column): a period over columns
    measures: tuple[tuple[str, str], ...] = ()  # (column, indicator name): measures in one row
    county: str | None = None  # a county FIPS column: the place is that county
    first: str | None = None  # the file's first column (where notes below the table are written)
    notes: str | None = None  # a publisher's Notes column, marking its total rows ("Total")

    @property
    def periods(self) -> tuple[str, ...]:
        return tuple(c for _, c in self.period_parts) or (self.period,)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.measures) or (self.value,)

    @property
    def used(self) -> list[str]:
        """The columns read for every row (filters and kind hints aside)."""
        wanted = [
            self.indicator,
            *self.periods,
            *self.values,
            self.geography,
            self.unit,
            self.county,
        ]
        return [c for c in dict.fromkeys(wanted) if c is not None]


def _columns(sample: pd.DataFrame, mapping: ImportMapping, file: str) -> _Columns:
    columns = list(sample.columns)
    if not columns:
        raise ImportError_(f"{file} has no columns.")

    def optional(explicit: str | None, default: str, option: str) -> str | None:
        if explicit is not None:
            return _resolve(columns, explicit, option, file=file)
        try:
            return _resolve(columns, default, option, file=file)
        except ImportError_:
            return None

    indicator = None
    if mapping.indicator is None and not mapping.value_columns:
        indicator = _resolve(
            columns,
            mapping.indicator_column or "indicator",
            "--indicator-column (or give --indicator NAME when the whole file is one indicator)",
            file=file,
        )
    parts = tuple(
        (part, _resolve(columns, column, f"--period-column {part}={column}", file=file))
        for part, column in mapping.period_columns
    )
    if parts:
        period = parts[0][1]
    else:
        period = _resolve(columns, mapping.period_column or "period", "--period-column", file=file)
    measures = tuple(
        (_resolve(columns, column, f"--value-column {column}={name}", file=file), name)
        for column, name in mapping.value_columns
    )
    slugs = [slugify(name) for _, name in measures]
    if len(set(slugs)) < len(slugs) or not all(slugs):
        raise ImportError_(
            "Each --value-column needs its own indicator name, with letters or digits; "
            f"{', '.join(shown(n) for _, n in measures)} do not all differ."
        )
    if len({c for c, _ in measures}) < len(measures):
        raise ImportError_(
            f"Two --value-column options name the same column of {file} (its names differ only "
            "in case); give each column once."
        )
    if measures:
        value = measures[0][0]
    else:
        value = _resolve(columns, mapping.value_column or "value", "--value-column", file=file)
    geography = optional(mapping.geography_column, "geography", "--geography-column")
    unit = optional(mapping.unit_column, "unit", "--unit-column") if mapping.unit is None else None
    county = None
    if mapping.county_fips_column is not None:
        county = _resolve(columns, mapping.county_fips_column, "--county-fips-column", file=file)
    filters = tuple(
        (_resolve(columns, column, f"--filter {column}={wanted}", file=file), wanted)
        for column, wanted in mapping.filters
    )
    found = _Columns(
        indicator,
        period,
        value,
        geography,
        unit,
        filters,
        (),
        parts,
        measures,
        county,
        columns[0],
    )
    _refuse_shared_columns(found, file)
    used = set(found.used)
    hints = []
    for column in columns:
        if column in used:
            continue
        values = {str(v).strip() for v in sample[column]} - {""}
        kinds = {normalise_kind(v) for v in values}
        if values and len(kinds) == 1 and None not in kinds:
            hints.append(column)
    notes = next(
        (c for c in columns if c not in used and c.strip().casefold() in NOTES_COLUMNS), None
    )
    return replace(found, kind_hints=tuple(hints), notes=notes)


def _refuse_shared_columns(columns: _Columns, file: str) -> None:
    """One column cannot be both a period and a value (or a place): a mapping that says so is a
    slip of the typing hand, and reading it would store nonsense."""
    roles: dict[str, list[str]] = {}
    for role, column in (
        ("--indicator-column", columns.indicator),
        *((f"--period-column {p}" if p else "--period-column", c) for p, c in columns.period_parts),
        *(() if columns.period_parts else (("--period-column", columns.period),)),
        *(("--value-column", c) for c in columns.values),
        ("--geography-column", columns.geography),
        ("--county-fips-column", columns.county),
    ):
        if column is not None:
            roles.setdefault(column, []).append(role)
    for column, named in roles.items():
        if len(named) > 1:
            raise ImportError_(
                f"The column '{shown(column)}' of {file} is named by both {named[0]} and "
                f"{named[1]}; each column can hold one thing."
            )


def _read_all(source: _Source, columns: _Columns) -> pd.DataFrame:
    wanted = [
        c
        for c in dict.fromkeys(
            [*columns.used, *(c for c, _ in columns.filters), *columns.kind_hints, columns.notes]
        )
        if c is not None
    ]
    numbers = set(columns.values)
    if source.kind == "csv":
        repeated = [c for c in wanted if c not in numbers]
        frame = _read_csv(source, usecols=wanted, categories=repeated)
        skipped = source.csv.get("skiprows", 0)
        if skipped:  # row numbers as a spreadsheet shows them, title lines included
            frame.index = frame.index + skipped
        return frame
    positions = {source.names.index(c) + 1: c for c in wanted}
    cells = _read_cells(source, set(positions), None)
    source.notes = cells.notes
    _refuse_outside(source, cells)
    _refuse_uncalculated(source, cells)
    frame = _excel_frame(source, cells)
    for column in wanted:
        if column not in frame.columns:
            frame[column] = ""
    return frame[wanted].astype({c: "category" for c in wanted if c not in numbers})


@dataclass
class _Coded:
    """A column as integer codes into its distinct trimmed texts, so every check, parse and
    lookup runs once per distinct text (files repeat names, periods and places a lot), never
    once per row."""

    codes: np.ndarray  # intp, one per row
    uniques: np.ndarray  # object: the distinct trimmed texts

    @classmethod
    def of(cls, series: pd.Series) -> _Coded:
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.cat.codes.to_numpy()
            raw = series.cat.categories.to_numpy(dtype=object)
        else:
            codes, raw = pd.factorize(series.to_numpy(dtype=object), use_na_sentinel=False)
        stripped = np.asarray([str(c).strip() for c in raw], dtype=object)
        merged, uniques = pd.factorize(stripped)  # " Ohio" and "Ohio" are one text
        if not len(uniques):
            return cls(np.zeros(len(series), dtype=np.intp), np.asarray([""], dtype=object))
        return cls(merged[codes].astype(np.intp), np.asarray(uniques, dtype=object))

    @classmethod
    def constant(cls, text: str, rows: int) -> _Coded:
        return cls(np.zeros(rows, dtype=np.intp), np.asarray([text], dtype=object))

    def each(self, func: Callable[[str], Any], dtype: Any = object) -> np.ndarray:
        """`func` of each distinct text (index it with `codes` for rows)."""
        return np.asarray([func(u) for u in self.uniques], dtype=dtype)

    def rows(self, func: Callable[[str], Any], dtype: Any = object) -> np.ndarray:
        """`func` of each row's text. A test no distinct text passes is no row's: the rows'
        array is then made without a lookup per row (most checks find nothing)."""
        each = self.each(func, dtype)
        if dtype is bool and not each.any():
            return np.zeros(len(self.codes), dtype=bool)
        return each[self.codes]

    def take(self, keep: np.ndarray) -> _Coded:
        return _Coded(self.codes[keep], self.uniques)

    def text(self, position: int) -> str:
        return str(self.uniques[self.codes[position]])


def _first_appearance(codes: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Renumber codes in order of first appearance in the file; also return, for each new code,
    the old one."""
    seen, first = np.unique(codes, return_index=True)
    order = seen[np.argsort(first, kind="stable")]
    renumber = np.full(count, -1, dtype=np.intp)
    renumber[order] = np.arange(len(order))
    return renumber[codes], order


# --- checking rows -----------------------------------------------------------------------------


@dataclass
class _Rows:
    """The file's rows after filters, checked: one array of codes per field, same length.

    With several measures in one row (`--value-column` given more than once), each measure of a
    row is a row here, its measures side by side: `row` then repeats the spreadsheet row."""

    row: np.ndarray  # spreadsheet row number
    slug: np.ndarray  # code into `slugs`, numbered in order of first appearance
    slugs: list[str]
    names: list[str]  # per slug: the indicator name as first written
    period: np.ndarray  # code into `periods`
    periods: list[Period]  # distinct canonical periods (grows when dates become months)
    geography: np.ndarray  # code into `geographies`
    geographies: np.ndarray  # distinct texts, "" = none
    value: np.ndarray  # float, NaN = missing
    unit: _Coded | None
    kind_hint: str | None  # from a column like CDC's Period = "12 month-ending"
    kind_hint_column: str | None
    value_column: str = "value"
    value_columns: list[str] | None = None  # per slug, its measure's column (several measures)
    kind_reason: str | None = None  # why `kind_hint` (when not from a column)
    notes_from: int | None = None  # the spreadsheet row where notes below the table begin
    decimal_commas: tuple[str, ...] = ()  # value columns read with decimal commas ("22,2")
    read_notes: tuple[str, ...] = ()  # how the file was read: total rows left out, flags dropped
    # The period column's dates end their periods ("Week Ending Date"): a week is the 7 days up
    # to each date, not from it (`bot.core.periods.week_ending`)
    period_ends: str | None = None  # that column's name

    def add_period(self, period: Period) -> int:
        """The code of `period`, adding it if new."""
        for code, known in enumerate(self.periods):
            if known.text == period.text:
                return code
        self.periods.append(period)
        return len(self.periods) - 1

    def column_of(self, slug_code: int) -> str:
        """The column a slug's values come from (for messages)."""
        if self.value_columns is not None:
            return self.value_columns[slug_code]
        return self.value_column


def _check_rows(
    frame: pd.DataFrame,
    mapping: ImportMapping,
    columns: _Columns,
    file: str,
    *,
    semicolons: bool = False,
) -> _Rows:
    """The file's rows, checked and coded; ImportError_ listing every problem. `semicolons`: a
    CSV file separated by semicolons, whose numbers are read with decimal commas unless a
    column shows otherwise (`_decimal_commas`)."""
    problems = _Problems()
    row_numbers = np.asarray(frame.index, dtype=np.int64) + 2  # as a spreadsheet numbers them
    keep = np.ones(len(frame), dtype=bool)
    used = columns.used
    by_column: dict[str, set[str]] = {}
    for column, wanted in columns.filters:
        by_column.setdefault(column, set()).add(wanted.casefold())
    extra = [columns.notes] if columns.notes is not None else []
    coded = {
        c: _Coded.of(frame[c])
        for c in dict.fromkeys([*used, *by_column, *columns.kind_hints, *extra])
    }

    # Filters first: rows someone chose to leave out cannot stop the import.
    for column, wanted_set in by_column.items():
        keep &= coded[column].rows(lambda t, w=wanted_set: t.casefold() in w, bool)  # type: ignore[misc]

    # Spreadsheets often end with empty rows; they are not data. Notes below the table (a
    # source, a footnote) are a blank row or lines of text in the first column only.
    blank = np.ones(len(frame), dtype=bool)
    for column in used:
        blank &= coded[column].rows(lambda t: t == "", bool)
    notes_from = _notes_below(coded, used, columns.first, blank)
    if notes_from is not None:
        keep[notes_from:] = False
    keep &= ~blank
    totals, read_notes = _total_rows(coded, columns, keep, row_numbers)
    keep &= ~totals

    if not keep.any():
        if columns.filters:
            samples = []
            for column in by_column:
                seen = sorted({str(v) for v in coded[column].uniques} - {""})
                listed = ", ".join(shown(v) for v in seen[:12]) + (" …" if len(seen) > 12 else "")
                samples.append(f"{shown(column)} holds: {listed or 'nothing'}")
            wanted_text = " and ".join(f"{shown(c)}={shown(v)}" for c, v in columns.filters)
            raise ImportError_(
                f"No rows of {file} match --filter {wanted_text}. " + "; ".join(samples) + "."
            )
        raise ImportError_(f"{file} has a header but no rows of data.")

    rows = row_numbers[keep]
    text = {column: coded[column].take(keep) for column in used}

    def at(row: int) -> int:  # position of a spreadsheet row among the kept rows
        return int(np.searchsorted(rows, row))

    # Huge cells: a broken file or a pasted document.
    huge_row = np.zeros(len(rows), dtype=bool)
    for column in used:
        distinct_lengths = text[column].each(len, np.int64)
        if not (distinct_lengths > MAX_CELL_CHARS).any():
            continue
        lengths = distinct_lengths[text[column].codes]
        huge = lengths > MAX_CELL_CHARS
        huge_row |= huge
        if huge.any():
            problems.add_rows(
                rows[huge],
                lambda r, c=column, s=lengths: (  # type: ignore[misc]
                    f"the {shown(c)} cell is {s[at(r)]:,} characters long (at most {MAX_CELL_CHARS:,})"
                ),
            )
    ok = ~huge_row

    # Indicator names: a column, one name for the file, or one per measure.
    measures = [name for _, name in columns.measures]
    if measures:
        names = _Coded(np.zeros(len(rows), dtype=np.intp), np.asarray(measures, dtype=object))
    elif columns.indicator is None:
        assert mapping.indicator is not None
        names = _Coded.constant(mapping.indicator, len(rows))
    else:
        names = text[columns.indicator]
    name_slugs = names.each(slugify)
    empty = names.rows(lambda t: t == "", bool)
    if empty.any():  # (a huge cell is never empty)
        problems.add_rows(
            rows[empty], lambda _r: f"the indicator name ({shown(columns.indicator)}) is empty"
        )
    too_long = names.rows(lambda t: len(t) > MAX_NAME_CHARS, bool)
    if (too_long & ~huge_row).any():
        problems.add_rows(
            rows[too_long & ~huge_row],
            lambda _r: f"the indicator name is longer than {MAX_NAME_CHARS} characters",
        )
    no_words = (name_slugs == "")[names.codes] & ~empty
    if no_words.any():
        problems.add_rows(
            rows[no_words],
            lambda r: f"the indicator name '{shown(names.text(at(r)))}' has no letters or digits",
        )
    control_name = names.rows(lambda t: CONTROL_IN_TEXT.search(t) is not None, bool) & ~huge_row
    if control_name.any():
        problems.add_rows(
            rows[control_name],
            lambda r: (
                f"the indicator name '{shown(names.text(at(r)))}' holds a control character "
                "(shown as ?); remove it"
            ),
        )
    ok &= ~empty & ~no_words & ~too_long & ~control_name

    # Periods: each distinct text (or year and month, quarter or week) parsed once.
    period_texts, parsed, period_label = _parse_periods(text, columns)
    if not columns.period_parts and (doubt := school_years_in_doubt(period_texts.uniques)):
        # 2009-10, 2010-11…: read as months they would be stored, silently, as Oct 2009…
        raise ImportError_(
            f"Nothing was imported: the periods of {file} (column '{shown(columns.period)}') "
            f"are not read. {doubt[:1].upper()}{doubt[1:]}, and import the file again."
        )
    bad_period = np.asarray([isinstance(p, PeriodError) for p in parsed])[period_texts.codes]
    bad_period &= ~huge_row
    if bad_period.any():
        problems.add_rows(
            rows[bad_period],
            lambda r: (
                f"{period_label}: "
                + shown(str(parsed[period_texts.codes[at(r)]]).split("; write it as")[0], 160)
            ),
        )
        if bad_period.all() and not columns.period_parts:
            problems.headline.append(
                f"  No value in column '{shown(columns.period)}' is a period (the first is "
                f"'{shown(period_texts.text(0), 40)}'). Name the column that holds dates, months, "
                "quarters or years with --period-column."
            )
            problems.limit = 3
        if not columns.period_parts:
            problems.headline.append(
                "  Periods can be written as 2025-04-30 (a day, or the first day of a week), "
                "2025-04 (a month), 2025-Q2 (a quarter) or 2025 (a year)."
            )
    ok &= ~bad_period

    # Values: numbers, thousands separators, or a missing marker (each distinct text once), in
    # each measure's column.
    measured: list[np.ndarray] = []
    decimal_commas: list[str] = []
    for column in columns.values:
        parsed_values = _parse_values(text[column], semicolons=semicolons)
        values, bad_value, commas, flagged, percents = parsed_values
        if percents:
            written = (
                "is written as a percentage" if percents == 1 else "are written as percentages"
            )
            read_notes.append(
                f"{percents:,} value{_s(percents)} in '{shown(column)}' {written}: each is "
                "stored as the number shown (87.3% as 87.3, not 0.873)."
            )
        if flagged:
            read_notes.append(
                f"{flagged:,} value{_s(flagged)} in '{shown(column)}' "
                f"{'is' if flagged == 1 else 'are'} flagged (Unreliable) by the publisher "
                "(a rate from fewer than 20 events): the number is imported, the flag is not."
            )
        if commas:
            decimal_commas.append(column)
        bad_value &= ~huge_row
        raw_values = text[column]
        why = (
            "this column writes numbers both with a decimal point and with a decimal comma; "
            "write them all one way"
            if commas is None
            else f"missing values may be written as: {MARKERS_SHOWN}"
        )
        if bad_value.any():
            problems.add_rows(
                rows[bad_value],
                lambda r, c=column, v=raw_values, w=why: (  # type: ignore[misc]
                    f"{shown(c)} '{shown(v.text(at(r)), 40)}' is not a number ({w})"
                ),
            )
            if bad_value.all() and not columns.measures:
                problems.headline.append(
                    f"  No value in column '{shown(column)}' is a number. Name the column that "
                    "holds the numbers with --value-column."
                )
                problems.limit = 3
        ok &= ~bad_value
        measured.append(values)

    # Places: a state however written is its postal code; a county FIPS code is its county.
    geography = _places(text, columns, len(rows), problems, rows, huge_row)
    long_geography = geography.rows(lambda g: MAX_GEOGRAPHY_CHARS < len(g) <= MAX_CELL_CHARS, bool)
    if long_geography.any():
        problems.add_rows(
            rows[long_geography],
            lambda _r: f"the geography is longer than {MAX_GEOGRAPHY_CHARS} characters",
        )
    _refuse_control(problems, rows, geography, "geography", huge_row)
    units = text[columns.unit] if columns.unit is not None else None
    if mapping.unit is not None:
        units = _Coded.constant(mapping.unit, len(rows))
    if units is not None:
        _refuse_control(problems, rows, units, "unit", huge_row)
    if units is not None:
        long_unit = units.rows(lambda u: MAX_UNIT_CHARS < len(u) <= MAX_CELL_CHARS, bool)
        if long_unit.any():
            problems.add_rows(
                rows[long_unit], lambda _r: f"the unit is longer than {MAX_UNIT_CHARS} characters"
            )

    # Codes: slugs (several spellings of a name share one), canonical periods (2025-4 is 2025-04).
    slug_of_name, slug_texts = pd.factorize(name_slugs)
    slug_rows, order = _first_appearance(slug_of_name[names.codes], len(slug_texts))
    first_names: dict[int, tuple[int, str]] = {}  # slug code -> (position, name as written)
    name_codes, name_firsts = np.unique(names.codes, return_index=True)
    for name_code, position in zip(name_codes.tolist(), name_firsts.tolist(), strict=True):
        slug = int(slug_of_name[name_code])
        if slug not in first_names or position < first_names[slug][0]:
            first_names[slug] = (position, str(names.uniques[name_code]))
    canon_texts = [p.text if isinstance(p, Period) else "" for p in parsed]
    canon_of_text, canon_uniques = pd.factorize(np.asarray(canon_texts, dtype=object))
    periods: list[Period] = [cast(Period, parse_period("2000"))] * len(canon_uniques)
    for number, found in enumerate(parsed):
        if isinstance(found, Period):
            periods[canon_of_text[number]] = found
    period_rows = canon_of_text[period_texts.codes]

    # Duplicates: the same indicator, period and geography twice in one file is ambiguous.
    if ok.any():
        key_codes = {
            "slug": slug_rows[ok],
            "period": period_rows[ok],
            "geography": geography.codes[ok],
        }
        repeated = _repeated(key_codes)
        if repeated.any():
            first_row = (
                pd.DataFrame({**key_codes, "row": rows[ok]})
                .groupby(["slug", "period", "geography"], sort=False)["row"]
                .transform("first")
                .to_numpy()
            )
            ok_rows = rows[ok]
            firsts = dict(zip(ok_rows[repeated], first_row[repeated], strict=True))

            def repeats(r: int) -> str:
                n, p, g = names.text(at(r)), periods[period_rows[at(r)]].text, geography.text(at(r))
                if measures:
                    return (
                        f"repeats row {firsts[r]}: the same period and geography "
                        f"({shown(p)}{', ' + shown(g) if g else ''})"
                    )
                return (
                    f"repeats row {firsts[r]}: the same indicator, period and geography "
                    f"({shown(n)}, {shown(p)}{', ' + shown(g) if g else ''})"
                )

            problems.add_rows(ok_rows[repeated], repeats)

    kind_hint, hint_column = None, None
    for column in columns.kind_hints:
        hint = coded[column]
        present = {str(hint.uniques[c]) for c in np.unique(hint.codes[keep])}
        kinds = {normalise_kind(v) for v in present} - {None}
        raw = present - {""}
        if len(kinds) == 1 and all(normalise_kind(v) for v in raw):
            kind_hint, hint_column = kinds.pop(), column
            break

    kind_reason = None
    week = next((c for p, c in columns.period_parts if p in ("week", CDC_WEEK)), None)
    if kind_hint is None and week is not None:
        # A year and a week: weekly, however few weeks (one week alone read as "daily")
        kind_hint, kind_reason = "weekly", f"from the week column '{shown(week, 40)}'"
    if mapping.period_kind is not None:
        kind_hint, hint_column = mapping.period_kind, None
        kind_reason = "as --period-kind says"

    problems.raise_if_any(file)
    slugs = [str(slug_texts[old]) for old in order]
    found_rows = _Rows(
        row=rows,
        slug=slug_rows,
        slugs=slugs,
        names=[first_names[int(old)][1] for old in order],
        period=period_rows,
        periods=periods,
        geography=geography.codes,
        geographies=geography.uniques,
        value=measured[0],
        unit=units,
        kind_hint=kind_hint,
        kind_hint_column=hint_column,
        kind_reason=kind_reason,
        value_column=columns.value,
        notes_from=None if notes_from is None else int(row_numbers[notes_from]),
        decimal_commas=tuple(decimal_commas),
        read_notes=tuple(read_notes),
        period_ends=(
            columns.period if not columns.period_parts and names_an_end(columns.period) else None
        ),
    )
    if measures:
        _side_by_side(found_rows, measured, columns)
    return found_rows


def _repeated(codes: dict[str, np.ndarray]) -> np.ndarray:
    """Which rows repeat an earlier row's codes (non-negative integers, one array per field).
    Codes that fit one int64 together are hashed as one number: no table of rows is built."""
    columns = list(codes.values())
    sizes = [int(c.max()) + 1 for c in columns]
    if np.prod(np.asarray(sizes, dtype=object)) < 2**63:
        combined = np.zeros(len(columns[0]), dtype=np.int64)
        for column, size in zip(columns, sizes, strict=True):
            combined = combined * size + column.astype(np.int64)
        return np.asarray(pd.Index(combined).duplicated(keep="first"), dtype=bool)
    return np.asarray(pd.DataFrame(codes).duplicated(keep="first").to_numpy(), dtype=bool)


def _notes_below(
    coded: dict[str, _Coded], used: Sequence[str], first: str | None, blank: np.ndarray
) -> int | None:
    """Where notes below the table begin (a position in the frame), or None: the last rows of
    the file, after a blank row or a line of text alone in the first column, when every row
    from there on is blank or has text (not a number, period or marker) only in that column."""
    rows = len(blank)
    alone = np.zeros(rows, dtype=bool)  # text in the first column, nothing else read
    if first is not None and first in coded:
        others = np.ones(rows, dtype=bool)
        for column in used:
            if column != first:
                others &= coded[column].rows(lambda t: t == "", bool)
        alone = others & coded[first].rows(is_note, bool)
    note = blank | alone
    if not alone.any() or note.all():
        return None
    data = np.flatnonzero(~note)
    start = int(data[-1]) + 1 if len(data) else 0
    if start >= rows or not alone[start:].any():
        return None
    return start


def is_note(text: str) -> bool:
    """A line of a note: text that is no number, period or missing-value marker."""
    if not text:
        return False
    folded = text.casefold()
    if folded in SUPPRESSION_MARKERS or _SUPPRESSED_BELOW.match(folded) or _THOUSANDS.match(text):
        return False
    if _DECIMAL_COMMA.match(text) or _POINT_GROUPED.match(text):
        return False
    try:
        float(text)
    except ValueError:
        pass
    else:
        return False
    try:
        parse_period(text)
    except PeriodError:
        return True
    return False


def _parse_periods(
    text: dict[str, _Coded], columns: _Columns
) -> tuple[_Coded, list[Period | PeriodError], str]:
    """The rows' periods as codes into their parsed distinct texts (or year-and-part pairs),
    and how a message names the period's columns."""
    if not columns.period_parts:
        period_texts = text[columns.period]
        parsed: list[Period | PeriodError] = []
        for candidate in period_texts.uniques:
            try:
                parsed.append(parse_period(candidate))
            except PeriodError as exc:
                parsed.append(exc)
        return period_texts, parsed, shown(columns.period)
    year = text[columns.period_parts[0][1]]
    if len(columns.period_parts) == 1:  # the year alone
        pairs, part_name, part_uniques = year, None, np.asarray([""], dtype=object)
        years = np.arange(len(year.uniques))
        within = np.zeros(len(year.uniques), dtype=np.intp)
    else:
        part_name, part_column = columns.period_parts[1]
        part = text[part_column]
        part_uniques = part.uniques
        combined = year.codes.astype(np.int64) * len(part.uniques) + part.codes
        pair_codes, distinct = pd.factorize(combined)
        years = distinct // len(part.uniques)
        within = distinct % len(part.uniques)
        pairs = _Coded(
            pair_codes.astype(np.intp),
            np.asarray(
                [
                    f"{year.uniques[y]} {part.uniques[w]}".strip()
                    for y, w in zip(years, within, strict=True)
                ],
                dtype=object,
            ),
        )
    parsed = []
    for y, w in zip(years, within, strict=True):
        try:
            parsed.append(period_from_parts(year.uniques[y], part_name, part_uniques[w]))
        except PeriodError as exc:
            parsed.append(exc)
    label = "/".join(shown(c) for _, c in columns.period_parts)
    return pairs, parsed, label


def _total_rows(
    coded: dict[str, _Coded], columns: _Columns, keep: np.ndarray, row_numbers: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """The kept rows that sum other rows, and a sentence for each kind: a place, indicator or
    period cell that says "Total" ("Grand Total", "All"…), or a Notes column that does (CDC
    WONDER's Total rows, whose period cell is blank). Stored, a total would become a place (or
    indicator) beside the ones it sums. A column holding nothing but totals is no table's total
    row: it is read as written. Each distinct text is looked at once."""
    totals = np.zeros(len(keep), dtype=bool)
    said: list[str] = []
    labelled = [
        (column, what)
        for column, what in (
            (columns.geography, "a place"),
            (columns.indicator, "an indicator"),
            *((column, "a period") for column in columns.periods),
            (columns.notes, None),
        )
        if column is not None
    ]
    for column, what in labelled:
        cells = coded[column]
        is_total = cells.each(lambda t: TOTAL_ROW.match(t) is not None, bool)
        if not is_total.any():
            continue
        found = is_total[cells.codes] & keep & ~totals
        if not found.any() or not (keep & ~is_total[cells.codes]).any():
            continue
        totals |= found
        texts = [str(cells.uniques[c]) for c in pd.unique(cells.codes[found])]
        named = " / ".join(f"'{shown(t, 40)}'" for t in texts[:3])
        where = _row_list(row_numbers[found])
        count = int(found.sum())
        why = (
            f"marked {named} in the {shown(column)} column: totals of other rows"
            if what is None
            else f"totals of the other rows, not {what}"
        )
        said.append(f"Left out {count:,} {named} row{_s(count)} ({where}): {why}.")
    return totals, said


def _row_list(rows: np.ndarray, limit: int = 5) -> str:
    """ "row 7", "rows 7, 13 and 19", "rows 7, 13, 19, 25, 31 and 4 more"."""
    shown_rows = [f"{int(r):,}" for r in rows[:limit]]
    if len(rows) == 1:
        return f"row {shown_rows[0]}"
    if len(rows) > limit:
        return f"rows {', '.join(shown_rows)} and {len(rows) - limit:,} more"
    return f"rows {', '.join(shown_rows[:-1])} and {shown_rows[-1]}"


def _decimal_commas(texts: Sequence[str], *, semicolons: bool) -> bool | None:
    """Whether a column's numbers are written with decimal commas, as a European spreadsheet
    writes them (and saves them, separated by semicolons because the comma is taken): True,
    False, or None when the column writes numbers both ways (then read with points, and the
    others refused). A comma is a decimal comma for certain in "22,2", "1234,5", "0,750" and
    "1.234,5"; a point is a decimal point for certain in "22.2" and "1,234.5". "1,234" and
    "1.234" could be either: they follow the rest of the column, else the separator (decimal
    commas in a file separated by semicolons, points otherwise)."""
    commas = points = False
    for text in texts:
        if _DECIMAL_COMMA.match(text):
            digits = text.lstrip("+-")
            if not _THOUSANDS.match(text) or digits.startswith("0"):
                commas = True
        elif _POINT_GROUPED.match(text) and not text.lstrip("+-").startswith("0"):
            commas |= "," in text
        elif _DECIMAL_POINT.match(text) or (_THOUSANDS.match(text) and "." in text):
            # ("0.750" too: nobody groups thousands after a leading zero)
            points = True
    if commas and points:
        return None
    if commas or points:
        return commas
    return semicolons


def _with_points(text: str) -> str:
    """A number written with a decimal comma, as Python reads it ("1.234,5" -> "1234.5");
    other texts as they are."""
    if _DECIMAL_COMMA.match(text) or _POINT_GROUPED.match(text):
        return text.replace(".", "").replace(",", ".")
    return text


def _parse_values(
    raw_values: _Coded, *, semicolons: bool = False
) -> tuple[np.ndarray, np.ndarray, bool | None, int, int]:
    """(values, bad, decimal commas, flagged, percents): numbers, thousands separators or a
    missing marker (NaN), per row; whether the column was read with decimal commas (None: it
    mixes both ways); how many rows' numbers carried WONDER's "(Unreliable)" flag (kept, flag
    dropped); and how many were written as percentages ("87.3%": stored as shown, 87.3, as an
    Excel cell formatted as a percentage is)."""
    texts = raw_values.uniques
    numbers = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce")
    distinct_values = numbers.to_numpy(dtype=float, copy=True)
    unread = np.flatnonzero(~np.isfinite(distinct_values))
    commas: bool | None = False
    # Which way the column writes numbers is asked only of a file separated by semicolons or
    # with a comma in some text read as no number: most files pay one scan of a few texts.
    if semicolons or any("," in str(texts[i]) for i in unread):
        commas = _decimal_commas([str(u) for u in texts], semicolons=semicolons)
        if commas:
            texts = np.asarray([_with_points(str(u)) for u in texts], dtype=object)
            numbers = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce")
            distinct_values = numbers.to_numpy(dtype=float, copy=True)
    bad_distinct = np.zeros(len(distinct_values), dtype=bool)
    flagged_distinct = np.zeros(len(distinct_values), dtype=bool)
    percent_distinct = np.zeros(len(distinct_values), dtype=bool)
    for index in np.flatnonzero(~np.isfinite(distinct_values)):
        cell = str(raw_values.uniques[index])
        bare = without_flag(cell)
        flag = bare != cell
        digits = without_percent(bare)
        percent = digits != bare
        number = _number(digits, commas=bool(commas))
        if (flag or percent) and number is not None and not np.isnan(number):
            distinct_values[index] = number
            flagged_distinct[index] = flag
            percent_distinct[index] = percent
        elif number is not None:  # a number, or a missing marker ("<1%": suppressed)
            distinct_values[index] = number
        else:
            distinct_values[index] = np.nan
            bad_distinct[index] = True

    def rows_of(distinct: np.ndarray) -> int:
        return int(np.count_nonzero(distinct[raw_values.codes])) if distinct.any() else 0

    return (
        distinct_values[raw_values.codes],
        bad_distinct[raw_values.codes],
        commas,
        rows_of(flagged_distinct),
        rows_of(percent_distinct),
    )


def _number(cell: str, *, commas: bool) -> float | None:
    """A cell pandas did not read as a finite number: NaN for a missing marker, the number of
    one written with thousands separators (or decimal commas), None when it is no number."""
    folded = cell.casefold()
    if not cell or folded in SUPPRESSION_MARKERS or _SUPPRESSED_BELOW.match(folded):
        return np.nan
    if _THOUSANDS.match(cell) and not commas:
        return float(cell.replace(",", ""))
    plain = _with_points(cell) if commas else cell
    if not _PLAIN_NUMBER.match(plain):
        return None
    number = float(plain)
    return number if np.isfinite(number) else None


def _places(
    text: dict[str, _Coded],
    columns: _Columns,
    count: int,
    problems: _Problems,
    rows: np.ndarray,
    huge: np.ndarray,
) -> _Coded:
    """Each row's place as stored: a state as its postal code (Maryland, 24 -> MD), the nation
    as US, a county by its FIPS code ("Baltimore city, MD"); anything else as written."""
    if columns.geography is not None:
        written = text[columns.geography]
        present = written.uniques[np.unique(written.codes)]  # (not the rows filtered out)
        unified = places.unify(str(u) for u in present)
        trimmed = [str(u).strip() for u in written.uniques]  # (filtered-out places as written)
        stored = np.asarray([unified.get(t, t) for t in trimmed], dtype=object)
    else:
        written, stored = _Coded.constant("", count), np.asarray([""], dtype=object)
    if columns.county is not None:
        fips = text[columns.county]
        by_county: list[str | places.PlaceError] = []
        for code in fips.uniques:
            try:
                by_county.append(places.county_place(str(code)))
            except places.PlaceError as exc:
                by_county.append(exc)
        # a blank county code with a place written beside it is that place (a state's total)
        blank_code = np.asarray([str(c) == "" for c in fips.uniques])[fips.codes]
        use_written = blank_code & (stored[written.codes] != "")
        bad = (
            np.asarray([isinstance(c, places.PlaceError) for c in by_county])[fips.codes]
            & ~use_written
            & ~huge
        )
        if bad.any():
            problems.add_rows(
                rows[bad],
                lambda r: (
                    f"{shown(columns.county)}: "
                    + shown(str(by_county[fips.codes[int(np.searchsorted(rows, r))]]), 160)
                ),
            )
        county_text = np.asarray(
            ["" if isinstance(c, places.PlaceError) else c for c in by_county], dtype=object
        )
        per_row = np.where(use_written, stored[written.codes], county_text[fips.codes])
        codes, uniques = pd.factorize(np.asarray(per_row, dtype=object))
    else:
        # Per distinct text, not per row: then only the places the kept rows have, renumbered.
        of_text, distinct = pd.factorize(stored)
        by_row = of_text[written.codes]
        present = np.flatnonzero(np.bincount(by_row, minlength=len(distinct)))
        renumber = np.zeros(len(distinct), dtype=np.intp)
        renumber[present] = np.arange(len(present))
        codes, uniques = renumber[by_row], np.asarray(distinct, dtype=object)[present]
    if not len(uniques):
        return _Coded.constant("", count)
    return _Coded(codes.astype(np.intp), np.asarray(uniques, dtype=object))


def _side_by_side(rows: _Rows, measured: Sequence[np.ndarray], columns: _Columns) -> None:
    """Several measures of one row become one row each (in the file's order, row by row), so
    every later step sees the long shape it knows."""
    count = len(measured)
    measure_slugs = [slugify(name) for _, name in columns.measures]
    rows.value = np.column_stack(measured).reshape(-1)
    rows.row = np.repeat(rows.row, count)
    rows.period = np.repeat(rows.period, count)
    rows.geography = np.repeat(rows.geography, count)
    if rows.unit is not None:
        rows.unit = _Coded(np.repeat(rows.unit.codes, count), rows.unit.uniques)
    rows.slug = np.tile(np.arange(count, dtype=np.intp), len(rows.row) // count)
    rows.slugs = measure_slugs
    rows.names = [name for _, name in columns.measures]
    rows.value_columns = [column for column, _ in columns.measures]


GRAIN_ORDER = ("day", "month", "quarter", "year")
_GRAIN_WORDS = {"day": "dates", "month": "months", "quarter": "quarters", "year": "years"}


def _settle_kinds(
    rows: _Rows, file: str, stored: dict[str, tuple[str | None, str | None]]
) -> dict[str, tuple[str, str]]:
    """Each indicator's period kind (and why), after checking its periods are all one grain.

    `stored` maps slug -> (kind already in the catalog, grain of values already stored). Dates
    that are all the first (or last) day of consecutive months are months written as dates
    (common in Excel), and are stored as months.
    """
    problems = _Problems()
    kinds: dict[str, tuple[str, str]] = {}
    ended: list[np.ndarray] = []  # positions of weekly values dated by their week's last day
    for code, positions in _groups(rows.slug).items():
        slug = rows.slugs[code]
        name = rows.names[code]
        first_row = int(rows.row[positions[0]])
        grain_of_period = np.asarray([GRAIN_ORDER.index(p.grain) for p in rows.periods])
        seen, first = np.unique(grain_of_period[rows.period[positions]], return_index=True)
        if len(seen) > 1:
            parts = [
                f"{_GRAIN_WORDS[GRAIN_ORDER[grain]]} (e.g. row {rows.row[positions[index]]})"
                for grain, index in zip(seen, first, strict=True)
            ]
            problems.add(
                first_row,
                f"'{name}' mixes {' and '.join(parts)}; use one kind of period per indicator",
            )
            continue
        known_kind, stored_grain = stored.get(slug, (None, None))
        if GRAIN_ORDER[seen[0]] == "day" and known_kind not in ("daily", "weekly"):
            _coarsen(rows, positions, known_kind or rows.kind_hint)
        grain = rows.periods[rows.period[positions[0]]].grain
        if stored_grain and stored_grain != grain:
            problems.add(
                first_row,
                f"'{name}' already has values by {stored_grain}; this file gives "
                f"{_GRAIN_WORDS[grain]}",
            )
            continue
        if known_kind:
            kinds[slug] = (known_kind, "from the catalog")
        elif rows.kind_hint:
            why = rows.kind_reason or f"from the {rows.kind_hint_column} column"
            kinds[slug] = (rows.kind_hint, why)
        else:
            periods = [rows.periods[c] for c in np.unique(rows.period[positions])]
            kinds[slug] = (infer_kind(periods), "guessed from the spacing of the periods")
        if grain == "day" and kinds[slug][0] == "weekly" and rows.period_ends:
            ended.append(positions)
    if ended:
        _weeks_ending(rows, np.concatenate(ended))
    problems.raise_if_any(file)
    return kinds


def _weeks_ending(rows: _Rows, positions: np.ndarray) -> None:
    """Weekly values dated by the day their week ends ("Week Ending Date": CDC's Saturdays) are
    the weeks of the 7 days up to those days, not from them; the preview says so."""
    codes = np.unique(rows.period[positions])
    remap = np.arange(len(rows.periods) + len(codes), dtype=np.intp)
    for code in codes:
        remap[code] = rows.add_period(week_ending(rows.periods[code].start.isoformat()))
    rows.period[positions] = remap[rows.period[positions]]
    day = rows.periods[int(codes[0])].start
    rows.read_notes = (
        *rows.read_notes,
        f"The dates in '{shown(rows.period_ends or '', 60)}' end their weeks, so each value is "
        f"the week up to its date: {day:%b %-d, %Y} is the week of "
        f"{week_ending(day.isoformat()).start:%b %-d}–{day:%b %-d}.",
    )


def _coarsen(rows: _Rows, positions: np.ndarray, kind: str | None) -> None:
    """Dates that stand for months, quarters or years become months, quarters or years."""
    codes = np.unique(rows.period[positions])
    starts = sorted({rows.periods[c].start for c in codes})
    firsts = all(d.day == 1 for d in starts)
    lasts = all(period_end(month_period(d.year, d.month), None) == d for d in starts)
    if not (firsts or lasts) or len(starts) < 2:
        return
    guess = kind or infer_kind([Period(d, d.isoformat(), "day") for d in starts])
    if guess in ("monthly", "12-month-ending"):
        make: Callable[[date], Period] = lambda d: month_period(d.year, d.month)  # noqa: E731
    elif guess == "quarterly" and all(d.month % 3 == (1 if firsts else 0) for d in starts):
        make = lambda d: quarter_period(d.year, (d.month - 1) // 3 + 1)  # noqa: E731
    elif guess == "yearly" and all(d.month == (1 if firsts else 12) for d in starts):
        make = lambda d: year_period(d.year)  # noqa: E731
    else:
        return
    remap = np.arange(len(rows.periods) + len(codes), dtype=np.intp)
    for code in codes:
        remap[code] = rows.add_period(make(rows.periods[code].start))
    rows.period[positions] = remap[rows.period[positions]]


# --- writing -------------------------------------------------------------------------------------


def import_file(
    sessions: sessionmaker[Session],
    *,
    team_id: str,
    path: Path,
    mapping: ImportMapping,
    now: datetime,
    progress: ProgressBar | None = None,
    time_zone: str = "America/New_York",
    dry_run: bool = False,
    on_stored: Callable[[Session, ImportReport], None] | None = None,
    visible: Callable[[Indicator], bool] | None = None,
) -> ImportReport:
    """Read, check, then upsert the whole file in one transaction; refuse it whole on any problem.

    `time_zone` is only used if the team is new (the importer may run before anyone used the bot).
    `dry_run` reads and checks everything and reports what would change, writing nothing (a Slack
    upload's preview). `on_stored(session, report)` runs inside the import's transaction after the
    values are written (e.g. `storage.import_records.record_import`), so both land or neither.
    `visible(indicator)` says whether the caller may see a catalog indicator (a Slack upload:
    not one restricted to other channels); a file naming one it may not is refused as
    ImportHidden before any check can quote that indicator's stored name, limits or grain.
    """
    file = path.name
    source, sample = _open(path, mapping.sheet, mapping.skip_rows)
    try:
        try:
            columns = _columns(sample, mapping, file)
        except ImportError_ as error:
            others = source.book.sheet_names[1:] if source.book and not mapping.sheet else []
            if not others:
                raise
            raise ImportError_(
                f"{error} That is the sheet read when none is named (the one open when the file "
                "was saved, else the first); the file has other sheets too: "
                f"{shown_columns(others)} (--sheet NAME reads one of them)."
            ) from None
        frame = _read_all(source, columns)
    finally:
        source.close()
    semicolons = source.kind == "csv" and source.csv.get("sep") == ";"
    rows = _check_rows(frame, mapping, columns, file, semicolons=semicolons)
    rows.read_notes = (*source.notes, *rows.read_notes)
    del frame
    try:
        if dry_run:  # reads only: no team, no indicator, no value written, no writer's lock
            with sessions() as session:
                try:
                    return _store(
                        session, team_id, rows, file=file, now=now, dry_run=True, visible=visible
                    )
                finally:
                    session.rollback()
        with sessions.begin() as session:
            ensure_team(session, team_id, time_zone=time_zone, now=now)
            report = _store(
                session, team_id, rows, file=file, now=now, progress=progress, visible=visible
            )
            if on_stored is not None:
                on_stored(session, report)
            return report
    except Exception as error:
        if not _raced(error):
            raise
        raise ImportRaced(
            f"Nothing was imported: someone else changed the same values of {file} at the same "
            "moment. Import the file again."
        ) from None


def _not_begun(rows: _Rows, file: str, *, now: datetime) -> None:
    """A value for a period that has not begun is a typo (2205 for 2025) or a projection, not
    data: stored, it would become the indicator's latest period and silence its late-data
    nudges and its source's fetches until then. Such a row with a value is refused, as
    `/indicator set` refuses it; a blank one (a template's months still to come) is left out."""
    ahead = [code for code, period in enumerate(rows.periods) if not has_begun(period, now)]
    if not ahead:
        return
    future = np.isin(rows.period, np.asarray(ahead, dtype=rows.period.dtype))
    valued = future & ~np.isnan(rows.value)
    if valued.any():
        problems = _Problems()
        numbers, first = np.unique(rows.row[valued], return_index=True)
        codes = rows.period[valued][first]
        said = dict(zip(numbers.tolist(), codes.tolist(), strict=True))
        problems.add_rows(
            numbers,
            lambda r: (
                f"{label(rows.periods[said[r]], None)} has not begun yet, so it can't have a "
                "value (a typo in the year?)"
            ),
        )
        problems.raise_if_any(file)
    keep = ~future
    if not keep.any():
        raise ImportError_(
            f"Nothing was imported: every row of {file} is for a period that has not begun "
            "(and has no value yet)."
        )
    rows.row, rows.slug = rows.row[keep], rows.slug[keep]
    rows.period, rows.geography = rows.period[keep], rows.geography[keep]
    rows.value = rows.value[keep]
    if rows.unit is not None:
        rows.unit = rows.unit.take(keep)
    # An indicator whose rows were all still to come is not in the file any more.
    present = np.bincount(rows.slug, minlength=len(rows.slugs)) > 0
    if not present.all():
        rows.slug = (np.cumsum(present) - 1)[rows.slug]
        rows.slugs = [s for s, p in zip(rows.slugs, present, strict=True) if p]
        rows.names = [n for n, p in zip(rows.names, present, strict=True) if p]
        if rows.value_columns is not None:
            rows.value_columns = [c for c, p in zip(rows.value_columns, present, strict=True) if p]


class _Catalog:
    """The team's indicators looked up by slug, by name (case-folded), then by an alias's slug:
    three dictionaries built once per import, so matching a file of thousands of indicator names
    against a catalog of thousands costs one lookup each, not names x catalog x aliases."""

    def __init__(self, known: Iterable[Indicator]) -> None:
        self.by_slug: dict[str, Indicator] = {}
        self.by_name: dict[str, Indicator] = {}
        self.by_alias: dict[str, Indicator] = {}
        for indicator in known:  # the first of several with one name or alias wins, as before
            self.by_slug.setdefault(indicator.slug, indicator)
            self.by_name.setdefault(indicator.name.casefold(), indicator)
            for alias in indicator.aliases:
                self.by_alias.setdefault(slugify(alias), indicator)

    def find(self, name: str, slug: str) -> Indicator | None:
        """An indicator already in the catalog: by slug, by name, then by alias."""
        return (
            self.by_slug.get(slug) or self.by_name.get(name.casefold()) or self.by_alias.get(slug)
        )


def _common_units(rows: _Rows) -> dict[str, str]:
    """Per slug, the unit written most often (ties: the one written first)."""
    if rows.unit is None:
        return {}
    written = rows.unit.codes[(rows.unit.uniques != "")[rows.unit.codes]]
    if not len(written):
        return {}
    where = np.flatnonzero((rows.unit.uniques != "")[rows.unit.codes])
    pairs = pd.DataFrame({"slug": rows.slug[where], "unit": written, "at": where})
    counted = pairs.groupby(["slug", "unit"], sort=False)["at"].agg(["size", "min"]).reset_index()
    best = counted.sort_values(["slug", "size", "min"], ascending=[True, False, True])
    best = best.drop_duplicates("slug")
    return {
        rows.slugs[int(s)]: str(rows.unit.uniques[int(u)])
        for s, u in zip(best["slug"], best["unit"], strict=True)
    }


def _store(
    session: Session,
    team_id: str,
    rows: _Rows,
    *,
    file: str,
    now: datetime,
    progress: ProgressBar | None = None,
    dry_run: bool = False,
    visible: Callable[[Indicator], bool] | None = None,
) -> ImportReport:
    """Compare the checked rows with what is stored and write what is new or changed; with
    `dry_run`, only count (nothing is added to the session, nothing flushed or written)."""
    _not_begun(rows, file, now=now)
    catalog = _Catalog(session.scalars(select(Indicator).where(Indicator.team_id == team_id)))
    first_names = dict(zip(rows.slugs, rows.names, strict=True))
    matched = {slug: catalog.find(name, slug) for slug, name in first_names.items()}
    if visible is not None:
        _refuse_hidden(rows, matched, visible, file)
    _check_values(rows, matched, file)

    # Kinds and grains of what is stored already, so a file cannot mix months into yearly data.
    stored: dict[str, tuple[str | None, str | None]] = {}
    ids = [i.id for i in matched.values() if i is not None]
    stored_periods: dict[int, str] = {}
    stored_counts: dict[int, int] = {}  # (the same scan: what a file lacking places is told)
    if ids:
        for indicator_id, period, stored_count in session.execute(
            select(IndicatorValue.indicator_id, func.min(IndicatorValue.period), func.count())
            .where(IndicatorValue.indicator_id.in_(ids))
            .group_by(IndicatorValue.indicator_id)
        ):
            stored_periods[indicator_id] = period
            stored_counts[indicator_id] = stored_count
    for slug, indicator in matched.items():
        if indicator is None:
            continue
        grain = None
        if indicator.id in stored_periods:
            try:
                grain = parse_period(stored_periods[indicator.id]).grain
            except PeriodError:
                grain = None
        stored[slug] = (indicator.period_kind, grain)
    kinds = _settle_kinds(rows, file, stored)
    units = _common_units(rows)

    report = ImportReport(file=file, decimal_commas=rows.decimal_commas, read_notes=rows.read_notes)
    results: dict[str, IndicatorResult] = {}
    by_slug: dict[str, Indicator | None] = {}  # None: new, and not created (a dry run)
    for slug in first_names:
        indicator = matched[slug]
        kind, reason = kinds[slug]
        result = IndicatorResult(name=first_names[slug], slug=slug, period_kind=kind)
        if indicator is None:
            direction, why = guess_direction(first_names[slug])
            result.created = True
            result.kind_reason, result.direction, result.direction_reason = reason, direction, why
            if not dry_run:
                indicator = Indicator(
                    team_id=team_id,
                    slug=slug,
                    name=first_names[slug],
                    aliases=[],
                    unit=units.get(slug),
                    direction=direction,
                    period_kind=kind,
                    restricted_to=[],
                    created_at=now,
                    updated_at=now,
                )
                session.add(indicator)
        else:
            result.name = indicator.name
            result.slug = indicator.slug
            result.period_kind = kind if indicator.period_kind is None else indicator.period_kind
            if not dry_run:  # the catalog's metadata wins; only fill in what nobody has set
                if indicator.period_kind is None:
                    indicator.period_kind = kind
                if indicator.unit is None and slug in units:
                    indicator.unit = units[slug]
        by_slug[slug] = indicator
        results[slug] = result
        report.indicators.append(result)
    if not dry_run:
        session.flush()

    # Compare with what is stored: one query, matched on integer codes, no per-row objects.
    # (In a dry run a new indicator has no id: a negative code, which nothing stored matches.)
    in_order = [by_slug[slug] for slug in rows.slugs]
    ids_by_code = np.asarray(
        [-1 - code if i is None else i.id for code, i in enumerate(in_order)], dtype=np.int64
    )
    indicator_ids = ids_by_code[rows.slug]
    stored_rows = _Stored(session, rows, ids)  # the indicators that existed before
    is_new, old_value = stored_rows.match(indicator_ids)
    new_value = rows.value
    same = (new_value == old_value) | (np.isnan(new_value) & np.isnan(old_value))
    changed = ~is_new & ~same

    count = len(rows.slugs)
    added = np.bincount(rows.slug, weights=is_new, minlength=count)
    updated = np.bincount(rows.slug, weights=changed, minlength=count)
    missing = np.bincount(rows.slug, weights=np.isnan(new_value), minlength=count)
    for code, positions in _groups(rows.slug).items():
        result = results[rows.slugs[code]]
        result.added, result.updated = int(added[code]), int(updated[code])
        result.unchanged = len(positions) - result.added - result.updated
        result.missing = int(missing[code])
        periods = sorted(rows.periods[c] for c in np.unique(rows.period[positions]))
        result.first, result.last = periods[0], periods[-1]
        places = rows.geographies[np.unique(rows.geography[positions])]
        result.geographies = tuple(sorted(str(g) for g in places if g))
    # The first few changes, for the steward to check (positions only: no object per row).
    report.changes = tuple(
        ValueChange(
            indicator=results[rows.slugs[int(rows.slug[at])]].name,
            period=rows.periods[int(rows.period[at])],
            geography=str(rows.geographies[int(rows.geography[at])]),
            old=None if np.isnan(old_value[at]) else float(old_value[at]),
            new=None if np.isnan(new_value[at]) else float(new_value[at]),
        )
        for at in np.flatnonzero(changed)[:MAX_CHANGES_KEPT].tolist()
    )
    matched_counts = np.bincount(rows.slug[~is_new], minlength=count)
    short = [  # indicators with stored values (periods or places) this file does not give
        code
        for code, indicator in enumerate(in_order)
        if indicator is not None and stored_counts.get(indicator.id, 0) > int(matched_counts[code])
    ]
    if short:
        for code, kept in _kept_places(session, rows, short, in_order).items():
            results[rows.slugs[code]].kept_places = kept
    if dry_run:
        return report

    # Write only what is new or changed, in the unique index's order (fewer page splits).
    add_at, update_at = np.flatnonzero(is_new), np.flatnonzero(changed)
    work = len(add_at) + len(update_at)
    bar: AbstractContextManager[Any] = (
        progress(length=work, label=f"Importing {file}")
        if progress is not None and work > PROGRESS_ROWS
        else nullcontext(None)
    )
    upsert = _Upsert(session, rows, indicator_ids, now=now, team_id=team_id)
    with bar as shown, upsert:
        for positions, new in ((add_at, True), (update_at, False)):
            order = np.lexsort(
                (rows.geography[positions], rows.period[positions], indicator_ids[positions])
            )
            for chunk in _chunks(positions[order]):
                upsert.write(chunk, new=new)
                if shown is not None:
                    shown.update(len(chunk))

    for slug, written in by_slug.items():
        result, indicator = results[slug], cast(Indicator, written)
        if result.added or result.updated:
            indicator.updated_at = now
            indicator.next_check_at = None  # the scheduler re-checks freshness on its next pass
    return report


def _kept_places(
    session: Session, rows: _Rows, codes: Sequence[int], in_order: Sequence[Indicator | None]
) -> dict[int, tuple[str, ...]]:
    """Per slug code of `codes`, the places with values stored that the file has no row for
    (a re-release that dropped a state): they stay as stored, and the preview says so. One scan
    of those indicators' stored places; asked only when some stored value is not in the file."""
    by_id = {cast(Indicator, in_order[code]).id: code for code in codes}
    stored: dict[int, set[str]] = {}
    for indicator_id, place in session.execute(
        select(IndicatorValue.indicator_id, IndicatorValue.geography)
        .where(IndicatorValue.indicator_id.in_(list(by_id)))
        .distinct()
    ):
        stored.setdefault(by_id[indicator_id], set()).add(place)
    pairs = np.unique(rows.slug.astype(np.int64) * len(rows.geographies) + rows.geography)
    in_file: dict[int, set[str]] = {}
    for slug_code, place_code in zip(
        (pairs // len(rows.geographies)).tolist(),
        (pairs % len(rows.geographies)).tolist(),
        strict=True,
    ):
        in_file.setdefault(slug_code, set()).add(str(rows.geographies[place_code]))
    kept = {
        code: tuple(sorted(stored.get(code, set()) - in_file.get(code, set()))) for code in codes
    }
    return {code: places for code, places in kept.items() if places}


def _refuse_hidden(
    rows: _Rows,
    matched: dict[str, Indicator | None],
    visible: Callable[[Indicator], bool],
    file: str,
) -> None:
    """Refuse a file that names an indicator the caller may not see, quoting only the file."""
    hidden = [
        code
        for code, slug in enumerate(rows.slugs)
        if (indicator := matched.get(slug)) is not None and not visible(indicator)
    ]
    if not hidden:
        return
    named = ", ".join(  # (codes are numbered in order of first appearance)
        f"'{shown(rows.names[code])}' (row {int(rows.row[np.argmax(rows.slug == code)]):,})"
        for code in hidden[:5]
    )
    more = f" and {len(hidden) - 5:,} more" if len(hidden) > 5 else ""
    raise ImportHidden(
        f"Nothing was imported: {file} names an indicator you cannot see here: {named}{more}."
    )


def _refuse_control(
    problems: _Problems, rows: np.ndarray, cells: _Coded, what: str, huge: np.ndarray
) -> None:
    """Rows whose `what` holds a C0 or C1 control character (a line break too): stored, it would reach
    every terminal and message that shows it."""
    bad = cells.rows(lambda t: CONTROL_IN_TEXT.search(t) is not None, bool) & ~huge
    if bad.any():
        problems.add_rows(
            rows[bad],
            lambda r: (
                f"the {what} '{shown(cells.text(int(np.searchsorted(rows, r))))}' holds a "
                "control character (shown as ?); remove it"
            ),
        )


def _check_values(rows: _Rows, matched: dict[str, Indicator | None], file: str) -> None:
    """Refuse values no indicator can have, by the rule `/indicator set` applies too
    (`bot.core.indicator_rules.value_range`): finite, not below zero unless the catalog's `min`
    says so, within the catalog's `min` and `max`, under a trillion either way."""
    bounds: list[tuple[float | None, float | None]] = []
    for slug in rows.slugs:
        indicator = matched.get(slug)
        if indicator is None:
            bounds.append((None, None))
        else:
            bounds.append((indicator.plausible_min, indicator.plausible_max))
    ranges = np.asarray([value_range(low, high) for low, high in bounds], dtype=float)
    if not len(ranges):
        return
    low, high = ranges[rows.slug, 0], ranges[rows.slug, 1]
    value = rows.value
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(value) & ((value < low) | (value > high))
    if not bad.any():
        return
    names = [
        indicator.name if (indicator := matched.get(slug)) is not None else name
        for slug, name in zip(rows.slugs, rows.names, strict=True)
    ]

    # add_rows asks for the reasons of the bad positions in order; a row of several measures
    # repeats its spreadsheet row, so the position (not the row) says which value is meant
    positions = iter(np.flatnonzero(bad).tolist())

    def reason(_row: int) -> str:
        at = next(positions)
        code = int(rows.slug[at])
        minimum, maximum = bounds[code]
        problem = value_problem(float(value[at]), names[code], minimum=minimum, maximum=maximum)
        return f"{rows.column_of(code)} {problem}"

    problems = _Problems()
    problems.add_rows(rows.row[bad], reason)
    problems.raise_if_any(file)


class _Stored:
    """The values already stored for the file's indicators, as integer keys.

    Handing a million period and place texts from the database to Python is what made a
    re-import slow, so the file's distinct periods and places go into two small temporary tables
    and the database answers with their codes: numbers only, one query per few hundred
    indicators, straight from the driver (no ORM rows).
    """

    FETCH_ROWS = 100_000
    COPY_BYTES = 4_000_000  # PostgreSQL: the binary rows read into arrays this many at a time
    # Keys below these are handed over as one number (exact as int64 / as a float64).
    PACKED_BINARY = 2**62
    PACKED_FLOAT = 2**53
    IDS_PER_QUERY = 500
    PERIODS = "commstat_import_periods"
    PLACES = "commstat_import_places"

    def __init__(self, session: Session, rows: _Rows, ids: Sequence[int]) -> None:
        self.rows = rows
        self.ids = pd.Index(sorted(set(ids)), dtype=np.int64)
        self.dims = (max(len(self.ids), 1), len(rows.periods), len(rows.geographies))
        self.keys = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0, dtype=float)
        if not len(self.ids):  # only new indicators: nothing stored to compare with
            return
        connection = session.connection()
        dialect = connection.dialect
        mark = {"qmark": "?", "numeric": "?", "format": "%s", "pyformat": "%s"}[dialect.paramstyle]
        table = dialect.identifier_preparer.quote(IndicatorValue.__tablename__)
        keys: list[np.ndarray] = []
        values: list[np.ndarray] = []
        cursor = cast(Any, connection.connection.cursor())
        try:
            for name, texts in (
                (self.PERIODS, [p.text for p in rows.periods]),
                (self.PLACES, [str(g) for g in rows.geographies]),
            ):
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {name} (text VARCHAR(1000) PRIMARY KEY, code INTEGER)"
                )
                cursor.executemany(
                    f"INSERT INTO {name} (text, code) VALUES ({mark}, {mark})",  # noqa: S608
                    [(text, code) for code, text in enumerate(texts)],
                )
            id_list = [int(i) for i in self.ids]
            cells = self.dims[1] * self.dims[2]  # periods x places: the codes of one indicator
            binary = dialect.name == "postgresql" and dialect.driver == "psycopg"
            for start in range(0, len(id_list), self.IDS_PER_QUERY):
                some = id_list[start : start + self.IDS_PER_QUERY]
                # One number per stored row for indicator, period and place (id x cells + cell)
                # when it fits: a column fewer to hand over than three.
                limit = self.PACKED_BINARY if binary else self.PACKED_FLOAT
                packed = (max(some) + 1) * cells < limit
                # BIGINT: a key passes 2**31 soon (PostgreSQL's integer would overflow).
                id_sql = "CAST(v.indicator_id AS BIGINT)"
                key = f"{id_sql} * {cells} + " if packed else f"{id_sql}, "
                value = "COALESCE(v.value, 'NaN')" if binary else "v.value"
                query = (
                    f"SELECT {key}CAST(p.code AS BIGINT) * {len(rows.geographies)} + g.code, "  # noqa: S608
                    f"{value} FROM {table} v JOIN {self.PERIODS} p ON p.text = v.period "
                    f"JOIN {self.PLACES} g ON g.text = v.geography "
                )
                if binary:
                    parts = [self._copied(connection, query, some, packed)]
                else:
                    cursor.execute(
                        f"{query}WHERE v.indicator_id IN ({', '.join([mark] * len(some))})",
                        some,
                    )
                    parts = []
                    while fetched := cursor.fetchmany(self.FETCH_ROWS):
                        numbers = np.asarray(fetched, dtype=np.float64)  # None (missing) is NaN
                        parts.append(
                            (
                                [
                                    numbers[:, n].astype(np.int64)
                                    for n in range(numbers.shape[1] - 1)
                                ],
                                numbers[:, -1],
                            )
                        )
                for key_columns, found_values in parts:
                    if packed:
                        indicator = key_columns[0] // cells
                        place_code = key_columns[0] % cells
                    else:
                        indicator, place_code = key_columns
                    id_code = self.ids.get_indexer(pd.Index(indicator))
                    keys.append(id_code * cells + place_code)
                    values.append(found_values)
            cursor.execute(f"DROP TABLE {self.PERIODS}")
            cursor.execute(f"DROP TABLE {self.PLACES}")
        finally:
            cursor.close()
        if keys:
            self.keys, self.values = np.concatenate(keys), np.concatenate(values)

    @staticmethod
    def _copied(
        connection: Any, query: str, ids: list[int], packed: bool
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """PostgreSQL: the query's rows through COPY's binary format, read by numpy a few MB at a
        time (no tuple, int and float per row, every number exact): its key columns and its
        values. Each row is a field count, then per field its length and 8 bytes, big-endian;
        the value is never NULL (NaN instead), so every row has the same size. (psycopg hands
        over one block per row; a million cost ~0.6 s, as much as a server-side string_agg of
        int8send/float8send measured.)"""
        raw = connection.connection.driver_connection
        keys = 1 if packed else 2
        layout: list[tuple[str, str]] = [("count", ">i2")]
        for n in range(keys + 1):
            layout += [(f"length{n}", ">i4"), (f"field{n}", ">f8" if n == keys else ">i8")]
        row = np.dtype(layout)
        listed = ", ".join(str(int(i)) for i in ids)
        statement = f"COPY ({query}WHERE v.indicator_id IN ({listed})) TO STDOUT (FORMAT BINARY)"
        pending, header = bytearray(), True
        columns: list[list[np.ndarray]] = [[] for _ in range(keys + 1)]

        def take(size: int) -> None:  # the first `size` bytes of `pending`: whole rows
            body = np.frombuffer(bytes(pending[:size]), dtype=row)
            del pending[:size]
            if not (
                (body["count"] == keys + 1).all()
                and all((body[f"length{n}"] == 8).all() for n in range(keys + 1))
            ):
                raise RuntimeError("PostgreSQL's binary COPY is not laid out as expected")
            for n, kept in enumerate(columns):
                kept.append(body[f"field{n}"].astype(np.float64 if n == keys else np.int64))

        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for block in copy:  # (one row each) gathered, then read a few MB at a time
                pending.extend(block)
                if header and len(pending) >= 19:
                    # A 19-byte header (signature, flags, extension length), then the extension.
                    skip = 19 + int.from_bytes(pending[15:19], "big")
                    if len(pending) < skip:
                        continue
                    del pending[:skip]
                    header = False
                if not header and len(pending) >= _Stored.COPY_BYTES:
                    take(len(pending) // row.itemsize * row.itemsize)
        if header or len(pending) % row.itemsize != 2 or pending[-2:] != b"\xff\xff":
            raise RuntimeError("PostgreSQL's binary COPY ended unexpectedly")
        take(len(pending) - 2)
        found = [np.concatenate(kept) for kept in columns]
        return found[:keys], found[keys]

    def match(self, indicator_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per file row: is it new, and the stored value (NaN if new or missing)."""
        if not len(self.keys):
            return np.ones(len(indicator_ids), dtype=bool), np.full(len(indicator_ids), np.nan)
        incoming = np.ravel_multi_index(
            (self.ids.get_indexer(pd.Index(indicator_ids)), self.rows.period, self.rows.geography),
            self.dims,
            mode="clip",  # an indicator new in this file (code -1) is clipped, then ignored
        )
        at = pd.Index(self.keys).get_indexer(pd.Index(incoming))
        at[self.ids.get_indexer(pd.Index(indicator_ids)) < 0] = -1
        is_new = at < 0
        old = np.where(is_new, np.nan, self.values[np.maximum(at, 0)])
        return is_new, old


class _Upsert:
    """INSERT ... ON CONFLICT DO UPDATE of many value rows through the driver itself (plain
    tuples, no per-row SQLAlchemy work), inside the session's transaction.

    On PostgreSQL with psycopg new rows are COPYed straight into the table, and changed rows
    into a temporary table that one statement then merges. The COPY text is built from each
    distinct indicator, period, place and number once (psycopg's per-row `write_row` cost
    ~10 s a million rows). Constant columns are converted by the column type's own bind
    processor, so what is stored is exactly what the ORM would store.
    """

    COLUMNS = (
        "team_id",
        "indicator_id",
        "period",
        "period_start",
        "geography",
        "value",
        "updated_at",
    )
    STAGING = "commstat_import_values"

    def __init__(
        self,
        session: Session,
        rows: _Rows,
        indicator_ids: np.ndarray,
        *,
        now: datetime,
        team_id: str,
    ) -> None:
        self.connection = session.connection()
        self.rows = rows
        self.indicator_ids = indicator_ids
        self.table = cast(Table, IndicatorValue.__table__)
        self.dialect = self.connection.dialect
        self.copy = self.dialect.name == "postgresql" and self.dialect.driver == "psycopg"
        self.team = self.bind("team_id", team_id)
        self.stamp = self.bind("updated_at", now)
        self.starts = [self.bind("period_start", p.start) for p in rows.periods]
        quote = self.dialect.identifier_preparer.quote
        self.columns = ", ".join(quote(c) for c in self.COLUMNS)
        self.name = quote(self.table.name)
        conflict = (
            "ON CONFLICT (indicator_id, period, geography) DO UPDATE SET "
            "value = excluded.value, updated_at = excluded.updated_at"
        )
        if self.copy:
            self.sql = (
                f"INSERT INTO {self.name} ({self.columns}) "  # noqa: S608
                f"SELECT {self.columns} FROM {self.STAGING} {conflict} "
                f"WHERE {self.name}.value IS DISTINCT FROM excluded.value"
            )
        else:
            mark = {"qmark": "?", "numeric": "?", "format": "%s", "pyformat": "%s"}[
                self.dialect.paramstyle
            ]
            self.insert = (
                f"INSERT INTO {self.name} ({self.columns}) "  # noqa: S608
                f"VALUES ({', '.join([mark] * len(self.COLUMNS))})"
            )
            self.sql = f"{self.insert} {conflict}"
        self.cursor = self.connection.connection.cursor()
        self.staged = False

    def bind(self, column: str, value: Any) -> Any:
        processor = (
            self.table.c[column].type.dialect_impl(self.dialect).bind_processor(self.dialect)
        )
        return processor(value) if processor else value

    def __enter__(self) -> _Upsert:
        return self

    def write(self, chunk: np.ndarray, *, new: bool) -> None:
        """The rows at positions `chunk`; `new` rows are known not to be stored yet."""
        if self.copy:
            self._copy(chunk, new=new)
            return
        rows = self.rows
        period = rows.period[chunk]
        texts = np.asarray([p.text for p in rows.periods], dtype=object)[period]
        values = rows.value[chunk].astype(object)
        values[np.isnan(rows.value[chunk])] = None
        tuples = zip(
            repeat(self.team),
            self.indicator_ids[chunk].tolist(),
            texts.tolist(),
            np.asarray(self.starts, dtype=object)[period].tolist(),
            rows.geographies[rows.geography[chunk]].tolist(),
            values.tolist(),
            repeat(self.stamp),
        )
        # An iterator of plain tuples, not a list; new rows need no conflict check of their own.
        cast(Any, self.cursor).executemany(self.insert if new else self.sql, tuples)

    def _copy(self, chunk: np.ndarray, *, new: bool) -> None:
        rows = self.rows
        ids, id_codes = np.unique(self.indicator_ids[chunk], return_inverse=True)
        head = np.asarray([f"{_copy_text(self.team)}\t{i}\t" for i in ids.tolist()], dtype=object)
        periods = np.asarray(
            [
                f"{_copy_text(p.text)}\t{start.isoformat()}\t"
                for p, start in zip(rows.periods, self.starts, strict=True)
            ],
            dtype=object,
        )
        places = np.asarray([f"{_copy_text(str(g))}\t" for g in rows.geographies], dtype=object)
        value_codes, distinct = pd.factorize(rows.value[chunk], use_na_sentinel=False)
        numbers = np.asarray(
            [("\\N" if v != v else repr(v)) + "\t" for v in distinct.tolist()], dtype=object
        )
        lines = (
            head[id_codes]
            + periods[rows.period[chunk]]
            + places[rows.geography[chunk]]
            + numbers[value_codes]
        )
        stamp = f"{self.stamp.isoformat()}\n"
        data = (stamp.join(lines.tolist()) + stamp).encode()
        raw = self.connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            if not new and not self.staged:
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {self.STAGING} ON COMMIT DROP AS "  # noqa: S608
                    f"SELECT {self.columns} FROM {self.name} WITH NO DATA"
                )
                self.staged = True
            target = self.name if new else self.STAGING
            with cursor.copy(f"COPY {target} ({self.columns}) FROM STDIN") as copy:
                copy.write(data)

    def __exit__(self, kind: object, *_: object) -> None:
        try:
            if kind is None and self.staged:
                self.cursor.execute(self.sql)
                self.cursor.execute(f"DROP TABLE {self.STAGING}")
        finally:
            self.cursor.close()


def _copy_text(text: str) -> str:
    """A text field of PostgreSQL's COPY text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _groups(codes: np.ndarray) -> dict[int, np.ndarray]:
    """Row positions of each code, in order of first appearance."""
    indices = pd.Series(codes).groupby(codes, sort=False).indices
    return {int(cast(int, code)): np.asarray(positions) for code, positions in indices.items()}


def _chunks(positions: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(positions), CHUNK_ROWS):
        yield positions[start : start + CHUNK_ROWS]


__all__ = [
    "HIGHER_IS_BETTER_WORDS",
    "SUPPRESSION_MARKERS",
    "ImportError_",
    "ImportHidden",
    "ImportMapping",
    "ImportRaced",
    "ImportReport",
    "IndicatorResult",
    "guess_direction",
    "import_file",
    "slugify",
]
