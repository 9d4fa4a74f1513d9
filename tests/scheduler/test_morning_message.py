"""One message a person a morning, end to end: commitments made over signed HTTP (or stored, for
the big lists), scheduler passes at chosen instants, the DMs that reach the Slack stand-in, and
the buttons clicked on each line of those DMs."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.bootstrap import bootstrap
from bot.followup.scheduler import run_pass
from bot.slack import ids
from storage.models import Commitment, CommitmentOwner, OutboxMessage, OutboxStatus, Team
from storage.repositories import ensure_team
from tests.conftest import make_settings
from tests.helpers import add_late_indicator, all_text, wait_for
from tests.scheduler.test_exactly_once import COMMSTAT, ROOT, subprocess_env
from tests.scheduler.test_nudges_e2e import (
    NY,
    buttons,
    click_in_dm,
    dm_channel,
    dms,
    make,
    no_public_holidays,
    ny,
    stored,
    tick,
)

TEAM = "T0COALITION"


commit = make  # /commit over signed HTTP (the name tests/hostile/test_attack_morning.py imports)


def three_due_wednesday(bot) -> list[Commitment]:
    made = [
        commit(bot, "Send the naloxone report by Wednesday"),
        commit(bot, "Call the shelters by Wednesday"),
        commit(bot, "Book the training room by Wednesday"),
    ]
    no_public_holidays(bot, made[0].team_id)
    return made


def lines(message) -> list[str]:
    """The text of each line's section, in order (block ids `line-<n>`, `data-<n>`)."""
    return [
        b["text"]["text"]
        for b in message["blocks"]
        if b["type"] == "section" and b.get("block_id", "").startswith(("line-", "data-"))
    ]


def line_blocks(message, number: int) -> list[dict]:
    return [
        b
        for b in message["blocks"]
        if b.get("block_id") in (f"line-{number}", f"commitment-{number}")
    ]


def line_text(message, number: int) -> str:
    """The words of a commitment's line in a morning message, line breaks kept."""
    return line_blocks(message, number)[0]["text"]["text"]


def store_commitments(bot, texts: list[str], *, due: datetime, owner: str = "U0MARIA") -> None:
    """Many commitments at once, made a week before `due` (as /commit would store them)."""
    made_at = due - timedelta(days=7)
    with bot.services.sessions.begin() as session:
        ensure_team(session, TEAM, time_zone="America/New_York", now=made_at)
        for text in texts:
            session.add(
                Commitment(
                    team_id=TEAM,
                    text=text,
                    due_at=due,
                    time_zone="America/New_York",
                    created_at=made_at,
                    creator_id=owner,
                    next_check_at=made_at,
                    owners=[CommitmentOwner(user_id=owner, team_id=TEAM)],
                )
            )


def test_three_commitments_due_the_same_day_come_in_one_message(bot):
    first, second, third = three_due_wednesday(bot)
    report = tick(bot, ny(24, 10, 30))
    assert report.summary() == "planned 1 nudge, 0 digests; sent 1, retrying 0, failed 0"
    [morning] = dms(bot)
    seen = all_text(morning)
    assert "*3 commitments* need you today" in seen
    for made in (first, second, third):
        assert f"*#{made.id}* {made.text}" in seen
    assert len(lines(morning)) == 3
    assert all("*due tomorrow*" in line for line in lines(morning))
    assert [e["action_id"] for e in buttons(morning)] == list(ids.ACTIONS) * 3
    assert "3 commitments need you today: #" in morning["text"]
    tick(bot, ny(24, 10, 31))  # a second pass a minute later
    tick(bot, ny(24, 10, 30))  # and one back in time
    assert len(dms(bot)) == 1
    tick(bot, ny(25, 10, 30))  # Wednesday: one message again, all three due today
    assert len(dms(bot)) == 2
    assert [line.count("*due today*") for line in lines(dms(bot)[-1])] == [1, 1, 1]


