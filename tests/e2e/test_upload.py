"""Indicator data uploaded in Slack, end to end: a file dropped into the bot's DM (the `message`
event Slack sends) or picked in `/indicator import`'s form is previewed in the DM; Import writes
it once, Cancel writes nothing, Change mapping reads it again; the mapping is remembered for the
file's name; `/indicator` says who updated it. Signed requests in, the Slack stand-in (which
serves the file only for the bot's token) and the database out.

Data: the bundled CDC files (bot/data): 1,116 overdose-death values (13 of them suppressed) and
255 naloxone dispensing rates.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.sandbox import bundled
from bot.slack import ids
from storage.importer import import_file
from storage.models import DataImport, ImportSource, ImportStatus, Indicator, IndicatorValue
from tests.conftest import TEAM_ID, ServedBot
from tests.helpers import all_text, wait_for

ADMIN = "U0ADMIN"
DEATHS = "Number of Drug Overdose Deaths"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


# --- what a person does, and sees --------------------------------------------------------------


def drop(bot: ServedBot, user: str, name: str, data: bytes, **kwargs: Any) -> str:
    """`user` drops a file into their DM with the bot; the DM's channel id."""
    event = bot.slack.share_in_dm(user, name, data, **kwargs)
    answer = bot.driver.event(event)
    assert answer.status == 200, answer.text
    assert answer.seconds < 3
    return str(event["channel"])


def said(bot: ServedBot, dm: str, count: int = 1) -> dict[str, Any]:
    """The bot's `count`-th message in the DM, once it is there."""

    def mine() -> list[dict[str, Any]]:
        return [m for m in bot.slack.messages(dm) if m.get("user") == "U0BOT"]

    return wait_for(lambda: (found := mine())[count - 1 :] and found)[count - 1]


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        e["action_id"]: e.get("value", "")
        for b in message.get("blocks") or []
        if b.get("type") == "actions"
        for e in b["elements"]
    }


def press(
    bot: ServedBot,
    dm: str,
    message: dict[str, Any],
    action_id: str,
    *,
    user: str = ADMIN,
    **kw: Any,
) -> str:
    """Click a button of a message as Slack sends it (the whole message included); the key of
    the click's response URL (where private answers go)."""
    key = f"click-{action_id}-{len(bot.driver.sent)}"
    payload = bot.driver.click_payload(
        action_id,
        user=user,
        value=kw.pop("value", buttons(message).get(action_id, "")),
        channel=dm,
        message_ts=message["ts"],
        response_key=key,
        trigger_id=bot.slack.new_trigger_id(),
    )
    payload["message"] = message
    answer = bot.driver.interaction(payload)
    assert answer.status == 200, answer.text
    return key


def private_answer(bot: ServedBot, key: str) -> str:
    return wait_for(lambda: bot.slack.responses(key))[0]["text"]


def now_shows(bot: ServedBot, dm: str, ts: str, words: str) -> str:
    """The message at `ts`, once it (updated in place) shows `words`."""
    return wait_for(
        lambda: (text := all_text(bot.slack.message(dm, ts) or {})) and words in text and text
    )


def count_values(bot: ServedBot) -> int:
    with bot.services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(IndicatorValue)) or 0)


def imports_of(bot: ServedBot) -> list[DataImport]:
    with bot.services.sessions() as session:
        return list(session.scalars(select(DataImport).order_by(DataImport.id)))


def cdc(bot: ServedBot, user: str = ADMIN) -> tuple[str, dict[str, Any]]:
    dm = drop(bot, user, bundled.OVERDOSES.name, bundled.OVERDOSES.read_bytes())
    return dm, said(bot, dm)


# --- the whole path ------------------------------------------------------------------------------


