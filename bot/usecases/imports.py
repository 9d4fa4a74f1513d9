"""Indicator data uploaded in Slack: preview, then Import (or Change mapping, or Cancel).

A steward drops a CSV or Excel file into the bot's DM (or picks one in `/indicator import`); the
file is read with the mapping remembered for its name, else one guessed from its columns, and
checked by the importer without writing (`import_file(dry_run=True)`): what would be added,
updated or left unchanged, the problems with row numbers, and the settings a new indicator would
get. The preview is an `imports` row (status previewed, or refused when the file or the person
cannot be imported as it is); Import writes the values once, in one transaction with the row
turned `imported` and the mapping remembered for the file's name, so next month's file of that
name is previewed the same way.

Who may import:
- values of an existing indicator: its data steward, or a coalition admin;
- new indicators (names the catalog does not know): coalition admins, and data stewards (people
  who steward at least one indicator); the uploader becomes the new indicators' steward;
- a restricted indicator (`restricted_to` channels): only from one of its channels
  (`/indicator import` typed there). From anywhere else the file is refused whole, without naming
  the indicator or showing any of its numbers.

No Slack here: the file arrives as a path, the person as ids and rights.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.indicator_rules import can_enter_data, is_visible
from bot.core.periods import (
    CDC_WEEK,
    PART_WORDS,
    PeriodError,
    names_an_end,
    names_cdc_weeks,
    parse_period,
)
from bot.core.text import mention, safe
from storage.import_records import (
    last_import,
    record_import,
    remember_source,
    source_named,
)
from storage.importer import (
    ImportError_,
    ImportHidden,
    ImportMapping,
    ImportReport,
    file_sample,
    import_file,
    is_note,
    reads_as_number,
    sheet_names,
)
from storage.models import DataImport, ImportStatus, Indicator
from storage.repositories import ensure_team

VIA_SLACK = "slack"
# New indicators one upload may add: a coalition's catalog holds dozens. A wrong Indicator
# column (a free-text column, a place) would add thousands, each an entry in /indicator list.
MAX_NEW_INDICATORS = 100
RESTRICTED = (
    "This file has values for an indicator that is restricted to other channels, so it "
    "can't be imported from here. Type `/indicator import` in one of that indicator's "
    "channels and pick the file there. Nothing was imported."
)


class ImportRefused(Exception):
    """Nothing was written; the message (safe for Slack) says why and what to do."""


class PreviewChanged(ImportRefused):
    """Import found something other than what its preview showed (the file changed in Slack,
    or Change mapping read it anew meanwhile): nothing was written; preview it again."""


@dataclass(frozen=True)
class Uploader:
    """Who uploads, with their rights, and the conversation whose visibility applies (the DM the
    file was dropped in, or the channel where `/indicator import` was typed)."""

    team_id: str
    user_id: str
    is_admin: bool
    channel_id: str | None


@dataclass
class Preview:
    """What the preview message shows."""

    row_id: int
    file_name: str
    status: ImportStatus
    mapping: ImportMapping
    remembered: bool  # the mapping is the one remembered for this file's name
    # The mapping was given (Change mapping, a re-read), not remembered or guessed.
    chosen: bool = False
    columns: list[str] = field(default_factory=list)
    report: ImportReport | None = None
    refusal: str | None = None  # the importer's words (raw: the blocks make them safe)
    rights: str | None = None  # why this person may not import it (already safe)
    # How the mapping was found when it was not the usual way: the one remembered for the
    # file's name did not fit it, or the table is not on the first sheet (raw: blocks make safe).
    note: str | None = None

    @property
    def importable(self) -> bool:
        return self.status == ImportStatus.PREVIEWED and self.report is not None


@dataclass(frozen=True)
class Pending:
    """An upload waiting for a click: enough to download its file again."""

    row_id: int
    file_id: str
    file_name: str
    status: ImportStatus
    mapping: ImportMapping
    channel_id: str | None


@dataclass(frozen=True)
class Imported:
    row_id: int
    file_name: str
    added: int
    updated: int
    unchanged: int
    missing: int
    indicators: tuple[str, ...]
    at: datetime
    user_id: str | None
    already: bool = False  # a second click (or a job run again): nothing was written now


@dataclass(frozen=True)
class UpdatedBy:
    """The import behind an indicator's latest values: "updated by <@U> on …"."""

    via: str
    user_id: str | None
    at: datetime


