"""`commstat import FILE`: indicator values from CSV or Excel into the database.

The contract (PRODUCT.md, "Indicator data files"): long format, one row per value
(``indicator,period,value[,geography][,unit]``), or any publisher's shape named with a column
mapping. Blank cells and suppression markers are *missing* values, never zero. A file with any bad
row is refused whole, with spreadsheet row numbers (the header is row 1), and nothing is written.
Importing the same file again changes nothing.

Parsing is vectorised with pandas: repeated text (indicator names, periods, geographies) is read
as categories and each distinct value is checked once, so a million rows cost seconds, not
minutes. Writes are bulk executemany statements in one transaction, after comparing with what is
stored, so unchanged rows are never rewritten and the added/updated/unchanged counts are exact.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from rapidfuzz import process
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.periods import (
    Period,
    PeriodError,
    explain,
    infer_kind,
    label,
    month_period,
    normalise_kind,
    parse_period,
    period_end,
    quarter_period,
    year_period,
)
from storage.models import Direction, Indicator, IndicatorValue
from storage.repositories import ensure_team

# What publishers write instead of a number when a value is missing or suppressed (compared
# trimmed and case-insensitively). "<N" (e.g. "<10", "<5") is suppression too: a small count
# hidden for privacy, so it is missing, never zero and never N.
SUPPRESSION_MARKERS = frozenset({"*", "§", "¶", "na", "n/a", "suppressed"})
_SUPPRESSED_BELOW = re.compile(r"^<\s*\d+(?:\.\d+)?$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")

MAX_CELL_CHARS = 1_000  # a longer cell is a broken file (or a pasted document), not data
MAX_NAME_CHARS = 200  # Indicator.name
MAX_GEOGRAPHY_CHARS = 100  # IndicatorValue.geography
MAX_UNIT_CHARS = 100  # Indicator.unit
MAX_PROBLEMS_SHOWN = 20
PROGRESS_ROWS = 5_000  # show a progress bar only for files longer than this
CHUNK_ROWS = 10_000  # rows per executemany batch

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
    """The file was refused; nothing was written. The message says what to fix."""


@dataclass(frozen=True)
class ImportMapping:
    """Which columns hold what; the defaults read the long format (indicator, period, value...)."""

    indicator: str | None = None  # every row is this indicator
    indicator_column: str | None = None  # default: "indicator"
    period_column: str | None = None  # default: "period"
    value_column: str | None = None  # default: "value"
    geography_column: str | None = None  # default: "geography" if the file has it
    unit_column: str | None = None  # default: "unit" if the file has it
    filters: tuple[tuple[str, str], ...] = ()  # (column, value): keep matching rows
    sheet: str | None = None  # Excel sheet; default the first

    @classmethod
    def from_options(
        cls,
        *,
        indicator: str | None = None,
        indicator_column: str | None = None,
        period_column: str | None = None,
        value_column: str | None = None,
        geography_column: str | None = None,
        unit_column: str | None = None,
        filters: Iterable[str] = (),
        sheet: str | None = None,
    ) -> ImportMapping:
        """Build from the CLI options; `filters` are "COLUMN=VALUE" texts."""
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
        return cls(
            indicator=indicator.strip() if indicator else None,
            indicator_column=indicator_column,
            period_column=period_column,
            value_column=value_column,
            geography_column=geography_column,
            unit_column=unit_column,
            filters=tuple(parsed),
            sheet=sheet,
        )


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

    @property
    def rows(self) -> int:
        return self.added + self.updated + self.unchanged


@dataclass
class ImportReport:
    file: str
    indicators: list[IndicatorResult] = field(default_factory=list)

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
        return "\n".join(lines)


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
            "(row numbers as in a spreadsheet; the header is row 1)."
        ]
        lines += self.headline
        lines += [f"  row {row}: {text}" for row, text in shown]
        if self.total > len(shown):
            lines.append(f"  …and {self.total - len(shown):,} more.")
        lines.append("Fix these rows (or the column options) and import the file again.")
        raise ImportError_("\n".join(lines))


def _read_header_and_sample(path: Path, sheet: str | None) -> tuple[str, pd.DataFrame]:
    """Check the file can be read at all; return its kind and its first rows (all columns)."""
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
        return "excel", _read_excel(path, sheet, nrows=200)
    if suffix not in CSV_SUFFIXES:
        raise ImportError_(
            f"{path.name}: I can read CSV (.csv) and Excel (.xlsx) files, not '{suffix or 'no suffix'}'."
        )
    if sheet:
        raise ImportError_(f"--sheet is for Excel files; {path.name} is a CSV file.")
    if b"\x00" in magic:
        raise ImportError_(
            f"{path.name} does not look like a text CSV file (it holds binary data)."
        )
    return "csv", _read_csv(path, nrows=200)


def _csv_options(path: Path) -> dict[str, Any]:
    """Encoding and separator: UTF-8 (with or without BOM) else Windows-1252; comma, tab or ;."""
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
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
    return {"encoding": encoding, "sep": sep}


def _read_csv(
    path: Path,
    *,
    nrows: int | None = None,
    usecols: Sequence[str] | None = None,
    categories: Sequence[str] = (),
) -> pd.DataFrame:
    options = _csv_options(path)
    dtype: dict[str, Any] | type = object
    if usecols is not None:
        dtype = {c: ("category" if c in categories else object) for c in usecols}
    try:
        frame = pd.read_csv(
            path,
            dtype=dtype,
            na_filter=False,  # blanks and markers are ours to read: "NA" must not become NaN silently
            keep_default_na=False,
            skip_blank_lines=False,  # keep row numbers as a spreadsheet shows them
            nrows=nrows,
            usecols=list(usecols) if usecols is not None else None,
            **options,
        )
    except pd.errors.EmptyDataError:
        raise ImportError_(f"{path.name} is empty: it has no header and no rows.") from None
    except pd.errors.ParserError as exc:
        raise ImportError_(f"{path.name} is not a well-formed CSV file: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ImportError_(
            f"{path.name} has text I cannot read ({exc.reason}); save it as CSV UTF-8."
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_excel(path: Path, sheet: str | None, *, nrows: int | None = None) -> pd.DataFrame:
    try:
        workbook = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:
        raise ImportError_(f"{path.name} is not a readable Excel file ({exc}).") from None
    with workbook:
        names = [str(n) for n in workbook.sheet_names]
        if sheet is not None and sheet not in names:
            raise ImportError_(
                f"{path.name} has no sheet '{sheet}'. Its sheets are: {', '.join(names)}."
            )
        frame = pd.read_excel(workbook, sheet_name=sheet or 0, dtype=object, nrows=nrows, header=0)
    if frame.columns.empty:
        raise ImportError_(f"The sheet '{sheet or names[0]}' in {path.name} is empty.")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda column: column.map(_cell_text))


def _cell_text(value: Any) -> str:
    """An Excel cell as the text a CSV would have held."""
    if value is None:
        return ""
    if isinstance(value, float):
        if np.isnan(value):
            return ""
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


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
        hint = f" Did you mean '{best[0]}'?"
    raise ImportError_(
        f"{file} has no column '{wanted}' (for {option}).{hint} "
        f"Its columns are: {', '.join(columns)}."
    )


@dataclass(frozen=True)
class _Columns:
    indicator: str | None
    period: str
    value: str
    geography: str | None
    unit: str | None
    filters: tuple[tuple[str, str], ...]
    kind_hints: tuple[str, ...]  # columns whose every value names a period kind ("12 month-ending")


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
    if mapping.indicator is None:
        indicator = _resolve(
            columns,
            mapping.indicator_column or "indicator",
            "--indicator-column (or give --indicator NAME when the whole file is one indicator)",
            file=file,
        )
    period = _resolve(columns, mapping.period_column or "period", "--period-column", file=file)
    value = _resolve(columns, mapping.value_column or "value", "--value-column", file=file)
    geography = optional(mapping.geography_column, "geography", "--geography-column")
    unit = optional(mapping.unit_column, "unit", "--unit-column")
    filters = tuple(
        (_resolve(columns, column, f"--filter {column}={wanted}", file=file), wanted)
        for column, wanted in mapping.filters
    )
    used = {indicator, period, value, geography, unit}
    hints = []
    for column in columns:
        if column in used:
            continue
        values = {str(v).strip() for v in sample[column]} - {""}
        kinds = {normalise_kind(v) for v in values}
        if values and len(kinds) == 1 and None not in kinds:
            hints.append(column)
    return _Columns(indicator, period, value, geography, unit, filters, tuple(hints))


def _read_all(path: Path, kind: str, mapping: ImportMapping, columns: _Columns) -> pd.DataFrame:
    wanted = [
        c
        for c in dict.fromkeys(
            [
                columns.indicator,
                columns.period,
                columns.value,
                columns.geography,
                columns.unit,
                *(c for c, _ in columns.filters),
                *columns.kind_hints,
            ]
        )
        if c is not None
    ]
    if kind == "csv":
        repeated = [c for c in wanted if c != columns.value]
        return _read_csv(path, usecols=wanted, categories=repeated)
    frame = _read_excel(path, mapping.sheet)
    return frame[wanted].astype({c: "category" for c in wanted if c != columns.value})


def _per_distinct(
    values: np.ndarray, func: Callable[[Any], Any], dtype: Any = object
) -> np.ndarray:
    """`func` of each row's value, computed once per distinct value (files repeat a lot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    results = np.asarray([func(u) for u in uniques], dtype=dtype)
    return results[codes] if len(uniques) else np.zeros(len(values), dtype=dtype)


