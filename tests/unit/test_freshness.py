"""What a data steward reads when an indicator's next value is late: a line of their morning
message."""

from __future__ import annotations

from datetime import date

from bot.core.periods import expected_next, month_period, parse_period
from bot.slack.blocks.nudges import compose_morning, data_line, morning_payload
from storage.models import Indicator


def maryland(name: str = "Maryland overdose deaths") -> Indicator:
    return Indicator(
        id=7,
        slug="md-overdose-deaths",
        name=name,
        period_kind="monthly",
        update_frequency="monthly, 4-month lag",
        steward_id="U0LEE",
    )


def line(indicator: Indicator) -> dict:
    expected = expected_next(
        parse_period("2025-04"), indicator.period_kind, indicator.update_frequency
    )
    assert expected == date(2025, 9, 30)
    return data_line(
        indicator,
        month_period(2025, 5),
        expected,
        day=date(2025, 10, 1),
        key="steward:7:2025-05:2025-10-01",
        holds={},
    )


def test_the_steward_is_told_which_period_is_late_since_when_and_how_to_add_it():
    payload = morning_payload([line(maryland())], day=date(2025, 10, 1))
    [section] = [b for b in payload["blocks"] if b.get("block_id") == "data-7"]
    assert section["text"]["text"] == (
        "📊 No value yet for *Maryland overdose deaths*, May 2025: it was expected by "
        "Tue, Sep 30, 2025. Add it with `/indicator set md-overdose-deaths <value> for 2025-05` "
        "or `commstat import`."
    )
    assert payload["text"] == (
        "Good morning: 1 late data update needs you today: no value yet for "
        "Maryland overdose deaths, May 2025."
    )
    why = payload["blocks"][-1]["elements"][0]["text"]
    assert why.startswith("You're getting this because you are the data steward;")
    assert payload["items"] == ["steward:7:2025-05:2025-10-01"]


def test_an_indicator_name_with_slack_markup_stays_words():
    payload = morning_payload([line(maryland("<!here> deaths <@U0KIM>"))], day=date(2025, 10, 1))
    laid_out = compose_morning(payload)
    assert "<!here>" not in str(laid_out) and "<@U0KIM>" not in str(laid_out)