class _AlreadyHandled(Exception):
    """Raised inside the import's transaction when another click got there first."""


# --- guessing a mapping ----------------------------------------------------------------------

INDICATOR_WORDS = ("indicator", "measure", "metric", "variable", "series", "topic")
PERIOD_WORDS = ("period", "date", "month", "week", "quarter", "time", "end", "year")
VALUE_WORDS = ("value", "count", "rate", "number", "total", "percent", "pct", "deaths", "amount")
DOUBTFUL_VALUE_WORDS = ("predicted", "lower", "upper", "ci", "standard", "error", "se", "flag")
ID_WORDS = ("fips", "id", "code", "zip", "year", "yr", "abbrev", "abbreviation", "rank")
PLACE_WORDS = (
    "geography",
    "state",
    "county",
    "place",
    "location",
    "jurisdiction",
    "region",
    "area",
    "city",
    "ward",
    "district",
    "neighborhood",
    "neighbourhood",
    "zip",
    "country",
)


def _words(name: str) -> set[str]:
    return set(re.findall(r"[a-z]+", name.casefold()))


def _values(rows: Sequence[dict[str, str]], column: str) -> list[str]:
    return [v for r in rows if (v := (r.get(column) or "").strip())]


def _without_notes(columns: Sequence[str], rows: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The sample without the notes below its table, left out as the importer leaves them out
    (`storage.importer`'s notes below): from the last row of data on, rows that are blank or
    hold a note (text that is no number, period or marker: `is_note`) alone in the first column.
    A footnote under a Month column would otherwise keep that column from being the period."""
    first = columns[0] if columns else None

    def blank(row: dict[str, str], skip: str | None = None) -> bool:
        return not any((row.get(c) or "").strip() for c in columns if c != skip)

    def note(row: dict[str, str]) -> bool:
        return first is not None and is_note((row.get(first) or "").strip()) and blank(row, first)

    end = len(rows)
    while end and (blank(rows[end - 1]) or note(rows[end - 1])):
        end -= 1
    if end == 0 or not any(note(row) for row in rows[end:]):
        return list(rows)
    return list(rows[:end])


def _periods(values: Sequence[str]) -> set[str] | None:
    """The distinct periods of a column, or None when some value is not a period."""
    found: set[str] = set()
    for value in values:
        try:
            found.add(parse_period(value).text)
        except PeriodError:
            return None
    return found


def guess_mapping(columns: Sequence[str], rows: Sequence[dict[str, str]]) -> ImportMapping:
    """A mapping for a file nobody has mapped yet, from its column names and first rows.

    The long format (`indicator`, `period`, `value` columns) needs none; otherwise: the period
    is the column whose every value is a period, the finest one (period_end's months over Year);
    the value the numeric column whose name sounds like one (not an id, a code or a year); the
    place the place-like column with the shortest values (State over State Name); the indicator
    a column named like one, else the value column's name ("naloxone_dispensing_rate" ->
    "Naloxone dispensing rate"). CDC's weekly tables: MMWR Year + MMWR Week are read as CDC
    weeks (Sunday to Saturday), and over a "Week Ending Date" beside them, which names each
    week by its last day. Notes below the table are left out first, as the importer leaves them
    out. A wrong guess is fixed with Change mapping."""
    rows = _without_notes(columns, rows)
    folded = {c.strip().casefold() for c in columns}
    if {"indicator", "period", "value"} <= folded:
        # The long format; its places may be in a column named otherwise than "geography"
        # (State, County…): without one, each place's values would be read as one series.
        place = None if "geography" in folded else _place_column(columns, rows, set())
        return ImportMapping(geography_column=place)
    used: set[str] = set()

    period_column: str | None = None
    best: tuple[int, int, int] | None = None
    for column in columns:
        values = _values(rows, column)
        found = _periods(values) if values else None
        if not found:
            continue
        words = _words(column)
        # Finest first; dates that end their weeks ("Week Ending Date") after ones that start
        # them (a period is stored by its first day); a name that says "period" or "date"
        # breaks ties.
        ends = names_an_end(column) and all(parse_period(v).grain == "day" for v in values)
        period_rank = (len(found), -int(ends), int(bool(words & {"period", "date", "end"})))
        if best is None or period_rank > best:
            period_column, best = column, period_rank
    period_columns: tuple[tuple[str, str], ...] = ()
    yearly = period_column is not None and all(
        parse_period(v).grain == "year" for v in _values(rows, period_column)
    )
    cdc_weeks = _cdc_week_columns(columns, rows)
    if cdc_weeks is not None:
        # MMWR Year + MMWR Week: the weeks CDC counted, Sunday to Saturday. Over a date column
        # beside them: a "Week Ending Date" (their Saturdays) would be stored as weeks starting
        # on those days, six days late.
        period_columns, period_column = cdc_weeks, None
    elif period_column is None or yearly:
        # Years beside a month, quarter or week column: the period is split over the two.
        year = next((c for c in columns if _words(c) & PART_WORDS["year"]), None)
        for part in ("month", "quarter", "week"):
            other = next((c for c in columns if c != year and _words(c) & PART_WORDS[part]), None)
            if year and other and (period_column is None or period_column == year):
                period_columns = (("year", year), (part, other))
                period_column = None
                break
        if period_column is None and not period_columns and year:
            period_column = year
    if period_column is None and not period_columns:
        # No column reads as periods: the one named like them all the same ("Date", "Month"),
        # so the refusal says why its values are not periods (Excel's day numbers, say), rather
        # than "has no column 'period'"
        named = {"date", "period", "time"} | PART_WORDS["month"] | PART_WORDS["week"]
        period_column = next((c for c in columns if _words(c) & named), None)
    used |= {c for _, c in period_columns} | ({period_column} if period_column else set())

    value_column: str | None = None
    value_rank: tuple[int, int] | None = None
    for position, column in enumerate(columns):
        if column in used:
            continue
        values = _values(rows, column)
        if not values or not all(reads_as_number(v) for v in values):
            continue
        words = _words(column)
        if words & set(ID_WORDS):
            continue
        if any(len(v) > 1 and v[0] == "0" and v[1].isdigit() for v in values):
            continue  # "01": a code, not a count
        score = 2 * int(bool(words & set(VALUE_WORDS))) - int(
            bool(words & set(DOUBTFUL_VALUE_WORDS))
        )
        rank = (score, -position)
        if value_rank is None or rank > value_rank:
            value_column, value_rank = column, rank
    if value_column is not None:
        used.add(value_column)

    indicator_column = next(
        (
            c
            for c in columns
            if c not in used and _words(c) & set(INDICATOR_WORDS) and _values(rows, c)
        ),
        None,
    )
    if indicator_column is not None:
        used.add(indicator_column)

    geography_column = _place_column(columns, rows, used)

    indicator = None
    if indicator_column is None and value_column is not None:
        indicator = _humane(value_column)
    return ImportMapping(
        indicator=indicator,
        indicator_column=indicator_column,
        period_column=period_column,
        value_column=value_column,
        geography_column=geography_column,
        period_columns=period_columns,
    )


def _cdc_week_columns(
    columns: Sequence[str], rows: Sequence[dict[str, str]]
) -> tuple[tuple[str, str], ...] | None:
    """A year and a week column, one of them named as CDC names them (MMWR Year + MMWR Week,
    epiyear + epiweek): the period as CDC (MMWR) weeks, or None."""
    years = [c for c in columns if _words(c) & PART_WORDS["year"]]
    weeks = [
        c
        for c in columns
        if c not in years
        and _words(c) & PART_WORDS["week"]
        and (values := _values(rows, c))
        and all(re.fullmatch(r"\d{1,2}(?:\.0+)?", v) for v in values)
    ]
    if not years or not weeks:
        return None
    year, week = max(years, key=names_cdc_weeks), max(weeks, key=names_cdc_weeks)
    if not (names_cdc_weeks(year) or names_cdc_weeks(week)):
        return None
    return (("year", year), (CDC_WEEK, week))


def _place_column(
    columns: Sequence[str], rows: Sequence[dict[str, str]], used: set[str]
) -> str | None:
    """The place-like column with the shortest values (State over State Name), or None."""
    places = [
        c
        for c in columns
        if c not in used
        and _words(c) & set(PLACE_WORDS)
        and not _words(c) & {"fips", "code", "id"}
        and _values(rows, c)
    ]
    if not places:
        return None
    return min(
        places,
        key=lambda c: (
            c.strip().casefold() != "geography",
            sum(map(len, _values(rows, c))) / max(1, len(_values(rows, c))),
        ),
    )


def _humane(column: str) -> str:
    """A column's name as an indicator's: "naloxone_dispensing_rate" -> "Naloxone dispensing rate"."""
    words = re.sub(r"[_\s]+", " ", column).strip()
    return (words[:1].upper() + words[1:])[:200] if words else column


def resolved(columns: Sequence[str], wanted: str | None, default: str | None) -> str | None:
    """The column the importer will read for `wanted` (or its default), matched as it matches
    them (exactly, else ignoring case); None when the file has none."""
    name = wanted or default
    if name is None:
        return None
    if name in columns:
        return name
    folded = [c for c in columns if c.strip().casefold() == name.strip().casefold()]
    return folded[0] if len(folded) == 1 else (name if wanted else None)


# --- preview ---------------------------------------------------------------------------------


def preview(
    sessions: sessionmaker[Session],
    *,
    uploader: Uploader,
    path: Path,
    file_id: str,
    now: datetime,
    time_zone: str,
    mapping: ImportMapping | None = None,
    row_id: int | None = None,
) -> Preview:
    """Read the file and say what Import would do, writing only the `imports` row.

    `mapping` (from Change mapping) is used as given; otherwise the one remembered for the
    file's name, else a guess. `row_id` re-previews an earlier upload of this person's."""
    name = path.name
    sha256 = file_sha256(path)
    remembered, chosen = False, mapping is not None
    if mapping is None:
        with sessions() as session:
            source = source_named(session, uploader.team_id, name)
            if source is not None and source.mapping:
                try:
                    mapping = ImportMapping.from_dict(dict(source.mapping))
                    remembered = True
                except (ImportError_, TypeError):
                    mapping = None
    columns: list[str] = []
    report: ImportReport | None = None
    refusal: str | None = None
    rights: str | None = None
    note: str | None = None

    def dry_run(mapping: ImportMapping) -> ImportReport:
        return import_file(
            sessions,
            team_id=uploader.team_id,
            path=path,
            mapping=mapping,
            now=now,
            time_zone=time_zone,
            dry_run=True,
            visible=lambda indicator: is_visible(indicator, uploader.channel_id),
        )

    try:
        try:
            columns, rows = file_sample(
                path,
                sheet=mapping.sheet if mapping else None,
                skip_rows=mapping.skip_rows if mapping else None,
            )
            missing = missing_column(mapping, columns) if remembered and mapping else None
        except ImportError_ as error:
            if not remembered:
                raise
            columns, rows = file_sample(path)  # (its sheet, or its lines above the header)
            missing = str(error)
        if missing is not None:
            # A name many files share ("export.csv", "Book1.xlsx"): another file's mapping.
            note = (
                f"The mapping remembered for files named {name} does not fit this one "
                f"({missing}), so it was read with a mapping guessed from its columns."
            )
            mapping, remembered = None, False
        guessed = mapping is None
        if mapping is None:
            mapping = guess_mapping(columns, rows)
        try:
            report = dry_run(mapping)
        except ImportError_ as error:
            found = _other_sheet(path, dry_run) if guessed and not mapping.sheet else None
            if found is None or isinstance(error, ImportHidden):
                raise
            mapping, columns, report, note = found
    except ImportHidden:  # refused before any check could quote the indicator's stored facts
        rights = RESTRICTED
    except ImportError_ as error:
        refusal = str(error)
    if mapping is None:
        mapping = ImportMapping()
    if report is not None:
        with sessions() as session:
            rights = rights_problem(session, uploader, report)
        if rights is None:
            refusal = too_many_new(report)
    status = (
        ImportStatus.PREVIEWED
        if report is not None and rights is None and refusal is None
        else ImportStatus.REFUSED
    )
    shown = report if rights is None else None  # a refused person sees no numbers at all
    with sessions.begin() as session:
        ensure_team(session, uploader.team_id, time_zone=time_zone, now=now)
        row = (
            session.get(DataImport, row_id, with_for_update=True, populate_existing=True)
            if row_id is not None
            else None
        )
        if row is not None and row.status in (ImportStatus.IMPORTED, ImportStatus.CANCELLED):
            # Imported or cancelled while this preview was being read: it stays what it is.
            done = "imported" if row.status == ImportStatus.IMPORTED else "cancelled"
            raise ImportRefused(
                f"{safe(row.file_name, 100)} was {done} meanwhile; to read it another way, "
                "upload it again."
            )
        if row is None or row.team_id != uploader.team_id:
            row = DataImport(
                team_id=uploader.team_id,
                via=VIA_SLACK,
                user_id=uploader.user_id,
                file_name=name[:300],
                file_id=file_id[:32],
                channel_id=(uploader.channel_id or "")[:32] or None,
                created_at=now,
            )
            session.add(row)
        row.status = status
        row.file_sha256 = sha256
        row.mapping = mapping.to_dict()
        row.indicators = [r.slug for r in shown.indicators] if shown else []
        row.added = shown.added if shown else 0
        row.updated = shown.updated if shown else 0
        row.unchanged = shown.unchanged if shown else 0
        row.missing = shown.missing if shown else 0
        session.flush()
        row_id = row.id
    return Preview(
        row_id=row_id,
        file_name=name,
        status=status,
        mapping=mapping,
        remembered=remembered,
        chosen=chosen,
        columns=columns,
        report=shown,
        refusal=refusal,
        rights=rights,
        note=note,
    )


MAX_SHEETS_TRIED = 10


def _other_sheet(
    path: Path, dry_run: Callable[[ImportMapping], ImportReport]
) -> tuple[ImportMapping, list[str], ImportReport, str] | None:
    """An Excel file whose default sheet (the one open when it was saved, else the first visible
    one) is a cover or notes sheet: the first other visible sheet whose
    guessed mapping reads (mapping, columns, what Import would do, a note), or None."""
    names = sheet_names(path)
    for sheet in names[1:MAX_SHEETS_TRIED]:
        try:
            columns, rows = file_sample(path, sheet=sheet)
            mapping = replace(guess_mapping(columns, rows), sheet=sheet)
            report = dry_run(mapping)
        except ImportHidden:
            raise
        except ImportError_:
            continue
        note = (
            f"The sheet read first, “{names[0]}”, holds no table I could read, so this is the sheet "
            f"“{sheet}”; Change mapping picks another."
        )
        return mapping, columns, report, note
    return None


def missing_column(mapping: ImportMapping, columns: Sequence[str]) -> str | None:
    """What a mapping names that the file's columns lack ("no column “YEAR”"), or None."""
    named = [
        mapping.indicator_column
        or (None if mapping.indicator or mapping.value_columns else "indicator"),
        None if mapping.period_columns else (mapping.period_column or "period"),
        None if mapping.value_columns else (mapping.value_column or "value"),
        mapping.geography_column,
        mapping.unit_column,
        mapping.county_fips_column,
        *(column for _, column in mapping.period_columns),
        *(column for column, _ in mapping.value_columns),
        *(column for column, _ in mapping.filters),
    ]
    folded = {c.strip().casefold() for c in columns}
    for column in named:
        if column is not None and column.strip().casefold() not in folded:
            return f"no column “{column}”"
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


def too_many_new(report: ImportReport) -> str | None:
    """Why a file that would add very many new indicators is not imported as it is (raw words:
    the blocks make them safe), or None."""
    new = [r.name for r in report.indicators if r.created]
    if len(new) <= MAX_NEW_INDICATORS:
        return None
    return (
        f"This file would add {len(new):,} new indicators ({', '.join(new[:3])}, …); one upload "
        f"adds at most {MAX_NEW_INDICATORS}. If its Indicator column was read wrongly, press "
        "Change mapping; a catalog that large is loaded with `commstat import`."
    )


def rights_problem(session: Session, uploader: Uploader, report: ImportReport) -> str | None:
    """Why this person may not import these indicators from here (safe words), or None."""
    slugs = [r.slug for r in report.indicators]
    known = {
        i.slug: i
        for i in session.scalars(
            select(Indicator).where(
                Indicator.team_id == uploader.team_id, Indicator.slug.in_(slugs)
            )
        )
    }
    new: list[str] = []
    hidden = 0
    others: list[str] = []
    for result in report.indicators:
        indicator = known.get(result.slug)
        if result.created or indicator is None:
            new.append(result.name)
        elif not is_visible(indicator, uploader.channel_id):
            hidden += 1
        elif not can_enter_data(indicator, uploader.user_id, uploader.is_admin):
            who = (
                f"its data steward {mention(indicator.steward_id)}"
                if indicator.steward_id
                else "a coalition admin (it has no data steward yet)"
            )
            others.append(f"{safe(indicator.name, 80)} ({who})")
    if hidden:
        return RESTRICTED
    problems: list[str] = []
    if others:
        listed = "; ".join(others[:10]) + (
            f"; and {len(others) - 10} more" if len(others) > 10 else ""
        )
        problems.append(
            "Only an indicator's data steward or a coalition admin can import its values. "
            f"This file has values for: {listed}."
        )
    if new and not uploader.is_admin and not _stewards_any(session, uploader):
        names = ", ".join(safe(n, 60) for n in new[:10]) + (
            f" and {len(new) - 10} more" if len(new) > 10 else ""
        )
        problems.append(
            "Only coalition admins and data stewards can add new indicators, and this file would "
            f"add {names}."
        )
    if not problems:
        return None
    return " ".join(problems) + " Nothing was imported."


def _stewards_any(session: Session, uploader: Uploader) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    Indicator.team_id == uploader.team_id,
                    Indicator.steward_id == uploader.user_id,
                )
            )
        )
    )


