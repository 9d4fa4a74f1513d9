"""Digests attacked: the meeting moved or stopped between the digest's planning and its sending
(Slack busy meanwhile), and a look-ahead with no following meeting."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Schedule
from tests.helpers import all_text, wait_for
from tests.scheduler.test_digest_e2e import MEETING_CHANNEL, command, digests, ny, tick


def _planned_but_not_sent(bot) -> None:
    """A Thursday meeting whose digest (due Wed Dec 2, 10:00) is planned while Slack is busy."""
    bot.clock.now = ny(30, 10)
    command(bot, "/commstat", "meeting every Thursday at 10am")
    bot.slack.fail_next("chat.postMessage", status=429, times=1)
    bot.slack.fail_next("files.getUploadURLExternal", status=429, times=1)
    report = tick(bot, ny(2, 10, 5, month=12))
    assert digests(bot) == [], report.summary()


def _has_meeting(bot) -> bool:
    with bot.services.sessions() as session:
        return session.scalars(select(Schedule)).first() is not None


def test_a_digest_whose_meeting_was_stopped_before_it_went_is_not_sent(bot):
    _planned_but_not_sent(bot)
    bot.clock.now = ny(2, 10, 10, month=12)
    bot.driver.command("/commstat", "meeting off", user="U0MARIA", channel=MEETING_CHANNEL)
    wait_for(lambda: not _has_meeting(bot))
    for minute in (20, 40):
        tick(bot, ny(2, 10, minute, month=12))
    assert [d for d in digests(bot) if "Dec 3" in all_text(d)] == []


def test_a_digest_whose_meeting_moved_before_it_went_names_the_new_day_or_waits(bot):
    _planned_but_not_sent(bot)
    bot.clock.now = ny(2, 10, 10, month=12)
    command(bot, "/commstat", "meeting every Friday at 10am")
    for at in (ny(2, 10, 20, month=12), ny(3, 10, 30, month=12), ny(4, 9, month=12)):
        tick(bot, at)
    shown = [d["blocks"][0]["text"]["text"] for d in digests(bot)]
    assert "CommStat digest — meeting Thu, Dec 3, 10:00 AM" not in shown, shown
    assert shown == ["CommStat digest — meeting Fri, Dec 4, 10:00 AM"], shown


def test_a_last_meeting_with_nothing_after_it_says_no_following_meeting_without_breaking(bot):
    bot.clock.now = ny(30, 10)
    command(bot, "/commstat", "meeting every Thursday at 10am")
    command(bot, "/commit", "Call the shelter by Dec 20", channel="C0WORK")
    tick(bot, ny(2, 10, 5, month=12))
    [digest] = digests(bot)
    assert "Coming up before the following meeting (Thu, Dec 10)" in all_text(digest)
