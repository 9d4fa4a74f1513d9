"""Block Kit for reminders: a person's morning message, the creator's one-time notice.

Pure functions return what the outbox sends (`text` and `blocks`); each message says why it came
and how to make it stop.

The morning message is one DM a person a morning listing every commitment and late indicator that
needs them, each a *line* with its own buttons. It is stored as its lines ("parts", each with the
facts it was planned on) and laid out by `compose_morning`, so that the outbox can leave out a
line whose commitment was done before the message went, and a click can change its own line only
(`changed_line`), both by laying the same lines out again. The action ids and values are those of
the channel message (`bot.slack.blocks.commitments.commitment_actions`), so every button works
the same wherever it is clicked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.core import periods
from bot.core.dates import format_due
from bot.core.deadlines import days_late, due_text, local_due
from bot.core.digest import short_day
from bot.core.nudge_rules import (
    COMING,
    DATA,
    OVERDUE,
    TODAY,
    deadline_on,
    due_datetime,
    group_of,
    lines_that_fit,
    morning_order,
)
from bot.core.text import clip, mention, safe
from bot.slack.blocks import commitments as blocks
from bot.slack.blocks.limits import MAX_BLOCKS
from bot.slack.blocks.limits import MESSAGE_TEXT_BUDGET as TEXT_BUDGET
from storage.models import Commitment, CommitmentStatus, Indicator

STOP_HINT = "Mark it done, change the date or snooze it and I'll stop."
DATA_STOP_HINT = "Once the value is in, I'll stop asking for it."
FALLBACK_CLIP = 150  # a commitment's words in a notification
LINE_CLIP = 300  # a commitment's words in a line of the morning message
NAME_CLIP = 200  # an indicator's name
MAX_LINES = 23  # as many as 50 blocks hold (2 a line, 3 for the header and footer)
FALLBACK_BUDGET = 1_000  # the notification's text
MORNING = "morning"  # the outbox's name for the composer of these messages
_RESERVE = (3, 600)  # the header, the "…and N more" line and the footer: blocks, characters
_EMOJI = {OVERDUE: "⚠️", TODAY: "⏰"}


def _payload(text: str, block_list: Sequence[Block]) -> dict[str, Any]:
    return {"text": text, "blocks": [b.to_dict() for b in block_list]}


def creator_payload(
    commitment: Commitment,
    *,
    now: datetime,
    indicator: str | None = None,
    unreachable: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Told once to whoever logged a commitment that is a week overdue. `unreachable`: the owners
    Slack refused a direct message to, with its error code; the notice does not claim they are
    reminded, and says plainly when no one is."""
    late = days_late(commitment, now)
    gone = {o: why for o, why in (unreachable or {}).items() if o in commitment.owner_ids}
    reminded = [owner for owner in commitment.owner_ids if owner not in gone]
    opening = f"⚠️ *#{commitment.id}*, which you logged, is {late} days overdue (due {due_text(commitment)})."
    fallback = f"#{commitment.id} {safe(commitment.text, FALLBACK_CLIP)} is {late} days overdue."
    if not gone:
        words = (
            f"{opening} Its owners are still being reminded and it will be flagged in the next "
            "digest; I'm telling you once, in case you want to follow up."
        )
    elif not reminded:
        why = _cannot_be_reached(gone)
        words = (
            f"{opening} {why[0].upper()}{why[1:]}, so no one is being reminded: drop it "
            f"(`/commit drop {commitment.id} <reason>`) and, if it still needs doing, log it "
            "again for someone who can take it on (`/commit @name <what> by <when>`). It will "
            "be flagged in the next digest; I'm telling you once."
        )
        fallback += f" No one is being reminded: {why}."
    else:
        verb = "is" if len(reminded) == 1 else "are"
        words = (
            f"{opening} {_listed(reminded)} {verb} still being reminded, but "
            f"{_cannot_be_reached(gone)}. It will be flagged in the next digest; I'm telling "
            "you once, in case you want to follow up."
        )
    header = SectionBlock(text=MarkdownTextObject(text=words))
    body = blocks.build_commitment_message(
        commitment,
        now=now,
        indicator=indicator,
        headline=f"Owners: {blocks.owners_text(commitment)}",
    )
    return _payload(fallback, [header, *body])


