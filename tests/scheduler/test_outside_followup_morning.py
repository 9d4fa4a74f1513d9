"""An outside tester's weeks with the morning message: a line whose commitment someone else
changed after the message went, clicked by its owner."""

from __future__ import annotations

from sqlalchemy import select

from bot.slack import ids
from storage.models import CommitmentEvent
from tests.helpers import all_text, wait_for
from tests.scheduler.test_morning_message import line_blocks
from tests.scheduler.test_nudges_e2e import (
    CHANNEL,
    buttons,
    dm_channel,
    dms,
    make,
    no_public_holidays,
    ny,
    stored,
    tick,
)


def test_done_on_a_line_a_co_owner_already_closed_shows_it_done_and_closes_nothing_twice(bot):
    shared = make(bot, "<@U0LEE|lee> <@U0MARIA|maria> Send the naloxone report by Wednesday")
    mine = make(bot, "Call the shelters by Wednesday")
    no_public_holidays(bot, shared.team_id)
    tick(bot, ny(24, 10, 30))
    [morning] = dms(bot)
    channel, ts = dm_channel(bot, morning), morning["ts"]
    before = len(bot.slack.calls_to("response_url"))
    bot.driver.command("/commit", f"done {shared.id}", user="U0LEE", channel=CHANNEL)
    wait_for(lambda: stored(bot, shared.id).status == "done")
    confirmation = bot.slack.message(CHANNEL, shared.message_ts)

    answer = bot.driver.click(
        ids.COMMIT_DONE,
        user="U0MARIA",
        value=str(shared.id),
        block_id=f"commitment-{shared.id}",
        channel=channel,
        message_ts=ts,
        response_key="maria",
    )
    assert answer.status == 200
    [told] = wait_for(lambda: bot.slack.responses("maria"))
    assert told["text"].startswith(f"#{shared.id} is already done")
    # Her line now says so, without buttons to press again; her other line is as it was.
    shown = wait_for(
        lambda: (
            "✓ Done — " in all_text(bot.slack.message("U0MARIA", ts))
            and bot.slack.message("U0MARIA", ts)
        )
    )
    assert [b["text"]["text"] for b in line_blocks(shown, shared.id)] == [
        f"✓ Done — *#{shared.id}* {shared.text}"
    ]
    assert line_blocks(shown, mine.id) == line_blocks(morning, mine.id)
    assert [b["value"] for b in buttons(shown) if b["action_id"] == ids.COMMIT_DONE] == [
        str(mine.id)
    ]
    # Closed once, by Lee; nothing new posted to anyone.
    with bot.services.sessions() as session:
        closers = session.scalars(
            select(CommitmentEvent.actor_id).where(
                CommitmentEvent.commitment_id == shared.id, CommitmentEvent.kind == "done"
            )
        ).all()
    assert closers == ["U0LEE"]
    assert len(dms(bot)) == 1
    assert bot.slack.message(CHANNEL, shared.message_ts) == confirmation
    assert len(bot.slack.calls_to("response_url")) - before == 2  # Lee's answer, Maria's