# --- the buttons -------------------------------------------------------------------------------


def pending(session: Session, uploader: Uploader, row_id: int) -> Pending:
    """The upload a button names, if it is this person's own; ImportRefused otherwise."""
    row = session.get(DataImport, row_id)
    if row is None or row.team_id != uploader.team_id or row.via != VIA_SLACK:
        raise ImportRefused("I can't find that upload any more. Upload the file again.")
    if row.user_id != uploader.user_id:
        raise ImportRefused(
            f"This is {mention(row.user_id or '')}'s upload; only they can import, change or "
            "cancel it. Nothing was changed."
        )
    if not row.file_id:
        raise ImportRefused("That upload has no file to read. Upload the file again.")
    try:
        mapping = ImportMapping.from_dict(dict(row.mapping or {}))
    except (ImportError_, TypeError):
        mapping = ImportMapping()
    return Pending(
        row_id=row.id,
        file_id=row.file_id,
        file_name=row.file_name,
        status=row.status,
        mapping=mapping,
        channel_id=row.channel_id,
    )


def finished(session: Session, uploader: Uploader, row_id: int) -> Imported | None:
    """The upload's result if it was imported already (a second click, a job run again)."""
    row = session.get(DataImport, row_id)
    if row is None or row.status != ImportStatus.IMPORTED or row.team_id != uploader.team_id:
        return None
    return _imported(row, already=True)