def test_the_cdc_file_dropped_in_a_dm_is_previewed_then_imported_once(bot):
    dm, preview = cdc(bot)
    seen = all_text(preview)
    assert "read with a mapping guessed from its columns" in seen
    assert "*Indicator:* column “Indicator”" in seen
    assert "*Period:* column “period_end”" in seen
    assert "*Value:* column “Data Value”" in seen
    assert "*Place:* column “State”" in seen
    assert "Rows to add: 1,116 · update: 0 · unchanged: 0 · missing: 13" in seen
    assert "3 indicators · periods Jan 2015 – Apr 2025 · 4 places" in seen
    assert f"*{DEATHS}* _(new)_: 496 to add" in seen
    assert "12-month-ending (from the Period column); lower is better" in seen
    assert set(buttons(preview)) == set(ids.IMPORT_ACTIONS)
    assert count_values(bot) == 0  # nothing before Import
    with bot.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Indicator)) == 0
    [row] = imports_of(bot)
    assert (row.status, row.user_id, row.added, row.missing) == (
        ImportStatus.PREVIEWED,
        ADMIN,
        1116,
        13,
    )

    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    text = now_shows(bot, dm, preview["ts"], "Imported")
    assert (
        "✅ Imported *cdc_vsrr_provisional_overdose_deaths_US_MD_NC_VT.csv* by <@U0ADMIN>" in text
    )
    assert "1,116 added, 0 updated, 0 unchanged; 13 missing" in text
    assert not buttons(bot.slack.message(dm, preview["ts"]) or {})  # nothing left to press twice
    assert count_values(bot) == 1116
    [row] = imports_of(bot)
    assert row.status == ImportStatus.IMPORTED and row.finished_at is not None
    with bot.services.sessions() as session:
        source = session.scalars(select(ImportSource)).one()
        assert source.name == bundled.OVERDOSES.name
        assert source.mapping == bundled.OVERDOSE_MAPPING.to_dict()
        deaths = session.scalars(select(Indicator).where(Indicator.name == DEATHS)).one()
        assert deaths.last_import_id == row.id
        assert deaths.steward_id == ADMIN  # whoever added a new indicator stewards it

    bot.driver.command("/indicator", "overdose deaths in MD", user="U0MARIA", channel="C0MEETING")
    key = bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1]
    answer = all_text(wait_for(lambda: bot.slack.responses(key))[0])
    assert "1,562" in answer
    assert "updated by <@U0ADMIN> on Mon, Nov 23, 2026" in answer


def test_a_double_clicked_import_imports_once(bot, workers):
    dm, preview = cdc(bot)
    with workers.held():  # both clicks wait in the queue, then two workers take them at once
        press(bot, dm, preview, ids.IMPORT_CONFIRM)
        press(bot, dm, preview, ids.IMPORT_CONFIRM)
    text = now_shows(bot, dm, preview["ts"], "Imported")
    bot_settle(bot, workers)
    assert "1,116 added" in all_text(bot.slack.message(dm, preview["ts"]) or {}), text
    assert count_values(bot) == 1116
    [row] = imports_of(bot)
    assert (row.status, row.added) == (ImportStatus.IMPORTED, 1116)
    updates = [c for c in bot.slack.calls_to("chat.update") if c.ok]
    assert all("1,116 added" in all_text(c.params) for c in updates)


def bot_settle(bot: ServedBot, workers: Any) -> None:
    workers.settle(30)


def test_cancel_writes_nothing_and_its_import_button_is_gone(bot):
    dm, preview = cdc(bot)
    press(bot, dm, preview, ids.IMPORT_CANCEL)
    now_shows(bot, dm, preview["ts"], "Cancelled: nothing from")
    assert not buttons(bot.slack.message(dm, preview["ts"]) or {})
    [row] = imports_of(bot)
    assert row.status == ImportStatus.CANCELLED
    # A stale Import (a second window still showing the preview): refused, nothing written.
    key = press(bot, dm, preview, ids.IMPORT_CONFIRM)
    assert "cancelled" in private_answer(bot, key)
    assert count_values(bot) == 0


def test_change_mapping_opens_the_import_options_and_previews_again_in_place(bot):
    dm = drop(bot, ADMIN, bundled.NALOXONE.name, bundled.NALOXONE.read_bytes())
    preview = said(bot, dm)
    seen = all_text(preview)
    assert "*Indicator:* every row is “Naloxone dispensing rate”" in seen
    assert "*Period:* column “YEAR”" in seen
    assert "*Value:* column “naloxone_dispensing_rate”" in seen
    assert "*Place:* column “STATE_ABBREV”" in seen
    assert "Rows to add: 255" in seen

    press(bot, dm, preview, ids.IMPORT_MAPPING)
    opened = wait_for(lambda: [v for v in bot.slack.views if v["action"] == "open"])[0]["view"]
    assert opened["callback_id"] == ids.IMPORT_MAPPING_VIEW
    fields = {
        b["block_id"]: b["element"].get("initial_value")
        for b in opened["blocks"]
        if b["type"] == "input"
    }
    assert fields["indicator"] == "Naloxone dispensing rate"
    assert fields["period_columns"] == "YEAR"
    assert fields["geography_column"] == "STATE_ABBREV"
    assert set(fields) >= {
        "indicator_column",
        "value_columns",
        "filters",
        "sheet",
        "skip_rows",
        "unit",
    }
    assert "STATE_NAME" in all_text({"blocks": opened["blocks"]})  # the file's columns are listed

    def submit(**changes: str) -> Any:
        values = {
            k: {"value": {"type": "plain_text_input", "value": v}} for k, v in fields.items() if v
        }
        for key, value in changes.items():
            values[key] = {"value": {"type": "plain_text_input", "value": value}}
        return bot.driver.submit_view(
            ids.IMPORT_MAPPING_VIEW,
            values,
            user=ADMIN,
            private_metadata=opened["private_metadata"],
            view_id=opened["id"],
        )

    wrong = submit(indicator_column="STATE_NAME")  # a name and a column for the indicator
    assert wrong.json()["response_action"] == "errors"
    assert "either" in wrong.json()["errors"]["indicator_column"]

    done = submit(geography_column="STATE_NAME", filters="STATE_ABBREV=MD")
    assert done.status == 200 and not done.body  # the form closes
    text = now_shows(bot, dm, preview["ts"], "column “STATE_NAME”")
    assert "*Only rows:* STATE_ABBREV = MD" in text
    assert "Rows to add: 5 ·" in text
    assert "1 indicator · periods 2019 – 2023 · 1 place •" in text.replace("\n", " ")
    assert "5 to add, 0 to update, 0 unchanged, 0 missing · 2019 – 2023 · MD" in text
    assert count_values(bot) == 0


