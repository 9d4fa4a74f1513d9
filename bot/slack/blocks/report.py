"""Block Kit for `/commstat report`: one section per organisation while they fit in a message.

Built with slack_sdk's models so that Slack's limits (50 blocks, 3000 characters a section) are
checked here: a coalition with hundreds of organisations still gets a report, not an error.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.core.text import safe
from bot.slack.blocks.limits import MAX_BLOCKS, SECTION_LIMIT
from bot.usecases.report import OrgStats, Report


def _line(stats: OrgStats) -> str:
    parts = [f"*{safe(stats.label)}* — on time: *{stats.rate_text()}*"]
    details = [f"{stats.late} done late", f"{stats.overdue} still open and overdue"]
    if stats.dropped:
        details.append(f"{stats.dropped} dropped")
    return parts[0] + "\n" + " · ".join(details)


def _pack(lines: list[str], room: int) -> list[Block]:
    """One section per organisation while they fit; beyond that several to a section, and a
    closing count rather than a list cut off mid-way."""
    if len(lines) <= room:
        return [SectionBlock(text=MarkdownTextObject(text=line[:SECTION_LIMIT])) for line in lines]
    blocks: list[Block] = []
    current = ""
    shown = 0
    for line in lines:
        line = line[: SECTION_LIMIT // 4]
        candidate = f"{current}\n\n{line}" if current else line
        if len(candidate) <= SECTION_LIMIT:
            current = candidate
            shown += 1
            continue
        if len(blocks) == room - 2:
            break
        blocks.append(SectionBlock(text=MarkdownTextObject(text=current)))
        current = line
        shown += 1
    blocks.append(SectionBlock(text=MarkdownTextObject(text=current)))
    if shown < len(lines):
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"…and {len(lines) - shown} more organisations — "
                        "`commstat export commitments` has every row."
                    )
                ]
            )
        )
    return blocks


def build_report_blocks(report: Report) -> list[Block]:
    head: list[Block] = [
        HeaderBlock(text="On-time report"),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Commitments due {report.window_text()}. On time = done by the end of "
                    "the due date (or by its time, if it has one), in the owner's time zone."
                )
            ]
        ),
    ]
    if not report.total.due and not report.total.dropped:
        return [
            *head,
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"No commitments came due {report.window_text()}, so there is nothing "
                    "to report yet."
                )
            ),
        ]
    total = report.total
    total_text = (
        f"*Coalition total* — on time: *{total.rate_text()}*\n"
        f"{total.late} done late · {total.overdue} still open and overdue"
        + (f" · {total.dropped} dropped" if total.dropped else "")
    )
    tail: list[Block] = [DividerBlock(), SectionBlock(text=MarkdownTextObject(text=total_text))]
    body = _pack([_line(s) for s in report.organisations], MAX_BLOCKS - len(head) - len(tail) - 1)
    return [*head, DividerBlock(), *body, *tail]


def report_blocks(report: Report) -> list[dict[str, Any]]:
    """The report as a message's blocks (≤ 50 blocks, sections ≤ 3000 characters)."""
    return [block.to_dict() for block in build_report_blocks(report)]
