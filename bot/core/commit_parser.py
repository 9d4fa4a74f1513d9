"""Reading what people type after `/commit`: a new commitment's owners, action, due date and
indicator tag; which commitments `list` asks for; how long `snooze` means.

The date is whatever follows the LAST date separator (` by `, ` due `, ` before `, ...) outside
quotes, so words in the action ("Monitor overdoses in ward 5", "Read 'The 5th Wave'") never become
the due date. A trailing "in 2 weeks" or "next week" (`this week`, `next month`, `end of next
week`) needs no separator, unless the action reads on into it ("Plan the events for next month"). Readings are offered best first, one per
separator from the last back; an earlier one reads only up to the next separator and gives the
rest back to the action ("Send report by Friday by email"). `parse_commit` keeps the first whose
date parses, but never reaches back past a real date that is refused (past, too far, no meeting).

Slack sends the text escaped (`&amp;`, `<@U123|lee>`, `<https://x|label>`); owners are read from
that, and `what` is then kept as the words people read (`&`, `@lee`, `label (https://x)`), as the
form's text arrives: `bot.core.text.safe` escapes it again on its way back to Slack, and a name
inside the action is never a live mention.

Everything here is pure: `now` and the time zone are arguments, refusals are CommitTextError.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.core.dates import DateError, DateErrorReason, Due, parse_due
from bot.core.text import USER_MENTION, clip, plain, safe

MAX_TEXT_CHARS = 2000
MAX_OWNERS = 10  # as the new-commitment form allows

CommitErrorReason = (
    Literal[
        "empty",
        "no_what",
        "no_date",
        "too_long",
        "unknown_mention",
        "too_many_owners",
        "list",
        "snooze",
        "number",
    ]
    | DateErrorReason
)

EXAMPLES = (
    "/commit Send the naloxone report by Friday",
    "/commit Send the naloxone report by Dec 4",
    "/commit Send the naloxone report in 2 weeks",
)


@dataclass(frozen=True)
class CommitDraft:
    """One reading of the text; `when` is None when no date phrase was found. `indicator` is the
    first `#tag`, the one linked; `tags` all of them, in order (a commitment links one)."""

    owners: tuple[str, ...]
    what: str
    when: str | None
    indicator: str | None
    tags: tuple[str, ...] = field(default=(), compare=False)  # derived from the text


@dataclass(frozen=True)
class ParsedCommit:
    """A commitment ready to store; empty `owners` means the invoking user."""

    owners: tuple[str, ...]
    what: str
    due: Due
    indicator: str | None
    tags: tuple[str, ...] = field(default=(), compare=False)  # derived from the text


class CommitTextError(ValueError):
    """Why the text is not a commitment; `str(exc)` is the message for the user."""

    def __init__(self, message: str, *, reason: CommitErrorReason) -> None:
        super().__init__(message)
        self.message = message
        self.reason: CommitErrorReason = reason


def unknown_mention_message(word: str) -> str:
    """A plain-text `@name`: Slack only sends a person's id when they are picked from its list."""
    word = safe(word.replace("`", ""), 40)
    return (
        f"I couldn't tell who `{word}` is — pick the person from Slack's list as you type @, "
        "so the mention turns blue."
    )


# --------------------------------------------------------------------------------------------

