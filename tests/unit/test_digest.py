"""The digest builder: what the meeting channel reads, within Slack's limits at any size."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import sessionmaker

from bot.core.digest import (
    SINCE_INSTANT,
    SINCE_LOOKBACK,
    SINCE_MEETING,
    DigestData,
    Item,
    Listing,
    Move,
    Stale,
    Window,
    coming_words,
    due_words,
    holiday_line,
    holiday_notice,
    move_line,
    since_words,
)
from bot.followup.digest import draft, render
from bot.slack.blocks.digest import build_blocks
from storage.db import make_engine
from storage.models import (
    Commitment,
    CommitmentOwner,
    CommitmentStatus,
    Direction,
    Indicator,
    IndicatorValue,
    Team,
)

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Wed Nov 25, 10:00 New York
SINCE = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
MEETING = datetime(2026, 11, 26, 10, 0, tzinfo=NY)
FOLLOWING = datetime(2026, 12, 3, 10, 0, tzinfo=NY)
WINDOW = Window(
    since=SINCE,
    now=NOW,
    next_meeting=MEETING,
    following_meeting=FOLLOWING,
    since_kind=SINCE_MEETING,
)


def texts(blocks):
    """The lists' sections (not the note about a meeting on a holiday)."""
    return [
        b["text"]["text"]
        for b in blocks
        if b["type"] == "section" and not b["text"]["text"].startswith("🗓️")
    ]


def everything(blocks):
    return json.dumps(blocks, ensure_ascii=False)


def items(n, *, late=0, start=1):
    return [
        Item(
            id=start + i,
            text=f"Distribute naloxone kits at site {i} " + "and train the staff there " * 3,
            owners=("U0MARIA", "U0LEE") if i % 2 else ("U0SAM",),
            due="Mon, Nov 16, 2026",
            days_late=late,
            closed="Tue, Nov 24, 2026",
        )
        for i in range(n)
    ]


def data_with(n, *, late=9):
    listing = lambda made: Listing(made, n)  # noqa: E731
    return DigestData(
        done=listing(items(min(n, 10))),
        overdue=listing(items(min(n, 10), late=late)),
        upcoming=listing(items(min(n, 10))),
        coming=listing(items(min(n, 10))),
        new=listing(items(min(n, 10))),
        moves=Listing(
            [
                Move(
                    "Overdose deaths",
                    "od",
                    "MD",
                    "12 months ending Apr 2025",
                    1500,
                    "deaths",
                    "12 months ending Mar 2025",
                    -120,
                    "good",
                )
            ]
            * min(n, 10),
            n,
        ),
        stale=Listing(
            [Stale("Naloxone dispensing rate", "2023", date(2025, 3, 31), "U0KIM")] * min(n, 10), n
        ),
    )


def build_digest(session, **window):
    """Read in the test's transaction, then drawn (the scheduler draws after it closes)."""
    return render(draft(session, **window))


def check_limits(blocks):
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    assert len(everything(blocks)) < 12000  # below where Slack starts refusing long messages


def build(data, window=WINDOW, **options):
    return build_blocks(
        data,
        title="CommStat digest — meeting Thu, Nov 26, 10:00 AM",
        window=window,
        zone=NY,
        **options,
    )


def test_an_empty_digest_says_so_in_each_section():
    text, blocks = build(DigestData())
    check_limits(blocks)
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "CommStat digest — meeting Thu, Nov 26, 10:00 AM"
    sections = texts(blocks)
    assert sections[0] == "*✅ Done since the last meeting (Thu, Nov 19)*\nNothing completed yet."
    assert sections[1] == "*⚠️ Overdue*\nNothing overdue. 🎉"
    assert sections[2] == "*📅 Due before the next meeting (Thu, Nov 26)*\nNothing due."
    assert sections[3] == (
        "*🔭 Coming up before the following meeting (Thu, Dec 3)*\nNothing due then."
    )
    assert sections[4] == "*🆕 New since the last meeting (Thu, Nov 19)*\nNo new commitments."
    assert sections[5].startswith("*📈 Indicators with new data since the last meeting (Thu, Nov")
    assert blocks[1]["elements"][0]["text"] == (
        "Since the last meeting, Thu, Nov 19, 10:00 AM · commitments from all channels"
        " · next meeting Thu, Nov 26, 10:00 AM, then Thu, Dec 3, 10:00 AM"
    )
    assert text.startswith("CommStat digest — meeting Thu, Nov 26, 10:00 AM: 0 overdue")
    assert "0 coming up" in text


