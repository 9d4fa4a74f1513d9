"""Block Kit builders and commitment rules, as plain functions (no Slack, no database)."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.commit_parser import ListFilter
from bot.slack.blocks import commitments as blocks
from bot.slack.blocks.home import build_home
from bot.usecases.commitments import Actor, may_change
from storage.models import Commitment, CommitmentOwner, CommitmentStatus

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def make(
    i=1,
    *,
    text="Distribute 200 naloxone kits",
    due=NOW + timedelta(days=7),
    owners=("U1",),
    tz="America/New_York",
    status=CommitmentStatus.OPEN,
):
    c = Commitment(
        id=i,
        team_id="T1",
        text=text,
        due_at=due,
        due_has_time=False,
        time_zone=tz,
        created_at=NOW,
        creator_id="U9",
        status=status,
        due_version=1,
    )
    c.owners = [CommitmentOwner(user_id=o, team_id="T1", position=n) for n, o in enumerate(owners)]
    return c


def as_dicts(items):
    return [b.to_dict() for b in items]


def test_confirmation_shows_id_action_owners_and_an_unambiguous_date():
    message = as_dicts(blocks.build_commitment_message(make(12, owners=("U1", "U2")), now=NOW))
    text = message[0]["text"]["text"]
    assert text.startswith("*#12* Distribute 200 naloxone kits")
    assert "<@U1>, <@U2>" in text
    assert "Mon, Nov 30, 2026" in text
    actions = message[-1]["elements"]
    assert [a["action_id"] for a in actions] == [
        "commit_done",
        "commit_move",
        "commit_snooze",
        "commit_note",
    ]
    assert actions[1]["initial_date"] == "2026-11-30"


def test_a_closed_commitment_has_no_buttons():
    message = as_dicts(blocks.build_commitment_message(make(status=CommitmentStatus.DONE), now=NOW))
    assert all(b["type"] != "actions" for b in message)
    assert "✅ Done" in message[0]["text"]["text"]


def test_a_long_list_stays_within_slacks_50_blocks_and_says_how_many_more():
    items = [make(i, text="x" * 1900) for i in range(1, 61)]
    message = as_dicts(
        blocks.build_commitment_list(items, title="All", total=60, now=NOW, more_hint="narrow it")
    )
    assert len(message) <= 50
    assert message[-1]["elements"][0]["text"] == "…and 20 more — narrow it"
    assert all(len(b["text"]["text"]) <= 3000 for b in message if b["type"] == "section")


@pytest.mark.parametrize(
    ("wanted", "title"),
    [
        (ListFilter(), "Your open commitments"),
        (ListFilter(overdue=True), "Your overdue commitments"),
        (ListFilter(everyone=True), "All open commitments"),
        (ListFilter(everyone=True, overdue=True), "Overdue commitments"),
        (ListFilter(person="U0LEE"), "Open commitments of <@U0LEE>"),
        (ListFilter(person="U0LEE", overdue=True), "Overdue commitments of <@U0LEE>"),
    ],
)
def test_a_list_says_whose_commitments_it_shows(wanted, title):
    assert blocks.list_title(wanted) == title


def test_a_long_action_and_many_owners_fit_one_section():
    commitment = make(text="word " * 400, owners=tuple(f"U{i:08d}" for i in range(150)))
    text = as_dicts(blocks.build_commitment_message(commitment, now=NOW))[0]["text"]["text"]
    assert len(text) <= 3000
    assert text.count("\n") == 1  # the action, then owners · due
    assert "…" in text.splitlines()[0] and "…" in text.splitlines()[1]


def test_app_home_stays_within_100_blocks():
    view = build_home(
        [make(i) for i in range(1, 41)],
        my_total=40,
        now=NOW,
        team_open=50,
        team_overdue=3,
        team_done_week=9,
    ).to_dict()
    assert len(view["blocks"]) <= 100
    assert "…and 10 more" in view["blocks"][-1]["elements"][0]["text"]


def test_the_new_commitment_form_preselects_me_and_this_channel():
    view = blocks.build_new_commitment_modal(
        user_id="U1", channel_id="C1", indicator_options=[("od", "Overdoses")]
    ).to_dict()
    ids = [b["block_id"] for b in view["blocks"]]
    assert ids == ["what", "owners", "due", "indicator", "channel"]
    assert view["blocks"][1]["element"]["initial_users"] == ["U1"]
    assert view["blocks"][4]["element"]["initial_conversation"] == "C1"
    assert len(view["title"]["text"]) <= 24


def test_who_may_change_a_commitment():
    commitment = make(owners=("U1", "U2"))  # created by U9
    assert may_change(commitment, Actor("T1", "U2"))
    assert may_change(commitment, Actor("T1", "U9"))
    assert may_change(commitment, Actor("T1", "U5", is_admin=True))
    assert not may_change(commitment, Actor("T1", "U5"))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Tell <!here> by noon", "Tell @\u2060here by noon"),
        ("<!channel|channel> meeting", "@\u2060channel meeting"),
        ("Brief <!subteam^S0AB|@outreach>", "Brief @outreach"),
        ("Call <@U123> back", "Call @U123 back"),  # only owners are mentioned, by the bot
        ("Read <https://evil.example|the agenda>", "Read the agenda (https://evil.example)"),
        ("AT&T <b>", "AT&amp;T &lt;b&gt;"),
        ("AT&amp;T", "AT&amp;T"),  # stored before 0004 or typed escaped: never &amp;amp;
    ],
)
def test_a_commitments_words_are_shown_never_run(text, shown):
    commitment = make(text=text)
    line = blocks.summary_line(commitment, NOW).splitlines()[0]
    assert line == f"*#1* {shown}"
    assert shown in blocks.message_fallback(commitment)
    assert blocks.message_fallback(commitment).count("<@") == 1  # the owner, U1
