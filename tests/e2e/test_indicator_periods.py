"""/indicator about one past period (issue 14) and honest places (issue 15), end to end: signed
slash commands in, the answer a leader reads and the chart's alt text out.

Data: the real CDC files in bot/data. Spot checks (see bot/data/PROVENANCE.md): VT deaths in the
12 months ending Dec 2023 = 246; the US peak 111,466 ending Jun 2023; MD ending Dec 2024 = 1,749.
"""

import time

import pytest
from sqlalchemy import select

from bot.sandbox import bundled
from storage.importer import ImportMapping, import_file
from storage.models import Indicator, Team
from tests.e2e.test_indicator import CHANNEL, TEAM_ID, ask, load_cdc, uploads_completed
from tests.helpers import all_text, wait_for

FENTANYL = "Synthetic opioids, excl. methadone (T40.4)"
DOSE_SYS = bundled.DATA / "cdc_dose_sys_nonfatal_overdose_ed_rates_by_state.csv"


def set_default_place(bot, place):
    with bot.services.sessions.begin() as session:
        session.get(Team, TEAM_ID).default_geography = place


def describe(bot, name, **fields):
    with bot.services.sessions.begin() as session:
        indicator = session.scalars(select(Indicator).where(Indicator.name == name)).one()
        for key, value in fields.items():
            setattr(indicator, key, value)


def load(bot, path, mapping, name, **fields):
    """`commstat import` of a file, then what a steward fills in for indicator `name`."""
    import_file(bot.services.sessions, team_id=TEAM_ID, path=path, mapping=mapping, now=bot.clock())
    describe(bot, name, **fields)


def load_naloxone(bot):
    """Yearly state rates, 2019-2023 (MD 2019 0.6, MD 2023 0.8)."""
    load(
        bot,
        bundled.NALOXONE,
        bundled.NALOXONE_MAPPING,
        "Naloxone dispensing rate",
        aliases=["naloxone"],
        period_kind="yearly",
        direction="higher",
        unit="per 100 persons",
    )


def load_ed_visits(bot):
    """DOSE-SYS monthly ED visits for opioid overdose per 10,000 ED visits, as an analyst would
    import it (MD 2024: Jan 23.0 … Jun 27.4 … Dec 18.0)."""
    load(
        bot,
        DOSE_SYS,
        ImportMapping.from_options(
            period_column=["year", "month"],
            value_column=["opioid_rate=Opioid overdose ED visits"],
            geography_column="jurisdiction",
            filters=["rate_time=Monthly"],
        ),
        "Opioid overdose ED visits",
        aliases=["ED visits"],
        period_kind="monthly",
        direction="lower",
        unit="per 10,000 ED visits",
    )


def alt_text(bot):
    done = wait_for(lambda: [c for c in uploads_completed(bot) if c.ok])
    return bot.slack.files[done[-1].params["files"][0]["id"]]["alt_txt"]


def no_chart(bot):
    time.sleep(0.3)
    return not bot.slack.calls_to("files.getUploadURLExternal")


# --- a past period ---------------------------------------------------------------------------


def test_a_past_month_gives_its_value_its_changes_and_a_chart_that_rings_it(bot):
    load_cdc(bot)
    reply = ask(bot, "overdoses in VT for Dec 2023").answer()
    seen = all_text(reply)
    assert reply["response_type"] == "in_channel"
    assert "Number of Drug Overdose Deaths — VT" in seen
    assert "*246 deaths* · 12 months ending Dec 2023" in seen
    assert "▼ 2.0% (−5) vs 12 months ending Nov 2023 (251) — better" in seen
    assert "▼ 7.5% (−20) vs 12 months ending Dec 2022 (266) — better" in seen
    # The whole curve, the asked period marked on it; nothing about today's late data.
    assert "Chart: Jan 2015 – Apr 2025 · 12 months ending Dec 2023 marked" in seen
    assert "Data through Apr 2025" in seen
    assert "Late data" not in seen
    alt = alt_text(bot)
    assert "Ringed: Dec 2023, the period asked about." in alt


@pytest.mark.parametrize(
    "typed",
    [
        "overdoses in VT for December 2023",
        "overdoses for 2023-12 in VT",
        "overdoses in Vermont for 12/2023",
        "overdoses in VT for the 12 months ending Dec 2023",
        "overdoses in 2023 in VT",
        "overdoses Dec 2023 in VT",  # said without `for`
        "overdoses in VT Dec 2023",
    ],
)
def test_the_same_period_asked_in_other_words_gets_the_same_answer(sqlite_bot, typed):
    load_cdc(sqlite_bot)
    seen = all_text(ask(sqlite_bot, typed).answer())
    assert "*246 deaths* · 12 months ending Dec 2023" in seen