# Slack's refusal of a direct message, in words: (one account, several accounts).
_GONE = {
    "user_disabled": ("is deactivated", "are deactivated"),
    "user_not_found": ("no longer exists", "no longer exist"),
}


def _cannot_be_reached(gone: Mapping[str, str]) -> str:
    """ "<@U0LEE>'s Slack account is deactivated"; several: "the Slack accounts of <@U0LEE> and
    <@U0KIM> are deactivated" (people are named only by mention: never by a display name)."""
    states = {_GONE.get(why, _GONE["user_disabled"]) for why in gone.values()}
    people = list(gone)
    if len(people) == 1:
        return f"{mention(people[0])}'s Slack account {states.pop()[0]}"
    return f"the Slack accounts of {_listed(people)} {' or '.join(sorted(s[1] for s in states))}"


def _listed(people: Sequence[str]) -> str:
    """ "<@A>", "<@A> and <@B>", "<@A>, <@B> and <@C>"."""
    return blocks.listed([mention(person) for person in people])


# --- the morning message ------------------------------------------------------------------------


def commitment_line(
    commitment: Commitment,
    *,
    recipient: str,
    day: date,
    key: str,
    holds: dict[str, Any],
    indicator: str | None = None,
) -> dict[str, Any]:
    """One commitment in `recipient`'s morning message of `day`: how late, what, when, with whom,
    and its buttons. Returns the part the message is laid out from (plain JSON)."""
    due = local_due(commitment).date()
    group = group_of(day, due)
    state = deadline_on(day, due)
    section = SectionBlock(
        block_id=f"line-{commitment.id}",
        text=MarkdownTextObject(
            text=f"{_EMOJI.get(group, '📅')} *{state}* · "
            + _what(commitment)
            + "\n"
            + _details(commitment, recipient=recipient, indicator=indicator)
        ),
    )
    return {
        "key": key,
        "kind": "commitment",
        "id": commitment.id,
        "order": _order(morning_order(group, due, day, commitment.id)),
        "group": group,
        "text": f"#{commitment.id} {safe(commitment.text, FALLBACK_CLIP)} ({state})",
        "blocks": [section.to_dict(), blocks.commitment_actions(commitment).to_dict()],
        "holds": holds,
    }


def data_line(
    indicator: Indicator,
    following: periods.Period,
    expected: date,
    *,
    day: date,
    key: str,
    holds: dict[str, Any],
) -> dict[str, Any]:
    """A late value in its steward's morning message: which period, expected since when, and the
    command that adds it."""
    when = periods.label(following, indicator.period_kind)
    by = format_due(due_datetime(expected))
    name = safe(indicator.name, NAME_CLIP)
    text = (
        f"📊 No value yet for *{name}*, {when}: it was expected by {by}. Add it with "
        f"`/indicator set {indicator.slug} <value> for {following.text}` or `commstat import`."
    )
    return {
        "key": key,
        "kind": "data",
        "id": indicator.id,
        "order": _order(morning_order(DATA, expected, day, indicator.id)),
        "group": DATA,
        "text": f"no value yet for {name}, {when}",
        "blocks": [SectionBlock(block_id=f"data-{indicator.id}", text=_md(text)).to_dict()],
        "holds": holds,
    }


def morning_payload(parts: list[dict[str, Any]], *, day: date) -> dict[str, Any]:
    """The morning message of `day` from its lines (any order): stored as its parts, laid out by
    `compose_morning`. `items` keeps every line's key, whatever is left out when it is sent."""
    ordered = sorted(parts, key=lambda part: part["order"])
    payload = {
        "compose": MORNING,
        "day": day.isoformat(),
        "parts": ordered,
        "items": [part["key"] for part in ordered],
    }
    return _news_first(compose_morning(payload))


