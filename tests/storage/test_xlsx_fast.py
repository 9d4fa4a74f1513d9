"""The fast Excel path (calamine, after a scan of the raw XML) reads what the exact streaming
reader reads, and never lets calamine see a sheet it would blow up on.

Big sheets (FAST_FROM_BYTES of XML or more) are read by calamine; here the threshold is lowered
to 0 so small workbooks take the fast path, and each is read both ways.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import openpyxl
import pytest

import storage.xlsx as xlsx
from storage.xlsx import SpreadsheetError, Workbook
from tests.helpers import cdc_overdoses_as_workbook
from tests.hostile.test_files import HEADER_ROW, NS, sheet_of, workbook


def read_both(path: Path, columns: set[int] | None = None, last_row: int | None = None):
    """(exact reading, fast reading, whether the fast one really used calamine)."""
    saved = xlsx.FAST_FROM_BYTES
    try:
        xlsx.FAST_FROM_BYTES = 1 << 62
        with Workbook(path) as book:
            exact = book.read(None, columns=columns, last_row=last_row)
        xlsx.FAST_FROM_BYTES = 0
        with Workbook(path) as book:
            fast = book.read(None, columns=columns, last_row=last_row)
            used = not any(plan.exact for plan in book._plans.values())
    finally:
        xlsx.FAST_FROM_BYTES = saved
    return exact, fast, used


def test_every_kind_of_cell_reads_the_same(tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["indicator", "period", "value", "NA", "", "geography"])
    values = [
        datetime(2025, 1, 31),
        date(2025, 2, 28),
        datetime(2025, 1, 31, 12, 30),
        time(12, 30),
        timedelta(days=1, hours=2),
        5,
        5.5,
        1e20,
        0.1 + 0.2,
        -0.0,
        True,
        False,
        "NA",
        "NULL",
        "  spaced ",
        "<b>&amp;</b>",
        "é中😀",
        None,
    ]
    for n, value in enumerate(values):
        sheet.append(["Deaths", value, n, value, None, value])
    sheet["B3"].number_format = "mmm-yy"
    sheet["C4"].number_format = "yyyy-mm-dd"
    sheet["C5"].number_format = "[h]:mm:ss"
    sheet["C6"].number_format = "0.00"
    path = tmp_path / "kinds.xlsx"
    book.save(path)
    for columns, last_row in ((None, None), ({1, 2, 3}, None), (None, 5), ({2, 6}, 8)):
        exact, fast, used = read_both(path, columns, last_row)
        assert used
        assert fast == exact


def test_the_cdc_file_saved_as_excel_reads_the_same(tmp_path) -> None:
    path = cdc_overdoses_as_workbook(tmp_path / "vsrr.xlsx")
    exact, fast, used = read_both(path)
    assert used
    assert fast == exact
    assert len(fast.rows) == 1_116  # every row with a value in a column of the header


@pytest.mark.parametrize(
    ("rows", "strings", "why"),
    [
        ('<row r="2"><c r="A2"><f>1+1</f></c></row>', None, "a formula without its value"),
        ('<row r="2"><c s="0" r="A2"><v>1</v></c></row>', None, "r is not first"),
        ('<row r="2"><c><v>1</v></c></row>', None, "a cell without its reference"),
        ('<row r="2"><c r="A2" t="s"><v>0</v></c></row>', "rPh", "phonetic runs"),
        ('<row r="2"><c r="A2" t="inlineStr"><is><t>a_x000D_b</t></is></c></row>', None, "_x"),
        (
            '<row r="2"><c r="A2" t="inlineStr"><is><t>' + "y" * 40_000 + "</t></is></c></row>",
            None,
            "long",
        ),
        (
            '<row r="2"><c r="A2"><v>1</v></c></row><row r="3"><c r="D3"><v>1</v></c></row>',
            None,
            "D3",
        ),
        ('<row r="2"><c r="A2000000"><v>1</v></c></row>', None, "a row beyond the grid"),
    ],
)
def test_what_calamine_must_not_read_goes_to_the_exact_reader(tmp_path, rows, strings, why) -> None:
    parts = (
        [f'<sst {NS}><si><t>x</t><rPh sb="0" eb="1"><t>y</t></rPh></si></sst>'.encode()]
        if strings
        else [f"<sst {NS}/>".encode()]
    )
    path = workbook(tmp_path / "odd.xlsx", sheet_of(rows), parts)
    try:
        exact, fast, used = read_both(path)
    except SpreadsheetError:
        return  # refused: both ways the same refusal (the exact reader's)
    assert not used, why
    if fast.outside_count:  # refused for the cells right of the header: the rows are not read
        assert (fast.outside_count, fast.outside) == (exact.outside_count, exact.outside)
    else:
        assert fast == exact


def test_a_stray_value_far_away_is_refused_without_calamine(tmp_path) -> None:
    """calamine makes a dense table from the first to the last cell: a value at XFD1048576 would
    ask it for 17 billion cells (an abort, not an exception). The scan finds it first."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>Deaths</t></is></c>'
        f'<c r="B{r}" t="inlineStr"><is><t>2025-01</t></is></c><c r="C{r}"><v>{r}</v></c></row>'
        for r in range(2, 200)
    )
    stray = '<row r="1048576"><c r="XFD1048576"><v>1</v></c><c r="XFC1048576" s="3"/></row>'
    path = workbook(tmp_path / "stray.xlsx", sheet_of(rows + stray))
    exact, fast, used = read_both(path)
    assert not used
    assert (
        (fast.outside_count, fast.outside)
        == (exact.outside_count, exact.outside)
        == (
            1,
            [(1048576, 16384)],
        )
    )
    # A styled blank there holds nothing: calamine skips it, and reads the sheet.
    blank = '<row r="1048576"><c r="XFD1048576" s="3"/></row>'
    path = workbook(tmp_path / "blank.xlsx", sheet_of(rows + blank))
    exact, fast, used = read_both(path)
    assert fast == exact and not fast.outside_count


def test_too_many_cells_are_refused_by_the_scan(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(xlsx, "MAX_CELLS", 50)
    monkeypatch.setattr(xlsx, "FAST_FROM_BYTES", 0)
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(2, 60))
    path = workbook(tmp_path / "many.xlsx", sheet_of(rows))
    with Workbook(path) as book, pytest.raises(SpreadsheetError, match="more than 50 cells"):
        book.read(None)


def test_the_header_row_is_what_it_was(tmp_path) -> None:
    """Row 1 is the header even when it starts right of column A, or is missing."""
    for rows in (
        '<row r="1"><c r="B1" t="inlineStr"><is><t>period</t></is></c><c r="C1" t="inlineStr"><is><t>value</t></is></c></row><row r="2"><c r="B2"><v>1</v></c></row>',
        '<row r="2"><c r="A2"><v>1</v></c></row>',
    ):
        path = tmp_path / "header.xlsx"
        workbook(
            path,
            [f"<worksheet {NS}><sheetData>".encode(), rows.encode(), b"</sheetData></worksheet>"],
        )
        exact, fast, _ = read_both(path)
        assert fast == exact


assert HEADER_ROW  # (the hostile tests' header: indicator, period, value)
