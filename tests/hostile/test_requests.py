"""Hostile requests, through the served app as Slack (or an attacker holding a valid signature)
would send them: bodies that are not Slack requests, ids Slack always sends left out, values the
bot never put in its buttons and forms, workspaces the bot does not serve, restricted indicators
asked for where they do not exist, and a commitment naming 160 people.

For each: a status below 500 (400 for what is not a Slack request at all, once signed; 401
unsigned), a clear private answer where a person should get one, nothing stored (rows counted
before and after) and nothing posted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.bootstrap import bootstrap
from bot.config import load_settings
from bot.sandbox.fake_socket import FakeSocketMode
from bot.sandbox.slack_driver import HttpAnswer, post, sign
from bot.slack.app import NOT_SERVED, foreign_response_url, response_origins
from bot.slack.socket_mode import connect
from storage.models import (
    Commitment,
    CommitmentEvent,
    CommitmentOwner,
    Indicator,
    IndicatorValue,
    Person,
    Team,
)
from storage.repositories import ensure_team
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM_ID
from tests.e2e.test_oauth import serve_oauth
from tests.helpers import all_text, wait_for

CHANNEL = "C0MEETING"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
FOREIGN = "T0NEVERINSTALLED"
# Answering a person privately is not posting: the ack, a response URL, a form's own errors.
QUIET = {"auth.test", "response_url"}
NOTE = {"note": {"text": {"type": "plain_text_input", "value": "Called them"}}}


# --- what the database holds and what reached Slack ----------------------------------------------


def rows(services) -> dict[str, int]:
    with services.sessions() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (
                Team,
                Person,
                Commitment,
                CommitmentOwner,
                CommitmentEvent,
                Indicator,
                IndicatorValue,
            )
        }


NOTHING = {
    "teams": 0,
    "people": 0,
    "commitments": 0,
    "commitment_owners": 0,
    "commitment_events": 0,
    "indicators": 0,
    "indicator_values": 0,
}


def said(bot) -> list[str]:
    """The Web API methods the bot called beyond its quiet answers (posts, DMs, views, lookups)."""
    return [c.method for c in bot.slack.calls if c.method not in QUIET]


def private_answers(bot) -> list[dict]:
    return [c.params for c in bot.slack.calls_to("response_url")]


def signed(bot, body: bytes, content_type: str = FORM, **headers: str) -> HttpAnswer:
    """A raw body signed as Slack signs it: HMAC-SHA256 over the bytes, whatever they are."""
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    signature = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest.hexdigest()}"}
    return post(bot.driver.events_url, body, {"Content-Type": content_type, **signature, **headers})


def signed_form(bot, fields: dict[str, str]) -> HttpAnswer:
    body = urlencode(fields).encode()
    headers = {"Content-Type": FORM, **sign(SIGNING_SECRET, body, int(time.time()))}
    return post(bot.driver.events_url, body, headers)


def interaction(payload: dict) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def newest(services) -> Commitment | None:
    with services.sessions() as session:
        return session.scalars(select(Commitment).order_by(Commitment.id.desc())).first()


def make(bot, text: str = "Call the shelter by Friday", channel: str = CHANNEL) -> Commitment:
    """A commitment made the ordinary way, once its confirmation is posted."""
    answer = bot.driver.command("/commit", text, user="U0MARIA", channel=channel)
    assert answer.status == 200
    return wait_for(lambda: (c := newest(bot.services)) and c.message_ts and c)


# --- bodies that are not Slack requests -------------------------------------------------------

UNREADABLE = [
    pytest.param(b"{not json", JSON, id="not-json"),
    pytest.param(b"{not json", FORM, id="not-json-as-form"),
    pytest.param(b"payload=%7Bnot+json", FORM, id="payload-not-json"),
    pytest.param(b"command=%2Fcommit&text=\xff\xfe\xfa", FORM, id="form-not-utf8"),
    pytest.param(b'{"type": "\xff"}', JSON, id="json-not-utf8"),
    pytest.param(b"[1, 2]", JSON, id="json-array"),
    pytest.param(b"payload=%5B1%5D", FORM, id="payload-array"),
    pytest.param(b'{"type": "block_actions", "team": 5}', JSON, id="team-not-an-object"),
    pytest.param(b"", FORM, id="empty"),
    pytest.param(b"hello=world", FORM, id="no-type"),
    pytest.param(
        b'{"type": "event_callback", "team_id": "T0COALITION", "event": "x"}', JSON, id="event"
    ),
]


@pytest.mark.parametrize(("body", "content_type"), UNREADABLE)
def test_a_signed_body_that_is_no_slack_request_is_refused_with_400(bot, body, content_type):
    answer = signed(bot, body, content_type)
    assert answer.status == 400
    assert b"Traceback" not in answer.body
    unsigned = post(bot.driver.events_url, body, {"Content-Type": content_type})
    assert unsigned.status == 401
    assert rows(bot.services) == NOTHING
    assert said(bot) == [] and private_answers(bot) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""},
        {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": "-5", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Signature": "v0=ü"},
    ],
    ids=["letters", "empty", "exponent", "negative", "no-timestamp"],
)
def test_garbage_signature_headers_are_401_not_500(sqlite_bot, headers):
    for body in (b"{not json", b"text=help&command=%2Fcommit", b"\xff"):
        answer = post(sqlite_bot.driver.events_url, body, {"Content-Type": FORM, **headers})
        assert answer.status == 401
    assert rows(sqlite_bot.services) == NOTHING


def test_slacks_certificate_check_is_answered_as_bolt_answers_it(sqlite_bot):
    answer = post(sqlite_bot.driver.events_url, b"ssl_check=1&token=legacy", {"Content-Type": FORM})
    assert answer.status == 200 and answer.body == b""
    assert rows(sqlite_bot.services) == NOTHING


# --- requests without the ids Slack always sends ---------------------------------------------------


def _command(bot, **changes: str | None) -> dict[str, str]:
    fields = bot.driver.command_payload("/commit", "Call the shelter by Friday", user="U0MARIA")
    for key, value in changes.items():
        if value is None:
            del fields[key]
        else:
            fields[key] = value
    return fields


@pytest.mark.parametrize(
    "changes",
    [
        {"user_id": ""},
        {"user_id": None},
        {"user_id": "<@U0LEE>"},
        {"user_id": "u0maria"},
        {"team_id": ""},
        {"team_id": None},
        {"team_id": " "},
        {"team_id": "T0COALITION'; DROP TABLE teams; --"},
        {"channel_id": ""},
        {"channel_id": None},
        {"channel_id": "#general"},
    ],
    ids=lambda c: ",".join(f"{k}={v!r}" for k, v in c.items()),
)
def test_a_command_without_the_ids_slack_always_sends_is_400_and_stores_nothing(bot, changes):
    answer = signed_form(bot, _command(bot, **changes))
    assert answer.status == 400
    assert rows(bot.services) == NOTHING
    assert said(bot) == [] and private_answers(bot) == []  # no users.info, no <@> posted


def _click(user: dict, **extra) -> dict:
    return {
        "type": "block_actions",
        "user": user,
        "team": {"id": TEAM_ID},
        "api_app_id": "A0COMMSTAT",
        "actions": [{"action_id": "commit_done", "block_id": "b", "value": "1"}],
        **extra,
    }


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(_click({"id": ""}), id="click-empty-user"),
        pytest.param(_click("U0MARIA"), id="click-user-not-an-object"),
        pytest.param(_click({"id": "U0MARIA"}, team={"id": ""}), id="click-empty-team"),
        pytest.param(_click({"id": "U0MARIA"}, actions="commit_done"), id="click-actions-text"),
        pytest.param(
            {"type": "view_submission", "user": {"id": "U0MARIA"}, "team": {"id": TEAM_ID}},
            id="form-without-view",
        ),
        pytest.param(
            {
                "type": "view_submission",
                "user": {"id": "U0MARIA"},
                "team": {"id": TEAM_ID},
                "view": {"callback_id": "commitment_note", "state": []},
            },
            id="form-state-not-an-object",
        ),
    ],
)
def test_an_interaction_without_the_ids_slack_always_sends_is_400(bot, payload):
    answer = signed(bot, interaction(payload))
    assert answer.status == 400
    assert rows(bot.services) == NOTHING
    assert said(bot) == [] and private_answers(bot) == []


ME = {"id": "U0MARIA", "team_id": TEAM_ID}
OURS = {"id": TEAM_ID}
STATE = {"values": NOTE}


def _payload(kind: str, **fields) -> dict:
    return {"type": kind, "user": ME, "team": OURS, "api_app_id": "A0COMMSTAT", **fields}


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(_click(ME, actions=[]), id="click-no-actions"),
        pytest.param(
            _click(ME, actions=[{"block_id": "b", "value": "1"}]), id="click-no-action-id"
        ),
        pytest.param(_click(ME, actions=[{"action_id": 5}]), id="click-action-id-number"),
        pytest.param(
            _payload("view_submission", view={"callback_id": "commitment_note", "state": STATE}),
            id="form-view-without-type",
        ),
        pytest.param(
            _payload("view_submission", view={"type": "modal", "state": STATE}),
            id="form-view-without-callback-id",
        ),
        pytest.param(_payload("view_submission", view="callback_id"), id="form-view-text"),
        pytest.param(
            _payload("view_closed", view={"callback_id": "commitment_note"}),
            id="closed-view-without-type",
        ),
        pytest.param(_payload("view_closed", view=["callback_id"]), id="closed-view-a-list"),
        pytest.param(_payload("block_suggestion", value="x"), id="suggestion-no-action-id"),
        pytest.param(_payload("shortcut", callback_id=["x"]), id="shortcut-callback-id-list"),
        pytest.param(_payload("message_action", message={}), id="message-action-no-callback-id"),
        pytest.param(
            _payload("interactive_message", callback_id="c", actions=[]),
            id="attachment-action-no-actions",
        ),
        pytest.param(_payload("dialog_submission", callback_id=3), id="dialog-callback-id-number"),
        pytest.param(_payload("workflow_step_edit", callback_id="c"), id="step-edit-without-step"),
    ],
)
def test_a_shape_bolt_would_trip_over_is_400_before_bolt_sees_it(bot, payload):
    """Bolt's matching indexes these without looking (actions[0], view["type"]…): a 500 and a
    traceback if they reached it."""
    answer = signed(bot, interaction(payload))
    assert answer.status == 400
    assert rows(bot.services) == NOTHING
    assert said(bot) == [] and private_answers(bot) == []


# --- answers go to Slack only ---------------------------------------------------------------------


@pytest.fixture
def evil() -> Iterator[list[str]]:
    """A server anyone could name as a response URL: the paths POSTed to it, in order."""
    hits: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hits.append(f"http://127.0.0.1:{server.server_address[1]}")  # its URL, first
    try:
        yield hits
    finally:
        server.shutdown()
        server.server_close()


FOREIGN_URLS = [
    "https://evil.example/x",
    "http://127.0.0.1:1/evil",
    "http://hooks.slack.com/services/x",
    "https://hooks.slack.com.evil.example/x",
    "https://hooks.slack.com@evil.example/x",
    "https://hooks.slack.com:8443/x",
    "https://hooks.slack.com\\@evil.example/x",
    "javascript:alert(1)",
    "",
]


@pytest.mark.parametrize("url", ["SINK", *FOREIGN_URLS])
def test_a_command_with_a_foreign_response_url_is_400_and_nothing_is_sent(bot, evil, url):
    url = f"{evil[0]}/evil" if url == "SINK" else url
    for text in ("Call the shelter by Friday", "help", "list all"):
        answer = signed_form(bot, _command(bot, text=text, response_url=url))
        assert answer.status == 400
    for command in ("/indicator", "/commstat"):
        fields = {**_command(bot, response_url=url), "command": command, "text": "settings"}
        assert signed_form(bot, fields).status == 400
    time.sleep(0.3)  # a listener's answer would go out from a worker thread
    assert evil[1:] == []
    assert rows(bot.services) == NOTHING
    assert said(bot) == [] and private_answers(bot) == []


def test_an_interaction_with_a_foreign_response_url_is_400_and_nothing_is_sent(bot, evil):
    made = make(bot)
    baseline = rows(bot.services)
    bot.slack.clear()
    sink = f"{evil[0]}/evil"
    click = _click(
        ME, actions=[{"action_id": "commit_done", "block_id": "b", "value": str(made.id)}]
    )
    form = _payload(
        "view_submission",
        view={"type": "modal", "callback_id": "commitment_note", "state": STATE},
    )
    for payload in (
        {**click, "response_url": sink},
        {**click, "team": {"id": FOREIGN}, "response_url": sink},  # not even a refusal goes there
        {**form, "response_urls": [{"response_url": sink, "channel_id": CHANNEL}]},
        {**form, "response_urls": ["https://hooks.slack.com/x"]},
        {**form, "response_urls": sink},
    ):
        assert signed(bot, interaction(payload)).status == 400
    time.sleep(0.3)
    assert evil[1:] == []
    assert rows(bot.services) == baseline
    assert said(bot) == [] and private_answers(bot) == []


def test_only_slacks_hooks_and_the_configured_api_host_take_answers():
    allowed = response_origins("http://127.0.0.1:4567/api/")
    ours = ["https://hooks.slack.com/commands/T0/1/abc", "http://127.0.0.1:4567/response/R1"]
    for url in ours:
        assert not foreign_response_url({"response_url": url}, allowed)
    assert not foreign_response_url({"response_urls": [{"response_url": ours[0]}]}, allowed)
    assert not foreign_response_url({"response_urls": []}, allowed)
    assert not foreign_response_url({}, allowed)
    for url in [*FOREIGN_URLS, "http://127.0.0.1:4568/response/R1", None, 5]:
        assert foreign_response_url({"response_url": url}, allowed), url
    production = response_origins("https://slack.com/api/")
    assert not foreign_response_url({"response_url": ours[0]}, production)
    assert foreign_response_url({"response_url": ours[1]}, production)


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_home_opened", "user": "", "tab": "home"},
        {"type": "app_home_opened", "tab": "home"},
        {"type": "app_home_opened", "user": {"id": "U0MARIA"}, "tab": "home"},
    ],
)
def test_an_event_without_its_user_or_team_is_400(bot, event):
    envelope = {"type": "event_callback", "team_id": TEAM_ID, "event": event}
    assert signed(bot, json.dumps(envelope).encode(), JSON).status == 400
    without_team = {**envelope, "team_id": "", "event": {**event, "user": "U0MARIA"}}
    assert signed(bot, json.dumps(without_team).encode(), JSON).status == 400
    assert rows(bot.services) == NOTHING
    assert said(bot) == []


# --- a workspace the bot does not serve -----------------------------------------------------------


def test_another_workspace_is_answered_privately_and_nothing_is_stored(bot):
    """Token mode serves the token's workspace only (auth.test at start)."""
    command = bot.driver.command("/commit", "Call the shelter by Friday", user="U0MARIA")
    assert command.status == 200  # ours: served as ever
    baseline = wait_for(lambda: rows(bot.services)["commitments"] and rows(bot.services))
    wait_for(lambda: bot.slack.messages(CHANNEL))
    bot.slack.clear()

    for text in ("Call the shelter by Friday", "list all", "done 1", ""):
        answer = bot.driver.command("/commit", text, user="U0MARIA", team_id=FOREIGN)
        assert answer.status == 200
        assert answer.json() == {"response_type": "ephemeral", "text": NOT_SERVED}
    for command_name in ("/indicator", "/commstat"):
        answer = bot.driver.command(command_name, "settings", user="U0MARIA", team_id=FOREIGN)
        assert answer.json()["text"] == NOT_SERVED

    foreign = {"id": FOREIGN, "domain": "elsewhere"}
    click = bot.driver.interaction(
        {
            **_click({"id": "U0MARIA", "team_id": FOREIGN}, team=foreign),
            "response_url": bot.slack.response_url("foreign-click"),
        }
    )
    assert click.status == 200
    assert wait_for(lambda: bot.slack.responses("foreign-click"))[-1]["text"] == NOT_SERVED
    form = bot.driver.interaction(
        {
            "type": "view_submission",
            "team": foreign,
            "user": {"id": "U0MARIA", "team_id": FOREIGN},
            "view": {
                "id": "VFOREIGN",
                "type": "modal",
                "callback_id": "commitment_note",
                "private_metadata": "1|",
                "state": {"values": NOTE},
            },
        }
    )
    assert form.json()["response_action"] == "update"
    assert NOT_SERVED in all_text(form.json()["view"])
    home = bot.driver.event({"type": "app_home_opened", "user": "U0MARIA", "tab": "home"})
    assert home.status == 200  # our own workspace's home: published
    wait_for(lambda: bot.slack.calls_to("views.publish"))
    bot.slack.clear()
    envelope = {
        "type": "event_callback",
        "team_id": FOREIGN,
        "api_app_id": "A0COMMSTAT",
        "event": {"type": "app_home_opened", "user": "U0MARIA", "tab": "home"},
    }
    assert signed(bot, json.dumps(envelope).encode(), JSON).status == 200
    uninstalled = {**envelope, "event": {"type": "app_uninstalled"}}
    assert signed(bot, json.dumps(uninstalled).encode(), JSON).status == 200

    assert rows(bot.services) == baseline
    with bot.services.sessions() as session:
        assert session.scalars(select(Team.id)).all() == [TEAM_ID]
    assert said(bot) == []


