"""The importer's Excel reader: a workbook (.xlsx, .xlsm) streamed with limits, so that a small
file cannot take the machine.

A workbook is a zip of XML parts. pandas' `read_excel` (through openpyxl) built a dense table of
the size a sheet declares, so one stray cell at XFD1048576 asked for 17 billion cells; and the
XML parser held any text whole, so a 1.5 MB file holding one 1.5 GB string cost gigabytes before
anything looked at it. Here:

- the zip's directory is checked before anything is unpacked: how many parts, how large each
  unpacks (a part that claims less than it holds fails its checksum when read), and how much it
  was compressed (text compressed more than MAX_RATIO to 1 is a zip bomb, not data);
- each part the reader needs (content types, workbook, its relationships, styles, shared strings
  and the one sheet) is parsed by expat one event at a time, never as a tree: no DTD or entity is
  accepted, no tag or run of text may exceed MAX_TAG_BYTES before the parser sees it, and no
  cell's text may exceed Excel's own limit of 32,767 characters;
- only the cells that are there are visited (never the declared `dimension`), only the wanted
  columns are kept, and repeated texts are kept once. Row and column numbers beyond Excel's grid
  and sheets of more than MAX_CELLS cells (or MAX_KEPT_CHARS of different texts in the columns
  read) are refused.

What it reports instead of guessing: cells with a value to the right of the header's last named
column (`outside`), and formulas saved without a calculated value (`uncalculated`: a program that
writes formulas without computing them leaves the value unknown, which is not "missing").

Big sheets (FAST_FROM_BYTES of XML or more) are read by calamine (Rust, python-calamine), ~5-10
times faster, but only after one pass over the raw XML (zlib and byte counts, no parser) has
checked the same limits and found nothing calamine would read differently or blow up on: no DTD,
formula without its value, phonetic run, `_xHHHH_` escape, possibly over-long text, cell without
its reference, and no cell right of row 1's last cell or far enough down that calamine's dense
table (first to last cell) would exceed MAX_CELLS. calamine aborts the process, rather than
failing, on a value at XFD1048576; such a value is found by its column letters and refused
before calamine is called. Anything else unusual goes to the exact reader.

Cell values become the texts pandas would have given the importer (numbers as `5` or `12.5`,
dates as `2025-01-31 00:00:00`, error cells and pandas' NA words such as `NULL` as blank), so
files that imported before import the same. Three things are read as Excel shows them, not as
pandas read them (each stored a wrong number without a word):

- a number formatted as a percentage (`0.0%`: a `%` outside quotes, or built-in formats 9 and 10)
  is the number shown: 0.873 shown as 87.3% is `87.3`, and `Cells.notes` says so;
- a merged range's value (kept in its top-left cell only) is every cell's of the range, in the
  rows that hold a value of their own (a row that holds only a merged copy is not a row of data),
  and across a header row that has two names of its own (a title merged across the page is a
  title, and stays one cell);
- with no sheet named, the sheet read is the one open when the file was saved (`activeTab`) or
  else the first one not hidden, never a hidden one; `Cells.notes` names it when there are others.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from xml.parsers import expat

import numpy as np
import python_calamine as calamine
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.cell import get_column_letter
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel
from openpyxl.utils.datetime import from_ISO8601 as from_iso8601

EXCEL_ROWS = 1_048_576  # Excel's grid: a row or column beyond it is not from a spreadsheet
EXCEL_COLUMNS = 16_384
MAX_CELL_CHARS = 32_767  # Excel's own limit on a cell's text
MAX_PARTS = 10_000  # files in the zip
MAX_PART_BYTES = 2 << 30  # any one part, unpacked (a sheet of a million rows is ~1 GB)
MAX_TOTAL_BYTES = 4 << 30  # all parts, unpacked
MAX_SMALL_PART_BYTES = 32 << 20  # content types, workbook, relationships, styles
MAX_SHARED_STRINGS_BYTES = 128 << 20
MAX_SHARED_STRINGS = 2_000_000
MAX_RATIO = 200  # unpacked/packed for parts over RATIO_FROM; spreadsheets are ~5-30 to 1
RATIO_FROM = 16 << 20
MAX_CELLS = 20_000_000  # cells present in the sheet (a million rows of 20 columns)
MAX_KEPT_CHARS = 256 << 20  # distinct texts kept from the columns read (each kept once)
MAX_TAG_BYTES = 2 << 20  # between two `<`: what expat may have to hold at once
CHUNK_BYTES = 1 << 20
# Sheets whose XML is at least this big are read by calamine (Rust) when a scan of the raw XML
# finds nothing that needs the exact reader; smaller ones the exact reader reads in a second.
FAST_FROM_BYTES = 8 << 20
MAX_MERGES = 250_000  # merged ranges in one sheet (a publisher's table has a few hundred)
MAX_MERGE_SPANS = 2_000_000  # (range, column read) pairs: what filling merged cells may cost

# What pandas' read_excel read as NaN by default: these texts were blank to the importer.
NA_TEXTS = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)

_WORKBOOK_TYPES = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
)
_SHARED_STRINGS_TYPE = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)
_STYLES_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
_MAX_SHOWN = 20  # cells listed in `outside` and `uncalculated` (all are counted)
# What the scan before calamine looks for in the raw XML.
_ESCAPE = re.compile(rb"_x[0-9A-Fa-f]{4}_")  # Excel's escaped characters: the exact reader's way
_REF_LETTERS = re.compile(rb'<c r="([A-Za-z]*)')
_REF_ROW = re.compile(rb'<c r="[A-Za-z]*([0-9]+)')
_REF_FAR_ROW = re.compile(rb'<c r="[A-Za-z]*([0-9]{7,})')  # row 1,000,000 or more
_FIRST_ROW = re.compile(rb'<row r="1"[ >].*?</row>', re.DOTALL)
_KIND = re.compile(rb'\bt="([A-Za-z]+)"')
_VALUE = re.compile(rb"<v>([^<]*)</v>")
_TEXT = re.compile(rb"<t(?:\s[^>]*)?>([^<]*)</t>")
_FORMULA_WITHOUT_VALUE = re.compile(rb"(?:</f>|<f\b[^>]*/>)(?!<v>[^<])")
_MERGE = re.compile(
    rb'<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref="\s*([A-Za-z]{1,3})([0-9]{1,7})'
    rb':([A-Za-z]{1,3})([0-9]{1,7})\s*"'
)
# A number format's parts that show no `%` sign of a percentage: quoted text, an escaped
# character, `_x` (a space as wide as x), `*x` (x repeated to fill) and [colour/locale] codes.
_FORMAT_LITERALS = re.compile(r'"[^"]*"?|\\.|_.|\*.|\[[^\]]*\]?')


class SpreadsheetError(Exception):
    """The workbook cannot be read safely or at all; the message says why, in one paragraph."""


class _Done(Exception):
    """Stop parsing: enough has been read."""


@dataclass
class Cells:
    """What a read found: the header, the rows with a value in a kept column, and problems."""

    header: list[str]  # the header row's texts (row 1 unless told), up to its last non-blank cell
    rows: list[int] = field(default_factory=list)  # spreadsheet row numbers, ascending
    columns: dict[int, list[str]] = field(default_factory=dict)  # column (1-based) -> texts
    outside: list[tuple[int, int]] = field(default_factory=list)  # (row, column), first ones
    outside_count: int = 0
    uncalculated: list[tuple[int, int]] = field(default_factory=list)
    uncalculated_count: int = 0
    # column -> (cells formatted as percentages read in it, the first one's row): see `notes`
    percent: dict[int, tuple[int, int]] = field(default_factory=dict)
    # how the sheet was read, when it is not plain (raw text: the caller makes it safe)
    notes: list[str] = field(default_factory=list)


def cell_name(row: int, column: int) -> str:
    """`C7`, as a spreadsheet names a cell."""
    return f"{get_column_letter(column)}{row}"


def column_name(column: int) -> str:
    return str(get_column_letter(column))


def _size(count: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,} bytes"


def cell_text(value: Any) -> str:
    """A cell's value as the text a CSV would have held (and pandas would have given)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ""
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def is_percent_format(code: str) -> bool:
    """Whether a number format shows a number as a percentage (`0.0%`, `0%;-0%`), as Excel
    does: a `%` outside quoted text (`0.0"%"` shows a number with a % sign after it, unscaled)."""
    return "%" in _FORMAT_LITERALS.sub("", code)


