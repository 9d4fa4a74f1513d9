"""An outside tester's breaks of "data flows in" (issue 14), each fixed and kept here: a European
spreadsheet's numbers (semicolons, decimal commas) read as thousands, and an Import that would
overwrite values someone else stored after its preview.

Through the served app (signed requests, the Slack stand-in, a worker) where a person would see
it, and the importer directly for the reading rules (each test well under 3 s)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from bot.sandbox import bundled
from bot.slack import ids
from storage.db import make_engine, make_session_factory
from storage.importer import ImportError_, ImportMapping, import_file
from storage.models import ImportStatus, Indicator, IndicatorValue
from tests.conftest import TEAM_ID
from tests.e2e.test_upload import (
    ADMIN,
    buttons,
    drop,
    imports_of,
    now_shows,
    press,
    private_answer,
    said,
)
from tests.helpers import all_text

RATE = "ED visits per 10k"


def stored(bot, name: str) -> dict[tuple[str, str], float | None]:
    with bot.services.sessions() as session:
        return {
            (period, place): value
            for period, place, value in session.execute(
                select(IndicatorValue.period, IndicatorValue.geography, IndicatorValue.value)
                .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
                .where(Indicator.name == name)
            )
        }


# --- a European Excel export: BOM, semicolons, decimal commas ---------------------------------


def test_a_european_excel_csv_is_read_with_decimal_commas_not_as_thousands(sqlite_bot):
    """Excel in a European locale saves "CSV (semicolon)": `1,234` there is 1.234, not 1234.
    Before the fix the preview said nothing and Import stored 1234 and 2500: 1000x too big."""
    bot = sqlite_bot
    data = (
        "\ufeffindicator;period;value;state\r\n"
        f"{RATE};2025-04;1,234;Maryland\r\n"
        f"{RATE};2025-05;2,500;MD\r\n"
        f"{RATE};2025-06;1.022,5;24\r\n"
    ).encode()
    dm = drop(bot, ADMIN, "ed_visits.csv", data)
    preview = said(bot, dm)
    seen = all_text(preview)
    assert "Rows to add: 3" in seen
    assert "read with decimal commas" in seen and "22,5 is 22.5" in seen
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "3 added")
    assert stored(bot, RATE) == {
        ("2025-04", "MD"): pytest.approx(1.234),
        ("2025-05", "MD"): pytest.approx(2.5),
        ("2025-06", "MD"): pytest.approx(1022.5),
    }


@pytest.fixture
def sessions(sqlite_url):
    engine = make_engine(sqlite_url)
    yield make_session_factory(engine)
    engine.dispose()


def _import_file(sessions, path: Path) -> None:
    """`commstat import FILE` with no options, on Jul 1, 2025."""
    import_file(
        sessions,
        team_id=TEAM_ID,
        path=path,
        mapping=ImportMapping(),
        now=datetime(2025, 7, 1, tzinfo=UTC),
    )


def _import(sessions, tmp_path: Path, name: str, data: bytes) -> dict[str, float | None]:
    path = tmp_path / name
    path.write_bytes(data)
    _import_file(sessions, path)
    with sessions() as session:
        return dict(session.execute(select(IndicatorValue.period, IndicatorValue.value)).all())


@pytest.mark.parametrize(
    ("name", "data", "values"),
    [
        # a US file: commas group thousands, as before
        ("us.csv", 'indicator,period,value\nX,2025-01,"1,234"\nX,2025-02,22.5\n', [1234, 22.5]),
        # semicolons, nothing but "1.234": a European thousand
        ("semi.csv", "indicator;period;value\nX;2025-01;1.234\nX;2025-02;12\n", [1234, 12]),
        # semicolons from a program that writes decimal points: "22.5" says so; "0.750" too
        ("points.csv", "indicator;period;value\nX;2025-01;1.234\nX;2025-02;22.5\n", [1.234, 22.5]),
        ("zero.csv", "indicator;period;value\nX;2025-01;1.500\nX;2025-02;0.750\n", [1.5, 0.75]),
        # Excel's "Unicode text" in a European locale: UTF-16, tabs, decimal commas
        ("unicode.txt", "indicator\tperiod\tvalue\nX\t2025-01\t22,2\nX\t2025-02\t1,234\n", None),
    ],
)
def test_which_way_a_column_writes_its_numbers(sessions, tmp_path, name, data, values):
    encoded = data.encode("utf-16") if name.endswith(".txt") else data.encode()
    got = _import(sessions, tmp_path, name, encoded)
    expected = values or [22.2, 1.234]
    assert [got["2025-01"], got["2025-02"]] == pytest.approx(expected)


def test_a_column_written_both_ways_is_refused_saying_so(sessions, tmp_path):
    with pytest.raises(ImportError_) as refused:
        _import(
            sessions,
            tmp_path,
            "mixed.csv",
            b"indicator;period;value\nX;2025-01;22.2\nX;2025-02;1,5\n",
        )
    assert (
        "row 3: value '1,5' is not a number (this column writes numbers both with a decimal"
        in str(refused.value)
    )
    with sessions() as session:
        assert session.scalar(select(IndicatorValue.value)) is None


def add_rate(bot, tmp_path: Path, *, steward: str) -> None:
    """The rate in the catalog, with April's value, stewarded by `steward`."""
    path = tmp_path / "april.csv"
    path.write_text(f"indicator,period,value\n{RATE},2025-04,1400\n", encoding="utf-8")
    import_file(
        bot.services.sessions, team_id=TEAM_ID, path=path, mapping=ImportMapping(), now=bot.clock()
    )
    with bot.services.sessions.begin() as session:
        session.scalars(select(Indicator)).one().steward_id = steward