def test_each_line_has_its_own_buttons_and_a_click_changes_that_line_only(bot):
    first, second, third = three_due_wednesday(bot)
    tick(bot, ny(24, 10, 30))
    [morning] = dms(bot)
    channel, ts = dm_channel(bot, morning), morning["ts"]

    def shown():
        return bot.slack.message("U0MARIA", ts)

    before = shown()["blocks"]
    bot.driver.click(
        ids.COMMIT_DONE,
        user="U0MARIA",
        value=str(second.id),
        block_id=f"commitment-{second.id}",
        channel=channel,
        message_ts=ts,
    )
    wait_for(lambda: "✓ Done — " in all_text(shown()))
    assert stored(bot, second.id).status == "done"
    assert line_blocks(shown(), second.id) == [
        {
            "type": "section",
            "block_id": f"line-{second.id}",
            "text": {"type": "mrkdwn", "text": f"✓ Done — *#{second.id}* {second.text}"},
        }
    ]
    for other in (first, third):
        assert line_blocks(shown(), other.id) == line_blocks({"blocks": before}, other.id)

    # Snooze on the third line: the third changes, the second stays done, the first as it was.
    bot.driver.click(
        ids.COMMIT_SNOOZE,
        user="U0MARIA",
        selected_option=f"{third.id}:3",
        block_id=f"commitment-{third.id}",
        channel=channel,
        message_ts=ts,
    )
    wait_for(lambda: "💤 Snoozed until Fri, Nov 27" in all_text(shown()))
    assert stored(bot, third.id).snoozed_until is not None
    # laid out as it was sent: what on the first line, when and with whom on the next
    assert f"*#{third.id}* {third.text}\ndue " in line_text(shown(), third.id)
    assert f"✓ Done — *#{second.id}*" in all_text(shown())
    assert line_blocks(shown(), first.id) == line_blocks({"blocks": before}, first.id)

    # Change date, then a note from the form, on the first line.
    bot.driver.click(
        ids.COMMIT_MOVE,
        user="U0MARIA",
        block_id=f"commitment-{first.id}",
        selected_date="2026-12-07",
        channel=channel,
        message_ts=ts,
    )
    wait_for(lambda: "📅 Now due *Mon, Dec 7, 2026*" in all_text(shown()))
    bot.driver.click(
        ids.COMMIT_NOTE,
        user="U0MARIA",
        value=str(first.id),
        block_id=f"commitment-{first.id}",
        channel=channel,
        message_ts=ts,
    )
    [opened] = wait_for(lambda: bot.slack.calls_to("views.open"))
    view = opened.params["view"]
    if isinstance(view, str):
        view = json.loads(view)
    bot.driver.submit_view(
        ids.NOTE_VIEW,
        {"note": {"text": {"type": "plain_text_input", "value": "Room 4 is free"}}},
        user="U0MARIA",
        private_metadata=view["private_metadata"],
    )
    wait_for(lambda: "📝 Your note was added." in all_text(shown()))
    assert line_text(shown(), first.id).startswith(
        f"📅 Now due *Mon, Dec 7, 2026* — *#{first.id}* {first.text}\ndue Mon, Dec 7, 2026"
    )
    assert line_text(shown(), first.id).endswith("\n📝 Your note was added.")
    assert f"✓ Done — *#{second.id}*" in all_text(shown())
    assert "💤 Snoozed until" in all_text(shown())
    assert len(dms(bot)) == 1  # changed in place, nothing new posted


def test_someone_else_clicking_a_line_changes_nothing(bot):
    first, *_ = three_due_wednesday(bot)
    tick(bot, ny(24, 10, 30))
    [morning] = dms(bot)
    click_in_dm(bot, ids.COMMIT_DONE, first.id, morning, user="U0LEE", response_key="lee")
    [answer] = wait_for(lambda: bot.slack.responses("lee"))
    assert "Only an owner" in answer["text"]
    assert stored(bot, first.id).status == "open"
    assert bot.slack.message("U0MARIA", morning["ts"])["blocks"] == morning["blocks"]


def test_overdue_comes_first_with_its_days_late(bot):
    late = commit(bot, "Send the naloxone report by Tuesday")  # Mon Nov 23: due Tue Nov 24
    soon = commit(bot, "Call the shelters by Nov 30")  # Monday
    today = commit(bot, "Book the training room by Friday")  # Fri Nov 27
    no_public_holidays(bot, late.team_id)
    tick(bot, ny(25, 10, 30))  # Wed: the report is 1 day overdue; the next reminder on Friday
    assert len(dms(bot)) == 1
    tick(bot, ny(27, 10, 30))
    shown = lines(dms(bot)[-1])
    assert [int(re.findall(r"#(\d+)", line)[0]) for line in shown] == [late.id, today.id, soon.id]
    assert shown[0].startswith("⚠️ *3 days overdue* · ")
    assert "*due today*" in shown[1] and "*due Monday*" in shown[2]


