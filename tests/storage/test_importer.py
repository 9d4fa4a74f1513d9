"""`commstat import`: real CDC files in, the right numbers stored; bad files change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.sandbox import bundled
from storage.db import make_engine, make_session_factory
from storage.importer import ImportError_, ImportMapping, import_file
from storage.models import Direction, Indicator, IndicatorValue, Team

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
TEAM = "T0COALITION"
DATA = Path(__file__).resolve().parents[2] / "bot" / "data"
VSRR = bundled.OVERDOSES
NALOXONE = bundled.NALOXONE
DEATHS = "Number of Drug Overdose Deaths"
OPIOIDS = "Opioids (T40.0-T40.4,T40.6)"


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def vsrr_mapping(*filters: str) -> ImportMapping:
    return ImportMapping.from_options(
        indicator_column="Indicator",
        period_column="period_end",
        value_column="Data Value",
        geography_column="State",
        filters=filters,
    )


def naloxone_mapping() -> ImportMapping:
    return bundled.NALOXONE_MAPPING


def run(sessions, path: Path, mapping: ImportMapping | None = None, now: datetime = NOW):
    return import_file(
        sessions, team_id=TEAM, path=path, mapping=mapping or ImportMapping(), now=now
    )


def value(sessions, name: str, period: str, geography: str = "") -> float | None:
    with sessions() as session:
        found = session.execute(
            select(IndicatorValue.value)
            .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
            .where(
                Indicator.team_id == TEAM,
                Indicator.name == name,
                IndicatorValue.period == period,
                IndicatorValue.geography == geography,
            )
        ).one()
        return found[0]


def counts(sessions) -> tuple[int, int]:
    with sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Indicator)) or 0,
            session.scalar(select(func.count()).select_from(IndicatorValue)) or 0,
        )


def indicator(sessions, name: str) -> Indicator:
    with sessions() as session:
        found = session.scalars(select(Indicator).where(Indicator.name == name)).one()
        session.expunge(found)
        return found


@contextmanager
def unchanged_database(sessions):
    before = counts(sessions)
    with pytest.raises(ImportError_) as refused:
        yield refused
    assert counts(sessions) == before


def write(tmp_path: Path, text: str, name: str = "values.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- the real CDC files --------------------------------------------------------------------------


def test_vsrr_file_spot_checks(sessions) -> None:
    report = run(sessions, VSRR, vsrr_mapping())

    assert [r.name for r in report.indicators] == [
        DEATHS,
        OPIOIDS,
        "Synthetic opioids, excl. methadone (T40.4)",
    ]
    assert report.added == 1116 and report.missing == 13
    assert value(sessions, DEATHS, "2023-12", "VT") == 246
    assert value(sessions, DEATHS, "2025-04", "MD") == 1562
    assert value(sessions, DEATHS, "2024-12", "MD") == 1749
    assert value(sessions, DEATHS, "2023-06", "US") == 111466
    for month in pd.period_range("2023-10", "2024-09", freq="M"):
        assert value(sessions, OPIOIDS, str(month), "NC") is None
    assert value(sessions, OPIOIDS, "2025-04", "NC") is None
    assert value(sessions, OPIOIDS, "2023-09", "NC") is not None
    deaths = indicator(sessions, DEATHS)
    assert deaths.period_kind == "12-month-ending"
    assert deaths.slug == "number-of-drug-overdose-deaths"
    assert deaths.direction == Direction.LOWER_IS_BETTER
    summary = report.summary()
    assert "1,116 rows for 3 indicators" in summary
    assert "13 missing" in summary
    assert "period kind 12-month-ending (from the Period column)" in summary
    with sessions() as session:
        assert session.get(Team, TEAM) is not None


def test_naloxone_file_spot_checks(sessions) -> None:
    report = run(sessions, NALOXONE, naloxone_mapping())

    assert report.added == 255
    assert value(sessions, "Naloxone dispensing rate", "2019", "MD") == 0.6
    assert value(sessions, "Naloxone dispensing rate", "2023", "MD") == 0.8
    assert value(sessions, "Naloxone dispensing rate", "2023", "NC") == 0.6
    assert value(sessions, "Naloxone dispensing rate", "2023", "VT") == 0.4
    naloxone = indicator(sessions, "Naloxone dispensing rate")
    assert naloxone.period_kind == "yearly"
    assert naloxone.direction == Direction.HIGHER_IS_BETTER
    assert 'higher is better (the name mentions "naloxone")' in report.summary()


def test_reimport_changes_nothing_and_a_changed_value_is_updated(sessions, tmp_path) -> None:
    run(sessions, VSRR, vsrr_mapping())
    with sessions() as session:
        stamp = session.scalar(
            select(IndicatorValue.updated_at).where(IndicatorValue.period == "2025-04").limit(1)
        )

    again = run(sessions, VSRR, vsrr_mapping(), now=NOW + timedelta(days=1))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1116)
    assert "0 added, 0 updated, 1,116 unchanged" in again.summary()
    with sessions() as session:
        assert (
            session.scalar(
                select(IndicatorValue.updated_at).where(IndicatorValue.period == "2025-04").limit(1)
            )
            == stamp
        )

    # CDC revises a provisional count, and a once-suppressed value arrives.
    text = VSRR.read_text(encoding="utf-8")
    text = text.replace(
        "MD,Maryland,2025,April,2025-04,12 month-ending,Number of Drug Overdose Deaths,1562,",
        "MD,Maryland,2025,April,2025-04,12 month-ending,Number of Drug Overdose Deaths,1570,",
    )
    lines = text.splitlines()
    nc_april = [
        i
        for i, line in enumerate(lines)
        if line.startswith("NC,") and "2025-04" in line and "Opioids" in line
    ]
    assert len(nc_april) == 1
    parts = lines[nc_april[0]].split(",")
    assert parts[8] == "", "the NC opioid value for 2025-04 is blank in the CDC file"
    parts[8] = "900"
    lines[nc_april[0]] = ",".join(parts)
    revised = write(tmp_path, "\n".join(lines) + "\n", name="revised.csv")

    report = run(sessions, revised, vsrr_mapping(), now=NOW + timedelta(days=2))
    assert report.updated == 2 and report.added == 0 and report.unchanged == 1114
    assert report.by_name(DEATHS).updated == 1
    assert value(sessions, DEATHS, "2025-04", "MD") == 1570
    assert value(sessions, OPIOIDS, "2025-04", "NC") == 900


def test_filter_keeps_only_matching_rows(sessions) -> None:
    report = run(sessions, VSRR, vsrr_mapping("State=MD"))
    assert report.added == 124 * 2  # two series are published for Maryland
    for result in report.indicators:
        assert result.geographies == ("MD",)
    assert value(sessions, DEATHS, "2025-04", "MD") == 1562


def test_filter_that_matches_nothing_says_what_the_column_holds(sessions) -> None:
    with unchanged_database(sessions) as refused:
        run(sessions, VSRR, vsrr_mapping("State=ZZ"))
    assert "No rows of" in str(refused.value)
    assert "State holds: MD, NC, US, VT" in str(refused.value)


def test_catalog_metadata_survives_reimport(sessions) -> None:
    run(sessions, NALOXONE, naloxone_mapping())
    with sessions.begin() as session:
        naloxone = session.scalars(select(Indicator)).one()
        naloxone.name = "Naloxone Rx per 100"
        naloxone.aliases = ["Naloxone dispensing rate"]
        naloxone.unit = "per 100 people"
        naloxone.period_kind = "yearly"
        naloxone.direction = Direction.LOWER_IS_BETTER  # someone's deliberate choice

    report = run(sessions, NALOXONE, naloxone_mapping())
    assert report.unchanged == 255 and counts(sessions)[0] == 1
    with sessions() as session:
        naloxone = session.scalars(select(Indicator)).one()
        assert naloxone.name == "Naloxone Rx per 100"
        assert naloxone.unit == "per 100 people"
        assert naloxone.direction == Direction.LOWER_IS_BETTER


# --- the long format, CSV details and Excel ----------------------------------------------------


def test_long_format_with_bom_crlf_quotes_thousands_and_markers(sessions, tmp_path) -> None:
    rows = [
        "indicator,period,value,geography,unit",
        '"Deaths, all causes",2025-01,"1,562",MD,deaths',
        '"Deaths, all causes",2025-02,*,MD,deaths',
        '"Deaths, all causes",2025-03, § ,MD,deaths',
        '"Deaths, all causes",2025-04,¶,MD,deaths',
        '"Deaths, all causes",2025-05,NA,MD,deaths',
        '"Deaths, all causes",2025-06,n/a,MD,deaths',
        '"Deaths, all causes",2025-07,Suppressed,MD,deaths',
        '"Deaths, all causes",2025-08,<10,MD,deaths',
        '"Deaths, all causes",2025-09,,MD,deaths',
        '"Deaths, all causes",2025-10,0,MD,deaths',
        '"Deaths, all causes",2025-11,"12,345.5",MD,deaths',
    ]
    path = write(tmp_path, "\ufeff" + "\r\n".join(rows) + "\r\n")

    report = run(sessions, path)

    result = report.by_name("Deaths, all causes")
    assert (result.added, result.missing) == (11, 8)
    assert value(sessions, "Deaths, all causes", "2025-01", "MD") == 1562
    assert value(sessions, "Deaths, all causes", "2025-10", "MD") == 0  # a real zero stays zero
    assert value(sessions, "Deaths, all causes", "2025-11", "MD") == 12345.5
    for month in range(2, 10):
        assert value(sessions, "Deaths, all causes", f"2025-{month:02d}", "MD") is None
    deaths = indicator(sessions, "Deaths, all causes")
    assert deaths.unit == "deaths" and deaths.period_kind == "monthly"
    assert deaths.slug == "deaths-all-causes"


def test_no_geography_column_stores_an_empty_geography(sessions, tmp_path) -> None:
    path = write(
        tmp_path, "Indicator,Period,Value\nClients housed,2025-Q1,40\nClients housed,2025-Q2,44\n"
    )
    report = run(sessions, path)
    assert value(sessions, "Clients housed", "2025-Q2") == 44
    housed = indicator(sessions, "Clients housed")
    assert housed.period_kind == "quarterly"
    assert housed.direction == Direction.HIGHER_IS_BETTER
    assert report.by_name("Clients housed").geographies == ()


def test_awkward_place_names_are_stored_as_written_and_a_reimport_matches_them(
    sessions, tmp_path
) -> None:
    # Backslashes, tabs and quotes must survive the bulk write (PostgreSQL COPY text escapes
    # them); padded cells are the same place as unpadded ones.
    path = write(
        tmp_path,
        "indicator,period,value,geography\n"
        'Deaths,2025-01,"1,204",Back\\slash County\n'
        'Deaths,2025-01,7,"Tab\tTown"\n'
        "Deaths,2025-01,<10,O'Brien County\n"
        "Deaths,2025-02,9,  O'Brien County  \n"
        "Deaths,2025-02,3.5,\\N\n",
    )
    first = run(sessions, path)
    assert (first.added, first.missing) == (5, 1)
    assert value(sessions, "Deaths", "2025-01", "Back\\slash County") == 1204
    assert value(sessions, "Deaths", "2025-01", "Tab\tTown") == 7
    assert value(sessions, "Deaths", "2025-01", "O'Brien County") is None
    assert value(sessions, "Deaths", "2025-02", "O'Brien County") == 9
    assert value(sessions, "Deaths", "2025-02", "\\N") == 3.5
    again = run(sessions, path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 5)
    path.write_text(path.read_text().replace("Deaths,2025-01,<10", "Deaths,2025-01,12"))
    changed = run(sessions, path)
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 4)
    assert value(sessions, "Deaths", "2025-01", "O'Brien County") == 12
    assert value(sessions, "Deaths", "2025-01", "Back\\slash County") == 1204


@pytest.mark.parametrize("packed", [True, False], ids=["one-key-column", "two-key-columns"])
def test_a_reimport_compares_every_stored_value_exactly(
    sessions, tmp_path, monkeypatch, packed
) -> None:
    # What is stored is read back as numbers (PostgreSQL: binary COPY, read a few rows at a
    # time here), its key as one number or as two; a value is unchanged only to the last bit.
    from storage.importer import _Stored

    monkeypatch.setattr(_Stored, "COPY_BYTES", 100)  # many partial blocks, rows split across
    if not packed:
        monkeypatch.setattr(_Stored, "PACKED_BINARY", 0)
        monkeypatch.setattr(_Stored, "PACKED_FLOAT", 0)
    lines = ["indicator,period,value,geography"]
    for place in ("MD", "VA", ""):
        for month in range(1, 13):
            lines.append(f"Deaths,2025-{month:02d},{month * 1.1},{place}")
            lines.append(f"Visits,2025-{month:02d},{'' if month == 3 else 0.1 + month},{place}")
    lines.append("Deaths,2026-01,0.30000000000000004,MD")
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert run(sessions, path).added == 73
    again = run(sessions, path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 73)
    path.write_text(path.read_text().replace("0.30000000000000004", "0.3"))
    changed = run(sessions, path)
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 72)
    assert value(sessions, "Deaths", "2026-01", "MD") == 0.3


def test_a_value_for_a_period_not_yet_begun_is_refused_and_nothing_is_stored(
    sessions, tmp_path
) -> None:
    # NOW is Mon Nov 23, 2026: 2029 is a typo, and stored it would be the latest period.
    path = write(
        tmp_path,
        "indicator,period,value,geography\nDeaths,2026-10,12,MD\nDeaths,2029-10,14,MD\n",
    )
    with unchanged_database(sessions) as refused:
        run(sessions, path)
    assert "row 3: Oct 2029 has not begun yet, so it can't have a value" in str(refused.value)


def test_a_templates_blank_months_still_to_come_are_left_out(sessions, tmp_path) -> None:
    path = write(
        tmp_path,
        "indicator,period,value,geography\n"
        "Deaths,2026-10,12,MD\nDeaths,2026-11,,MD\nDeaths,2026-12,,MD\nDeaths,2027-01,,MD\n"
        "Visits,2027-01,,MD\n",
    )
    report = run(sessions, path)
    assert [(r.name, r.added, r.missing, r.last.text) for r in report.indicators] == [
        ("Deaths", 2, 1, "2026-11")  # November has begun: a missing value, as written
    ]
    with sessions() as session:  # Visits had only months to come: not made
        assert session.scalars(select(Indicator.name)).all() == ["Deaths"]
    with unchanged_database(sessions) as refused:
        run(sessions, write(tmp_path, "indicator,period,value\nDeaths,2027-03,\n", "next.csv"))
    assert "every row of next.csv is for a period that has not begun" in str(refused.value)


def test_excel_sheet(sessions, tmp_path) -> None:
    path = tmp_path / "values.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"notes": ["not this sheet"]}).to_excel(
            writer, sheet_name="Read me", index=False
        )
        pd.DataFrame(
            {
                "Measure": ["ED visits"] * 3,
                "Month": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
                "Count": [120, "*", 98.0],
                "County": ["Baltimore City"] * 3,
            }
        ).to_excel(writer, sheet_name="Data", index=False)
        pd.DataFrame(
            {
                "Measure": ["ED visits"],
                "Year": [2024],
                "Count": [1400],
                "County": ["Baltimore City"],
            }
        ).to_excel(writer, sheet_name="Annual", index=False)

    mapping = ImportMapping.from_options(
        indicator_column="Measure",
        period_column="Month",
        value_column="Count",
        geography_column="County",
        sheet="Data",
    )
    report = run(sessions, path, mapping)
    assert report.added == 3 and report.missing == 1
    # Excel dates on the first of each month are months.
    assert value(sessions, "ED visits", "2025-01", "Baltimore City") == 120
    assert value(sessions, "ED visits", "2025-02", "Baltimore City") is None
    assert value(sessions, "ED visits", "2025-03", "Baltimore City") == 98
    assert indicator(sessions, "ED visits").period_kind == "monthly"

    with unchanged_database(sessions) as refused:
        run(sessions, path, ImportMapping.from_options(indicator="ED visits", sheet="Nope"))
    assert "has no sheet 'Nope'. Its sheets are: Read me, Data, Annual." in str(refused.value)


def test_tab_separated_and_windows_1252_files_are_read(sessions, tmp_path) -> None:
    path = write(
        tmp_path, "indicator\tperiod\tvalue\nCaf\u00e9 visits\t2025\t3\n", encoding="cp1252"
    )
    run(sessions, path)
    assert value(sessions, "Caf\u00e9 visits", "2025") == 3


# --- refusals: nothing written -------------------------------------------------------------------


def test_bad_rows_are_listed_with_spreadsheet_row_numbers_and_nothing_is_written(
    sessions, tmp_path
) -> None:
    run(sessions, NALOXONE, naloxone_mapping())
    path = write(
        tmp_path,
        "indicator,period,value,geography\n"
        "Deaths,2025-01,10,MD\n"  # row 2: fine
        "Deaths,2025-13,11,MD\n"  # row 3: month 13
        "Deaths,2025-02,ten,MD\n"  # row 4: not a number
        ",2025-03,12,MD\n"  # row 5: no indicator
        "Deaths,2025-01,13,MD\n",  # row 6: repeats row 2
    )
    with unchanged_database(sessions) as refused:
        run(sessions, path)
    message = str(refused.value)
    assert message.startswith("Nothing was imported: values.csv has 4 problems")
    assert "row 3: period: '2025-13' is not a month" in message
    assert "row 4: value 'ten' is not a number" in message
    assert "row 5: the indicator name (indicator) is empty" in message
    assert (
        "row 6: repeats row 2: the same indicator, period and geography (Deaths, 2025-01, MD)"
        in message
    )
    assert message.index("row 3") < message.index("row 4") < message.index("row 6")


def test_many_bad_rows_show_twenty_and_count_the_rest(sessions, tmp_path) -> None:
    lines = ["indicator,period,value"] + [f"Deaths,2025-{m:02d},x" for m in range(1, 13)]
    lines += [f"Deaths,{y},oops" for y in range(1990, 2020)]
    lines += ["Deaths,2024-01,5"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    with unchanged_database(sessions) as refused:
        run(sessions, path)
    message = str(refused.value)
    assert "has 42 problems" in message
    assert "row 21:" in message and "row 22:" not in message
    assert "…and 22 more." in message


def test_mixed_period_grains_are_refused(sessions, tmp_path) -> None:
    path = write(tmp_path, "indicator,period,value\nDeaths,2025-01,1\nDeaths,2024,12\n")
    with unchanged_database(sessions) as refused:
        run(sessions, path)
    assert "'Deaths' mixes months (e.g. row 2) and years (e.g. row 3)" in str(refused.value)


def test_new_values_must_match_the_grain_already_stored(sessions, tmp_path) -> None:
    run(sessions, NALOXONE, naloxone_mapping())
    path = write(tmp_path, "period,value,geography\n2024-06,0.9,MD\n")
    with unchanged_database(sessions) as refused:
        run(sessions, path, ImportMapping.from_options(indicator="Naloxone dispensing rate"))
    assert "already has values by year; this file gives months" in str(refused.value)


@pytest.mark.parametrize(
    ("content", "mapping", "says"),
    [
        (None, {}, "There is no file at"),
        (b"", {}, "is empty"),
        (b"indicator,period,value\n", {}, "has a header but no rows"),
        (b"indicator,period,value\n\n\n", {}, "has a header but no rows"),
        (
            b"indicator,period,value\nA,2025,1\n",
            {"value_column": "Data Vale"},
            "has no column 'Data Vale' (for --value-column). Its columns are: indicator, period, value.",
        ),
        (
            b"State,period_end,Data Value\nMD,2025-01,1\n",
            {"indicator": "X", "period_column": "period_end", "value_column": "Data Valeu"},
            "Did you mean 'Data Value'?",
        ),
        (b"a,b\n1,2\n", {}, "has no column 'indicator' (for --indicator-column"),
        (b"indicator,period,value\nA,2025,1\n", {"filters": ("Nope=1",)}, "no column 'Nope'"),
        (
            b"indicator,period,value\n" + b"A" * 5000 + b",2025,1\n",
            {},
            "the indicator cell is 5,000 characters long (at most 1,000)",
        ),
        (b"indicator,period,value\n" + b"A" * 300 + b",2025,1\n", {}, "longer than 200 characters"),
        (b"indicator,period,value\n!!!,2025,1\n", {}, "has no letters or digits"),
        (b"indicator,period,value\nA,2025,inf\n", {}, "'inf' is not a number"),
        (b'indicator,period,value\n"A,2025,1\n', {}, "not a well-formed CSV"),
    ],
)
def test_refusals(sessions, tmp_path, content, mapping, says) -> None:
    path = tmp_path / "values.csv"
    if content is not None:
        path.write_bytes(content)
    with unchanged_database(sessions) as refused:
        run(sessions, path, ImportMapping.from_options(**mapping))
    assert says in str(refused.value)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("values.json", b"{}", "I can read CSV (.csv) and Excel (.xlsx) files, not '.json'"),
        ("values.xls", b"\xd0\xcf\x11\xe0", "old Excel file (.xls)"),
        ("values.xlsx", b"indicator,period,value\n", "not a readable Excel file"),
        ("values.csv", b"\x00\x01\x02\x03binary", "does not look like a text CSV"),
    ],
)
def test_wrong_formats(sessions, tmp_path, name, content, says) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with unchanged_database(sessions) as refused:
        run(sessions, path)
    assert says in str(refused.value)


def test_mapping_options_are_checked() -> None:
    with pytest.raises(ImportError_, match="not both"):
        ImportMapping.from_options(indicator="A", indicator_column="B")
    with pytest.raises(ImportError_, match="should look like COLUMN=VALUE"):
        ImportMapping.from_options(filters=("State",))
    assert ImportMapping.from_options(filters=(" State = MD ",)).filters == (("State", "MD"),)


def test_sheet_is_refused_for_csv(sessions) -> None:
    with unchanged_database(sessions) as refused:
        run(sessions, NALOXONE, ImportMapping.from_options(indicator="X", sheet="Data"))
    assert "--sheet is for Excel files" in str(refused.value)


def test_progress_bar_only_for_long_files(sessions, tmp_path) -> None:
    lines = ["indicator,period,value,geography"] + [
        f"Visits,2025-{m:02d},{g * m},G{g}" for g in range(600) for m in range(1, 13)
    ]
    path = write(tmp_path, "\n".join(lines) + "\n")
    shown: list[int] = []

    class Bar:
        def __init__(self, length: int, label: str) -> None:
            assert "values.csv" in label
            shown.append(length)

        def __enter__(self):
            return self

        def __exit__(self, *_):
            return False

        def update(self, n: int) -> None:
            shown.append(n)

    import_file(sessions, team_id=TEAM, path=path, mapping=ImportMapping(), now=NOW, progress=Bar)
    assert shown[0] == 7200 and sum(shown[1:]) == 7200
    shown.clear()
    run(sessions, NALOXONE, naloxone_mapping())  # short: no bar
    import_file(
        sessions, team_id=TEAM, path=NALOXONE, mapping=naloxone_mapping(), now=NOW, progress=Bar
    )
    assert shown == []


# --- what a file can't do: limits, ragged rows, encodings, formulas, implausible values ----------


def _parts(path: Path, parts: dict[str, str]) -> Path:
    """A workbook written part by part, as Excel or LibreOffice write them (shared strings,
    styles, cached formula values), which openpyxl's writer cannot produce."""
    import zipfile

    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    every = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Override PartName="/xl/workbook.xml" ContentType="{sheet_type}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{sheet_type}.styles+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{sheet_type}.sharedStrings'
            '+xml"/></Types>'
        ),
        "xl/workbook.xml": (
            f'<x:workbook xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'xmlns:r="{rel}"><x:workbookPr date1904="{parts.pop("date1904", "0")}"/><x:sheets>'
            '<x:sheet name="Notes" sheetId="2" r:id="rId2"/>'
            '<x:sheet name="Data" sheetId="1" r:id="rId1"/></x:sheets></x:workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/worksheet" Target="/xl/worksheets/notes.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": (
            f'<styleSheet {main}><numFmts><numFmt numFmtId="164" formatCode="yyyy\\-mm"/>'
            '</numFmts><cellXfs><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/>'
            '<xf numFmtId="2"/></cellXfs></styleSheet>'
        ),
        "xl/worksheets/notes.xml": f'<worksheet {main}><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>notes</t></is></c></row></sheetData></worksheet>',
    }
    every.update(parts)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in every.items():
            book.writestr(name, text)
    return path


