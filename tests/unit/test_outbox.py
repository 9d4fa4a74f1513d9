"""The outbox against the Slack stand-in, on SQLite and PostgreSQL: what arrives, and how often."""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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


# --- nothing stale is sent ---------------------------------------------------------------------


def stored_commitment(services: Services, **changes: Any) -> int:
    """Commitment #1 of Maria, due Wed Nov 25 (5 PM New York), open; `changes` applied."""
    from storage.models import Commitment, CommitmentOwner
    from storage.repositories import ensure_team

    with services.sessions.begin() as session:
        ensure_team(session, TEAM_ID, time_zone="America/New_York", now=NOW)
        commitment = Commitment(
            team_id=TEAM_ID,
            text="Send the naloxone report",
            due_at=datetime(2026, 11, 25, 22, 0, tzinfo=UTC),
            time_zone="America/New_York",
            created_at=NOW,
            creator_id="U0MARIA",
            owners=[CommitmentOwner(user_id="U0MARIA", team_id=TEAM_ID)],
        )
        session.add(commitment)
        session.flush()
        for name, value in changes.items():
            setattr(commitment, name, value)
        return commitment.id


def change_commitment(services: Services, commitment_id: int, **changes: Any) -> None:
    from storage.models import Commitment

    with services.sessions.begin() as session:
        commitment = session.get(Commitment, commitment_id)
        assert commitment is not None
        for name, value in changes.items():
            setattr(commitment, name, value)


def queue_nudge(services: Services, commitment_id: int, key: str = "nudge:1") -> None:
    from storage.models import Commitment

    with services.sessions.begin() as session:
        commitment = session.get(Commitment, commitment_id)
        assert commitment is not None
        assert outbox.enqueue(
            session,
            team_id=TEAM_ID,
            key=key,
            kind="nudge",
            channel="U0MARIA",
            payload={"text": "#1 is due tomorrow"},
            now=NOW,
            holds=outbox.holds_commitment(commitment),
        )


def test_a_message_held_back_by_a_429_is_dropped_once_its_commitment_is_done(
    services: Services, fake_slack: FakeSlack
):
    number = stored_commitment(services)
    queue_nudge(services, number)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    assert deliver(services).retrying == 1
    change_commitment(services, number, status="done", closed_at=NOW)

    report = deliver(services, NOW + timedelta(minutes=5))
    again = deliver(services, NOW + timedelta(hours=2))

    assert (report.sent, report.dropped, report.retrying, report.failed) == (0, 1, 0, 0)
    assert "1 dropped as no longer true (see /commstat settings)" in report.summary()
    assert (again.sent, again.dropped) == (0, 0)
    assert fake_slack.messages("U0MARIA") == []
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # the refused try only
    dropped = row(services, "nudge:1")
    assert dropped.status == OutboxStatus.DROPPED
    assert dropped.attempts == 2 and dropped.claimed_until is None
    assert dropped.not_before == NOW + timedelta(minutes=5)
    assert dropped.last_error is not None
    assert dropped.last_error.startswith(f"no longer true, not sent: #{number} was marked done")
    assert "(it had been held back: " in dropped.last_error and "slow down" in dropped.last_error
    assert outbox.error_code(dropped.last_error) is None
    with services.sessions() as session:
        assert [p.idempotency_key for p in outbox.problems(session, TEAM_ID)] == ["nudge:1"]
        assert outbox.status_of(session, "nudge:1") == ("dropped", dropped.last_error)
    # Its key stays taken: planning it again adds nothing.
    with services.sessions.begin() as session:
        assert not outbox.enqueue(
            session,
            team_id=TEAM_ID,
            key="nudge:1",
            kind="nudge",
            channel="U0MARIA",
            payload={"text": "again"},
            now=NOW,
        )


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({}, None),
        ({"status": "dropped"}, "#1 was dropped"),
        (
            {"due_at": datetime(2026, 11, 27, 22, 0, tzinfo=UTC), "due_version": 2},
            "#1 is now due Fri, Nov 27, 2026",
        ),
        ({"snoozed_until": NOW + timedelta(days=2)}, "#1 was snoozed until Thu, Nov 26, 2026"),
        ({"snoozed_until": NOW - timedelta(minutes=1)}, None),  # a snooze that has ended
        ({"text": "Send the naloxone report to the state"}, None),  # words are not the facts
    ],
)
def test_what_a_nudge_was_planned_on_is_read_again_right_before_it_is_sent(
    services: Services, fake_slack: FakeSlack, changes: dict[str, Any], why: str | None
):
    number = stored_commitment(services)
    queue_nudge(services, number)
    change_commitment(services, number, **changes)

    report = deliver(services)

    if why is None:
        assert (report.sent, report.dropped) == (1, 0)
        assert [m["text"] for m in fake_slack.messages("U0MARIA")] == ["#1 is due tomorrow"]
    else:
        assert (report.sent, report.dropped) == (0, 1)
        assert fake_slack.calls_to("chat.postMessage") == []
        last_error = row(services, "nudge:1").last_error
        assert last_error is not None and why in last_error


def test_other_owners_or_a_deleted_commitment_drop_the_nudge(
    services: Services, fake_slack: FakeSlack
):
    from storage.models import Commitment, CommitmentOwner

    first, second = stored_commitment(services), stored_commitment(services)
    queue_nudge(services, first, "nudge:a")
    queue_nudge(services, second, "nudge:b")
    with services.sessions.begin() as session:
        commitment = session.get(Commitment, first)
        assert commitment is not None
        commitment.owners.append(CommitmentOwner(user_id="U0LEE", team_id=TEAM_ID, position=1))
        session.delete(session.get(Commitment, second))

    assert deliver(services).dropped == 2
    assert f"the owners of #{first} changed" in str(row(services, "nudge:a").last_error)
    assert f"#{second} no longer exists" in str(row(services, "nudge:b").last_error)
    assert fake_slack.calls_to("chat.postMessage") == []