def test_five_items_are_all_listed_with_owners_and_days_late():
    text, blocks = build(data_with(5))
    check_limits(blocks)
    overdue = texts(blocks)[1]
    assert overdue.startswith("*⚠️ Overdue* (5)")
    assert overdue.count("\n• ") == 5
    assert "*#2* Distribute naloxone kits at site 1" in overdue
    assert "<@U0MARIA>, <@U0LEE>" in overdue
    assert "*9 days late*" in overdue
    assert "⚑ *flagged: over a week late*" in overdue
    assert "more" not in overdue
    assert "5 overdue" in text


def test_a_week_late_is_not_yet_flagged():
    _, blocks = build(data_with(1, late=7))
    assert "*7 days late*" in texts(blocks)[1]
    assert "flagged" not in texts(blocks)[1]


def test_three_hundred_items_are_summarised_never_cut():
    _, blocks = build(data_with(300))
    check_limits(blocks)
    sections = texts(blocks)
    overdue = sections[1]
    lines = overdue.split("\n")
    assert lines[0] == "*⚠️ Overdue* (300)"
    shown = [line for line in lines if line.startswith("• ")]
    # Seven full sections would pass Slack's ~13k limit for a message: each is held to the same
    # length, in whole lines, and says how many more there are and where to read them.
    assert 5 <= len(shown) < 10
    assert all(line.endswith(("late*", "over a week late*")) for line in shown)  # whole lines
    more = 300 - len(shown)
    assert lines[-1] == f"_…and {more} more_ — `/commit list overdue`"
    assert sections[2].endswith(" more_ — `/commit list all`")
    assert sections[3].endswith(" more_ — `/commit list all`")
    assert sections[0].endswith(" more_")
    for section in sections:  # what is shown and what is counted add up to the whole list
        assert section.count("\n• ") + int(section.split("_…and ")[1].split()[0]) == 300


def test_a_long_list_shortens_itself_and_leaves_the_short_ones_whole():
    data = data_with(300)
    data.done, data.upcoming, data.coming = Listing(items(2), 2), Listing(), Listing(items(1), 1)
    _, blocks = build(data)
    check_limits(blocks)
    done, overdue, due, coming = texts(blocks)[:4]
    assert done.count("\n• ") == 2 and "more" not in done
    assert due.endswith("Nothing due.") and coming.count("\n• ") == 1
    assert overdue.count("\n• ") == 10 or "more" in overdue


def test_long_commitment_texts_are_shortened_at_a_word_and_sections_stay_whole():
    long = [
        Item(id=i, text="word " * 800, owners=tuple(f"U{i:08d}" for i in range(20)), due="x")
        for i in range(10)
    ]
    _, blocks = build(DigestData(overdue=Listing(long, 10)))
    check_limits(blocks)
    overdue = texts(blocks)[1]
    assert "word…" in overdue
    shown = overdue.count("\n• ")
    if shown < 10:
        assert f"…and {10 - shown} more" in overdue


def test_indicator_lines_show_value_change_arrow_and_verdict():
    down = Move("Overdose deaths", "od", "MD", "Apr 2025", 1500, "deaths", "Mar 2025", -120, "good")
    assert move_line(down) == (
        "• *Overdose deaths* (MD): *1,500* deaths for Apr 2025 ▼ −120 (−7.4%) vs Mar 2025 — 🟢 good"
    )
    up = Move("Naloxone kits given", "kits", "", "Oct 2026", 210, None, "Sep 2026", 30, "good")
    assert "▲ +30 (+16.7%) vs Sep 2026 — 🟢 good" in move_line(up)
    bad = Move("Overdose deaths", "od", "", "Apr 2025", 1500, None, "Mar 2025", 20, "bad")
    assert move_line(bad).endswith("— 🔴 bad")


def test_without_a_meeting_every_heading_names_the_week_it_covers():
    local = NOW.astimezone(NY)
    window = Window(since=local - timedelta(days=7), now=local, since_kind=SINCE_LOOKBACK)
    _, blocks = build(DigestData(), window)
    sections = texts(blocks)
    assert sections[0].startswith("*✅ Done in the last 7 days*")
    assert sections[2].startswith("*📅 Due in the next 7 days (by Wed, Dec 2)*")
    assert sections[3].startswith("*🔭 Coming up in the 7 days after that (by Wed, Dec 9)*")
    assert sections[4].startswith("*🆕 New in the last 7 days*")
    assert "last meeting" not in everything(blocks) and "next meeting" not in everything(blocks)
    assert blocks[1]["elements"][0]["text"] == "The last 7 days · commitments from all channels"