def _percent_text(number: float) -> str:
    """A number formatted as a percentage, as Excel shows it: 0.873 -> `87.3` (the decimal point
    moved, so no binary rounding is added: 0.873 * 100 is 87.30000000000001)."""
    try:
        return cell_text(float(Decimal(repr(number)).scaleb(2)))
    except (InvalidOperation, ValueError, OverflowError):
        return cell_text(number)


def _too_many_cells(file: str) -> str:
    return (
        f"{file} has more than {MAX_CELLS:,} cells in this sheet, more than I import at once. "
        "Split it, or save the columns you need as CSV and import that. Nothing was imported."
    )


def _too_many_texts(file: str) -> str:
    return (
        f"{file} holds more than {MAX_KEPT_CHARS >> 20:,} million characters of different texts "
        "in the columns read, more than an indicator file needs. Nothing was imported."
    )


def _letters_column(letters: bytes) -> int:
    """`AB` -> 28; anything that is not one to three letters -> beyond the grid."""
    if not 1 <= len(letters) <= 3 or not letters.isalpha():
        return EXCEL_COLUMNS + 1
    column = 0
    for letter in letters.upper():
        column = column * 26 + letter - 64
    return column


def _calamine_text(value: Any) -> str:
    """A value calamine read, as the text `_Sheet._value` gives the same cell."""
    if isinstance(value, str):
        return "" if value in NA_TEXTS else value
    if isinstance(value, datetime):
        return cell_text(value)
    if isinstance(value, date):  # a date-styled whole day: openpyxl's from_excel gives midnight
        return cell_text(datetime(value.year, value.month, value.day))
    return cell_text(value)


@dataclass
class _Scanned:
    exact: bool = False  # something only the exact reader handles
    root: bytes = b""  # the start of the part's first element


@dataclass
class _Plan:
    part: str
    exact: bool
    sheet: Any = None  # calamine's loaded sheet
    outside: tuple[int, list[tuple[int, int]]] | None = None  # values right of the header
    percent: dict[int, array[int]] = field(default_factory=dict)  # column -> rows, numbers