def _news_first(payload: dict[str, Any]) -> dict[str, Any]:
    """When not every line fits, the ones due today or coming up are kept and overdue ones left
    out: someone with 60 overdue items was otherwise never shown the one due today (it sorts
    after them), though each morning repeats the same most-overdue lines. Shown lines stay in
    reading order (overdue first); the left-out ones follow them in the payload, news first, so
    a message laid out again (a line done before it went) brings the next one in."""
    parts: list[dict[str, Any]] = payload["parts"]
    shown = int(payload["shown"])
    if shown >= len(parts) or all(p.get("group") not in (TODAY, COMING) for p in parts[shown:]):
        return payload
    ranked = sorted(parts, key=lambda p: p.get("group") not in (TODAY, COMING))  # stable
    fits = int(compose_morning({**payload, "parts": ranked})["shown"])
    kept = sorted(ranked[:fits], key=lambda p: p["order"])
    return compose_morning({**payload, "parts": kept + ranked[fits:]}, shown=fits)


def compose_morning(payload: dict[str, Any], *, shown: int | None = None) -> dict[str, Any]:
    """Lay the message out from its parts: a header that counts them, as many whole lines as fit
    Slack's limits (50 blocks; well under its ~12k characters), "…and N more" with where to see
    them, and why it came. `shown` keeps the lines of a message already sent (a click)."""
    parts: list[dict[str, Any]] = payload["parts"]
    if shown is None:
        sizes = [(len(part["blocks"]), _chars(part["blocks"])) for part in parts]
        shown = lines_that_fit(
            sizes,
            max_blocks=MAX_BLOCKS,
            max_chars=TEXT_BUDGET,
            max_lines=MAX_LINES,
            reserve=_RESERVE,
        )
    shown = min(shown, len(parts))
    commitments = sum(1 for part in parts if part["kind"] == "commitment")
    data = len(parts) - commitments
    counts = [c for c in (_count(commitments, "commitment"), _count(data, "late data update")) if c]
    counted = " and ".join(counts)
    day = date.fromisoformat(payload["day"])
    needs = "needs" if len(parts) == 1 else "need"
    header = f"☀️ Good morning! {' and '.join(f'*{c}*' for c in counts)} {needs} you today, {short_day(due_datetime(day))}:"
    out: list[dict[str, Any]] = [SectionBlock(block_id="morning", text=_md(header)).to_dict()]
    for part in parts[:shown]:
        out.extend(part["blocks"])
    hidden = parts[shown:]
    if hidden:
        where = ["`/commit list`"] if any(p["kind"] == "commitment" for p in hidden) else []
        if any(p["kind"] == "data" for p in hidden):
            where.append("`/indicator list`")
        more = f"…and {len(hidden)} more: {', '.join(where)}"
        out.append(SectionBlock(block_id="more", text=_md(more)).to_dict())
    owned = f"you own {'this commitment' if commitments == 1 else 'these commitments'}"
    if not data:
        why, stop = owned, STOP_HINT
    elif not commitments:
        why, stop = "you are the data steward", DATA_STOP_HINT
    else:
        why, stop = f"{owned} and steward this data", f"{STOP_HINT} {DATA_STOP_HINT}"
    note = f"You're getting this because {why}; everything for one morning comes in one message."
    out.append(
        ContextBlock(block_id="why", elements=[MarkdownTextObject(text=f"{note} {stop}")]).to_dict()
    )
    return {**payload, "shown": shown, "text": _fallback(counted, parts), "blocks": out}


