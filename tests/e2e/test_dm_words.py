"""Words typed in the bot's DM: the bot reads files there, not messages, and says so — once for a
run of messages, never to its own posts, never in a channel."""

from __future__ import annotations

import time

from handlers.imports import TYPED_IN_DM
from tests.helpers import wait_for

MARIA = "U0MARIA"


def _bot_said(bot, channel: str) -> list[str]:
    return [m.get("text", "") for m in bot.slack.messages(channel) if m.get("user") == "U0BOT"]


def _type(bot, user: str, text: str) -> str:
    event = bot.slack.say_in_dm(user, text)
    answer = bot.driver.event(event)
    assert answer.status == 200, answer.text
    return str(event["channel"])


def test_words_in_the_dm_get_one_pointer_to_what_the_bot_reads(bot, workers):
    dm = _type(bot, MARIA, "thanks! also, can you remind Lee?")
    wait_for(lambda: _bot_said(bot, dm))
    assert _bot_said(bot, dm) == [TYPED_IN_DM]
    assert "Drop a CSV or Excel file" in TYPED_IN_DM and "`/commit help`" in TYPED_IN_DM

    # More words straight after: the pointer is still on screen, so it is not repeated.
    _type(bot, MARIA, "hello?")
    _type(bot, MARIA, "<!channel> anyone")
    workers.settle()
    assert _bot_said(bot, dm) == [TYPED_IN_DM]


def test_the_bots_own_posts_and_channel_messages_get_no_answer(bot, workers):
    own = bot.slack.say_in_dm(MARIA, "not a person")
    own.update(user="U0BOT", bot_id="B0BOT")  # the bot's own post, as its event arrives
    assert bot.driver.event(own).status == 200
    in_channel = bot.slack.say_in_dm(MARIA, "in a channel")
    in_channel.update(channel="C0MEETING", channel_type="channel")
    assert bot.driver.event(in_channel).status == 200
    workers.settle()
    time.sleep(0.1)
    dm = str(own["channel"])
    assert _bot_said(bot, dm) == [] and not _bot_said(bot, "C0MEETING")

    _type(bot, MARIA, "and now a person")  # the same DM, a person's words: answered
    wait_for(lambda: _bot_said(bot, dm))
    assert _bot_said(bot, dm) == [TYPED_IN_DM]
