"""Slack's Block Kit limits, in one place for every message builder (the digest's pure core keeps
its own copy: bot.core may not import bot.slack)."""

SECTION_LIMIT = 3000  # characters of a section block's text