def changed_line(
    part: dict[str, Any],
    commitment: Commitment | None,
    *,
    recipient: str,
    now: datetime,
    noted: bool = False,
    indicator: str | None = None,
) -> dict[str, Any]:
    """A commitment's line after a click (or any change since the message was planned): done,
    dropped, snoozed, moved, handed over, or a note added; an unchanged line as it was."""
    number = part["id"]
    if commitment is None:
        return _replaced(part, [_section(number, f"✖️ #{number} no longer exists")])
    what = _what(commitment)
    if commitment.status == CommitmentStatus.DONE:
        return _replaced(part, [_section(number, f"✓ Done — {what}")])
    if commitment.status != CommitmentStatus.OPEN:
        return _replaced(part, [_section(number, f"✖️ Dropped — {what}")])
    if recipient not in commitment.owner_ids:
        owners = clip(blocks.owners_text(commitment), blocks.OWNERS_LIMIT)
        return _replaced(part, [_section(number, f"👥 Now owned by {owners} — {what}")])
    facts = part.get("holds", {}).get("commitment", {})
    details = _details(commitment, recipient=recipient, indicator=indicator)
    words: str | None = None
    if commitment.due_at.astimezone(UTC).isoformat() != facts.get("due_at"):
        words = f"📅 Now due *{due_text(commitment)}* — {what}\n{details}"
    elif commitment.snoozed_until is not None and commitment.snoozed_until > now:
        until = commitment.snoozed_until.astimezone(ZoneInfo(commitment.time_zone))
        words = f"💤 Snoozed until {format_due(until)} — {what}\n{details}"
    if words is None and not noted:
        return part
    if words is None:
        section = dict(part["blocks"][0])
        section["text"] = _md(section["text"]["text"] + "\n📝 Your note was added.").to_dict()
        return {**part, "blocks": [section, *part["blocks"][1:]]}
    if noted:
        words += "\n📝 Your note was added."
    section = _section(number, words)
    return _replaced(part, [section, blocks.commitment_actions(commitment).to_dict()])


def arrived_line(part: dict[str, Any], why: str) -> dict[str, Any]:
    """A late-data line whose value has come in (or that no longer asks this person)."""
    return _replaced(
        part, [SectionBlock(block_id=f"data-{part['id']}", text=_md(f"✓ {safe(why)}")).to_dict()]
    )


def _what(commitment: Commitment) -> str:
    return f"*#{commitment.id}* {safe(commitment.text, LINE_CLIP)}"


def _details(commitment: Commitment, *, recipient: str, indicator: str | None) -> str:
    text = f"due {due_text(commitment)}"
    if indicator:
        text += f" · #{indicator}"
    others = [owner for owner in commitment.owner_ids if owner != recipient]
    if others:
        text += " · with " + clip(", ".join(mention(o) for o in others), blocks.OWNERS_LIMIT)
    return text


def _section(number: int, text: str) -> dict[str, Any]:
    return SectionBlock(block_id=f"line-{number}", text=_md(text)).to_dict()


def _replaced(part: dict[str, Any], new_blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {**part, "blocks": new_blocks}


def _md(text: str) -> MarkdownTextObject:
    """Within a section's limit, its line breaks kept: a changed line reads like the line sent
    (what it is, then when and with whom below)."""
    rows = text.split("\n")
    room = blocks.SECTION_LIMIT // len(rows) - 1
    return MarkdownTextObject(text="\n".join(clip(row, room) for row in rows))


def _order(key: tuple[int, int, date, int]) -> list[Any]:
    group, late, due, number = key
    return [group, late, due.isoformat(), number]


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}" if n else ""


def _chars(node: Any) -> int:
    """The characters of text in some blocks, as Slack counts them toward a message's size."""
    if isinstance(node, dict):
        return sum(
            len(value) if key == "text" and isinstance(value, str) else _chars(value)
            for key, value in node.items()
        )
    if isinstance(node, list):
        return sum(_chars(item) for item in node)
    return 0


def _fallback(counted: str, parts: list[dict[str, Any]]) -> str:
    """The notification: the count, then whole lines while they fit, then how many more."""
    text = f"Good morning: {counted} need{'s' if len(parts) == 1 else ''} you today"
    listed = 0
    for part in parts:
        line = ("; " if listed else ": ") + part["text"]
        if len(text) + len(line) > FALLBACK_BUDGET - 30:
            break
        text += line
        listed += 1
    if listed < len(parts):
        text += f"; …and {len(parts) - listed} more"
    return text + "."


__all__ = [
    "MORNING",
    "STOP_HINT",
    "arrived_line",
    "changed_line",
    "commitment_line",
    "compose_morning",
    "creator_payload",
    "data_line",
    "morning_payload",
]
