"""What real publishers' workbooks hold that a plain reading gets wrong without a word: a hidden
sheet before the one shown, merged cells, numbers formatted as percentages. Each is read as
Excel shows it, the same by the exact reader and by calamine (`read_both`), and said in
`Cells.notes`, which the upload's preview shows."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

import storage.xlsx as xlsx
from storage.xlsx import Cells, SpreadsheetError, Workbook, is_percent_format
from tests.helpers import all_text
from tests.hostile.test_files import sheet_of, workbook
from tests.hostile.test_outside_import_data import stored
from tests.hostile.test_outside_publishers import imported, preview_of, workbook_bytes
from tests.storage.test_xlsx_fast import read_both

HEADER = ["State", "Year", "Deaths"]


def saved(book: openpyxl.Workbook, path: Path) -> Path:
    book.save(path)
    return path


def table(sheet, rows: list[list[object]], header: list[str] = HEADER) -> None:
    sheet.append(header)
    for row in rows:
        sheet.append(row)


def read(path: Path, sheet: str | None = None, **kwargs) -> Cells:
    with Workbook(path) as book:
        return book.read(sheet, **kwargs)


def same_both_ways(path: Path, **kwargs) -> Cells:
    """The sheet as the exact reader reads it, checked to be what calamine's path reads."""
    exact, fast, used = read_both(path, **kwargs)
    assert used, "calamine was not used"
    assert fast == exact
    return exact


# --- which sheet: never a hidden one ---------------------------------------------------------


def _release_book(state: str) -> openpyxl.Workbook:
    book = openpyxl.Workbook()
    old = book.active
    old.title = "prev_release"
    old.sheet_state = state
    table(old, [["MD", 2023, 2593]])
    table(book.create_sheet("Data"), [["MD", 2023, 2493]])
    return book


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_a_hidden_first_sheet_is_not_read_unless_named(tmp_path, state) -> None:
    book = _release_book(state)
    path = saved(book, tmp_path / "release.xlsx")
    cells = read(path)
    assert cells.columns[3] == ["2493"]
    (note,) = cells.notes
    assert note.startswith("Read the sheet “Data” (")
    assert note.endswith("; not read: “prev_release” (hidden).")
    with Workbook(path) as opened:
        assert opened.sheet_names == ["Data"]  # what a caller may try, or list
        assert opened.has_sheet("prev_release")
    named = read(path, "prev_release")  # named, it is read, and nothing is said of others
    assert named.columns[3] == ["2593"] and named.notes == []


def test_the_sheet_open_when_saved_is_read_first(tmp_path) -> None:
    book = openpyxl.Workbook()
    table(book.active, [["MD", 2023, 1]])
    book.active.title = "Notes"
    table(book.create_sheet("Counties"), [["MD", 2023, 2]])
    table(book.create_sheet("States"), [["MD", 2023, 3]])
    book.active = 2
    path = saved(book, tmp_path / "tabs.xlsx")
    cells = read(path)
    assert cells.columns[3] == ["3"]
    assert cells.notes == [
        "Read the sheet “States” (the sheet open when the file was saved); not read: “Notes”, "
        "“Counties”."
    ]
    with Workbook(path) as opened:  # the others in order, for a cover sheet's fallback
        assert opened.sheet_names == ["States", "Notes", "Counties"]


def test_a_hidden_active_tab_falls_back_to_the_first_visible_sheet(tmp_path) -> None:
    book = openpyxl.Workbook()
    table(book.active, [["MD", 2023, 1]])
    hidden = book.create_sheet("Old")
    table(hidden, [["MD", 2023, 2]])
    hidden.sheet_state = "hidden"
    path = saved(book, tmp_path / "tabs.xlsx")
    _rewrite(path, "xl/workbook.xml", lambda xml: re.sub(r'activeTab="\d+"', 'activeTab="1"', xml))
    cells = read(path)
    assert cells.columns[3] == ["1"]
    assert cells.notes == ["Read the sheet “Sheet” (the first sheet); not read: “Old” (hidden)."]


def test_a_workbook_of_hidden_sheets_only_is_refused_naming_them(tmp_path) -> None:
    book = _release_book("hidden")
    path = saved(book, tmp_path / "hidden.xlsx")
    _rewrite(path, "xl/workbook.xml", lambda xml: re.sub(r'state="\w+"', 'state="hidden"', xml))
    with Workbook(path) as opened:
        assert opened.sheet_names == []
        with pytest.raises(SpreadsheetError, match=r"Every worksheet of hidden\.xlsx is hidden"):
            opened.read(None)
        assert opened.read("Data").columns[3] == ["2493"]