# --- from the database ------------------------------------------------------------------------


@pytest.fixture
def session(db_url):
    engine = make_engine(db_url)
    with sessionmaker(engine).begin() as session:
        session.add(
            Team(
                id="T1", time_zone="America/New_York", created_at=NOW, working_days=[], holidays=[]
            )
        )
        session.flush()
        yield session
        session.rollback()
    engine.dispose()


def add(
    session, n, *, due, status=CommitmentStatus.OPEN, created=SINCE, closed=None, owner="U0MARIA"
):
    for i in range(n):
        commitment = Commitment(
            team_id="T1",
            text=f"Task {i}",
            status=status,
            due_at=due + timedelta(minutes=i),
            time_zone="America/New_York",
            created_at=created,
            closed_at=closed,
            creator_id="U0ADMIN",
            channel_id="C0OTHER",
        )
        commitment.owners = [CommitmentOwner(user_id=owner, team_id="T1", position=0)]
        session.add(commitment)
    session.flush()


def overdose_deaths(**fields):
    """A monthly indicator stewarded by U0KIM (no values yet)."""
    return Indicator(
        team_id="T1",
        slug="od",
        name="Overdose deaths",
        unit="deaths",
        period_kind="monthly",
        update_frequency="monthly",
        created_at=NOW,
        updated_at=NOW,
        steward_id="U0KIM",
        **fields,
    )


def add_value(session, indicator, start, value, *, updated_at, period=None):
    """One whole-jurisdiction value; its period is the month of `start` unless given."""
    session.add(
        IndicatorValue(
            team_id="T1",
            indicator_id=indicator.id,
            period=period or f"{start:%Y-%m}",
            period_start=start,
            geography="",
            value=value,
            updated_at=updated_at,
        )
    )


@pytest.mark.parametrize("n", [0, 5, 300])
def test_build_digest_from_the_database(session, n):
    add(session, n, due=NOW - timedelta(days=10))  # overdue
    add(session, n, due=NOW + timedelta(hours=5), owner="U0LEE")  # due before the meeting
    add(session, 2, due=NOW + timedelta(days=5))  # after the meeting: not listed as due
    add(
        session,
        n,
        due=NOW - timedelta(days=1),
        status=CommitmentStatus.DONE,
        closed=NOW - timedelta(days=1),
    )
    add(session, 1, due=NOW, status=CommitmentStatus.DONE, closed=SINCE - timedelta(days=1))
    digest = build_digest(
        session,
        team_id="T1",
        channel_id="C0MEETING",
        window=WINDOW,
        title="CommStat digest — meeting Thu, Nov 26, 10:00 AM",
    )
    check_limits(digest.blocks)
    sections = texts(digest.blocks)
    if n == 0:
        assert sections[1] == "*⚠️ Overdue*\nNothing overdue. 🎉"
        assert (
            sections[0] == "*✅ Done since the last meeting (Thu, Nov 19)*\nNothing completed yet."
        )
    else:
        assert sections[1].startswith(f"*⚠️ Overdue* ({n})")
        assert "<@U0MARIA> · due Sun, Nov 15, 2026 · *10 days late* · ⚑" in sections[1]
        assert sections[2].startswith(f"*📅 Due before the next meeting (Thu, Nov 26)* ({n})")
        assert "<@U0LEE>" in sections[2]
        assert sections[3].startswith(
            "*🔭 Coming up before the following meeting (Thu, Dec 3)* (2)"
        )
        assert sections[0].startswith(f"*✅ Done since the last meeting (Thu, Nov 19)* ({n})")
        assert (f"…and {n - 10} more" in sections[1]) == (n > 10)
    assert digest.chart_png is None


def test_due_at_the_meeting_or_on_its_day_is_due_before_the_next_meeting(session):
    def one(text, due, has_time):
        commitment = Commitment(
            team_id="T1",
            text=text,
            status=CommitmentStatus.OPEN,
            due_at=due,
            due_has_time=has_time,
            time_zone="America/New_York",
            created_at=SINCE,
            creator_id="U0ADMIN",
        )
        commitment.owners = [CommitmentOwner(user_id="U0LEE", team_id="T1", position=0)]
        session.add(commitment)

    one("before the next meeting", MEETING, True)  # `/commit … before the next meeting`
    one("due Thursday", datetime(2026, 11, 26, 17, 0, tzinfo=NY), False)  # a day, no time
    one("Thursday at 3pm", datetime(2026, 11, 26, 15, 0, tzinfo=NY), True)  # after it starts
    one("due Friday", datetime(2026, 11, 27, 17, 0, tzinfo=NY), False)
    session.flush()
    digest = build_digest(
        session,
        team_id="T1",
        channel_id="C0MEETING",
        window=WINDOW,
        title="CommStat digest — meeting Thu, Nov 26, 10:00 AM",
    )
    due = texts(digest.blocks)[2]
    assert due.startswith("*📅 Due before the next meeting (Thu, Nov 26)* (2)")
    assert "before the next meeting" in due.split("\n", 1)[1] and "due Thursday" in due
    assert "3pm" not in due and "Friday" not in due
    coming = texts(digest.blocks)[3]  # the rest of the week, up to the following meeting
    assert coming.startswith("*🔭 Coming up before the following meeting (Thu, Dec 3)* (2)")
    assert "3pm" in coming and "due Friday" in coming and "due Thursday" not in coming


