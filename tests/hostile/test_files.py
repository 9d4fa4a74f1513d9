"""Files and values that can't hurt: hostile spreadsheets, CSV files, catalogs and numbers through
the doors an operator and a steward use, on SQLite and PostgreSQL.

Files go through the real command line (`python -m bot.cli import` / `indicators load`) in a
subprocess whose address space is capped at MEMORY (RLIMIT_AS), the way an operator runs it. Each
hostile file is built small in tmp_path (the zip bomb: 1.4 MB holding a 1.5 GB string) and must be
refused with a plain message (no traceback), exit status 1, within SECONDS, with nothing in the
database: no team, no indicator, no value. The bundled CDC files still import exactly as they did
(the digest of what is stored, and the summaries, as the importer before these limits gave them).

Values go through the same rule by both doors (`bot.core.indicator_rules.value_range`): the CLI
and `/indicator set` through the served app (signed requests).
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from bot.sandbox import bundled
from storage.db import make_engine, make_session_factory
from storage.importer import import_file
from storage.models import Indicator, IndicatorValue, Team
from tests.conftest import TEAM_ID, ServedBot
from tests.helpers import cdc_overdoses_as_workbook, wait_for

ROOT = Path(__file__).resolve().parents[2]
MEMORY = 1536 << 20  # the command's whole address space
SECONDS = 10.0  # refused "within seconds": start-up and migrations included (~1.5 s here)
DEATHS = "Number of Drug Overdose Deaths"

# What the importer stored for the bundled files before these limits (fe53873), on SQLite and
# PostgreSQL alike: see `stored_digest`.
CDC_ROWS = 1371
CDC_DIGEST = "9f40fe602480b41a16142a5922d6d1456c65fe38f82c1a6368f79eca9a6f6029"


# --- running the command line -----------------------------------------------------------------


@dataclass
class Ran:
    status: int
    output: str
    seconds: float
    peak_mb: float


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def commstat(database_url: str, *args: str, tmp_path: Path) -> Ran:
    """`commstat ARGS --team T0COALITION` in a subprocess with its memory capped."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "COMMSTAT_", "DATABASE_"))
    }
    env.update(DATABASE_URL=database_url, COMMSTAT_TIMEZONE="America/New_York")
    out = tmp_path / f"out-{time.monotonic_ns()}.txt"
    started = time.monotonic()
    with out.open("wb") as sink:
        child = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--log-level", "warning", *args, "--team", TEAM_ID],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=_cap_memory,  # a plain setrlimit between fork and exec
        )
        try:
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:
            child.kill()
            raise
        child.returncode = os.waitstatus_to_exitcode(status)
    return Ran(
        status=child.returncode,
        output=out.read_text(encoding="utf-8", errors="replace"),
        seconds=time.monotonic() - started,
        peak_mb=usage.ru_maxrss / 1024,
    )


def refused(ran: Ran, *says: str) -> None:
    """Exit status 1, a plain message (Click's `Error: …`), no traceback, within SECONDS."""
    assert ran.status == 1, ran.output
    assert "Traceback" not in ran.output, ran.output
    assert "MemoryError" not in ran.output and "RecursionError" not in ran.output
    assert ran.output.lstrip().startswith("Error: "), ran.output
    for words in says:
        assert words in ran.output, ran.output
    assert ran.seconds < SECONDS, f"{ran.seconds:.1f} s"


def counts(database_url: str) -> tuple[int, int, int]:
    """(teams, indicators, values) in the database."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return tuple(  # type: ignore[return-value]
                session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Team, Indicator, IndicatorValue)
            )
    finally:
        engine.dispose()


def nothing_written(database_url: str) -> None:
    assert counts(database_url) == (0, 0, 0)


def stored_digest(database_url: str) -> tuple[int, str]:
    """How many values are stored, and a digest of each with its indicator's settings."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(
                select(
                    Indicator.name,
                    Indicator.slug,
                    Indicator.unit,
                    Indicator.period_kind,
                    Indicator.direction,
                    IndicatorValue.period,
                    IndicatorValue.period_start,
                    IndicatorValue.geography,
                    IndicatorValue.value,
                )
                .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
                .order_by(Indicator.name, IndicatorValue.period, IndicatorValue.geography)
            ).all()
    finally:
        engine.dispose()
    text = "\n".join(
        f"{n}|{s}|{u}|{k}|{d.value}|{p}|{ps.isoformat()}|{g}|{v!r}"
        for n, s, u, k, d, p, ps, g, v in rows
    )
    return len(rows), hashlib.sha256(text.encode()).hexdigest()