def test_a_workspace_without_an_installation_is_refused_in_oauth_mode(db_url, fake_slack, clock):
    served = serve_oauth(db_url, fake_slack, clock)
    oauth_bot = next(served)
    try:
        driver = oauth_bot.driver(FOREIGN)
        answer = driver.command("/commit", "Call the shelter by Friday", user="U0MARIA")
        assert answer.status == 200
        refused = wait_for(lambda: fake_slack.calls_to("response_url"))
        assert refused[-1].params["text"] == NOT_SERVED
        empty = driver.command_payload("/commit", "list", user="U0MARIA", team_id=FOREIGN)
        empty["team_id"] = ""
        assert driver.send_form(empty).status == 400
        assert rows(oauth_bot.services) == NOTHING
        assert said(oauth_bot) == []
    finally:
        served.close()


# --- values the bot never put in its buttons and forms ---------------------------------------------


@pytest.mark.parametrize(
    ("action", "says"),
    [
        ({"action_id": "commit_done", "value": "abc"}, "is not a commitment number"),
        ({"action_id": "commit_done", "value": ""}, "is not a commitment number"),
        ({"action_id": "commit_done"}, "is not a commitment number"),
        ({"action_id": "commit_done", "value": 7}, "is not a commitment number"),
        ({"action_id": "commit_done", "value": "99999999999"}, "I can't find commitment"),
        ({"action_id": "commit_done", "value": "4242"}, "I can't find commitment #4242"),
        (
            {"action_id": "commit_move", "block_id": "commitment-x", "selected_date": "2026-12-01"},
            "is not a commitment number",
        ),
        (
            {"action_id": "commit_move", "block_id": "commitment-{id}", "selected_date": "2026-99"},
            "",
        ),
        (
            {"action_id": "commit_snooze", "selected_option": {"value": "x:3"}},
            "is not a commitment number",
        ),
        ({"action_id": "commit_snooze", "selected_option": "3"}, "is not a commitment number"),
        (
            {"action_id": "commit_snooze", "selected_option": {"value": "{id}:forever"}},
            "as how long to snooze",
        ),
        ({"action_id": "commit_note", "value": "abc"}, "is not a commitment number"),
        ({"action_id": "commit_note", "value": "4242"}, "no longer exists"),
    ],
    ids=lambda v: v if isinstance(v, str) else json.dumps(v)[:60],
)
def test_a_click_with_a_value_the_bot_never_sent_is_answered_privately(bot, action, says):
    commitment = make(bot)
    before = rows(bot.services)
    bot.slack.clear()
    action = json.loads(json.dumps(action).replace("{id}", str(commitment.id)))
    payload = {
        "type": "block_actions",
        "user": {"id": "U0MARIA", "team_id": TEAM_ID},
        "trigger_id": "t.1",
        "container": {
            "type": "message",
            "message_ts": commitment.message_ts,
            "channel_id": CHANNEL,
        },
        "channel": {"id": CHANNEL},
        "message": {"ts": commitment.message_ts},
        "response_url": bot.slack.response_url("garbage-click"),
        "actions": [{"block_id": "b", **action}],
    }
    answer = bot.driver.interaction(payload)
    assert answer.status == 200  # acknowledged at once
    reply = wait_for(lambda: bot.slack.responses("garbage-click"))[-1]
    assert reply["response_type"] == "ephemeral"
    assert says in reply["text"]
    assert rows(bot.services) == before
    assert said(bot) == []  # nothing posted or updated (who clicked was looked up already)
    with bot.services.sessions() as session:
        assert session.get(Commitment, commitment.id).status == "open"