def test_indicators_with_new_values_appear_with_a_chart_and_late_ones_are_listed(session):
    deaths = overdose_deaths(direction=Direction.LOWER_IS_BETTER)
    hidden = Indicator(
        team_id="T1",
        slug="secret",
        name="Restricted measure",
        created_at=NOW,
        updated_at=NOW,
        restricted_to=["C0ELSEWHERE"],
        period_kind="monthly",
    )
    old = Indicator(
        team_id="T1",
        slug="kits",
        name="Naloxone kits",
        period_kind="yearly",
        update_frequency="yearly",
        created_at=NOW,
        updated_at=NOW,
        steward_id="U0SAM",
    )
    session.add_all([deaths, hidden, old])
    session.flush()
    for month, value in [(8, 130.0), (9, 120.0), (10, 100.0)]:
        loaded = NOW - timedelta(days=1) if month == 10 else NOW - timedelta(days=60)
        add_value(session, deaths, date(2026, month, 1), value, updated_at=loaded)
    add_value(session, hidden, date(2026, 10, 1), 5.0, updated_at=NOW)
    add_value(
        session, old, date(2023, 1, 1), 5.0, period="2023", updated_at=NOW - timedelta(days=700)
    )
    session.flush()
    digest = build_digest(session, team_id="T1", channel_id="C0MEETING", window=WINDOW, title="t")
    sections = texts(digest.blocks)
    moves, stale = sections[5], sections[6]
    assert (
        "*Overdose deaths*: *100* deaths for Oct 2026 ▼ −20 (−16.7%) vs Sep 2026 — 🟢 good" in moves
    )
    assert "Restricted measure" not in everything(digest.blocks)
    assert "*Naloxone kits*: latest 2023; the next value was expected by" in stale
    assert "steward <@U0SAM>" in stale
    assert digest.chart_png is not None and digest.chart_png.startswith(b"\x89PNG")
    assert "Overdose deaths" in digest.chart_alt


def test_new_values_that_are_already_behind_are_said_once_with_the_news(session):
    # Loaded this week, but the next period was due long ago (the demo's first digest): listed
    # under new data with a "still behind" line, not a second time under "Late data".
    deaths = overdose_deaths()
    session.add(deaths)
    session.flush()
    for month, value in [(3, 130.0), (4, 120.0)]:
        add_value(session, deaths, date(2025, month, 1), value, updated_at=NOW - timedelta(days=1))
    session.flush()
    digest = build_digest(session, team_id="T1", channel_id="C0MEETING", window=WINDOW, title="t")
    text = everything(digest.blocks)
    sections = texts(digest.blocks)
    moves, stale = sections[5], sections[6]
    assert "*Overdose deaths*: *120* deaths for Apr 2025" in moves
    assert "still behind: the next value was expected by" in moves
    assert "steward <@U0KIM>" in moves
    assert "Overdose deaths" not in stale
    assert "No other indicator is late." in stale
    assert text.count("Overdose deaths") == 1  # once in the message (the chart is apart)


# --- the window and how the headings name it ---------------------------------------------------


