"""/indicator end to end: signed requests in; the answer, the chart and the database out.

Data: the real CDC file bundled in bot/data (12-month-ending overdose death counts for US, MD,
NC, VT, 2015-01 .. 2025-04, with NC opioid values suppressed in places).
"""

import re
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.sandbox import bundled
from storage import repositories as repo
from storage.importer import import_file
from storage.models import (
    Commitment,
    CommitmentStatus,
    Indicator,
    IndicatorValue,
    Team,
)
from tests.helpers import all_text, wait_for

TEAM_ID = "T0COALITION"
CHANNEL = "C0MEETING"
DEATHS = "Number of Drug Overdose Deaths"
OPIOIDS = "Opioids (T40.0-T40.4,T40.6)"
PNG = b"\x89PNG\r\n\x1a\n"


# --- data ------------------------------------------------------------------------------------


def load_cdc(bot):
    """The CDC file through the importer, then the metadata a backbone team would give it
    (set here rather than from bot/data/catalog.yml, whose example target and default place
    would change what these tests read)."""
    import_file(
        bot.services.sessions,
        team_id=TEAM_ID,
        path=bundled.OVERDOSES,
        mapping=bundled.OVERDOSE_MAPPING,
        now=bot.clock(),
    )
    with bot.services.sessions.begin() as session:
        for indicator in session.scalars(select(Indicator)):
            indicator.period_kind = "12-month-ending"
            indicator.unit = "deaths"
            indicator.source = "CDC/NCHS Vital Statistics Rapid Release"
            if indicator.name == DEATHS:
                indicator.aliases = ["overdoses", "OD deaths"]
                indicator.steward_id = "U0MARIA"


def value_of(bot, name, period, geography):
    with bot.services.sessions() as session:
        return session.scalars(
            select(IndicatorValue.value)
            .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
            .where(
                Indicator.name == name,
                IndicatorValue.period == period,
                IndicatorValue.geography == geography,
            )
        ).one_or_none()


def count_values(bot):
    with bot.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(IndicatorValue))


# --- asking ----------------------------------------------------------------------------------


class Asked:
    def __init__(self, bot, key):
        self.bot, self.key = bot, key

    def answers(self, count=1):
        """The first `count` things the bot sent to this command's response URL."""
        return wait_for(lambda: (r := self.bot.slack.responses(self.key))[count - 1 :] and r)

    def answer(self):
        return self.answers(1)[0]


def ask(bot, text, user="U0MARIA", channel=CHANNEL):
    answer = bot.driver.command("/indicator", text, user=user, channel=channel)
    assert answer.status == 200
    assert answer.seconds < 3
    return Asked(bot, bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1])


def uploads_completed(bot):
    return bot.slack.calls_to("files.completeUploadExternal")


# --- the answer ------------------------------------------------------------------------------


def test_overdose_deaths_in_md_gives_value_changes_meaning_source_and_a_chart(bot):
    load_cdc(bot)
    asked = ask(bot, "overdose deaths in MD")
    reply = asked.answer()
    seen = all_text(reply)
    assert reply["response_type"] == "in_channel"
    assert "Number of Drug Overdose Deaths — MD" in seen
    assert "*1,562 deaths* · 12 months ending Apr 2025" in seen
    assert "▼ 3.2% (−52) vs 12 months ending Mar 2025 (1,614) — better" in seen
    assert "▼ 33.0% (−768) vs 12 months ending Apr 2024 (2,330) — better" in seen
    assert "each value counts the 12 months up to and including the month shown" in seen
    assert "Source: CDC/NCHS Vital Statistics Rapid Release" in seen
    assert "Data through Apr 2025" in seen
    assert "Chart: Jan 2015 – Apr 2025" in seen  # the whole curve, 2015–2025

    done = wait_for(lambda: [c for c in uploads_completed(bot) if c.ok])
    assert done[0].params["channel_id"] == CHANNEL
    file_id = done[0].params["files"][0]["id"]
    png = bot.slack.uploads[file_id]
    assert png.startswith(PNG)
    stored = bot.slack.files[file_id]
    assert stored["title"] == "Number of Drug Overdose Deaths — MD"
    assert "1,562" in stored["alt_txt"]
    # The three steps, in order, and the text went out before the chart started.
    methods = bot.slack.methods_called()
    assert methods.index("response_url") < methods.index("files.getUploadURLExternal")
    assert methods.index("files.getUploadURLExternal") < methods.index("upload")
    assert methods.index("upload") < methods.index("files.completeUploadExternal")
    assert "files.upload" not in methods