def test_a_garbage_click_in_app_home_is_answered_by_dm(bot):
    bot.driver.click("commit_done", user="U0MARIA", value="abc", home=True)
    dm = wait_for(lambda: bot.slack.messages("U0MARIA"))[-1]
    assert "is not a commitment number" in dm["text"]
    assert rows(bot.services) == NOTHING


@pytest.mark.parametrize(
    ("values", "metadata", "says"),
    [
        (NOTE, "abc|x", "This form is out of date"),
        (NOTE, "", "This form is out of date"),
        (NOTE, "|", "This form is out of date"),
        (NOTE, "-1|x", "This form is out of date"),
        (NOTE, "99999999999|", "This form is out of date"),
        (NOTE, "4242|", "I can't find commitment #4242"),
        ({}, "{id}|", "Write a note"),
        ({"note": "x"}, "{id}|", "Write a note"),
    ],
)
def test_a_tampered_note_form_is_refused_next_to_its_field(bot, values, metadata, says):
    commitment = make(bot)
    before = rows(bot.services)
    bot.slack.clear()
    answer = bot.driver.submit_view(
        "commitment_note",
        values,
        user="U0MARIA",
        private_metadata=metadata.replace("{id}", str(commitment.id)),
    )
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert says in body["errors"]["note"]
    assert rows(bot.services) == before
    assert "chat.postMessage" not in said(bot)