def _imported(row: DataImport, *, already: bool) -> Imported:
    return Imported(
        row_id=row.id,
        file_name=row.file_name,
        added=row.added,
        updated=row.updated,
        unchanged=row.unchanged,
        missing=row.missing,
        indicators=tuple(row.indicators or ()),
        at=row.finished_at or row.created_at,
        user_id=row.user_id,
        already=already,
    )


def run_import(
    sessions: sessionmaker[Session],
    *,
    uploader: Uploader,
    row_id: int,
    path: Path,
    now: datetime,
    time_zone: str,
) -> Imported:
    """Write the previewed file, once: the values, the row turned `imported`, each changed
    indicator's last import and the mapping remembered for the file's name, in one transaction.
    A second click finds the row imported and writes nothing."""
    with sessions() as session:
        upload = pending(session, uploader, row_id)
        done = finished(session, uploader, row_id)
    if done is not None:
        return done
    if upload.status == ImportStatus.CANCELLED:
        raise ImportRefused("This upload was cancelled; upload the file again to import it.")
    if upload.status != ImportStatus.PREVIEWED:
        raise ImportRefused(
            "This file can't be imported as it is: press Change mapping, or fix the file and "
            "upload it again. Nothing was imported."
        )
    mapping = upload.mapping
    uploader = replace(uploader, channel_id=upload.channel_id)  # visibility where it was previewed
    sha256 = file_sha256(path)

    def on_stored(session: Session, report: ImportReport) -> None:
        row = session.get(DataImport, row_id, with_for_update=True, populate_existing=True)
        if row is None or row.status != ImportStatus.PREVIEWED:
            raise _AlreadyHandled
        if row.file_sha256 not in (None, sha256):
            raise PreviewChanged(
                f"{safe(row.file_name, 100)} changed in Slack after its preview, so nothing was "
                "imported. Here is a new preview of what it holds now; press Import on it if "
                "it is right."
            )
        if row.mapping != mapping.to_dict():
            raise PreviewChanged(
                "The preview was read again (Change mapping) while you pressed Import, so "
                "nothing was imported. Press Import on the new preview if it is right."
            )
        if report.updated > row.updated:
            # Someone stored values of this file since its preview (another steward's upload,
            # `/indicator set`): Import would overwrite them unseen.
            raise PreviewChanged(
                f"Since the preview of {safe(row.file_name, 100)}, values it holds were stored "
                f"by someone else, so Import would now change {report.updated:,} stored "
                f"value{'' if report.updated == 1 else 's'}, not {row.updated:,}. Nothing was "
                "imported. Here is a new preview; press Import on it if it is right."
            )
        problem = rights_problem(session, uploader, report)
        if problem is not None:
            raise ImportRefused(problem)
        too_many = too_many_new(report)
        if too_many is not None:
            raise ImportRefused(safe(too_many))
        created = [r.slug for r in report.indicators if r.created]
        if created:
            for indicator in session.scalars(
                select(Indicator).where(
                    Indicator.team_id == uploader.team_id, Indicator.slug.in_(created)
                )
            ):
                if indicator.steward_id is None:
                    indicator.steward_id = uploader.user_id
        source = remember_source(session, uploader.team_id, path.name, mapping.to_dict(), now=now)
        row.source_id = source.id
        record_import(
            session,
            report,
            team_id=uploader.team_id,
            via=VIA_SLACK,
            now=now,
            mapping=mapping.to_dict(),
            user_id=uploader.user_id,
            row=row,
        )

    try:
        import_file(
            sessions,
            team_id=uploader.team_id,
            path=path,
            mapping=mapping,
            now=now,
            time_zone=time_zone,
            on_stored=on_stored,
            visible=lambda indicator: is_visible(indicator, uploader.channel_id),
        )
    except (_AlreadyHandled, ImportError_) as error:
        with sessions() as session:
            done = finished(session, uploader, row_id)
        if done is not None:
            return done
        if isinstance(error, _AlreadyHandled):
            raise ImportRefused(
                "This upload was cancelled; upload the file again to import it."
            ) from None
        if isinstance(error, ImportHidden):  # restricted since the preview
            raise ImportRefused(RESTRICTED) from None
        raise ImportRefused(
            f"Nothing was imported: {safe(str(error), 2500)}"
            if not str(error).startswith("Nothing was imported")
            else safe(str(error), 2500)
        ) from None
    with sessions() as session:
        row = session.get(DataImport, row_id)
        assert row is not None
        return _imported(row, already=False)


