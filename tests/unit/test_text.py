"""The one text module: what people see when text is clipped, escaped, counted or zoned, and
the one door (`text.safe`) that keeps anyone else's words from running in Slack."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import text


def test_clip_keeps_short_text_and_cuts_long_text_at_a_word():
    assert text.clip("Call  the\nshelters", 40) == "Call the shelters"
    assert text.clip("Distribute naloxone kits to every shelter", 20) == "Distribute naloxone…"
    assert len(text.clip("x" * 500, 20)) == 20


# --- the one door: text the bot did not write ------------------------------------------------

HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!here|here>",
    "<!channel|hello>",
    "<!subteam^S1|@x>",
    "<!subteam^S0AB>",
    "<@U0EVIL>",
    "<@U0EVIL|lee>",
    "<#C0GENERAL|general>",
    "<https://evil.example|agenda>",
    "<https://evil.example>",
    "<mailto:a@evil.example|a@evil.example>",
    "&lt;!channel&gt;",
    "&amp;",
    "&amp;amp;",
    "&",
    "<",
    ">",
    "*bold*",
    "_it_",
    "`code`",
    " ",
    "\n",
    "é 📊 中文 ‮",
]


def hostile_text() -> st.SearchStrategy[str]:
    """Sampled pieces of Slack markup and escaping, glued together with any other text."""
    piece = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8))
    return st.lists(piece, max_size=12).map("".join)


def _unescape(sent: str) -> str:
    return (
        sent.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("@\u2060", "@")
    )


_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("<!channel> see <https://evil.example|the agenda> & more",
         "@\u2060channel see the agenda (https://evil.example) &amp; more"),
        ("<!here|here> <!everyone> <!channel|hello>", "@\u2060here @\u2060everyone @\u2060channel"),
        ("typed as words: @channel @Here", "typed as words: @\u2060channel @\u2060Here"),
        ("bidi \u202e<!channel>\u202c after", "bidi @\u2060channel after"),
        ("Brief <!subteam^S1|@outreach> and <!subteam^S2>", "Brief @outreach and @S2"),
        ("Ask <@U123|lee> and <@W999>", "Ask @lee and @W999"),
        ("In <#C1|general> or <#C2>", "In #general or #C2"),
        ("<https://x.org> <mailto:a@b.org|a@b.org>", "https://x.org a@b.org"),
        ("Due <!date^1392734382^{date}|Feb 18>", "Due Feb 18"),
        ("R&amp;D &lt;b&gt;", "R&amp;D &lt;b&gt;"),  # Slack's escaping is not escaped twice
        ("R&D <b> 3 > 2", "R&amp;D &lt;b&gt; 3 &gt; 2"),  # a form's raw text
        ("&lt;!channel&gt;", "&lt;!channel&gt;"),  # typed literally: shown literally, not run
        ("*bold* _it_ 📊", "*bold* _it_ 📊"),
    ],
)  # fmt: skip
def test_the_door_shows_words_and_runs_nothing(typed, sent):
    assert text.safe(typed) == sent


def test_the_door_clips_what_is_sent_and_never_cuts_an_escape():
    assert text.safe("Call  the\nshelters & <b>", 60) == "Call the shelters &amp; &lt;b&gt;"
    assert text.safe("&" * 200, 150) == "&amp;" * 29 + "…"
    assert text.safe("a & b " * 100, 20) == "a &amp; b a &amp; b…"


def test_the_bot_mentions_people_only_on_purpose():
    assert text.mention("U0MARIA") == "<@U0MARIA>"
    assert text.safe(text.mention("U0MARIA")) == "@U0MARIA"


@settings(max_examples=400, deadline=None)
@given(hostile_text(), st.one_of(st.none(), st.integers(min_value=0, max_value=300)))
def test_nothing_that_passes_the_door_is_live(typed, limit):
    sent = text.safe(typed, limit)
    assert "<" not in sent and ">" not in sent  # no <!…>, <@…>, <#…> or <url|label>
    assert "&" not in sent.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    if limit is not None:
        assert len(sent) <= limit
        assert "\n" not in sent


@settings(max_examples=400, deadline=None)
@given(hostile_text(), st.one_of(st.none(), st.integers(min_value=0, max_value=300)))
def test_the_door_twice_is_the_door_once(typed, limit):
    once = text.safe(typed, limit)
    assert text.safe(once, limit) == once
    assert "&amp;amp;" not in text.safe(text.safe(typed)) or "&amp;amp;" in typed


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_words_without_slack_markup_arrive_as_typed(typed):
    assert _unescape(text.safe(typed)) == _BIDI.sub("", text.plain(typed))
    if not any(c in typed for c in "<>&@") and not _BIDI.search(typed):
        assert text.plain(typed) == typed
        assert text.safe(typed) == typed


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"https://[a-z]{1,10}\.example/[a-z0-9]{0,8}", fullmatch=True),
    st.text(alphabet=st.characters(blacklist_characters="<>|&"), min_size=1, max_size=30),
)
def test_a_disguised_link_shows_its_label_and_its_address(url, label):
    sent = text.safe(f"<{url}|{label}>")
    if label.strip() and label.strip() != url:
        assert sent == f"{label.strip()} ({url})"
    assert url in sent


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