def _new_form(**fields) -> dict:
    values = {
        "what": {"value": {"type": "plain_text_input", "value": "Restock kits"}},
        "owners": {"value": {"type": "multi_users_select", "selected_users": ["U0LEE"]}},
        "due": {"value": {"type": "datepicker", "selected_date": "2026-12-04"}},
        "channel": {"value": {"type": "conversations_select", "selected_conversation": CHANNEL}},
    }
    for block, element in fields.items():
        if element is None:
            values.pop(block, None)
        else:
            values[block] = {"value": element}
    return values


@pytest.mark.parametrize(
    ("values", "field", "says"),
    [
        (_new_form(owners={"selected_users": ["", "x"]}), "owners", "Pick the owners"),
        (_new_form(owners={"selected_users": 5}), "owners", "Pick the owners"),
        (_new_form(owners={"selected_users": [{"id": "U0LEE"}]}), "owners", "Pick the owners"),
        (
            _new_form(owners={"selected_users": [f"U0P{n:03}" for n in range(11)]}),
            "owners",
            "at most 10 owners",
        ),
        (_new_form(channel={"selected_conversation": "general"}), "channel", "Pick the channel"),
        (_new_form(channel={"selected_conversation": ["C0MEETING"]}), "channel", "Pick where"),
        (_new_form(due={"selected_date": 20261204}), "due", "Pick a due date"),
        (_new_form(what=None), "what", "Say what"),
        ({}, "owners", "Pick at least one owner"),
    ],
)
def test_a_tampered_new_commitment_form_is_refused_next_to_its_field(bot, values, field, says):
    answer = bot.driver.submit_view("new_commitment", values, user="U0MARIA")
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert says in body["errors"][field]
    assert rows(bot.services)["commitments"] == 0
    assert "users.info" not in said(bot) or field != "owners"  # owners checked before Slack
    assert "chat.postMessage" not in said(bot)