def test_a_year_of_a_12_month_ending_series_is_the_window_ending_in_december(sqlite_bot):
    load_cdc(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "overdoses in MD in 2024").answer())
    assert "*1,749 deaths* · 12 months ending Dec 2024" in seen
    assert "_The 12 months ending Dec 2024 are the calendar year 2024._" in seen


def test_a_quarter_of_a_12_month_ending_series_says_what_the_number_counts(sqlite_bot):
    load_cdc(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "overdoses in MD for Q1 2024").answer())
    assert "*2,393 deaths* · 12 months ending Mar 2024" in seen
    assert "▼ 2.8% (−70) vs 12 months ending Mar 2023 (2,463) — better" in seen
    assert "the last month of Q1 2024: a rolling annual total, not Q1 2024 alone" in seen


def test_a_year_not_finished_in_the_data_says_latest_not_last(sqlite_bot):
    load_cdc(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "overdoses in MD in 2025").answer())
    assert "*1,562 deaths* · 12 months ending Apr 2025" in seen
    assert "the latest month of 2025 in the data" in seen


def test_by_state_for_a_past_month_lists_the_states_then_the_us_apart(bot):
    load_cdc(bot)
    seen = all_text(ask(bot, "overdoses for Jun 2023 by state").answer())
    for line in (
        "*MD* 2,537 deaths (12 months ending Jun 2023)",
        "*NC* 4,324 deaths (12 months ending Jun 2023)",
        "*VT* 268 deaths (12 months ending Jun 2023)",
    ):
        assert line in seen
    assert (
        "_US is the national total, not a state:_\n*US* 111,466 deaths (12 months ending Jun 2023)"
        in (seen)
    )
    assert "US (the national total) not drawn" in seen
    alt = alt_text(bot)
    assert "3 places" in alt and "Ringed: Jun 2023" in alt


def test_a_suppressed_period_says_so_and_names_the_nearest_reported_values(sqlite_bot):
    """NC opioid deaths are suppressed (low data quality) from Oct 2023 to Sep 2024."""
    load_cdc(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "opioids in NC for Dec 2023").answer())
    assert (
        "12 months ending Dec 2023: not reported (suppressed or missing); nearest reported: "
        "12 months ending Sep 2023 (3,391 deaths) and 12 months ending Oct 2024 (2,119 deaths)."
    ) in seen
    assert " 0 deaths" not in seen and "100.0%" not in seen


def test_a_yearly_indicator_asked_for_a_month_answers_with_the_year_that_includes_it(sqlite_bot):
    load_naloxone(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "naloxone in MD for Dec 2023").answer())
    assert "*0.8 per 100 persons* · 2023" in seen
    assert "_The data is by year: showing 2023, the year that includes Dec 2023._" in seen
    seen = all_text(ask(sqlite_bot, "naloxone in MD in 2019").answer())
    assert "*0.6 per 100 persons* · 2019" in seen
    assert "vs 2018: not reported, so no comparison" in seen  # the data starts in 2019


def test_a_monthly_indicator_asked_for_a_year_shows_december_and_every_month(sqlite_bot):
    load_ed_visits(sqlite_bot)
    seen = all_text(ask(sqlite_bot, "ED visits in MD in 2024").answer())
    assert "*18 per 10,000 ED visits* · Dec 2024" in seen
    assert "vs Dec 2023" in seen
    assert "2024 by month (per 10,000 ED visits): Jan 23 · Feb 23.1 · Mar 25.2" in seen
    assert "Jun 27.4" in seen and "Dec 18" in seen
    assert "_Showing Dec 2024, the last month of 2024._" in seen