def cancel(session: Session, uploader: Uploader, row_id: int, *, now: datetime) -> tuple[str, bool]:
    """Cancel a preview (nothing was written, nothing will be): what to say, and whether the
    upload is cancelled now (False: it was imported, perhaps since the click was read)."""
    row = session.get(DataImport, row_id, with_for_update=True)
    pending(session, uploader, row_id)  # refuses someone else's
    assert row is not None
    if row.status == ImportStatus.IMPORTED:
        return "This file was already imported; Cancel changes nothing now.", False
    if row.status != ImportStatus.CANCELLED:
        row.status = ImportStatus.CANCELLED
        row.finished_at = now
    return f"Cancelled: nothing from {safe(row.file_name, 100)} was imported.", True


def mapping_from_form(
    *,
    indicator: str,
    indicator_column: str,
    period_columns: str,
    value_columns: str,
    geography_column: str,
    filters: str,
    sheet: str,
    skip_rows: str,
    unit: str,
) -> ImportMapping:
    """The Change mapping form's fields, read exactly as `commstat import`'s options are (one
    period or value column a line; `year=COL`, `COL=Indicator name` and `COL=VALUE` filters as on
    the command line). ImportError_ names the option that is wrong."""

    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]

    def one(text: str) -> str | None:
        return text.strip() or None

    skip: int | None = None
    if skip_rows.strip():
        try:
            skip = int(skip_rows.strip())
        except ValueError:
            raise ImportError_("--skip-rows needs a whole number of lines (0 or more).") from None
    periods = lines(period_columns)  # "mmwr week=COLUMN" as form_fields writes a CDC week
    values = lines(value_columns)
    return ImportMapping.from_options(
        indicator=one(indicator),
        indicator_column=one(indicator_column),
        period_column=periods if len(periods) > 1 else (periods[0] if periods else None),
        value_column=values if len(values) > 1 else (values[0] if values else None),
        geography_column=one(geography_column),
        filters=lines(filters),
        sheet=one(sheet),
        skip_rows=skip,
        unit=one(unit),
    )