# Control characters go; newlines and tabs become spaces. Invisible formatting that can hide or
# reorder text (bidi overrides, zero-width space, BOM) goes too; the zero-width joiner that
# builds emoji stays.
_CONTROL_RE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2066-\u2069\ufeff]"
)
_LEADING_MENTIONS_RE = re.compile(
    r"\s*<@(?P<id>[UW][A-Z0-9]+)(?:\|[^<>]*)?>"
    r"(?:\s*(?:,|and\b|&amp;|&)?\s*(?=<@[UW]))?",
    re.IGNORECASE,
)
# A name typed without picking it from Slack's list arrives as plain text ("@lee"), not <@U...>.
_PLAIN_MENTION_RE = re.compile(r"@\w[^\s@<>,;:!?`*]*")
_OWNERS_WILL_RE = re.compile(r"^(?:to|will|are going to|is going to)\s+(?=\w)", re.IGNORECASE)
_OWNER_JOINER_RE = re.compile(r"(?:,\s*)?(?:(?:and\b|&amp;|&)\s*)?", re.IGNORECASE)
# Quoted titles and Slack entities (<@U1>, <#C1|x>, <https://...|label>) are never read.
_PROTECTED_RE = re.compile(r"\"[^\"]*\"|“[^”]*”|‘[^’]*’|(?<!\w)'(?=\S)[^']*(?<=\S)'(?!\w)|<[^<>]*>")
_SEPARATOR_RE = re.compile(
    r"(?<!\S)(?:due\s+(?:by|on|before)|due|by|before|no\s+later\s+than)(?!\S)", re.IGNORECASE
)
_TRAILING_IN_RE = re.compile(
    r"(?<!\S)(?:in|within)\s+(?:\d{1,4}|an?|one|two|three|four|five|six|seven|eight|nine|ten"
    r"|eleven|twelve|a\s+couple\s+of)\s+(?:(?:working|business)\s+)?(?:days?|weeks?|months?)"
    r"(?:'?\s+time)?"
    r"(?=(?:\s+#[A-Za-z][\w-]*)*[\s.!]*$)",
    re.IGNORECASE,
)
# "... next week" at the end: a period's end, as after "by"; not after words that make it part of
# the action ("the plan for next month", "the report of this week")
_TRAILING_PERIOD_RE = re.compile(
    r"(?<!\S)(?:(?:the\s+)?end\s+of\s+)?(?:this|next)\s+(?:week|month|quarter)"
    r"(?=(?:\s+#[A-Za-z][\w-]*)*[\s.!]*$)",
    re.IGNORECASE,
)
_PART_OF_ACTION_RE = re.compile(
    r"(?:^|\s)(?:for|of|from|during|about|since|after|until|till|through|in|on|at|to)\s*$",
    re.IGNORECASE,
)
_TAG_RE = re.compile(r"(?<![\w#&/])#(?P<tag>[A-Za-z](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)(?![\w-])")
_OUTER_QUOTES = (('"', '"'), ("“", "”"), ("'", "'"), ("‘", "’"))
_TRIM_END = " .,;:!?-–—"
_TRIM_START = " ,;:-–—"


def tidy(text: str) -> str:
    """One line without control or invisible characters: what a commitment's words are stored as,
    from the command and the form alike (a text of zero-width spaces is empty)."""
    return " ".join(_CONTROL_RE.sub("", text).split())


def split_commit(text: str) -> list[CommitDraft]:
    """All plausible readings of a `/commit` line, best first (usually exactly one).

    Raises CommitTextError only for empty or over-long text, a plain-text `@name` where the
    owners go (Slack did not resolve it to a person), or more than MAX_OWNERS owners; judging the
    readings is `parse_commit`'s job.
    """
    if len(text) > MAX_TEXT_CHARS:
        raise CommitTextError(
            f"That is too long for a commitment (over {MAX_TEXT_CHARS} characters) — "
            "keep the action short and put details in a note.",
            reason="too_long",
        )
    text = tidy(text)
    if not text:
        raise CommitTextError(
            "Say what you will do and by when, e.g. `" + EXAMPLES[0] + "`.", reason="empty"
        )
    owners, text = _leading_owners(text)
    protected = [m.span() for m in _PROTECTED_RE.finditer(text)]

    def is_free(start: int, end: int) -> bool:
        return not any(start < p_end and p_start < end for p_start, p_end in protected)

    # each cut: the action ends at `what_end`, the date phrase is text[when_start:when_end], and
    # anything after it (a later, unreadable "by ...") goes back into the action
    cuts: list[tuple[int, int, int]] = []
    separators = [m for m in _SEPARATOR_RE.finditer(text) if is_free(*m.span())]
    trailing = [m for m in _TRAILING_IN_RE.finditer(text) if is_free(*m.span())]
    if not trailing:
        trailing = [
            m
            for m in _TRAILING_PERIOD_RE.finditer(text)
            if is_free(*m.span()) and not _PART_OF_ACTION_RE.search(text[: m.start()])
        ]
    # "... in 2 weeks" needs no "by", unless one is right before it ("due in 2 weeks")
    if trailing and not any(not text[m.end() : trailing[-1].start()].strip() for m in separators):
        start = trailing[-1].start()
        cuts.append((start, start, len(text)))  # the phrase keeps its "in"
    for index in range(len(separators) - 1, -1, -1):
        sep = separators[index]
        end = separators[index + 1].start() if index + 1 < len(separators) else len(text)
        cuts.append((sep.start(), sep.end(), end))

    drafts: list[CommitDraft] = []
    for what_end, when_start, when_end in cuts:
        when, when_tags = _tidy_when(text[when_start:when_end])
        if not when:
            continue
        what, what_tag = _tidy_what(text[:what_end] + " " + text[when_end:])
        indicator = what_tag or (when_tags[0] if when_tags else None)
        tags = _all_tags(text[:what_end] + " " + text[when_end:], when_tags)
        draft = CommitDraft(owners, what, when, indicator, tags)
        if draft not in drafts:
            drafts.append(draft)
    if not drafts:
        what, tag = _tidy_what(text)
        drafts.append(CommitDraft(owners, what, None, tag, _all_tags(text, [])))
    return drafts


