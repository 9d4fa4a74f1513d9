"""Words for Slack, one helper per concern: clipping, escaping, numbers, mentions, time zones.

Every module that shows text, a number or a zone uses these, so the same value reads the same
in an answer, a digest, a nudge and a chart's alt text.

Text the bot did not write itself (people's words, names and places from files, organisation
names) reaches Slack only through `safe`: whatever it holds, it arrives as words, never as a
broadcast, a mention or a disguised link. The bot mentions a person only with `mention`.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"

# A Slack user id as it appears in a mention: `U…` (or `W…` on Enterprise Grid).
USER_ID = r"[UW][A-Z0-9]{2,30}"
# `<@U123>` or `<@U123|name>`, as Slack escapes a person picked from its list.
USER_MENTION = re.compile(rf"<@({USER_ID})(?:\|[^<>]*)?>")

# Slack's markup: <@U1|lee>, <#C1|general>, <!channel>, <!subteam^S1|@team>, <https://x|label>.
_MARKUP = re.compile(r"<([^<>]*)>")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S")
_BROADCASTS = ("here", "channel", "everyone")
_BARE_BROADCAST = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def clip(text: str, limit: int) -> str:
    """One line of at most `limit` characters, cut at a word where it can be, with `…`."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if text[limit - 1] != " ":  # the cut falls inside a word: end at the word before it
        cut = cut.rsplit(" ", 1)[0]
    if len(cut) < (limit - 1) // 2:  # one long word: cut inside it rather than lose most of it
        cut = text[: limit - 1]
    return cut.rstrip() + "…"


def _words_for(match: re.Match[str]) -> str:
    """One piece of Slack markup as the words a reader sees in it."""
    target, _, label = match[1].partition("|")
    label = label.strip()
    if target.startswith("@"):  # a person: @lee (or @U123 when Slack sent no name)
        return "@" + (label.lstrip("@") or target[1:])
    if target.startswith("#"):  # a channel
        return "#" + (label.lstrip("#") or target[1:])
    if target.startswith("!"):
        word = target[1:]
        if word in _BROADCASTS:  # the label cannot hide a broadcast: <!channel|hello>
            return "@" + word
        if word.startswith("subteam^"):
            return "@" + (label.lstrip("@") or word.removeprefix("subteam^"))
        return label or word  # <!date^…|Feb 18>: its fallback text
    if _URL.match(target):  # a link: the address always shows next to its label
        if not label or label == target:
            return target
        if target.lower().startswith("mailto:") and label == target[len("mailto:") :]:
            return label
        return f"{label} ({target})"
    return match[0]  # not Slack's markup ("<b>"): as typed


def plain(text: str) -> str:
    """Slack's markup and escaping as the words a person sees: `<@U1|lee>` → `@lee`,
    `<!channel>` → `@channel`, `<https://x|the agenda>` → `the agenda (https://x)`,
    `&amp;` → `&`. Text with neither comes back unchanged, so typed words are stored as typed."""
    text = _MARKUP.sub(_words_for, str(text))
    return _ENTITY.sub(lambda m: _ENTITIES[m[1]], text)


def safe(text: str, limit: int | None = None) -> str:
    """The one door to Slack for text the bot did not write: shown as words, never run.

    Takes plain text or Slack-escaped text (a slash command's) alike: markup is read as words
    first (`plain`), so a broadcast or group becomes `@channel`, a person `@lee` (never a
    mention), a disguised link its label and address; then `&`, `<` and `>` are escaped, so
    nothing in the result is live. With `limit`, the result is one line of at most that many
    characters as sent (an escaped `&` takes five of them, which is what Block Kit's limits
    count), cut at a word before escaping, so an escape is never cut in half. Applying it twice
    changes nothing: no `&amp;amp;`.
    """
    words = _BIDI.sub("", plain(text))  # an override could reorder the bot's own words after it
    if limit is None:
        return _escape(words)
    if limit < 1:
        return ""
    escaped = _escape(clip(words, limit))
    if len(escaped) <= limit:
        return escaped
    low, high = 1, limit - 1  # the longest clip whose escaped form still fits
    best = "…"
    while low <= high:
        room = (low + high) // 2
        candidate = _escape(clip(words, room))
        if len(candidate) <= limit:
            best, low = candidate, room + 1
        else:
            high = room - 1
    return best


def _escape(text: str) -> str:
    """`&<>` escaped, and a bare @channel/@here/@everyone broken by an invisible word joiner:
    Slack parses those words in mrkdwn unless `verbatim` is set, so they could still notify."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BARE_BROADCAST.sub("@\u2060", text)


def mention(user_id: str) -> str:
    """A person the bot means to mention (an owner, a steward): the only live mention it sends."""
    return f"<@{user_id}>"


def mentioned_users(text: str) -> list[str]:
    """The user ids of every `<@U…>` in Slack-formatted text, in order."""
    return USER_MENTION.findall(text)


def format_number(value: float) -> str:
    """1562 -> "1,562"; 123.456 -> "123.46"; 0.8 -> "0.8"; 0.004 -> "0.004".

    At most two decimals and no trailing zeros, so a rate and a count read alike everywhere;
    values under 0.01 keep three significant digits rather than becoming "0".
    """
    value = float(value)
    if value.is_integer():
        return f"{int(value):,}"
    if 0 < abs(value) < 0.01:
        return f"{value:.3g}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def valid_zone(name: str | None) -> str | None:
    """The IANA zone name if it is one, else None."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def zone_name(*candidates: str | None) -> str:
    """The first real zone among person → team → default (UTC when none is)."""
    for candidate in candidates:
        if found := valid_zone(candidate):
            return found
    return DEFAULT_ZONE


def zone(*candidates: str | None) -> ZoneInfo:
    """`zone_name` as a ZoneInfo: `zone(person.time_zone, team.time_zone, settings.timezone)`."""
    return ZoneInfo(zone_name(*candidates))


# How a change is shown, the same in /indicator, the digest and a chart's alt text.
ARROWS = {"up": "▲", "down": "▼", "flat": "■"}


def arrow(change: float) -> str:
    return ARROWS["up"] if change > 0 else ARROWS["down"] if change < 0 else ARROWS["flat"]


def signed_number(value: float) -> str:
    """+67, −67 (a real minus sign), ±0."""
    return ("+" if value > 0 else "−" if value < 0 else "±") + format_number(abs(value))


def format_percent(value: float) -> str:
    """The size of a change in percent, one decimal: 4.1% (the arrow or word gives the sign)."""
    return f"{abs(value):.1f}%"