def _stripped(series: pd.Series) -> np.ndarray:
    """Each row's trimmed text; categories are trimmed once, not per row."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = np.asarray([str(c).strip() for c in series.cat.categories], dtype=object)
        codes = series.cat.codes.to_numpy()
        return categories[codes] if len(categories) else np.full(len(series), "", dtype=object)
    return series.astype(str).str.strip().to_numpy(dtype=object)


# --- checking rows -----------------------------------------------------------------------------


@dataclass
class _Rows:
    """The file's rows after filters, checked: one array per field, same length."""

    row: np.ndarray  # spreadsheet row number
    name: np.ndarray  # indicator name as written
    slug: np.ndarray
    period: np.ndarray  # canonical text
    start: np.ndarray  # date
    grain: np.ndarray
    geography: np.ndarray
    value: np.ndarray  # float, NaN = missing
    unit: np.ndarray | None
    kind_hint: str | None  # from a column like CDC's Period = "12 month-ending"
    kind_hint_column: str | None


def _check_rows(frame: pd.DataFrame, mapping: ImportMapping, columns: _Columns, file: str) -> _Rows:
    problems = _Problems()
    row_numbers = np.arange(2, len(frame) + 2)
    keep = np.ones(len(frame), dtype=bool)

    # Filters first: rows someone chose to leave out cannot stop the import.
    by_column: dict[str, set[str]] = {}
    for column, wanted in columns.filters:
        by_column.setdefault(column, set()).add(wanted.casefold())
    for column, wanted_set in by_column.items():
        texts = pd.Series(_stripped(frame[column])).str.casefold().to_numpy(dtype=object)
        keep &= np.isin(texts, list(wanted_set))

    text: dict[str, np.ndarray] = {}
    used = [
        c
        for c in (columns.indicator, columns.period, columns.value, columns.geography, columns.unit)
        if c is not None
    ]
    for column in used:
        text[column] = _stripped(frame[column])
    # Spreadsheets often end with empty rows; they are not data.
    blank = np.ones(len(frame), dtype=bool)
    for column in used:
        blank &= text[column] == ""
    keep &= ~blank

    if not keep.any():
        if columns.filters:
            samples = []
            for column in by_column:
                seen = sorted({str(v) for v in _stripped(frame[column])} - {""})
                shown = ", ".join(seen[:12]) + (" …" if len(seen) > 12 else "")
                samples.append(f"{column} holds: {shown or 'nothing'}")
            wanted_text = " and ".join(f"{c}={v}" for c, v in columns.filters)
            raise ImportError_(
                f"No rows of {file} match --filter {wanted_text}. " + "; ".join(samples) + "."
            )
        raise ImportError_(f"{file} has a header but no rows of data.")

    rows = row_numbers[keep]
    for column in used:
        text[column] = text[column][keep]

    # Huge cells: a broken file or a pasted document.
    huge_row = np.zeros(len(rows), dtype=bool)
    for column in used:
        lengths = _per_distinct(text[column], len, np.int64)
        huge = lengths > MAX_CELL_CHARS
        huge_row |= huge
        if huge.any():
            sizes = dict(zip(rows[huge], lengths[huge], strict=True))
            problems.add_rows(
                rows[huge],
                lambda r, c=column, s=sizes: (  # type: ignore[misc]
                    f"the {c} cell is {s[r]:,} characters long (at most {MAX_CELL_CHARS:,})"
                ),
            )
    ok = ~huge_row

    # Indicator names.
    if columns.indicator is None:
        assert mapping.indicator is not None
        names = np.full(len(rows), mapping.indicator, dtype=object)
    else:
        names = text[columns.indicator]
    slugs = _per_distinct(names, slugify)
    empty = names == ""
    if empty.any():  # (a huge cell is never empty)
        problems.add_rows(
            rows[empty], lambda _r: f"the indicator name ({columns.indicator}) is empty"
        )
    name_lengths = _per_distinct(names, len, np.int64)
    too_long = name_lengths > MAX_NAME_CHARS
    if (too_long & ~huge_row).any():
        problems.add_rows(
            rows[too_long & ~huge_row],
            lambda _r: f"the indicator name is longer than {MAX_NAME_CHARS} characters",
        )
    no_words = (slugs == "") & ~empty
    if no_words.any():
        problems.add_rows(
            rows[no_words],
            lambda r: f"the indicator name '{names[rows == r][0]}' has no letters or digits",
        )
    ok &= ~empty & ~no_words & ~too_long

    # Periods: each distinct text parsed once.
    period_texts = text[columns.period]
    parsed: dict[str, Period | PeriodError] = {}
    for candidate in pd.unique(period_texts):
        try:
            parsed[candidate] = parse_period(candidate)
        except PeriodError as exc:
            parsed[candidate] = exc
    bad_period = _per_distinct(period_texts, lambda t: isinstance(parsed[t], PeriodError), bool)
    bad_period &= ~huge_row
    if bad_period.any():
        problems.add_rows(
            rows[bad_period],
            lambda r: (
                f"{columns.period}: "
                + str(parsed[period_texts[rows == r][0]]).split("; write it as")[0]
            ),
        )
        if bad_period.all():
            problems.headline.append(
                f"  No value in column '{columns.period}' is a period (the first is "
                f"'{_clip(period_texts[0])}'). Name the column that holds dates, months, quarters "
                "or years with --period-column."
            )
            problems.limit = 3
        problems.headline.append(
            "  Periods can be written as 2025-04-30 (a day, or the first day of a week), 2025-04 "
            "(a month), 2025-Q2 (a quarter) or 2025 (a year)."
        )
    ok &= ~bad_period

    # Values: numbers, thousands separators, or a missing marker.
    raw_values = text[columns.value]
    values = pd.to_numeric(pd.Series(raw_values, dtype=object), errors="coerce").to_numpy(
        dtype=float, copy=True
    )
    unsure = np.flatnonzero(np.isnan(values) | ~np.isfinite(values))
    bad_value = np.zeros(len(rows), dtype=bool)
    missing = np.zeros(len(rows), dtype=bool)
    for index in unsure:
        cell = raw_values[index]
        folded = cell.casefold()
        if not cell or folded in SUPPRESSION_MARKERS or _SUPPRESSED_BELOW.match(folded):
            missing[index] = True
            values[index] = np.nan
        elif _THOUSANDS.match(cell):
            values[index] = float(cell.replace(",", ""))
        elif not huge_row[index]:
            bad_value[index] = True
    if bad_value.any():
        markers = "blank, *, §, ¶, NA, n/a, suppressed, <10"
        problems.add_rows(
            rows[bad_value],
            lambda r: (
                f"{columns.value} '{_clip(raw_values[rows == r][0])}' is not a number "
                f"(missing values may be written as: {markers})"
            ),
        )
        if bad_value.all():
            problems.headline.append(
                f"  No value in column '{columns.value}' is a number. Name the column that "
                "holds the numbers with --value-column."
            )
            problems.limit = 3
    ok &= ~bad_value

    geography = (
        text[columns.geography]
        if columns.geography is not None
        else np.full(len(rows), "", dtype=object)
    )
    long_geography = _per_distinct(
        geography, lambda g: MAX_GEOGRAPHY_CHARS < len(g) <= MAX_CELL_CHARS, bool
    )
    if long_geography.any():
        problems.add_rows(
            rows[long_geography],
            lambda _r: f"the geography is longer than {MAX_GEOGRAPHY_CHARS} characters",
        )
    units = text[columns.unit] if columns.unit is not None else None
    if units is not None:
        long_unit = _per_distinct(units, lambda u: MAX_UNIT_CHARS < len(u) <= MAX_CELL_CHARS, bool)
        if long_unit.any():
            problems.add_rows(
                rows[long_unit], lambda _r: f"the unit is longer than {MAX_UNIT_CHARS} characters"
            )

    def part(name: str) -> Callable[[str], Any]:
        def get(t: str) -> Any:
            found = parsed[t]
            return None if isinstance(found, PeriodError) else getattr(found, name)

        return get

    starts = _per_distinct(period_texts, part("start"))
    canon = _per_distinct(period_texts, part("text"))
    grains = _per_distinct(period_texts, part("grain"))

    # Duplicates: the same indicator, period and geography twice in one file is ambiguous.
    if ok.any():
        keys = pd.DataFrame({"slug": slugs[ok], "period": canon[ok], "geography": geography[ok]})
        repeated = keys.duplicated(keep="first").to_numpy()
        if repeated.any():
            first_row = (
                keys.assign(row=rows[ok])
                .groupby(["slug", "period", "geography"], sort=False)["row"]
                .transform("first")
                .to_numpy()
            )
            ok_rows = rows[ok]
            firsts = dict(zip(ok_rows[repeated], first_row[repeated], strict=True))
            where = {
                int(r): (n, p, g)
                for r, n, p, g in zip(
                    ok_rows[repeated],
                    names[ok][repeated],
                    canon[ok][repeated],
                    geography[ok][repeated],
                    strict=True,
                )
            }
            problems.add_rows(
                ok_rows[repeated],
                lambda r: (
                    f"repeats row {firsts[r]}: the same indicator, period and geography "
                    f"({where[r][0]}, {where[r][1]}{', ' + where[r][2] if where[r][2] else ''})"
                ),
            )

    kind_hint, hint_column = None, None
    for column in columns.kind_hints:
        kinds = {normalise_kind(str(v)) for v in set(_stripped(frame[column])[keep])} - {None}
        raw = set(_stripped(frame[column])[keep]) - {""}
        if len(kinds) == 1 and all(normalise_kind(v) for v in raw):
            kind_hint, hint_column = kinds.pop(), column
            break

    problems.raise_if_any(file)
    return _Rows(
        row=rows,
        name=names,
        slug=slugs,
        period=canon,
        start=starts,
        grain=grains,
        geography=geography,
        value=values,
        unit=units,
        kind_hint=kind_hint,
        kind_hint_column=hint_column,
    )