def test_next_months_file_of_the_same_name_is_read_with_the_remembered_mapping(bot):
    dm = drop(bot, ADMIN, "naloxone.csv", bundled.NALOXONE.read_bytes())
    preview = said(bot, dm)
    press(bot, dm, preview, ids.IMPORT_MAPPING)
    opened = wait_for(lambda: [v for v in bot.slack.views if v["action"] == "open"])[0]["view"]
    values = {
        "indicator": "Naloxone dispensing rate",
        "period_columns": "YEAR",
        "value_columns": "naloxone_dispensing_rate",
        "geography_column": "STATE_NAME",
    }
    bot.driver.submit_view(
        ids.IMPORT_MAPPING_VIEW,
        {k: {"value": {"type": "plain_text_input", "value": v}} for k, v in values.items()},
        user=ADMIN,
        private_metadata=opened["private_metadata"],
    )
    now_shows(bot, dm, preview["ts"], "column “STATE_NAME”")
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "255 added")

    bot.clock.now += timedelta(days=31)
    lines = bundled.NALOXONE.read_bytes().decode("utf-8-sig").splitlines()
    changed = [
        line.replace("2023,Maryland,MD,24,0.8,", "2023,Maryland,MD,24,0.9,") for line in lines
    ]
    assert changed != lines
    dm = drop(bot, ADMIN, "naloxone.csv", ("\n".join(changed) + "\n").encode())
    again = said(bot, dm, 2)
    seen = all_text(again)
    assert "read with the mapping remembered for files of this name" in seen
    assert "*Place:* column “STATE_NAME”" in seen
    assert "Rows to add: 0 · update: 1 · unchanged: 254" in seen
    press(bot, dm, again, ids.IMPORT_CONFIRM)  # one click
    now_shows(bot, dm, again["ts"], "0 added, 1 updated, 254 unchanged")
    with bot.services.sessions() as session:
        assert session.scalar(
            select(IndicatorValue.value).where(
                IndicatorValue.geography == "MD", IndicatorValue.period == "2023"
            )
        ) == pytest.approx(0.9)


def test_indicator_import_opens_a_file_form_and_previews_the_file_by_dm(bot):
    answer = bot.driver.command(
        "/indicator",
        "import",
        user=ADMIN,
        channel="C0MEETING",
        trigger_id=bot.slack.new_trigger_id(),
    )
    assert answer.status == 200 and answer.seconds < 3
    opened = wait_for(lambda: [v for v in bot.slack.views if v["action"] == "open"])[0]["view"]
    assert opened["callback_id"] == ids.IMPORT_UPLOAD_VIEW
    [element] = [b["element"] for b in opened["blocks"] if b["type"] == "input"]
    assert element["type"] == "file_input" and element["max_files"] == 1
    assert "xlsx" in element["filetypes"] and "csv" in element["filetypes"]

    empty = bot.driver.submit_view(
        ids.IMPORT_UPLOAD_VIEW,
        {"file": {"file": {"type": "file_input", "files": []}}},
        user=ADMIN,
        private_metadata=opened["private_metadata"],
    )
    assert empty.json()["errors"]["file"] == "Pick a CSV or Excel file."

    file = bot.slack.upload_as_user(ADMIN, bundled.OVERDOSES.name, bundled.OVERDOSES.read_bytes())
    done = bot.driver.submit_view(
        ids.IMPORT_UPLOAD_VIEW,
        {"file": {"file": {"type": "file_input", "files": [file]}}},
        user=ADMIN,
        private_metadata=opened["private_metadata"],
    )
    assert done.status == 200 and not done.body
    dm = bot.slack._dm_id([ADMIN])
    preview = said(bot, dm)
    assert "Rows to add: 1,116" in all_text(preview)
    [row] = imports_of(bot)
    assert row.channel_id == "C0MEETING"  # visibility is the channel the command was typed in
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "1,116 added")