def _sheet(*rows: str) -> str:
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    return f'<worksheet {main}><dimension ref="A1:C3"/><sheetData>{"".join(rows)}</sheetData></worksheet>'


STRINGS = (
    '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    "<si><t>indicator</t></si><si><t>period</t></si><si><t>value</t></si>"
    '<si><r><t>ED </t></r><r><t xml:space="preserve">visits</t></r><rPh sb="0" eb="1"><t>'
    "ignored</t></rPh></si><si><t>NULL</t></si></sst>"
)
HEADER = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>'


@pytest.mark.parametrize("date1904", ["0", "1"])
def test_excel_as_excel_writes_it(sessions, tmp_path, date1904) -> None:
    """Shared strings (runs joined, phonetic runs left out), date styles (built-in and custom, in
    the 1900 and 1904 calendars), cached formula values, error cells and pandas' NA words as
    missing, blank rows keeping the sheet's row numbers; the sheet named Data, not the first."""
    base = 45658 if date1904 == "0" else 45658 - 1462  # 2025-01-01 in each calendar
    path = _parts(
        tmp_path / "excel.xlsx",
        {
            "date1904": date1904,
            "xl/sharedStrings.xml": STRINGS,
            "xl/worksheets/sheet1.xml": _sheet(
                HEADER,
                f'<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2" s="2"><v>{base}</v></c><c r="C2"><v>12.5</v></c></row>',
                f'<row r="4"><c r="A4" t="s"><v>3</v></c><c r="B4" s="1"><v>{base + 31}</v></c><c r="C4" t="e"><f>1/0</f><v>#DIV/0!</v></c></row>',
                f'<row r="5"><c r="A5" t="s"><v>3</v></c><c r="B5" s="2"><v>{base + 59}</v></c><c r="C5"><f>1+2</f><v>3</v></c></row>',
                '<row r="6"><c r="A6" t="s"><v>3</v></c><c r="B6" t="d"><v>2025-04-01T00:00:00</v></c><c r="C6" t="s"><v>4</v></c></row>',
            ),
        },
    )
    report = run(sessions, path, ImportMapping.from_options(sheet="Data"))
    assert (report.added, report.missing) == (4, 2)
    assert value(sessions, "ED visits", "2025-01") == 12.5
    assert value(sessions, "ED visits", "2025-02") is None  # #DIV/0!
    assert value(sessions, "ED visits", "2025-03") == 3  # the formula's cached value
    assert value(sessions, "ED visits", "2025-04") is None  # NULL
    path = _parts(
        tmp_path / "bad.xlsx",
        {
            "xl/sharedStrings.xml": STRINGS,
            "xl/worksheets/sheet1.xml": _sheet(
                HEADER,
                '<row r="9"><c r="A9" t="s"><v>3</v></c><c r="B9"><v>2025</v></c><c r="C9" t="inlineStr"><is><t>lots</t></is></c></row>',
            ),
        },
    )
    with unchanged_database(sessions) as refused:
        run(sessions, path, ImportMapping.from_options(sheet="Data"))
    assert "row 9: value 'lots' is not a number" in str(refused.value)