def form_fields(mapping: ImportMapping) -> dict[str, str]:
    """A mapping as the Change mapping form's initial texts (the inverse of mapping_from_form)."""
    periods = [f"{part}={column}" for part, column in mapping.period_columns]
    if mapping.period_column:
        periods.insert(0, mapping.period_column)
    values = [f"{column}={name}" for column, name in mapping.value_columns]
    if mapping.value_column:
        values.insert(0, mapping.value_column)
    return {
        "indicator": mapping.indicator or "",
        "indicator_column": mapping.indicator_column or "",
        "period_columns": "\n".join(periods),
        "value_columns": "\n".join(values),
        "geography_column": mapping.geography_column or "",
        "filters": "\n".join(f"{c}={v}" for c, v in mapping.filters),
        "sheet": mapping.sheet or "",
        "skip_rows": "" if mapping.skip_rows is None else str(mapping.skip_rows),
        "unit": mapping.unit or "",
    }


# --- "updated by" -----------------------------------------------------------------------------


def updated_by(session: Session, indicator: Indicator) -> UpdatedBy | None:
    """Who (or what) last imported this indicator's values, and when."""
    row = last_import(session, indicator)
    if row is None or row.status != ImportStatus.IMPORTED:
        return None
    return UpdatedBy(via=row.via, user_id=row.user_id, at=row.finished_at or row.created_at)