class Workbook:
    """An open .xlsx file, checked; `read` reads one of its sheets."""

    def __init__(self, path: Path) -> None:
        self.file = path.name
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise SpreadsheetError(
                f"{self.file} is not a readable Excel file ({exc}); save it again as .xlsx."
            ) from None
        self.parts = {info.filename: info for info in self.zip.infolist()}
        try:
            self._check_directory()
            types = _ContentTypes()
            self._parse("[Content_Types].xml", types, limit=MAX_SMALL_PART_BYTES)
            workbook_part = next(
                (p for t in _WORKBOOK_TYPES for p, pt in types.overrides.items() if pt == t),
                "xl/workbook.xml",
            )
            book = _WorkbookPart()
            self._parse(workbook_part, book, limit=MAX_SMALL_PART_BYTES)
            rels = _Relationships()
            rels_part = posixpath.join(
                posixpath.dirname(workbook_part),
                "_rels",
                posixpath.basename(workbook_part) + ".rels",
            )
            self._parse(rels_part, rels, limit=MAX_SMALL_PART_BYTES)
            self.epoch = CALENDAR_MAC_1904 if book.date1904 else CALENDAR_WINDOWS_1900
            self.sheets: list[tuple[str, str]] = []  # (name, part) of each worksheet, in order
            self.hidden: list[tuple[str, str]] = []  # those hidden (or "very hidden")
            active: tuple[str, str] | None = None  # the sheet open when the file was saved
            for index, (name, rel_id, state) in enumerate(book.sheets):
                target, kind = rels.targets.get(rel_id, ("", ""))
                if not kind.endswith("/worksheet"):
                    continue  # a chart sheet, or a broken reference: no cells
                part = _resolve(workbook_part, target)
                if part in self.parts:
                    self.sheets.append((name, part))
                    if state.strip().lower() in ("hidden", "veryhidden"):
                        self.hidden.append((name, part))
                    elif index == book.active:
                        active = (name, part)
            visible = [s for s in self.sheets if s not in self.hidden]
            # Read when no sheet is named: never a hidden one (a publisher's previous release).
            self.default = active or (visible[0] if visible else None)
            self.default_is_active = active is not None
            styles = _Styles()
            styles_part = next(
                (p for p, t in types.overrides.items() if t == _STYLES_TYPE), "xl/styles.xml"
            )
            if styles_part in self.parts:
                self._parse(styles_part, styles, limit=MAX_SMALL_PART_BYTES)
            self.dates, self.durations = styles.date_styles()
            self.percents = styles.percent_styles()
            strings_part = next(
                (p for p, t in types.overrides.items() if t == _SHARED_STRINGS_TYPE), None
            )
            self.strings_part = strings_part if strings_part in self.parts else None
            self._strings: list[str] | None = None  # parsed when the exact reader needs them
            self._plans: dict[str, _Plan] = {}
            self._merged: dict[str, list[tuple[int, int, int, int]]] = {}  # part -> merges
            # Shared strings calamine may not read as the exact reader does: parsed now (and
            # refused now, as before, if they must be); they also keep calamine off every sheet.
            self.strings_exact = self.strings_part is not None and self._scan_strings().exact
            if self.strings_exact:
                self._strings = self._parse_strings()
        except BaseException:
            self.zip.close()
            raise

    @property
    def strings(self) -> list[str]:
        """The shared strings, parsed by expat with every limit (on first use)."""
        if self._strings is None:
            self._strings = self._parse_strings()
        return self._strings

    def _parse_strings(self) -> list[str]:
        if self.strings_part is None:
            return []
        table = _SharedStrings(self.file)
        self._parse(self.strings_part, table, limit=MAX_SHARED_STRINGS_BYTES)
        return table.strings

    @property
    def sheet_names(self) -> list[str]:
        """The worksheets not hidden: the one read when none is named first, then the others
        in order (hidden ones are read only when named: `has_sheet`)."""
        shown = [name for name, part in self.sheets if (name, part) not in self.hidden]
        if self.default is not None and self.default[0] in shown:
            shown.remove(self.default[0])
            shown.insert(0, self.default[0])
        return shown

    def has_sheet(self, name: str) -> bool:
        """Whether the workbook has a worksheet `name`, hidden or not."""
        return any(sheet == name for sheet, _ in self.sheets)

    def close(self) -> None:
        self.zip.close()
        for plan in self._plans.values():
            plan.sheet = None
        if self._calamine is not None:
            self._calamine.close()
            self._calamine = None

    _calamine: Any = None

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def read(
        self,
        sheet: str | None,
        *,
        columns: set[int] | None = None,
        last_row: int | None = None,
        header_row: int = 1,
    ) -> Cells:
        """Row `header_row` as the header (the rows above it are titles and notes, not read),
        then the rows up to `last_row` (all if None): the texts of `columns` (1-based), or of
        every column of the header when None. `Cells.notes` says which sheet was read (when
        none is named and there are others) and which percentages were read as shown."""
        part = self._part(sheet)
        cells = self._read(part, columns, last_row, header_row)
        if sheet is None and len(self.sheets) > 1:
            cells.notes.append(self._sheet_note())
        for column, (count, row) in sorted(cells.percent.items()):
            cells.notes.append(_percent_note(cells, column, count, row))
        return cells

    def _read(
        self, part: str, columns: set[int] | None, last_row: int | None, header_row: int
    ) -> Cells:
        # calamine's checks (the header's width, cells right of it) are made on row 1: a table
        # below title lines is read by the exact reader, which knows its header row.
        if header_row == 1:
            plan = self._plans.get(part)
            if plan is None:
                plan = self._plans[part] = self._plan(part)
            if not plan.exact:
                return self._read_fast(plan, columns, last_row)
            if plan.outside is not None and last_row is None:
                cells = self._exact(part, columns, 1).cells  # the header; the rest is refused
                cells.outside_count, cells.outside = plan.outside
                return cells
        return self._exact(part, columns, last_row, header_row).cells

    def _sheet_note(self) -> str:
        """Which sheet was read, with no sheet named, and which were not (raw text)."""
        assert self.default is not None
        name = self.default[0]
        if self.sheets[0] == self.default:
            why = "the first sheet"
        elif self.default_is_active:
            why = "the sheet open when the file was saved"
        else:
            why = "the first sheet not hidden"
        others = [
            f"“{_clipped(n)}”" + (" (hidden)" if (n, p) in self.hidden else "")
            for n, p in self.sheets
            if (n, p) != self.default
        ]
        more = f" and {len(others) - 6:,} more" if len(others) > 6 else ""
        return (
            f"Read the sheet “{_clipped(name)}” ({why}); not read: {', '.join(others[:6])}{more}."
        )

    # --- the fast path: calamine, after a scan of the raw XML -----------------------------------

    def _scan(self, name: str, limit: int, scan: Callable[[bytes], None]) -> _Scanned:
        """Stream part `name` once (zlib, no XML parser), refusing as `_parse` does a part over
        `limit` or a tag or text of over MAX_TAG_BYTES, and noting what only the exact reader
        handles: a DTD, entity or CDATA (`<!`), a text that may be over MAX_CELL_CHARS, phonetic
        runs, `_xHHHH_` escapes, or a root element with a namespace prefix. `scan` sees each piece
        (whole tags only: a piece ends just before its last `<`)."""
        info = self.parts[name]
        if info.file_size > limit:
            self._parse(name, _Handler(), limit=limit)  # refuses, with _parse's message
        found = _Scanned()
        carry = b""
        since_tag = 0
        try:
            with self.zip.open(info) as source:
                while chunk := source.read(CHUNK_BYTES):
                    first = chunk.find(b"<")
                    since_tag += len(chunk) if first < 0 else first
                    if since_tag > MAX_TAG_BYTES:
                        self._parse(name, _Handler(), limit=limit)  # refuses, as it streams
                        found.exact = True
                        return found
                    if first >= 0:
                        since_tag = len(chunk) - chunk.rfind(b"<") - 1
                    data = carry + chunk
                    cut = data.rfind(b"<")
                    piece, carry = (data[:cut], data[cut:]) if cut > 0 else (b"", data)
                    if not found.root:
                        start = data.find(b"<", data.find(b"?>") + 1 if b"<?" in data[:5] else 0)
                        found.root = data[start + 1 : start + 40]
                        if b":" in found.root.split(b" ", 1)[0]:
                            found.exact = True
                    if piece:
                        self._look(piece, found)
                        scan(piece)
                if carry:
                    self._look(carry, found)
                    scan(carry)
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError):
            found.exact = True  # the exact reader says what is broken
        return found

    @staticmethod
    def _look(piece: bytes, found: _Scanned) -> None:
        if b"<!" in piece or b"<rPh" in piece or _ESCAPE.search(piece):
            found.exact = True
        marks = np.flatnonzero(np.frombuffer(piece, dtype=np.uint8) == 60)  # every `<`
        if len(marks) and (
            int(marks[0]) > MAX_CELL_CHARS or int(np.diff(marks).max(initial=0)) > MAX_CELL_CHARS
        ):
            found.exact = True  # a text that may be over Excel's limit: counted exactly

    def _scan_strings(self) -> _Scanned:
        assert self.strings_part is not None
        count = 0

        def scan(piece: bytes) -> None:
            nonlocal count
            count += piece.count(b"<si>") + piece.count(b"<si ") + piece.count(b"<si/>")

        found = self._scan(self.strings_part, MAX_SHARED_STRINGS_BYTES, scan)
        if count > MAX_SHARED_STRINGS:
            found.exact = True
        return found

    def _plan(self, part: str) -> _Plan:
        """Whether calamine may read this sheet: only when nothing in it needs the exact reader
        and no cell lies where calamine's dense table would grow beyond MAX_CELLS."""
        if calamine is None or self.parts[part].file_size < FAST_FROM_BYTES:
            return _Plan(part, exact=True)
        if self.strings_exact:
            return _Plan(part, exact=True)
        width = 0  # the last column row 1 has a cell in: no cell may lie to the right of it
        letters: set[bytes] = set()
        far: list[bytes] = []
        cells = refs = odd = formulas = 0
        merges: list[tuple[int, int, int, int]] = []
        percent: dict[int, array[int]] = {}
        find_percent = self._percent_finder(percent)

        def scan(piece: bytes) -> None:
            nonlocal cells, refs, odd, formulas, width
            if b"mergeCell" in piece:
                _find_merges(piece, merges, self.file)
            if find_percent is not None:
                find_percent(piece)
            if not cells:
                first = _FIRST_ROW.search(piece)
                if first is not None:
                    width = max(
                        map(_letters_column, _REF_LETTERS.findall(first.group())), default=0
                    )
            cells += piece.count(b"<c ") + piece.count(b"<c>") + piece.count(b"<c/>")
            odd += piece.count(b"<c\t") + piece.count(b"<c\n") + piece.count(b"<c\r")
            refs += piece.count(b'<c r="')
            letters.update(_REF_LETTERS.findall(piece))
            far.extend(_REF_FAR_ROW.findall(piece))
            if b"<f" in piece:
                formulas += len(_FORMULA_WITHOUT_VALUE.findall(piece))

        found = self._scan(part, MAX_PART_BYTES, scan)
        if cells > MAX_CELLS:
            raise SpreadsheetError(_too_many_cells(self.file))
        self._merged[part] = merges
        columns = [_letters_column(text) for text in letters]
        widest = max(columns, default=0)
        rows = max((int(digits) for digits in far), default=0)
        exact = (
            found.exact
            or not found.root.startswith(b"worksheet")
            or odd > 0
            or cells != refs
            or formulas > 0
            or widest > width
            or widest > EXCEL_COLUMNS
            or rows > EXCEL_ROWS
        )
        beyond = {t for t, c in zip(letters, columns, strict=True) if width < c <= EXCEL_COLUMNS}
        if exact and widest > width and beyond and len(beyond) <= 100:
            # Cells right of the header in a big sheet: found by their column letters, so a stray
            # value at XFD1048576 is refused without reading the sheet cell by cell.
            outside = self._outside(part, beyond)
            if outside is not None and outside[0]:
                return _Plan(part, exact=True, outside=outside)
        if not exact and max(width, 1) * EXCEL_ROWS > MAX_CELLS:
            # A wide header: how far down do cells go? (The dense table is rows x columns.)
            last = self._last_row(part)
            exact = last < 0 or last * width > MAX_CELLS
        return _Plan(part, exact=exact, percent=percent)

    def _percent_finder(self, into: dict[int, array[int]]) -> Callable[[bytes], None] | None:
        """For the scan before calamine (which reads no number formats): a function noting, per
        column, the rows of the numbers in cells formatted as percentages; None if the workbook
        has no such format."""
        if not self.percents:
            return None
        styles = sorted(self.percents)
        pattern = re.compile(
            rb'<c r="([A-Za-z]{1,3})([0-9]{1,7})"([^>]*?\ss="(?:'
            + b"|".join(str(s).encode() for s in styles)
            + rb')"[^>]*)'
        )
        marks = [b' s="%d"' % s for s in styles] if len(styles) <= 16 else []

        def find(piece: bytes) -> None:
            if marks and not any(mark in piece for mark in marks):
                return
            for letters, row, attrs in pattern.findall(piece):
                kind = _KIND.search(attrs)
                if kind is None or kind.group(1) == b"n":
                    column = _letters_column(letters)
                    rows = into.get(column)
                    if rows is None:
                        rows = into[column] = array("l")
                    rows.append(int(row))

        return find

    def _merges(self, part: str) -> list[tuple[int, int, int, int]]:
        """The sheet's merged ranges (top, left, bottom, right), from its raw XML: they are
        written after the rows, and are needed as the rows are read."""
        found = self._merged.get(part)
        if found is None:
            merges: list[tuple[int, int, int, int]] = []

            def scan(piece: bytes) -> None:
                if b"mergeCell" in piece:
                    _find_merges(piece, merges, self.file)

            self._scan(part, MAX_PART_BYTES, scan)
            found = self._merged[part] = merges
        return found

    def _outside(self, part: str, beyond: set[bytes]) -> tuple[int, list[tuple[int, int]]] | None:
        """The cells in the columns `beyond` that hold a value (as `_Sheet` decides it), counted,
        the first listed; None if the scan cannot tell."""
        pattern = re.compile(
            rb'<c r="('
            + b"|".join(re.escape(t) for t in sorted(beyond, key=len, reverse=True))
            + rb')([0-9]+)"([^>]*?)(?:/>|>(.*?)</c>)',
            re.DOTALL,
        )
        count = 0
        first: list[tuple[int, int]] = []

        def scan(piece: bytes) -> None:
            nonlocal count
            for match in pattern.finditer(piece):
                letters, row, attrs, inner = match.groups()
                if inner and self._holds_value(attrs, inner):
                    count += 1
                    if len(first) < _MAX_SHOWN:
                        first.append((int(row), _letters_column(letters)))

        found = self._scan(part, MAX_PART_BYTES, scan)
        return None if found.exact else (count, first)

    def _holds_value(self, attrs: bytes, inner: bytes) -> bool:
        kind = _KIND.search(attrs)
        kind_text = kind.group(1) if kind else b"n"
        if kind_text == b"e":
            return False  # an error cell is blank to the importer
        texts = b"".join(_TEXT.findall(inner)) if kind_text == b"inlineStr" else b""
        value = _VALUE.search(inner)
        raw = (texts or (value.group(1) if value else b"")).decode("utf-8", "replace")
        if kind_text == b"s":
            try:
                raw = self.strings[int(raw)]
            except (ValueError, IndexError):
                return True  # broken: the exact reader would refuse the file anyway
        return bool(raw) and raw not in NA_TEXTS

    def _last_row(self, part: str) -> int:
        last = 0

        def scan(piece: bytes) -> None:
            nonlocal last
            rows = _REF_ROW.findall(piece)
            if rows:
                last = max(last, max(int(r) for r in rows))

        found = self._scan(part, MAX_PART_BYTES, scan)
        return -1 if found.exact else last

    def filled(self, sheet: str | None, last_row: int) -> dict[int, int]:
        """How many cells hold a value in each of the rows 1 to `last_row` that has any: where a
        table's header stands below title lines (read exactly, stopping at `last_row`)."""
        handler = _Filled(self, last_row)
        self._parse(self._part(sheet), handler, limit=MAX_PART_BYTES)
        return handler.filled

    def _part(self, sheet: str | None) -> str:
        if not self.sheets:
            raise SpreadsheetError(f"{self.file} has no worksheet with cells.")
        if sheet is not None:  # a visible sheet of that name first (names are unique in Excel)
            named = [p for n, p in self.sheets if n == sheet]
            if not named:
                raise SpreadsheetError(f"{self.file} has no sheet “{_clipped(sheet)}”.")
            return next((p for p in named if (sheet, p) not in self.hidden), named[0])
        if self.default is None:
            names = ", ".join(f"“{_clipped(n)}”" for n, _ in self.hidden[:6])
            raise SpreadsheetError(
                f"Every worksheet of {self.file} is hidden ({names}), so I don't know which one "
                "to read. Name the sheet to read, or show it in Excel and save the file again. "
                "Nothing was imported."
            )
        return self.default[1]

    def _exact(
        self, part: str, columns: set[int] | None, last_row: int | None, header_row: int = 1
    ) -> _Sheet:
        merges = self._merges(part)
        handler = (
            _MergedSheet(self, columns, last_row, header_row, merges)
            if merges
            else _Sheet(self, columns, last_row, header_row)
        )
        self._parse(part, handler, limit=MAX_PART_BYTES)
        handler.finish()
        return handler

    def _read_fast(self, plan: _Plan, columns: set[int] | None, last_row: int | None) -> Cells:
        """The sheet through calamine (loaded once per workbook and sheet), as `_Sheet` gives it."""
        if plan.sheet is None:
            try:
                if self._calamine is None:
                    self._calamine = calamine.CalamineWorkbook.from_path(self.path)
                name = next(n for n, p in self.sheets if p == plan.part)
                plan.sheet = self._calamine.get_sheet_by_name(name)
            except Exception as exc:  # calamine's own errors: say the file is unreadable
                raise SpreadsheetError(
                    f"{self.file} is not a readable Excel file ({str(exc)[:200]}); save it "
                    "again as .xlsx."
                ) from None
        sheet = plan.sheet
        top, left = sheet.start or (0, 0)
        texts: dict[tuple[type, Any], str] = {}  # each distinct value's text, worked out once
        kept = 0

        def text(value: Any) -> str:
            nonlocal kept
            known = texts[(type(value), value)] = _calamine_text(value)
            kept += len(known)
            if kept > MAX_KEPT_CHARS:
                raise SpreadsheetError(_too_many_texts(self.file))
            return known

        rows_iter = sheet.iter_rows()
        header: dict[int, str] = {}
        first_row = top + 1
        merges = sorted(self._merges(plan.part))
        anchors: dict[tuple[int, int], str] = {}  # a merged range's top left cell -> its text
        if first_row == 1:
            raw: list[Any] = next(rows_iter, [])
            header = {
                left + i + 1: self._fast_text(plan, 1, left + i + 1, v) for i, v in enumerate(raw)
            }
            first_row = 2
            if merges:
                anchors.update(((1, c), header.get(c, "")) for t, c, _, _ in merges if t == 1)
                _fill_header(header, merges, anchors)
        named = [c for c, t in header.items() if t]
        width = max(named, default=0)
        result = Cells(header=[header.get(c, "") for c in range(1, width + 1)])
        wanted = set(range(1, width + 1)) if columns is None else set(columns)
        keep = sorted(c for c in wanted if c <= width)
        result.columns = {c: [] for c in keep}
        positions = [(c, c - left - 1) for c in keep]  # (a position < 0: left of the range)
        outside_from = max(width - left, 0)  # list positions to the right of the header
        kept_columns = [result.columns[c] for c, _ in positions]
        by_column = _by_column(merges, keep, self.file) if merges else {}
        later = {a for ranges in by_column.values() for _, _, a in ranges if a[0] >= first_row}
        if later:
            rows_iter = self._anchored(plan, rows_iter, first_row, left, later, anchors)
        for number, raw in enumerate(rows_iter, start=first_row):
            if last_row is not None and number > last_row:
                break
            values = []
            any_text = False
            for _, at in positions:
                value = raw[at] if 0 <= at < len(raw) else ""
                if value == "" or value is None:
                    values.append("")
                    continue
                cell = texts.get((type(value), value))
                if cell is None:
                    cell = text(value)
                values.append(cell)
                any_text = any_text or bool(cell)
            if any_text:
                result.rows.append(number)
                for column, cell in zip(kept_columns, values, strict=True):
                    column.append(cell)
            if len(raw) > outside_from:
                for at in range(outside_from, len(raw)):
                    value = raw[at]
                    if value != "" and _calamine_text(value):
                        result.outside_count += 1
                        if len(result.outside) < _MAX_SHOWN:
                            result.outside.append((number, left + at + 1))
        if plan.percent:
            _shift_percent(result, plan.percent)
        if by_column:
            _fill_rows(result, by_column, anchors)
        return result

    def _fast_text(self, plan: _Plan, row: int, column: int, value: Any) -> str:
        """A cell's text as `_Sheet._value` gives it, for the few cells read one by one."""
        percent = plan.percent.get(column)
        if percent and isinstance(value, int | float) and not isinstance(value, bool):
            at = bisect_left(percent, row)
            if at < len(percent) and percent[at] == row:
                return _percent_text(value)
        return _calamine_text(value)

    def _anchored(
        self,
        plan: _Plan,
        rows: Any,
        first_row: int,
        left: int,
        cells: set[tuple[int, int]],
        anchors: dict[tuple[int, int], str],
    ) -> Any:
        """calamine's rows, unchanged, noting the text of the merged ranges' top left `cells`
        as they go by (in any column: a range may reach into the columns read)."""
        wanted: dict[int, list[int]] = {}
        for top, column in cells:
            wanted.setdefault(top, []).append(column)
        for number, raw in enumerate(rows, start=first_row):
            for column in wanted.get(number, ()):
                at = column - left - 1
                value = raw[at] if 0 <= at < len(raw) else ""
                anchors[(number, column)] = self._fast_text(plan, number, column, value)
            yield raw

    # --- parsing parts ---------------------------------------------------------------------------

    def _check_directory(self) -> None:
        infos = self.zip.infolist()
        if len(infos) > MAX_PARTS:
            raise SpreadsheetError(
                f"{self.file} holds {len(infos):,} files inside; a workbook has a few dozen. "
                "It is not a spreadsheet I can open. Nothing was imported."
            )
        total = sum(info.file_size for info in infos)
        if total > MAX_TOTAL_BYTES:
            raise SpreadsheetError(
                f"{self.file} unpacks to {_size(total)}, more than the {_size(MAX_TOTAL_BYTES)} "
                "a workbook may take here. Save the columns you need as CSV and import that. "
                "Nothing was imported."
            )
        for info in infos:
            if info.file_size > MAX_PART_BYTES:
                raise SpreadsheetError(
                    f"{self.file}: its part {info.filename} unpacks to {_size(info.file_size)}, "
                    f"more than the {_size(MAX_PART_BYTES)} a sheet may take here. Save the "
                    "columns you need as CSV and import that. Nothing was imported."
                )
            packed = max(info.compress_size, 1)
            if info.file_size > RATIO_FROM and info.file_size > MAX_RATIO * packed:
                raise SpreadsheetError(
                    f"{self.file} is not a spreadsheet I can safely open: its part "
                    f"{info.filename} unpacks from {_size(info.compress_size)} to "
                    f"{_size(info.file_size)} ({info.file_size // packed:,} to 1), the mark of a "
                    "zip bomb, not of data. Nothing was imported."
                )

    def _parse(self, name: str, handler: _Handler, *, limit: int) -> None:
        info = self.parts.get(name)
        if info is None:
            raise SpreadsheetError(
                f"{self.file} is not a readable Excel file (it has no {name}); save it again "
                "as .xlsx."
            )
        if info.file_size > limit:
            raise SpreadsheetError(
                f"{self.file}: its part {name} unpacks to {_size(info.file_size)}, more than the "
                f"{_size(limit)} it may take here. Save the columns you need as CSV and import "
                "that. Nothing was imported."
            )
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.buffer_size = 1 << 16
        parser.StartDoctypeDeclHandler = self._refuse_dtd
        parser.EntityDeclHandler = self._refuse_dtd
        parser.StartElementHandler = handler.start
        parser.EndElementHandler = handler.end
        parser.CharacterDataHandler = handler.text
        since_tag = 0  # bytes since the last `<`
        try:
            with self.zip.open(info) as source:
                while chunk := source.read(CHUNK_BYTES):
                    first = chunk.find(b"<")
                    if first < 0:
                        since_tag += len(chunk)
                    else:
                        since_tag += first
                    if since_tag > MAX_TAG_BYTES:
                        raise SpreadsheetError(
                            f"{self.file}: its part {name} holds a tag or a text of over "
                            f"{_size(MAX_TAG_BYTES)} in one piece (a cell holds at most "
                            f"{MAX_CELL_CHARS:,} characters), so it is not a spreadsheet I can "
                            "safely read. Nothing was imported."
                        )
                    if first >= 0:
                        since_tag = len(chunk) - chunk.rfind(b"<") - 1
                    parser.Parse(chunk, False)
                parser.Parse(b"", True)
        except _Done:
            pass
        except expat.ExpatError as exc:
            raise SpreadsheetError(
                f"{self.file} is not a readable Excel file (its part {name} is broken: "
                f"{expat.ErrorString(exc.code)} at line {exc.lineno}); save it again as .xlsx."
            ) from None
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
            raise SpreadsheetError(
                f"{self.file} is not a readable Excel file (its part {name} is damaged: {exc}); "
                "save it again as .xlsx."
            ) from None

    def _refuse_dtd(self, *_: Any) -> None:
        raise SpreadsheetError(
            f"{self.file} declares XML entities (a DTD), which a spreadsheet never does; it is "
            "not a file I can safely read. Nothing was imported."
        )