@pytest.mark.parametrize(
    ("sheet", "says"),
    [
        (
            _sheet('<row r="2"><c r="A2" t="inlineStr"><is><t>indicator</t></is></c></row>'),
            "The sheet 'Data' in x.xlsx is empty, or has nothing in row 1",
        ),
        (
            _sheet(
                HEADER,
                '<row r="2"><c r="A2"><f>A1</f></c><c r="B2"><v>2025</v></c><c r="C2"><v>1</v></c></row>',
            ),
            "1 cell of x.xlsx that the import reads holds a formula that was never calculated (A2)",
        ),
        (
            _sheet(
                HEADER,
                '<row r="2"><c r="A2" t="inlineStr"><is><t>A</t></is></c><c r="B2"><v>2025</v></c><c r="C2"><v>1</v></c><c r="E2"><v>7</v></c></row>',
            ),
            "row 2: cell E2 holds a value, but row 1 names columns only up to C",
        ),
        (
            _sheet(HEADER, '<row r="1048577"><c r="A1048577"><v>1</v></c></row>'),
            "names a row '1048577'",
        ),
        (_sheet(HEADER, '<row r="2"><c r="XFE2"><v>1</v></c></row>'), "beyond the last column"),
        (_sheet(HEADER, '<row r="3"/><row r="2"/>'), "row 2 comes after row 3"),
        (
            _sheet(HEADER, '<row r="2"><c r="A2" t="s"><v>99</v></c></row>'),
            "cell A2 points to a text",
        ),
        (_sheet(HEADER, "<row>"), "its part xl/worksheets/sheet1.xml is broken"),
    ],
)
def test_broken_or_hostile_sheets_are_refused_with_a_reason(
    sessions, tmp_path, sheet, says
) -> None:
    path = _parts(
        tmp_path / "x.xlsx", {"xl/sharedStrings.xml": STRINGS, "xl/worksheets/sheet1.xml": sheet}
    )
    with unchanged_database(sessions) as refused:
        run(sessions, path, ImportMapping.from_options(sheet="Data"))
    assert says in str(refused.value)