def test_a_cli_import_is_recorded_and_its_file_name_remembered(sqlite_bot):
    """`commstat import` records who (the command line) and when, for /indicator; a Slack
    upload of a file of the same name is then read with the command's options."""
    from tests.e2e.test_import_cli import runner_for

    bot = sqlite_bot
    ran = runner_for(bot.services.settings.database_url)(
        "import",
        str(bundled.NALOXONE),
        "--indicator",
        "Naloxone dispensing rate",
        "--period-column",
        "YEAR",
        "--value-column",
        "naloxone_dispensing_rate",
        "--geography-column",
        "STATE_ABBREV",
    )
    assert ran.exit_code == 0, ran.output
    [row] = imports_of(bot)
    assert (row.via, row.status, row.added, row.user_id) == (
        "cli",
        ImportStatus.IMPORTED,
        255,
        None,
    )

    bot.driver.command("/indicator", "naloxone in MD", user="U0MARIA", channel="C0MEETING")
    key = bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1]
    answer = all_text(wait_for(lambda: bot.slack.responses(key))[0])
    assert "updated by import on " in answer

    dm = drop(bot, ADMIN, bundled.NALOXONE.name, bundled.NALOXONE.read_bytes())
    seen = all_text(said(bot, dm))
    assert "read with the mapping remembered for files of this name" in seen
    assert "Rows to add: 0 · update: 0 · unchanged: 255" in seen
    assert "Everything in this file is stored already: Import changes nothing." in seen


# --- bad uploads: a clear answer, nothing changed -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("chart.png", PNG, "chart.png is a PNG file: I can import indicator values from a CSV"),
        ("minutes.pdf", b"%PDF-1.4 garbage", "minutes.pdf is a PDF file"),
        ("old.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 64, "old Excel file (.xls)"),
        (
            "overdoses",  # a table saved without its ending: not "a … file: I can read CSV"
            b"indicator,period,value\noverdoses,2024,1\n",
            "overdoses has no .csv or .xlsx at the end of its name, so I can't tell how to read "
            "it. Save it as a CSV (.csv) or Excel (.xlsx) file and upload that.",
        ),
    ],
)
def test_a_file_that_is_not_a_table_is_refused_before_downloading(sqlite_bot, name, data, words):
    bot = sqlite_bot
    dm = drop(bot, ADMIN, name, data)
    assert words in said(bot, dm)["text"]
    assert not bot.slack.calls_to("file_download")
    assert not imports_of(bot) and count_values(bot) == 0


def test_garbage_named_csv_is_refused_with_the_importers_words_and_no_import_button(sqlite_bot):
    bot = sqlite_bot
    dm = drop(bot, ADMIN, "data.csv", PNG * 40)
    preview = said(bot, dm)
    assert "This file can't be imported as it is" in all_text(preview)
    assert ids.IMPORT_CONFIRM not in buttons(preview)
    assert set(buttons(preview)) == {ids.IMPORT_MAPPING, ids.IMPORT_CANCEL}
    assert imports_of(bot)[0].status == ImportStatus.REFUSED
    assert count_values(bot) == 0


def test_a_file_over_10_mb_is_refused(sqlite_bot):
    bot = sqlite_bot
    dm = drop(bot, ADMIN, "big.csv", b"indicator,period,value\n", claimed_size=11 * 1024 * 1024)
    assert "big.csv is 11.0 MB; I can read files of up to 10 MB" in said(bot, dm)["text"]
    assert not bot.slack.calls_to("file_download")
    # Slack said 1 KB, but the bytes keep coming: the download stops at the limit.
    big = b"indicator,period,value\n" + b"x,2024,1\n" * (1_400_000)
    dm = drop(bot, ADMIN, "sneaky.csv", big, claimed_size=1024)
    assert "sneaky.csv is more than 10 MB" in said(bot, dm, 2)["text"]
    assert not imports_of(bot) and count_values(bot) == 0