def parse_commit(
    text: str, *, now: datetime, tz: str, next_meeting: datetime | None = None
) -> ParsedCommit:
    """Read a `/commit` line into a commitment, or explain to the user what is missing."""
    return read_commit(split_commit(text), now=now, tz=tz, next_meeting=next_meeting)


def read_commit(
    drafts: Sequence[CommitDraft], *, now: datetime, tz: str, next_meeting: datetime | None = None
) -> ParsedCommit:
    """The first reading whose date parses in `tz`; the form gives exactly one reading.

    Never reaches back past a real date that is refused (past, too far, no meeting): the person
    meant that date, and an earlier "by" would silently pick another.
    """
    best = drafts[0]
    if not best.what:
        raise CommitTextError(
            "Say what you will do before the date, e.g. `" + EXAMPLES[0] + "`.",
            reason="no_what",
        )
    if best.when is None:
        examples = ", ".join(f"`{e}`" for e in EXAMPLES)
        raise CommitTextError(
            f"When is it due? Add a date, for example {examples}.", reason="no_date"
        )
    first_error: DateError | None = None
    for draft in drafts:
        if not draft.what or draft.when is None:
            continue
        try:
            due = parse_due(draft.when, now=now, tz=tz, next_meeting=next_meeting)
        except DateError as exc:
            if first_error is None:
                first_error = exc
                if exc.reason != "unrecognised":
                    break  # a real date that we refuse: do not reach back for an earlier "by"
            continue
        return ParsedCommit(draft.owners, draft.what, due, draft.indicator, draft.tags)
    if first_error is None:  # unreachable: the best draft has both, so it was tried
        raise CommitTextError("When is it due?", reason="no_date")
    raise CommitTextError(str(first_error), reason=first_error.reason) from first_error


# --- the words after the command ------------------------------------------------------------

FOLLOW_UP_VERBS = ("done", "drop", "move", "note", "snooze")
_NUMBER_RE = re.compile(r"^#?\d+$")


def is_commitment_number(word: str) -> bool:
    """`12` or `#12`: the commitment a follow-up verb is about."""
    return _NUMBER_RE.match(word) is not None


def looks_like_a_number(word: str) -> bool:
    """`#`, `##3`, `#1;`: meant as a commitment number, never the start of an action."""
    return word.startswith("#") and not any(ch.isalpha() for ch in word)


_SEVERAL_JOINER_RE = re.compile(r"^(?:,|and|&amp;|&)$", re.IGNORECASE)


def several_numbers(words: Sequence[str]) -> list[int] | None:
    """`3 4`, `3, 4`, `3,4`, `#3 #4`, `3 and 4`: the commitments `done` closes together; None
    when the words are anything else (`3 Posted the map` is #3 with a note). Each once, in order."""
    pieces = [p for word in words for p in re.split(r"(,)", word) if p]
    numbers: list[int] = []
    for piece in pieces:
        if _SEVERAL_JOINER_RE.match(piece):
            continue
        if not is_commitment_number(piece.rstrip(".")):
            return None
        numbers.append(parse_id(piece.rstrip(".")))
    unique = list(dict.fromkeys(numbers))
    return unique if len(numbers) > 1 else None


def parse_id(text: str) -> int:
    """`12`, `#12` or ` #12 `: a commitment's number, from a command or a button's value."""
    raw = text.strip().removeprefix("#")
    if raw.isdigit() and len(raw) > 9:
        raise CommitTextError(f"I can't find commitment #{clip(raw, 12)}.", reason="number")
    if not raw.isdigit():
        raise CommitTextError(
            f"`{safe(text, 20)}` is not a commitment number. Use the number shown as `#12`.",
            reason="number",
        )
    return int(raw)


def too_many_owners_message(count: int) -> str:
    return (
        f"A commitment can have at most {MAX_OWNERS} owners, and this names {count}. Name the "
        f"{MAX_OWNERS} people who will do it (or make one commitment per group). Nothing was saved."
    )