def test_excel_limits_are_checked_on_the_zip_directory_first(
    sessions, tmp_path, monkeypatch
) -> None:
    from storage import xlsx

    path = _parts(
        tmp_path / "x.xlsx",
        {"xl/sharedStrings.xml": STRINGS, "xl/worksheets/sheet1.xml": _sheet(HEADER)},
    )
    monkeypatch.setattr(xlsx, "MAX_PARTS", 5)
    with unchanged_database(sessions) as refused:
        run(sessions, path)
    assert "holds 7 files inside" in str(refused.value)
    monkeypatch.setattr(xlsx, "MAX_PARTS", 10_000)
    monkeypatch.setattr(xlsx, "MAX_SHARED_STRINGS_BYTES", 100)
    with unchanged_database(sessions) as refused:
        run(sessions, path)
    assert "its part xl/sharedStrings.xml unpacks to" in str(refused.value)
    monkeypatch.setattr(xlsx, "MAX_SHARED_STRINGS_BYTES", 1 << 20)
    monkeypatch.setattr(xlsx, "MAX_CELLS", 2)
    with unchanged_database(sessions) as refused:
        run(sessions, path, ImportMapping.from_options(sheet="Data"))
    assert "more than 2 cells in this sheet" in str(refused.value)


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        # a quoted separator or line break is inside its field, not an extra one
        ('indicator,period,value\n"A, B",2025,1\n"C\nD",2025,2\nE,2025,"1,200"\n', []),
        ("indicator,period,value\r\nA,2025,1\r\nB,2025,2,x\r\n", [(3, 4)]),
        ('indicator,period,value\n"A\n,,,",2025,1,x\nB,2025,2', [(2, 4)]),
        # one more field, empty, at the end of a row: a trailing separator, which pandas drops
        ('indicator,period,value\n"A\n,,,",2025,1,\r\nB,2025,2,', []),
        ('indicator,period,value\nA,2025,1,""\nB,2025,2,\n', []),
        ("indicator,period,value\nA,2025,1\nB,2025,2,,", [(3, 5)]),
        ("indicator,period,value\rA,2025,1,x\rB,2025,2\r", [(2, 4)]),  # old Mac line breaks
        ('indicator,period,value\nA "quoted" word,2025,1\nB,2025,2,,\n', [(3, 5)]),
    ],
)
def test_rows_with_more_fields_than_the_header_are_found_exactly(tmp_path, text, rows) -> None:
    from storage import importer

    path = write(tmp_path, text)
    source = importer._Source(path, "csv", csv=importer._csv_options(path))
    assert importer._long_rows(source) == (rows, len(rows))
    assert importer._long_rows_by_csv(source) == (rows, len(rows))


