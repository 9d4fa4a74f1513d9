"""Block Kit for reminders: an owner's nudge, the creator's one-time notice, a data steward's nudge.

Pure `*_payload` functions return what the outbox sends (`text` and `blocks`); each message says
why it came and how to make it stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.core import periods
from bot.core.dates import format_due
from bot.core.deadlines import days_late, due_text
from bot.core.nudge_rules import due_datetime
from bot.core.text import safe
from bot.slack.blocks import commitments as blocks
from storage.models import Commitment, Indicator

STOP_HINT = "Mark it done, change the date or snooze it and I'll stop."
FALLBACK_CLIP = 150  # a commitment's words in a notification


def _payload(text: str, block_list: Sequence[Block]) -> dict[str, Any]:
    return {"text": text, "blocks": [b.to_dict() for b in block_list]}


def nudge_body(
    commitment: Commitment, *, now: datetime, indicator: str | None = None
) -> list[dict[str, Any]]:
    """The commitment with its buttons (the same for every owner; built once per commitment)."""
    built = blocks.build_commitment_message(
        commitment,
        now=now,
        indicator=indicator,
        headline=f"You're getting this because you own #{commitment.id}. {STOP_HINT}",
    )
    return [b.to_dict() for b in built]


def nudge_payload(
    commitment: Commitment,
    state: str,
    *,
    now: datetime,
    indicator: str | None = None,
    body: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The reminder DM: why it came, the commitment with its buttons, and how to stop it."""
    header = SectionBlock(
        text=MarkdownTextObject(text=f"⏰ Reminder: *#{commitment.id}* is *{state}*.")
    )
    if body is None:
        body = nudge_body(commitment, now=now, indicator=indicator)
    text = f"Reminder: #{commitment.id} {safe(commitment.text, FALLBACK_CLIP)} is {state}."
    return {"text": text, "blocks": [header.to_dict(), *body]}


def creator_payload(
    commitment: Commitment, *, now: datetime, indicator: str | None = None
) -> dict[str, Any]:
    """Told once to whoever logged a commitment that is a week overdue."""
    late = days_late(commitment, now)
    header = SectionBlock(
        text=MarkdownTextObject(
            text=(
                f"⚠️ *#{commitment.id}*, which you logged, is {late} days overdue "
                f"(due {due_text(commitment)}). Its owners are still being reminded and it "
                "will be flagged in the next digest; I'm telling you once, in case you want to "
                "follow up."
            )
        )
    )
    body = blocks.build_commitment_message(
        commitment,
        now=now,
        indicator=indicator,
        headline=f"Owners: {blocks.owners_text(commitment)}",
    )
    text = f"#{commitment.id} {safe(commitment.text, FALLBACK_CLIP)} is {late} days overdue."
    return _payload(text, [header, *body])


def steward_payload(
    indicator: Indicator, following: periods.Period, expected: date
) -> dict[str, Any]:
    """'No value yet for Maryland overdose deaths, May 2025: it was expected by …; add it with …'."""
    when = periods.label(following, indicator.period_kind)
    by = format_due(due_datetime(expected))
    name = safe(indicator.name, 200)
    text = (
        f"📊 No value yet for *{name}*, {when}: it was expected by {by}. Add it with "
        f"`/indicator set {indicator.slug} <value> for {following.text}` or `commstat import`."
    )
    why = (
        f"You're getting this because you are the data steward for {name}. "
        "Once the value is in, I'll stop."
    )
    section = SectionBlock(text=MarkdownTextObject(text=text))
    context = ContextBlock(elements=[MarkdownTextObject(text=why)])
    return {
        "text": f"No value yet for {name}, {when}: it was expected by {by}.",
        "blocks": [section.to_dict(), context.to_dict()],
    }


__all__ = ["STOP_HINT", "creator_payload", "nudge_body", "nudge_payload", "steward_payload"]
