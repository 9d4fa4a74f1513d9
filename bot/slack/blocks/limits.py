"""Slack's Block Kit limits, in one place for every message builder (the digest's pure core keeps
its own copy: bot.core may not import bot.slack)."""

SECTION_LIMIT = 3000  # characters of a section block's text
MAX_BLOCKS = 50  # blocks in one message
MESSAGE_TEXT_BUDGET = (
    10_000  # a message's characters: Slack refuses some near 13k (msg_blocks_too_long)
)