# --- two stewards, one month: Import must not overwrite what it did not show -------------------


def test_an_import_that_would_overwrite_values_stored_since_its_preview_is_previewed_again(
    sqlite_bot, tmp_path
):
    """Lee and an admin each upload May's number. The admin's preview says "1 to add"; Lee
    imports first. Before the fix the admin's Import then replaced Lee's 1500 with 1600 unseen
    ("0 added, 1 updated"). Now nothing is written, the preview is read again in place (1 to
    update), and Import on it writes."""
    bot = sqlite_bot
    add_rate(bot, tmp_path, steward="U0LEE")
    lee = drop(bot, "U0LEE", "may.csv", f"indicator,period,value\n{RATE},2025-05,1500\n".encode())
    lees = said(bot, lee)
    dm = drop(bot, ADMIN, "may.csv", f"indicator,period,value\n{RATE},2025-05,1600\n".encode())
    mine = said(bot, dm)
    assert "Rows to add: 1 · update: 0" in all_text(mine)

    press(bot, lee, lees, ids.IMPORT_CONFIRM, user="U0LEE")
    now_shows(bot, lee, lees["ts"], "1 added")
    key = press(bot, dm, mine, ids.IMPORT_CONFIRM)
    told = private_answer(bot, key)
    assert "values it holds were stored by someone else" in told and "Nothing was imported" in told
    assert stored(bot, RATE) == {("2025-04", ""): 1400, ("2025-05", ""): 1500}
    again = now_shows(bot, dm, mine["ts"], "Rows to add: 0 · update: 1")
    assert "Imported" not in again

    press(bot, dm, bot.slack.message(dm, mine["ts"]), ids.IMPORT_CONFIRM)
    now_shows(bot, dm, mine["ts"], "0 added, 1 updated")
    assert stored(bot, RATE) == {("2025-04", ""): 1400, ("2025-05", ""): 1600}
    assert [r.status for r in imports_of(bot)] == [ImportStatus.IMPORTED] * 2


def test_the_same_file_imported_by_another_steward_first_is_imported_as_unchanged(
    sqlite_bot, tmp_path
):
    """The same file twice: nothing would be overwritten, so the second Import goes through and
    says honestly that nothing changed."""
    bot = sqlite_bot
    add_rate(bot, tmp_path, steward="U0MARIA")
    data = f"indicator,period,value\n{RATE},2025-05,1500\n".encode()
    first = drop(bot, ADMIN, "may.csv", data)
    one = said(bot, first)
    second = drop(bot, "U0MARIA", "may.csv", data)
    two = said(bot, second)
    press(bot, first, one, ids.IMPORT_CONFIRM)
    now_shows(bot, first, one["ts"], "1 added")
    press(bot, second, two, ids.IMPORT_CONFIRM, user="U0MARIA")
    now_shows(bot, second, two["ts"], "0 added, 0 updated, 1 unchanged")
    assert not buttons(bot.slack.message(second, two["ts"]) or {})
    assert stored(bot, RATE) == {("2025-04", ""): 1400, ("2025-05", ""): 1500}