def test_long_rows_agree_with_the_csv_reader_across_chunk_edges(tmp_path, monkeypatch) -> None:
    """The vectorised count against Python's csv reader on random quoting, with chunks of 1 to
    7 bytes, so quotes, separators and line breaks fall on every edge."""
    import random

    from storage import importer

    rng = random.Random(13)
    fields = ["a", "12", "", '"a,b"', '"c\nd"', '"e""f"', '"g,\nh"', "1,000"]
    for trial in range(300):
        width = rng.randint(1, 4)
        lines = [",".join(f"h{i}" for i in range(width))]
        for _ in range(rng.randint(0, 6)):
            count = max(0, width + rng.choice([-1, 0, 0, 1, 2]))
            lines.append(",".join(rng.choice(fields) for _ in range(count)))
        text = rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["", "\n"])
        path = write(tmp_path, text, name=f"t{trial}.csv")
        source = importer._Source(path, "csv", csv={"encoding": "utf-8-sig", "sep": ","})
        size = rng.randint(1, 7)
        monkeypatch.setattr(
            importer,
            "_utf8_chunks",
            lambda p, _e, n=size: (
                p.read_bytes()[i : i + n] for i in range(0, p.stat().st_size, n)
            ),
        )
        assert importer._long_rows(source) == importer._long_rows_by_csv(source), text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_unicode_csv_with_a_byte_order_mark_is_read(sessions, tmp_path, encoding) -> None:
    path = write(
        tmp_path,
        "indicator\tperiod\tvalue\tgeography\nCafé visits\t2025\t3\tMontréal\n",
        encoding=encoding,
    )
    run(sessions, path)
    assert value(sessions, "Café visits", "2025", "Montréal") == 3