# --- Socket Mode: the same gate, over envelopes that are not signed one by one ---------------------


@pytest.fixture
def socket_bot(sqlite_url, fake_slack, clock) -> Iterator[tuple]:
    with FakeSocketMode(fake_slack) as server:
        env = {
            "DATABASE_URL": sqlite_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": server.app_token,
            "SLACK_API_URL": fake_slack.api_url,
            "COMMSTAT_TIMEZONE": "America/New_York",
        }
        services = bootstrap(load_settings(env), clock=clock)
        handler = connect(create_app(services, socket_mode=True), services.settings)
        server.wait_connected()
        try:
            yield services, server
        finally:
            handler.close()
            services.engine.dispose()


def test_socket_mode_refuses_the_same_requests_and_still_acknowledges_them(socket_bot, fake_slack):
    services, socket = socket_bot
    foreign = socket.wait_for_ack(
        socket.push_command(
            "/commit", "Call the shelter by Friday", user="U0MARIA", team_id=FOREIGN
        )
    )
    assert foreign.payload == {"response_type": "ephemeral", "text": NOT_SERVED}
    for user in ("", "<@U0LEE>"):
        ack = socket.wait_for_ack(socket.push_command("/commit", "Call by Friday", user=user))
        assert ack.payload is None  # acknowledged, nothing done
    for kind, payload in [
        ("interactive", {"type": "block_actions", "user": {"id": ""}, "actions": []}),
        ("interactive", {"type": "block_actions", "team": 5}),
        ("events_api", {"type": "event_callback", "team_id": "", "event": {"type": "x"}}),
        ("slash_commands", "garbage"),
    ]:
        assert socket.wait_for_ack(socket.push(kind, payload)).payload is None
    assert rows(services) == NOTHING
    assert [c.method for c in fake_slack.calls if c.method not in QUIET] == [
        "apps.connections.open"
    ]
    ours = socket.wait_for_ack(socket.push_command("/commit", "help", user="U0MARIA"))
    assert "/commit" in ours.payload["text"]  # still serving


