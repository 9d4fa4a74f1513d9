"""`commstat export commitments`: every commitment as a table, for minutes and scorecards.

The rows stream: commitments, their owners and their events are three streamed queries read side
by side in commitment-id order (a merge join), so 100k commitments take seconds and little memory.
Commitment text and notes come from users, so every text cell that a spreadsheet would read as a
formula (=, +, -, @) is written with a leading apostrophe.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from bot.core.deadlines import deadline
from storage.models import (
    Commitment,
    CommitmentEvent,
    CommitmentOwner,
    CommitmentStatus,
    Indicator,
    Person,
)

COLUMNS = (
    "id",
    "commitment",
    "owners",
    "organisations",
    "creator",
    "channel",
    "created",
    "due",
    "due time",
    "status",
    "closed",
    "on time",
    "days late",
    "due date changes",
    "notes",
    "indicator",
)
WIDTHS = (7, 60, 30, 28, 22, 13, 12, 12, 9, 9, 12, 8, 9, 10, 60, 22)
DATE_COLUMNS = frozenset({"created", "due", "closed"})
NOTES_SHOWN = 3
BATCH = 1000
NOT_APPLICABLE = "—"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportError(Exception):
    """A refusal to show on the command line, as is."""


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    channel: str | None = None
    status: str = "all"


# --- options -----------------------------------------------------------------------------------

_ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_AGO = re.compile(r"^(?:last |past )?(\d{1,4}) (day|week|month|year)s?(?: ago)?$")
_PERIOD = re.compile(r"^(this|last) (week|month|quarter|year)$")
_UNITS = {"day": "days", "week": "weeks", "month": "months", "year": "years"}


def parse_period(text: str, *, today: date) -> tuple[date, date]:
    """A day or period as (first day, last day): `2026-10-01`, `2026-10`, `today`, `yesterday`,
    `30 days` / `last 30 days` / `30 days ago`, `this month`, `last month`, `last quarter`..."""
    phrase = " ".join(text.lower().split())
    if match := _ISO_DAY.match(phrase):
        try:
            day = date(*(int(part) for part in match.groups()))
        except ValueError:
            raise ExportError(f"{text!r} is not a real date.") from None
        return day, day
    if match := _ISO_MONTH.match(phrase):
        year, month = (int(part) for part in match.groups())
        if not 1 <= month <= 12:
            raise ExportError(f"{text!r} is not a real month.")
        first = date(year, month, 1)
        return first, first + relativedelta(months=1, days=-1)
    if phrase in ("today", "yesterday"):
        day = today - timedelta(days=1 if phrase == "yesterday" else 0)
        return day, day
    if match := _AGO.match(phrase):
        count, unit = int(match.group(1)), match.group(2)
        try:
            day = today - relativedelta(**{_UNITS[unit]: count})  # type: ignore[arg-type]
        except (OverflowError, ValueError):
            raise ExportError(f"{text!r} is too far back.") from None
        return day, day
    if match := _PERIOD.match(phrase):
        which, unit = match.groups()
        if unit == "week":
            first = today - timedelta(days=today.weekday())
            step = relativedelta(weeks=1)
        elif unit == "month":
            first = today.replace(day=1)
            step = relativedelta(months=1)
        elif unit == "quarter":
            first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
            step = relativedelta(months=3)
        else:
            first = date(today.year, 1, 1)
            step = relativedelta(years=1)
        if which == "last":
            first -= step
        return first, first + step - timedelta(days=1)
    raise ExportError(
        f"I can't read {text!r} as a date. Use 2026-10-01, 2026-10, today, yesterday, "
        "30 days, last month, this quarter or last year."
    )


def window(
    since: str | None, until: str | None, *, now: datetime, time_zone: str
) -> tuple[datetime | None, datetime | None]:
    """--since/--until as instants: from the start of `since`'s first day to the end of
    `until`'s last day, in the coalition's time zone."""
    zone = ZoneInfo(time_zone)
    today = now.astimezone(zone).date()
    start = end = None
    if since:
        first, _ = parse_period(since, today=today)
        start = datetime.combine(first, time(0), tzinfo=zone)
    if until:
        _, last = parse_period(until, today=today)
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    if start is not None and end is not None and start >= end:
        raise ExportError(f"--since {since} is after --until {until}: nothing could match.")
    return start, end


_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_CHANNEL_LINK = re.compile(r"^<#([CGD][A-Z0-9]{2,})(?:\|[^>]*)?>$")


def parse_channel(text: str) -> str:
    """A channel id (C0123ABCD) or Slack's link form <#C0123ABCD|name>."""
    raw = text.strip()
    if match := _CHANNEL_LINK.match(raw):
        return match.group(1)
    if _CHANNEL_ID.match(raw.upper()):
        return raw.upper()
    raise ExportError(
        f"--channel {text!r}: use the channel id, like C0123ABCD (in Slack: open the channel, "
        "click its name; the id is at the bottom of the About tab). Names can change; ids don't."
    )