def test_two_owners_get_one_message_each_in_their_own_morning(bot):
    made = commit(bot, "<@U0LEE|lee> <@U0SAM|sam> Open the warming center by Wednesday")
    also = commit(bot, "<@U0LEE|lee> Find 20 beds by Wednesday")
    no_public_holidays(bot, made.team_id)
    tick(bot, ny(24, 10, 5))  # 09:05 in Chicago, 07:05 in Los Angeles
    assert len(dms(bot, "U0SAM")) == 1 and dms(bot, "U0LEE") == []
    tick(bot, ny(24, 12, 5))  # 09:05 in Los Angeles
    [lee] = dms(bot, "U0LEE")
    [sam] = dms(bot, "U0SAM")
    assert f"#{made.id}" in all_text(lee) and f"#{also.id}" in all_text(lee)
    assert f"#{made.id}" in all_text(sam) and f"#{also.id}" not in all_text(sam)
    assert "with <@U0SAM>" in all_text(lee) and "with <@U0LEE>" in all_text(sam)


def test_a_steward_with_late_data_and_a_due_commitment_gets_one_message(bot):
    add_late_indicator(bot.services.sessions, TEAM, now=bot.clock(), steward="U0MARIA")
    made = commit(bot, "Send the naloxone report by Wednesday Dec 2")
    no_public_holidays(bot, made.team_id)
    report = tick(bot, ny(1, 10, 30, month=12))  # Tue Dec 1: data late since, report due tomorrow
    assert report.summary() == "planned 1 nudge, 0 digests; sent 1, retrying 0, failed 0"
    [morning] = dms(bot)
    seen = all_text(morning)
    assert "*1 commitment* and *1 late data update* need you today" in seen
    assert f"*#{made.id}* Send the naloxone report" in seen
    assert "No value yet for *Maryland overdose deaths*, Jul 2026" in seen
    assert "you own this commitment and steward this data" in seen
    tick(bot, ny(1, 11, 30, month=12))
    assert len(dms(bot)) == 1


def test_a_commitment_done_before_the_message_goes_is_not_listed(bot):
    first, second, _third = three_due_wednesday(bot)
    bot.slack.fail_next("chat.postMessage", status=429, times=1)
    report = tick(bot, ny(24, 10, 30))  # planned, but Slack had a server error
    assert report.delivery.retrying == 1 and dms(bot) == []
    bot.driver.command("/commit", f"done {second.id}", user="U0MARIA", channel="C0MEETING")
    wait_for(lambda: stored(bot, second.id).status == "done")
    tick(bot, ny(24, 12, 30))
    [morning] = dms(bot)
    assert f"#{second.id}" not in all_text(morning)
    assert "*2 commitments* need you today" in all_text(morning)
    assert len(lines(morning)) == 2
    # A click on it afterwards lays out the lines it was sent with, not the planned three.
    click_in_dm(bot, ids.COMMIT_DONE, first.id, morning)
    wait_for(lambda: "✓ Done — " in all_text(bot.slack.message("U0MARIA", morning["ts"])))
    assert f"#{second.id}" not in all_text(bot.slack.message("U0MARIA", morning["ts"]))


def test_a_message_whose_every_line_was_done_meanwhile_is_dropped(bot):
    [only] = [commit(bot, "Send the naloxone report by Wednesday")]
    no_public_holidays(bot, only.team_id)
    bot.slack.fail_next("chat.postMessage", status=429, times=1)
    tick(bot, ny(24, 10, 30))
    bot.driver.command("/commit", f"done {only.id}", user="U0MARIA", channel="C0MEETING")
    wait_for(lambda: stored(bot, only.id).status == "done")
    report = tick(bot, ny(24, 12, 30))
    assert report.delivery.dropped == 1
    assert dms(bot) == []
    with bot.services.sessions() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "morning")).one()
    assert row.status == OutboxStatus.DROPPED
    assert f"#{only.id} was marked done" in (row.last_error or "")


def test_missed_mornings_after_downtime_come_as_one_message(bot):
    three_due_wednesday(bot)
    commit(bot, "Call the mayor's office by Friday")
    # Down from Monday until Thursday 11:00: one message, with everything as of Thursday.
    tick(bot, ny(26, 11))
    [morning] = dms(bot)
    shown = lines(morning)
    assert len(shown) == 4
    assert sum("*1 day overdue*" in line for line in shown) == 3
    assert sum("*due tomorrow*" in line for line in shown) == 1
    tick(bot, ny(26, 12))
    assert len(dms(bot)) == 1


