"""Hostile uploads in Slack: a file's words never run, buttons and forms that were tampered with
change nothing, and the bot's token goes to Slack's file host only.

Through the served app (signed requests, the Slack stand-in) on SQLite; the download's own rules
(the token never leaves for another host, not even along a redirect; Slack's sign-in page is not
read as data) against small local HTTP servers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import func, select

from bot.slack import files, ids
from bot.slack.files import FileRefused, SlackFile
from storage.models import DataImport, ImportStatus, IndicatorValue
from tests.e2e.test_upload import (
    ADMIN,
    buttons,
    cdc,
    count_values,
    drop,
    imports_of,
    now_shows,
    press,
    private_answer,
    said,
)
from tests.helpers import all_text, wait_for
from tests.hostile.test_text_is_never_live import live_controls, shown_texts

EVIL_NAME = "<!channel> Overdoses <@U0EVIL> <https://evil.example|agenda>"
EVIL_PLACE = "<!here>"
EVIL_COLUMN = "<!everyone> period"


def hostile_csv() -> bytes:
    rows = [f"indicator,{EVIL_COLUMN},value,geography"]
    rows += [f'"{EVIL_NAME}",2024-{m:02d},{10 + m},{EVIL_PLACE}' for m in range(1, 7)]
    return ("\n".join(rows) + "\n").encode()


def _shown(node: Any, key: str | None = None) -> Iterator[str]:
    """What is shown as text; a form field's initial value is not: it is typed text in an
    input box (kept as the file has it, so that the column it names is found again)."""
    if key == "initial_value":
        return
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _shown(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _shown(item, key)
    else:
        yield from shown_texts(node, key)


def nothing_live(bot: Any) -> None:
    texts = [t for call in bot.slack.calls for t in _shown(call.params)]
    found = live_controls(iter(texts))
    assert not found, "\n".join(found[:5])
    joined = "\n".join(texts)
    for live in ("<!channel", "<!here", "<!everyone", "<@U0EVIL", "<https://evil"):
        assert live not in joined


def test_a_files_words_never_run_in_the_preview_the_result_or_the_answer(sqlite_bot):
    bot = sqlite_bot
    dm = drop(bot, ADMIN, "<!everyone> data.csv", hostile_csv())
    preview = said(bot, dm)
    seen = all_text(preview)
    assert "Rows to add: 6" in seen
    assert "@\u2060channel Overdoses @U0EVIL agenda" in seen  # shown as words
    press(bot, dm, preview, ids.IMPORT_MAPPING)
    wait_for(lambda: [v for v in bot.slack.views if v["action"] == "open"])
    press(bot, dm, preview, ids.IMPORT_CONFIRM)
    now_shows(bot, dm, preview["ts"], "6 added")
    bot.driver.command("/indicator", "overdoses", user="U0MARIA", channel="C0MEETING")
    key = bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1]
    wait_for(lambda: bot.slack.responses(key))
    for answer in bot.slack.responses(key):
        assert not live_controls(shown_texts(answer))
    nothing_live(bot)


def test_a_refusal_quoting_hostile_rows_is_inert(sqlite_bot):
    bot = sqlite_bot
    data = f'indicator,period,value\n"{EVIL_NAME}",<!channel>,5\n"{EVIL_NAME}",2024-02,<@U0EVIL>\n'
    dm = drop(bot, ADMIN, "bad.csv", data.encode())
    seen = all_text(said(bot, dm))
    assert "This file can't be imported as it is" in seen
    assert "row 2" in seen and "row 3" in seen
    assert count_values(bot) == 0
    nothing_live(bot)


def test_hostile_mapping_form_values_are_inert_and_change_nothing(sqlite_bot):
    bot = sqlite_bot
    dm = drop(bot, ADMIN, "f.csv", hostile_csv())
    preview = said(bot, dm)
    press(bot, dm, preview, ids.IMPORT_MAPPING)
    opened = wait_for(lambda: [v for v in bot.slack.views if v["action"] == "open"])[0]["view"]
    answer = bot.driver.submit_view(
        ids.IMPORT_MAPPING_VIEW,
        {
            "filters": {"value": {"type": "plain_text_input", "value": "indicator=<!channel>"}},
            "period_columns": {"value": {"type": "plain_text_input", "value": EVIL_COLUMN}},
            "geography_column": {"value": {"type": "plain_text_input", "value": "<@U0EVIL>"}},
        },
        user=ADMIN,
        private_metadata=opened["private_metadata"],
    )
    assert answer.status == 200
    now_shows(bot, dm, preview["ts"], "can't be imported as it is")
    assert count_values(bot) == 0
    nothing_live(bot)
    # A form whose hidden upload number was changed to someone else's, or to nonsense.
    other = bot.driver.submit_view(
        ids.IMPORT_MAPPING_VIEW, {}, user="U0LEE", private_metadata=opened["private_metadata"]
    )
    assert "only they can import" in other.json()["errors"]["indicator"]
    junk = bot.driver.submit_view(
        ids.IMPORT_MAPPING_VIEW, {}, user=ADMIN, private_metadata="1 OR 1=1|C0X|1.2"
    )
    assert "out of date" in junk.json()["errors"]["indicator"]


@pytest.mark.parametrize("value", ["abc", "-1", "1 OR 1=1", "99999999999999", "", "../1"])
def test_a_tampered_button_value_changes_nothing(sqlite_bot, value):
    bot = sqlite_bot
    dm, preview = cdc(bot)
    key = press(bot, dm, preview, ids.IMPORT_CONFIRM, value=value)
    words = private_answer(bot, key)
    assert "not one of mine" in words or "can't find that upload" in words
    assert count_values(bot) == 0
    assert imports_of(bot)[0].status == ImportStatus.PREVIEWED


def test_an_upload_in_a_channel_and_the_bots_own_files_make_no_job(sqlite_bot):
    from tests.helpers import jobs_of

    bot = sqlite_bot
    event = bot.slack.share_in_dm(ADMIN, "x.csv", b"indicator,period,value\nA,2024,1\n")
    for changed in (
        {"channel_type": "channel", "channel": "C0MEETING"},
        {"user": "U0BOT", "bot_id": "B0BOT"},
    ):
        answer = bot.driver.event({**event, **changed})
        assert answer.status == 200
    assert not jobs_of(bot)
    assert not imports_of(bot)


def test_a_file_name_cannot_reach_outside_the_temporary_folder(sqlite_bot):
    bot = sqlite_bot
    dm = drop(bot, ADMIN, "../../../tmp/evil\x07name.csv", b"indicator,period,value\nA,2024,1\n")
    seen = all_text(said(bot, dm))
    assert "evil_name.csv" in seen and "../" not in seen
    assert not Path("/tmp/evil\x07name.csv").exists()
    with bot.services.sessions() as session:
        assert session.scalar(select(DataImport.file_name)) == "evil_name.csv"


def test_an_import_of_someone_elses_upload_by_its_number_is_refused(sqlite_bot):
    bot = sqlite_bot
    dm, preview = cdc(bot)
    row = str(imports_of(bot)[0].id)
    lee_dm = drop(bot, "U0LEE", "mine.csv", b"indicator,period,value\nA,2024,1\n")
    lee_preview = said(bot, lee_dm)
    key = press(bot, lee_dm, lee_preview, ids.IMPORT_CONFIRM, user="U0LEE", value=row)
    assert "only they can import" in private_answer(bot, key)
    with bot.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(IndicatorValue)) == 0
    assert buttons(bot.slack.message(dm, preview["ts"]) or {})  # the owner's preview stands


# --- the download itself -------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Records each request's Authorization header; answers with what the server is told."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        server: Any = self.server
        server.seen.append(self.headers.get("Authorization"))
        status, headers, body = server.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    made: list[Any] = []

    def make(status: int, headers: dict[str, str], body: bytes) -> Any:
        server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        server.seen, server.answer = [], (status, headers, body)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        made.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in made:
        server.shutdown()
        server.server_close()


def _file(url: str, name: str = "data.csv") -> SlackFile:
    return SlackFile(id="F1", name=name, size=10, url=url, pretty_type="CSV")


def _base(server: Any) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_the_token_is_sent_to_slacks_file_host_only(servers, tmp_path):
    api = servers(200, {"Content-Type": "text/csv"}, b"indicator,period,value\n")
    elsewhere = servers(200, {"Content-Type": "text/csv"}, b"indicator,period,value\n")
    client = WebClient(token="xoxb-secret")
    with pytest.raises(FileRefused, match="did not give me a download link"):
        files.download(
            client, _file(f"{_base(elsewhere)}/f.csv"), tmp_path, slack_api_url=f"{_base(api)}/api/"
        )
    assert elsewhere.seen == []
    path = files.download(
        client, _file(f"{_base(api)}/f.csv"), tmp_path, slack_api_url=f"{_base(api)}/api/"
    )
    assert api.seen == ["Bearer xoxb-secret"] and path.read_bytes().startswith(b"indicator")


def test_the_token_does_not_follow_a_redirect(servers, tmp_path):
    target = servers(200, {"Content-Type": "text/csv"}, b"indicator,period,value\nA,2024,1\n")
    api = servers(302, {"Location": f"{_base(target)}/signed.csv"}, b"")
    client = WebClient(token="xoxb-secret")
    path = files.download(
        client, _file(f"{_base(api)}/f.csv"), tmp_path, slack_api_url=f"{_base(api)}/api/"
    )
    assert api.seen == ["Bearer xoxb-secret"]
    assert target.seen == [None]
    assert path.read_bytes().endswith(b"A,2024,1\n")


def test_slacks_sign_in_page_is_not_read_as_data(sqlite_bot, tmp_path):
    bot = sqlite_bot
    info = bot.slack.upload_as_user(ADMIN, "d.csv", b"indicator,period,value\nA,2024,1\n")
    wrong = WebClient(token="xoxb-not-the-bots", base_url=bot.slack.api_url)
    with pytest.raises(FileRefused, match="sign-in page"):
        files.download(wrong, files.as_file(info), tmp_path, slack_api_url=bot.slack.api_url)
    assert list(tmp_path.iterdir()) == []
    right = WebClient(token=bot.slack.token, base_url=bot.slack.api_url)
    path = files.download(right, files.as_file(info), tmp_path, slack_api_url=bot.slack.api_url)
    assert path.read_bytes().endswith(b"A,2024,1\n")


def test_a_table_slack_calls_csv_but_named_otherwise_is_not_refused_as_not_a_csv():
    named = SlackFile(id="F1", name="export.dat", size=10, url=None, pretty_type="CSV")
    with pytest.raises(FileRefused) as refused:
        files.check(named)
    assert str(refused.value).startswith(
        "export.dat has no .csv or .xlsx at the end of its name, so I can't tell how to read it."
    )