@pytest.mark.parametrize(
    "typed", ["overdoses in md", "overdoes deaths in MD", "Deaths Overdose in Md"]
)
def test_aliases_misspellings_and_word_order_find_the_same_indicator(sqlite_bot, typed):
    load_cdc(sqlite_bot)
    seen = all_text(ask(sqlite_bot, typed).answer())
    assert "Number of Drug Overdose Deaths — MD" in seen
    assert "1,562" in seen


def test_an_unknown_name_is_told_privately_with_the_closest_ones(sqlite_bot):
    load_cdc(sqlite_bot)
    reply = ask(sqlite_bot, "housing waitlist").answer()
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith(
        "I don't know an indicator called “housing waitlist”. Closest: "
    )
    time.sleep(0.3)
    assert not sqlite_bot.slack.calls_to("files.getUploadURLExternal")


@pytest.mark.parametrize("text", ["since 2022", "in VT", "by state", "last 12 months"])
def test_options_without_a_name_ask_which_indicator(sqlite_bot, text):
    load_cdc(sqlite_bot)
    reply = ask(sqlite_bot, text).answer()
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == (
        f"Which indicator? Put its name first, e.g. `/indicator overdose deaths {text}`."
    )


def test_an_empty_catalog_says_how_to_load_one(sqlite_bot):
    reply = ask(sqlite_bot, "overdoses").answer()
    assert reply["response_type"] == "ephemeral"
    assert "No indicators yet — load some with `commstat import`" in reply["text"]


def test_without_a_place_every_place_is_summarised_or_the_default_shown(sqlite_bot):
    load_cdc(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "overdose deaths").answer())
    for line in ("*MD* 1,562 deaths", "*NC* ", "*US* ", "*VT* "):
        assert line in seen
    assert "vs prior" in seen and "vs a year earlier" in seen
    with sqlite_bot.services.sessions.begin() as session:
        session.get(Team, TEAM_ID).default_geography = "md"
    seen = all_text(ask(sqlite_bot, "overdose deaths").answer())
    assert "Number of Drug Overdose Deaths — MD" in seen
    assert "*NC* " not in seen
    assert "the coalition's default place" in seen


def test_by_state_puts_every_state_side_by_side_and_the_us_apart(bot):
    """Issue 15: the national total is not a state. The states are listed and drawn; the US
    follows under its own heading and is left out of the chart, which says so."""
    load_cdc(bot)
    with bot.services.sessions.begin() as session:
        session.get(Team, TEAM_ID).default_geography = "MD"
    seen = all_text(ask(bot, "overdose deaths by state").answer())
    lines = seen.splitlines()
    states = [n for n, line in enumerate(lines) if line.startswith(("*MD* ", "*NC* ", "*VT* "))]
    heading = lines.index("_US is the national total, not a state:_")
    us = next(n for n, line in enumerate(lines) if line.startswith("*US* 73,690 deaths"))
    assert len(states) == 3 and max(states) < heading < us
    assert "Chart: Jan 2015 – Apr 2025 · US (the national total) not drawn" in seen
    done = wait_for(lambda: [c for c in uploads_completed(bot) if c.ok])
    alt = bot.slack.files[done[0].params["files"][0]["id"]]["alt_txt"]
    assert "3 places" in alt and "MD 1,562" in alt and "US" not in alt


def test_in_an_unknown_place_lists_the_places_with_data(sqlite_bot):
    load_cdc(sqlite_bot)
    reply = ask(sqlite_bot, "overdose deaths in Ohio").answer()
    assert reply["response_type"] == "ephemeral"
    assert "no data for “Ohio”. Places with data: MD, NC, US, VT." in reply["text"]


