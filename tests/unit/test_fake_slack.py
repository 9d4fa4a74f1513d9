"""The local Slack stand-in, driven by the real slack_sdk clients."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.sandbox.fake_slack import FakeSlack

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x02\x80\x00\x00\x01\xe0" + bytes(range(200))


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server
        assert server.errors == []  # no bug inside the stand-in itself


def make_client(fake: FakeSlack, *, token: str | None = None, retries: bool = True) -> WebClient:
    handlers = (
        [
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(),
        ]
        if retries
        else []
    )
    return WebClient(
        token=token or fake.token, base_url=fake.api_url, retry_handlers=handlers, timeout=5
    )


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return make_client(fake)


def test_api_url_is_a_base_url_for_webclient(fake: FakeSlack, client: WebClient) -> None:
    assert fake.api_url.startswith("http://127.0.0.1:")
    assert fake.api_url.endswith("/api/")
    answer = client.auth_test()
    assert answer["team_id"] == "T0COALITION"
    assert answer["user_id"] == "U0BOT"
    assert answer["bot_id"]
    call = fake.calls_to("auth.test")[0]
    assert call.header("authorization") == f"Bearer {fake.token}"
    assert call.status == 200


def test_post_then_update_shows_updated_text(fake: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(
        channel="C0TEAM",
        text="draft",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*draft*"}}],
    )
    second = client.chat_postMessage(channel="C0TEAM", text="another")
    assert first["channel"] == "C0TEAM"
    assert first["message"]["text"] == "draft"
    assert float(second["ts"]) > float(first["ts"])

    # JSON body from the SDK: blocks arrive as a list
    assert fake.calls_to("chat.postMessage")[0].params["blocks"][0]["type"] == "section"

    updated = client.chat_update(channel="C0TEAM", ts=first["ts"], text="final")
    assert updated["ts"] == first["ts"]
    messages = fake.messages("C0TEAM")
    assert [m["text"] for m in messages] == ["final", "another"]
    assert messages[0]["blocks"][0]["text"]["text"] == "*draft*"  # left out → kept
    assert "edited" in messages[0]

    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel="C0TEAM", ts="1.000000", text="x")
    assert missing.value.response["error"] == "message_not_found"

    link = client.chat_getPermalink(channel="C0TEAM", message_ts=first["ts"])
    assert link["permalink"].endswith("/archives/C0TEAM/p" + first["ts"].replace(".", ""))
    client.reactions_add(channel="C0TEAM", timestamp=first["ts"], name="white_check_mark")
    assert fake.message("C0TEAM", first["ts"])["reactions"][0]["name"] == "white_check_mark"
    client.chat_delete(channel="C0TEAM", ts=second["ts"])
    assert [m["text"] for m in fake.messages("C0TEAM")] == ["final"]

    eph = client.chat_postEphemeral(channel="C0TEAM", user="U1", text="only you")
    assert eph["message_ts"]
    assert fake.ephemeral_messages("C0TEAM", "U1")[0]["text"] == "only you"


def test_files_upload_v2_three_steps(fake: FakeSlack, client: WebClient) -> None:
    answer = client.files_upload_v2(
        channel="C0TEAM",
        content=PNG,
        filename="chart.png",
        title="Weekly chart",
        alt_txt="bar chart of tasks done",
        initial_comment="This week",
    )
    assert [c.method for c in fake.calls] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    get_url, upload, complete = fake.calls
    assert get_url.params["filename"] == "chart.png"
    assert int(get_url.params["length"]) == len(PNG)
    assert get_url.params["alt_txt"] == "bar chart of tasks done"
    assert get_url.response["upload_url"].startswith(fake.base_url + "/upload/")
    assert upload.body == PNG
    assert upload.response == f"OK - {len(PNG)}"
    # form-encoded: the files list arrived as a JSON string and is decoded
    assert complete.params["files"] == [{"id": answer["file"]["id"], "title": "Weekly chart"}]
    assert complete.params["channel_id"] == "C0TEAM"

    file_id = answer["file"]["id"]
    assert file_id.startswith("F")
    assert answer["files"][0]["title"] == "Weekly chart"
    assert answer["file"]["permalink"]
    assert fake.uploads[file_id] == PNG

    shared = fake.messages("C0TEAM")[-1]
    assert shared["text"] == "This week"
    assert shared["files"][0]["id"] == file_id
    info = client.files_info(file=file_id)["file"]
    assert info["shares"]["public"]["C0TEAM"][0]["ts"] == shared["ts"]
    assert (info["original_w"], info["original_h"]) == (640, 480)


def test_complete_upload_without_bytes_fails(fake: FakeSlack, client: WebClient) -> None:
    started = client.files_getUploadURLExternal(filename="a.png", length=10)
    with pytest.raises(SlackApiError) as err:
        client.files_completeUploadExternal(
            files=[{"id": started["file_id"], "title": "a"}], channel_id="C0TEAM"
        )
    assert err.value.response["error"] == "file_not_found"
    assert fake.messages("C0TEAM") == []


def test_429_is_retried_after_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    answer = client.chat_postMessage(channel="C0TEAM", text="hello")
    assert answer["ok"]
    calls = fake.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.95
    assert len(fake.messages("C0TEAM")) == 1


def test_server_errors_are_retried(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("users.info", status=500)
    fake.add_user("U1", name="ana", real_name="Ana Ruiz")
    assert client.users_info(user="U1")["user"]["real_name"] == "Ana Ruiz"
    assert [c.status for c in fake.calls_to("users.info")] == [500, 200]


def test_dropped_connection_is_retried(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("auth.test", status=0)
    assert client.auth_test()["ok"]
    assert [c.status for c in fake.calls_to("auth.test")] == [0, 200]


def test_exhausted_retries_raise(fake: FakeSlack) -> None:
    fake.fail_next("auth.test", status=503, times=3)
    quick = make_client(fake, retries=False)
    with pytest.raises(SlackApiError) as err:
        quick.auth_test()
    assert err.value.response.status_code == 503
    assert err.value.response["error"] == "service_unavailable"


def test_auth_is_checked(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as wrong:
        make_client(fake, token="xoxb-wrong").auth_test()
    assert wrong.value.response["error"] == "invalid_auth"
    assert wrong.value.response.status_code == 200

    anonymous = WebClient(base_url=fake.api_url)
    with pytest.raises(SlackApiError) as missing:
        anonymous.chat_postMessage(channel="C0TEAM", text="x")
    assert missing.value.response["error"] == "not_authed"
    assert fake.messages("C0TEAM") == []


def test_unknown_method(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.api_call("nope.nothing")
    assert err.value.response["error"] == "unknown_method"


def test_users_info_known_and_unknown(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U1", name="ana", real_name="Ana Ruiz", tz="America/Los_Angeles")
    user = client.users_info(user="U1")["user"]
    assert user["id"] == "U1"
    assert user["name"] == "ana"
    assert user["profile"]["display_name"] == "ana"
    assert user["tz"] == "America/Los_Angeles"
    expected = datetime.now(ZoneInfo("America/Los_Angeles")).utcoffset()
    assert expected is not None
    assert user["tz_offset"] == int(expected.total_seconds())
    assert user["tz_label"] in ("Pacific Standard Time", "Pacific Daylight Time")

    with pytest.raises(SlackApiError) as err:
        client.users_info(user="U404")
    assert err.value.response["error"] == "user_not_found"


def test_conversations_and_channel_errors(fake: FakeSlack, client: WebClient) -> None:
    fake.add_channel("C0OLD", name="old", is_archived=True)
    fake.add_channel("C0PRIV", name="private-ish", members=["U1"])
    with pytest.raises(SlackApiError) as archived:
        client.chat_postMessage(channel="C0OLD", text="x")
    assert archived.value.response["error"] == "is_archived"
    with pytest.raises(SlackApiError) as outside:
        client.chat_postMessage(channel="C0PRIV", text="x")
    assert outside.value.response["error"] == "not_in_channel"
    client.conversations_join(channel="C0PRIV")
    client.chat_postMessage(channel="C0PRIV", text="now in")
    assert client.conversations_info(channel="C0PRIV")["channel"]["is_member"] is True

    fake.set_error("chat.postMessage", "channel_not_found", channel="C0GONE")
    with pytest.raises(SlackApiError) as gone:
        client.chat_postMessage(channel="C0GONE", text="x")
    assert gone.value.response["error"] == "channel_not_found"
    client.chat_postMessage(channel="C0OTHER", text="fine")

    dm1 = client.conversations_open(users="U1")["channel"]["id"]
    dm2 = client.conversations_open(users=["U1"])["channel"]["id"]
    assert dm1 == dm2
    assert dm1.startswith("D")
    assert client.conversations_open(users="U2")["channel"]["id"] != dm1
    assert client.chat_postMessage(channel="U1", text="hi")["channel"] == dm1
    assert fake.messages(dm1)[0]["text"] == "hi"


def test_views_open_publish_update(fake: FakeSlack, client: WebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "new_task",
        "title": {"type": "plain_text", "text": "New task"},
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "hi"}}],
    }
    opened = client.views_open(trigger_id=fake.new_trigger_id(), view=modal)["view"]
    assert opened["id"].startswith("V")
    updated = client.views_update(
        view_id=opened["id"], view={**modal, "title": {"type": "plain_text", "text": "Edited"}}
    )
    assert updated["view"]["title"]["text"] == "Edited"
    home = {"type": "home", "blocks": []}
    client.views_publish(user_id="U1", view=home)
    assert [r["action"] for r in fake.views] == ["open", "update", "publish"]
    assert fake.home_view("U1") is not None

    with pytest.raises(SlackApiError) as err:
        client.views_open(view=modal, trigger_id="")
    assert err.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as missing:
        client.views_update(view_id="V404", view=modal)
    assert missing.value.response["error"] == "not_found"


def test_response_url_records_webhook_and_bolt_respond(fake: FakeSlack) -> None:
    url = fake.response_url("k", channel="C0TEAM")
    sent = WebhookClient(url).send(text="Saved your update")
    assert sent.status_code == 200
    assert sent.body == "ok"
    Respond(response_url=url)(text="Visible to all", response_type="in_channel")

    calls = fake.calls_to("response_url")
    assert [c.params["text"] for c in calls] == ["Saved your update", "Visible to all"]
    assert calls[0].header("content-type").startswith("application/json")
    assert fake.responses("k")[1] == {"text": "Visible to all", "response_type": "in_channel"}
    assert [m["text"] for m in fake.messages("C0TEAM")] == ["Visible to all"]
    assert fake.ephemeral_messages("C0TEAM")[0]["text"] == "Saved your update"

    for _ in range(3):
        assert WebhookClient(url).send(text="again").status_code == 200
    assert WebhookClient(url).send(text="sixth").status_code == 404  # 5 uses at most


def _statuses_for(seed: int) -> list[int]:
    with FakeSlack() as server:
        server.fail_randomly(0.4, seed=seed, statuses=(500, 503))
        plain = make_client(server, retries=False)
        for i in range(30):
            with contextlib.suppress(SlackApiError):
                plain.chat_postMessage(channel="C0TEAM", text=str(i))
        assert server.errors == []
        return [c.status for c in server.calls]


def test_fail_randomly_is_deterministic_for_a_seed() -> None:
    first = _statuses_for(7)
    assert first == _statuses_for(7)
    assert set(first) == {200, 500, 503}
    assert first != _statuses_for(8)


def test_raw_form_and_json_bodies(fake: FakeSlack) -> None:
    form = urllib.request.Request(
        fake.api_url + "chat.postMessage",
        data=f"token={fake.token}&channel=C0TEAM&text=form&blocks=%5B%5D".encode(),
        method="POST",
    )
    with urllib.request.urlopen(form, timeout=5) as resp:
        assert json.loads(resp.read())["ok"] is True
    assert fake.calls_to("chat.postMessage")[0].params["blocks"] == []

    too_many = [{"type": "divider"}] * 51
    raw = urllib.request.Request(
        fake.api_url + "chat.postMessage",
        data=json.dumps({"channel": "C0TEAM", "text": "x", "blocks": too_many}).encode(),
        headers={"Authorization": f"Bearer {fake.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(raw, timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["error"] == "invalid_blocks"
    assert [m["text"] for m in fake.messages("C0TEAM")] == ["form"]


def test_slow_answers_time_the_client_out_and_stop_stays_prompt() -> None:
    server = FakeSlack().start()
    server.delay("auth.test", 30)
    impatient = WebClient(token=server.token, base_url=server.api_url, timeout=1, retry_handlers=[])
    with pytest.raises((TimeoutError, OSError)):
        impatient.auth_test()
    server.delay("auth.test", 0)
    assert impatient.auth_test()["ok"]
    assert [c.status for c in server.calls_to("auth.test")] == [0, 200]  # first still asleep
    started = time.monotonic()
    server.stop()  # wakes the handler still sleeping on the first call
    assert time.monotonic() - started < 2
    assert server.errors == []