def _find_merges(piece: bytes, into: list[tuple[int, int, int, int]], file: str) -> None:
    """The merged ranges `<mergeCell ref="A2:A4"/>` in a piece of a sheet's XML, as (top, left,
    bottom, right); a range of one cell, or beyond Excel's grid, is left out."""
    for first, top, last, bottom in _MERGE.findall(piece):
        rows = sorted((int(top), int(bottom)))
        columns = sorted((_letters_column(first), _letters_column(last)))
        if rows[0] < 1 or rows[1] > EXCEL_ROWS or columns[1] > EXCEL_COLUMNS:
            continue
        if rows[0] == rows[1] and columns[0] == columns[1]:
            continue
        into.append((rows[0], columns[0], rows[1], columns[1]))
        if len(into) > MAX_MERGES:
            raise SpreadsheetError(_too_many_merges(file))


def _too_many_merges(file: str) -> str:
    return (
        f"{file} has more merged cells in this sheet than a table needs (more than {MAX_MERGES:,} "
        f"ranges, or ranges over more than {MAX_MERGE_SPANS:,} columns of those read). Unmerge "
        "them, or save the columns you need as CSV, and import that. Nothing was imported."
    )


def _fill_header(
    header: dict[int, str],
    merges: list[tuple[int, int, int, int]],
    anchors: dict[tuple[int, int], str],
    row: int = 1,
) -> None:
    """A header row's merged cells named as their range's top left cell, when the row has two
    names of its own (a title merged across the page is one cell: the header is below it).
    Excel never saves ranges that overlap; in a file that has them, the leftmost counts."""
    if sum(1 for text in header.values() if text) < 2:
        return
    edge = 0
    for left, top, _, right in sorted(
        (left, top, bottom, right) for top, left, bottom, right in merges if top <= row <= bottom
    ):
        if left <= edge:
            continue
        edge = right
        text = anchors.get((top, left), "")
        if text:
            for column in range(left, right + 1):
                header[column] = text