def test_a_digest_and_its_chart_are_dropped_once_the_meeting_started(
    services: Services, fake_slack: FakeSlack
):
    meeting = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    holds = outbox.holds_meeting(meeting)
    assert holds == {
        "meeting": {"starts_at": "2026-11-25T15:00:00+00:00", "zone": "America/New_York"}
    }
    image = outbox.upload_payload(PNG, filename="c.png", title="Key indicators", alt_text="chart")
    queue(services, "d:1-message", "C0MEET", {"text": "Digest"}, kind="digest", holds=holds)
    queue(services, "d:2-chart", "C0MEET", image, kind="digest_chart", holds=holds)
    queue(services, "other", "C0MEET", {"text": "not about the meeting"})

    report = deliver(services, meeting)  # the very minute it starts is too late

    assert (report.sent, report.dropped) == (1, 2)
    assert [m["text"] for m in fake_slack.messages("C0MEET")] == ["not about the meeting"]
    assert fake_slack.calls_to("files.getUploadURLExternal") == []
    for key in ("d:1-message", "d:2-chart"):
        assert row(services, key).last_error == (
            "no longer true, not sent: its meeting started at Wed, Nov 25, 2026 at 10:00 AM "
            "New York time"
        )
    # A minute before it, it is sent.
    queue(services, "d2", "C0MEET", {"text": "Digest 2"}, kind="digest", holds=holds)
    assert deliver(services, meeting - timedelta(minutes=1)).sent == 1


def test_a_steward_nudge_is_dropped_once_that_period_or_a_later_one_arrived(
    services: Services, fake_slack: FakeSlack
):
    from datetime import date

    from storage.models import Indicator, IndicatorValue
    from storage.repositories import ensure_team

    with services.sessions.begin() as session:
        ensure_team(session, TEAM_ID, time_zone="America/New_York", now=NOW)
        indicators = []
        for slug in ("a", "b", "c", "d"):
            indicator = Indicator(
                team_id=TEAM_ID,
                slug=f"deaths-{slug}",
                name=f"Deaths {slug}",
                period_kind="monthly",
                steward_id="U0LEE",
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(indicator)
            indicators.append(indicator)
        session.flush()
        for indicator in indicators:
            queue_holds = outbox.holds_no_value(indicator, period="2026-07", start=date(2026, 7, 1))
            outbox.enqueue(
                session,
                team_id=TEAM_ID,
                key=f"steward:{indicator.slug}",
                kind="steward_nudge",
                channel="U0LEE",
                payload={"text": f"No value yet for {indicator.name}"},
                now=NOW,
                holds=queue_holds,
            )
        a, b, c, d = indicators
        for indicator, period in ((a, "2026-07"), (b, "2026-08"), (d, "2026-06")):
            session.add(
                IndicatorValue(
                    team_id=TEAM_ID,
                    indicator_id=indicator.id,
                    period=period,
                    period_start=date.fromisoformat(f"{period}-01"),
                    value=None,  # suppressed, but published
                    updated_at=NOW,
                )
            )
        c.steward_id = "U0SAM"

    report = deliver(services)

    assert (report.sent, report.dropped) == (1, 3)
    assert [m["text"] for m in fake_slack.messages("U0LEE")] == ["No value yet for Deaths d"]
    assert "a value for deaths-a 2026-07 arrived" in str(
        row(services, "steward:deaths-a").last_error
    )
    assert "a value for deaths-b 2026-08 arrived" in str(
        row(services, "steward:deaths-b").last_error
    )
    assert "deaths-c has another steward now" in str(row(services, "steward:deaths-c").last_error)


def test_an_earlier_copy_found_in_slack_is_sent_even_if_no_longer_true(
    services: Services, fake_slack: FakeSlack
):
    """What Slack already shows is recorded as sent, not dropped: the row tells the truth."""
    clock = RealClock()
    number = stored_commitment(services)
    queue_nudge(services, number)
    fake_slack.delay("chat.postMessage", 1.0)  # answers after the client gave up (0.4 s)
    assert deliver(services, timeout=0.4, lease_seconds=10, real_clock=clock).retrying == 1
    deadline = time.monotonic() + 5
    while not fake_slack.messages("U0MARIA") and time.monotonic() < deadline:
        time.sleep(0.05)
    fake_slack.delay("chat.postMessage", 0)
    change_commitment(services, number, status="done", closed_at=NOW)

    clock.skew = timedelta(seconds=2)
    report = deliver(services, NOW + timedelta(hours=1), timeout=0.4, real_clock=clock)

    assert (report.sent, report.found, report.dropped) == (1, 1, 0)
    assert row(services, "nudge:1").status == OutboxStatus.SENT
    assert len(fake_slack.messages("U0MARIA")) == 1


def test_holds_are_checked_at_enqueue_and_malformed_ones_fail_the_row(
    services: Services, fake_slack: FakeSlack
):
    with pytest.raises(ValueError, match="unknown outbox holds"):
        queue(services, "x", "U0MARIA", {"text": "hi"}, holds={"weather": {"sunny": True}})
    # Written by something else than enqueue: never sent, listed as a bad payload.
    queue(services, "bad", "U0MARIA", {"text": "hi", outbox.HOLDS: {"commitment": {"id": "x"}}})
    queue(services, "odd", "U0MARIA", {"text": "hi", outbox.HOLDS: ["commitment"]})

    report = deliver(services)

    assert (report.sent, report.failed) == (0, 2)
    assert str(row(services, "bad").last_error).startswith("bad_payload: ")
    assert fake_slack.calls_to("chat.postMessage") == []
