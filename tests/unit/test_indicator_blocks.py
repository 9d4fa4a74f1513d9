"""Block Kit for /indicator as plain functions: what the meeting reads, within Slack's limits."""

from datetime import UTC, datetime

from bot.core import periods
from bot.core.indicator_rules import Comparison, Point, Summary, summarise
from bot.slack.blocks.indicators import build_answer, build_catalog, comparison_line, target_line
from bot.usecases.indicators import Answer, AskedAnswer, CatalogEntry, Series
from storage.models import Indicator


def text_of(blocks):
    found = []
    for block in blocks:
        data = block.to_dict()
        if "text" in data:
            found.append(data["text"]["text"] if isinstance(data["text"], dict) else data["text"])
        for element in data.get("elements", []):
            found.append(element.get("text", ""))
    return "\n".join(found)


def deaths(**extra):
    fields = dict(
        name="Number of Drug Overdose Deaths",
        slug="overdose-deaths",
        aliases=[],
        unit="deaths",
        direction="lower",
        target=None,
        period_kind="12-month-ending",
        source="CDC/NCHS VSRR",
    )
    fields.update(extra)
    return Indicator(**fields)


def month(year, m):
    return periods.month_period(year, m)


def test_a_comparison_reads_with_arrow_percent_and_verdict():
    indicator = deaths()
    line = comparison_line(indicator, Comparison(month(2025, 3), 1614, -52, -3.22, "better"))
    assert line == "▼ 3.2% (−52) vs 12 months ending Mar 2025 (1,614) — better"
    rate = deaths(direction="higher", period_kind="yearly", unit="per 100")
    line = comparison_line(rate, Comparison(periods.year_period(2022), 0.6, 0.2, 33.33, "better"))
    assert line == "▲ 33.3% (+0.2) vs 2022 (0.6) — better"
    assert "not reported" in comparison_line(indicator, Comparison(month(2024, 3), None))


def test_the_target_line_says_which_side_is_good():
    assert (
        target_line(deaths(target=1200), 362)
        == "🎯 Target 1,200 deaths: 362 above it — not there yet"
    )
    assert (
        target_line(deaths(target=1200), -10) == "🎯 Target 1,200 deaths: 10 below it — target met"
    )
    rate = deaths(target=1.0, direction="higher", unit=None)
    assert target_line(rate, -0.2) == "🎯 Target 1: 0.2 below it — not there yet"
    assert target_line(deaths(), 5) is None


def _answer(indicator, summaries, **extra):
    fields = dict(
        indicator=indicator,
        summaries=tuple(summaries),
        more=0,
        detailed=len(summaries) == 1,
        also=(),
        data_through="Apr 2025",
        updated=datetime(2026, 11, 23, tzinfo=UTC),
        explanation=periods.explain(indicator.period_kind),
        series=(Series("MD", (Point(month(2025, 4), 1562.0),)),),
        chart_more=0,
        markers=(),
        window="May 2020 – Apr 2025",
    )
    fields.update(extra)
    return Answer(**fields)


def test_the_detailed_answer_has_value_changes_meaning_source_and_freshness():
    indicator = deaths(target=1200)
    points = [
        Point(month(2024, 4), 2330.0),
        Point(month(2025, 3), 1614.0),
        Point(month(2025, 4), 1562.0),
    ]
    summary = summarise("MD", points, kind="12-month-ending", direction="lower", target=1200)
    seen = text_of(build_answer(_answer(indicator, [summary], also=("Opioids <!channel>",))))
    assert "Number of Drug Overdose Deaths — MD" in seen
    assert "*1,562 deaths* · 12 months ending Apr 2025" in seen
    assert "vs 12 months ending Mar 2025 (1,614) — better" in seen
    assert "vs 12 months ending Apr 2024 (2,330) — better" in seen
    assert "362 above it" in seen
    assert "rolling annual total" in seen
    assert "Source: CDC/NCHS VSRR · Data through Apr 2025 · updated Mon, Nov 23, 2026" in seen
    assert "(also: Opioids @\u2060channel)" in seen


def test_many_places_are_summarised_with_a_count_of_the_rest():
    indicator = deaths()
    summaries = [
        summarise(
            f"Ward {n}",
            [Point(month(2025, 3), 10.0), Point(month(2025, 4), 12.0)],
            kind="12-month-ending",
            direction="lower",
            target=None,
        )
        for n in range(10)
    ]
    blocks = build_answer(_answer(indicator, summaries, more=15))
    seen = text_of(blocks)
    assert seen.count("*Ward ") == 10
    assert "▲ 20.0% (+2) vs prior — worse" in seen
    assert "…and 15 more places" in seen
    assert len(blocks) <= 50