def test_a_download_that_fails_or_hangs_is_answered(sqlite_bot, monkeypatch):
    from bot.slack import files

    bot = sqlite_bot
    bot.slack.fail_next("file_download", status=404)
    dm = drop(bot, ADMIN, bundled.OVERDOSES.name, bundled.OVERDOSES.read_bytes())
    assert "(HTTP 404); it may have been deleted" in said(bot, dm)["text"]
    monkeypatch.setattr(files, "DOWNLOAD_TIMEOUT", 0.5)
    bot.slack.delay("file_download", 2.0)
    drop(bot, ADMIN, bundled.OVERDOSES.name, bundled.OVERDOSES.read_bytes())
    assert "took too long to send me" in said(bot, dm, 2)["text"]
    bot.slack.delay("file_download", 0)
    assert not imports_of(bot) and count_values(bot) == 0


def load_cdc_with_steward(bot: ServedBot, steward: str = "U0MARIA") -> None:
    import_file(
        bot.services.sessions,
        team_id=TEAM_ID,
        path=bundled.OVERDOSES,
        mapping=bundled.OVERDOSE_MAPPING,
        now=bot.clock(),
    )
    with bot.services.sessions.begin() as session:
        for indicator in session.scalars(select(Indicator)):
            indicator.steward_id = steward


def changed_cdc() -> bytes:
    text = bundled.OVERDOSES.read_bytes().decode()
    return text.replace(",47523,", ",47600,").encode()


def test_only_the_stewards_or_an_admin_may_import(sqlite_bot):
    bot = sqlite_bot
    load_cdc_with_steward(bot, "U0MARIA")
    before = count_values(bot)
    dm = drop(bot, "U0LEE", "cdc.csv", changed_cdc())
    preview = said(bot, dm)
    seen = all_text(preview)
    assert "Only an indicator's data steward or a coalition admin can import its values" in seen
    assert f"{DEATHS} (its data steward <@U0MARIA>)" in seen
    assert "Rows to add" not in seen  # no numbers for someone who may not import
    assert set(buttons(preview)) == {ids.IMPORT_CANCEL}
    key = press(
        bot, dm, preview, ids.IMPORT_CONFIRM, user="U0LEE", value=str(imports_of(bot)[0].id)
    )
    assert "can't be imported as it is" in private_answer(bot, key)

    dm = drop(bot, "U0MARIA", "cdc.csv", changed_cdc())  # the steward of all three
    preview = said(bot, dm)
    assert "Rows to add: 0 · update: 1 · unchanged: 1,115" in all_text(preview)
    press(bot, dm, preview, ids.IMPORT_CONFIRM, user="U0MARIA")
    now_shows(bot, dm, preview["ts"], "0 added, 1 updated")
    assert count_values(bot) == before


def test_a_plain_member_may_not_add_new_indicators(sqlite_bot):
    bot = sqlite_bot
    dm = drop(bot, "U0LEE", bundled.OVERDOSES.name, bundled.OVERDOSES.read_bytes())
    preview = said(bot, dm)
    assert "Only coalition admins and data stewards can add new indicators" in all_text(preview)
    assert set(buttons(preview)) == {ids.IMPORT_CANCEL}  # no mapping makes it theirs to import
    assert count_values(bot) == 0


def test_a_restricted_indicator_is_neither_shown_nor_changed_from_a_dm(sqlite_bot):
    bot = sqlite_bot
    load_cdc_with_steward(bot, "U0MARIA")
    with bot.services.sessions.begin() as session:
        secret = session.scalars(select(Indicator).where(Indicator.name == DEATHS)).one()
        secret.restricted_to = ["C0PRIVATE"]
        secret.aliases = ["hidden deaths"]
    text = bundled.OVERDOSES.read_bytes().decode().replace(DEATHS, "hidden deaths")
    dm = drop(bot, "U0MARIA", "cdc.csv", text.replace(",47523,", ",47600,").encode())
    seen = all_text(said(bot, dm))
    assert "restricted to other channels, so it can't be imported from here" in seen
    assert DEATHS not in seen and "hidden deaths" not in seen and "47" not in seen
    assert "Rows to add" not in seen
    with bot.services.sessions() as session:
        assert (
            session.scalar(select(IndicatorValue.value).where(IndicatorValue.value == 47600))
            is None
        )


def test_someone_elses_preview_buttons_do_nothing(sqlite_bot):
    bot = sqlite_bot
    dm, preview = cdc(bot)
    for action_id in ids.IMPORT_ACTIONS:
        key = press(bot, dm, preview, action_id, user="U0LEE")
        assert "This is @pat's upload; only they can import, change or cancel it" in private_answer(
            bot, key
        ).replace("<@U0ADMIN>", "@pat")
    assert not [v for v in bot.slack.views if v["action"] == "open"]
    assert imports_of(bot)[0].status == ImportStatus.PREVIEWED
    assert count_values(bot) == 0