_MOVE_TO_RE = re.compile(r"^\s*(?:to|until|till)(?:\s+|$)", re.IGNORECASE)


def move_phrase(text: str) -> str:
    """The new date in `/commit move 12 to next Tuesday`: a leading `to` (`until`) is not part
    of it."""
    return _MOVE_TO_RE.sub("", text, count=1).strip()


def which_commitment_message(verb: str, *, new_hint: bool) -> str:
    """A follow-up verb without a usable number; `new_hint` when it may be a new commitment."""
    example = {"move": "12 next Friday", "drop": "12 <reason>", "note": "12 <text>"}.get(verb, "12")
    message = (
        f"Which commitment? Give its number, e.g. `/commit {verb} {example}` "
        "(numbers are in the confirmation and in `/commit list`)."
    )
    if new_hint:
        message += " To make a new commitment, say when it's due, e.g. `/commit <what> by Friday`."
    return message


@dataclass(frozen=True)
class ListFilter:
    """What `/commit list ...` asks for; no person and not `everyone` means my own."""

    person: str | None = None
    everyone: bool = False
    overdue: bool = False


_LIST_WORDS = {
    "all": "everyone", "everyone": "everyone", "everybody": "everyone",
    "mine": "mine", "me": "mine", "my": "mine",
    "overdue": "overdue", "late": "overdue",
}  # fmt: skip
# a name typed without picking it from Slack's list: plain text, not <@U...>
_PLAIN_NAME_RE = re.compile(r"^@\w")


def read_list_filter(words: Sequence[str]) -> ListFilter | None:
    """The filter words after `list`, or None when some word is not one (then it may be a new
    commitment, "List the shelters by Friday"). A person typed as plain `@name` is refused."""
    person: str | None = None
    everyone = mine = overdue = False
    for word in words:
        mention = USER_MENTION.fullmatch(word)
        kind = _LIST_WORDS.get(word.lower())
        if mention:
            if person is not None and person != mention.group(1):
                raise CommitTextError(
                    "I can list one person's commitments at a time, e.g. `/commit list @lee`.",
                    reason="list",
                )
            person = mention.group(1)
        elif _PLAIN_NAME_RE.match(word):
            raise CommitTextError(
                unknown_mention_message(word.rstrip(".,;:!?")), reason="unknown_mention"
            )
        elif kind == "everyone":
            everyone = True
        elif kind == "mine":
            mine = True
        elif kind == "overdue":
            overdue = True
        else:
            return None
    if person is None and mine:
        everyone = False
    elif person is None and overdue:
        everyone = True  # `/commit list overdue` is everyone's overdue commitments
    return ListFilter(person=person, everyone=everyone and person is None, overdue=overdue)


def list_usage_message(words: Sequence[str]) -> str:
    """Why the words after `list` are neither a filter nor a new commitment with a date."""
    for word in words:
        if _PLAIN_NAME_RE.match(word):
            return unknown_mention_message(word.rstrip(".,;:!?"))
    unknown = next(
        (w for w in words if not USER_MENTION.fullmatch(w) and w.lower() not in _LIST_WORDS),
        words[0],
    )
    return (
        f"I don't know how to list `{_quoted(unknown, 30)}`. Try `/commit list` (yours), "
        "`/commit list @someone`, `/commit list all` or `/commit list overdue`. "
        "To make a new commitment, say when it's due, e.g. `/commit <what> by Friday`."
    )


SNOOZE_DEFAULT_DAYS = 3
_SNOOZE_RE = re.compile(
    r"(?:for )?(?P<n>\d{1,4}|an?|one)(?: ?(?P<unit>d|days?|w|wks?|weeks?))?", re.IGNORECASE
)


def snooze_days(text: str, commitment_id: int) -> int:
    """`5`, `5 days`, `1 week`, `for 2 weeks` (nothing: the default); anything else is refused
    rather than silently snoozed for the default. The 1-30 day range is the use case's rule."""
    text = " ".join(text.split())
    if not text:
        return SNOOZE_DEFAULT_DAYS
    match = _SNOOZE_RE.fullmatch(text)
    if match is None or (not match["n"].isdigit() and not match["unit"]):
        raise CommitTextError(
            f"I can't read “{_quoted(text, 30)}” as how long to snooze. Give days or weeks, "
            f"1 to 30 days, e.g. `/commit snooze {commitment_id} 3 days` or "
            f"`/commit snooze {commitment_id} 1 week`.",
            reason="snooze",
        )
    count = int(match["n"]) if match["n"].isdigit() else 1
    weeks = (match["unit"] or "d").lower().startswith("w")
    return count * 7 if weeks else count