def test_values_outside_the_plausible_range_are_refused(sessions, tmp_path) -> None:
    path = write(tmp_path, "indicator,period,value\nShare,2025-01,40\nChange,2025-01,-3\n")
    with unchanged_database(sessions) as refused:
        run(sessions, path)
    message = str(refused.value)
    assert (
        "row 3: value -3 is below zero; Change can't be negative (if it can, give it a `min` in the catalog)"
        in message
    )
    assert "row 2" not in message
    run(sessions, write(tmp_path, "indicator,period,value\nShare,2025-01,40\nChange,2025-01,3\n"))
    with sessions.begin() as session:
        for found in session.scalars(select(Indicator)):
            found.plausible_min, found.plausible_max = (
                (-50, 50) if found.name == "Change" else (0, 30)
            )
    with unchanged_database(sessions) as refused:
        run(
            sessions,
            write(
                tmp_path,
                "indicator,period,value\nShare,2025-02,31\nChange,2025-02,-51\nChange,2025-03,-50\n",
            ),
        )
    message = str(refused.value)
    assert "has 2 problems" in message
    assert (
        "row 2: value 31 is above Share's highest plausible value, 30 (`max` in the catalog)"
        in message
    )
    assert (
        "row 3: value -51 is below Change's lowest plausible value, -50 (`min` in the catalog)"
        in message
    )
    run(sessions, write(tmp_path, "indicator,period,value\nShare,2025-02,30\nChange,2025-02,-50\n"))
    assert value(sessions, "Change", "2025-02") == -50


