"""Words for Slack, one helper per concern: clipping, escaping, numbers, mentions, time zones.

Every module that shows text, a number or a zone uses these, so the same value reads the same
in an answer, a digest, a nudge and a chart's alt text.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"

# A Slack user id as it appears in a mention: `U…` (or `W…` on Enterprise Grid).
USER_ID = r"[UW][A-Z0-9]{2,30}"
# `<@U123>` or `<@U123|name>`, as Slack escapes a person picked from its list.
USER_MENTION = re.compile(rf"<@({USER_ID})(?:\|[^<>]*)?>")
# <!here>, <!channel>, <!everyone>, <!subteam^S123|@team>: posting these would notify everyone.
_BROADCAST = re.compile(
    r"<!(here|channel|everyone)(?:\|[^>]*)?>|<!subteam\^[A-Z0-9]+(?:\|@?([^>]*))?>"
)


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


def escape(text: str) -> str:
    """Slack's three control characters, so `<!channel>` or `<https://x|y>` is shown, not run."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shown(text: str, limit: int = 60) -> str:
    """Text someone typed, safe to echo back: one short line, escaped."""
    return escape(clip(text, limit))


def defuse_broadcasts(text: str) -> str:
    """Keep Slack-formatted text (mentions of people stay), but never ping a channel or group."""
    return _BROADCAST.sub(lambda m: "@" + (m.group(1) or m.group(2) or "group"), text)


def mention(user_id: str) -> str:
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
