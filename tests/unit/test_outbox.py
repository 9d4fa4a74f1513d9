"""The outbox against the Slack stand-in, on SQLite and PostgreSQL: what arrives, and how often."""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.bootstrap import Services, bootstrap
from bot.sandbox.fake_slack import FakeSlack
from bot.slack import outbox
from storage.models import OutboxMessage, OutboxStatus
from tests.conftest import TEAM_ID, make_settings

NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
# A real 1×1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/eL9GtQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def services(db_url: str, fake_slack: FakeSlack) -> Iterator[Services]:
    services = bootstrap(make_settings(db_url, fake_slack.api_url))
    yield services
    services.engine.dispose()


class RealClock:
    """Wall-clock time that a test can push forward, so leases expire without waiting."""

    def __init__(self) -> None:
        self.skew = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.skew


def queue(services: Services, key: str, channel: str, payload: dict[str, Any], **kw: Any) -> bool:
    with services.sessions.begin() as session:
        return outbox.enqueue(
            session,
            team_id=TEAM_ID,
            key=key,
            kind=kw.pop("kind", "nudge"),
            channel=channel,
            payload=payload,
            now=kw.pop("now", NOW),
            **kw,
        )


def row(services: Services, key: str) -> OutboxMessage:
    with services.sessions() as session:
        found = session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
        ).one()
        session.expunge(found)
        return found


def keys_in(messages: list[dict[str, Any]]) -> list[str]:
    return [m["metadata"]["event_payload"]["key"] for m in messages if "metadata" in m]


def deliver(services: Services, now: datetime = NOW, **kw: Any) -> outbox.DeliveryReport:
    kw.setdefault("per_channel_interval", 0.0)
    return outbox.deliver(services, now=now, **kw)


def test_a_key_queued_twice_is_one_message_sent_once(services: Services, fake_slack: FakeSlack):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Due tomorrow*: report"}}]
    payload = {"text": "Due tomorrow: report", "blocks": blocks}
    assert queue(services, "nudge:1:U0MARIA:0:2026-11-24", "U0MARIA", payload) is True
    assert queue(services, "nudge:1:U0MARIA:0:2026-11-24", "U0MARIA", payload) is False
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1

    report = deliver(services)
    again = deliver(services, NOW + timedelta(hours=1))

    dms = fake_slack.messages("U0MARIA")
    assert [m["text"] for m in dms] == ["Due tomorrow: report"]
    assert dms[0]["blocks"] == blocks
    assert keys_in(dms) == ["nudge:1:U0MARIA:0:2026-11-24"]
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    assert again.sent == 0
    sent = row(services, "nudge:1:U0MARIA:0:2026-11-24")
    assert sent.status == OutboxStatus.SENT
    assert sent.result_ts == dms[0]["ts"]
    assert sent.sent_at == NOW
    assert "sent 1 message" in report.summary()


def test_nothing_is_sent_before_its_time(services: Services, fake_slack: FakeSlack):
    queue(services, "later", "C0MEET", {"text": "later"}, not_before=NOW + timedelta(hours=2))
    assert deliver(services).sent == 0
    assert fake_slack.messages("C0MEET") == []
    assert deliver(services, NOW + timedelta(hours=2)).sent == 1


def test_an_image_is_one_three_step_upload_to_the_channel(
    services: Services, fake_slack: FakeSlack
):
    payload = {
        "file": {
            "png_b64": base64.b64encode(PNG).decode(),
            "filename": "indicators.png",
            "title": "Key indicators",
            "alt_text": "Overdose deaths fell 4% since October",
            "initial_comment": None,
        }
    }
    queue(services, "digest:7:2026-11-26:2-chart", "C0MEET", payload, kind="digest_chart")

    assert deliver(services).sent == 1

    assert len(fake_slack.calls_to("files.getUploadURLExternal")) == 1
    assert len(fake_slack.calls_to("upload")) == 1
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 1
    (file,) = fake_slack.files.values()
    assert fake_slack.uploads[file["id"]] == PNG
    assert file["title"] == "Key indicators"
    assert file["alt_txt"] == "Overdose deaths fell 4% since October"
    assert file["channels"] == ["C0MEET"]
    assert file["name"].startswith("indicators-") and file["name"].endswith(".png")
    assert len(fake_slack.messages("C0MEET")) == 1


def test_a_digest_text_arrives_before_its_chart_even_when_slack_says_wait(
    services: Services, fake_slack: FakeSlack
):
    chart = {"file": {"png_b64": base64.b64encode(PNG).decode(), "filename": "c.png"}}
    queue(services, "digest:7:2026-11-26:1-message", "C0MEET", {"text": "Digest"})
    queue(services, "digest:7:2026-11-26:2-chart", "C0MEET", chart)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=5)

    first = deliver(services)
    assert (first.sent, first.retrying) == (0, 1)
    assert fake_slack.calls_to("files.completeUploadExternal") == []  # the chart waited too

    assert deliver(services, NOW + timedelta(seconds=7)).sent == 2
    channel = fake_slack.messages("C0MEET")
    assert [m["text"] for m in channel] == ["Digest", ""]
    assert "files" in channel[1]