def test_excel_keeps_each_different_text_once_and_only_so_much(sessions, tmp_path, monkeypatch):
    from storage import xlsx

    row = '<row r="{0}"><c r="A{0}" t="s"><v>3</v></c><c r="B{0}"><v>{1}</v></c><c r="C{0}"><v>{0}</v></c></row>'
    path = _parts(
        tmp_path / "x.xlsx",
        {
            "xl/sharedStrings.xml": STRINGS,
            "xl/worksheets/sheet1.xml": _sheet(
                HEADER, *(row.format(r, 1998 + r) for r in range(2, 8))
            ),
        },
    )
    monkeypatch.setattr(xlsx, "MAX_KEPT_CHARS", 38)  # "ED visits", six years, six values: 39
    with unchanged_database(sessions) as refused:
        run(sessions, path, ImportMapping.from_options(sheet="Data"))
    assert "more than 0 million characters of different texts" in str(refused.value)
    monkeypatch.setattr(xlsx, "MAX_KEPT_CHARS", 39)
    assert run(sessions, path, ImportMapping.from_options(sheet="Data")).added == 6


# --- a dry run (a Slack upload's preview) ------------------------------------------------------


def dry_run(sessions, path: Path, mapping: ImportMapping | None = None, now: datetime = NOW):
    return import_file(
        sessions,
        team_id=TEAM,
        path=path,
        mapping=mapping or ImportMapping(),
        now=now,
        dry_run=True,
    )


