"""Publishers' shapes in `commstat import`: periods split over columns, several measures in one
row, lines above and below the table, places written several ways, and the DOSE-SYS file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.sandbox import bundled
from storage.db import make_engine, make_session_factory
from storage.importer import ImportError_, ImportMapping, _csv_options, import_file
from storage.models import Indicator, IndicatorValue

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
TEAM = "T0COALITION"


@pytest.fixture
def sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(sqlite_url)
    yield make_session_factory(engine)
    engine.dispose()


def run(sessions, path: Path, **options):
    mapping = ImportMapping.from_options(**options)
    return import_file(sessions, team_id=TEAM, path=path, mapping=mapping, now=NOW)


def stored(sessions) -> dict[tuple[str, str, str], float | None]:
    with sessions() as session:
        return {
            (name, period, place): value
            for name, period, place, value in session.execute(
                select(
                    Indicator.name,
                    IndicatorValue.period,
                    IndicatorValue.geography,
                    IndicatorValue.value,
                ).join(Indicator, Indicator.id == IndicatorValue.indicator_id)
            )
        }


def count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(IndicatorValue)) or 0


def write(tmp_path: Path, text: str, name: str = "values.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_mapping_with_every_new_setting_round_trips_through_plain_json() -> None:
    mapping = ImportMapping.from_options(
        period_column=["year", "month"],
        value_column=["drug_rate=Drug overdose ED visits", "opioid_rate"],
        geography_column="jurisdiction",
        filters=["rate_time=Monthly"],
        skip_rows=0,
        county_fips_column="fips",
        unit="per 10,000 ED visits",
    )
    assert mapping.period_columns == (("year", "year"), ("month", "month"))
    assert mapping.value_columns == (
        ("drug_rate", "Drug overdose ED visits"),
        ("opioid_rate", "opioid_rate"),
    )
    data = mapping.to_dict()
    assert data["period_columns"] == [["year", "year"], ["month", "month"]]
    assert data["skip_rows"] == 0
    assert ImportMapping.from_dict(data) == mapping
    # the old single options keep their meaning
    plain = ImportMapping.from_options(period_column="period_end", value_column="Data Value")
    assert (plain.period_column, plain.value_column) == ("period_end", "Data Value")
    assert (plain.period_columns, plain.value_columns) == ((), ())
    assert ImportMapping.from_dict(plain.to_dict()) == plain


def test_period_parts_come_from_the_column_names_or_are_named() -> None:
    mapping = ImportMapping.from_options(period_column=["MMWR Week", "MMWR Year"])
    # CDC's MMWR weeks (Sunday to Saturday), not ISO weeks
    assert mapping.period_columns == (("year", "MMWR Year"), ("mmwr week", "MMWR Week"))
    # epiyear + epiweek (the upload's guess reads them so): CDC weeks too
    mapping = ImportMapping.from_options(period_column=["epiyear", "epiweek"])
    assert mapping.period_columns == (("year", "epiyear"), ("mmwr week", "epiweek"))
    mapping = ImportMapping.from_options(period_column=["yr", "quarter=Q"])
    assert mapping.period_columns == (("year", "yr"), ("quarter", "Q"))
    mapping = ImportMapping.from_options(period_column=["year=YEAR"])
    assert mapping.period_columns == (("year", "YEAR"),)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"period_column": ["year", "year"]}, "names the column 'year' twice"),
        ({"period_column": ["year", "period"]}, "which part of the period does it hold?"),
        ({"period_column": ["month", "mon"]}, "two columns hold the month"),
        ({"period_column": ["month=mo"]}, "needs the year too"),
        ({"period_column": ["month", "week"]}, "needs the year too"),
        ({"period_column": ["year", "month", "week"]}, "at most one of month"),
        ({"period_column": ["day=d", "year"]}, "'day' is not a part of a period"),
        (
            {"value_column": ["a=Opioid visits", "b=opioid VISITS"]},
            "name the same indicator ('opioid VISITS')",
        ),
        ({"value_column": ["a", "A=x"]}, "names the column 'A' twice"),
        ({"value_column": ["a=", "b"]}, "names no indicator after '='"),
        ({"value_column": ["=x", "b"]}, "should look like COLUMN=NAME"),
        ({"value_column": ["a=x", "b"], "indicator": "Y"}, "leave out --indicator"),
        ({"value_column": ["a=x", "b"], "indicator_column": "Y"}, "leave out --indicator-column"),
        ({"skip_rows": -1}, "give 0 or more lines"),
        ({"unit": "  "}, "--unit needs a unit"),
        ({"unit": "x", "unit_column": "u"}, "either --unit TEXT or --unit-column"),
    ],
)
def test_mapping_options_that_cannot_work_are_refused(options, says) -> None:
    with pytest.raises(ImportError_) as refused:
        ImportMapping.from_options(**options)
    assert says in str(refused.value)


def test_the_dose_sys_file_through_its_bundled_mapping(sessions) -> None:
    report = import_file(
        sessions, team_id=TEAM, path=bundled.DOSE_SYS, mapping=bundled.DOSE_SYS_MAPPING, now=NOW
    )
    assert (report.rows, report.missing, len(report.indicators)) == (31_824, 14_238, 8)
    values = stored(sessions)
    opioids = "Opioid overdose ED visits"
    assert values[(opioids, "2025-06", "MD")] == 22.2
    assert values[(opioids, "2025-05", "MD")] == 20.5
    assert values[(opioids, "2024-06", "MD")] == 27.4
    assert values[(opioids, "2025-06", "CA")] is None  # § never shared: missing, not zero
    assert values[("Heroin overdose ED visits", "2025-06", "WY")] == 0.0  # a real zero
    with sessions() as session:
        units = set(session.scalars(select(Indicator.unit)))
    assert units == {"per 10,000 ED visits"}
    annual = import_file(
        sessions,
        team_id=TEAM,
        path=bundled.DOSE_SYS,
        mapping=bundled.DOSE_SYS_ANNUAL_MAPPING,
        now=NOW,
    )
    assert {r.period_kind for r in annual.indicators} == {"12-month-ending"}
    assert annual.added == 31_824


def test_year_and_quarter_week_or_year_alone(sessions, tmp_path) -> None:
    run(
        sessions,
        write(tmp_path, "yr,qtr,v\n2024,4,1\n2025,Q1,2\n"),
        indicator="Q",
        period_column=["yr", "quarter=qtr"],
        value_column="v",
    )
    run(
        sessions,
        write(tmp_path, "Year,Week,v\n2025,1,3\n2025,2,4\n", "w.csv"),
        indicator="W",
        period_column=["Year", "Week"],
        value_column="v",
    )
    run(
        sessions,
        write(tmp_path, "MMWR Year,MMWR Week,v\n2025,1,7\n2025,53,8\n", "mmwr.csv"),
        indicator="MMWR",
        period_column=["MMWR Year", "MMWR Week"],
        value_column="v",
    )
    report = run(
        sessions,
        write(tmp_path, "year,v\n2023.0,5\n2024,6\n", "y.csv"),
        indicator="Y",
        period_column=["year=year"],
        value_column="v",
    )
    assert report.indicators[0].period_kind == "yearly"
    values = stored(sessions)
    assert values[("Q", "2024-Q4", "")] == 1 and values[("Q", "2025-Q1", "")] == 2
    assert values[("W", "2024-12-30", "")] == 3 and values[("W", "2025-01-06", "")] == 4
    assert values[("MMWR", "2024-12-29", "")] == 7 and values[("MMWR", "2025-12-28", "")] == 8
    assert values[("Y", "2023", "")] == 5


def test_places_written_every_way_are_one_place_and_counties_come_from_fips(
    sessions, tmp_path
) -> None:
    run(
        sessions,
        write(tmp_path, "place,period,v\nMaryland,2025-01,1\n024,2025-02,2\nUS,2025-01,3\n"),
        indicator="Visits",
        geography_column="place",
        value_column="v",
    )
    run(
        sessions,
        write(
            tmp_path,
            "fips,county,period,v\n24510,Baltimore City,2025-01,7\n24031,Montgomery,2025-01,8\n"
            ",Maryland,2025-01,9\n",
            "c.csv",
        ),
        indicator="County visits",
        geography_column="county",
        county_fips_column="fips",
        value_column="v",
    )
    values = stored(sessions)
    assert values[("Visits", "2025-01", "MD")] == 1
    assert values[("Visits", "2025-02", "MD")] == 2
    assert values[("Visits", "2025-01", "US")] == 3
    assert values[("County visits", "2025-01", "Baltimore city, MD")] == 7
    assert values[("County visits", "2025-01", "Montgomery County, MD")] == 8
    assert values[("County visits", "2025-01", "MD")] == 9  # a blank county code: the state row


def test_maryland_and_md_in_one_file_are_the_same_place_twice(sessions, tmp_path) -> None:
    path = write(tmp_path, "place,period,v\nMaryland,2025-01,1\nMD,2025-01,2\n")
    with pytest.raises(ImportError_, match="row 3: repeats row 2"):
        run(sessions, path, indicator="V", geography_column="place", value_column="v")
    assert count(sessions) == 0


def test_an_unknown_county_code_is_refused_with_its_row(sessions, tmp_path) -> None:
    path = write(tmp_path, "fips,period,v\n24510,2025-01,1\n24999,2025-01,2\n")
    with pytest.raises(ImportError_, match="row 3: fips: '24999' is not a county of MD"):
        run(sessions, path, indicator="V", county_fips_column="fips", value_column="v")
    assert count(sessions) == 0


def test_skip_rows_says_where_the_header_is_and_row_numbers_count_the_title(
    sessions, tmp_path
) -> None:
    path = write(
        tmp_path,
        "Opioid visits by month\nprepared 2025-08-25 for the coalition\n"
        "period,value\n2025-01,1\n2025-02,lots\n",
    )
    with pytest.raises(ImportError_, match="row 5: value 'lots' is not a number"):
        run(sessions, path, indicator="V")
    with pytest.raises(ImportError_, match="row 5: value 'lots' is not a number"):
        run(sessions, path, indicator="V", skip_rows=2)
    with pytest.raises(ImportError_, match=r"--skip-rows 9: values\.csv has only 5 lines"):
        run(sessions, path, indicator="V", skip_rows=9)
    assert count(sessions) == 0


def test_a_plain_table_is_never_taken_for_a_title(sessions, tmp_path) -> None:
    # a one-field first data row, or a narrow header, must not move the header
    path = write(tmp_path, "indicator,period,value\nA,2025-01,1\nA,2025-02,2\n")
    assert run(sessions, path).added == 2
    for file in (bundled.OVERDOSES, bundled.NALOXONE, bundled.DOSE_SYS):
        assert "skiprows" not in _csv_options(file)


def _cdc_workbook(tmp_path: Path, last: object = 1234) -> Path:
    """A CDC-style sheet: two title lines, the table from row 3, a blank row and a note below."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Data"
    sheet.append(["Provisional drug overdose death counts"])
    sheet.append(["Data as of 2025-08-25"])
    sheet.append(["State", "Indicator", "Month", "Data Value"])
    sheet.append(["MD", "Overdose deaths", "2025-01", 1500])
    sheet.append(["MD", "Overdose deaths", "2025-02", last])
    sheet.append([])
    sheet.append(["Note: counts below 10 are suppressed."])
    path = tmp_path / "cdc.xlsx"
    book.save(path)
    return path


