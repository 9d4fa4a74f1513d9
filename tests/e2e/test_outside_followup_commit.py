"""/commit follow-up typed by a busy person: `done` with many numbers."""

from __future__ import annotations

from tests.e2e.test_commit import ask, events, make, stored


def test_done_with_more_numbers_than_anyone_closes_at_once_is_refused_whole(bot):
    first, message = make(bot, "Call the shelter by Friday")
    numbers = " ".join(str(n) for n in range(first.id, first.id + 400))
    said = ask(bot, f"done {numbers}")
    assert said["response_type"] == "ephemeral"
    assert said["text"] == (
        "That is 400 commitments: close at most 20 at once, e.g. `/commit done 3 4`. "
        "Nothing was closed."
    )
    assert [c.status for c in stored(bot)] == ["open"]
    assert events(bot, "done") == []
    assert bot.slack.messages("C0MEETING") == [message]  # not edited


def test_done_with_twenty_numbers_answers_each_in_one_reply(bot):
    first, _ = make(bot, "Call the shelter by Friday")
    second, _ = make(bot, "Draft the MOU by Dec 10")
    numbers = [first.id, second.id, *range(second.id + 1, second.id + 19)]
    said = ask(bot, "done " + " ".join(map(str, numbers)))["text"].splitlines()
    assert said[0] == f"✅ #{first.id} and #{second.id} are done. Thank you!"
    assert len(said) == 19 and all("I can't find commitment" in line for line in said[1:])
    assert [c.status for c in stored(bot)] == ["done", "done"]