def describe_mapping(mapping: ImportMapping, columns: Sequence[str]) -> list[tuple[str, str]]:
    """The mapping as the preview shows it, column names as the file has them (raw text: the
    blocks make it safe): [("Indicator", "column “Indicator”"), ("Period", …), …]."""

    def col(name: str | None) -> str:
        return f"column “{name}”" if name else "—"

    out: list[tuple[str, str]] = []
    if mapping.value_columns:
        out.append(("Indicators", "; ".join(f"“{c}” → {n}" for c, n in mapping.value_columns[:6])))
    elif mapping.indicator:
        out.append(("Indicator", f"every row is “{mapping.indicator}”"))
    else:
        out.append(("Indicator", col(resolved(columns, mapping.indicator_column, "indicator"))))
    if mapping.period_columns:
        parts = [
            ("MMWR week (Sunday to Saturday)" if part == CDC_WEEK else part, column)
            for part, column in mapping.period_columns
        ]
        out.append(("Period", " + ".join(f"{part} from “{c}”" for part, c in parts)))
    else:
        out.append(("Period", col(resolved(columns, mapping.period_column, "period"))))
    if not mapping.value_columns:
        out.append(("Value", col(resolved(columns, mapping.value_column, "value"))))
    place = resolved(columns, mapping.geography_column, "geography")
    out.append(("Place", col(place) if place else "none (one value per period)"))
    if mapping.filters:
        out.append(("Only rows", ", ".join(f"{c} = {v}" for c, v in mapping.filters[:6])))
    if mapping.sheet:
        out.append(("Sheet", mapping.sheet))
    if mapping.skip_rows:
        out.append(("Skipped lines", str(mapping.skip_rows)))
    if mapping.unit:
        out.append(("Unit", mapping.unit))
    return out


__all__ = [
    "ImportRefused",
    "ImportStatus",
    "Imported",
    "Pending",
    "Preview",
    "PreviewChanged",
    "UpdatedBy",
    "Uploader",
    "cancel",
    "describe_mapping",
    "finished",
    "form_fields",
    "guess_mapping",
    "mapping_from_form",
    "pending",
    "preview",
    "rights_problem",
    "run_import",
    "updated_by",
]