# --- the long format with its places in a column named "State" ---------------------------------


def test_a_long_file_with_a_state_column_keeps_its_places(sqlite_bot):
    """`indicator,period,value,state`: before the fix the guess took no place column, so two
    states of one month were "the same row twice" (and one state alone lost its place)."""
    bot = sqlite_bot
    data = f"indicator,period,value,State\n{RATE},2025-05,1.5,Maryland\n{RATE},2025-05,2.5,VA\n"
    dm = drop(bot, ADMIN, "states.csv", data.encode())
    preview = said(bot, dm)
    seen = all_text(preview)
    assert "*Place:* column “State”" in seen and "Rows to add: 2" in seen
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "2 added")
    assert stored(bot, RATE) == {("2025-05", "MD"): 1.5, ("2025-05", "VA"): 2.5}


# --- a file name many files share ---------------------------------------------------------------


def test_another_files_mapping_remembered_under_the_same_name_gives_way_to_a_guess(sqlite_bot):
    """ "export.csv" is what many tools call their download. Before the fix the second, different
    export.csv was read with the first one's mapping and refused ("no column 'YEAR'"), though
    its own columns read fine; now the guess is used and the preview says why."""
    bot = sqlite_bot
    dm = drop(bot, ADMIN, "export.csv", bundled.NALOXONE.read_bytes())
    first = said(bot, dm)
    press(bot, dm, first, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, first["ts"], "255 added")

    other = f"indicator,period,value,geography\n{RATE},2025-01,5,MD\n{RATE},2025-02,6,MD\n"
    dm = drop(bot, ADMIN, "export.csv", other.encode())
    second = said(bot, dm, 2)
    seen = all_text(second)
    assert "does not fit this one (no column “YEAR”)" in seen
    assert "Rows to add: 2" in seen and ids.IMPORT_CONFIRM in buttons(second)
    press(bot, dm, second, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, second["ts"], "2 added")
    assert stored(bot, RATE) == {("2025-01", "MD"): 5, ("2025-02", "MD"): 6}

    # next month's file of the second kind: read as it was, no word of the first one
    third = all_text(
        said(bot, drop(bot, ADMIN, "export.csv", other.replace(",5,", ",7,").encode()), 3)
    )
    assert "Rows to add: 0 · update: 1" in third and "does not fit" not in third


# --- a workbook whose first sheet is a cover page --------------------------------------------


def workbook_with_notes_first(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Notes"
    notes.append(["Provisional data; see the technical notes."])
    data = book.create_sheet("Data")
    data.append(["indicator", "period", "value", "geography"])
    for row in rows:
        data.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_workbook_whose_first_sheet_is_notes_is_read_from_its_table_sheet(sqlite_bot):
    """Before the fix the preview read the cover sheet and refused ("no column 'indicator'"),
    naming no other sheet."""
    bot = sqlite_bot
    data = workbook_with_notes_first([[RATE, "2025-05", 3.5, "MD"], [RATE, "2025-06", 3.7, "MD"]])
    dm = drop(bot, ADMIN, "health_dept.xlsx", data)
    preview = said(bot, dm)
    seen = all_text(preview)
    assert (
        "The sheet read first, “Notes”, holds no table I could read, so this is the sheet “Data”"
        in seen
    )
    assert "*Sheet:* Data" in seen and "Rows to add: 2" in seen
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "2 added")
    assert stored(bot, RATE) == {("2025-05", "MD"): 3.5, ("2025-06", "MD"): 3.7}
    # next month: the same name, remembered with its sheet
    data = workbook_with_notes_first([[RATE, "2025-06", 3.7, "MD"], [RATE, "2025-07", 3.9, "MD"]])
    dm = drop(bot, ADMIN, "health_dept.xlsx", data)
    seen = all_text(said(bot, dm, 2))
    assert "remembered for files of this name" in seen and "Rows to add: 1 · update: 0" in seen


def test_the_command_names_the_other_sheets_when_the_first_has_no_table(sessions, tmp_path):
    path = tmp_path / "book.xlsx"
    path.write_bytes(workbook_with_notes_first([[RATE, "2025-05", 3.5, "MD"]]))
    with pytest.raises(ImportError_) as refused:
        _import_file(sessions, path)
    assert "the file has other sheets too: Data (--sheet NAME reads one of them)" in str(
        refused.value
    )
