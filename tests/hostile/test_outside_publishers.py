"""Real publishers' files brought to the importer by an outsider: the shapes CDC WONDER, CDC's
weekly (MMWR) tables, a state dashboard's CSV export and a publisher's Excel workbook really
have, built from the real CDC figures in bot/data (the VSRR overdose death counts). Each test
is a defect found from outside, kept as a strict xfail until it is fixed: what a steward does
(drop the file in the bot's DM, read the preview, press Import, ask `/indicator`) and what
they should have seen.

Ranked as found: a wrong number (or a number under the wrong week or place) stored without a
word first; then refusals of common shapes that mislead or are not needed."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from functools import cache

import openpyxl
import pytest

from bot.sandbox import bundled
from bot.slack import ids
from tests.e2e.test_upload import ADMIN, drop, now_shows, press, said
from tests.helpers import all_text, wait_for
from tests.hostile.test_outside_import_data import stored

DEATHS = "Number of Drug Overdose Deaths"
OPIOIDS = "Opioids (T40.0-T40.4,T40.6)"
STATES = {"MD": ("Maryland", "24"), "NC": ("North Carolina", "37"), "VT": ("Vermont", "50")}


@cache
def _vsrr() -> dict[tuple[str, str, str], str]:
    with bundled.OVERDOSES.open(encoding="utf-8", newline="") as handle:
        return {
            (r["State"], r["period_end"], r["Indicator"]): r["Data Value"]
            for r in csv.DictReader(handle)
        }


def deaths(state: str, period_end: str, indicator: str = DEATHS) -> int | None:
    """CDC's 12-month-ending count (the calendar year when `period_end` is December)."""
    text = _vsrr()[(state, period_end, indicator)]
    return int(text) if text else None


def workbook_bytes(book: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def preview_of(bot, name: str, data: bytes, nth: int = 1) -> tuple[str, dict]:
    """The DM and the bot's preview of the file (the `nth` message the bot wrote there)."""
    dm = drop(bot, ADMIN, name, data)
    return dm, said(bot, dm, nth)


def imported(bot, dm: str, preview: dict) -> str:
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    return now_shows(bot, dm, preview["ts"], "Imported")


def indicator_answer(bot, text: str) -> str:
    bot.driver.command("/indicator", text, user=ADMIN, channel="C0MEETING")
    key = bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1]
    return all_text(wait_for(lambda: bot.slack.responses(key))[0])


# --- 1. a hidden sheet's numbers imported instead of the sheet the steward sees -----------------


def test_a_hidden_first_sheet_is_not_what_gets_imported(sqlite_bot):
    """A publisher's workbook keeps the previous release on a hidden first sheet; the steward
    sees only the sheet "Data" (also the active tab). The preview named no sheet, and Import
    stored the hidden sheet's numbers: MD 2023 = 2,593, not CDC's 2,493."""
    bot = sqlite_bot
    book = openpyxl.Workbook()
    old = book.active
    old.title = "prev_release"
    old.sheet_state = "hidden"
    data = book.create_sheet("Data")
    for sheet, shift in ((old, 100), (data, 0)):
        sheet.append(["State", "Year", "Overdose deaths"])
        for state in STATES:
            for year in (2022, 2023):
                sheet.append([state, year, deaths(state, f"{year}-12") + shift])
    book.active = 1
    dm, preview = preview_of(bot, "overdose_deaths_by_state.xlsx", workbook_bytes(book))
    imported(bot, dm, preview)
    values = stored(bot, "Overdose deaths")
    assert values[("2023", "MD")] == 2493  # what the visible sheet (and CDC) says
    assert values[("2022", "VT")] == 266


# --- 2. CDC's MMWR weeks read as ISO weeks ------------------------------------------------------

MMWR_2026_WEEK_1 = date(2026, 1, 4)  # Sun Jan 4 - Sat Jan 10, 2026 (Jan 1 is a Thursday)
WEEKLY_COUNTS = [41, 37, 44, 39]  # made-up weekly counts; the shape is CDC's