def test_forty_commitments_are_summarised_within_slacks_limits(bot):
    due = ny(25, 17)
    store_commitments(
        bot, [f"Visit partner site number {n} " + "x" * 250 for n in range(40)], due=due
    )
    no_public_holidays(bot, TEAM)
    tick(bot, ny(24, 10, 30))
    [morning] = dms(bot)
    blocks = morning["blocks"]
    assert len(blocks) <= 50
    assert len(json.dumps(blocks)) < 40_000
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    shown = len(lines(morning))
    assert 5 <= shown < 40
    assert f"…and {40 - shown} more: `/commit list`" in all_text(morning)
    assert "*40 commitments* need you today" in all_text(morning)
    assert "x" * 250 + "\ndue Wed, Nov 25, 2026" in lines(morning)[-1]  # whole, not cut
    assert len(morning["text"]) <= 1000 and morning["text"].endswith("more.")


def test_hostile_commitment_text_stays_inert_in_the_combined_message(bot):
    commit(bot, "<!channel> <@U0123ABC> ping everyone by Wednesday")
    commit(bot, "Call the shelters by Wednesday")
    no_public_holidays(bot, TEAM)
    tick(bot, ny(24, 10, 30))
    [morning] = dms(bot)
    everything = json.dumps(morning)
    assert "<!channel>" not in everything and "<@U0123ABC>" not in everything
    assert "channel @U0123ABC ping everyone" in all_text(morning)
    assert "*2 commitments* need you today" in all_text(morning)


def seed_owners(services, owners: list[str], per_owner: int, due: datetime) -> None:
    """`per_owner` commitments for each owner, all due `due`, made a week before."""
    made_at = due - timedelta(days=7)
    with services.sessions.begin() as session:
        ensure_team(session, TEAM, time_zone="America/New_York", now=made_at)
        session.get(Team, TEAM).holiday_country = "none"
        for n in range(per_owner * len(owners)):
            owner = owners[n % len(owners)]
            session.add(
                Commitment(
                    team_id=TEAM,
                    text=f"Task {n}",
                    due_at=due,
                    time_zone="America/New_York",
                    created_at=made_at,
                    creator_id=owner,
                    next_check_at=made_at,
                    owners=[CommitmentOwner(user_id=owner, team_id=TEAM)],
                )
            )


@pytest.mark.postgres
def test_planners_in_four_threads_sharing_owners_send_one_message_a_person(
    postgres_url, fake_slack
):
    """Small batches, so every thread plans some commitments of the same people at once."""
    services = bootstrap(make_settings(postgres_url, fake_slack.api_url))
    try:
        owners = [f"U0Q{i:03d}" for i in range(12)]
        seed_owners(services, owners, 3, datetime(2026, 11, 25, 17, tzinfo=UTC))
        at = datetime(2026, 11, 24, 10, 30, tzinfo=NY)
        reports = []

        def planner() -> None:
            reports.append(run_pass(services, now=at, batch=5, per_channel_interval=0))

        threads = [threading.Thread(target=planner) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert all(not r.errors for r in reports), [r.summary() for r in reports]
        assert sum(r.nudges for r in reports) == len(owners)
        posted = fake_slack.calls_to("chat.postMessage")
        assert sorted(c.params["channel"] for c in posted) == owners
        for call in posted:
            assert "*3 commitments* need you today" in json.dumps(call.params)
    finally:
        services.engine.dispose()


@pytest.mark.postgres
def test_two_tick_processes_at_once_send_one_message_a_person(postgres_url, fake_slack):
    services = bootstrap(make_settings(postgres_url, fake_slack.api_url))
    due = datetime(2026, 11, 25, 17, tzinfo=UTC)
    try:
        owners = [f"U0P{i:03d}" for i in range(30)]
        seed_owners(services, owners, 3, due)
        fake_slack.delay("chat.postMessage", 0.02)
        env = subprocess_env(postgres_url, fake_slack)
        at = datetime(2026, 11, 24, 10, 30, tzinfo=NY).isoformat()
        command = [COMMSTAT, "tick", "--now", at]
        processes = [
            subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        for process in processes:
            _out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err.decode()
        posted = fake_slack.calls_to("chat.postMessage")
        assert sorted(c.params["channel"] for c in posted) == owners
        for call in posted:
            assert "*3 commitments* need you today" in json.dumps(call.params)
    finally:
        services.engine.dispose()