Ranges = dict[int, list[tuple[int, int, tuple[int, int]]]]


def _by_column(merges: list[tuple[int, int, int, int]], keep: Iterable[int], file: str) -> Ranges:
    """Per column read, the merged ranges over it: (top row, bottom row, top left cell), by
    top row. Excel never saves ranges that overlap; in a file that has them, the one above
    counts, so filling a column costs at most one pass down it."""
    columns = sorted(keep)
    spans = sum(bisect_right(columns, b) - bisect_left(columns, a) for _, a, _, b in merges)
    if spans > MAX_MERGE_SPANS:
        raise SpreadsheetError(_too_many_merges(file))
    found: Ranges = {}
    for top, left, bottom, right in sorted(merges):
        for column in columns[bisect_left(columns, left) : bisect_right(columns, right)]:
            ranges = found.setdefault(column, [])
            if not ranges or ranges[-1][1] < top:
                ranges.append((top, bottom, (top, left)))
    return found


def _fill_rows(cells: Cells, by_column: Ranges, anchors: dict[tuple[int, int], str]) -> None:
    """Each merged range's text in the cells it covers, in the columns and rows read (the rows
    with a value of their own), as `_MergedSheet` fills them while reading."""
    rows = cells.rows
    for column, ranges in by_column.items():
        texts = cells.columns[column]
        for top, bottom, anchor in ranges:
            text = anchors.get(anchor, "")
            first, last = bisect_left(rows, top), bisect_right(rows, bottom)
            if text and first < last:
                texts[first:last] = [text] * (last - first)


