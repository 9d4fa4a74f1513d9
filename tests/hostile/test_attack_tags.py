"""Every `#tag` links its indicator, attacked: the same tag three ways, fifty tags, a tag naming
an indicator restricted to another channel, a tag that starts two indicators' names."""

from __future__ import annotations

import json

from sqlalchemy import select

from storage.models import CommitmentIndicator, Indicator
from tests.e2e.test_commit import _add_indicator, ask, last_reply, make, replies, stored


def links(bot, commitment_id: int) -> list[str]:
    with bot.services.sessions() as session:
        return list(
            session.scalars(
                select(Indicator.slug)
                .join(CommitmentIndicator, Indicator.id == CommitmentIndicator.indicator_id)
                .where(CommitmentIndicator.commitment_id == commitment_id)
                .order_by(CommitmentIndicator.position)
            )
        )


def answer_after(bot, text: str) -> tuple[object, str]:
    count = len(replies(bot))
    commitment, _message = make(bot, text)
    said = last_reply(bot, count)
    return commitment, json.dumps(said)


def test_the_same_tag_three_ways_links_once_and_warns_of_nothing(bot):
    _add_indicator(bot, "naloxone", "Naloxone kits", aliases=["kits"])
    count = len(replies(bot))
    commitment, _ = make(bot, "Restock by Friday #naloxone #naloxone #NALOXONE #Kits")
    assert links(bot, commitment.id) == ["naloxone"]
    said = json.dumps(replies(bot)[count:])
    assert "no single indicator" not in said and "linked to" not in said


def test_fifty_unknown_tags_are_pointed_out_within_slacks_limits(bot):
    _add_indicator(bot, "naloxone", "Naloxone kits")
    tags = " ".join(f"#ward-{n:02d}-" + "x" * 25 for n in range(50))  # within /commit's 2,000
    commitment, said = answer_after(bot, f"Restock by Friday #naloxone {tags}")
    assert links(bot, commitment.id) == ["naloxone"]
    reply = replies(bot)[-1]
    for block in reply.get("blocks") or []:
        if block.get("type") == "section":
            assert len(block["text"]["text"]) <= 3000
    assert "match no single indicator here" in said


def test_fifty_known_tags_link_fifty_indicators_and_the_answer_fits(bot):
    """Short tags, each the start of one long name: the answer names each linked indicator."""
    for n in range(50):
        _add_indicator(bot, f"m{n:02d}-" + "y" * 90, f"Measure {n}")
    tags = " ".join(f"#m{n:02d}" for n in range(50))
    commitment, said = answer_after(bot, f"Count everything by Friday {tags}")
    assert "linked to" in said
    assert len(links(bot, commitment.id)) == 50
    reply = replies(bot)[-1]
    for block in reply.get("blocks") or []:
        if block.get("type") == "section":
            assert len(block["text"]["text"]) <= 3000


def test_a_tag_naming_a_restricted_indicator_elsewhere_neither_links_nor_reveals_it(bot):
    _add_indicator(bot, "naloxone", "Naloxone kits")
    _add_indicator(bot, "ward-5-secret", "Ward 5 overdoses (confidential)", restricted_to=["C0W5"])
    commitment, said = answer_after(bot, "Restock by Friday #naloxone #ward-5-secret #ward-5")
    assert links(bot, commitment.id) == ["naloxone"]
    assert "confidential" not in said and "Ward 5 overdoses" not in said
    # first tag: refused as unknown, and the list of known ones leaves it out
    refused = ask(bot, "Count ward 5 by Friday #ward-5")["text"]
    assert "I don't know the indicator #ward-5" in refused
    assert "secret" not in refused and "confidential" not in refused
    assert len(stored(bot)) == 1


def test_a_prefix_shared_by_a_visible_and_a_restricted_indicator_links_the_visible_one(bot):
    _add_indicator(bot, "ward-5-secret", "Ward 5 (confidential)", restricted_to=["C0W5"])
    _add_indicator(bot, "ward-6", "Ward 6 overdoses")
    commitment, message = make(bot, "Count ward 6 by Friday #ward")
    assert links(bot, commitment.id) == ["ward-6"]
    assert "secret" not in json.dumps(message) and "confidential" not in json.dumps(message)


def test_a_tag_that_starts_two_indicators_names_both_and_saves_nothing(bot):
    _add_indicator(bot, "opioid-deaths", "Opioid deaths")
    _add_indicator(bot, "opioid-ed-visits", "Opioid ED visits")
    said = ask(bot, "Count them by Friday #opioid")["text"]
    assert "#opioid starts more than one indicator (" in said
    assert "#opioid-deaths" in said and "#opioid-ed-visits" in said
    assert "Nothing was saved" in said
    assert stored(bot) == []