# --- rows --------------------------------------------------------------------------------------


def neutralise(value: str) -> str:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _note_text(kind: str, detail: dict[str, Any]) -> str | None:
    if kind == "noted":
        return str(detail.get("note") or "") or None
    if kind == "done" and detail.get("note"):
        return f"Done: {detail['note']}"
    if kind == "dropped" and detail.get("reason"):
        return f"Dropped: {detail['reason']}"
    return None


def _conditions(team_id: str, filters: Filters) -> list[Any]:
    conditions: list[Any] = [Commitment.team_id == team_id]
    if filters.status != "all":
        conditions.append(Commitment.status == CommitmentStatus(filters.status))
    if filters.channel:
        conditions.append(Commitment.channel_id == filters.channel)
    if filters.since is not None or filters.until is not None:
        # Everything a meeting would discuss: made, due or closed in the period.
        def within(column: Any) -> Any:
            parts = []
            if filters.since is not None:
                parts.append(column >= filters.since)
            if filters.until is not None:
                parts.append(column < filters.until)
            return and_(*parts)

        conditions.append(
            or_(
                within(Commitment.created_at),
                within(Commitment.due_at),
                within(Commitment.closed_at),
            )
        )
    return conditions


class _Follow:
    """A stream of rows sorted by commitment id, taken one commitment at a time (a merge join:
    owners and events are read in one pass beside the commitments, never one query each)."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self._rows = iter(rows)
        self._next = next(self._rows, None)

    def take(self, commitment_id: int) -> list[Any]:
        taken = []
        while self._next is not None and self._next[0] <= commitment_id:
            if self._next[0] == commitment_id:
                taken.append(self._next)
            self._next = next(self._rows, None)
        return taken


def export_rows(
    session: Session,
    *,
    team_id: str,
    filters: Filters,
    now: datetime,
    notes_shown: int = NOTES_SHOWN,
) -> Iterator[list[Any]]:
    """One list per commitment, in COLUMNS order (dates as `date`, numbers as `int`), by id.

    Five queries whatever the number of rows; the three big ones stream (`yield_per`), so
    memory stays flat. The caller keeps `session` open while it consumes the rows.
    """
    people: dict[str, str] = {}  # user id -> "maria (U0MARIA)"
    people_orgs: dict[str, str] = {}
    for user, name, org in session.execute(
        select(Person.user_id, Person.display_name, Person.organisation).where(
            Person.team_id == team_id
        )
    ):
        people[user] = f"{name} ({user})" if name else user
        if org and org.strip():
            people_orgs[user] = org.strip()
    indicators: dict[int, str] = {
        indicator_id: name
        for indicator_id, name in session.execute(
            select(Indicator.id, Indicator.name).where(Indicator.team_id == team_id)
        )
    }
    conditions = _conditions(team_id, filters)
    stream = {"yield_per": BATCH}
    connection = session.connection()  # Core rows: no ORM bookkeeping per row
    commitments = connection.execute(
        select(
            Commitment.id,
            Commitment.text,
            Commitment.status,
            Commitment.due_at,
            Commitment.due_has_time,
            Commitment.time_zone,
            Commitment.created_at,
            Commitment.closed_at,
            Commitment.creator_id,
            Commitment.channel_id,
            Commitment.indicator_id,
        )
        .where(*conditions)
        .order_by(Commitment.id)
        .execution_options(**stream)
    )
    owners = _Follow(
        connection.execute(
            select(CommitmentOwner.commitment_id, CommitmentOwner.user_id)
            .join(Commitment, Commitment.id == CommitmentOwner.commitment_id)
            .where(*conditions)
            .order_by(CommitmentOwner.commitment_id, CommitmentOwner.position)
            .execution_options(**stream)
        )
    )
    events = _Follow(
        connection.execute(
            select(CommitmentEvent.commitment_id, CommitmentEvent.kind, CommitmentEvent.detail)
            .join(Commitment, Commitment.id == CommitmentEvent.commitment_id)
            .where(*conditions, CommitmentEvent.kind.in_(("moved", "noted", "done", "dropped")))
            .order_by(CommitmentEvent.commitment_id, CommitmentEvent.id)
            .execution_options(**stream)
        )
    )
    local = _Localiser(now)
    for row in commitments:
        (id_, text, status, due_at, has_time, zone_name, created_at, closed_at) = row[:8]
        (creator_id, channel_id, indicator_id) = row[8:]
        moves = 0
        notes: list[str] = []
        for _, kind, detail in events.take(id_):
            if kind == "moved":
                moves += 1
            elif note := _note_text(kind, detail or {}):
                notes.append(note)
        owner_ids = [user for _, user in owners.take(id_)]
        zone = local.zone(zone_name)
        due_day = due_at.astimezone(zone).date()
        closed_day = closed_at.astimezone(zone).date() if closed_at is not None else None
        on_time = NOT_APPLICABLE
        late: int | None = None
        if status == CommitmentStatus.DONE and closed_at is not None and closed_day is not None:
            in_time = closed_at <= deadline(due_at, has_time=has_time, time_zone=zone_name)
            on_time = "yes" if in_time else "no"
            late = 0 if in_time else max((closed_day - due_day).days, 0)
        elif status == CommitmentStatus.OPEN and now > deadline(
            due_at, has_time=has_time, time_zone=zone_name
        ):
            late = (local.today(zone_name) - due_day).days
        organisations = dict.fromkeys(org for user in owner_ids if (org := people_orgs.get(user)))
        yield [
            id_,
            neutralise(text),
            neutralise("; ".join(people.get(user, user) for user in owner_ids)),
            neutralise("; ".join(organisations)),
            neutralise(people.get(creator_id, creator_id)),
            channel_id or "",
            created_at.astimezone(zone).date(),
            due_day,
            due_at.astimezone(zone).strftime("%H:%M") if has_time else "",
            status.value,
            closed_day,
            on_time,
            late,
            moves,
            neutralise(_notes_text(notes, notes_shown)),
            neutralise(indicators.get(indicator_id, "")) if indicator_id is not None else "",
        ]


class _Localiser:
    """Time zones and "today" per zone, looked up once per export rather than once per row."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._zones: dict[str, ZoneInfo] = {}
        self._today: dict[str, date] = {}

    def zone(self, name: str) -> ZoneInfo:
        if name not in self._zones:
            self._zones[name] = ZoneInfo(name)
        return self._zones[name]

    def today(self, name: str) -> date:
        if name not in self._today:
            self._today[name] = self._now.astimezone(self.zone(name)).date()
        return self._today[name]