def _shift_percent(cells: Cells, percent: dict[int, array[int]]) -> None:
    """calamine's numbers in cells formatted as percentages, as Excel shows them (87.3 for
    0.873), counted per column for `Cells.notes`."""
    rows = cells.rows
    shown: dict[str, str | None] = {}  # each distinct text's, worked out once
    for column, texts in cells.columns.items():
        found = percent.get(column)
        if not found:
            continue
        count = first = 0
        for row in found:
            at = bisect_left(rows, row)
            if at == len(rows) or rows[at] != row or not texts[at]:
                continue
            text = texts[at]
            if text not in shown:
                try:
                    shown[text] = _percent_text(float(text))
                except ValueError:
                    shown[text] = None
            new = shown[text]
            if new is None:
                continue
            texts[at] = new
            count += 1
            first = first or row
        if count:
            cells.percent[column] = (count, first)


def _clipped(name: str) -> str:
    """A sheet's name as a note quotes it (Excel allows 31 characters; a file may say more)."""
    return name if len(name) <= 40 else name[:39] + "…"


def _percent_note(cells: Cells, column: int, count: int, row: int) -> str:
    """That a column's percentages were read as Excel shows them (raw text)."""
    name = cells.header[column - 1] if column <= len(cells.header) else ""
    label = f"“{_clipped(name)}”" if name else column_name(column)
    at = bisect_left(cells.rows, row)
    shown = cells.columns[column][at] if at < len(cells.rows) else ""
    try:
        fraction = cell_text(float(Decimal(shown).scaleb(-2)))
    except (InvalidOperation, ValueError, OverflowError):
        fraction = "a hundredth of it"
    cells_word = "1 cell" if count == 1 else f"{count:,} cells"
    return (
        f"Column {label} is formatted as percentages in Excel ({cells_word}): read as Excel shows "
        f"them, {shown}% as {shown} (not {fraction})."
    )