def mmwr_file(*, week_ending: bool = False) -> bytes:
    """CDC's weekly tables ("Weekly Counts of Deaths by State…", NSSP): MMWR Year, MMWR Week
    (Sunday to Saturday weeks) and often the week's last day, "Week Ending Date"."""
    head = ["Jurisdiction", "MMWR Year", "MMWR Week", "Number of Deaths"]
    if week_ending:
        head.insert(1, "Week Ending Date")
    lines = [",".join(head)]
    for week, count in enumerate(WEEKLY_COUNTS, start=1):
        cells = ["Maryland", "2026", str(week), str(count)]
        if week_ending:
            ending = MMWR_2026_WEEK_1 + timedelta(weeks=week - 1, days=6)
            cells.insert(1, ending.isoformat())
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def test_cdc_mmwr_weeks_are_stored_as_the_weeks_cdc_counted(sqlite_bot):
    """MMWR week 1 of 2026 is Sun Jan 4 - Sat Jan 10. The importer took week 1 as ISO week 1
    (Mon Dec 29, 2025): the preview says "week of Dec 29, 2025 – week of Jan 19, 2026" and every
    count is filed under the week before the one CDC counted."""
    bot = sqlite_bot
    dm, preview = preview_of(bot, "weekly_deaths_md.csv", mmwr_file())
    assert "MMWR Year" in all_text(preview)  # the guess took the year + week columns
    imported(bot, dm, preview)
    values = stored(bot, "Number of Deaths")
    firsts = sorted(date.fromisoformat(period) for period, _ in values)
    # Each stored week must cover the MMWR week: start on its Sunday (or at least within it).
    assert MMWR_2026_WEEK_1 <= firsts[0] <= MMWR_2026_WEEK_1 + timedelta(days=6)


def test_a_cdc_file_with_mmwr_week_53_is_not_refused(sqlite_bot):
    bot = sqlite_bot
    data = (
        b"Jurisdiction,MMWR Year,MMWR Week,Number of Deaths\n"
        b"Maryland,2025,52,40\nMaryland,2025,53,45\nMaryland,2026,1,41\n"
    )
    _, preview = preview_of(bot, "weekly_deaths_53.csv", data)
    seen = all_text(preview)
    assert "ISO weeks 1 to 52" not in seen
    assert "Rows to add: 3" in seen


def test_a_week_ending_date_is_not_taken_for_the_weeks_first_day(sqlite_bot):
    """The guess picks "Week Ending Date" (the finest period column), stores Sat Jan 10, 2026
    and the bot then says the value "covers the 7 days starting on the date shown": Jan 10-16,
    while CDC counted Jan 4-10."""
    bot = sqlite_bot
    dm, preview = preview_of(bot, "weekly_deaths_ending.csv", mmwr_file(week_ending=True))
    imported(bot, dm, preview)
    firsts = sorted(date.fromisoformat(p) for p, _ in stored(bot, "Number of Deaths"))
    assert firsts[0] == MMWR_2026_WEEK_1


def test_a_week_ending_date_alone_is_the_week_up_to_it(sqlite_bot):
    """A dashboard's weekly export dated only by the Saturday that ends each week: each value is
    stored as the week up to that day (Sun–Sat), and the preview says how it was read."""
    bot = sqlite_bot
    body = "indicator,Week Ending Date,value\n" + "".join(
        f"Weekly ED overdose visits,{day},{n}\n"
        for day, n in (("2026-01-10", 41), ("2026-01-17", 38), ("2026-01-24", 44))
    )
    dm, preview = preview_of(bot, "weekly_ed.csv", body.encode())
    seen = all_text(preview)
    assert (
        "The dates in 'Week Ending Date' end their weeks, so each value is the week up to its "
        "date: Jan 10, 2026 is the week of Jan 4–Jan 10." in seen
    ), seen
    imported(bot, dm, preview)
    assert stored(bot, "Weekly ED overdose visits") == {
        ("2026-01-04", ""): 41.0,  # Sun Jan 4 – Sat Jan 10
        ("2026-01-11", ""): 38.0,
        ("2026-01-18", ""): 44.0,
    }