def test_rows_go_out_in_not_before_then_queue_order(services: Services, fake_slack: FakeSlack):
    queue(services, "b", "C0MEET", {"text": "second"}, not_before=NOW - timedelta(minutes=1))
    queue(services, "a", "C0MEET", {"text": "first"}, not_before=NOW - timedelta(minutes=5))
    queue(services, "c", "C0MEET", {"text": "third"}, not_before=NOW - timedelta(minutes=1))
    deliver(services)
    assert [m["text"] for m in fake_slack.messages("C0MEET")] == ["first", "second", "third"]


def test_a_permanent_error_fails_at_once_and_is_listed_for_admins(
    services: Services, fake_slack: FakeSlack
):
    fake_slack.set_error("chat.postMessage", "channel_not_found", channel="C0GONE")
    queue(services, "digest:gone", "C0GONE", {"text": "Digest"}, kind="digest")
    queue(services, "digest:fine", "C0MEET", {"text": "Digest"}, kind="digest")

    report = deliver(services)
    later = deliver(services, NOW + timedelta(days=3))

    assert (report.sent, report.failed, report.retrying) == (1, 1, 0)
    assert later.sent == later.failed == 0
    tries = [c for c in fake_slack.calls_to("chat.postMessage") if c.params["channel"] == "C0GONE"]
    assert len(tries) == 1  # never retried
    failed = row(services, "digest:gone")
    assert failed.status == OutboxStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.startswith("channel_not_found: ")
    assert "Invite @CommStat" in failed.last_error
    assert outbox.error_code(failed.last_error) == "channel_not_found"
    with services.sessions() as session:
        listed = outbox.problems(session, TEAM_ID)
        assert [p.idempotency_key for p in listed] == ["digest:gone"]
        assert outbox.problems(session, "T0OTHER") == []


def test_a_workspace_without_a_token_fails_without_calling_slack(
    services: Services, fake_slack: FakeSlack
):
    services.token_for = lambda team_id: None
    queue(services, "n", "U0LEE", {"text": "hi"})
    assert deliver(services).failed == 1
    assert fake_slack.calls_to("chat.postMessage") == []
    last_error = row(services, "n").last_error
    assert last_error is not None and last_error.startswith("not_installed: ")


def test_rate_limited_waits_for_retry_after_without_sleeping_in_the_pass(
    services: Services, fake_slack: FakeSlack
):
    queue(services, "n1", "U0MARIA", {"text": "one"})
    queue(services, "n2", "U0SAM", {"text": "two"})
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=30)

    started = time.monotonic()
    first = deliver(services)
    assert time.monotonic() - started < 5
    # The workspace pauses for the rest of the pass: n2 was not even tried.
    assert (first.sent, first.retrying) == (0, 1)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    waiting = row(services, "n1")
    assert NOW + timedelta(seconds=30) <= waiting.not_before <= NOW + timedelta(seconds=31)
    assert waiting.last_error is not None and "slow down" in waiting.last_error

    assert deliver(services, NOW + timedelta(seconds=10)).sent == 1  # n2 only
    assert deliver(services, NOW + timedelta(seconds=32)).sent == 1  # n1, now
    assert [m["text"] for m in fake_slack.messages("U0MARIA")] == ["one"]
    assert [m["text"] for m in fake_slack.messages("U0SAM")] == ["two"]
    # Slack answered the 429 itself, so nothing was looked up before retrying.
    assert fake_slack.calls_to("conversations.history") == []


def test_a_server_error_backs_off_and_then_sends_once(services: Services, fake_slack: FakeSlack):
    clock = RealClock()
    queue(services, "n", "U0KIM", {"text": "Due today: grant report"})
    fake_slack.fail_next("chat.postMessage", status=500)

    first = deliver(services, real_clock=clock)
    waiting = row(services, "n")
    assert (first.sent, first.retrying) == (0, 1)
    assert waiting.attempts == 1
    assert NOW + timedelta(seconds=47) <= waiting.not_before <= NOW + timedelta(seconds=73)
    assert waiting.last_error is not None and "internal_error" in waiting.last_error

    clock.skew = timedelta(minutes=5)  # Slack may still have been working on it: let it land
    assert deliver(services, NOW + timedelta(seconds=30), real_clock=clock).sent == 0
    assert deliver(services, NOW + timedelta(minutes=2), real_clock=clock).sent == 1
    assert [m["text"] for m in fake_slack.messages("U0KIM")] == ["Due today: grant report"]
    # A 5xx may hide a success, so the retry looked in the DM first.
    assert len(fake_slack.calls_to("conversations.history")) == 1


