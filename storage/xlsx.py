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

Cell values become the texts pandas would have given the importer (numbers as `5` or `12.5`,
dates as `2025-01-31 00:00:00`, error cells and pandas' NA words such as `NULL` as blank), so
files that imported before import the same.
"""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.parsers import expat

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


class SpreadsheetError(Exception):
    """The workbook cannot be read safely or at all; the message says why, in one paragraph."""


class _Done(Exception):
    """Stop parsing: enough has been read."""


@dataclass
class Cells:
    """What a read found: the header, the rows with a value in a kept column, and problems."""

    header: list[str]  # row 1's texts, up to its last non-blank cell
    rows: list[int] = field(default_factory=list)  # spreadsheet row numbers, ascending
    columns: dict[int, list[str]] = field(default_factory=dict)  # column (1-based) -> texts
    outside: list[tuple[int, int]] = field(default_factory=list)  # (row, column), first ones
    outside_count: int = 0
    uncalculated: list[tuple[int, int]] = field(default_factory=list)
    uncalculated_count: int = 0


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


class Workbook:
    """An open .xlsx file, checked; `read` reads one of its sheets."""

    def __init__(self, path: Path) -> None:
        self.file = path.name
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
            for name, rel_id in book.sheets:
                target, kind = rels.targets.get(rel_id, ("", ""))
                if not kind.endswith("/worksheet"):
                    continue  # a chart sheet, or a broken reference: no cells
                part = _resolve(workbook_part, target)
                if part in self.parts:
                    self.sheets.append((name, part))
            styles = _Styles()
            styles_part = next(
                (p for p, t in types.overrides.items() if t == _STYLES_TYPE), "xl/styles.xml"
            )
            if styles_part in self.parts:
                self._parse(styles_part, styles, limit=MAX_SMALL_PART_BYTES)
            self.dates, self.durations = styles.date_styles()
            self.strings: list[str] = []
            strings_part = next(
                (p for p, t in types.overrides.items() if t == _SHARED_STRINGS_TYPE), None
            )
            if strings_part is not None and strings_part in self.parts:
                table = _SharedStrings(self.file)
                self._parse(strings_part, table, limit=MAX_SHARED_STRINGS_BYTES)
                self.strings = table.strings
        except BaseException:
            self.zip.close()
            raise

    @property
    def sheet_names(self) -> list[str]:
        return [name for name, _ in self.sheets]

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def read(
        self, sheet: str | None, *, columns: set[int] | None = None, last_row: int | None = None
    ) -> Cells:
        """Row 1 as the header, then the rows up to `last_row` (all if None): the texts of
        `columns` (1-based), or of every column of the header when None."""
        if not self.sheets:
            raise SpreadsheetError(f"{self.file} has no worksheet with cells.")
        part = self.sheets[0][1] if sheet is None else dict(self.sheets)[sheet]
        handler = _Sheet(self, columns, last_row)
        self._parse(part, handler, limit=MAX_PART_BYTES)
        handler.finish()
        return handler.cells

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
        self.sheets: list[tuple[str, str]] = []  # (name, relationship id)
        self.date1904 = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "workbookPr":
            self.date1904 = attrs.get("date1904", "").strip().lower() in ("1", "true")
        elif local == "sheet":
            rel_id = next((v for k, v in attrs.items() if k.endswith(" id")), "")
            self.sheets.append((attrs.get("name", ""), rel_id))


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

    def __init__(self, book: Workbook, columns: set[int] | None, last_row: int | None) -> None:
        self.book = book
        self.file = book.file
        self.strings = book.strings
        self.dates = book.dates
        self.durations = book.durations
        self.wanted = columns
        self.last_row = last_row
        self.keep: set[int] = set()  # set when the header is known
        self.header: dict[int, str] | None = {}  # None once row 1 is over
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
        if self.header is not None and number > 1:
            self._header_done()
        if self.last_row is not None and number > self.last_row:
            raise _Done
        self.row, self.column = number, 0

    def _row_end(self) -> None:
        if self.row == 1:
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
            raise SpreadsheetError(
                f"{self.file} has more than {MAX_CELLS:,} cells in this sheet, more than I import "
                "at once. Split it, or save the columns you need as CSV and import that. "
                "Nothing was imported."
            )
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
        if self.header is not None:  # row 1: the column names
            if row == 1:
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
                        raise SpreadsheetError(
                            f"{self.file} holds more than {MAX_KEPT_CHARS >> 20:,} million "
                            "characters of different texts in the columns read, more than an "
                            "indicator file needs. Nothing was imported."
                        )
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
