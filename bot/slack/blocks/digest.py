"""Block Kit for the digest: the words of `bot.core.digest` laid out within Slack's limits.

Pure: plain values in, fallback text and block dicts out (no database, no clock).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.core.digest import (
    MAX_BLOCKS,
    DigestData,
    fallback_text,
    header_text,
    scope_line,
    sections,
)

CHART_NOTE = "Chart of key indicators below."


def build_blocks(
    data: DigestData,
    *,
    title: str,
    since: datetime,
    next_meeting: datetime | None,
    zone: ZoneInfo,
    chart: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """The digest message: fallback text and blocks (≤ 50 blocks, ≤ 3000 chars a section)."""
    blocks: list[Block] = [
        HeaderBlock(text=header_text(title)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=scope_line(since=since, next_meeting=next_meeting, zone=zone)
                )
            ]
        ),
    ]
    for section in sections(data, next_meeting=next_meeting):
        blocks.append(DividerBlock())
        blocks.append(SectionBlock(text=MarkdownTextObject(text=section.text)))
    if chart:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=CHART_NOTE)]))
    assert len(blocks) <= MAX_BLOCKS
    text = fallback_text(data, title=title, next_meeting=next_meeting)
    return text, [b.to_dict() for b in blocks]


__all__ = ["build_blocks"]
