"""`/indicator naloxone by state` end to end: which 24 of 51 places the chart draws, in what order.

Data: the bundled CDC files and catalog loaded as `commstat demo` loads them (default place MD;
overdose deaths for the US, MD, NC and VT; naloxone dispensing rates for 50 states and DC).
The coalition's places (bot.usecases.places): its default place, then the places of its
indicators that cover a few places only — MD, then NC and VT.
"""

import struct

from sqlalchemy import select

from bot.sandbox import bundled
from storage.models import Indicator, IndicatorValue, Team
from tests.helpers import all_text, wait_for

TEAM_ID = "T0COALITION"
CHANNEL = "C0MEETING"


def ask(bot, text):
    answer = bot.driver.command("/indicator", text, user="U0MARIA", channel=CHANNEL)
    assert answer.status == 200 and answer.seconds < 3
    key = bot.driver.sent[-1]["response_url"].rsplit("/", 1)[-1]
    return wait_for(lambda: bot.slack.responses(key))[0]


def uploaded(bot, count=1):
    done = wait_for(
        lambda: (
            (c := [c for c in bot.slack.calls_to("files.completeUploadExternal") if c.ok])[
                count - 1 :
            ]
            and c
        )
    )
    file_id = done[count - 1].params["files"][0]["id"]
    return bot.slack.files[file_id], bot.slack.uploads[file_id]


def png_size(data):
    return struct.unpack(">II", data[16:24])


def test_naloxone_by_state_draws_the_coalitions_places_first_and_counts_the_rest(bot):
    bundled.load_all(bot.services.sessions, team_id=TEAM_ID, now=bot.clock())

    seen = all_text(ask(bot, "naloxone by state"))
    assert "27 more places not drawn" in seen

    stored, png = uploaded(bot)
    assert png_size(png) == (1200, 1455)  # 24 panels, six rows
    assert stored["alt_txt"].startswith(
        "Chart of Naloxone dispensing rate for 51 places; latest prescriptions per 100 persons: "
        "MD 0.8 (2023); NC 0.6 (2023); VT 0.4 (2023); WY 2.5 (2023); AR 1.9 (2023)"
    )


def test_without_a_default_place_or_narrow_files_the_highest_come_first(bot):
    # Only the 51-place file, no default place: nobody is "the coalition's", the top ones lead.
    from storage.importer import import_file

    import_file(
        bot.services.sessions,
        team_id=TEAM_ID,
        path=bundled.NALOXONE,
        mapping=bundled.NALOXONE_MAPPING,
        now=bot.clock(),
    )
    with bot.services.sessions.begin() as session:
        team = session.get(Team, TEAM_ID)
        assert team is not None and not team.default_geography
        indicator = session.scalars(select(Indicator)).one()
        indicator.unit = "prescriptions per 100 persons"
        indicator.period_kind = "yearly"
        values = session.scalars(select(IndicatorValue)).all()
        assert len({v.geography for v in values}) == 51

    ask(bot, "naloxone dispensing rate by state")
    stored, _ = uploaded(bot)
    assert stored["alt_txt"].startswith(
        "Chart of Naloxone dispensing rate for 51 places; latest prescriptions per 100 persons: "
        "WY 2.5 (2023); AR 1.9 (2023); NM 1.6 (2023)"
    )


def test_a_hostile_default_place_changes_nothing_but_the_order(bot):
    # A default place that is no place, or a mention: no highlight, no error, nothing escapes.
    bundled.load_all(bot.services.sessions, team_id=TEAM_ID, now=bot.clock())
    with bot.services.sessions.begin() as session:
        team = session.get(Team, TEAM_ID)
        assert team is not None
        team.default_geography = "<!channel>"

    seen = all_text(ask(bot, "naloxone by state"))
    assert "<!channel>" not in seen
    stored, _ = uploaded(bot)
    # MD, NC and VT still lead (alphabetically): the overdose file's places are the coalition's
    assert (
        "51 places; latest prescriptions per 100 persons: MD 0.8 (2023); NC 0.6 (2023); VT"
        in (stored["alt_txt"])
    )