def _clip(text: str, size: int = 40) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


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
    codes, slugs = pd.factorize(rows.slug)
    for code, positions in _groups(codes).items():
        slug = str(slugs[code])
        name = rows.name[positions[0]]
        first_row = int(rows.row[positions[0]])
        grain_codes, grains = pd.factorize(rows.grain[positions])
        if len(grains) > 1:
            parts = [
                f"{_GRAIN_WORDS[grain]} (e.g. row {rows.row[positions[grain_codes.tolist().index(i)]]})"
                for i, grain in sorted(enumerate(grains), key=lambda g: GRAIN_ORDER.index(g[1]))
            ]
            problems.add(
                first_row,
                f"'{name}' mixes {' and '.join(parts)}; use one kind of period per indicator",
            )
            continue
        known_kind, stored_grain = stored.get(slug, (None, None))
        if grains[0] == "day" and known_kind not in ("daily", "weekly"):
            _coarsen(rows, positions, known_kind or rows.kind_hint)
        grain = str(rows.grain[positions[0]])
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
            kinds[slug] = (rows.kind_hint, f"from the {rows.kind_hint_column} column")
        else:
            periods = [parse_period(text) for text in pd.unique(rows.period[positions])]
            kinds[slug] = (infer_kind(periods), "guessed from the spacing of the periods")
    problems.raise_if_any(file)
    return kinds


