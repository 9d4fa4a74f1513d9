"""Slack's error codes in words, in one place: for admins (delivery problems) and for the person
in the channel (why the bot could not post there)."""

from __future__ import annotations

# Slack error codes that mean "try again later" rather than "this will never work".
TRANSIENT = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)
_FOR_ADMINS = {
    "channel_not_found": "the channel no longer exists, or it is private and CommStat is not in "
    "it. Invite @CommStat to the channel, or set the meeting up in another one.",
    "not_in_channel": "CommStat is not a member of the channel. Invite @CommStat to it.",
    "is_archived": "the channel is archived. Set the meeting up in a channel that is in use.",
    "user_not_found": "this person's Slack account no longer exists, so no more reminders are "
    "tried for them. Drop their commitments, or log them again for someone else.",
    "user_disabled": "this person's Slack account was deactivated, so no more reminders are tried "
    "for them. Drop their commitments, or log them again for someone else.",
    "account_inactive": "the Slack account is deactivated. Log its commitments again for someone "
    "else, or "
    "reinstall CommStat if its own token was revoked.",
    "cannot_dm_bot": "the owner is a bot, which cannot receive reminders.",
    "invalid_auth": "CommStat's Slack token no longer works. Reinstall the app.",
    "not_authed": "CommStat has no Slack token. Reinstall the app.",
    "token_revoked": "CommStat's Slack token was revoked. Reinstall the app.",
    "missing_scope": "CommStat lacks a Slack permission. Reinstall it from manifest.yml.",
    "not_installed": "CommStat is not installed in this workspace any more. Reinstall the app.",
    "restricted_action": "a workspace setting stops CommStat from posting there.",
    "invalid_blocks": "Slack rejected the message's layout (a CommStat bug: please report it).",
    "msg_too_long": "the message was too long for Slack (a CommStat bug: please report it).",
    "bad_payload": "the message was malformed (a CommStat bug: please report it).",
}

# What the person who asked in a channel is told when the bot cannot post there.
_FOR_THE_CHANNEL = {
    "not_in_channel": "I'm not a member of this channel: add me with `/invite @CommStat`, then try again.",
    "channel_not_found": "I can't see this channel (private channels need `/invite @CommStat`).",
    "is_archived": "This channel is archived.",
    "restricted_action": "A workspace setting stops me from posting in this channel.",
}
CANNOT_POST_HERE = frozenset(_FOR_THE_CHANNEL)


def for_admins(code: str | None) -> str:
    """Why a scheduled message failed, and what an admin can do about it."""
    return _FOR_ADMINS.get(str(code), "Slack refused the message.")


def for_the_channel(code: str | None) -> str | None:
    """Why the bot cannot post in this channel, for the person who asked there (None: another
    kind of error)."""
    return _FOR_THE_CHANNEL.get(str(code))
