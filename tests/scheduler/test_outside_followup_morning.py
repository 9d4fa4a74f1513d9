"""An outside tester's weeks with the morning message: a line whose commitment someone else
changed after the message went, clicked by its owner; a person with more lines than fit."""

from __future__ import annotations

from sqlalchemy import select

from bot.slack import ids
from storage.models import Commitment, CommitmentEvent
from tests.helpers import all_text, wait_for
from tests.scheduler.test_morning_message import TEAM, line_blocks, lines, store_commitments
from tests.scheduler.test_nudges_e2e import (
    CHANNEL,
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
    # the channel message is edited after the change is stored: the edit, once it is made
    confirmation = wait_for(
        lambda: (
            "✅ Done" in all_text(bot.slack.message(CHANNEL, shared.message_ts))
            and bot.slack.message(CHANNEL, shared.message_ts)
        )
    )

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


def test_sixty_overdue_lines_never_hide_the_one_due_tomorrow_or_today(bot):
    store_commitments(bot, [f"Old task {n}" for n in range(60)], due=ny(18, 17))
    store_commitments(bot, ["Send the budget to council"], due=ny(25, 17))
    no_public_holidays(bot, TEAM)
    with bot.services.sessions() as session:
        budget = session.scalars(
            select(Commitment).where(Commitment.text == "Send the budget to council")
        ).one()

    tick(bot, ny(24, 10))  # Tuesday: 60 overdue and one due tomorrow
    [tuesday] = dms(bot)
    assert len(tuesday["blocks"]) <= 50
    shown = lines(tuesday)
    assert len(shown) == 23
    assert "*61 commitments* need you today" in all_text(tuesday)
    assert "…and 38 more: `/commit list`" in all_text(tuesday)
    # Overdue first, then what is due tomorrow: the news is on the list, last.
    assert all("overdue*" in line for line in shown[:-1])
    assert shown[-1].startswith(f"📅 *due tomorrow* · *#{budget.id}* Send the budget to council")

    tick(bot, ny(25, 10))  # Wednesday: due today, still shown
    wednesday = dms(bot)[-1]
    assert lines(wednesday)[-1].startswith(f"⏰ *due today* · *#{budget.id}*")
    # Its buttons work from there: Done changes that line only.
    click_in_dm(bot, ids.COMMIT_DONE, budget.id, wednesday)
    wait_for(lambda: "✓ Done — " in all_text(bot.slack.message("U0MARIA", wednesday["ts"])))
    after = lines(bot.slack.message("U0MARIA", wednesday["ts"]))
    assert after[:-1] == lines(wednesday)[:-1]
    assert after[-1] == f"✓ Done — *#{budget.id}* Send the budget to council"
    assert stored(bot, budget.id).status == "done"
    assert len(dms(bot)) == 2
