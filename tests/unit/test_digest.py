"""The digest builder: what the meeting channel reads, within Slack's limits at any size."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import sessionmaker

from bot.core.digest import DigestData, Item, Listing, Move, Stale, move_line
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


def texts(blocks):
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


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


def build(data, next_meeting=MEETING):
    return build_blocks(
        data,
        title="CommStat digest — meeting Thu, Nov 26, 10:00 AM",
        since=SINCE,
        next_meeting=next_meeting,
        zone=NY,
    )


def test_an_empty_digest_says_so_in_each_section():
    text, blocks = build(DigestData())
    check_limits(blocks)
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "CommStat digest — meeting Thu, Nov 26, 10:00 AM"
    sections = texts(blocks)
    assert sections[0] == "*✅ Done since the last meeting*\nNothing completed yet."
    assert sections[1] == "*⚠️ Overdue*\nNothing overdue. 🎉"
    assert sections[2].startswith("*📅 Due before the next meeting*")
    assert "all channels" in everything(blocks)
    assert "Since Thu, Nov 19, 2026" in everything(blocks)
    assert text.startswith("CommStat digest — meeting Thu, Nov 26, 10:00 AM: 0 overdue")


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
    assert len(shown) == 10
    assert all(line.endswith(("late*", "over a week late*")) for line in shown)  # whole lines
    assert lines[-1] == "_…and 290 more_ — `/commit list overdue`"
    assert sections[2].endswith("_…and 290 more_ — `/commit list all`")
    assert sections[0].endswith("_…and 290 more_")


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


def test_without_a_next_meeting_the_horizon_is_a_week():
    _, blocks = build(DigestData(), next_meeting=None)
    assert texts(blocks)[2].startswith("*📅 Due in the next 7 days*")


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
        since=SINCE,
        now=NOW,
        next_meeting=MEETING,
        title="CommStat digest — meeting Thu, Nov 26, 10:00 AM",
    )
    check_limits(digest.blocks)
    sections = texts(digest.blocks)
    if n == 0:
        assert sections[1] == "*⚠️ Overdue*\nNothing overdue. 🎉"
        assert sections[0] == "*✅ Done since the last meeting*\nNothing completed yet."
    else:
        assert sections[1].startswith(f"*⚠️ Overdue* ({n})")
        assert "<@U0MARIA> · due Sun, Nov 15, 2026 · *10 days late* · ⚑" in sections[1]
        assert sections[2].startswith(f"*📅 Due before the next meeting* ({n})")
        assert "<@U0LEE>" in sections[2]
        assert sections[0].startswith(f"*✅ Done since the last meeting* ({n})")
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
        since=SINCE,
        now=NOW,
        next_meeting=MEETING,
        title="CommStat digest — meeting Thu, Nov 26, 10:00 AM",
    )
    due = texts(digest.blocks)[2]
    assert due.startswith("*📅 Due before the next meeting* (2)")
    assert "before the next meeting" in due.split("\n", 1)[1] and "due Thursday" in due
    assert "3pm" not in due and "Friday" not in due


def test_indicators_with_new_values_appear_with_a_chart_and_late_ones_are_listed(session):
    deaths = Indicator(
        team_id="T1",
        slug="od",
        name="Overdose deaths",
        unit="deaths",
        direction=Direction.LOWER_IS_BETTER,
        period_kind="monthly",
        update_frequency="monthly",
        created_at=NOW,
        updated_at=NOW,
        steward_id="U0KIM",
    )
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
        session.add(
            IndicatorValue(
                team_id="T1",
                indicator_id=deaths.id,
                period=f"2026-{month:02d}",
                period_start=date(2026, month, 1),
                geography="",
                value=value,
                updated_at=NOW - timedelta(days=1) if month == 10 else NOW - timedelta(days=60),
            )
        )
    session.add(
        IndicatorValue(
            team_id="T1",
            indicator_id=hidden.id,
            period="2026-10",
            period_start=date(2026, 10, 1),
            geography="",
            value=5.0,
            updated_at=NOW,
        )
    )
    session.add(
        IndicatorValue(
            team_id="T1",
            indicator_id=old.id,
            period="2023",
            period_start=date(2023, 1, 1),
            geography="",
            value=5.0,
            updated_at=NOW - timedelta(days=700),
        )
    )
    session.flush()
    digest = build_digest(
        session,
        team_id="T1",
        channel_id="C0MEETING",
        since=SINCE,
        now=NOW,
        next_meeting=MEETING,
        title="t",
    )
    sections = texts(digest.blocks)
    moves, stale = sections[4], sections[5]
    assert (
        "*Overdose deaths*: *100* deaths for Oct 2026 ▼ −20 (−16.7%) vs Sep 2026 — 🟢 good" in moves
    )
    assert "Restricted measure" not in everything(digest.blocks)
    assert "*Naloxone kits*: latest 2023; the next value was expected by" in stale
    assert "steward <@U0SAM>" in stale
    assert digest.chart_png is not None and digest.chart_png.startswith(b"\x89PNG")
    assert "Overdose deaths" in digest.chart_alt