# --- restricted indicators exist only in their channels ---------------------------------------------

WARD = "C0JAIL"
SECRET_NAME = "Jail releases at overdose risk"


def _indicators(bot) -> None:
    now = bot.clock()
    with bot.services.sessions.begin() as session:
        ensure_team(session, TEAM_ID, time_zone="America/New_York", now=now)
        public = Indicator(
            team_id=TEAM_ID,
            slug="naloxone",
            name="Naloxone kits distributed",
            aliases=["kits"],
            period_kind="monthly",
            created_at=now,
            updated_at=now,
        )
        secret = Indicator(
            team_id=TEAM_ID,
            slug="jail-releases",
            name=SECRET_NAME,
            aliases=["reentry"],
            period_kind="monthly",
            steward_id="U0MARIA",
            restricted_to=[WARD],
            created_at=now,
            updated_at=now,
        )
        session.add_all([public, secret])
        session.flush()
        for indicator, place, value in ((public, "Riverside", 40.0), (secret, "Eastside", 12.0)):
            for month in (9, 10):
                session.add(
                    IndicatorValue(
                        team_id=TEAM_ID,
                        indicator_id=indicator.id,
                        period=f"2026-{month:02}",
                        period_start=date(2026, month, 1),
                        geography=place,
                        value=value + month,
                        updated_at=now,
                    )
                )


