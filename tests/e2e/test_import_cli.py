"""`commstat import` and `commstat indicators load` as an admin runs them, on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli import main
from bot.sandbox import bundled
from storage.db import make_engine, make_session_factory
from storage.models import Indicator, IndicatorValue
from tests.helpers import all_text, wait_for

DATA = Path(__file__).resolve().parents[2] / "bot" / "data"
VSRR = DATA / "cdc_vsrr_provisional_overdose_deaths_US_MD_NC_VT.csv"
NALOXONE = DATA / "cdc_naloxone_dispensing_rates_by_state.csv"


def runner_for(database_url: str):
    runner = CliRunner(
        env={
            "DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": None,
            "SLACK_SIGNING_SECRET": None,
            "COMMSTAT_TIMEZONE": "America/New_York",
        }
    )

    def invoke(*args: str):
        return runner.invoke(main, [*args, "--team", "T0COALITION"])

    return invoke


@pytest.fixture
def commstat(sqlite_url):
    return runner_for(sqlite_url)


def stored(sqlite_url: str, name: str, period: str, geography: str) -> float | None:
    engine = make_engine(sqlite_url)
    try:
        with make_session_factory(engine)() as session:
            return session.execute(
                select(IndicatorValue.value)
                .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
                .where(
                    Indicator.name == name,
                    IndicatorValue.period == period,
                    IndicatorValue.geography == geography,
                )
            ).scalar_one()
    finally:
        engine.dispose()


def value_count(sqlite_url: str) -> int:
    engine = make_engine(sqlite_url)
    try:
        with make_session_factory(engine)() as session:
            return session.scalar(select(func.count()).select_from(IndicatorValue)) or 0
    finally:
        engine.dispose()


VSRR_ARGS = (
    "import",
    str(VSRR),
    "--indicator-column",
    "Indicator",
    "--period-column",
    "period_end",
    "--value-column",
    "Data Value",
    "--geography-column",
    "State",
)


def test_import_the_cdc_overdose_file_twice_then_the_catalog(commstat, sqlite_url) -> None:
    first = commstat(*VSRR_ARGS)
    assert first.exit_code == 0, first.output
    assert (
        "1,116 rows for 3 indicators — 1,116 added, 0 updated, 0 unchanged; 13 missing"
        in first.output
    )
    assert "period kind 12-month-ending (from the Period column)" in first.output
    assert "12-month-ending: each value counts the 12 months" in first.output
    assert stored(sqlite_url, "Number of Drug Overdose Deaths", "2025-04", "MD") == 1562

    again = commstat(*VSRR_ARGS)
    assert again.exit_code == 0, again.output
    assert "0 added, 0 updated, 1,116 unchanged" in again.output

    catalog = commstat("indicators", "load", str(DATA / "catalog.yml"))
    assert catalog.exit_code == 0, catalog.output
    assert (
        "Loaded catalog.yml: 1 created, 3 updated, 0 unchanged. Default geography: MD."
        in catalog.output
    )


def test_import_the_naloxone_file_for_one_state(commstat, sqlite_url) -> None:
    result = commstat(
        "import",
        str(NALOXONE),
        "--indicator",
        "Naloxone dispensing rate",
        "--period-column",
        "YEAR",
        "--value-column",
        "naloxone_dispensing_rate",
        "--geography-column",
        "STATE_ABBREV",
        "--filter",
        "STATE_ABBREV=MD",
    )
    assert result.exit_code == 0, result.output
    assert "5 rows for 1 indicator — 5 added" in result.output
    assert "2019 – 2023 (yearly); MD" in result.output
    assert 'higher is better (the name mentions "naloxone")' in result.output
    assert stored(sqlite_url, "Naloxone dispensing rate", "2023", "MD") == 0.8
    assert value_count(sqlite_url) == 5


def test_a_bad_file_is_refused_with_row_numbers(commstat, sqlite_url, tmp_path) -> None:
    bad = tmp_path / "partners.csv"
    bad.write_text(
        "indicator,period,value,geography\n"
        "ED visits,2025-01,120,MD\n"
        "ED visits,2025-02,lots,MD\n"
        "ED visits,Feb 30 2025,99,MD\n",
        encoding="utf-8",
    )
    result = commstat("import", str(bad))
    assert result.exit_code != 0
    assert "Nothing was imported: partners.csv has 2 problems" in result.output
    assert "row 3: value 'lots' is not a number" in result.output
    assert "row 4: period: 'Feb 30 2025' is not a period" in result.output
    assert value_count(sqlite_url) == 0


def test_a_bad_catalog_is_refused(commstat, tmp_path) -> None:
    bad = tmp_path / "catalog.yml"
    bad.write_text("indicators:\n  - name: ED visits\n    direction: up\n", encoding="utf-8")
    result = commstat("indicators", "load", str(bad))
    assert result.exit_code != 0
    assert "indicator 1 'ED visits': direction 'up' should be lower or higher" in result.output


# The README's ONE command for CDC's DOSE-SYS file: eight measures a row, the period over two
# columns, the Monthly rows only.
DOSE_SYS_ARGS = (
    "import",
    str(bundled.DOSE_SYS),
    "--geography-column",
    "jurisdiction",
    "--filter",
    "rate_time=Monthly",
    "--period-column",
    "year",
    "--period-column",
    "month",
    "--unit",
    "per 10,000 ED visits",
    *(
        option
        for column, name in bundled.DOSE_SYS_MEASURES
        for option in ("--value-column", f"{column}={name}")
    ),
)


def test_the_dose_sys_command_imports_eight_measures_and_indicator_answers_it(bot) -> None:
    """The README's command, then `/indicator opioid overdose ED visits in MD` through the
    served app: 22.2 for Jun 2025, against May 2025 (20.5) and Jun 2024 (27.4)."""
    commstat = runner_for(bot.services.settings.database_url)
    first = commstat(*DOSE_SYS_ARGS)
    assert first.exit_code == 0, first.output
    assert (
        "31,824 rows for 8 indicators — 31,824 added, 0 updated, 0 unchanged; 14,238 missing"
        in first.output
    )
    assert (
        "• Opioid overdose ED visits #opioid-overdose-ed-visits (new): 3,978 added, 0 updated, "
        "0 unchanged, 851 missing; Jan 2019 – Jun 2025 (monthly)"
    ) in first.output
    again = commstat(*DOSE_SYS_ARGS)
    assert again.exit_code == 0, again.output
    assert "0 added, 0 updated, 31,824 unchanged" in again.output

    answer = bot.driver.command("/indicator", "opioid overdose ED visits in MD", user="U0MARIA")
    assert answer.status == 200
    key = bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1]
    reply = wait_for(lambda: bot.slack.responses(key))[0]
    seen = all_text(reply)
    assert "Opioid overdose ED visits — MD" in seen
    assert "*22.2 per 10,000 ED visits* · Jun 2025" in seen, seen
    assert "vs May 2025 (20.5)" in seen, seen
    assert "vs Jun 2024 (27.4)" in seen, seen


def test_the_dose_sys_mapping_is_the_commands(sqlite_url) -> None:
    """bot/sandbox/bundled.py's mapping is exactly what the command builds (the demo, tests and
    benchmarks load the file through it)."""
    from storage.importer import ImportMapping

    options = list(DOSE_SYS_ARGS[2:])
    built = ImportMapping.from_options(
        geography_column=options[1],
        filters=[options[3]],
        period_column=[options[5], options[7]],
        unit=options[9],
        value_column=options[11::2],
    )
    assert built == bundled.DOSE_SYS_MAPPING
    assert ImportMapping.from_dict(built.to_dict()) == built


def test_a_title_above_the_header_and_notes_below_are_left_out(commstat, sqlite_url, tmp_path):
    download = tmp_path / "cdc_download.csv"
    download.write_text(
        '"Suspected nonfatal overdoses, per 10,000 ED visits",,,\n'
        "Data as of 2025-08-25,,,\n"
        ",,,\n"
        "State,Year,Month,Rate\n"
        "Maryland,2025,5,20.5\n"
        "Maryland,2025,6,22.2\n"
        "24,2025,7,*\n"
        ",,,\n"
        '"Source: CDC DOSE-SYS. * suppressed (fewer than 20 overdoses).",,,\n',
        encoding="utf-8",
    )
    result = commstat(
        "import",
        str(download),
        "--indicator",
        "Opioid ED visits",
        "--geography-column",
        "State",
        "--period-column",
        "Year",
        "--period-column",
        "Month",
        "--value-column",
        "Rate",
    )
    assert result.exit_code == 0, result.output
    assert "3 rows for 1 indicator — 3 added" in result.output
    assert "1 missing" in result.output
    assert "May 2025 – Jul 2025 (monthly); MD" in result.output
    assert stored(sqlite_url, "Opioid ED visits", "2025-06", "MD") == 22.2
    assert stored(sqlite_url, "Opioid ED visits", "2025-07", "MD") is None


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (("--period-column", "year", "--period-column", "mnth=month"), "'mnth' is not a part"),
        (("--period-column", "year", "--period-column", "month=mo"), "has no column 'mo'"),
        (("--period-column", "year", "--period-column", "year"), "names the column 'year' twice"),
        (
            ("--value-column", "a=Opioid visits", "--value-column", "b=opioid visits"),
            "name the same indicator",
        ),
        (("--skip-rows", "40"), "--skip-rows 40: bad.csv has only 4 lines"),
        (("--skip-rows", "-1"), "Invalid value for '--skip-rows'"),
        (("--period-kind", "fortnightly"), "'fortnightly' is not a period kind"),
    ],
)
def test_options_that_cannot_work_are_refused_and_nothing_is_written(
    commstat, sqlite_url, tmp_path, options, says
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("year,month,a,b\n2025,5,1,2\n2025,6,3,4\n2025,7,5,6\n", encoding="utf-8")
    base = ["--period-column", "year", "--period-column", "month"]
    if any(o == "--period-column" for o in options):
        base = []
    if not any(o == "--value-column" for o in options):
        base += ["--value-column", "a=A", "--value-column", "b=B"]
    result = commstat("import", str(bad), *base, *options)
    assert result.exit_code != 0, result.output
    assert says in result.output
    assert value_count(sqlite_url) == 0


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("year,month,a,b\n2025,5,1,2\n2025,13,3,4\n", "row 3: year/month: month 13 is not a month"),
        ("year,month,a,b\n2025,5,1,2\n2025,,3,4\n", "row 3: year/month: the month is blank"),
        ("year,month,a,b\n2025,5,1,2\n2025,5,3,4\n", "row 3: repeats row 2: the same period"),
        ("year,month,a,b\n2025,5,1,lots\n", "row 2: b 'lots' is not a number"),
        ("year,month,a,b\n2025,5,-1,-2\n", "row 2: a "),
    ],
)
def test_bad_rows_of_a_wide_file_are_refused_with_their_rows(
    commstat, sqlite_url, tmp_path, content, says
) -> None:
    bad = tmp_path / "wide.csv"
    bad.write_text(content, encoding="utf-8")
    result = commstat(
        "import",
        str(bad),
        "--period-column",
        "year",
        "--period-column",
        "month",
        "--value-column",
        "a=A",
        "--value-column",
        "b=B",
    )
    assert result.exit_code != 0, result.output
    assert says in result.output, result.output
    assert value_count(sqlite_url) == 0


def test_cdc_mmwr_weeks_from_the_command_line_are_the_weeks_cdc_counted(
    commstat, sqlite_url, tmp_path
) -> None:
    """`--period-column "MMWR Year" --period-column "MMWR Week"` reads CDC weeks (Sunday to
    Saturday, week 53 in 2025), as the upload does; a plain "Week" stays an ISO week."""
    weekly = tmp_path / "mmwr.csv"
    weekly.write_text("MMWR Year,MMWR Week,deaths\n2025,53,11\n2026,1,12\n", encoding="utf-8")
    result = commstat(
        "import", str(weekly), "--indicator", "Weekly deaths",
        "--period-column", "MMWR Year", "--period-column", "MMWR Week",
        "--value-column", "deaths",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert stored(sqlite_url, "Weekly deaths", "2025-12-28", "") == 11  # Sun Dec 28 – Sat Jan 3
    assert stored(sqlite_url, "Weekly deaths", "2026-01-04", "") == 12  # Sun Jan 4 – Sat Jan 10
    explicit = tmp_path / "epi.csv"
    explicit.write_text("yr,wk,deaths\n2026,2,13\n", encoding="utf-8")
    result = commstat(
        "import", str(explicit), "--indicator", "Weekly deaths",
        "--period-column", "year=yr", "--period-column", "mmwr week=wk",
        "--value-column", "deaths",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert stored(sqlite_url, "Weekly deaths", "2026-01-11", "") == 13


def test_school_years_written_like_months_are_refused_from_the_command_line(
    commstat, sqlite_url, tmp_path
) -> None:
    survey = tmp_path / "survey.csv"
    survey.write_text(
        "indicator,period,value\nVaping,2009-10,9.1\nVaping,2010-11,9.8\nVaping,2011-12,10.2\n",
        encoding="utf-8",
    )
    result = commstat("import", str(survey))
    assert result.exit_code != 0
    assert "Nothing was imported: the periods of survey.csv (column 'period') are not read." in (
        result.output
    )
    assert "2009-2010" in result.output  # how to write them
    assert value_count(sqlite_url) == 0


def test_a_single_week_from_a_year_and_a_week_is_weekly(commstat, tmp_path) -> None:
    weekly = tmp_path / "one_week.csv"
    weekly.write_text("MMWR Year,MMWR Week,deaths\n2025,53,11\n", encoding="utf-8")
    result = commstat(
        "import", str(weekly), "--indicator", "Weekly deaths",
        "--period-column", "MMWR Year", "--period-column", "MMWR Week",
        "--value-column", "deaths",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "week of Dec 28, 2025 (weekly)" in result.output
    assert "from the week column 'MMWR Week'" in result.output
