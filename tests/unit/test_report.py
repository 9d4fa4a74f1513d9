"""The on-time report: the numbers each organisation sees in `/commstat report`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.blocks import SectionBlock

from bot.core.dates import Due
from bot.slack.blocks.report import build_report_blocks, report_blocks
from bot.usecases import commitments, report
from bot.usecases.commitments import Actor
from storage import repositories as repo
from storage.db import make_engine, make_session_factory

TEAM = "T0COALITION"
NY = ZoneInfo("America/New_York")
AUCKLAND = ZoneInfo("Pacific/Auckland")
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon Nov 23 2026, 10:00 in New York
SINCE = datetime(2026, 10, 26, tzinfo=NY)
CREATED = datetime(2026, 10, 27, 14, 0, tzinfo=UTC)


def ny(month, day, hour=17, minute=0, zone=NY):
    return datetime(2026, month, day, hour, minute, tzinfo=zone)


def add(session, owners, due, *, has_time=False, done=None, dropped=None, text="Distribute kits"):
    """A commitment made through the real core, then closed as it was in real life."""
    actor = Actor(TEAM, owners[0])
    commitment, _ = commitments.store_new(
        session,
        actor=actor,
        owners=owners,
        what=text,
        due=Due(due, has_time),
        indicator_id=None,
        channel_id="C0MEETING",
        request_key=None,
        now=CREATED,
    )
    if done is not None:
        commitments.complete(session, commitment, actor=actor, now=done)
    if dropped is not None:
        commitments.drop(session, commitment, actor=actor, now=dropped, reason="Funding moved")
    return commitment


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        repo.ensure_team(session, TEAM, time_zone="America/New_York", now=CREATED)
        for user, name, org in [
            ("U0MARIA", "maria", "Health Dept"),
            ("U0SAM", "sam", "health dept "),  # the same organisation, typed differently
            ("U0LEE", "lee", "Police"),
            ("U0KIM", "kim", None),
        ]:
            repo.save_person(session, TEAM, user, display_name=name, organisation=org)
    yield factory
    engine.dispose()


@pytest.fixture
def coalition(sessions):
    with sessions.begin() as session:
        # Done at 23:30 on its due day in New York (04:30 UTC the next day): still on time.
        add(session, ["U0MARIA"], ny(11, 2), done=ny(11, 2, 23, 30))
        add(session, ["U0MARIA"], ny(11, 4), done=ny(11, 5, 9))  # a day late
        add(session, ["U0SAM"], ny(11, 10))  # still open: overdue
        add(session, ["U0MARIA", "U0LEE"], ny(11, 12), done=ny(11, 11))  # two organisations
        add(session, ["U0LEE"], ny(11, 16, 10), has_time=True, done=ny(11, 16, 11))  # an hour late
        add(session, ["U0KIM"], ny(11, 20, 17, zone=AUCKLAND), done=ny(11, 20, 22, zone=AUCKLAND))
        add(session, ["U0LEE"], ny(11, 23))  # due today: not judged before the day is over
        add(session, ["U0MARIA"], ny(10, 20), done=ny(10, 30))  # due before the window
        add(session, ["U0SAM"], ny(11, 18), dropped=ny(11, 17))
        add(session, ["U0MARIA", "U0SAM"], ny(11, 19), done=ny(11, 19, 8))  # one organisation
    return sessions


def numbers(stats):
    return (stats.label, stats.due, stats.on_time, stats.late, stats.overdue, stats.dropped)


def test_each_organisation_gets_its_on_time_numbers(coalition):
    with coalition() as session:
        result = report.report_rows(session, team_id=TEAM, since=SINCE, now=NOW)
    assert [numbers(s) for s in result.organisations] == [
        ("Health Dept", 5, 3, 1, 1, 1),
        ("Police", 2, 1, 1, 0, 0),
        (report.NO_ORGANISATION, 1, 1, 0, 0, 0),
    ]
    # The coalition counts the two-organisation commitment once.
    assert numbers(result.total)[1:] == (7, 4, 2, 1, 1)
    assert result.organisations[0].rate_text() == "3 of 5 (60%)"
    assert result.total.rate_text() == "4 of 7 (57%)"


def test_the_report_message_shows_rates_window_and_total(coalition):
    with coalition() as session:
        blocks = report_blocks(report.report_rows(session, team_id=TEAM, since=SINCE, now=NOW))
    text = "\n".join(
        element["text"]
        for block in blocks
        for element in [block.get("text") or {}, *block.get("elements", [])]
        if isinstance(element, dict) and "text" in element
    )
    assert "since Mon, Oct 26, 2026" in text
    assert "*Health Dept* — on time: *3 of 5 (60%)*" in text
    assert "1 done late · 1 still open and overdue · 1 dropped" in text
    assert "*Police* — on time: *1 of 2 (50%)*" in text
    assert "No organisation set — /commstat org @person &lt;name&gt;" in text  # escaped mrkdwn
    assert "*Coalition total* — on time: *4 of 7 (57%)*" in text
    assert text.index("Health Dept") < text.index("Police") < text.index("No organisation set")


def test_a_later_now_judges_todays_commitment_and_a_close_after_now_is_ignored(coalition):
    tomorrow = NOW + timedelta(days=1)
    with coalition() as session:
        result = report.report_rows(session, team_id=TEAM, since=SINCE, now=tomorrow)
        police = next(s for s in result.organisations if s.organisation == "Police")
        assert numbers(police)[1:] == (3, 1, 1, 1, 0)  # Nov 23's commitment is now overdue
        # As it stood on Nov 10: the Nov 2 and Nov 4 commitments were done, nothing else due.
        early = report.report_rows(session, team_id=TEAM, since=SINCE, now=ny(11, 10, 12))
        assert numbers(early.total)[1:] == (2, 1, 1, 0, 0)
        # Nov 4's was closed on Nov 5: on Nov 5 at 8:00 it was still open and overdue.
        before_close = report.report_rows(session, team_id=TEAM, since=SINCE, now=ny(11, 5, 8))
        assert numbers(before_close.total)[1:] == (2, 1, 0, 1, 0)


def test_nothing_due_says_so(sessions):
    with sessions() as session:
        blocks = report_blocks(report.report_rows(session, team_id=TEAM, since=SINCE, now=NOW))
    assert "No commitments came due since Mon, Oct 26, 2026" in blocks[-1]["text"]["text"]


def test_many_organisations_stay_within_slacks_limits():
    result = report.Report(since=SINCE, now=NOW, time_zone="America/New_York")
    for i in range(1000):
        stats = report.OrgStats(f"Organisation number {i:04d} " + "x" * 150, due=10, on_time=i % 11)
        result.organisations.append(stats)
        result.total.due += 10
        result.total.on_time += i % 11
    blocks = build_report_blocks(result)
    assert len(blocks) <= 50
    for block in blocks:
        if isinstance(block, SectionBlock):
            assert len(block.text.text) <= 3000
        block.validate_json()
    last = blocks[-1].to_dict()["text"]["text"]
    assert last.startswith("*Coalition total*")
    more = [b.to_dict() for b in blocks if b.type == "context"][-1]["elements"][0]["text"]
    shown = sum(
        b.to_dict()["text"]["text"].count("Organisation number")
        for b in blocks[3:-2]
        if isinstance(b, SectionBlock)
    )
    assert more.startswith(f"…and {1000 - shown} more organisations")
    assert 0 < shown < 1000


def test_organisation_names_cannot_inject_mentions(sessions):
    with sessions.begin() as session:
        repo.save_person(session, TEAM, "U0LEE", organisation="<!channel> Police")
        add(session, ["U0LEE"], ny(11, 2), done=ny(11, 2, 9))
    with sessions() as session:
        blocks = report_blocks(report.report_rows(session, team_id=TEAM, since=SINCE, now=NOW))
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "*@\u2060channel Police*" in shown
    assert "<!channel>" not in shown
