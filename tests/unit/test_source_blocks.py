"""The meeting channel's "New data" announcement, as plain functions."""

from __future__ import annotations

from bot.slack.blocks.sources import SECTION_LIMIT, news_payload
from bot.usecases.sources import News


def _news(n: int) -> News:
    name = f"Indicator {n} " + "with a very long publisher's title " * 6
    places = tuple((f"County {p} & district", 10.0 + p) for p in range(20))
    return News(n, name.strip(), f"ind-{n}", "2025-06", "Jun 2025", places, 20, 3)


def test_many_long_lines_are_whole_and_the_rest_counted_never_cut_mid_way() -> None:
    news = [_news(n) for n in range(12)]
    payload = news_payload(news, source="vsrr", host="data.cdc.gov")
    body = payload["blocks"][0]["text"]["text"]
    assert len(body) <= SECTION_LIMIT
    *shown, more = body.split("\n")
    assert shown and all(line.startswith("📈 New data: *Indicator ") for line in shown)
    assert all(line.endswith("(and 3 earlier values revised)") for line in shown)
    assert "&amp; district" in shown[0]  # escaped whole, not cut inside `&amp;`
    assert more == f"…and {12 - len(shown)} more indicators."
    assert payload["text"].splitlines()[0].startswith("New data: Indicator 0 ")


def test_a_short_announcement_lists_every_indicator() -> None:
    payload = news_payload([_news(1), _news(2)], source="vsrr", host="data.cdc.gov")
    body = payload["blocks"][0]["text"]["text"]
    assert body.count("📈 New data:") == 2
    assert "more indicators" not in body