@pytest.mark.parametrize(
    ("modifier", "window"),
    [
        ("since 2022", "Chart: Jan 2022 – Apr 2025"),
        ("since Mar 2023", "Chart: Mar 2023 – Apr 2025"),
        ("last 3 years", "Chart: May 2022 – Apr 2025"),
        ("last 12 months", "Chart: May 2024 – Apr 2025"),
    ],
)
def test_since_and_last_set_the_chart_window(sqlite_bot, modifier, window):
    load_cdc(sqlite_bot)
    seen = all_text(ask(sqlite_bot, f"overdose deaths in VT {modifier}").answer())
    assert window in seen
    wait_for(lambda: [c for c in uploads_completed(sqlite_bot) if c.ok])


def test_suppressed_values_are_reported_as_missing_never_as_zero(sqlite_bot):
    load_cdc(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "opioids in NC").answer())
    assert "12 months ending Apr 2025: not reported (suppressed or missing)" in seen
    assert "Latest reported: *1,724 deaths* · 12 months ending Mar 2025" in seen
    assert "vs 12 months ending Feb 2025 (1,838) — better" in seen
    # March 2024 was suppressed too: no comparison rather than a fake 100% drop.
    assert "vs 12 months ending Mar 2024: not reported, so no comparison" in seen
    assert " 0 deaths" not in seen and "100.0%" not in seen


def test_linked_commitments_completed_are_marked_on_the_chart(sqlite_bot):
    load_cdc(sqlite_bot)
    with sqlite_bot.services.sessions.begin() as session:
        deaths = session.scalars(select(Indicator).where(Indicator.name == DEATHS)).one()
        for status, closed in (
            (CommitmentStatus.DONE, datetime(2024, 6, 3, tzinfo=UTC)),
            (CommitmentStatus.OPEN, None),
        ):
            session.add(
                Commitment(
                    team_id=TEAM_ID,
                    text="Open the Saturday clinic",
                    status=status,
                    due_at=datetime(2024, 6, 1, tzinfo=UTC),
                    time_zone="America/New_York",
                    created_at=datetime(2024, 5, 1, tzinfo=UTC),
                    closed_at=closed,
                    creator_id="U0MARIA",
                    indicator_id=deaths.id,
                )
            )
    seen = all_text(ask(sqlite_bot, "overdose deaths in MD").answer())
    assert "1 completed commitment marked" in seen


# --- the catalog -----------------------------------------------------------------------------


def test_list_shows_each_indicator_with_latest_value_period_and_freshness(bot):
    load_cdc(bot)
    reply = ask(bot, "list").answer()
    seen = all_text(reply)
    assert reply["response_type"] == "in_channel"
    assert "Indicators (3)" in seen
    deaths = next(line for line in seen.splitlines() if line.startswith(f"*{DEATHS}*"))
    assert "MD 1,562" in deaths
    assert "12 months ending Apr 2025" in deaths
    assert "data through Apr 2025" in deaths
    opioids = next(line for line in seen.splitlines() if line.startswith("*Opioids"))
    # NC's April is suppressed: its newest reported value is March's, and the list says so.
    assert "NC 1,724 (12 months ending Mar 2025)" in opioids
    assert "MD 1,283 · " in opioids and "· 12 months ending Apr 2025" in opioids


def test_list_puts_the_coalitions_own_place_first(sqlite_bot):
    load_cdc(sqlite_bot)
    with sqlite_bot.services.sessions.begin() as session:
        session.get(Team, TEAM_ID).default_geography = "VT"
    seen = all_text(ask(sqlite_bot, "list").answer())
    deaths = next(line for line in seen.splitlines() if line.startswith(f"*{DEATHS}*"))
    assert deaths.index("VT ") < deaths.index("MD ") < deaths.index("NC ")