def _notes_text(notes: list[str], shown: int) -> str:
    """The last `shown` notes, oldest first, saying how many earlier ones were left out."""
    last = notes[-shown:] if shown else []
    text = " | ".join(last)
    earlier = len(notes) - len(last)
    if earlier:
        text = f"({earlier} earlier note{'s' if earlier != 1 else ''}) {text}".rstrip()
    return text


# --- writers -----------------------------------------------------------------------------------


def write_csv(rows: Iterator[list[Any]], stream: IO[str]) -> int:
    """RFC 4180 CSV; the caller opens `stream` with newline="" (and a BOM for Excel).

    The csv module writes None as an empty cell and a date as ISO 8601 (`str(date)`).
    """
    writer = csv.writer(stream)
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def write_xlsx(
    rows: Iterator[list[Any]], target: IO[bytes] | Path, *, title: str = "Commitments"
) -> int:
    """An Excel workbook: styled, frozen header, column widths, an autofilter, real dates.

    Written in openpyxl's write-only mode, which streams rows instead of holding a sheet in memory.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"  # the header on every printed page of a scorecard
    header = []
    for name in COLUMNS:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1D3557")
        cell.alignment = Alignment(vertical="center")
        header.append(cell)
    sheet.append(header)
    date_index = [i for i, name in enumerate(COLUMNS) if name in DATE_COLUMNS]
    count = 0
    for row in rows:
        values: list[Any] = []
        for value in row:
            if isinstance(value, str):
                # Control characters are illegal in the file format; a cell holds 32,767 at most.
                value = ILLEGAL_CHARACTERS_RE.sub("", value)[:32_000]
            values.append(value)
        for i in date_index:
            if values[i] is not None:
                cell = WriteOnlyCell(sheet, value=values[i])
                cell.number_format = "yyyy-mm-dd"
                values[i] = cell
        sheet.append(values)
        count += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{count + 1}"
    book.save(target)
    return count


def write_atomically(path: Path, write: Callable[[IO[Any]], int], *, binary: bool) -> int:
    """Write through a temporary file beside `path`, so a failure never leaves half a file."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        if binary:
            with os.fdopen(handle, "wb") as binary_stream:
                count = write(binary_stream)
        else:
            with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as text_stream:
                count = write(text_stream)
        os.chmod(temp, _file_mode(path))  # mkstemp makes it private; give it a normal file's
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return count


def _file_mode(path: Path) -> int:
    """The mode an overwritten file had, else what a new file gets under the current umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
