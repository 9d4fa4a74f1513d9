"""The README's first run: `commstat import …` on a new database, before Slack is connected.

The values are kept for the workspace the bot's token serves, which takes them over when the bot
first starts with that token; a workspace that already has its own data is never merged into."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from bot.app import create_app
from bot.bootstrap import bootstrap
from bot.cli import main
from storage.models import Indicator, IndicatorValue, Team
from storage.repositories import UNCONNECTED_TEAM
from tests.conftest import make_settings

VSRR = (
    Path(__file__).resolve().parents[2]
    / "bot"
    / "data"
    / ("cdc_vsrr_provisional_overdose_deaths_US_MD_NC_VT.csv")
)
README_IMPORT = [
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
]


def _cli(database_url: str, *args: str):
    env = {"DATABASE_URL": database_url, "SLACK_BOT_TOKEN": None, "SLACK_SIGNING_SECRET": None}
    return CliRunner(env=env).invoke(main, list(args))


def _teams_and_values(services) -> tuple[list[str], dict[str, int]]:
    with services.sessions() as session:
        teams = sorted(session.scalars(select(Team.id)))
        values = dict(
            session.execute(
                select(IndicatorValue.team_id, func.count()).group_by(IndicatorValue.team_id)
            ).all()
        )
    return teams, values


def test_the_readme_import_works_on_a_new_database_and_the_workspace_takes_it_over(
    db_url, fake_slack, clock
):
    missing = _cli(db_url, "import", "no-such-file.csv")  # nothing kept: nothing said of it
    assert missing.exit_code == 1 and "There is no file at no-such-file.csv" in missing.output
    assert "No Slack workspace is connected yet" not in missing.output
    result = _cli(db_url, *README_IMPORT)
    assert result.exit_code == 0, result.output
    assert "No Slack workspace is connected yet" in result.output
    assert "1,116 rows for 3 indicators" in result.output

    services = bootstrap(make_settings(db_url, fake_slack.api_url), clock=clock)
    try:
        assert _teams_and_values(services) == ([UNCONNECTED_TEAM], {UNCONNECTED_TEAM: 1116})
        create_app(services)  # the bot starts with its token: auth.test says T0COALITION
        assert _teams_and_values(services) == (["T0COALITION"], {"T0COALITION": 1116})
        with services.sessions() as session:
            names = set(session.scalars(select(Indicator.name)))
        assert "Number of Drug Overdose Deaths" in names
        create_app(services)  # a second start moves nothing
        assert _teams_and_values(services) == (["T0COALITION"], {"T0COALITION": 1116})
    finally:
        services.engine.dispose()

    # Once the workspace is known, the CLI works on it without --team (nothing unconnected).
    again = _cli(db_url, *README_IMPORT)
    assert again.exit_code == 0, again.output
    assert "No Slack workspace is connected yet" not in again.output
    assert "0 added, 0 updated, 1,116 unchanged" in again.output


def test_a_workspace_with_its_own_data_is_never_merged_with_unconnected_data(
    sqlite_url, fake_slack, clock
):
    services = bootstrap(make_settings(sqlite_url, fake_slack.api_url), clock=clock)
    try:
        assert _cli(sqlite_url, *README_IMPORT, "--team", "T0COALITION").exit_code == 0
        assert _cli(sqlite_url, *README_IMPORT, "--team", UNCONNECTED_TEAM).exit_code == 0
        create_app(services)
        teams, values = _teams_and_values(services)
        assert teams == ["T0COALITION", UNCONNECTED_TEAM]
        assert values == {"T0COALITION": 1116, UNCONNECTED_TEAM: 1116}
    finally:
        services.engine.dispose()
