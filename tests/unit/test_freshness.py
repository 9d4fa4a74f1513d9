"""What a data steward reads when an indicator's next value is late."""

from __future__ import annotations

from datetime import date

from bot.core.periods import expected_next, month_period, parse_period
from bot.slack.blocks.nudges import steward_payload
from storage.models import Indicator


def maryland() -> Indicator:
    return Indicator(
        id=7,
        slug="md-overdose-deaths",
        name="Maryland overdose deaths",
        period_kind="monthly",
        update_frequency="monthly, 4-month lag",
        steward_id="U0LEE",
    )


def test_the_steward_is_told_which_period_is_late_since_when_and_how_to_add_it():
    indicator = maryland()
    latest = parse_period("2025-04")
    expected = expected_next(latest, indicator.period_kind, indicator.update_frequency)
    assert expected == date(2025, 9, 30)
    payload = steward_payload(indicator, month_period(2025, 5), expected)
    section = payload["blocks"][0]["text"]["text"]
    assert section == (
        "📊 No value yet for *Maryland overdose deaths*, May 2025: it was expected by "
        "Tue, Sep 30, 2025. Add it with `/indicator set md-overdose-deaths <value> for 2025-05` "
        "or `commstat import`."
    )
    assert (
        payload["text"]
        == "No value yet for Maryland overdose deaths, May 2025: it was expected by Tue, Sep 30, 2025."
    )
    assert (
        "data steward for Maryland overdose deaths" in payload["blocks"][1]["elements"][0]["text"]
    )