def test_a_date_column_not_named_as_an_end_is_the_week_from_it(sqlite_bot):
    bot = sqlite_bot
    body = "indicator,Week,value\n" + "".join(
        f"Weekly ED overdose visits,{day},{n}\n"
        for day, n in (("2026-01-04", 41), ("2026-01-11", 38), ("2026-01-18", 44))
    )
    dm, preview = preview_of(bot, "weekly_ed.csv", body.encode())
    assert "end their weeks" not in all_text(preview)
    imported(bot, dm, preview)
    assert stored(bot, "Weekly ED overdose visits") == {
        ("2026-01-04", ""): 41.0,
        ("2026-01-11", ""): 38.0,
        ("2026-01-18", ""): 44.0,
    }


# --- 3. merged place cells down a publisher's table ---------------------------------------------


def merged_state_blocks(states: tuple[str, ...]) -> bytes:
    """A publisher's table: each state's name in one merged cell down its years' rows (Excel
    keeps the value in the merged range's first cell only)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Deaths"
    sheet.append(["State", "Year", "Overdose deaths"])
    row = 2
    for state in states:
        for year in (2021, 2022, 2023):
            sheet.cell(row, 2, year)
            sheet.cell(row, 3, deaths(state, f"{year}-12"))
            row += 1
        sheet.cell(row - 3, 1, STATES[state][0])
        sheet.merge_cells(start_row=row - 3, start_column=1, end_row=row - 1, end_column=1)
    return workbook_bytes(book)


def test_a_place_in_a_merged_cell_applies_to_every_row_it_spans(sqlite_bot):
    """Maryland merged over its 2021-2023 rows: the preview said "MD", Import stored 2021 under
    MD and 2022, 2023 under no place at all."""
    bot = sqlite_bot
    dm, preview = preview_of(bot, "md_deaths_merged.xlsx", merged_state_blocks(("MD",)))
    imported(bot, dm, preview)
    assert stored(bot, "Overdose deaths") == {
        ("2021", "MD"): 2724,
        ("2022", "MD"): 2523,
        ("2023", "MD"): 2493,
    }


def test_merged_place_cells_over_two_states_are_read_or_named_as_the_cause(sqlite_bot):
    """Maryland and Vermont, each merged over its rows: refused as "row 6: repeats row 3: the
    same indicator, period and geography (Overdose deaths, 2022)" - the steward sees Vermont in
    row 6 and Maryland in row 3, and is told nothing about merged cells."""
    bot = sqlite_bot
    _, preview = preview_of(bot, "md_vt_deaths.xlsx", merged_state_blocks(("MD", "VT")))
    seen = all_text(preview)
    assert "Rows to add: 6" in seen or "merged" in seen


# --- 4. a state dashboard's CSV export: "Total" row, footnotes -----------------------------------


FOOTNOTES = [
    '"* Counts fewer than 10 are suppressed."',
    '"Source: CDC/NCHS, Vital Statistics Rapid Release, provisional counts."',
]


def dashboard_export() -> bytes:
    """A state dashboard's "Download data": quoted numbers with thousands separators, a Total
    row per year, blank lines, footnotes at the bottom."""
    lines = ['"State","Year","Overdose Deaths"']
    for year in (2022, 2023):
        total = 0
        for state, (name, _) in STATES.items():
            count = deaths(state, f"{year}-12")
            total += count
            lines.append(f'"{name}","{year}","{count:,}"')
        lines.append(f'"Total","{year}","{total:,}"')
        lines.append("")
    return ("\r\n".join(lines + FOOTNOTES) + "\r\n").encode()


def monthly_dashboard_export() -> bytes:
    """A dashboard's monthly series, the month first, footnotes below."""
    lines = ['"Month","State","Overdose deaths, 12 months ending"']
    for month in ("2024-10", "2024-11", "2024-12", "2025-01"):
        lines.append(f'"{month}","Maryland","{deaths("MD", month):,}"')
    return ("\r\n".join([*lines, "", *FOOTNOTES]) + "\r\n").encode()


def test_a_dashboards_total_row_is_not_stored_as_a_place(sqlite_bot):
    """The preview counts "4 places" and lists "MD, NC, Total, VT"; Import stores 7,044 (2022)
    as the overdose deaths of a place called Total, a fourth series beside the three states it
    sums."""
    bot = sqlite_bot
    dm, preview = preview_of(bot, "overdose_dashboard_export.csv", dashboard_export())
    imported(bot, dm, preview)
    values = stored(bot, "Overdose Deaths")
    assert values[("2023", "MD")] == 2493 and values[("2022", "NC")] == 4255  # thousands read
    assert {place for _, place in values} == {"MD", "NC", "VT"}