def test_one_sheet_says_nothing(tmp_path) -> None:
    book = openpyxl.Workbook()
    table(book.active, [["MD", 2023, 1]])
    assert read(saved(book, tmp_path / "one.xlsx")).notes == []


def _rewrite(path: Path, part: str, change) -> None:
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts[part] = change(parts[part].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


# --- merged cells: the range's value is every cell's ------------------------------------------


def test_a_place_merged_down_its_rows_names_every_row(tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    table(sheet, [["Maryland", 2021, 2724], [None, 2022, 2523], [None, 2023, 2493]])
    sheet.append(["Vermont", 2021, 233])
    sheet.append([None, 2022, 266])
    sheet.merge_cells("A2:A4")
    sheet.merge_cells("A5:A6")
    path = saved(book, tmp_path / "merged.xlsx")
    cells = same_both_ways(path)
    assert cells.columns[1] == ["Maryland"] * 3 + ["Vermont"] * 2
    # the sample (its first rows), and only the columns wanted, read the same
    assert same_both_ways(path, last_row=3).columns[1] == ["Maryland"] * 2
    assert same_both_ways(path, columns={1, 3}).columns[1] == ["Maryland"] * 3 + ["Vermont"] * 2


def test_a_merge_across_columns_fills_the_columns_read(tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    table(sheet, [["MD", 2021, 5, "final"], ["MD", 2022, "suppressed", None]], [*HEADER, "Note"])
    sheet.merge_cells("C3:D3")  # "suppressed" across Deaths and Note
    path = saved(book, tmp_path / "across.xlsx")
    cells = same_both_ways(path)
    assert cells.columns[4] == ["final", "suppressed"]
    # the range starts in a column not read: its value still reaches the one read
    assert same_both_ways(path, columns={1, 4}).columns[4] == ["final", "suppressed"]


def test_a_header_merged_over_two_columns_names_both(tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    table(sheet, [["MD", 2021, 5, 6]], ["State", "Year", "Deaths", None])
    sheet.merge_cells("C1:D1")
    path = saved(book, tmp_path / "header.xlsx")
    cells = read(path)
    assert cells.header == ["State", "Year", "Deaths", "Deaths"]
    assert cells.columns[4] == ["6"] and not cells.outside_count  # not "right of the header"


def test_a_title_merged_across_the_page_stays_a_title(tmp_path) -> None:
    """A title line merged over the table's width is one cell, so the header is still found
    below it (a row of one value is a title)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Drug overdose deaths by state, 2021"])
    table(sheet, [["MD", 2021, 2724]])
    sheet.merge_cells("A1:C1")
    path = saved(book, tmp_path / "title.xlsx")
    assert read(path).header == ["Drug overdose deaths by state, 2021"]
    with Workbook(path) as opened:
        assert opened.filled(None, 5) == {1: 1, 2: 3, 3: 3}
        assert opened.read(None, header_row=2).columns[1] == ["MD"]


def test_a_merge_that_starts_above_the_header(tmp_path) -> None:
    """A two-line header: "State" merged down rows 1-2, the years under "Deaths" on row 2."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["State", "Deaths"])
    sheet.append([None, "2021", "2022"])
    sheet.append(["MD", 2724, 2523])
    sheet.merge_cells("A1:A2")
    sheet.merge_cells("B1:C1")
    path = saved(book, tmp_path / "two_lines.xlsx")
    cells = read(path, header_row=2)
    assert cells.header == ["State", "2021", "2022"]
    assert cells.columns == {1: ["MD"], 2: ["2724"], 3: ["2523"]}


def test_a_row_holding_only_a_merged_copy_is_not_a_row(tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    table(sheet, [["Maryland", 2021, 2724], [None, None, None], [None, 2023, 2493]])
    sheet.merge_cells("A2:A4")
    path = saved(book, tmp_path / "gap.xlsx")
    cells = same_both_ways(path)
    assert cells.rows == [2, 4] and cells.columns[1] == ["Maryland", "Maryland"]


def test_too_many_merges_are_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(xlsx, "MAX_MERGES", 3)
    book = openpyxl.Workbook()
    sheet = book.active
    table(sheet, [["MD", 2020 + n, n] for n in range(10)])
    for row in range(2, 12):
        sheet.merge_cells(f"C{row}:D{row}")
    path = saved(book, tmp_path / "merges.xlsx")
    with pytest.raises(SpreadsheetError, match="more than 3 ranges"):
        read(path)


def test_overlapping_merges_cost_one_pass_and_read_the_same_both_ways(
    tmp_path, monkeypatch
) -> None:
    """Excel never saves ranges that overlap; a hostile file of thousands that each span the
    whole sheet must not cost thousands of passes: the range above counts, once per column."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>Deaths</t></is></c>'
        f'<c r="B{r}" t="inlineStr"><is><t>2025-01</t></is></c><c r="C{r}"><v>{r}</v></c></row>'
        for r in range(2, 300)
    )
    merges = "".join(f'<mergeCell ref="C{top}:XFD1048576"/>' for top in range(2, 2000))
    sheet = sheet_of(rows)
    sheet[-1] = f"</sheetData><mergeCells>{merges}</mergeCells></worksheet>".encode()
    path = workbook(tmp_path / "overlaps.xlsx", sheet)
    cells = same_both_ways(path)
    assert cells.columns[3] == ["2"] * 298  # C2's range, the first, over every row
    monkeypatch.setattr(xlsx, "MAX_MERGE_SPANS", 1000)  # (ranges x columns read) is bounded
    with pytest.raises(SpreadsheetError, match="more than 1,000 columns"):
        read(path)


# --- percentages: stored as shown ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "percent"),
    [
        ("0%", True),
        ("0.0%", True),
        ("0.00%;[Red]-0.00%", True),
        ('#,##0.0%" of deaths"', True),
        ('0.0"%"', False),  # a % sign shown after the number, not a percentage
        ("0.0\\%", False),
        ("0.0_%", False),
        ("[$%-409]0.0", False),
        ("General", False),
        ("yyyy-mm-dd", False),
    ],
)
def test_which_formats_are_percentages(code, percent) -> None:
    assert is_percent_format(code) is percent


def test_numbers_formatted_as_percentages_are_read_as_shown(tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    rows = [[2021, "MD", 0.873, 0.873], [2022, "MD", 1, 0.5], [2023, "MD", 0.0005, 2]]
    table(sheet, rows, ["Year", "State", "Share", "Shown with a % sign"])
    for row, code in zip((2, 3, 4), ("0.0%", "0%", "0.00%"), strict=True):  # 0%, 0.00%: built in
        sheet.cell(row, 3).number_format = code
        sheet.cell(row, 4).number_format = '0.0"%"'
    path = saved(book, tmp_path / "share.xlsx")
    cells = same_both_ways(path)
    assert cells.columns[3] == ["87.3", "100", "0.05"]  # never 87.30000000000001
    assert cells.columns[4] == ["0.873", "0.5", "2"]  # a literal "%": the number as it is
    assert cells.notes == [
        "Column “Share” is formatted as percentages in Excel (3 cells): read as Excel shows "
        "them, 87.3% as 87.3 (not 0.873)."
    ]
    assert same_both_ways(path, last_row=2).percent == {3: (1, 2)}
    with zipfile.ZipFile(path) as saved_book:  # "0%" and "0.00%": Excel's built-in formats
        styles = saved_book.read("xl/styles.xml").decode()
    assert 'numFmtId="9"' in styles and 'numFmtId="10"' in styles
    assert 'formatCode="0%"' not in styles


def test_a_text_in_a_percent_cell_is_left_as_it_is(tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    table(sheet, [["MD", 2021, "12%"], ["MD", 2022, 0.5]])
    for row in (2, 3):
        sheet.cell(row, 3).number_format = "0%"
    cells = same_both_ways(saved(book, tmp_path / "texts.xlsx"))
    assert cells.columns[3] == ["12%", "50"] and cells.percent == {3: (1, 3)}


# --- the preview says it ---------------------------------------------------------------------


def test_the_preview_names_the_sheet_read_and_the_percentages(sqlite_bot) -> None:
    bot = sqlite_bot
    book = openpyxl.Workbook()
    old = book.active
    old.title = "prev_release"
    old.sheet_state = "hidden"
    table(old, [[2023, "MD", 0.5]], ["Year", "State", "Share of deaths involving opioids"])
    data = book.create_sheet("Data")
    table(data, [[2023, "MD", 0.873]], ["Year", "State", "Share of deaths involving opioids"])
    data["C2"].number_format = "0.0%"
    book.active = 1
    dm, preview = preview_of(bot, "opioid_share_sheets.xlsx", workbook_bytes(book))
    seen = all_text(preview)
    assert "Read the sheet “Data” (the sheet open when the file was saved)" in seen
    assert "“prev_release” (hidden)" in seen
    assert "87.3% as 87.3 (not 0.873)" in seen
    imported(bot, dm, preview)
    assert stored(bot, "Share of deaths involving opioids") == {("2023", "MD"): 87.3}