def test_a_target_is_the_coalitions_own_place_and_not_every_place(bot):
    """Maryland's target of 1,200 deaths says nothing about Vermont's 180 or the US's 73,690."""
    load_cdc(bot)
    with bot.services.sessions.begin() as session:
        session.get(Team, TEAM_ID).default_geography = "MD"
        deaths = session.scalars(select(Indicator).where(Indicator.name == DEATHS)).one()
        deaths.target = 1200
    assert "🎯 Target 1,200 deaths: 362 above it" in all_text(ask(bot, "overdoses in MD").answer())
    vermont = all_text(ask(bot, "overdoses in VT").answer())
    assert "Target" not in vermont and "target met" not in vermont

    def alt_texts():
        done = [c for c in uploads_completed(bot) if c.ok]
        return [bot.slack.files[c.params["files"][0]["id"]]["alt_txt"] for c in done]

    alts = wait_for(lambda: len(alt_texts()) >= 2 and alt_texts())
    assert "Target 1,200" in next(a for a in alts if "Deaths — MD" in a)
    assert "Target" not in next(a for a in alts if "Deaths — VT" in a)
    every = all_text(ask(bot, "overdoses by state").answer())
    assert "🎯 Target for MD: 1,200 deaths (lower is better)" in every


def test_a_long_catalog_is_summarised_within_slack_limits(sqlite_bot):
    now = sqlite_bot.clock()
    with sqlite_bot.services.sessions.begin() as session:
        repo.ensure_team(session, TEAM_ID, time_zone="America/New_York", now=now)
        for n in range(400):
            session.add(
                Indicator(
                    team_id=TEAM_ID,
                    slug=f"measure-{n:03d}",
                    name=f"Measure {n:03d} " + "x" * 60,
                    aliases=[],
                    restricted_to=[],
                    created_at=now,
                    updated_at=now,
                )
            )
    reply = ask(sqlite_bot, "list").answer()
    assert len(reply["blocks"]) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in reply["blocks"])
    assert re.search(r"…and \d+ more", all_text(reply))
    assert not sqlite_bot.slack.errors


# --- data entry ------------------------------------------------------------------------------


def test_the_steward_sets_a_value_and_sees_what_changed(bot):
    load_cdc(bot)
    reply = ask(bot, "set overdose deaths 1,600 for Apr 2025 in MD", user="U0MARIA").answer()
    assert reply["response_type"] == "ephemeral"
    assert "MD, 12 months ending Apr 2025: 1,562 → 1,600 deaths" in reply["text"]
    assert value_of(bot, DEATHS, "2025-04", "MD") == 1600


def test_an_admin_sets_the_next_period_without_saying_which(sqlite_bot):
    load_cdc(sqlite_bot)
    reply = ask(sqlite_bot, "set overdoses 1650 in md", user="U0ADMIN").answer()
    assert "MD, 12 months ending May 2025: new → 1,650 deaths" in reply["text"]
    assert value_of(sqlite_bot, DEATHS, "2025-05", "MD") == 1650


def test_a_suppressed_value_is_stored_as_missing(sqlite_bot):
    load_cdc(sqlite_bot)
    reply = ask(sqlite_bot, "set overdoses suppressed for 2025-04 in VT").answer()
    assert "VT, 12 months ending Apr 2025:" in reply["text"]
    assert "not reported (suppressed)" in reply["text"]
    assert value_of(sqlite_bot, DEATHS, "2025-04", "VT") is None


def test_someone_else_is_refused_and_nothing_is_stored(bot):
    load_cdc(bot)
    before = count_values(bot)
    reply = ask(bot, "set overdose deaths 1,600 for Apr 2025 in MD", user="U0LEE").answer()
    assert reply["response_type"] == "ephemeral"
    assert "Only its data steward <@U0MARIA> or a coalition admin" in reply["text"]
    assert value_of(bot, DEATHS, "2025-04", "MD") == 1562
    assert count_values(bot) == before


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("set overdoses - for 2025-04 in MD", "is not a number"),
        ("set overdoses 1600 for Smarch 2025 in MD", "is not a"),
        ("set overdoses 1600 for 2025-04 in Ohio", "no place called “Ohio”"),
        ("set overdoses 1600 for 2025 in MD", "written like 2015-01"),
        ("set overdoses 1600 for 2027-01 in MD", "has not started yet"),
        ("set overdoses 1600 for 2025-04", "For which place?"),
        ("set", "Say which indicator and the value"),
        # Forgiving matching is for reading: a near name is never written to.
        (
            "set overdose death rate 5 for 2025-04 in MD",
            "“overdose death rate” is not one. Did you mean Number of Drug Overdose Deaths?",
        ),
        ("set overdoses 5% for 2025-04 in MD", "counted in deaths, not percent"),
        ("set overdoses -5 for 2025-04 in MD", "-5 is below zero"),
        ("set overdoses 99999999999999999999999 for 2025-04 in MD", "far too large"),
        ("set overdoses 1600 for 2025-04 in MD in VT", "One value at a time"),
        (
            "set overdoses 1600 for 2025-04 in MD; /indicator set overdoses 1 for 2025-05 in MD",
            "One value at a time",
        ),
    ],
)
def test_bad_entries_say_what_is_wrong_and_store_nothing(sqlite_bot, text, says):
    load_cdc(sqlite_bot)
    before = count_values(sqlite_bot)
    reply = ask(sqlite_bot, text).answer()
    assert reply["response_type"] == "ephemeral"
    assert says in reply["text"]
    assert "Nothing was saved" in reply["text"]
    assert value_of(sqlite_bot, DEATHS, "2025-04", "MD") == 1562
    assert count_values(sqlite_bot) == before