def _quoted(word: str, limit: int) -> str:
    """A word the person typed, short enough to quote back inside backticks, made safe."""
    return safe(word.replace("`", ""), limit)


# --------------------------------------------------------------------------------------------


def _leading_owners(text: str) -> tuple[tuple[str, ...], str]:
    """User mentions at the start assign the commitment; later ones are part of the action."""
    owners: list[str] = []
    position = 0
    while match := _LEADING_MENTIONS_RE.match(text, position):
        user_id = match["id"].upper()
        if user_id not in owners:
            owners.append(user_id)
        position = match.end()
    if len(owners) > MAX_OWNERS:
        raise CommitTextError(too_many_owners_message(len(owners)), reason="too_many_owners")
    rest = text[position:].strip()
    if owners:  # "<@U1> to draft the MOU", "<@U1> will draft it": the action is "draft …"
        rest = _OWNERS_WILL_RE.sub("", rest, count=1)
    # "<@U1> and @sam ...": the joiner only counts after a real mention
    joiner = _OWNER_JOINER_RE.match(rest) if owners else None
    if plain := _PLAIN_MENTION_RE.match(rest, joiner.end() if joiner else 0):
        word = plain[0].rstrip(".")
        raise CommitTextError(
            unknown_mention_message(word) + " Nothing was saved.", reason="unknown_mention"
        )
    return tuple(owners), rest


def _strip_outer_quotes(text: str) -> str:
    for opening, closing in _OUTER_QUOTES:
        inner = text[1:-1]
        if (
            len(text) >= 2
            and text.startswith(opening)
            and text.endswith(closing)
            and opening not in inner
            and closing not in inner
        ):
            return inner.strip()
    return text


def _free_tags(text: str) -> list[re.Match[str]]:
    protected = [m.span() for m in _PROTECTED_RE.finditer(text)]
    return [
        m
        for m in _TAG_RE.finditer(text)
        if not any(m.start() < p_end and p_start < m.end() for p_start, p_end in protected)
    ]


def _all_tags(what: str, when_tags: Sequence[str]) -> tuple[str, ...]:
    """Every `#tag` once, the action's first (the first one is the one linked)."""
    found = [m["tag"] for m in _free_tags(" ".join(what.split()))] + list(when_tags)
    return tuple(dict.fromkeys(found))


def _tidy_what(raw: str) -> tuple[str, str | None]:
    """Collapse spaces, take out the indicator tag, trim punctuation and outer quotes.

    The first tag is the indicator. Tags at either end are labels and are removed; the
    indicator tag inside the sentence ("Send the #naloxone report") keeps its word, so the
    action still reads well.
    """
    text = " ".join(raw.split())
    tags = _free_tags(text)
    indicator = tags[0]["tag"] if tags else None
    while tags:
        last, first = tags[-1], tags[0]
        if not text[last.end() :].strip(_TRIM_END):
            text = text[: last.start()] + text[last.end() :]
        elif not text[: first.start()].strip(_TRIM_START):
            text = text[: first.start()] + text[first.end() :]
        else:
            break
        tags = _free_tags(text)
    for match in tags:
        if match["tag"] == indicator:
            text = text[: match.start()] + match["tag"] + text[match.end() :]
            break
    text = _trim_end(" ".join(text.split()).lstrip(_TRIM_START))
    unquoted = _strip_outer_quotes(text)
    if unquoted != text:
        text = _trim_end(unquoted.lstrip(_TRIM_START))
    return plain(text), indicator


def _trim_end(text: str) -> str:
    """Trailing punctuation goes; the `;` that ends Slack's `&amp;` stays with it."""
    while text and text[-1] in _TRIM_END and not text.endswith(("&amp;", "&lt;", "&gt;")):
        text = text[:-1]
    return text


def _tidy_when(raw: str) -> tuple[str, list[str]]:
    """The date phrase without tags (they cannot be part of a date) and outer quotes."""
    tags = [m["tag"] for m in _TAG_RE.finditer(raw)]
    text = " ".join(_TAG_RE.sub(" ", raw).split()).strip(_TRIM_START).rstrip(_TRIM_END)
    text = _strip_outer_quotes(text).rstrip(_TRIM_END)
    return text, tags
