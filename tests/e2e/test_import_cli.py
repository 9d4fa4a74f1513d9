"""`commstat import` and `commstat indicators load` as an admin runs them, on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli import main
from storage.db import make_engine, make_session_factory
from storage.models import Indicator, IndicatorValue

DATA = Path(__file__).resolve().parents[2] / "bot" / "data"
VSRR = DATA / "cdc_vsrr_provisional_overdose_deaths_US_MD_NC_VT.csv"
NALOXONE = DATA / "cdc_naloxone_dispensing_rates_by_state.csv"


@pytest.fixture
def commstat(sqlite_url):
    runner = CliRunner(
        env={
            "DATABASE_URL": sqlite_url,
            "SLACK_BOT_TOKEN": None,
            "SLACK_SIGNING_SECRET": None,
            "COMMSTAT_TIMEZONE": "America/New_York",
        }
    )

    def invoke(*args: str):
        return runner.invoke(main, [*args, "--team", "T0COALITION"])

    return invoke


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
