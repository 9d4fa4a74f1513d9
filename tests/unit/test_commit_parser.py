"""Reading `/commit` lines: owners, action, due date and indicator, and refusing the rest; the
words after `list` and `snooze`; commitment numbers."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.commit_parser import (
    CommitDraft,
    CommitTextError,
    ListFilter,
    ParsedCommit,
    list_usage_message,
    parse_commit,
    parse_id,
    read_commit,
    read_list_filter,
    several_numbers,
    snooze_days,
    split_commit,
)
from bot.core.dates import DateError

NY = "America/New_York"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo(NY))  # Monday
MEETING = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # Thu 10:00 in New York


def _parse(text: str, next_meeting: datetime | None = MEETING) -> ParsedCommit:
    return parse_commit(text, now=NOW, tz=NY, next_meeting=next_meeting)


def _reason(text: str, next_meeting: datetime | None = MEETING) -> str:
    with pytest.raises(CommitTextError) as caught:
        _parse(text, next_meeting)
    return caught.value.reason


# (text, owners, what, due date in New York, indicator)
CASES: list[tuple[str, tuple[str, ...], str, str, str | None]] = [
    ("Send the naloxone report by Friday", (), "Send the naloxone report", "2026-11-27", None),
    ("send the report BY friday", (), "send the report", "2026-11-27", None),
    ("Monitor overdoses in ward 5 by Friday", (), "Monitor overdoses in ward 5", "2026-11-27",
     None),
    ('"Read The 5th Wave by Friday" by Monday', (), "Read The 5th Wave by Friday", "2026-11-30",
     None),
    ("“Read The 5th Wave by Friday” by next Monday", (), "Read The 5th Wave by Friday",
     "2026-11-30", None),
    ("'Read The 5th Wave by Friday' by Monday", (), "Read The 5th Wave by Friday", "2026-11-30",
     None),
    ('Read "The 5th Wave" by Friday', (), 'Read "The 5th Wave"', "2026-11-27", None),
    ("Meet by the river by Friday", (), "Meet by the river", "2026-11-27", None),
    ("Send the report by Friday by email", (), "Send the report by email", "2026-11-27", None),
    ("Send report due Dec 4", (), "Send report", "2026-12-04", None),
    ("Send report due by Dec 4.", (), "Send report", "2026-12-04", None),
    ("Send report due on 12/4", (), "Send report", "2026-12-04", None),
    ("Send report no later than Dec 4", (), "Send report", "2026-12-04", None),
    ("Pay overdue invoices by Friday", (), "Pay overdue invoices", "2026-11-27", None),
    ("Send report before the next meeting", (), "Send report", "2026-11-26", None),
    ("Follow up with the shelters in 2 weeks", (), "Follow up with the shelters", "2026-12-07",
     None),
    ("Follow up due in 2 weeks", (), "Follow up", "2026-12-07", None),
    ("Check in 3 working days", (), "Check", "2026-11-26", None),
    ("Send the report by email in 2 weeks", (), "Send the report by email", "2026-12-07", None),
    ("Send the #naloxone report by Friday", (), "Send the naloxone report", "2026-11-27",
     "naloxone"),
    ("Send the report by Friday #naloxone", (), "Send the report", "2026-11-27", "naloxone"),
    ("Send the report #od-deaths by Friday", (), "Send the report", "2026-11-27", "od-deaths"),
    ("#naloxone Send the report by Friday", (), "Send the report", "2026-11-27", "naloxone"),
    ("Send the report in 2 weeks #naloxone", (), "Send the report", "2026-12-07", "naloxone"),
    ("Count item #1 by Friday", (), "Count item #1", "2026-11-27", None),
    ("Fix https://x.org/page#section by Friday", (), "Fix https://x.org/page#section",
     "2026-11-27", None),
    ("<@U123|maria> <@U456> Send the report by Friday", ("U123", "U456"), "Send the report",
     "2026-11-27", None),
    ("<@U123|maria>, <@U456|lee> and <@W789> send it by dec 4", ("U123", "U456", "W789"),
     "send it", "2026-12-04", None),
    ("<@U123|maria> <@U123> Send the report by Friday", ("U123",), "Send the report",
     "2026-11-27", None),
    # "<@Lee> and <@Pat> to draft the MOU": the owners' "to" / "will" is not the action's
    ("<@U123|maria> and <@U456> to draft the MOU by Friday", ("U123", "U456"), "draft the MOU",
     "2026-11-27", None),
    ("<@U123> will send it by Friday", ("U123",), "send it", "2026-11-27", None),
    ("<@U123> is going to call the shelters by Friday", ("U123",), "call the shelters",
     "2026-11-27", None),
    ("To do: call the shelters by Friday", (), "To do: call the shelters", "2026-11-27", None),
    # Slack's markup is read, then kept as the words people see: no mention, broadcast or
    # disguised link is stored (bot.core.text.safe escapes the words again for Slack)
    ("<@U123> Send the report to <@U999> by Friday", ("U123",), "Send the report to @U999",
     "2026-11-27", None),
    ("<@U123> Send the report to <@U999|lee> by Friday", ("U123",), "Send the report to @lee",
     "2026-11-27", None),
    ("<!here> Send the report by Friday", (), "@here Send the report", "2026-11-27", None),
    ("Brief <!subteam^S1|@outreach> in <#C1|general> by Friday", (),
     "Brief @outreach in #general", "2026-11-27", None),
    ("Share <https://x.org/a|report by monday> by Friday", (),
     "Share report by monday (https://x.org/a)", "2026-11-27", None),
    ("Check &lt;b&gt; and &lt;!channel&gt; by Friday", (), "Check <b> and <!channel>",
     "2026-11-27", None),
    ("Call Tom &amp; by Friday", (), "Call Tom &", "2026-11-27", None),
    ("Send   the\treport\nby Friday!", (), "Send the report", "2026-11-27", None),
    ("Send the report\x00\x07 by Fri\u202eday", (), "Send the report", "2026-11-27", None),
    ("Enviar el informe 📊 by Friday", (), "Enviar el informe 📊", "2026-11-27", None),
    ("R&amp;D sync -- by Friday", (), "R&D sync", "2026-11-27", None),
    ('"Send it." by Friday', (), "Send it", "2026-11-27", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "owners", "what", "day", "indicator"), CASES)
def test_commit_line_is_split_into_owners_action_date_and_tag(
    text: str, owners: tuple[str, ...], what: str, day: str, indicator: str | None
) -> None:
    parsed = _parse(text)
    assert parsed.owners == owners
    assert parsed.what == what
    assert parsed.due.at.astimezone(ZoneInfo(NY)).date() == date.fromisoformat(day)
    assert parsed.indicator == indicator


def test_split_offers_each_separator_from_last_to_first() -> None:
    drafts = split_commit("Meet by the river by Friday")
    assert [(d.what, d.when) for d in drafts] == [
        ("Meet by the river", "Friday"),
        ("Meet by Friday", "the river"),
    ]


def test_split_without_separator_has_no_date_phrase() -> None:
    assert split_commit("<@U1> Send the report #naloxone") == [
        CommitDraft(owners=("U1",), what="Send the report", when=None, indicator="naloxone")
    ]


def test_quoted_separator_is_not_a_separator() -> None:
    drafts = split_commit('"Due by Friday: the audit"')
    assert drafts == [CommitDraft((), "Due by Friday: the audit", None, None)]


def test_apostrophes_are_not_quotes() -> None:
    drafts = split_commit("Finish Maria's report by Friday")
    assert drafts[0].what == "Finish Maria's report"
    assert drafts[0].when == "Friday"


def test_time_and_date_together() -> None:
    parsed = _parse("Call the clinic by tomorrow 5pm")
    assert parsed.due.has_time is True
    assert parsed.due.at == datetime(2026, 11, 24, 17, 0, tzinfo=ZoneInfo(NY))


# --- refusals --------------------------------------------------------------------------------


def test_no_date_gives_three_examples() -> None:
    with pytest.raises(CommitTextError) as caught:
        _parse("Send the naloxone report")
    assert caught.value.reason == "no_date"
    message = str(caught.value)
    assert "/commit Send the naloxone report by Friday" in message
    assert "by Dec 4" in message
    assert "in 2 weeks" in message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("\x00\x01", "empty"),
        ("x" * 2001, "too_long"),
        ("by Friday", "no_what"),
        ("<@U123> by Friday", "no_what"),
        ("... by Friday", "no_what"),
        ("<@U123>", "no_what"),
        ("Send the report", "no_date"),
        ("Send the report by", "no_date"),
        ("Send the report in a while", "no_date"),
        ("Send the report by yesterday", "past"),
        ("Send the report by Nov 20", "past"),
        ("Send the report by 2099", "too_far"),
        ("Send the report by email", "unrecognised"),
        ("Send the report by Friday and call Lee", "unrecognised"),
    ],
)
def test_refusals_have_a_reason(text: str, reason: str) -> None:
    assert _reason(text) == reason


@pytest.mark.parametrize(
    ("text", "who"),
    [
        ("@lee Fix the housing list by Friday", "@lee"),
        ("@lee.m, Fix the housing list by Friday", "@lee.m"),
        ("<@U123|maria> @lee Fix the housing list by Friday", "@lee"),
        ("<@U123|maria>, and @lee Fix the housing list by Friday", "@lee"),
        ("<@U123|maria> and @lee Fix the housing list", "@lee"),
    ],
)
def test_a_plain_text_name_where_the_owners_go_is_refused(text: str, who: str) -> None:
    with pytest.raises(CommitTextError) as caught:
        split_commit(text)
    assert caught.value.reason == "unknown_mention"
    assert f"I couldn't tell who `{who}` is" in str(caught.value)
    assert "pick the person from Slack's list" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("Call @lee about the list by Friday", "Call @lee about the list"),
        ("<@U123> Send the list to @lee by Friday", "Send the list to @lee"),
        ("@ the shelter: restock by Friday", "@ the shelter: restock"),
    ],
)
def test_a_plain_name_after_the_start_stays_in_the_action(text: str, what: str) -> None:
    assert _parse(text).what == what


def test_meeting_without_a_meeting_is_refused_with_how_to_set_one() -> None:
    with pytest.raises(CommitTextError) as caught:
        _parse("Send the report before the next meeting", next_meeting=None)
    assert caught.value.reason == "no_meeting"
    assert "/commstat meeting every Thursday at 10am" in str(caught.value)


def test_a_refused_real_date_is_not_replaced_by_an_earlier_by() -> None:
    # the first "by" alone would read as Friday; the date the user ended with is past
    assert _reason("Send the report by Friday by Nov 20") == "past"


def test_unreadable_date_message_quotes_the_last_date_phrase() -> None:
    with pytest.raises(CommitTextError) as caught:
        _parse("Send the report by the blue moon")
    assert '"the blue moon"' in str(caught.value)


def test_exactly_2000_characters_is_accepted() -> None:
    text = "a" * (2000 - len(" by Friday")) + " by Friday"
    assert len(text) == 2000
    assert _parse(text).due.at.date() == date(2026, 11, 27)


# --- properties -----------------------------------------------------------------------------

PIECES = [
    "Send", "the", "report", "by", "due", "before", "no later than", "in", "2", "weeks", "Friday",
    "Dec 4", "#naloxone", "#1", "<@U123|maria>", "<@W9>", "<!here>", '"', "'", "“", "”", "\x00",
    "📊", "monitor", "yesterday", "the next meeting", "ward 5", "\n",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=80),
        st.lists(st.sampled_from(PIECES), max_size=8).map(" ".join),
        st.text(alphabet=string.printable, max_size=60),
    ),
    meeting=st.one_of(st.none(), st.just(MEETING)),
)
def test_any_commit_text_parses_to_a_future_due_or_a_commit_error(
    text: str, meeting: datetime | None
) -> None:
    try:
        parsed = _parse(text, meeting)
    except CommitTextError as exc:
        assert exc.reason in {
            "empty", "no_what", "no_date", "too_long",
            "unrecognised", "past", "no_meeting", "too_far", "unknown_mention",
        }  # fmt: skip
        assert str(exc)
        return
    except DateError:  # allowed by the contract, though parse_commit wraps them
        return
    assert parsed.what
    assert parsed.due.at.tzinfo is not None
    assert parsed.due.at >= NOW
    assert all(owner[0] in "UW" for owner in parsed.owners)
    assert len(set(parsed.owners)) == len(parsed.owners)
    assert "\x00" not in parsed.what


@settings(max_examples=100, deadline=None)
@given(action=st.text(alphabet=string.ascii_letters + " 5#", min_size=1, max_size=40))
def test_words_in_the_action_never_move_the_date(action: str) -> None:
    try:
        parsed = _parse(f'"{action}" by Friday')
    except CommitTextError as exc:
        assert exc.reason == "no_what"  # the quotes held only spaces
        return
    assert parsed.due.at.date() == NOW.date() + timedelta(days=4)


def test_the_forms_one_reading_is_read_like_a_line() -> None:
    """The form gives a date picked from the calendar; it is read in the zone it is given."""
    form = CommitDraft(("U0LEE",), "Open the warming center", "2026-12-04", "naloxone")
    parsed = read_commit([form], now=NOW, tz="America/Chicago")
    assert parsed == ParsedCommit(("U0LEE",), "Open the warming center", parsed.due, "naloxone")
    chicago = ZoneInfo("America/Chicago")
    assert parsed.due.at.astimezone(chicago).date() == date(2026, 12, 4)
    assert not parsed.due.has_time


# --- /commit list ... -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "wanted"),
    [
        ("", ListFilter()),
        ("mine", ListFilter()),
        ("all", ListFilter(everyone=True)),
        ("overdue", ListFilter(everyone=True, overdue=True)),
        ("overdue mine", ListFilter(overdue=True)),
        ("<@U0LEE|lee>", ListFilter(person="U0LEE")),
        ("all <@U0LEE|lee>", ListFilter(person="U0LEE")),
        ("LATE <@U0LEE>", ListFilter(person="U0LEE", overdue=True)),
    ],
)
def test_list_filters_combine(words: str, wanted: ListFilter) -> None:
    assert read_list_filter(words.split()) == wanted


def test_list_words_that_are_no_filter_may_be_a_new_commitment() -> None:
    assert read_list_filter(["the", "shelters", "by", "Friday"]) is None
    message = list_usage_message(["banana"])
    assert "I don't know how to list `banana`" in message and "/commit list all" in message


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("@lee", "I couldn't tell who `@lee` is"),
        ("<@U0LEE> <@U0SAM>", "one person's commitments at a time"),
    ],
)
def test_list_refuses_a_typed_name_and_two_people(words: str, says: str) -> None:
    with pytest.raises(CommitTextError, match=says):
        read_list_filter(words.split())


# --- /commit snooze N ... ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "days"),
    [("", 3), ("5", 5), ("5 days", 5), ("1 day", 1), ("2d", 2), ("1 week", 7), ("2 weeks", 14),
     ("for a week", 7), ("an 3", None), ("a fortnight", None), ("until Friday", None),
     ("3 dayz", None), ("a", None)],
)  # fmt: skip
def test_snooze_reads_days_and_weeks_and_refuses_the_rest(words: str, days: int | None) -> None:
    if days is not None:
        assert snooze_days(words, 12) == days
        return
    with pytest.raises(CommitTextError, match="how long to snooze") as caught:
        snooze_days(words, 12)
    assert caught.value.reason == "snooze"
    assert "/commit snooze 12 3 days" in str(caught.value)


@pytest.mark.parametrize(("text", "number"), [("12", 12), ("#12", 12), (" #7 ", 7)])
def test_ids_with_or_without_hash(text, number):
    assert parse_id(text) == number


@pytest.mark.parametrize("text", ["twelve", "#", "-1", "1.5", ""])
def test_bad_ids_are_refused_with_a_hint(text):
    with pytest.raises(CommitTextError, match="not a commitment number"):
        parse_id(text)


def test_a_number_too_long_to_be_a_commitment_is_not_found():
    with pytest.raises(CommitTextError, match="I can't find commitment #1234567890"):
        parse_id("#12345678901234")


# --- several numbers after `done`; trailing periods; several tags ------------------------------


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("3 4", [3, 4]),
        ("3, 4", [3, 4]),
        ("3,4", [3, 4]),
        ("#3 #4", [3, 4]),
        ("3 and 4", [3, 4]),
        ("3, 4 and 5.", [3, 4, 5]),
        ("3 3", [3]),
        ("3", None),
        ("3 Posted the map", None),
        ("3 4 beds", None),
        ("", None),
    ],
)
def test_several_numbers_only_when_every_word_is_a_number(text, numbers):
    assert several_numbers(text.split()) == numbers


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("Check the numbers next week", "next week"),
        ("Check the numbers this week.", "this week"),
        ("Check the numbers next month", "next month"),
        ("Check the numbers end of next week", "end of next week"),
        ("Check the numbers next week #naloxone", "next week"),
        ("Check the numbers by next week", "next week"),
    ],
)
def test_a_trailing_period_is_the_due_date_without_by(text, when):
    draft = split_commit(text)[0]
    assert (draft.what, draft.when) == ("Check the numbers", when)


@pytest.mark.parametrize(
    "text",
    ["Plan the events for next month", "Write the summary of this week", "Check next week"],
)
def test_a_period_the_action_reads_on_into_is_not_a_date(text):
    draft = split_commit(text)[0]
    if text == "Check next week":  # the action is "Check": a date, not a missing one
        assert (draft.what, draft.when) == ("Check", "next week")
    else:
        assert draft.when is None


def test_a_trailing_period_resolves_like_by():
    assert (
        parse_commit("Check the numbers next week", now=NOW, tz=NY).due
        == parse_commit("Check the numbers by next week", now=NOW, tz=NY).due
    )


def test_several_tags_the_first_is_the_indicator_and_all_are_kept():
    parsed = parse_commit("Send the #naloxone report by Friday #overdoses #deaths", now=NOW, tz=NY)
    assert parsed.indicator == "naloxone"
    assert parsed.tags == ("naloxone", "overdoses", "deaths")