def _resolve(source: str, target: str) -> str:
    """A relationship's target as a path in the zip."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


_LOCAL: dict[str, str] = {}


def _local(name: str) -> str:
    """`c` of `http://…/main c`: elements are matched by local name, whatever the namespace."""
    local = _LOCAL.get(name)
    if local is None:
        local = _LOCAL[name] = name[name.rfind(" ") + 1 :]
    return local


class _Handler:
    def start(self, name: str, attrs: dict[str, str]) -> None:
        pass

    def end(self, name: str) -> None:
        pass

    def text(self, data: str) -> None:
        pass


class _ContentTypes(_Handler):
    def __init__(self) -> None:
        self.overrides: dict[str, str] = {}

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if _local(name) == "Override" and "PartName" in attrs:
            self.overrides[attrs["PartName"].lstrip("/")] = attrs.get("ContentType", "")


class _WorkbookPart(_Handler):
    def __init__(self) -> None:
        self.sheets: list[tuple[str, str, str]] = []  # (name, relationship id, state)
        self.date1904 = False
        self.active: int | None = None  # the first window's open tab (a position in `sheets`)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "workbookPr":
            self.date1904 = attrs.get("date1904", "").strip().lower() in ("1", "true")
        elif local == "sheet":
            rel_id = next((v for k, v in attrs.items() if k.endswith(" id")), "")
            self.sheets.append((attrs.get("name", ""), rel_id, attrs.get("state", "")))
        elif local == "workbookView" and self.active is None:
            tab = attrs.get("activeTab", "0").strip()
            self.active = int(tab) if tab.isascii() and tab.isdigit() and len(tab) < 7 else 0


class _Relationships(_Handler):
    def __init__(self) -> None:
        self.targets: dict[str, tuple[str, str]] = {}  # id -> (target, type)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if _local(name) == "Relationship" and attrs.get("TargetMode") != "External":
            self.targets[attrs.get("Id", "")] = (attrs.get("Target", ""), attrs.get("Type", ""))


class _Styles(_Handler):
    """Which cell styles show a number as a date (or a duration), as openpyxl decides it."""

    def __init__(self) -> None:
        self.custom: dict[int, str] = {}
        self.formats: list[int] = []  # per cell style (cellXfs), its number format id
        self.in_cell_xfs = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "numFmt":
            number_format = attrs.get("numFmtId", "")
            if number_format.isdigit():
                self.custom[int(number_format)] = attrs.get("formatCode", "")
        elif local == "cellXfs":
            self.in_cell_xfs = True
        elif local == "xf" and self.in_cell_xfs:
            try:
                self.formats.append(int(attrs.get("numFmtId", "0")))
            except ValueError:
                self.formats.append(0)

    def end(self, name: str) -> None:
        if _local(name) == "cellXfs":
            self.in_cell_xfs = False

    def percent_styles(self) -> frozenset[int]:
        """The cell styles that show a number as a percentage (87.3% for 0.873)."""
        found = set()
        for style, number_format in enumerate(self.formats):
            code = self.custom.get(number_format, BUILTIN_FORMATS.get(number_format))
            if code is not None and is_percent_format(code) and not is_date_format(code):
                found.add(style)
        return frozenset(found)

    def date_styles(self) -> tuple[frozenset[int], frozenset[int]]:
        dates, durations = set(), set()
        for style, number_format in enumerate(self.formats):
            code = self.custom.get(number_format, BUILTIN_FORMATS.get(number_format))
            if code is not None and is_date_format(code):
                dates.add(style)
            if code is not None and is_timedelta_format(code):
                durations.add(style)
        return frozenset(dates), frozenset(durations)


class _SharedStrings(_Handler):
    """The workbook's table of texts (cells of type `s` point into it), as openpyxl reads it:
    the `t` texts of each `si`, phonetic runs (`rPh`) left out."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.strings: list[str] = []
        self.parts: list[str] = []
        self.length = 0
        self.in_si = False
        self.phonetic = 0
        self.collecting = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "si":
            self.in_si, self.parts, self.length = True, [], 0
        elif local == "t" and self.in_si and not self.phonetic:
            self.collecting = True
        elif local == "rPh":
            self.phonetic += 1

    def end(self, name: str) -> None:
        local = _local(name)
        if local == "t":
            self.collecting = False
        elif local == "rPh":
            self.phonetic -= 1
        elif local == "si":
            self.in_si = False
            if len(self.strings) >= MAX_SHARED_STRINGS:
                raise SpreadsheetError(
                    f"{self.file} has more than {MAX_SHARED_STRINGS:,} different texts; that is "
                    "more than a sheet this importer reads can hold. Save the columns you need "
                    "as CSV and import that. Nothing was imported."
                )
            self.strings.append("".join(self.parts).replace("x005F_", ""))

    def text(self, data: str) -> None:
        if self.collecting:
            self.length += len(data)
            if self.length > MAX_CELL_CHARS:
                raise SpreadsheetError(
                    f"{self.file} holds a text of more than {MAX_CELL_CHARS:,} characters, more "
                    "than an Excel cell can hold, so it is not a spreadsheet I can read safely. "
                    "Nothing was imported."
                )
            self.parts.append(data)