def test_each_heading_names_the_window_it_was_given():
    weekly_since = datetime(2026, 11, 23, 9, 0, tzinfo=NY)  # the last weekly digest's time
    window = Window(since=weekly_since, now=datetime(2026, 11, 30, 9, 0, tzinfo=NY))
    assert window.since_kind == SINCE_INSTANT
    assert since_words(window, NY) == "since Mon, Nov 23, 9:00 AM"
    assert due_words(window, NY) == "in the next 7 days (by Mon, Dec 7)"
    assert coming_words(window, NY) == "in the 7 days after that (by Mon, Dec 14)"
    assert since_words(WINDOW, NY) == "since the last meeting (Thu, Nov 19)"
    assert due_words(WINDOW, NY) == "before the next meeting (Thu, Nov 26)"
    assert coming_words(WINDOW, NY) == "before the following meeting (Thu, Dec 3)"
    last = Window(since=SINCE, now=NOW, next_meeting=MEETING)  # the schedule's last meeting
    assert coming_words(last, NY) == "in the week after the meeting (by Thu, Dec 3)"
    assert (last.due_by, last.coming_by) == (MEETING, MEETING + timedelta(days=7))
    assert (WINDOW.due_by, WINDOW.coming_by) == (MEETING, FOLLOWING)
    # A UTC instant is named in the zone the digest speaks in (11 PM UTC is 6 PM in New York).
    late = Window(since=datetime(2026, 11, 24, 4, 0, tzinfo=UTC), now=NOW)
    assert since_words(late, NY) == "since Mon, Nov 23, 11:00 PM"


def test_a_weekly_digest_says_since_when_and_never_the_last_meeting():
    window = Window(
        since=datetime(2026, 11, 23, 9, 0, tzinfo=NY),
        now=datetime(2026, 11, 30, 9, 0, tzinfo=NY),
        next_meeting=datetime(2026, 12, 3, 10, 0, tzinfo=NY),
        following_meeting=datetime(2026, 12, 10, 10, 0, tzinfo=NY),
    )
    _, blocks = build(DigestData(), window)
    sections = texts(blocks)
    assert sections[0] == "*✅ Done since Mon, Nov 23, 9:00 AM*\nNothing completed yet."
    assert sections[2].startswith("*📅 Due before the next meeting (Thu, Dec 3)*")
    assert sections[3].startswith("*🔭 Coming up before the following meeting (Thu, Dec 10)*")
    assert sections[4].startswith("*🆕 New since Mon, Nov 23, 9:00 AM*")
    assert sections[5].startswith("*📈 Indicators with new data since Mon, Nov 23, 9:00 AM*")
    assert "last meeting" not in everything(blocks)
    assert blocks[1]["elements"][0]["text"].startswith("Since Mon, Nov 23, 9:00 AM · ")


def test_coming_up_lists_owners_and_hostile_words_stay_words():
    hostile = Item(
        id=7,
        text="<!channel> <@U0BOSS> <https://evil.example|click> *bold* & more",
        owners=("U0LEE",),
        due="Tue, Dec 1, 2026",
    )
    text, blocks = build(DigestData(coming=Listing([hostile], 1)))
    check_limits(blocks)
    coming = texts(blocks)[3]
    assert coming.startswith("*🔭 Coming up before the following meeting (Thu, Dec 3)* (1)\n")
    assert "— <@U0LEE> · due Tue, Dec 1, 2026" in coming
    assert "<!channel>" not in everything(blocks) and "<@U0BOSS>" not in everything(blocks)
    assert "<https://" not in everything(blocks)
    assert "&lt;" not in coming or "&amp;" in coming  # escaped, never live
    assert "1 coming up" in text


def test_a_meeting_on_a_holiday_asks_whether_it_is_still_on():
    text, blocks = build(DigestData(), holiday="Thanksgiving Day")
    first = next(b for b in blocks if b["type"] == "section")
    assert first["text"]["text"] == (
        "🗓️ *Thursday, Nov 26 is Thanksgiving Day — is the meeting still on?*"
    )
    assert blocks.index(first) == 2  # right under the scope line
    assert "Thursday, Nov 26 is Thanksgiving Day: is the meeting still on?" in text
    assert holiday_line(MEETING, "local holiday").startswith(
        "🗓️ *Thursday, Nov 26 is a local holiday"
    )
    named = holiday_line(MEETING, "<!here> Day")  # a calendar's words are words too
    assert "<!here>" not in named and "here Day — is the meeting still on?*" in named
    assert holiday_notice(MEETING, "Thanksgiving Day", today=date(2026, 11, 25)) == (
        "🗓️ Heads-up: tomorrow, Thursday, Nov 26, is Thanksgiving Day — is the CommStat meeting at "
        "10:00 AM still on? If it is off or moves, let everyone know here."
    )
    monday = datetime(2026, 9, 7, 14, 0, tzinfo=NY)  # Labor Day; the note goes out on Friday
    assert holiday_notice(monday, "Labor Day", today=date(2026, 9, 4)).startswith(
        "🗓️ Heads-up: Monday, Sep 7 is Labor Day — is the CommStat meeting at 2:00 PM still on?"
    )
    _, plain = build(DigestData(), holiday=None)
    assert "🗓️" not in everything(plain)