def _secret_in(text: str, typed: str = "") -> bool:
    """Whether the answer shows anything of the restricted indicator that the person did not
    type themselves (an unknown name is echoed back as typed)."""
    secrets = ("Jail releases", "jail-releases", "reentry", "overdose risk", "Eastside")
    return any(word in text and word not in typed for word in secrets)


def _ask(bot, command: str, text: str, channel: str = CHANNEL) -> str:
    before = len(private_answers(bot))
    answer = bot.driver.command(command, text, user="U0MARIA", channel=channel)
    assert answer.status == 200
    if answer.body:  # answered in the ack (help, the form)
        return all_text(answer.json())
    return all_text(wait_for(lambda: private_answers(bot)[before:] and private_answers(bot)[-1]))


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("/commit", "Count releases by Dec 4 #jail-releases"),
        ("/commit", "Count releases by Dec 4 #jail"),  # a prefix of its slug
        ("/commit", "Count releases by Dec 4 #j"),
        ("/commit", "Count releases by Dec 4 #reentry"),  # its alias
        ("/commit", "Count releases by Dec 4 #nothing-like-it"),  # the "Known indicators" hint
        ("/indicator", "jail releases"),
        ("/indicator", "jail releases at overdose risk in Narnia"),  # "Places with data"
        ("/indicator", "reentry"),
        ("/indicator", "jail"),  # "Closest: …"
        ("/indicator", "list"),
        ("/indicator", "set jail releases at overdose risk 3 for 2026-10"),
        ("/indicator", "set reentry 3 for 2026-10 in Eastside"),
    ],
)
@pytest.mark.parametrize("channel", [CHANNEL, "D0MARIADM", "G0OTHER"])
def test_a_restricted_indicator_does_not_exist_outside_its_channels(bot, command, text, channel):
    _indicators(bot)
    before = rows(bot.services)
    seen = _ask(bot, command, text, channel=channel)
    assert not _secret_in(seen, typed=text), seen
    assert "naloxone" in seen.lower() or "Naloxone" in seen  # the visible one is still offered
    assert rows(bot.services)["commitments"] == 0
    assert rows(bot.services)["indicator_values"] == before["indicator_values"]
    assert not any(_secret_in(all_text(m), typed=text) for _, m in bot.slack.all_messages())