class _Sheet(_Handler):
    """One worksheet, event by event; see `Workbook.read`."""

    def __init__(
        self, book: Workbook, columns: set[int] | None, last_row: int | None, header_row: int = 1
    ) -> None:
        self.book = book
        self.header_row = header_row  # the rows above it are skipped
        self.file = book.file
        self.strings = book.strings
        self.dates = book.dates
        self.durations = book.durations
        self.percents = book.percents
        self.wanted = columns
        self.last_row = last_row
        self.keep: set[int] = set()  # set when the header is known
        self.header: dict[int, str] | None = {}  # None once the header row is over
        self.cells = Cells(header=[])
        self.seen: dict[str, str] = {}  # each distinct text kept once
        self.kept = 0  # characters in `seen`
        self.row = 0
        self.column = 0
        self.count = 0
        self.current: dict[int, str] = {}
        self.kind = "n"
        self.style = 0
        self.formula = False
        self.value: list[str] = []
        self.inline: list[str] = []
        self.target: list[str] | None = None  # where text goes while inside <v> or <is><t>
        self.length = 0
        self.in_inline = False
        self.phonetic = 0
        self.columns_by_letters: dict[str, int] = {}

    # expat calls these once per tag: keep them short.
    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = _LOCAL.get(name) or _local(name)
        if local == "c":
            self._cell(attrs)
        elif local == "v":
            self.target, self.length = self.value, 0
        elif local == "row":
            self._row(attrs)
        elif local == "f":
            self.formula = True
        elif local == "is":
            self.in_inline = True
        elif local == "t":
            if self.in_inline and not self.phonetic:
                self.target = self.inline
        elif local == "rPh":
            self.phonetic += 1

    def end(self, name: str) -> None:
        local = _LOCAL.get(name) or _local(name)
        if local == "c":
            self._cell_end()
        elif local == "v" or local == "t":
            self.target = None
        elif local == "row":
            self._row_end()
        elif local == "is":
            self.in_inline = False
        elif local == "rPh":
            self.phonetic -= 1

    def text(self, data: str) -> None:
        if self.target is not None:
            self.length += len(data)
            if self.length > MAX_CELL_CHARS:
                raise SpreadsheetError(
                    f"{self.file}: cell {cell_name(self.row, self.column)} holds more than "
                    f"{MAX_CELL_CHARS:,} characters, more than an Excel cell can hold, so it is "
                    "not a spreadsheet I can read safely. Nothing was imported."
                )
            self.target.append(data)

    # --- rows and cells ----------------------------------------------------------------------

    def _row(self, attrs: dict[str, str]) -> None:
        text = attrs.get("r")
        try:
            number = int(text) if text else self.row + 1
        except ValueError:
            number = -1
        if number <= self.row or number > EXCEL_ROWS:
            if 0 < number <= self.row:
                problem = f"row {number:,} comes after row {self.row:,}"
            else:
                problem = f"it names a row '{text}', which no spreadsheet has"
            raise SpreadsheetError(
                f"{self.file} is not a readable Excel file ({problem}); save it again as .xlsx."
            )
        if self.header is not None and number > self.header_row:
            self._header_done()
        if self.last_row is not None and number > self.last_row:
            raise _Done
        self.row, self.column = number, 0

    def _row_end(self) -> None:
        if self.row == self.header_row:
            self._header_done()
        elif self.current:
            cells = self.cells
            cells.rows.append(self.row)
            for column in self.keep:
                cells.columns[column].append(self.current.get(column, ""))
            self.current = {}

    def _cell(self, attrs: dict[str, str]) -> None:
        reference = attrs.get("r")
        if reference:
            letters = reference.rstrip("0123456789")
            column = self.columns_by_letters.get(letters)
            if column is None:
                column = self._column_of(letters, reference)
        else:
            column = self.column + 1
        if column > EXCEL_COLUMNS:
            raise SpreadsheetError(
                f"{self.file} is not a readable Excel file (a cell in row {self.row:,} lies beyond "
                "the last column of any spreadsheet, XFD); save it again as .xlsx."
            )
        self.column = column
        self.count += 1
        if self.count > MAX_CELLS:
            raise SpreadsheetError(_too_many_cells(self.file))
        self.kind = attrs.get("t", "n")
        style = attrs.get("s")
        self.style = int(style) if style and style.isdigit() else 0
        self.formula = False
        self.value = []
        self.inline = []
        self.length = 0

    def _column_of(self, letters: str, reference: str) -> int:
        if not letters or len(letters) > 3 or not letters.isalpha() or not letters.isascii():
            raise SpreadsheetError(
                f"{self.file} is not a readable Excel file (a cell is named '{reference[:20]}'); "
                "save it again as .xlsx."
            )
        column = 0
        for letter in letters.upper():
            column = column * 26 + ord(letter) - 64
        self.columns_by_letters[letters] = column
        return column

    def _cell_end(self) -> None:
        row, column = self.row, self.column
        if self.header is not None:  # the column names, or a title line above them
            if row == self.header_row:
                self.header[column] = self._value()
                if self.formula and not self._has_value():
                    self._uncalculated(row, column)
            return
        if column in self.keep:
            text = self._value()
            if text:
                kept = self.seen.get(text)
                if kept is None:
                    kept = self.seen[text] = text
                    self.kept += len(text)
                    if self.kept > MAX_KEPT_CHARS:
                        raise SpreadsheetError(_too_many_texts(self.file))
                self.current[column] = kept
            if self.formula and not self._has_value():
                self._uncalculated(row, column)
        elif column > len(self.cells.header) and self._has_value() and self._value():
            cells = self.cells
            cells.outside_count += 1
            if len(cells.outside) < _MAX_SHOWN:
                cells.outside.append((row, column))

    def _has_value(self) -> bool:
        if self.kind == "inlineStr":
            return bool(self.inline)
        return bool(self.value) or self.kind == "str"  # a formula's empty text is a value

    def _uncalculated(self, row: int, column: int) -> None:
        cells = self.cells
        cells.uncalculated_count += 1
        if len(cells.uncalculated) < _MAX_SHOWN:
            cells.uncalculated.append((row, column))

    def _value(self) -> str:
        """The cell's text, as pandas' read_excel would have given it to the importer."""
        kind = self.kind
        if kind == "inlineStr":
            text = "".join(self.inline)
            return "" if text in NA_TEXTS else text
        raw = "".join(self.value)
        if not raw:
            return ""
        if kind == "n":
            try:
                number: int | float = (
                    float(raw) if "." in raw or "e" in raw or "E" in raw else int(raw)
                )
            except ValueError:
                return raw  # not a number after all: the importer says so
            if self.style in self.dates:
                try:
                    moment = from_excel(
                        number, self.book.epoch, timedelta=self.style in self.durations
                    )
                except (OverflowError, ValueError):
                    return ""  # Excel shows ##### (openpyxl: #VALUE!, pandas: NaN)
                return cell_text(moment)
            if self.style in self.percents:
                return self._percent(number)
            return str(number) if isinstance(number, int) else cell_text(number)
        if kind == "s":
            try:
                text = self.strings[int(raw)]
            except (ValueError, IndexError):
                raise SpreadsheetError(
                    f"{self.file} is not a readable Excel file (cell "
                    f"{cell_name(self.row, self.column)} points to a text the file does not "
                    "have); save it again as .xlsx."
                ) from None
            return "" if text in NA_TEXTS else text
        if kind == "str":
            return "" if raw in NA_TEXTS else raw
        if kind == "b":
            return str(raw.strip() not in ("0", "", "false"))
        if kind == "e":
            return ""  # #N/A, #DIV/0!…: pandas read them as NaN, blank to the importer
        if kind == "d":
            try:
                return cell_text(from_iso8601(raw))
            except ValueError:
                return raw
        return raw

    def _percent(self, number: float) -> str:
        """A number formatted as a percentage, as shown (counted when it is data read)."""
        if self.header is None and self.column in self.keep:
            count, first = self.cells.percent.get(self.column, (0, self.row))
            self.cells.percent[self.column] = (count + 1, first)
        return _percent_text(number)

    def _header_done(self) -> None:
        header = self.header or {}
        self.header = None
        named = [c for c, text in header.items() if text]
        width = max(named, default=0)
        self.cells.header = [header.get(c, "") for c in range(1, width + 1)]
        wanted = set(range(1, width + 1)) if self.wanted is None else set(self.wanted)
        self.keep = {c for c in wanted if c <= width}
        self.cells.columns = {c: [] for c in sorted(self.keep)}

    def finish(self) -> None:
        if self.header is not None:
            self._header_done()
        if self.current:
            self._row_end()


class _MergedSheet(_Sheet):
    """A worksheet with merged cells: each range's text (its top left cell's) is every cell's,
    in the rows that hold a value of their own, and across a header of two names or more."""

    def __init__(
        self,
        book: Workbook,
        columns: set[int] | None,
        last_row: int | None,
        header_row: int,
        merges: list[tuple[int, int, int, int]],
    ) -> None:
        super().__init__(book, columns, last_row, header_row)
        self.merges = merges
        self.anchors = {(top, left) for top, left, _, _ in merges}
        self.texts: dict[tuple[int, int], str] = {}  # top left cell -> its text
        self.by_column: Ranges = {}  # once the header is known
        self.next: dict[int, int] = {}  # per column: its first range not above the row

    def _cell_end(self) -> None:
        super()._cell_end()
        key = (self.row, self.column)
        if key in self.anchors:
            if self.header is None and self.column in self.keep:
                self.texts[key] = self.current.get(self.column, "")  # read already
            else:
                self.texts[key] = self._value()

    def _header_done(self) -> None:
        super()._header_done()
        self.by_column = _by_column(self.merges, self.keep, self.file)
        self.next = dict.fromkeys(self.by_column, 0)

    def _row_end(self) -> None:
        row = self.row
        if row == self.header_row and self.header is not None:
            _fill_header(self.header, self.merges, self.texts, row)
        elif self.current and self.header is None:
            for column, ranges in self.by_column.items():
                at = self.next[column]
                while at < len(ranges) and ranges[at][1] < row:
                    at += 1
                self.next[column] = at
                if at < len(ranges) and ranges[at][0] <= row:
                    text = self.texts.get(ranges[at][2], "")
                    if text:
                        self.current[column] = text
        super()._row_end()


class _Filled(_Sheet):
    """Counts the cells holding a value in each of the first rows (see `Workbook.filled`)."""

    def __init__(self, book: Workbook, last_row: int) -> None:
        super().__init__(book, None, last_row)
        self.header = None  # no header: every row is only counted
        self.filled: dict[int, int] = {}

    def _row_end(self) -> None:
        pass

    def _cell_end(self) -> None:
        if self._value():
            self.filled[self.row] = self.filled.get(self.row, 0) + 1