EXCEL_COLUMNS = {
    "indicator_column": "Indicator",
    "period_column": "Month",
    "value_column": "Data Value",
    "geography_column": "State",
}


def test_title_lines_above_an_excel_table_are_found_or_skipped_as_told(sessions, tmp_path) -> None:
    path = _cdc_workbook(tmp_path)
    report = run(sessions, path, **EXCEL_COLUMNS)
    assert (report.added, report.rows) == (2, 2)  # the note below is not a row
    assert stored(sessions) == {
        ("Overdose deaths", "2025-01", "MD"): 1500.0,
        ("Overdose deaths", "2025-02", "MD"): 1234.0,
    }
    assert run(sessions, path, skip_rows=2, **EXCEL_COLUMNS).unchanged == 2


def test_excel_row_numbers_count_the_title_lines_and_skip_rows_is_checked(
    sessions, tmp_path
) -> None:
    path = _cdc_workbook(tmp_path, last="lots")
    for skip in (None, 2):
        with pytest.raises(ImportError_, match="row 5: Data Value 'lots' is not a number"):
            run(sessions, path, skip_rows=skip, **EXCEL_COLUMNS)
    with pytest.raises(
        ImportError_, match=r"^--skip-rows 5: row 6 of the sheet 'Data' in cdc\.xlsx is empty"
    ):
        run(sessions, path, skip_rows=5, **EXCEL_COLUMNS)
    with pytest.raises(ImportError_, match="no column 'Indicator'"):
        run(sessions, path, skip_rows=0, **EXCEL_COLUMNS)  # the title as the header
    assert count(sessions) == 0