def _entry(n, geographies=("",)):
    indicator = Indicator(
        id=n,
        name=f"Measure {n} " + "y" * 80,
        slug=f"m{n}",
        aliases=[],
        unit="kits",
        period_kind="monthly",
    )
    latest = {g: Point(month(2026, 10), 100.0 + n) for g in geographies}
    return CatalogEntry(indicator, latest, month(2026, 10))


def test_the_catalog_lists_value_period_and_freshness():
    blocks = build_catalog([_entry(1), _entry(2, ("MD", "NC", "US", "VT", "WV"))])
    seen = text_of(blocks)
    assert "Indicators (2)" in seen
    assert "* (kits) — 101 · Oct 2026 · data through Oct 2026" in seen
    assert "MD 102 · NC 102 · VT 102 · WV 102 · +1 more" in seen  # the states first


def test_the_catalog_lists_the_national_total_after_the_states_and_says_what_it_is():
    seen = text_of(build_catalog([_entry(3, ("US", "MD", "NC", "VT"))]))
    assert "MD 103 · NC 103 · VT 103 · US (national total) 103 · Oct 2026" in seen


def test_a_huge_catalog_stays_within_slack_limits_and_says_how_many_more():
    blocks = build_catalog([_entry(n) for n in range(1000)])
    assert len(blocks) <= 50
    sections = [b.to_dict() for b in blocks if b.type == "section"]
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)
    assert sum(len(s["text"]["text"]) for s in sections) <= 12_000
    listed = sum(s["text"]["text"].count("*Measure") for s in sections)
    assert f"…and {1000 - listed} more." in text_of(blocks)
    assert all(
        line.startswith("*Measure") for s in sections for line in s["text"]["text"].split("\n")
    )


def test_an_empty_catalog_says_how_to_load_one():
    assert "No indicators yet — load some with `commstat import`" in text_of(build_catalog([]))


# --- one period asked about, and totals apart -------------------------------------------------


def test_a_period_without_a_value_names_the_nearest_reported_ones():
    indicator = deaths()
    asked = month(2023, 12)
    missing = Summary("NC", Point(asked, None), None, None, None, None)
    nearest = (Point(month(2023, 9), 3391.0), Point(month(2024, 10), 2119.0))
    answer = _answer(
        indicator,
        [missing],
        asked=AskedAnswer(asked, asked, None, nearest={"NC": nearest}),
    )
    seen = text_of(build_answer(answer))
    assert (
        "12 months ending Dec 2023: not reported (suppressed or missing); nearest reported: "
        "12 months ending Sep 2023 (3,391 deaths) and 12 months ending Oct 2024 (2,119 deaths)."
    ) in seen
    assert "12 months ending Dec 2023 marked" in seen
    alone = _answer(
        indicator, [missing], asked=AskedAnswer(asked, asked, None, nearest={"NC": (None, None)})
    )
    assert "no other period is reported either" in text_of(build_answer(alone))


def test_a_year_of_months_lists_each_month_and_says_which_one_leads():
    indicator = deaths(period_kind="monthly", unit="per 10,000 ED visits")
    months = tuple(Point(month(2024, m), 20.0 + m if m != 3 else None) for m in range(1, 13))
    summary = summarise("MD", months, kind="monthly", direction="lower", target=None)
    answer = _answer(
        indicator,
        [summary],
        asked=AskedAnswer(
            periods.year_period(2024),
            month(2024, 12),
            "Showing Dec 2024, the last month of 2024.",
            within=months,
        ),
    )
    seen = text_of(build_answer(answer))
    assert "*32 per 10,000 ED visits* · Dec 2024" in seen
    assert (
        "2024 by month (per 10,000 ED visits): Jan 21 · Feb 22 · Mar not reported · Apr 24" in seen
    )
    assert "_Showing Dec 2024, the last month of 2024._" in seen


def test_side_by_side_the_national_total_is_listed_apart_and_not_drawn():
    indicator = deaths()
    summaries = [
        summarise(
            g, [Point(month(2025, 4), v)], kind="12-month-ending", direction="lower", target=None
        )
        for g, v in (("MD", 1562.0), ("VT", 180.0), ("US", 73690.0))
    ]
    seen = text_of(build_answer(_answer(indicator, summaries, totals=("US",), by="states")))
    assert seen.index("*VT* 180") < seen.index("_US is the national total, not a state:_")
    assert seen.index("_US is the national total, not a state:_") < seen.index("*US* 73,690")
    assert "US (the national total) not drawn" in seen
