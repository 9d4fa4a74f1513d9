"""A publisher's own file through Slack: CDC's DOSE-SYS download (eight measures in a row, the
period over `year` + `month`, monthly and 12-month rows, markers `*` `§` `¶`) dropped in the
bot's DM, mapped in the Change mapping form like the documented `commstat import` command, and
imported: the same stored values as that command, and `/indicator opioid overdose ED visits in MD`
answers 22.2 for Jun 2025 (issue 14's "done when")."""

from __future__ import annotations

from click.testing import CliRunner

from bot.cli import main
from bot.sandbox import bundled
from bot.slack import ids
from storage.db import make_engine, make_session_factory
from tests.e2e.test_upload import ADMIN, drop, now_shows, press, said
from tests.helpers import all_text, wait_for
from tests.storage.test_importer_shapes import stored as stored_values

# The Change mapping form's fields, one option a line, as the README's command writes them.
DOSE_SYS_FORM = {
    "period_columns": "year\nmonth",
    "value_columns": "\n".join(f"{column}={name}" for column, name in bundled.DOSE_SYS_MEASURES),
    "geography_column": "jurisdiction",
    "filters": "rate_time=Monthly",
    "unit": "per 10,000 ED visits",
}


def test_the_dose_sys_file_uploaded_in_slack_stores_what_the_cli_command_stores(
    sqlite_bot, sqlite_url
):
    bot = sqlite_bot
    dm = drop(bot, ADMIN, bundled.DOSE_SYS.name, bundled.DOSE_SYS.read_bytes())
    preview = said(bot, dm)
    press(bot, dm, preview, ids.IMPORT_MAPPING)
    opened = wait_for(lambda: [v for v in bot.slack.views if v["action"] == "open"])[0]["view"]
    closed = bot.driver.submit_view(
        ids.IMPORT_MAPPING_VIEW,
        {k: {"value": {"type": "plain_text_input", "value": v}} for k, v in DOSE_SYS_FORM.items()},
        user=ADMIN,
        private_metadata=opened["private_metadata"],
        view_id=opened["id"],
    )
    assert closed.status == 200 and not closed.body, closed.text
    shown = now_shows(bot, dm, preview["ts"], "Rows to add: 31,824")
    assert "8 indicators" in shown.replace("\n", " ")
    press(bot, dm, bot.slack.message(dm, preview["ts"]), ids.IMPORT_CONFIRM)  # as updated
    done = wait_for(  # 31,824 values: the worker takes a few seconds
        lambda: "31,824 added" in (t := all_text(bot.slack.message(dm, preview["ts"]) or {})) and t,
        timeout=90,
    )
    assert "Imported" in done

    bot.driver.command("/indicator", "opioid overdose ED visits in MD", user=ADMIN)
    key = bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1]
    answer = all_text(wait_for(lambda: bot.slack.responses(key))[0])
    assert "22.2" in answer and "Jun 2025" in answer
    assert "20.5" in answer and "27.4" in answer  # May 2025 and Jun 2024, its comparisons

    uploaded = stored_values(bot.services.sessions)
    assert uploaded[("Opioid overdose ED visits", "2025-06", "MD")] == 22.2
    assert uploaded[("Methamphetamine overdose ED visits", "2025-06", "MD")] is None  # `*`
    assert uploaded[("Opioid overdose ED visits", "2025-06", "CA")] is None  # `§`, never zero

    # The documented one command, on a database of its own: the very same values.
    other = sqlite_url.replace(".sqlite3", "-cli.sqlite3").replace(".db", "-cli.db")
    assert other != sqlite_url
    command = [
        "import",
        str(bundled.DOSE_SYS),
        "--team",
        "T0COALITION",
        "--geography-column",
        "jurisdiction",
        "--period-column",
        "year",
        "--period-column",
        "month",
        "--filter",
        "rate_time=Monthly",
        "--unit",
        "per 10,000 ED visits",
    ]
    for column, name in bundled.DOSE_SYS_MEASURES:
        command += ["--value-column", f"{column}={name}"]
    result = CliRunner(env={"DATABASE_URL": other, "SLACK_BOT_TOKEN": None}).invoke(main, command)
    assert result.exit_code == 0, result.output
    engine = make_engine(other)
    try:
        assert stored_values(make_session_factory(engine)) == uploaded
    finally:
        engine.dispose()
