"""Block Kit for App Home: a person's own open commitments first, then how the coalition is doing.

A pure `build_home`, tested as a plain function; App Home holds at most 100 blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.slack.blocks.commitments import commitment_actions, summary_line
from storage.models import Commitment

MAX_HOME_ITEMS = 30  # App Home: 100 blocks, two per commitment plus the header and counts


def build_home(
    mine: Sequence[Commitment],
    *,
    my_total: int,
    now: datetime,
    team_open: int,
    team_overdue: int,
    team_done_week: int,
) -> View:
    """My open commitments (overdue first, as the list is sorted by due date), team counts."""
    counts = (
        f"Coalition: *{team_open}* open · *{team_overdue}* overdue · "
        f"*{team_done_week}* done in the last 7 days"
    )
    blocks: list[Block] = [
        HeaderBlock(text="Your commitments"),
        ContextBlock(elements=[MarkdownTextObject(text=counts)]),
        DividerBlock(),
    ]
    if not mine:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text="You have no open commitments. Make one with `/commit <what> by <when>`."
                )
            )
        )
    for commitment in mine[:MAX_HOME_ITEMS]:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=summary_line(commitment, now))))
        blocks.append(commitment_actions(commitment, with_snooze_and_note=False))
    if my_total > min(len(mine), MAX_HOME_ITEMS):
        more = f"…and {my_total - MAX_HOME_ITEMS} more — `/commit list` shows them all."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    return View(type="home", blocks=blocks)