def test_a_footnote_under_a_period_first_table_does_not_hide_the_period_column(sqlite_bot):
    """A monthly export, Month first: the footnotes below are read as months by the guess,
    which then finds no period column and refuses: "has no column 'period'" - while the file
    plainly has a Month column, and the importer itself skips those footnotes (it imports the
    file when told --period-column Month). Without the footnotes the guess finds it."""
    bot = sqlite_bot
    _, preview = preview_of(bot, "overdose_dashboard_monthly.csv", monthly_dashboard_export())
    seen = all_text(preview)
    assert "no column 'period'" not in seen
    assert "Rows to add: 4" in seen


# --- 5. an Excel percentage ----------------------------------------------------------------------


def test_a_percent_formatted_cell_is_not_stored_a_hundred_times_smaller_unsaid(sqlite_bot):
    """The share of MD's overdose deaths that involved opioids, as a publisher's workbook shows
    it: 87.3% (2023). Import stored 0.873, and the preview said nothing of percentages."""
    bot = sqlite_bot
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Year", "State", "Share of deaths involving opioids"])
    for year in (2021, 2022, 2023):
        share = deaths("MD", f"{year}-12", OPIOIDS) / deaths("MD", f"{year}-12")
        sheet.append([year, "MD", round(share, 3)])
        sheet.cell(sheet.max_row, 3).number_format = "0.0%"
    dm, preview = preview_of(bot, "opioid_share.xlsx", workbook_bytes(book))
    seen = all_text(preview)
    imported(bot, dm, preview)
    value = stored(bot, "Share of deaths involving opioids")[("2023", "MD")]
    assert value == pytest.approx(87.3)
    assert "is formatted as percentages in Excel" in seen, seen


def test_a_percentage_written_in_a_csv_is_read_as_the_excel_cell_is(sqlite_bot):
    """The same shares saved as CSV ("87.3%") were refused as "not a number", while the Excel
    file imported: both routes now store the number shown, and say so."""
    bot = sqlite_bot
    lines = ["Year,State,Share of deaths involving opioids"]
    for year in (2021, 2022, 2023):
        share = deaths("MD", f"{year}-12", OPIOIDS) / deaths("MD", f"{year}-12")
        lines.append(f"{year},MD,{share * 100:.1f}%")
    dm, preview = preview_of(bot, "opioid_share.csv", ("\n".join(lines) + "\n").encode())
    seen = all_text(preview)
    assert (
        "3 values in 'Share of deaths involving opioids' are written as percentages: each is "
        "stored as the number shown (87.3% as 87.3, not 0.873)." in seen
    ), seen
    imported(bot, dm, preview)
    value = stored(bot, "Share of deaths involving opioids")[("2023", "MD")]
    assert value == pytest.approx(87.3)


def test_a_suppressed_small_percentage_is_missing(sqlite_bot):
    bot = sqlite_bot
    body = "indicator,period,geography,value\nShare,2022,MD,0.4%\nShare,2023,MD,<1%\n"
    dm, preview = preview_of(bot, "share.csv", body.encode())
    imported(bot, dm, preview)
    shares = stored(bot, "Share")
    assert shares[("2022", "MD")] == pytest.approx(0.4)
    assert shares[("2023", "MD")] is None  # missing, never zero


@pytest.mark.parametrize("cell", ["%", "n/a%", "87.3 %%", "high%"])
def test_a_percent_sign_without_a_number_is_still_refused(sqlite_bot, cell):
    bot = sqlite_bot
    body = f"indicator,period,geography,value\nShare,2022,MD,50%\nShare,2023,MD,{cell}\n"
    _, preview = preview_of(bot, "share.csv", body.encode())
    seen = all_text(preview)
    assert "is not a number" in seen and "Rows to add" not in seen, seen


# --- 6. CDC WONDER's export -----------------------------------------------------------------------