# --- periods with no data, and bad input -----------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        (
            "overdoses for Dec 2099",
            "Number of Drug Overdose Deaths has no data for Dec 2099, which is still to come. "
            "The nearest period with data: 12 months ending Apr 2025 (`for Apr 2025`).",
        ),
        (
            "overdoses in 1800",
            "Number of Drug Overdose Deaths has no data for 1800. "
            "The nearest period with data: 12 months ending Jan 2015 (`for Jan 2015`).",
        ),
        ("overdoses for Q5 2024", "`Q5 2024` is not a quarter: quarters are Q1 to Q4."),
        ("overdoses for 13/2024", "`13/2024` is not a month: 13 is not one of 1 to 12."),
        ("overdoses in 13/2024", "`13/2024` is not a month: 13 is not one of 1 to 12."),
        ("overdoses for Dec 2023 in 2024", "One period at a time"),
        ("overdoses in MD in VT", "One place at a time"),
    ],
)
def test_a_period_without_data_or_unreadable_is_told_privately_with_no_chart(
    sqlite_bot, typed, says
):
    load_cdc(sqlite_bot)
    reply = ask(sqlite_bot, typed).answer()
    assert reply["response_type"] == "ephemeral"
    assert says in reply["text"]
    assert no_chart(sqlite_bot)


def test_a_place_without_data_is_still_told_with_the_places_that_have_it(sqlite_bot):
    load_cdc(sqlite_bot)
    reply = ask(sqlite_bot, "overdoses in Ohio for Dec 2023").answer()
    assert reply["response_type"] == "ephemeral"
    assert "no data for “Ohio”. Places with data: MD, NC, US, VT." in reply["text"]


@pytest.mark.parametrize(
    "typed",
    [
        "<!channel> overdoses for <!channel> 2023",
        "overdoses in VT for Dec 2023 <!here>",
        "overdoses in <!everyone> for Dec 2023",
        "overdoses for " + "Dec 2023 " * 400,
    ],
)
def test_hostile_questions_are_answered_inertly(sqlite_bot, typed):
    load_cdc(sqlite_bot)
    reply = ask(sqlite_bot, typed[:4000]).answer()
    shown = all_text(reply)
    assert reply["response_type"] == "ephemeral"
    for control in ("<!channel>", "<!here>", "<!everyone>"):
        assert control not in shown
    assert len(shown) < 1000
    assert not sqlite_bot.slack.errors


def test_a_restricted_indicator_asked_for_a_period_from_another_channel_is_unknown(sqlite_bot):
    load_cdc(sqlite_bot)
    sqlite_bot.slack.add_channel("G0PRIVATE", name="data-team", members=["U0MARIA", "U0BOT"])
    describe(sqlite_bot, "Opioids (T40.0-T40.4,T40.6)", restricted_to=["G0PRIVATE"])
    describe(sqlite_bot, FENTANYL, restricted_to=["G0PRIVATE"])
    elsewhere = ask(sqlite_bot, "opioids in MD for Dec 2023").answer()
    assert elsewhere["response_type"] == "ephemeral"
    assert "I don't know an indicator called “opioids”" in elsewhere["text"]
    assert "2,176" not in elsewhere["text"]
    inside = all_text(ask(sqlite_bot, "opioids in MD for Dec 2023", channel="G0PRIVATE").answer())
    assert "*2,176 deaths* · 12 months ending Dec 2023" in inside


# --- honest places (issue 15) ----------------------------------------------------------------


def test_fentanyl_says_the_coalitions_place_has_no_data_and_which_place_is_shown(bot):
    load_cdc(bot)
    describe(bot, FENTANYL, aliases=["fentanyl"])
    set_default_place(bot, "MD")
    seen = all_text(ask(bot, "fentanyl").answer())
    assert f"{FENTANYL} — US" in seen
    assert f"_No MD data for {FENTANYL}; showing the US._" in seen
    seen = all_text(ask(bot, "fentanyl in Maryland for Dec 2023").answer())
    assert "*74,091 deaths* · 12 months ending Dec 2023" in seen
    assert f"_No Maryland data for {FENTANYL}; showing the US, the only place it has._" in seen


def test_no_note_when_the_coalitions_place_has_data(sqlite_bot):
    load_cdc(sqlite_bot)
    set_default_place(sqlite_bot, "VT")
    seen = all_text(ask(sqlite_bot, "overdoses for Dec 2023").answer())
    assert "*246 deaths* · 12 months ending Dec 2023" in seen
    assert "No VT data" not in seen
    assert "Showing VT, the coalition's default place" in seen


def test_help_shows_how_to_ask_for_a_period(sqlite_bot):
    answer = sqlite_bot.driver.command("/indicator", "help", user="U0MARIA", channel=CHANNEL)
    assert (
        "`/indicator overdoses for Dec 2023` · `in 2023` · `for Q1 2024 in VT`"
        in (answer.json()["text"])
    )
