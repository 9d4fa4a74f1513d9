"""Block Kit for the digest: the words of `bot.core.digest` laid out within Slack's limits.

Pure: plain values in, fallback text and block dicts out (no database, no clock).
"""

from __future__ import annotations

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
    Window,
    fallback_text,
    fitted,
    header_text,
    holiday_line,
    scope_line,
    sections,
)

CHART_NOTE = "Chart of key indicators below."


def build_blocks(
    data: DigestData,
    *,
    title: str,
    window: Window,
    zone: ZoneInfo,
    chart: bool = False,
    holiday: str | None = None,
    merged: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """The digest message: fallback text and blocks (≤ 50 blocks, ≤ 3000 chars a section).

    `holiday`: the name of the holiday the next meeting falls on, if it does. `merged`: this is
    the weekly digest and the pre-meeting digest in one."""
    blocks: list[Block] = [
        HeaderBlock(text=header_text(title)),
        ContextBlock(
            elements=[MarkdownTextObject(text=scope_line(window, zone=zone, merged=merged))]
        ),
    ]
    if holiday is not None and window.next_meeting is not None:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=holiday_line(window.next_meeting, holiday)))
        )
    for text in fitted(sections(data, window=window, zone=zone)):
        blocks.append(DividerBlock())
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
    if chart:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=CHART_NOTE)]))
    assert len(blocks) <= MAX_BLOCKS
    fallback = fallback_text(data, title=title, window=window, zone=zone, holiday=holiday)
    return fallback, [b.to_dict() for b in blocks]


__all__ = ["build_blocks"]