def test_the_commit_form_offers_a_restricted_indicator_only_in_its_channel(bot):
    _indicators(bot)

    def offered(channel: str) -> list[str]:
        bot.slack.clear()
        bot.driver.command("/commit", "", user="U0MARIA", channel=channel)
        opened = wait_for(lambda: bot.slack.calls_to("views.open"))[-1].params["view"]
        picker = [b for b in opened["blocks"] if b.get("block_id") == "indicator"]
        return [o["value"] for b in picker for o in b["element"]["options"]]

    assert offered(CHANNEL) == ["naloxone"]
    assert offered("D0MARIADM") == ["naloxone"]
    assert sorted(offered(WARD)) == ["jail-releases", "naloxone"]

    form = _new_form(indicator={"selected_option": {"value": "jail-releases"}})
    refused = bot.driver.submit_view("new_commitment", form, user="U0MARIA").json()
    assert "I don't know the indicator #jail-releases" in refused["errors"]["indicator"]
    assert not _secret_in(refused["errors"]["indicator"].replace("#jail-releases", ""))
    assert rows(bot.services)["commitments"] == 0


def test_in_its_own_channel_the_restricted_indicator_answers_as_any_other(bot):
    _indicators(bot)
    # an unknown place is answered as for any indicator: the place it has, said plainly
    answer = _ask(bot, "/indicator", "reentry in Narnia", WARD)
    assert "showing Eastside, the only place it has" in answer
    assert "*22* · Oct 2026" in answer
    assert SECRET_NAME in _ask(bot, "/indicator", "list", WARD)
    made = make(bot, "Count releases by Dec 4 #jail", channel=WARD)  # the prefix works here
    with bot.services.sessions() as session:
        linked = session.get(Indicator, made.indicator_id)
        assert linked is not None and linked.slug == "jail-releases"
    # the confirmation, by its ts: the chart of the first answer may be shared after it
    (confirmation,) = [m for m in bot.slack.messages(WARD) if m["ts"] == made.message_ts]
    assert "#jail-releases" in all_text(confirmation)


# --- one commitment naming 160 people ----------------------------------------------------------------


def _mentions(count: int) -> str:
    return " ".join(f"<@U0P{n:03}>" for n in range(count))


@pytest.mark.parametrize("count", [11, 160])
def test_more_than_ten_owners_are_refused_before_slack_is_asked_about_anyone(bot, count):
    text = f"{_mentions(count)} Call every shelter by Friday"
    seen = _ask(bot, "/commit", text)
    assert f"at most 10 owners, and this names {count}" in seen
    assert "Nothing was saved" in seen
    assert rows(bot.services) == NOTHING
    assert said(bot) == []  # not one users.info, not one message


def test_ten_owners_are_still_a_commitment(bot):
    for n in range(10):
        bot.slack.add_user(f"U0P{n:03}", name=f"partner{n}", tz="America/New_York")
    made = make(bot, f"{_mentions(10)} Call every shelter by Friday")
    assert len(made.owner_ids) == 10
    assert len(bot.slack.calls_to("users.info")) == 11  # the ten, and who asked


def test_a_commitment_linked_in_its_channel_shows_no_tag_elsewhere(bot):
    _indicators(bot)
    make(bot, "Count releases by Dec 4 #jail", channel=WARD)
    listed = _ask(bot, "/commit", "list all")
    assert "Count releases" in listed and not _secret_in(listed)
    bot.driver.event({"type": "app_home_opened", "user": "U0MARIA", "tab": "home"})
    home = wait_for(lambda: bot.slack.calls_to("views.publish"))[-1].params["view"]
    assert "Count releases" in all_text(home) and not _secret_in(all_text(home))