def _coarsen(rows: _Rows, positions: np.ndarray, kind: str | None) -> None:
    """Dates that stand for months, quarters or years become months, quarters or years."""
    starts = sorted({rows.start[i] for i in positions})
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
    for i in positions:
        period = make(rows.start[i])
        rows.start[i], rows.period[i], rows.grain[i] = period.start, period.text, period.grain


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
) -> ImportReport:
    """Read, check, then upsert the whole file in one transaction; refuse it whole on any problem.

    `time_zone` is only used if the team is new (the importer may run before anyone used the bot).
    """
    file = path.name
    kind, sample = _read_header_and_sample(path, mapping.sheet)
    columns = _columns(sample, mapping, file)
    frame = _read_all(path, kind, mapping, columns)
    rows = _check_rows(frame, mapping, columns, file)
    del frame
    try:
        with sessions.begin() as session:
            ensure_team(session, team_id, time_zone=time_zone, now=now)
            return _store(session, team_id, rows, file=file, now=now, progress=progress)
    except IntegrityError:
        raise ImportError_(
            f"Nothing was imported: someone else changed the same values of {file} at the same "
            "moment. Import the file again."
        ) from None


def _find(known: Sequence[Indicator], name: str, slug: str) -> Indicator | None:
    """An indicator already in the catalog: by slug, by name, then by alias."""
    for indicator in known:
        if indicator.slug == slug:
            return indicator
    folded = name.casefold()
    for indicator in known:
        if indicator.name.casefold() == folded:
            return indicator
    for indicator in known:
        if any(slugify(alias) == slug for alias in indicator.aliases):
            return indicator
    return None