def test_a_timeout_after_slack_took_the_message_does_not_send_it_twice(
    services: Services, fake_slack: FakeSlack
):
    clock = RealClock()
    queue(services, "digest:9:1-message", "C0MEET", {"text": "Digest for Thursday"})
    fake_slack.delay("chat.postMessage", 1.0)  # answers after the client gave up (0.4 s)

    first = deliver(services, timeout=0.4, lease_seconds=10, real_clock=clock)
    assert (first.sent, first.retrying) == (0, 1)
    deadline = time.monotonic() + 5
    while not fake_slack.messages("C0MEET") and time.monotonic() < deadline:
        time.sleep(0.05)
    fake_slack.delay("chat.postMessage", 0)
    # Rests 3 × timeout in real time, however far business time moves.
    assert deliver(services, NOW + timedelta(hours=3), timeout=0.4, lease_seconds=10).sent == 0

    clock.skew = timedelta(seconds=2)
    second = deliver(services, NOW + timedelta(hours=3), timeout=0.4, real_clock=clock)

    assert (second.sent, second.found) == (1, 1)
    assert [m["text"] for m in fake_slack.messages("C0MEET")] == ["Digest for Thursday"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert row(services, "digest:9:1-message").result_ts == fake_slack.messages("C0MEET")[0]["ts"]


def test_transient_errors_are_retried_for_a_day_then_given_up(
    services: Services, fake_slack: FakeSlack
):
    clock = RealClock()
    queue(services, "n", "U0LEE", {"text": "hi"})
    fake_slack.fail_next("chat.postMessage", status=503, times=100)
    now = NOW
    for _ in range(11):  # 20 hours: still trying
        deliver(services, now, real_clock=clock)
        now += timedelta(hours=2)
        clock.skew += timedelta(minutes=10)
    assert row(services, "n").status == OutboxStatus.PENDING
    tries = len(fake_slack.calls_to("chat.postMessage"))
    assert tries >= 8  # backoff is capped at an hour, so a pass every 2 hours tries each time
    for _ in range(4):  # past 24 hours: a day-old nudge has lost its point
        deliver(services, now, real_clock=clock)
        now += timedelta(hours=2)
        clock.skew += timedelta(minutes=10)

    failed = row(services, "n")
    assert failed.status == OutboxStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.startswith(f"gave up after {failed.attempts} tries over 24 hours")
    assert outbox.error_code(failed.last_error) is None  # no code that Slack refused it with
    assert len(fake_slack.calls_to("chat.postMessage")) == failed.attempts
    assert fake_slack.messages("U0LEE") == []


def test_one_channel_gets_at_most_one_message_per_interval(
    services: Services, fake_slack: FakeSlack
):
    for i in range(3):
        queue(services, f"m{i}", "C0MEET", {"text": f"m{i}"})
    queue(services, "other", "C0OTHER", {"text": "other"})
    deliver(services, per_channel_interval=0.3)
    at = [c.at for c in fake_slack.calls_to("chat.postMessage") if c.params["channel"] == "C0MEET"]
    assert len(at) == 3
    assert all(b - a >= 0.29 for a, b in itertools.pairwise(at))


def test_a_payload_without_text_or_file_is_refused_at_once(services: Services):
    with pytest.raises(ValueError, match="'text' or a 'file'"):
        queue(services, "bad", "C0MEET", {"blocks": []})


def test_delivering_some_keys_sends_only_those_once_and_leaves_the_rest_untouched(
    services: Services, fake_slack: FakeSlack
):
    for key, channel in [("now:1", "C0MEETING"), ("now:2", "C0MEETING"), ("other", "C0OTHER")]:
        queue(services, key, channel, {"text": f"message {key}"})
    report = deliver(services, keys=["now:1", "now:2", "never-queued"])
    assert report.sent == 2
    assert keys_in(fake_slack.messages("C0MEETING")) == ["now:1", "now:2"]  # in order
    assert fake_slack.messages("C0OTHER") == []
    other = row(services, "other")
    assert (other.status, other.attempts, other.claimed_until) == (OutboxStatus.PENDING, 0, None)
    assert deliver(services, keys=["now:1"]).sent == 0  # sent is sent
    assert deliver(services).sent == 1  # the rest, by the next full delivery
    assert keys_in(fake_slack.messages("C0OTHER")) == ["other"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 3


def test_an_upload_payload_is_what_deliver_uploads(services: Services, fake_slack: FakeSlack):
    payload = outbox.upload_payload(
        PNG, filename="commstat-key-indicators.png", title="Key indicators", alt_text="x " * 800
    )
    assert len(payload["file"]["alt_text"]) <= outbox.ALT_TEXT_LIMIT
    queue(services, "digest:1:2026-11-24:2-chart", "C0MEETING", payload, kind="digest_chart")
    assert deliver(services).sent == 1
    with services.sessions() as session:
        assert outbox.status_of(session, "digest:1:2026-11-24:2-chart") == ("sent", "")
        assert outbox.status_of(session, "never-queued") == ("", "")
    [upload] = [c for c in fake_slack.calls_to("files.completeUploadExternal") if c.ok]
    assert upload.params["files"][0]["title"] == "Key indicators"
    assert list(fake_slack.uploads.values()) == [PNG]
