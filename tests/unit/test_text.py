"""The one text module: what people see when text is clipped, escaped, counted or zoned."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.core import text


def test_clip_keeps_short_text_and_cuts_long_text_at_a_word():
    assert text.clip("Call  the\nshelters", 40) == "Call the shelters"
    assert text.clip("Distribute naloxone kits to every shelter", 20) == "Distribute naloxone…"
    assert len(text.clip("x" * 500, 20)) == 20


def test_shown_escapes_what_slack_would_run():
    assert text.shown("<!channel> see <https://evil.example|the agenda> & more", 200) == (
        "&lt;!channel&gt; see &lt;https://evil.example|the agenda&gt; &amp; more"
    )


def test_broadcasts_are_defused_but_people_stay_mentioned():
    assert text.defuse_broadcasts("<!here> ask <@U123ABC> and <!subteam^S1|@nurses>") == (
        "@here ask <@U123ABC> and @nurses"
    )


def test_mentioned_users_reads_both_forms():
    assert text.mentioned_users("<@U123ABC> and <@W999XYZ|lee>, not <@nobody>") == [
        "U123ABC",
        "W999XYZ",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1562, "1,562"),
        (1562.0, "1,562"),
        (123.456, "123.46"),
        (12.5, "12.5"),
        (0.8, "0.8"),
        (0.004, "0.004"),
        (-3.10, "-3.1"),
        (0, "0"),
    ],
)
def test_one_number_format_everywhere(value, expected):
    assert text.format_number(value) == expected


def test_zone_falls_back_person_then_team_then_default():
    assert text.zone_name("America/Chicago", "America/New_York") == "America/Chicago"
    assert text.zone_name(None, "America/New_York") == "America/New_York"
    assert text.zone_name("Mars/Olympus", "", "America/Denver") == "America/Denver"
    assert text.zone_name(None, None) == "UTC"
    assert text.zone("", "Europe/Paris") == ZoneInfo("Europe/Paris")