def _store(
    session: Session,
    team_id: str,
    rows: _Rows,
    *,
    file: str,
    now: datetime,
    progress: ProgressBar | None,
) -> ImportReport:
    known = list(session.scalars(select(Indicator).where(Indicator.team_id == team_id)))
    slug_codes, distinct_slugs = pd.factorize(rows.slug)
    _, first_index = np.unique(slug_codes, return_index=True)
    first_names = {
        str(distinct_slugs[code]): str(rows.name[index]) for code, index in enumerate(first_index)
    }  # the name as first written in the file
    matched = {slug: _find(known, name, slug) for slug, name in first_names.items()}

    # Kinds and grains of what is stored already, so a file cannot mix months into yearly data.
    stored: dict[str, tuple[str | None, str | None]] = {}
    ids = [i.id for i in matched.values() if i is not None]
    stored_periods: dict[int, str] = {}
    if ids:
        stored_periods = {
            indicator_id: period
            for indicator_id, period in session.execute(
                select(IndicatorValue.indicator_id, func.min(IndicatorValue.period))
                .where(IndicatorValue.indicator_id.in_(ids))
                .group_by(IndicatorValue.indicator_id)
            )
        }
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

    # Units: the most common one written for each indicator.
    units: dict[str, str] = {}
    if rows.unit is not None:
        for key, group in pd.DataFrame({"slug": rows.slug, "unit": rows.unit}).groupby("slug"):
            written = [u for u in group["unit"] if u]
            if written:
                units[str(key)] = Counter(written).most_common(1)[0][0]

    report = ImportReport(file=file)
    results: dict[str, IndicatorResult] = {}
    by_slug: dict[str, Indicator] = {}
    for slug in first_names:
        indicator = matched[slug]
        kind, reason = kinds[slug]
        result = IndicatorResult(name=first_names[slug], slug=slug, period_kind=kind)
        if indicator is None:
            direction, why = guess_direction(first_names[slug])
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
            result.created = True
            result.kind_reason, result.direction, result.direction_reason = reason, direction, why
        else:
            # The catalog's metadata wins; only fill in what nobody has set.
            result.name = indicator.name
            result.slug = indicator.slug
            if indicator.period_kind is None:
                indicator.period_kind = kind
            if indicator.unit is None and slug in units:
                indicator.unit = units[slug]
            result.period_kind = indicator.period_kind
        by_slug[slug] = indicator
        results[slug] = result
        report.indicators.append(result)
    session.flush()

    ids_by_code = np.asarray([by_slug[str(slug)].id for slug in distinct_slugs], dtype=np.int64)
    incoming = pd.DataFrame(
        {
            "indicator_id": ids_by_code[slug_codes],
            "code": slug_codes,
            "period": rows.period,
            "geography": rows.geography,
            "value": rows.value,
        }
    )
    table = cast(Table, IndicatorValue.__table__)
    existing = pd.read_sql_query(  # fetchall into columns: much faster than Row objects
        select(
            table.c.id,
            table.c.indicator_id,
            table.c.period,
            table.c.geography,
            table.c.value.label("old_value"),
        ).where(table.c.indicator_id.in_([int(i) for i in ids_by_code])),
        session.connection(),
        dtype={"period": object, "geography": object},
    )
    if existing.empty:
        is_new = np.ones(len(incoming), dtype=bool)
        stored_ids = np.zeros(len(incoming), dtype=np.int64)
        old_value = np.full(len(incoming), np.nan)
    else:
        existing["indicator_id"] = existing["indicator_id"].astype(np.int64)
        merged = incoming.merge(existing, on=["indicator_id", "period", "geography"], how="left")
        is_new = merged["id"].isna().to_numpy()
        stored_ids = merged["id"].fillna(0).to_numpy(dtype=np.int64)
        old_value = merged["old_value"].to_numpy(dtype=float)
    new_value = rows.value
    same = (new_value == old_value) | (np.isnan(new_value) & np.isnan(old_value))
    changed = ~is_new & ~same

    for code, positions in _groups(slug_codes).items():
        result = results[str(distinct_slugs[code])]
        result.added = int(is_new[positions].sum())
        result.updated = int(changed[positions].sum())
        result.unchanged = len(positions) - result.added - result.updated
        result.missing = int(np.isnan(new_value[positions]).sum())
        periods = sorted(parse_period(p) for p in pd.unique(rows.period[positions]))
        result.first, result.last = periods[0], periods[-1]
        result.geographies = tuple(sorted(g for g in pd.unique(rows.geography[positions]) if g))

    values: list[float | None] = [None if v != v else v for v in new_value.tolist()]
    add_at = np.flatnonzero(is_new)
    update_at = np.flatnonzero(changed)
    work = len(add_at) + len(update_at)
    bar: AbstractContextManager[Any] = (
        progress(length=work, label=f"Importing {file}")
        if progress is not None and work > PROGRESS_ROWS
        else nullcontext(None)
    )
    indicator_ids = incoming["indicator_id"].tolist()
    insert_rows = _BulkInsert(session, table)
    stamp = insert_rows.bind("updated_at", now)
    team = insert_rows.bind("team_id", team_id)
    starts = _per_distinct(rows.start[add_at], lambda d: insert_rows.bind("period_start", d))
    with bar as shown:
        for chunk_number, chunk in enumerate(_chunks(add_at)):
            offset = chunk_number * CHUNK_ROWS
            insert_rows.execute(
                [
                    (
                        team,
                        indicator_ids[i],
                        rows.period[i],
                        starts[offset + n],
                        rows.geography[i],
                        values[i],
                        stamp,
                    )
                    for n, i in enumerate(chunk.tolist())
                ]
            )
            if shown is not None:
                shown.update(len(chunk))
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(value=bindparam("new_value"), updated_at=bindparam("changed_at"))
        )
        for chunk in _chunks(update_at):
            session.execute(
                statement,
                [
                    {"row_id": int(stored_ids[i]), "new_value": values[i], "changed_at": now}
                    for i in chunk.tolist()
                ],
            )
            if shown is not None:
                shown.update(len(chunk))

    for slug, indicator in by_slug.items():
        result = results[slug]
        if result.added or result.updated:
            indicator.updated_at = now
            indicator.next_check_at = None  # the scheduler re-checks freshness on its next pass
    return report


