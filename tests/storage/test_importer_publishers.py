"""Real publishers' files in `commstat import`: a dashboard's Total rows and CDC WONDER's (left
out, and said), WONDER's "(Unreliable)" rates and its words for missing values, rows that end
with a separator; and what a corrected re-release changes, listed the same by SQLite's and
PostgreSQL's compare paths, with the places it no longer has."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.core.periods import parse_period
from bot.slack.blocks.imports import build_preview
from bot.usecases.imports import Preview
from storage.db import make_engine, make_session_factory
from storage.importer import ImportMapping, ImportReport, ValueChange, _Stored, import_file
from storage.models import ImportStatus
from tests.storage.test_importer import NOW, TEAM, sessions, unchanged_database, value, write

__all__ = ["sessions"]  # the fixture (SQLite and PostgreSQL), shared with test_importer


@pytest.fixture
def lite(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(sqlite_url)
    yield make_session_factory(engine)
    engine.dispose()


def run(sessions, path, *, dry_run: bool = False, **options) -> ImportReport:
    mapping = ImportMapping.from_options(**options)
    return import_file(sessions, team_id=TEAM, path=path, mapping=mapping, now=NOW, dry_run=dry_run)


def preview_text(report: ImportReport) -> str:
    """Everything the Slack preview of `report` would send (its blocks as JSON)."""
    shown = Preview(
        row_id=1,
        file_name=report.file,
        status=ImportStatus.PREVIEWED,
        mapping=ImportMapping(),
        remembered=False,
        report=report,
    )
    return json.dumps([block.to_dict() for block in build_preview(shown)], ensure_ascii=False)


# --- total rows ------------------------------------------------------------------------------------


def test_a_dashboards_total_rows_are_left_out_and_said(lite, tmp_path) -> None:
    path = write(
        tmp_path,
        "State,Year,Deaths\n"
        "Maryland,2022,2523\nUnited States,2022,107941\nTotal,2022,110464\n"
        "MD,2023,2493\nUS,2023,105007\nGrand Total,2023,107500\nALL,2023,107500\n",
    )
    report = run(
        lite,
        path,
        indicator="Deaths",
        period_column="Year",
        value_column="Deaths",
        geography_column="State",
    )
    assert report.rows == 4
    assert report.indicators[0].geographies == ("MD", "US")  # the nation is a place, not a total
    assert value(lite, "Deaths", "2022", "US") == 107941
    assert report.read_notes == (
        "Left out 3 'Total' / 'Grand Total' / 'ALL' rows (rows 4, 7 and 8): totals of the other "
        "rows, not a place.",
    )
    assert report.read_notes[0] in report.summary()
    assert "Left out 3" in preview_text(report)


def test_total_indicator_and_period_rows_are_left_out(lite, tmp_path) -> None:
    path = write(
        tmp_path,
        "indicator,period,value\nHeroin,2024,5\nHeroin,Total,5\nFentanyl,2024,7\nTotal,2024,12\n",
    )
    report = run(lite, path)
    assert [(r.name, r.rows) for r in report.indicators] == [("Heroin", 1), ("Fentanyl", 1)]
    assert report.read_notes == (
        "Left out 1 'Total' row (row 5): totals of the other rows, not an indicator.",
        "Left out 1 'Total' row (row 3): totals of the other rows, not a period.",
    )


def test_a_column_of_nothing_but_totals_is_read_as_written(lite, tmp_path) -> None:
    # "All" on every row is no table's total row: nothing is left out, nothing said.
    path = write(tmp_path, "indicator,period,value,geography\nCalls,2024,5,All\nCalls,2025,6,All\n")
    report = run(lite, path)
    assert report.rows == 2 and report.read_notes == ()
    assert value(lite, "Calls", "2025", "All") == 6


def test_cdc_wonders_total_rows_are_left_out_by_its_notes_column(lite, tmp_path) -> None:
    # WONDER's "Show Totals": Notes = "Total", the period blank; its query notes below.
    path = write(
        tmp_path,
        '"Notes"\t"State"\t"Year"\t"Deaths"\n'
        '\t"Maryland"\t"2022"\t2523\n\t"Maryland"\t"2023"\t2493\n"Total"\t"Maryland"\t\t5016\n'
        '\t"Vermont"\t"2022"\t266\n"Total"\t"Vermont"\t\t266\n'
        '"---"\n"Dataset: Multiple Cause of Death"\n"Show Totals: True"\n',
        name="wonder.txt",
    )
    report = run(
        lite,
        path,
        indicator="Deaths",
        period_column="Year",
        value_column="Deaths",
        geography_column="State",
    )
    assert report.rows == 3
    assert report.read_notes == (
        "Left out 2 'Total' rows (rows 4 and 6): marked 'Total' in the Notes column: totals of "
        "other rows.",
    )


# --- WONDER's flags and words for missing values -----------------------------------------------


def test_wonders_unreliable_flag_is_dropped_and_its_number_kept(lite, tmp_path) -> None:
    path = write(
        tmp_path,
        "State,Year,Crude Rate\n"
        "MD,2021,15.8 (Unreliable)\nMD,2022,16.1\nVT,2021,Unreliable\nVT,2022,Missing\n"
        'NC,2021,Not Applicable\nNC,2022,"1,234.5 (unreliable)"\n',
    )
    report = run(
        lite,
        path,
        indicator="Rate",
        period_column="Year",
        value_column="Crude Rate",
        geography_column="State",
    )
    assert value(lite, "Rate", "2021", "MD") == 15.8
    assert value(lite, "Rate", "2022", "NC") == 1234.5
    assert [
        value(lite, "Rate", p, g) for p, g in (("2021", "VT"), ("2022", "VT"), ("2021", "NC"))
    ] == [None] * 3
    assert report.missing == 3
    assert report.read_notes == (
        "2 values in 'Crude Rate' are flagged (Unreliable) by the publisher (a rate from fewer "
        "than 20 events): the number is imported, the flag is not.",
    )


def test_a_flag_on_no_number_is_still_refused(lite, tmp_path) -> None:
    path = write(tmp_path, "indicator,period,value\nRate,2021,high (Unreliable)\n")
    with unchanged_database(lite) as refused:
        run(lite, path)
    assert "'high (Unreliable)' is not a number" in str(refused.value)
    assert "missing, not applicable" in str(refused.value)


# --- a separator at the end of every row ---------------------------------------------------------


def test_rows_ending_with_a_separator_are_read(lite, tmp_path) -> None:
    rows = "".join(f"Deaths,2025-0{m},{m}0,MD,\r\n" for m in range(1, 4)) + "Deaths,2025-04,40,MD,"
    report = run(lite, write(tmp_path, f"indicator,period,value,geography\r\n{rows}"))
    assert report.rows == 4
    assert value(lite, "Deaths", "2025-04", "MD") == 40


def test_an_extra_field_that_holds_something_is_still_refused(lite, tmp_path) -> None:
    path = write(tmp_path, "indicator,period,value\nDeaths,2025-01,1,\nDeaths,2025-02,2,oops\n")
    with unchanged_database(lite) as refused:
        run(lite, path)
    assert "row 3: 4 fields, but the header names 3 columns" in str(refused.value)
    assert "row 2:" not in str(refused.value)


# --- what a re-release changes -----------------------------------------------------------------

BEFORE = (
    "indicator,period,value,geography\n"
    "Deaths,2025-01,10,MD\nDeaths,2025-02,11,MD\nDeaths,2025-01,20,VT\nDeaths,2025-02,,VT\n"
    "Visits,2025-01,5,MD\nVisits,2025-02,1.001,MD\n"
)


@pytest.mark.parametrize("batches", ["one", "many"])
def test_a_re_release_lists_its_changes_on_both_compare_paths(
    sessions, tmp_path, monkeypatch, batches
) -> None:
    if batches == "many":  # a query per indicator and tiny COPY blocks: the same list
        monkeypatch.setattr(_Stored, "IDS_PER_QUERY", 1)
        monkeypatch.setattr(_Stored, "COPY_BYTES", 30)
    path = write(tmp_path, BEFORE)
    assert run(sessions, path).changes == ()
    path.write_text(
        BEFORE.replace("2025-02,11,MD", "2025-02,12,MD")
        .replace("2025-02,,VT", "2025-02,3,VT")
        .replace("2025-01,5,MD", "2025-01,,MD")
        .replace("1.001", "1.002")
    )
    month = parse_period
    expected = (
        ValueChange("Deaths", month("2025-02"), "MD", 11.0, 12.0),
        ValueChange("Deaths", month("2025-02"), "VT", None, 3.0),
        ValueChange("Visits", month("2025-01"), "MD", 5.0, None),
        ValueChange("Visits", month("2025-02"), "MD", 1.001, 1.002),
    )
    preview = run(sessions, path, dry_run=True)
    assert preview.changes == expected
    assert [c.words(named=True) for c in preview.changes] == [
        "Deaths, MD Feb 2025: 11 → 12",
        "Deaths, VT Feb 2025: missing → 3",
        "Visits, MD Jan 2025: 5 → missing",
        "Visits, MD Feb 2025: 1.001 → 1.002",  # beyond two decimals: shown exactly
    ]
    shown = preview_text(preview)
    assert "Stored values this file changes (4):" in shown
    assert "Deaths, MD Feb 2025: 11 → 12" in shown and "more." not in shown
    done = run(sessions, path)
    assert done.changes == expected and done.updated == 4
    assert run(sessions, path).changes == ()  # imported: nothing left to change


def test_many_changes_keep_the_first_ten_and_a_hostile_place_stays_text(sessions, tmp_path) -> None:
    places = ["<!channel>", *(f"Ward {n}" for n in range(1, 25))]
    lines = "".join(f"Calls,2025-01,{n},{p}\n" for n, p in enumerate(places))
    path = write(tmp_path, f"indicator,period,value,geography\n{lines}")
    run(sessions, path)
    path.write_text(
        "indicator,period,value,geography\n"
        + "".join(f"Calls,2025-01,{n + 100},{p}\n" for n, p in enumerate(places))
    )
    report = run(sessions, path, dry_run=True)
    assert report.updated == 25 and len(report.changes) == 10
    assert report.changes[0] == ValueChange("Calls", parse_period("2025-01"), "<!channel>", 0, 100)
    shown = preview_text(report)
    assert "<!channel>" not in shown  # shown as words (safe), never a live broadcast
    assert "@\u2060channel Jan 2025: 0 → 100" in shown
    assert "Ward 9 Jan 2025: 9 → 109" in shown and "Ward 10 Jan" not in shown
    assert "…and 15 more." in shown


def test_a_re_release_without_a_place_says_its_values_are_kept(sessions, tmp_path) -> None:
    path = write(tmp_path, BEFORE)
    run(sessions, path)
    assert run(sessions, path, dry_run=True).kept_lines() == []  # the same file: all there
    path.write_text(BEFORE.replace("Deaths,2025-02,11,MD\n", ""))  # a period gone, not a place
    assert run(sessions, path, dry_run=True).kept_lines() == []
    path.write_text("".join(line + "\n" for line in BEFORE.splitlines() if ",VT" not in line))
    report = run(sessions, path, dry_run=True)
    assert [r.kept_places for r in report.indicators] == [("VT",), ()]
    assert report.kept_lines() == ["VT: stored values are kept; this file has none for Deaths."]
    assert "VT: stored values are kept; this file has none for Deaths." in preview_text(report)
    assert "VT: stored values are kept" in run(sessions, path).summary()
    assert value(sessions, "Deaths", "2025-01", "VT") == 20  # kept, as said