# --- building hostile workbooks ---------------------------------------------------------------

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="xl/workbook.xml" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/officeDocument"/></Relationships>'
)
_WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook {NS} '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="http://schemas.openxmlformats'
    '.org/officeDocument/2006/relationships/worksheet"/>'
    '<Relationship Id="rId2" Target="sharedStrings.xml" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/sharedStrings"/></Relationships>'
)
HEADER_ROW = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>indicator</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>period</t></is></c>'
    '<c r="C1" t="inlineStr"><is><t>value</t></is></c></row>'
)


def workbook(
    path: Path, sheet: Iterable[bytes], strings: Iterable[bytes] = (b"<sst " + NS.encode() + b"/>",)
) -> Path:
    """An .xlsx of one sheet named Data; the sheet and shared-strings parts are streamed from
    the given pieces, so a part of gigabytes costs no memory to write."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as book:
        book.writestr("[Content_Types].xml", _TYPES)
        book.writestr("_rels/.rels", _RELS)
        book.writestr("xl/workbook.xml", _WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        for name, pieces in (
            ("xl/worksheets/sheet1.xml", sheet),
            ("xl/sharedStrings.xml", strings),
        ):
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with book.open(info, "w", force_zip64=True) as part:
                for piece in pieces:
                    part.write(piece)
    return path


def repeated(byte: bytes, count: int) -> Iterator[bytes]:
    block = byte * (16 << 20)
    while count > 0:
        yield block[: min(count, len(block))]
        count -= len(block)


def sheet_of(*rows: str) -> list[bytes]:
    return [
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet {NS}><sheetData>'.encode(),
        HEADER_ROW.encode(),
        *(r.encode() for r in rows),
        b"</sheetData></worksheet>",
    ]


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's file: ~1.4 MB on disk, one shared string of 1.5 GB (a cell points at it)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.xlsx"
    row = '<row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" t="inlineStr"><is><t>2025-01</t></is></c><c r="C2"><v>5</v></c></row>'
    strings = [
        f'<sst {NS} count="1" uniqueCount="1"><si><t>'.encode(),
        *repeated(b"a", 1_500_000_000),
        b"</t></si></sst>",
    ]
    workbook(path, sheet_of(row), strings)
    assert path.stat().st_size < 2_000_000
    return path


# --- hostile files --------------------------------------------------------------------------


def test_one_stray_cell_at_xfd1048576_is_refused_naming_it(db_url, tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["indicator", "period", "value", "geography"])
    sheet.append(["Deaths", "2025-01", 5, "MD"])
    sheet["XFD1048576"] = 1
    path = tmp_path / "stray.xlsx"
    book.save(path)
    assert path.stat().st_size < 10_000
    ran = commstat(db_url, "import", str(path), tmp_path=tmp_path)
    refused(
        ran,
        "row 1048576: cell XFD1048576 holds a value, but row 1 names columns only up to D",
        "Nothing was imported",
    )
    assert ran.peak_mb < 400
    nothing_written(db_url)


def test_a_zip_bomb_string_is_refused_before_it_is_unpacked(db_url, tmp_path, zip_bomb) -> None:
    ran = commstat(db_url, "import", str(zip_bomb), tmp_path=tmp_path)
    refused(ran, "not a spreadsheet I can safely open", "zip bomb", "Nothing was imported")
    assert ran.peak_mb < 400
    nothing_written(db_url)


def test_a_cell_longer_than_excel_allows_is_refused_as_it_streams(sqlite_url, tmp_path) -> None:
    """Under the compression limit (the part is small), the text limit refuses it."""
    row = (
        '<row r="2"><c r="A2" t="inlineStr"><is><t>'
        + "x" * 40_000
        + '</t></is></c><c r="B2" t="inlineStr"><is><t>2025-01</t></is></c></row>'
    )
    path = workbook(tmp_path / "long.xlsx", sheet_of(row))
    ran = commstat(sqlite_url, "import", str(path), tmp_path=tmp_path)
    refused(ran, "cell A2 holds more than 32,767 characters")
    nothing_written(sqlite_url)


def test_a_giant_tag_is_refused_before_the_parser_holds_it(sqlite_url, tmp_path) -> None:
    """A 12 MB attribute (under the compression check's 16 MB): expat would hold it whole; the
    reader refuses it once 2 MB have passed without a `<`."""
    sheet = [
        f"<worksheet {NS}><sheetData>".encode(),
        HEADER_ROW.encode(),
        b'<row r="2"><c r="A2" x="',
        *repeated(b"y", 12 << 20),
        b'"/></row></sheetData></worksheet>',
    ]
    path = workbook(tmp_path / "tag.xlsx", sheet)
    assert path.stat().st_size < 1_000_000
    ran = commstat(sqlite_url, "import", str(path), tmp_path=tmp_path)
    refused(ran, "holds a tag or a text of over 2.0 MB in one piece")
    assert ran.peak_mb < 400
    nothing_written(sqlite_url)


def test_xml_entities_are_refused(sqlite_url, tmp_path) -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "lollollollol">'
        + "".join(
            f'<!ENTITY {n} "{("&" + p + ";") * 10}">'
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + f"]><sst {NS}><si><t>&i;</t></si></sst>"
    )
    row = '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
    path = workbook(tmp_path / "laughs.xlsx", sheet_of(row), [laughs.encode()])
    ran = commstat(sqlite_url, "import", str(path), tmp_path=tmp_path)
    refused(ran, "declares XML entities (a DTD)")
    nothing_written(sqlite_url)


def test_formulas_without_calculated_values_are_refused_naming_the_cells(db_url, tmp_path) -> None:
    book = openpyxl.Workbook()  # openpyxl writes formulas without computing them
    sheet = book.active
    sheet.append(["indicator", "period", "value", "geography"])
    sheet.append(["Deaths", "2025-01", 5, "MD"])
    sheet.append(["Deaths", "2025-02", "=C2+1", "MD"])
    sheet.append(["Deaths", "2025-03", "=C3*2", "MD"])
    path = tmp_path / "formulas.xlsx"
    book.save(path)
    ran = commstat(db_url, "import", str(path), tmp_path=tmp_path)
    refused(ran, "2 cells of formulas.xlsx", "never calculated (C3, C4)", "unknown, not missing")
    nothing_written(db_url)


def test_a_row_with_more_fields_than_the_header_is_refused_wherever_it_is(db_url, tmp_path) -> None:
    first = tmp_path / "first.csv"
    first.write_text(
        "indicator,period,value,geography\nDeaths,2025-01,5,MD,oops\nDeaths,2025-02,6,MD\n"
    )
    ran = commstat(db_url, "import", str(first), tmp_path=tmp_path)
    refused(ran, "row 2: 5 fields, but the header names 4 columns")
    later = tmp_path / "later.csv"
    later.write_text(
        'indicator,period,value,geography\nDeaths,2025-01,"1,200",MD\n'
        'Deaths,2025-02,6,"Anne Arundel, MD",x\nDeaths,2025-03,7,MD,,y\n'
    )
    ran = commstat(db_url, "import", str(later), tmp_path=tmp_path)
    refused(ran, "has 2 problems", "row 3: 5 fields", "row 4: 6 fields")
    nothing_written(db_url)


def test_a_csv_wider_than_1000_columns_is_refused_at_once(db_url, tmp_path) -> None:
    path = tmp_path / "wide.csv"  # 789 KB: accepted after 18 s at 537 MB before the limit
    extra = 100_000
    path.write_text(
        "indicator,period,value" + "".join(f",c{i}" for i in range(extra)) + "\n"
        "Deaths,2024,5" + "," * extra + "\n"
    )
    ran = commstat(db_url, "import", str(path), tmp_path=tmp_path)
    refused(ran, "wide.csv has more than 1,000 columns")
    assert len(ran.output) < 1_000
    assert ran.peak_mb < 400
    nothing_written(db_url)


def test_a_huge_header_is_not_echoed_back(sqlite_url, tmp_path) -> None:
    path = tmp_path / "header.csv"  # one 20 MB column name: the message quoted it whole before
    path.write_text("indicator,period,value" + "A" * 20_000_000 + "\nDeaths,2024,1\n")
    ran = commstat(sqlite_url, "import", str(path), tmp_path=tmp_path)
    refused(ran, "has no column 'value'", "Its columns are: indicator, period, valueAAA")
    assert len(ran.output) < 2_000, len(ran.output)
    nothing_written(sqlite_url)


CONTROL_NAME = "\x1b]0;pwned\x07\x1b[2J\x1b[31mansi"  # sets a terminal's title, clears it


def _printable(output: str) -> None:
    bad = [c for c in output if c not in "\n\t" and (ord(c) < 32 or 0x7F <= ord(c) <= 0x9F)]
    assert not bad, repr(output)


@pytest.mark.parametrize(
    ("row", "says"),
    [
        (f"{CONTROL_NAME},2024,5,MD,deaths", "row 2: the indicator name '?]0;pwned??[2J?[31mansi'"),
        ("Deaths,2024,5,\x1b[2JMD,deaths", "row 2: the geography '?[2JMD' holds a control"),
        ("Deaths,2024,5,MD,de\x9baths", "row 2: the unit 'de?aths' holds a control"),
        ('Deaths,2024,5,"M\nD",deaths', "row 2: the geography 'M D' holds a control"),
    ],
)
def test_control_characters_in_a_csv_are_refused(db_url, tmp_path, row, says) -> None:
    path = tmp_path / "control.csv"
    path.write_text(f"indicator,period,value,geography,unit\n{row}\n", newline="")
    ran = commstat(db_url, "import", str(path), tmp_path=tmp_path)
    refused(ran, says, "holds a control character")
    _printable(ran.output)
    nothing_written(db_url)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_utf16_csv_is_read(sqlite_url, tmp_path, encoding) -> None:
    text = (
        "indicator,period,value,geography\nDéaths,2025-01,5,Montréal\nDéaths,2025-02,6,Montréal\n"
    )
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data  # Python writes no mark for an explicit byte order
    path = tmp_path / "unicode.csv"
    path.write_bytes(data)
    ran = commstat(sqlite_url, "import", str(path), tmp_path=tmp_path)
    assert ran.status == 0, ran.output
    assert "2 rows for 1 indicator — 2 added" in ran.output
    assert counts(sqlite_url) == (1, 1, 2)


def test_a_utf16_csv_without_its_mark_is_named_as_such(sqlite_url, tmp_path) -> None:
    path = tmp_path / "unmarked.csv"
    path.write_bytes("indicator,period,value\nDeaths,2025-01,5\n".encode("utf-16-le"))
    ran = commstat(sqlite_url, "import", str(path), tmp_path=tmp_path)
    refused(ran, "looks like UTF-16 text without a byte-order mark")
    nothing_written(sqlite_url)


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("1e308", "value 1e+308 is far too large for an indicator value"),
        ("-1e308", "value -1e+308 is far too large a negative number"),
        ("1000000000000", "value 1,000,000,000,000 is far too large"),
        ("-3", "value -3 is below zero; Deaths can't be negative"),
        ("inf", "value 'inf' is not a number"),
        ("nan", "value 'nan' is not a number"),
    ],
)
def test_implausible_values_are_refused(db_url, tmp_path, cell, says) -> None:
    path = tmp_path / "values.csv"
    path.write_text(
        f"indicator,period,value,geography\nDeaths,2025-01,12,MD\nDeaths,2025-02,{cell},MD\n"
    )
    ran = commstat(db_url, "import", str(path), tmp_path=tmp_path)
    refused(ran, f"row 3: {says}")
    nothing_written(db_url)


def test_an_xlsx_value_of_1e308_is_refused(sqlite_url, tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["indicator", "period", "value"])
    sheet.append(["Deaths", "2025-01", 1e308])
    path = tmp_path / "huge.xlsx"
    book.save(path)
    ran = commstat(sqlite_url, "import", str(path), tmp_path=tmp_path)
    refused(ran, "row 2: value 1e+308 is far too large")
    nothing_written(sqlite_url)


def test_the_catalogs_min_and_max_bound_what_is_imported(db_url, tmp_path) -> None:
    catalog = tmp_path / "catalog.yml"
    catalog.write_text(
        "indicators:\n"
        "  - name: Vaccinated share\n    unit: '%'\n    min: 0\n    max: 100\n"
        "  - name: Change in deaths\n    min: -100\n    max: 1e3\n"
    )
    loaded = commstat(db_url, "indicators", "load", str(catalog), tmp_path=tmp_path)
    assert loaded.status == 0, loaded.output
    before = counts(db_url)
    path = tmp_path / "values.csv"
    path.write_text(
        "indicator,period,value\n"
        "Vaccinated share,2025-01,99.5\n"
        "Vaccinated share,2025-02,100.5\n"
        "Change in deaths,2025-01,-12\n"
        "Change in deaths,2025-02,-150\n"
    )
    ran = commstat(db_url, "import", str(path), tmp_path=tmp_path)
    refused(
        ran,
        "has 2 problems",
        "row 3: value 100.5 is above Vaccinated share's highest plausible value, 100 (`max` in "
        "the catalog)",
        "row 5: value -150 is below Change in deaths's lowest plausible value, -100",
    )
    assert counts(db_url) == before
    path.write_text(
        "indicator,period,value\nVaccinated share,2025-01,99.5\nChange in deaths,2025-01,-12\n"
    )
    ran = commstat(db_url, "import", str(path), tmp_path=tmp_path)
    assert ran.status == 0, ran.output
    assert counts(db_url) == (1, 2, 2)


# --- hostile catalogs -------------------------------------------------------------------------


def _laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    lines.append("indicators: *i")  # each "indicator" a list: quoted in a message, 9^9 strings
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("laughs.yml", _laughs(), "expands to more than 100,000 values"),
        (
            "deep.yml",
            "indicators: " + "[" * 50_000 + "]" * 50_000 + "\n",
            "is nested more than 20 levels deep (at line 1)",
        ),
        ("loop.yml", "a: &a [*a]\nindicators: *a\n", "has an alias inside its own anchor"),
        (
            "chain.yml",
            "a0: &a0 [x]\n"
            + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 3000))
            + "indicators: [*a2999]\n",
            "nested more than 20 levels deep once its aliases",
        ),
        (
            "digits.yml",
            "indicators:\n  - name: X\n    target: " + "9" * 5000 + "\n",
            "a number thousands of digits long",
        ),
    ],
)
def test_hostile_catalogs_are_refused(db_url, tmp_path, name, text, says) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert path.stat().st_size < 110_000
    ran = commstat(db_url, "indicators", "load", str(path), tmp_path=tmp_path)
    refused(ran, says, "Nothing was loaded")
    assert ran.peak_mb < 400
    nothing_written(db_url)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("list.yml", "indicators: [" + ",".join(["1"] * 990_000) + "]\n"),
        (
            "aliases.yml",
            "indicators:\n  - name: X\n    aliases: [" + ",".join(["1"] * 990_000) + "]\n",
        ),
    ],
)
def test_a_catalog_of_a_million_values_is_refused_at_once(sqlite_url, tmp_path, name, text) -> None:
    path = tmp_path / name  # 1.98 MB, no anchors: 28 s and 890 MB, with the wrong reason, before
    path.write_text(text)
    ran = commstat(sqlite_url, "indicators", "load", str(path), tmp_path=tmp_path)
    refused(ran, f"{name} has more than 100,000 values", "Nothing was loaded")
    assert "anchors" not in ran.output
    assert ran.seconds < 6, f"{ran.seconds:.1f} s"
    assert ran.peak_mb < 400
    nothing_written(sqlite_url)


@pytest.mark.parametrize(
    ("field", "says"),
    [
        (
            'name: "\\e]0;pwned\\a\\e[2Jansi"',
            "indicator 1 '?]0;pwned??[2Jansi': name holds a control",
        ),
        ('name: X\n    unit: "d\\x9beaths"', "unit 'd?eaths' holds a control character"),
        ('name: X\n    source: "CDC\\e[2J"', "source 'CDC?[2J' holds a control character"),
        ('name: X\n    aliases: ["od\\x07"]', "aliases 'od?' holds a control character"),
        ('name: X\ndefault_geography: "M\\eD"', "default_geography holds a control character"),
    ],
)
def test_control_characters_in_a_catalog_are_refused(db_url, tmp_path, field, says) -> None:
    path = tmp_path / "control.yml"
    path.write_text(f"indicators:\n  - {field}\n")
    ran = commstat(db_url, "indicators", "load", str(path), tmp_path=tmp_path)
    refused(ran, says, "Nothing was loaded")
    _printable(ran.output)
    nothing_written(db_url)


def test_a_huge_name_in_a_catalog_is_not_echoed_back(sqlite_url, tmp_path) -> None:
    path = tmp_path / "name.yml"
    path.write_text(
        "indicators:\n  - name: " + "N" * 1_900_000 + "\n    colour: " + "z" * 90_000 + "\n"
    )
    ran = commstat(sqlite_url, "indicators", "load", str(path), tmp_path=tmp_path)
    refused(ran, "name is longer than 200 characters")
    assert len(ran.output) < 2_000, len(ran.output)
    nothing_written(sqlite_url)


def test_a_catalog_may_share_fields_through_a_small_alias(sqlite_url, tmp_path) -> None:
    path = tmp_path / "catalog.yml"
    path.write_text(
        "cdc: &cdc\n  source: CDC WONDER\n  update_frequency: monthly\n"
        "indicators:\n"
        "  - name: Deaths\n    <<: *cdc\n    min: 0\n"
        "  - name: ED visits\n    <<: *cdc\n"
    )
    ran = commstat(sqlite_url, "indicators", "load", str(path), tmp_path=tmp_path)
    refused(ran, "unknown top-level key cdc")  # aliases parse; the catalog's own rules still hold
    path.write_text(
        "indicators:\n"
        "  - &deaths {name: Deaths, source: CDC WONDER, update_frequency: monthly}\n"
        "  - {<<: *deaths, name: ED visits, max: 1e6}\n"
    )
    ran = commstat(sqlite_url, "indicators", "load", str(path), tmp_path=tmp_path)
    assert ran.status == 0, ran.output
    assert "2 created" in ran.output


# --- the legitimate files, exactly as before ----------------------------------------------------


def test_the_bundled_cdc_files_import_exactly_as_before(db_url, tmp_path) -> None:
    overdoses = commstat(
        db_url,
        "import",
        str(bundled.OVERDOSES),
        "--indicator-column",
        "Indicator",
        "--period-column",
        "period_end",
        "--value-column",
        "Data Value",
        "--geography-column",
        "State",
        tmp_path=tmp_path,
    )
    assert overdoses.status == 0, overdoses.output
    assert overdoses.output.startswith(
        "Imported cdc_vsrr_provisional_overdose_deaths_US_MD_NC_VT.csv: 1,116 rows for 3 "
        "indicators — 1,116 added, 0 updated, 0 unchanged; 13 missing"
    )
    naloxone = commstat(
        db_url,
        "import",
        str(bundled.NALOXONE),
        "--indicator",
        "Naloxone dispensing rate",
        "--period-column",
        "YEAR",
        "--value-column",
        "naloxone_dispensing_rate",
        "--geography-column",
        "STATE_ABBREV",
        tmp_path=tmp_path,
    )
    assert naloxone.status == 0, naloxone.output
    assert "255 rows for 1 indicator — 255 added" in naloxone.output
    catalog = commstat(db_url, "indicators", "load", str(bundled.CATALOG), tmp_path=tmp_path)
    assert catalog.status == 0, catalog.output
    assert "Loaded catalog.yml: 0 created, 4 updated, 0 unchanged. Default geography: MD." in (
        catalog.output
    )
    assert stored_digest(db_url) == (CDC_ROWS, CDC_DIGEST)


def test_the_cdc_file_saved_as_excel_stores_what_the_csv_does(sqlite_url, tmp_path) -> None:
    """The streamed reader gives the importer the texts pandas gave it: the CDC file as a
    workbook (numbers as numbers, dates as dates) stores exactly what the CSV stores."""
    path = cdc_overdoses_as_workbook(tmp_path / "vsrr.xlsx")
    args = ("--indicator-column", "Indicator", "--period-column", "period_end")
    args += ("--value-column", "Data Value", "--geography-column", "State")
    ran = commstat(sqlite_url, "import", str(path), *args, "--sheet", "VSRR", tmp_path=tmp_path)
    assert ran.status == 0, ran.output
    assert "1,116 rows for 3 indicators — 1,116 added" in ran.output
    from_excel = stored_digest(sqlite_url)
    again = commstat(sqlite_url, "import", str(bundled.OVERDOSES), *args, tmp_path=tmp_path)
    assert "0 added, 0 updated, 1,116 unchanged" in again.output
    assert stored_digest(sqlite_url) == from_excel


# --- /indicator set: the same rule ----------------------------------------------------------------


def _load_cdc(bot: ServedBot) -> None:
    import_file(
        bot.services.sessions,
        team_id=TEAM_ID,
        path=bundled.OVERDOSES,
        mapping=bundled.OVERDOSE_MAPPING,
        now=bot.clock(),
    )
    with bot.services.sessions.begin() as session:
        deaths = session.scalars(select(Indicator).where(Indicator.name == DEATHS)).one()
        deaths.aliases = ["overdoses"]
        deaths.unit = "deaths"


def _set(bot: ServedBot, text: str) -> str:
    answer = bot.driver.command("/indicator", f"set {text}", user="U0ADMIN", channel="C0MEETING")
    assert answer.status == 200
    key = bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1]
    reply = wait_for(lambda: bot.slack.responses(key))[0]
    return str(reply["text"])


def _value(bot: ServedBot, period: str) -> float | None:
    with bot.services.sessions() as session:
        return session.scalars(
            select(IndicatorValue.value)
            .join(Indicator)
            .where(Indicator.name == DEATHS, IndicatorValue.period == period)
            .where(IndicatorValue.geography == "MD")
        ).one_or_none()


def _bounds(bot: ServedBot, low: float | None, high: float | None) -> None:
    with bot.services.sessions.begin() as session:
        deaths = session.scalars(select(Indicator).where(Indicator.name == DEATHS)).one()
        deaths.plausible_min, deaths.plausible_max = low, high


def test_indicator_set_applies_the_same_rule(bot) -> None:
    _load_cdc(bot)
    huge = "1" + "0" * 308
    assert "is far too large for an indicator value. Nothing was saved." in _set(
        bot, f"overdoses {huge} for 2025-04 in MD"
    )
    assert "-5 is below zero; Number of Drug Overdose Deaths can't be negative" in _set(
        bot, "overdoses -5 for 2025-04 in MD"
    )
    _bounds(bot, -10, 3000)
    assert (
        "5000 is above Number of Drug Overdose Deaths's highest plausible value, 3,000 (`max` in "
        "the catalog). Nothing was saved."
    ) in _set(bot, "overdoses 5000 for 2025-04 in MD")
    assert "-11 is below Number of Drug Overdose Deaths's lowest plausible value, -10" in _set(
        bot, "overdoses -11 for 2025-04 in MD"
    )
    assert _value(bot, "2025-04") == 1562
    assert "1,562 → 2,999 deaths" in _set(bot, "overdoses 2999 for 2025-04 in MD")
    assert "2,999 → -5 deaths" in _set(bot, "overdoses -5 for 2025-04 in MD")
    assert _value(bot, "2025-04") == -5
