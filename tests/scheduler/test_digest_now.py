"""`/commstat digest now` sends its own digest, once, and nothing else that waits in the outbox.

Signed requests in, as Slack sends them; what the channels and people receive is read from the
Slack stand-in.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from bot.followup.scheduler import run_pass
from bot.sandbox import bundled
from bot.slack import outbox
from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import ensure_team
from tests.conftest import TEAM_ID
from tests.helpers import all_text, wait_for

CHANNEL = "C0MEETING"
OTHER_TEAM, OTHER_CHANNEL = "T0ELSEWHERE", "C0ELSEWHERE"


def digests(bot, channel=CHANNEL):
    return [m for m in bot.slack.messages(channel) if "CommStat digest" in all_text(m)]


def charts_shared(bot):
    return [c for c in bot.slack.calls_to("files.completeUploadExternal") if c.ok]


def waiting_elsewhere(bot):
    """A message of another workspace and a DM of this one, both due: the scheduler's to send."""
    now = bot.clock()
    with bot.services.sessions.begin() as session:
        ensure_team(session, TEAM_ID, time_zone="America/New_York", now=now)
        ensure_team(session, OTHER_TEAM, time_zone="America/Chicago", now=now)
        for team, key, channel in [
            (OTHER_TEAM, "test:other-workspace", OTHER_CHANNEL),
            (TEAM_ID, "test:a-nudge", "U0LEE"),
        ]:
            outbox.enqueue(
                session,
                team_id=team,
                key=key,
                kind="nudge",
                channel=channel,
                payload={"text": f"waiting: {key}"},
                now=now - timedelta(minutes=5),
            )


def rows(bot):
    with bot.services.sessions() as session:
        found = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return {r.idempotency_key: (r.status, r.attempts) for r in found}


def test_digest_now_posts_this_channels_digest_once_and_leaves_other_messages_to_the_scheduler(
    bot,
):
    bundled.load_all(bot.services.sessions, team_id=TEAM_ID, now=bot.clock())  # so a chart
    waiting_elsewhere(bot)
    payload = bot.driver.command_payload("/commstat", "digest now", user="U0MARIA", channel=CHANNEL)
    assert bot.driver.send_form(payload).status == 200
    [digest] = wait_for(lambda: digests(bot))
    assert digest["blocks"][0]["text"]["text"].startswith("CommStat digest — ")
    wait_for(lambda: charts_shared(bot))
    assert bot.driver.send_form(payload, retry_num=1).status == 200  # Slack retries the command
    time.sleep(0.5)  # give the retry time to (not) post anything
    assert len(digests(bot)) == 1 and len(charts_shared(bot)) == 1

    # Nothing but the digest went out: not the other workspace's message, not Lee's DM.
    assert bot.slack.messages(OTHER_CHANNEL) == []
    assert all("waiting:" not in all_text(m) for _c, m in bot.slack.all_messages())
    state = rows(bot)
    assert state["test:other-workspace"] == (OutboxStatus.PENDING, 0)
    assert state["test:a-nudge"] == (OutboxStatus.PENDING, 0)
    mine = {k: v for k, v in state.items() if k.startswith("digest-now:")}
    assert sorted(k.rsplit(":", 1)[1] for k in mine) == ["1-message", "2-chart"]
    assert {status for status, _ in mine.values()} == {OutboxStatus.SENT}

    # The scheduler sends the rest; the digest is not posted again.
    report = run_pass(bot.services, now=bot.clock(), per_channel_interval=0)
    assert not report.errors, report.summary()
    sent = [all_text(m) for _c, m in bot.slack.all_messages() if "waiting:" in all_text(m)]
    assert sorted(sent) == ["waiting: test:a-nudge", "waiting: test:other-workspace"]
    assert len(bot.slack.messages(OTHER_CHANNEL)) == 1
    assert len(digests(bot)) == 1 and len(charts_shared(bot)) == 1
    assert {status for status, _ in rows(bot).values()} == {OutboxStatus.SENT}


def sections_of(digest):
    return [b["text"]["text"] for b in digest["blocks"] if b["type"] == "section"]


def test_digest_now_without_a_meeting_names_the_week_it_covers(bot):
    bot.driver.command("/commit", "Call the shelter by Dec 4", user="U0MARIA", channel=CHANNEL)
    wait_for(lambda: bot.slack.messages(CHANNEL))
    bot.driver.command("/commstat", "digest now", user="U0MARIA", channel=CHANNEL)
    [digest] = wait_for(lambda: digests(bot))
    done, _overdue, due, coming, new, moved, _late = sections_of(digest)
    assert done.startswith("*✅ Done in the last 7 days*")
    assert new.startswith("*🆕 New in the last 7 days* (1)")
    assert moved.startswith("*📈 Indicators with new data in the last 7 days*")
    assert due.startswith("*📅 Due in the next 7 days (by Mon, Nov 30)*")
    assert coming.startswith("*🔭 Coming up in the 7 days after that (by Mon, Dec 7)* (1)")
    assert "Call the shelter" in coming
    assert "meeting" not in all_text(digest)  # there is none: no heading speaks of one
    assert digest["blocks"][1]["elements"][0]["text"].startswith("The last 7 days · ")


def test_digest_now_with_a_meeting_looks_to_the_following_one(bot):
    bot.driver.command(
        "/commstat", "meeting every Thursday at 10am", user="U0MARIA", channel=CHANNEL
    )
    wait_for(lambda: bot.slack.messages(CHANNEL))
    bot.driver.command("/commit", "Call the shelter by Dec 1", user="U0MARIA", channel=CHANNEL)
    wait_for(lambda: len(bot.slack.messages(CHANNEL)) == 2)
    bot.driver.command("/commstat", "digest now", user="U0MARIA", channel=CHANNEL)
    [digest] = wait_for(lambda: digests(bot))
    note, done, _overdue, due, coming, *_ = sections_of(digest)
    assert note == "🗓️ *Thursday, Nov 26 is Thanksgiving Day — is the meeting still on?*"
    assert done.startswith("*✅ Done since Thu, Nov 19, 10:00 AM*")  # no meeting before it yet
    assert due.startswith("*📅 Due before the next meeting (Thu, Nov 26)*")
    assert coming.startswith("*🔭 Coming up before the following meeting (Thu, Dec 3)* (1)")
