"""Attacks on the Slack upload flow (issue 14), as an outsider, a burst, a crash and a real
publisher's file would make them: buttons of someone else's preview or another workspace's,
clicks replayed after Cancel or Import, Import racing Cancel and Change mapping, a file changed
or deleted in Slack between the preview and Import, files that are not tables, hostile names and
form values, restricted indicators and other stewards' indicators, and a job run again after a
crash between the import and the preview's update.

What a person would notice is asserted: the preview's words, the private answers, the message in
place, and the database (values, the `imports` row). Through the served app (signed requests,
the Slack stand-in, worker threads) on SQLite, and PostgreSQL where two workers race.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from bot.sandbox import bundled
from bot.slack import ids
from storage.models import DataImport, ImportSource, ImportStatus, Indicator, IndicatorValue
from tests.e2e.test_upload import (
    ADMIN,
    DEATHS,
    buttons,
    cdc,
    changed_cdc,
    count_values,
    drop,
    imports_of,
    load_cdc_with_steward,
    now_shows,
    press,
    private_answer,
    said,
)
from tests.helpers import all_text, wait_for

CDC = bundled.OVERDOSES.read_bytes()


def dm_texts(bot: Any, user: str) -> list[str]:
    """What the bot posted to `user` by DM (posted to the user id, as Slack lets a bot)."""
    return [all_text(m) for m in bot.slack.messages(user)]


def file_id_of(bot: Any) -> str:
    [row] = imports_of(bot)
    assert row.file_id
    return row.file_id


# --- the file in Slack changes between the preview and Import ----------------------------------


def test_a_file_changed_in_slack_after_its_preview_is_previewed_again_not_imported(sqlite_bot):
    """Import downloads the file again; bytes other than the previewed ones are not imported
    unseen (not even when the counts would read the same): the preview is read again in place
    and the person told why. Import on the new preview imports what it shows."""
    bot = sqlite_bot
    dm, preview = cdc(bot)
    assert "Rows to add: 1,116" in all_text(preview)
    bot.slack.change_file(file_id_of(bot), changed_cdc())  # one value: 47523 -> 47600

    key = press(bot, dm, preview, ids.IMPORT_CONFIRM)
    assert "changed in Slack after its preview, so nothing was imported" in private_answer(bot, key)
    assert count_values(bot) == 0
    [row] = imports_of(bot)
    assert row.status == ImportStatus.PREVIEWED
    again = bot.slack.message(dm, preview["ts"]) or {}
    assert "Rows to add: 1,116" in all_text(again)
    assert ids.IMPORT_CONFIRM in buttons(again)

    press(bot, dm, again, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "1,116 added")
    with bot.services.sessions() as session:
        assert session.scalar(
            select(IndicatorValue.indicator_id).where(IndicatorValue.value == 47600)
        )
        assert not session.scalar(
            select(IndicatorValue.indicator_id).where(IndicatorValue.value == 47523)
        )


def test_a_new_preview_that_cannot_replace_the_old_one_is_posted_with_its_buttons(sqlite_bot):
    """Slack refuses to update the clicked preview (deleted meanwhile, say): the preview read
    again is posted in the DM, Import button and all, not left as words with nothing to press."""
    bot = sqlite_bot
    dm, preview = cdc(bot)
    bot.slack.change_file(file_id_of(bot), changed_cdc())
    bot.slack.fail_next("chat.update", error="message_not_found")
    key = press(bot, dm, preview, ids.IMPORT_CONFIRM)
    assert "changed in Slack after its preview, so nothing was imported" in private_answer(bot, key)
    posted = said(bot, dm, 2)
    assert "Rows to add: 1,116" in all_text(posted)
    assert ids.IMPORT_CONFIRM in buttons(posted)
    press(bot, dm, posted, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, posted["ts"], "1,116 added")
    assert count_values(bot) == 1116


def test_a_file_that_shrank_in_slack_shows_its_new_counts_before_anything_is_written(sqlite_bot):
    bot = sqlite_bot
    dm, preview = cdc(bot)
    lines = CDC.decode().splitlines()
    bot.slack.change_file(file_id_of(bot), ("\n".join(lines[:11]) + "\n").encode())
    key = press(bot, dm, preview, ids.IMPORT_CONFIRM)
    assert "nothing was imported" in private_answer(bot, key)
    now_shows(bot, dm, preview["ts"], "Rows to add: 10 ·")
    assert count_values(bot) == 0


def test_a_file_deleted_in_slack_before_import_is_told_and_nothing_is_written(sqlite_bot):
    bot = sqlite_bot
    dm, preview = cdc(bot)
    bot.slack.delete_file(file_id_of(bot))
    key = press(bot, dm, preview, ids.IMPORT_CONFIRM)
    assert "can't find that file in Slack any more" in private_answer(bot, key)
    assert count_values(bot) == 0
    assert imports_of(bot)[0].status == ImportStatus.PREVIEWED
    # Cancel still closes it.
    press(bot, dm, preview, ids.IMPORT_CANCEL)
    now_shows(bot, dm, preview["ts"], "Cancelled: nothing from")


# --- clicks replayed, raced, or from elsewhere -------------------------------------------------


def test_cancel_after_import_changes_nothing_and_updated_by_stays(sqlite_bot):
    bot = sqlite_bot
    dm, preview = cdc(bot)
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "1,116 added")
    key = press(bot, dm, preview, ids.IMPORT_CANCEL)  # a second window still shows the preview
    assert "already imported; Cancel changes nothing" in private_answer(bot, key)
    key = press(bot, dm, preview, ids.IMPORT_MAPPING)
    assert "imported already" in private_answer(bot, key)
    assert not [v for v in bot.slack.views if v["action"] == "open"]
    [row] = imports_of(bot)
    assert row.status == ImportStatus.IMPORTED and count_values(bot) == 1116
    bot.driver.command("/indicator", "overdose deaths in MD", user="U0MARIA", channel="C0MEETING")
    key = bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1]
    assert "updated by <@U0ADMIN>" in all_text(wait_for(lambda: bot.slack.responses(key))[0])
    # Import pressed again: the result once more, nothing written again.
    key = press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "1,116 added")
    assert count_values(bot) == 1116 and len(imports_of(bot)) == 1


def test_a_click_from_another_workspace_changes_nothing(sqlite_bot):
    bot = sqlite_bot
    dm, preview = cdc(bot)
    for action_id in ids.IMPORT_ACTIONS:
        payload = bot.driver.click_payload(
            action_id,
            user=ADMIN,
            value=buttons(preview)[action_id],
            channel=dm,
            message_ts=preview["ts"],
            response_key=f"other-{action_id}",
            trigger_id=bot.slack.new_trigger_id(),
        )
        payload["team"] = {"id": "T0OTHER", "domain": "other"}
        payload["user"]["team_id"] = "T0OTHER"
        bot.driver.interaction(payload)
    time.sleep(1.0)
    assert count_values(bot) == 0
    assert imports_of(bot)[0].status == ImportStatus.PREVIEWED
    assert not [v for v in bot.slack.views if v["action"] == "open"]
    assert buttons(bot.slack.message(dm, preview["ts"]) or {}) == buttons(preview)


def test_import_racing_cancel_ends_one_way_only(bot, workers):
    """Both clicks wait in the queue, then two workers take them at once (PostgreSQL too):
    either the values are in and the upload is imported, or nothing is and it is cancelled."""
    dm, preview = cdc(bot)
    with workers.held():
        confirm = press(bot, dm, preview, ids.IMPORT_CONFIRM)
        cancel = press(bot, dm, preview, ids.IMPORT_CANCEL)
    workers.settle(60)
    [row] = imports_of(bot)
    shown = all_text(bot.slack.message(dm, preview["ts"]) or {})
    if row.status == ImportStatus.IMPORTED:
        assert count_values(bot) == 1116 and "1,116 added" in shown
        assert "already imported" in private_answer(bot, cancel)
    else:
        assert row.status == ImportStatus.CANCELLED
        assert count_values(bot) == 0 and "Cancelled" in shown
        assert "cancelled" in private_answer(bot, confirm)
    assert not buttons(bot.slack.message(dm, preview["ts"]) or {})


def test_a_cancel_read_before_the_import_landed_does_not_hide_its_result(
    sqlite_bot, workers, monkeypatch
):
    """Cancel's click was read while the upload was still a preview, and its write waited for
    the import to commit: the preview shows the import's result, and Cancel says it changed
    nothing (it used to replace the result with 'already imported')."""
    from bot.usecases import imports

    bot = sqlite_bot
    dm, preview = cdc(bot)
    original = imports.cancel

    def late(*args: Any, **kwargs: Any) -> Any:
        wait_for(lambda: imports_of(bot)[0].status == ImportStatus.IMPORTED, timeout=30)
        return original(*args, **kwargs)

    monkeypatch.setattr(imports, "cancel", late)
    cancel = press(bot, dm, preview, ids.IMPORT_CANCEL)
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    assert "already imported; Cancel changes nothing" in private_answer(bot, cancel)
    workers.settle(60)
    assert "1,116 added" in all_text(bot.slack.message(dm, preview["ts"]) or {})
    assert count_values(bot) == 1116


def _slow_rereading(monkeypatch: pytest.MonkeyPatch, bot: Any, until: ImportStatus) -> None:
    """Change mapping's new preview is read while the upload is imported or cancelled: its
    reading waits until the row has that status (the worst moment a burst can give)."""
    from bot.usecases import imports

    original = imports.preview

    def slow(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("row_id") is not None:
            wait_for(lambda: imports_of(bot)[0].status == until, timeout=30)
        return original(*args, **kwargs)

    monkeypatch.setattr(imports, "preview", slow)


@pytest.mark.parametrize("other", [ids.IMPORT_CONFIRM, ids.IMPORT_CANCEL])
def test_change_mapping_read_while_the_upload_is_imported_or_cancelled_leaves_it_so(
    sqlite_bot, workers, monkeypatch, other
):
    bot = sqlite_bot
    until = ImportStatus.IMPORTED if other == ids.IMPORT_CONFIRM else ImportStatus.CANCELLED
    dm, preview = cdc(bot)
    press(bot, dm, preview, ids.IMPORT_MAPPING)
    opened = wait_for(lambda: [v for v in bot.slack.views if v["action"] == "open"])[0]["view"]
    _slow_rereading(monkeypatch, bot, until)
    answer = bot.driver.submit_view(
        ids.IMPORT_MAPPING_VIEW,
        {"geography_column": {"value": {"type": "plain_text_input", "value": "State"}}},
        user=ADMIN,
        private_metadata=opened["private_metadata"],
    )
    assert answer.status == 200
    press(bot, dm, preview, other)
    workers.settle(60)
    [row] = imports_of(bot)
    assert row.status == until
    shown = bot.slack.message(dm, preview["ts"]) or {}
    assert not buttons(shown)  # no Import button came back
    word = "imported" if until == ImportStatus.IMPORTED else "cancelled"
    assert any(f"was {word} meanwhile" in t for t in dm_texts(bot, ADMIN))
    assert count_values(bot) == (1116 if until == ImportStatus.IMPORTED else 0)


def test_import_pressed_while_change_mapping_rereads_imports_neither_unseen(
    sqlite_bot, monkeypatch
):
    """Change mapping's new preview is stored between the click's read of the upload and its
    write: the import does not write with the mapping of a preview no longer shown."""
    from bot.usecases import imports

    bot = sqlite_bot
    dm, preview = cdc(bot)
    [row] = imports_of(bot)
    other = imports.ImportMapping.from_options(
        indicator_column="Indicator",
        period_column="period_end",
        value_column="Data Value",
        geography_column="State",
        filters=["State=MD"],
    )
    original = imports.import_file

    def racing(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("on_stored") is not None:  # the write, after the click read the upload
            with bot.services.sessions.begin() as session:
                session.get(DataImport, row.id).mapping = other.to_dict()
        return original(*args, **kwargs)

    monkeypatch.setattr(imports, "import_file", racing)
    key = press(bot, dm, preview, ids.IMPORT_CONFIRM)
    assert "while you pressed Import, so nothing was imported" in private_answer(bot, key)
    assert count_values(bot) == 0
    shown = now_shows(bot, dm, preview["ts"], "*Only rows:* State = MD")
    assert "read with the mapping set for this upload" in shown
    assert imports_of(bot)[0].status == ImportStatus.PREVIEWED


# --- a crash between the import and the preview's update -----------------------------------------


def test_a_crash_after_the_import_still_updates_the_preview_and_imports_once(
    sqlite_bot, workers, monkeypatch
):
    from handlers import imports as handler

    bot = sqlite_bot
    for worker in workers.workers:
        monkeypatch.setattr(worker, "retry_delay", 0.0)
    original = handler.blocks.build_imported
    crashes: list[int] = []

    def crash_once(done: Any) -> Any:
        if not crashes:
            crashes.append(1)
            raise RuntimeError("the worker died here")  # values committed, message not updated
        return original(done)

    monkeypatch.setattr(handler.blocks, "build_imported", crash_once)
    dm, preview = cdc(bot)
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    text = now_shows(bot, dm, preview["ts"], "Imported")
    assert "1,116 added, 0 updated" in text  # the first run's result, not "0 added"
    assert crashes == [1]
    assert count_values(bot) == 1116
    [row] = imports_of(bot)
    assert (row.status, row.added) == (ImportStatus.IMPORTED, 1116)
    assert len([c for c in bot.slack.calls_to("chat.update") if c.ok]) == 1


def test_slack_retrying_the_file_event_previews_once(sqlite_bot):
    import json

    bot = sqlite_bot
    event = bot.slack.share_in_dm(ADMIN, "cdc.csv", CDC)
    assert bot.driver.event(event).status == 200
    envelope = {k: v for k, v in bot.driver.sent[-1].items() if k != "type"}
    envelope["type"] = "event_callback"
    answer = bot.driver._post(json.dumps(envelope).encode(), "application/json", retry_num=1)
    assert answer.status == 200
    said(bot, str(event["channel"]))
    time.sleep(1.0)
    assert (
        len([m for m in bot.slack.messages(str(event["channel"])) if m.get("user") == "U0BOT"]) == 1
    )
    assert len(imports_of(bot)) == 1


# --- rights: another steward's indicator, restricted indicators ---------------------------------


def test_a_steward_of_one_indicator_cannot_upload_values_of_another(sqlite_bot):
    bot = sqlite_bot
    load_cdc_with_steward(bot, "U0LEE")
    with bot.services.sessions.begin() as session:
        session.scalars(
            select(Indicator).where(Indicator.name == DEATHS)
        ).one().steward_id = "U0MARIA"
    # Maria stewards the deaths only; the file adds a month of another indicator too.
    changed = (
        "indicator,period,value,geography\n"
        f"{DEATHS},2025-05,47600,MD\n"
        '"Opioids (T40.0-T40.4,T40.6)",2025-05,1500,MD\n'
    )
    dm = drop(bot, "U0MARIA", "cdc.csv", changed.encode())
    seen = all_text(said(bot, dm))
    assert "Only an indicator's data steward or a coalition admin can import its values" in seen
    assert "<@U0LEE>" in seen and DEATHS not in seen.split("This file has values for:")[1]
    assert "Rows to add" not in seen
    assert ids.IMPORT_CONFIRM not in buttons(said(bot, dm))
    with bot.services.sessions() as session:
        assert (
            session.scalar(select(IndicatorValue.indicator_id).where(IndicatorValue.value == 47600))
            is None
        )


def test_a_restricted_indicator_leaks_nothing_through_a_refused_file(sqlite_bot):
    """A value out of the restricted indicator's plausible range makes the importer refuse the
    file; from a DM that refusal must not name the indicator or its limits."""
    bot = sqlite_bot
    load_cdc_with_steward(bot, "U0MARIA")
    with bot.services.sessions.begin() as session:
        secret = session.scalars(select(Indicator).where(Indicator.name == DEATHS)).one()
        secret.restricted_to = ["C0PRIVATE"]
        secret.aliases = ["hidden deaths"]
        secret.plausible_max = 123456
    data = "indicator,period,value,geography\nhidden deaths,2024-01,99999999,MD\n"
    dm = drop(bot, "U0MARIA", "probe.csv", data.encode())
    seen = all_text(said(bot, dm))
    assert DEATHS not in seen and "123,456" not in seen and "123456" not in seen, seen
    assert ids.IMPORT_CONFIRM not in buttons(said(bot, dm))
    assert count_values(bot) == 1116


def test_a_file_that_would_add_hundreds_of_indicators_is_not_imported_as_it_is(sqlite_bot):
    """A wrong Indicator column (a free-text one) would fill the catalog with junk."""
    bot = sqlite_bot
    rows = [f"Note number {i},2024-01,{i}" for i in range(150)]
    dm = drop(bot, ADMIN, "notes.csv", ("indicator,period,value\n" + "\n".join(rows)).encode())
    preview = said(bot, dm)
    seen = all_text(preview)
    assert "would add 150 new indicators" in seen and "Change mapping" in seen
    assert ids.IMPORT_CONFIRM not in buttons(preview)
    key = press(bot, dm, preview, ids.IMPORT_CONFIRM, value=str(imports_of(bot)[0].id))
    assert "can't be imported as it is" in private_answer(bot, key)
    with bot.services.sessions() as session:
        assert session.scalar(select(Indicator.id)) is None


# --- files that are not what their name says, and publishers' files ------------------------------


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        (
            "page.csv",
            b"<!DOCTYPE html><html><body><table><tr><td>indicator</td></tr></table></body></html>\n",
            "can't be imported as it is",
        ),
        ("scan.csv", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 20, "binary data"),
        ("book.xlsx", b"PK\x03\x04" + b"\x00" * 300, "not a readable Excel file"),
        ("wide16.csv", "indicator,period,value\nA,2024,1\n".encode("utf-16-le"), "UTF-16"),
        (
            "latin.csv",
            "indicator,period,value,geography\nA,2024,1,Montréal\n".encode("latin-1"),
            "CSV UTF-8",
        ),
    ],
)
def test_a_file_that_is_not_a_csv_inside_is_refused_in_words(sqlite_bot, name, data, words):
    bot = sqlite_bot
    dm = drop(bot, ADMIN, name, data)
    preview = said(bot, dm)
    seen = all_text(preview)
    assert words in seen, seen
    assert ids.IMPORT_CONFIRM not in buttons(preview)
    assert count_values(bot) == 0


def test_a_utf16_file_with_its_byte_order_mark_is_read(sqlite_bot):
    bot = sqlite_bot
    data = "indicator,period,value\nOverdoses,2024-01,5\nOverdoses,2024-02,6\n".encode("utf-16")
    dm = drop(bot, ADMIN, "excel-unicode.csv", data)
    preview = said(bot, dm)
    assert "Rows to add: 2" in all_text(preview)
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "2 added")


def test_a_zip_bomb_named_xlsx_is_refused_quickly(sqlite_bot, tmp_path):
    import zipfile

    bot = sqlite_bot
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b"<worksheet><sheetData>")
            chunk = b" " * (1 << 20)
            for _ in range(600):  # 600 MB of nothing, 0.6 MB packed
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    started = time.monotonic()
    dm = drop(bot, ADMIN, "bomb.xlsx", path.read_bytes())
    seen = all_text(said(bot, dm))
    assert time.monotonic() - started < 15
    assert "zip bomb" in seen or "can't be imported" in seen, seen
    assert count_values(bot) == 0


def test_a_file_of_200_000_rows_under_10_mb_is_previewed_and_imported_once(sqlite_bot):
    bot = sqlite_bot
    lines = ["indicator,period,value,geography"]
    lines += [
        f"Calls,{1900 + i // 12 % 100}-{i % 12 + 1:02d},{i % 97},Z{i // 1200}"
        for i in range(200_000)
    ]
    data = ("\n".join(lines) + "\n").encode()
    assert len(data) < 10 * 1024 * 1024
    started = time.monotonic()
    dm = drop(bot, ADMIN, "calls.csv", data)
    preview = said(bot, dm)
    assert "Rows to add: 200,000" in all_text(preview)
    previewed = time.monotonic() - started
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "200,000 added")
    print(f"200,000 rows: preview {previewed:.1f} s, total {time.monotonic() - started:.1f} s")
    assert count_values(bot) == 200_000


# --- names and forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "<!channel> *urgent* _x_ ~y~ `z`.csv",
        "a" * 480 + "<!here>.csv",
        "```\n<@U0EVIL>```.csv",
    ],
)
def test_a_hostile_file_name_is_shown_as_words_and_remembered_as_stored(sqlite_bot, name):
    from tests.hostile.test_hostile_upload import nothing_live

    bot = sqlite_bot
    data = b"YEAR,STATE,naloxone_rate\n2022,MD,0.7\n2023,MD,0.8\n"  # a file needing a mapping
    dm = drop(bot, ADMIN, name, data)
    preview = said(bot, dm)
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "2 added")
    [row] = imports_of(bot)
    assert len(row.file_name) <= 120
    with bot.services.sessions() as session:
        assert session.scalars(select(ImportSource.name)).one() == row.file_name
    dm = drop(bot, ADMIN, name, data)  # next month's file of that name
    assert "remembered for files of this name" in all_text(said(bot, dm, 2))
    nothing_live(bot)


@pytest.mark.parametrize(
    ("field", "typed", "words"),
    [
        ("skip_rows", "99999999999999999999", "--skip-rows"),
        ("skip_rows", "-3", "--skip-rows"),
        ("skip_rows", "1e3", "--skip-rows"),
        ("value_columns", "\n".join(f"c{i}=Name {i}" for i in range(400)), "--value-column"),
        ("filters", "no equals sign", "--filter"),
        ("period_columns", "year=\nmonth=", "--period-column"),
        ("period_columns", "year=period_end\nweek=period_end\nmonth=period_end", "--period-column"),
        ("sheet", "../../etc/passwd", "--sheet"),
        ("unit", "per\x00100", "--unit"),
        ("indicator", "<!channel> " * 90, "either"),
    ],
)
def test_hostile_mapping_values_are_answered_next_to_the_field_or_in_the_preview(
    sqlite_bot, field, typed, words
):
    bot = sqlite_bot
    dm, preview = cdc(bot)
    press(bot, dm, preview, ids.IMPORT_MAPPING)
    opened = wait_for(lambda: [v for v in bot.slack.views if v["action"] == "open"])[0]["view"]
    fields = {
        b["block_id"]: b["element"].get("initial_value")
        for b in opened["blocks"]
        if b["type"] == "input"
    }
    fields[field] = typed[:1000]
    answer = bot.driver.submit_view(
        ids.IMPORT_MAPPING_VIEW,
        {k: {"value": {"type": "plain_text_input", "value": v}} for k, v in fields.items() if v},
        user=ADMIN,
        private_metadata=opened["private_metadata"],
    )
    assert answer.status == 200
    if answer.body:
        errors = answer.json()["errors"]
        assert any(words in e or "either" in e for e in errors.values()), errors
    else:
        shown = now_shows(bot, dm, preview["ts"], "can't be imported as it is")
        assert "went wrong" not in shown
    assert count_values(bot) == 0
    assert imports_of(bot)[0].status in (ImportStatus.PREVIEWED, ImportStatus.REFUSED)