# --- visibility and where the chart goes -----------------------------------------------------


def test_a_restricted_indicator_exists_only_in_its_channel(sqlite_bot):
    load_cdc(sqlite_bot)
    sqlite_bot.slack.add_channel("G0PRIVATE", name="data-team", members=["U0MARIA", "U0BOT"])
    with sqlite_bot.services.sessions.begin() as session:
        for opioids in session.scalars(select(Indicator).where(Indicator.name != DEATHS)):
            opioids.restricted_to = ["G0PRIVATE"]
    elsewhere = ask(sqlite_bot, "opioids in MD").answer()
    assert elsewhere["response_type"] == "ephemeral"
    assert "I don't know an indicator called “opioids in MD”" not in elsewhere["text"]
    assert "I don't know an indicator called “opioids”" in elsewhere["text"]
    assert "pioids" not in elsewhere["text"].split("Closest:")[1]  # not even suggested
    listed = all_text(ask(sqlite_bot, "list").answer())
    assert "Indicators (1)" in listed and "pioids" not in listed
    assert "I don't know" in ask(sqlite_bot, "opioids", channel="D0MARIADM").answer()["text"]
    inside = ask(sqlite_bot, "opioids in MD", channel="G0PRIVATE").answer()
    assert "Opioids (T40.0-T40.4,T40.6) — MD" in all_text(inside)


def test_where_the_bot_cannot_post_the_chart_goes_to_the_askers_dm(sqlite_bot):
    load_cdc(sqlite_bot)
    sqlite_bot.slack.add_channel("G0SECRET", name="secret", members=["U0MARIA"])
    asked = ask(sqlite_bot, "overdose deaths in MD", channel="G0SECRET")
    first, second = asked.answers(2)
    assert first["response_type"] == "in_channel" and "1,562" in all_text(first)
    assert second["response_type"] == "ephemeral"
    assert "sent the chart to you in a direct message" in second["text"]
    done = [c for c in uploads_completed(sqlite_bot) if c.ok]
    assert done[0].params["channel_id"].startswith("D")
    assert sqlite_bot.slack.messages("U0MARIA")[-1]["files"]


def test_a_failed_upload_is_told_and_the_numbers_still_arrive(sqlite_bot):
    load_cdc(sqlite_bot)
    sqlite_bot.slack.set_error("files.completeUploadExternal", "internal_error")
    first, second = ask(sqlite_bot, "overdose deaths in MD").answers(2)
    assert "1,562" in all_text(first)
    assert second["response_type"] == "ephemeral"
    assert "The chart could not be uploaded" in second["text"]


def test_hostile_input_is_answered_and_pings_nobody(sqlite_bot):
    load_cdc(sqlite_bot)
    for text in ("<!channel> " + "overdose " * 500, "<!here> ☃︎ 😀 overdoses in <!everyone>"):
        reply = ask(sqlite_bot, text[:4000]).answer()
        shown = all_text(reply)
        assert "<!channel>" not in shown and "<!here>" not in shown and "<!everyone>" not in shown
    assert not sqlite_bot.slack.errors