def wonder_export(*, unreliable: bool = False) -> bytes:
    """CDC WONDER's "Export" (Multiple Cause of Death, grouped by State and Year, Show Totals
    on, as by default): tab-separated, a Notes column, "Suppressed", a Total row per state,
    and notes after "---" lines."""
    population = {"MD": 6_164_660, "NC": 10_698_973, "VT": 647_064}
    lines = [
        '"Notes"\t"State"\t"State Code"\t"Year"\t"Year Code"\t"Deaths"\t"Population"\t"Crude Rate"'
    ]
    for state, (name, code) in STATES.items():
        total = 0
        for year in range(2019, 2024):
            count = deaths(state, f"{year}-12", OPIOIDS)
            if count is None:  # NC 2023: CDC left it blank ("low data quality")
                cells = ["Suppressed", str(population[state]), "Suppressed"]
            else:
                total += count
                rate = f"{count / population[state] * 1e5:.1f}"
                if unreliable and state == "VT":
                    # WONDER's flag on a rate from fewer than 20 deaths (county rows often
                    # are); put on VT's rows here for the shape, its counts are higher
                    rate += " (Unreliable)"
                cells = [str(count), str(population[state]), rate]
            lines.append(
                "\t".join(["", f'"{name}"', f'"{code}"', f'"{year}"', f'"{year}"', *cells])
            )
        if not unreliable:
            lines.append(
                "\t".join(['"Total"', f'"{name}"', f'"{code}"', "", "", str(total), "", ""])
            )
    lines += [
        '"---"',
        '"Dataset: Multiple Cause of Death, 2018-2023, Single Race"',
        '"Query Parameters:"',
        '"States: Maryland (24); North Carolina (37); Vermont (50)"',
        '"Group By: State; Year"',
        '"Show Totals: True"',
        '"---"',
        '"Query Date: Nov 23, 2026 10:00:00 AM"',
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_a_cdc_wonder_export_with_its_total_rows(sqlite_bot):
    """Was refused as "row 7: Year: the period is blank" (and rows 13, 19): those are WONDER's
    Total rows (Notes = "Total"). They are left out, and the preview says so."""
    bot = sqlite_bot
    _, preview = preview_of(bot, "Multiple Cause of Death, 2018-2023.txt", wonder_export())
    seen = all_text(preview)
    assert "Rows to add: 15" in seen, seen
    assert "Left out 3 'Total' rows" in seen, seen


def test_a_wonder_rate_flagged_unreliable_is_read(sqlite_bot):
    """WONDER writes "17.1 (Unreliable)" for a rate from fewer than 20 deaths; the import of
    the Crude Rate column is refused: "'17.1 (Unreliable)' is not a number (missing values may
    be written as: …)"."""
    bot = sqlite_bot
    dm = drop(bot, ADMIN, "wonder_rates.txt", wonder_export(unreliable=True))
    preview = said(bot, dm)
    press(bot, dm, preview, ids.IMPORT_MAPPING)
    opened = wait_for(lambda: [v for v in bot.slack.views if v["action"] == "open"])[-1]["view"]
    form = {
        "indicator": "Opioid overdose death rate",
        "period_columns": "Year Code",
        "value_columns": "Crude Rate",
        "geography_column": "State",
    }
    closed = bot.driver.submit_view(
        ids.IMPORT_MAPPING_VIEW,
        {k: {"value": {"type": "plain_text_input", "value": v}} for k, v in form.items()},
        user=ADMIN,
        private_metadata=opened["private_metadata"],
        view_id=opened["id"],
    )
    assert closed.status == 200, closed.text
    shown = wait_for(
        lambda: (
            (t := all_text(bot.slack.message(dm, preview["ts"]) or {}))
            and "column “Crude Rate”" in t
            and t
        )
    )
    assert "Rows to add: 15" in shown, shown


# --- 7. trailing separators ----------------------------------------------------------------------


def test_a_csv_whose_rows_end_with_a_comma_is_read(sqlite_bot):
    """Some exporters end every data row with a separator: an empty last field on every row.
    pandas reads it (index_col=False drops it, as its docs say), but the importer refuses the
    file with one "5 fields, but the header names 4 columns" line per row."""
    bot = sqlite_bot
    lines = ["indicator,period,value,geography"]
    for month in ("2025-01", "2025-02", "2025-03", "2025-04"):
        lines.append(f"{DEATHS},{month},{deaths('MD', month)},MD,")
    _, preview = preview_of(bot, "export_trailing.csv", ("\r\n".join(lines) + "\r\n").encode())
    assert "Rows to add: 4" in all_text(preview)


# --- 8. a corrected re-release -------------------------------------------------------------------


def test_a_corrected_re_release_says_what_it_changes(sqlite_bot):
    """CDC's file imported, then the same file with two counts corrected (MD Apr 2025 1,562 ->
    1,571; VT Mar 2025 199 -> 201). The preview says "update: 2" and nothing else: the steward
    cannot tell which values change, from what, to what, before pressing Import."""
    bot = sqlite_bot
    original = bundled.OVERDOSES.read_bytes()
    dm, preview = preview_of(bot, bundled.OVERDOSES.name, original)
    imported(bot, dm, preview)
    text = original.decode("utf-8")
    md = f"MD,Maryland,2025,April,2025-04,12 month-ending,{DEATHS},1562,"
    assert md in text
    corrected = text.replace(md, md.replace(",1562,", ",1571,"))
    vt_row = next(
        line
        for line in text.splitlines()
        if line.startswith("VT,") and ",2025-03," in line and DEATHS in line
    )
    vt_count = vt_row.split(f"{DEATHS},")[1].split(",")[0]
    corrected = corrected.replace(
        vt_row, vt_row.replace(f"{DEATHS},{vt_count},", f"{DEATHS},{int(vt_count) + 2},")
    )
    _, again = preview_of(bot, bundled.OVERDOSES.name, corrected.encode(), nth=2)
    seen = all_text(again)
    assert "update: 2" in seen
    assert "1,562" in seen and "1,571" in seen  # MD Apr 2025, from and to
    assert f"{int(vt_count):,}" in seen and f"{int(vt_count) + 2:,}" in seen


# --- 9. school or fiscal years written 2021-22 ---------------------------------------------------


def test_school_years_are_not_read_as_months(sqlite_bot):
    """Education and budget publishers write a school or fiscal year as 2021-22. The import is
    refused with "'2022-23' is not a month: months are 01 to 12" (and nothing says FY2022-23 is
    read); an older series (2009-10, 2010-11, 2011-12) is imported as Oct 2009, Nov 2010 and
    Dec 2011, "monthly"."""
    bot = sqlite_bot
    rows = "".join(
        f"Students reporting vaping,{year},{share}\n"
        for year, share in (("2020-21", 12.1), ("2021-22", 13.4), ("2022-23", 14.0))
    )
    _, preview = preview_of(bot, "school_survey.csv", f"indicator,period,value\n{rows}".encode())
    assert "not a month" not in all_text(preview)
    # an older series written the ambiguous way is refused with how to write it, not stored as
    # Oct 2009, Nov 2010, Dec 2011 (the importer's own check, on every row, on every path)
    rows = "".join(
        f"Students reporting vaping,{year},{share}\n"
        for year, share in (("2009-10", 9.1), ("2010-11", 9.8), ("2011-12", 10.2))
    )
    _, preview = preview_of(bot, "old_survey.csv", f"indicator,period,value\n{rows}".encode(), 2)
    seen = all_text(preview)
    assert "(column 'period') are not read" in seen and "2009-2010" in seen, seen
    assert "Rows to add" not in seen


def test_dates_saved_as_excels_day_numbers_are_named_as_such(sqlite_bot):
    """A publisher's Date column saved as General: Excel keeps 45566 for Oct 1, 2024. The
    refusal says what the numbers are and how to fix the file, not "the year 45566"."""
    bot = sqlite_bot
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Date", "State", "Overdose deaths"])
    for serial, count in ((45566, 151), (45597, 149), (45627, 160)):  # Oct 1, Nov 1, Dec 1
        sheet.append([serial, "MD", count])
    _, preview = preview_of(bot, "monthly.xlsx", workbook_bytes(book))
    seen = all_text(preview)
    assert "looks like a date as Excel counts days (Oct 1, 2024)" in seen, seen
    assert "Rows to add" not in seen