class _BulkInsert:
    """INSERT of many value rows through the driver's executemany, skipping SQLAlchemy's
    per-row parameter processing (the bulk of the time for a million rows). Each distinct
    value is still converted by the column type's own bind processor, so what is stored is
    exactly what the ORM would store."""

    COLUMNS = (
        "team_id",
        "indicator_id",
        "period",
        "period_start",
        "geography",
        "value",
        "updated_at",
    )

    def __init__(self, session: Session, table: Any) -> None:
        self.connection = session.connection()
        self.table = table
        dialect = self.connection.dialect
        self.dialect = dialect
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
        quote = dialect.identifier_preparer.quote
        self.sql: str | None = None
        if mark is not None:
            # Names are our own constants, quoted by the dialect; values go as parameters.
            self.sql = (
                f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in self.COLUMNS)}) "  # noqa: S608
                f"VALUES ({', '.join([mark] * len(self.COLUMNS))})"
            )

    def bind(self, column: str, value: Any) -> Any:
        if self.sql is None:
            return value
        processor = (
            self.table.c[column].type.dialect_impl(self.dialect).bind_processor(self.dialect)
        )
        return processor(value) if processor else value

    def execute(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.dialect.name == "postgresql" and self.dialect.driver == "psycopg":
            # COPY: one stream instead of a round trip per row (10x faster on PostgreSQL).
            quote = self.dialect.identifier_preparer.quote
            columns = ", ".join(quote(c) for c in self.COLUMNS)
            raw = self.connection.connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {quote(self.table.name)} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        if self.sql is None:  # an unusual driver: the portable (slower) way
            self.connection.execute(
                insert(self.table), [dict(zip(self.COLUMNS, row, strict=True)) for row in rows]
            )
            return
        self.connection.exec_driver_sql(self.sql, rows)


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
    "ImportMapping",
    "ImportReport",
    "IndicatorResult",
    "guess_direction",
    "import_file",
    "slugify",
]