def stored(sessions) -> list[tuple]:
    """Everything an import may touch: teams, indicators (with their settings), values."""
    with sessions() as session:
        return [
            *session.execute(select(Team.id, Team.time_zone)).all(),
            *session.execute(
                select(
                    Indicator.slug,
                    Indicator.unit,
                    Indicator.period_kind,
                    Indicator.updated_at,
                    Indicator.next_check_at,
                ).order_by(Indicator.slug)
            ).all(),
            *session.execute(
                select(
                    IndicatorValue.indicator_id,
                    IndicatorValue.period,
                    IndicatorValue.geography,
                    IndicatorValue.value,
                    IndicatorValue.updated_at,
                ).order_by(
                    IndicatorValue.indicator_id, IndicatorValue.period, IndicatorValue.geography
                )
            ).all(),
        ]


def test_a_dry_run_changes_nothing_and_counts_what_the_import_then_does(sessions, tmp_path) -> None:
    first = dry_run(sessions, VSRR, vsrr_mapping())
    assert stored(sessions) == []  # not even the team
    assert (first.added, first.updated, first.unchanged) == (1116, 0, 0)
    assert all(r.created for r in first.indicators)
    imported = run(sessions, VSRR, vsrr_mapping())
    assert imported.summary() == first.summary()

    # A revised file: one value changed, one row more, one indicator new.
    text = VSRR.read_text(encoding="utf-8")
    revised_text = text.replace(
        "MD,Maryland,2025,April,2025-04,12 month-ending,Number of Drug Overdose Deaths,1562,",
        "MD,Maryland,2025,April,2025-04,12 month-ending,Number of Drug Overdose Deaths,1570,",
    )
    assert revised_text != text
    header = text.splitlines()[0].split(",")
    extra = dict.fromkeys(header, "")
    extra.update(
        {
            "State": "MD",
            "Indicator": "Brand new count",
            "period_end": "2025-04",
            "Data Value": "7",
            "Period": "12 month-ending",
        }
    )
    revised_text += ",".join(extra[c] for c in header) + "\n"
    revised = write(tmp_path, revised_text, name="revised.csv")
    later = NOW + timedelta(days=1)
    before = stored(sessions)
    preview = dry_run(sessions, revised, vsrr_mapping(), now=later)
    assert stored(sessions) == before
    assert (preview.added, preview.updated, preview.unchanged) == (1, 1, 1115)
    assert preview.by_name("Brand new count").created
    assert not preview.by_name(DEATHS).created
    report = run(sessions, revised, vsrr_mapping(), now=later)
    assert report.summary() == preview.summary()
    assert (report.added, report.updated, report.unchanged) == (1, 1, 1115)
    assert value(sessions, DEATHS, "2025-04", "MD") == 1570


def test_a_refused_dry_run_says_why_and_changes_nothing(sessions, tmp_path) -> None:
    run(sessions, VSRR, vsrr_mapping())
    before = stored(sessions)
    path = write(tmp_path, "indicator,period,value\nDeaths,2025-01,5\nDeaths,2025-13,6\n")
    with pytest.raises(ImportError_, match="row 3"):
        dry_run(sessions, path)
    assert stored(sessions) == before


def test_a_dry_run_does_not_wait_for_the_writers_lock(sqlite_url, tmp_path) -> None:
    """SQLite has one writer: a preview must not queue behind (or hold back) an import or a
    /commit running at the same moment."""
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    try:
        run(sessions, VSRR, vsrr_mapping())
        with engine.connect() as writer:
            # another writer holds the lock (the engine begins every write BEGIN IMMEDIATE)
            writer.exec_driver_sql("UPDATE teams SET time_zone = time_zone")
            started = datetime.now(UTC)
            report = dry_run(sessions, VSRR, vsrr_mapping())
            waited = datetime.now(UTC) - started
            writer.rollback()
        assert report.unchanged == 1116
        assert waited < timedelta(seconds=10)  # the busy timeout is 30 s
    finally:
        engine.dispose()
