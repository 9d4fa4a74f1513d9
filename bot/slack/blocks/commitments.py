"""Block Kit for commitments: pure `build_*` functions, tested as plain functions.

Built with slack_sdk's models so that Slack's limits (text lengths, element counts) are checked
here rather than discovered as `invalid_blocks` in a meeting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    ConversationSelectElement,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    UserMultiSelectElement,
)
from slack_sdk.models.views import View

from bot.core.commit_parser import ListFilter
from bot.core.dates import format_due
from bot.core.deadlines import days_late, due_text, local_due
from bot.core.digest import holiday_words
from bot.core.text import clip, mention, safe
from bot.slack import ids
from bot.slack.blocks.limits import SECTION_LIMIT
from bot.usecases.commitments import DayOff
from storage.models import Commitment, CommitmentStatus

OWNERS_LIMIT = 1000  # with the 400-character action, a summary stays far below SECTION_LIMIT
MAX_LIST_ITEMS = 40  # a message holds 50 blocks; keep room for the header and the summary

SNOOZE_CHOICES = ((1, "1 day"), (3, "3 days"), (7, "1 week"))


def owners_text(commitment: Commitment) -> str:
    return ", ".join(mention(owner) for owner in commitment.owner_ids)


def status_line(commitment: Commitment, now: datetime) -> str:
    if commitment.status == CommitmentStatus.DONE:
        return "✅ Done" + (
            f" on {format_due(commitment.closed_at.astimezone(ZoneInfo(commitment.time_zone)))}"
            if commitment.closed_at
            else ""
        )
    if commitment.status == CommitmentStatus.DROPPED:
        return "✖️ Dropped"
    late = days_late(commitment, now)
    if late:
        return f"⚠️ Overdue by {late} day{'s' if late != 1 else ''}"
    if now > commitment.due_at:
        return "⚠️ Overdue"
    if commitment.snoozed_until and commitment.snoozed_until > now:
        return "💤 Reminders snoozed"
    return "Open"


def summary_line(commitment: Commitment, now: datetime, *, indicator: str | None = None) -> str:
    """Two mrkdwn lines, `*#12* What` then `owners · due · status`, well within a section."""
    parts = [
        f"*#{commitment.id}* {safe(commitment.text, 400)}",
        f"{clip(owners_text(commitment), OWNERS_LIMIT)} · due *{due_text(commitment)}*",
    ]
    if indicator:
        parts[-1] += f" · #{indicator}"
    state = status_line(commitment, now)
    if state != "Open":
        parts[-1] += f" · {state}"
    return "\n".join(parts)


def commitment_actions(
    commitment: Commitment, *, with_snooze_and_note: bool = True
) -> ActionsBlock:
    value = str(commitment.id)
    elements: list = [
        ButtonElement(text="Done", action_id=ids.COMMIT_DONE, value=value, style="primary"),
        DatePickerElement(
            action_id=ids.COMMIT_MOVE,
            initial_date=local_due(commitment).date().isoformat(),
            placeholder="Change date",
        ),
    ]
    if with_snooze_and_note:
        elements.append(
            StaticSelectElement(
                action_id=ids.COMMIT_SNOOZE,
                placeholder="Snooze",
                options=[
                    Option(value=f"{value}:{days}", label=label) for days, label in SNOOZE_CHOICES
                ],
            )
        )
        elements.append(ButtonElement(text="Add note", action_id=ids.COMMIT_NOTE, value=value))
    return ActionsBlock(block_id=f"commitment-{commitment.id}", elements=elements)


def build_commitment_message(
    commitment: Commitment,
    *,
    now: datetime,
    indicator: str | None = None,
    headline: str | None = None,
) -> list[Block]:
    """The message in the channel: what, who, when; buttons while it is open."""
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(text=summary_line(commitment, now, indicator=indicator))
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(text=headline or f"Logged by {mention(commitment.creator_id)}")
            ]
        ),
    ]
    if commitment.status == CommitmentStatus.OPEN:
        blocks.append(commitment_actions(commitment))
    return blocks


TAGS_BUDGET = 1200  # characters of names in one answer line: two lines stay in a section


def listed(names: Sequence[str], *, last: str = " and ") -> str:
    """'#a, #b and #c' (tags, mentions): whole names while they fit TAGS_BUDGET, then 'and N
    more' (fifty long indicator slugs, each linked by a short tag, overflowed Slack's section
    and the answer was never sent)."""
    shown: list[str] = []
    size = 0
    for name in names:
        if shown and size + len(name) > TAGS_BUDGET:
            break
        shown.append(name)
        size += len(name) + 2
    rest = len(names) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} more"
    if len(shown) == 1:
        return shown[0]
    return f"{', '.join(shown[:-1])}{last}{shown[-1]}"


def after_creating(
    commitment: Commitment,
    *,
    indicator: str | None,
    unlinked_tags: Sequence[str],
    day_off: DayOff | None,
    also_linked: Sequence[str] = (),
) -> tuple[str, list[Block]]:
    """What the person who made it should know at once (text, blocks), or ("", []): a due day
    that is not a working day, with a button to move it to the next one; the indicators its
    `#tags` linked when there are several; `#tags` that name no indicator."""
    lines: list[str] = []
    if day_off is not None:
        lines.append(_day_off_line(commitment, day_off))
    if also_linked and indicator:
        linked = listed([f"#{indicator}", *(f"#{slug}" for slug in also_linked)])
        lines.append(
            f"#{commitment.id} is linked to {linked}: "
            "each of their charts will mark it when it is done."
        )
    if unlinked_tags and indicator:
        others = listed([f"#{safe(t, 60)}" for t in unlinked_tags], last=", ")
        one = len(unlinked_tags) == 1
        lines.append(
            f"{others} {'matches' if one else 'match'} no single indicator here, so "
            f"{'it was' if one else 'they were'} not linked (`/indicator list` shows the names)."
        )
    if not lines:
        return "", []
    text = "\n".join(lines)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text))]
    if day_off is not None:
        blocks.append(_move_to_working_day(commitment, day_off))
    return text, blocks


def after_moving(answer: str, commitment: Commitment, day_off: DayOff) -> tuple[str, list[Block]]:
    """A move to a day off: the answer, the same remark a new commitment gets, its button."""
    text = f"{answer}\n{_day_off_line(commitment, day_off)}"
    return text, [
        SectionBlock(text=MarkdownTextObject(text=text)),
        _move_to_working_day(commitment, day_off),
    ]


def _day_off_line(commitment: Commitment, day_off: DayOff) -> str:
    """`#5 is due Fri — Christmas Day, not a working day; Mon, Dec 28?`"""
    due = local_due(commitment)
    what = f"{holiday_words(day_off.holiday)}, not" if day_off.holiday else "not"
    return (
        f"#{commitment.id} is due {_DAY_ABBR[due.weekday()]} — {what} a working day; "
        f"{_working_day_label(commitment, day_off)}?"
    )


def _working_day_label(commitment: Commitment, day_off: DayOff) -> str:
    """`Mon, Nov 30` (the year is in the confirmation), and the time it was given, if any."""
    due = local_due(commitment)
    label = format_due(_at_day(due, day_off.working_day)).rsplit(",", 1)[0]
    if commitment.due_has_time:
        label += " at " + format_due(due, has_time=True).rsplit(" at ", 1)[-1]
    return label


def _move_to_working_day(commitment: Commitment, day_off: DayOff) -> ActionsBlock:
    due = local_due(commitment)
    return ActionsBlock(
        block_id=f"move-to-working-day-{commitment.id}",
        elements=[
            ButtonElement(
                text=f"Move to {_working_day_label(commitment, day_off)}",
                action_id=ids.COMMIT_MOVE,
                # `<id>:<day>` or `<id>:<day> <HH:MM>`: the typed time moves with it
                value=f"{commitment.id}:{day_off.working_day.isoformat()}"
                + (f" {due:%H:%M}" if commitment.due_has_time else ""),
            )
        ],
    )


_DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _at_day(at: datetime, day: date) -> datetime:
    return at.replace(year=day.year, month=day.month, day=day.day)


def message_fallback(commitment: Commitment) -> str:
    """Plain text for notifications and screen readers."""
    return f"#{commitment.id} {safe(commitment.text, 200)} — {owners_text(commitment)}, due {due_text(commitment)}"


LIST_MORE_HINT = "ask for a narrower list: `/commit list @someone` or `/commit list overdue`."


def list_title(wanted: ListFilter) -> str:
    """`Your open commitments`, `Overdue commitments of <@U1>`, `All open commitments`, …"""
    kind = "overdue" if wanted.overdue else "open"
    if wanted.person:
        return f"{kind.capitalize()} commitments of {mention(wanted.person)}"
    if wanted.everyone:
        return "Overdue commitments" if wanted.overdue else "All open commitments"
    return f"Your {kind} commitments"


def build_commitment_list(
    commitments: Sequence[Commitment], *, title: str, total: int, now: datetime, more_hint: str
) -> list[Block]:
    """An ephemeral list; beyond MAX_LIST_ITEMS it says how many more, never cuts mid-way."""
    if not commitments:
        return [SectionBlock(text=MarkdownTextObject(text=f"*{title}*\nNothing here. 🎉"))]
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"*{title}* ({total})"))]
    for commitment in commitments[:MAX_LIST_ITEMS]:
        blocks.append(
            SectionBlock(
                block_id=f"item-{commitment.id}",
                text=MarkdownTextObject(text=summary_line(commitment, now)),
                accessory=ButtonElement(
                    text="Done", action_id=ids.COMMIT_DONE, value=str(commitment.id)
                ),
            )
        )
    shown = min(len(commitments), MAX_LIST_ITEMS)
    if total > shown:
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=f"…and {total - shown} more — {more_hint}")]
            )
        )
    return blocks


def build_note_modal(commitment: Commitment, *, context: str = "") -> View:
    return View(
        type="modal",
        callback_id=ids.NOTE_VIEW,
        private_metadata=f"{commitment.id}|{context}",
        title=PlainTextObject(text=f"Note on #{commitment.id}"[:24]),
        submit=PlainTextObject(text="Add note"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=safe(commitment.text, SECTION_LIMIT))),
            InputBlock(
                block_id="note",
                label="Note",
                element=PlainTextInputElement(action_id="text", multiline=True, max_length=2000),
            ),
        ],
    )


def build_new_commitment_modal(
    *, user_id: str, channel_id: str | None, indicator_options: Sequence[tuple[str, str]]
) -> View:
    """The form `/commit` opens with no text: what, owners, due date, indicator, channel."""
    blocks: list[Block] = [
        InputBlock(
            block_id="what",
            label="What will be done?",
            element=PlainTextInputElement(
                action_id="value", max_length=2000, placeholder="Distribute 200 naloxone kits"
            ),
        ),
        InputBlock(
            block_id="owners",
            label="Owner(s)",
            element=UserMultiSelectElement(
                action_id="value", initial_users=[user_id], max_selected_items=10
            ),
        ),
        InputBlock(block_id="due", label="Due date", element=DatePickerElement(action_id="value")),
    ]
    if indicator_options:
        blocks.append(
            InputBlock(
                block_id="indicator",
                label="Linked indicator",
                optional=True,
                element=StaticSelectElement(
                    action_id="value",
                    placeholder="None",
                    options=[
                        Option(value=slug, label=safe(name, 75))
                        for slug, name in indicator_options[:100]
                    ],
                ),
            )
        )
    blocks.append(
        InputBlock(
            block_id="channel",
            label="Post it in",
            element=ConversationSelectElement(
                action_id="value",
                initial_conversation=channel_id,
                default_to_current_conversation=True,
            ),
        )
    )
    return View(
        type="modal",
        callback_id=ids.NEW_COMMITMENT_VIEW,
        title=PlainTextObject(text="New commitment"),
        submit=PlainTextObject(text="Commit"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
    )
