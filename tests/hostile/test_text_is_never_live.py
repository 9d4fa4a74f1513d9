"""Hostile words at every surface, through the served app: nothing arrives live in Slack.

People's words (a `/commit` line, the new-commitment and note forms, done notes and drop reasons,
organisation names, the default place) and a file's words (an indicator's name, unit, places and
source, from `commstat import` and the catalog) are thrown at the real app over signed HTTP, then
a scheduler pass and `digest now` send the digest, the reminders and the steward's DM. Everything
the Slack stand-in received — message text and blocks, ephemeral and `response_url` answers,
views and App Home, DMs, file titles, comments and alt text — and every HTTP answer is read, and
none of it may hold a live control: no `<!…>` broadcast or group, no `<@…>` but the people the
bot meant (owners, stewards, whoever acted), no `<url|label>` link. Each example starts from an
empty database and a new stand-in, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.core.commit_parser import split_commit
from bot.core.text import plain, safe
from bot.followup.scheduler import run_pass
from bot.slack import ids
from storage.catalog import load_catalog
from storage.importer import ImportMapping, import_file
from storage.models import Commitment, Person
from tests.conftest import NEW_YORK_MONDAY, PEOPLE, TEAM_ID, ServedBot

NY = ZoneInfo("America/New_York")
CHANNEL = "C0MEETING"
MEANT = {user_id for user_id, _, _ in PEOPLE} | {"U0ADMIN"}  # the only people ever mentioned
# Modest counts keep the module at a few seconds a database (a file's example draws two charts);
# each test also runs one explicit example holding every hostile piece at once.
EXAMPLES = dict(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a shrunk example costs minutes
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- hostile words -------------------------------------------------------------------------------
#
# Each piece as Slack sends it in a slash command's text (markup stays markup, a typed `&`, `<` or
# `>` is escaped) and as a form or a file holds it (raw).

MARKUP = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!here|here>",
    "<!channel|hello>",
    "<!subteam^S1|@x>",
    "<!subteam^S0NURSES>",
    "<@U0EVIL>",
    "<@U0EVIL|lee>",
    "<https://evil.example|agenda>",
    "<https://evil.example|https://good.example>",
    "<mailto:boss@evil.example|the director>",
]
TYPED = ["&", "<", ">", "&amp;", "&lt;!channel&gt;", "<b>", "a < b > c", "R&D", "> quote"]
WORDS = ["*bold*", "_it_", "~gone~", "`code`", "é", "📊", "中文", "Ω≈ç", "  ", "plan"]


def _slack_escaped(typed: str) -> str:
    return typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Hostile:
    slack: str  # as a slash command's text brings it
    raw: str  # as a form, a file or the catalog holds it


EVERY = Hostile(
    " ".join(MARKUP + [_slack_escaped(t) for t in TYPED + WORDS]), " ".join(MARKUP + TYPED + WORDS)
)
EVERY_SHORT = Hostile(
    "<!channel> &lt;!channel&gt; <@U0EVIL|lee> <https://evil.example|agenda> R&amp;D &lt;b&gt;",
    "<!channel> &lt;!channel&gt; <@U0EVIL|lee> <https://evil.example|agenda> R&D <b>",
)


def _piece() -> st.SearchStrategy[Hostile]:
    markup = st.sampled_from(MARKUP).map(lambda m: Hostile(m, m))
    typed = st.sampled_from(TYPED + WORDS).map(lambda t: Hostile(_slack_escaped(t), t))
    return st.one_of(markup, typed)


def hostile(max_pieces: int = 8, *, long: bool = True) -> st.SearchStrategy[Hostile]:
    """Sampled combinations of markup, escaping and unicode; sometimes a very long text."""
    pieces = st.lists(_piece(), min_size=1, max_size=max_pieces)
    joined = pieces.map(
        lambda ps: Hostile(" ".join(p.slack for p in ps), " ".join(p.raw for p in ps))
    )
    if not long:
        return joined
    padded = st.tuples(joined, st.sampled_from([0, 0, 1200])).map(
        lambda jp: Hostile(
            jp[0].slack + " lorem" * (jp[1] // 6), jp[0].raw + " lorem" * (jp[1] // 6)
        )
    )
    return padded


# --- what Slack was sent -------------------------------------------------------------------------

# Keys whose values are ids, timestamps or machine values, never shown to anyone.
NOT_SHOWN = {
    "action_id", "block_id", "callback_id", "channel", "channel_id", "channels", "external_id",
    "file", "filename", "hash", "id", "initial_conversation", "initial_date", "initial_users",
    "length", "private_metadata", "response_type", "style", "team_id", "thread_ts", "token",
    "trigger_id", "ts", "type", "upload_url", "url", "user", "user_id", "users", "value",
    "view_id", "replace_original", "response_action",
}  # fmt: skip
CONTROL = re.compile(r"<([^<>]*)>")
# The bot's own placeholders in help and examples (`/commit drop 12 <reason>`) are not controls.
PLACEHOLDER = re.compile(r"what|when|reason|text|value|period|place|name|unit|tag|time|number")


def shown_texts(node: Any, key: str | None = None) -> Iterator[str]:
    """Every string a person could see in a request's parameters or an answer's body."""
    if key in NOT_SHOWN:
        return
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from shown_texts(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from shown_texts(item, key)


def live_controls(texts: Iterator[str]) -> list[str]:
    """Every `<…>` Slack would run, other than a mention of someone the bot means and a channel
    it names."""
    found = []
    for text in texts:
        for inner in CONTROL.findall(text):
            meant = inner.startswith("@") and inner[1:] in MEANT
            channel = re.fullmatch(r"#[CDG][A-Z0-9]+", inner) is not None
            if not (meant or channel or PLACEHOLDER.fullmatch(inner)):
                found.append(f"<{inner}> in {text[:300]!r}")
    return found


class Served:
    """The served bot, a way to wait for its listeners, and a fresh start for each example."""

    def __init__(self, bot: ServedBot, settle: Callable[[], None]) -> None:
        self.bot = bot
        self.settle = settle
        self.fresh: Callable[[], None] = lambda: None
        self.answers: list[Any] = []  # every HTTP answer the app gave (acks, form errors)

    def __repr__(self) -> str:
        return "served"

    def calls_since(self, start: int) -> list[Any]:
        return list(self.bot.slack.calls)[start:]

    def command(self, name: str, text: str, *, user: str = "U0MARIA") -> None:
        answer = self.bot.driver.command(name, text, user=user, channel=CHANNEL)
        assert answer.status == 200, answer.text
        self.answers.append(answer)
        self.settle()

    def interact(self, send: Callable[[], Any]) -> Any:
        answer = send()
        assert answer.status == 200, answer.text
        self.answers.append(answer)
        self.settle()
        return answer

    def stored(self) -> list[Commitment]:
        with self.bot.services.sessions() as session:
            return list(session.scalars(select(Commitment).order_by(Commitment.id)))

    def assert_nothing_live(self, start: int = 0) -> list[Any]:
        calls = self.calls_since(start)
        assert calls, "the app sent Slack nothing"
        texts = [t for call in calls for t in shown_texts(call.params)]
        for answer in self.answers:
            texts.extend(shown_texts(answer.json() if answer.body else {}))
        found = live_controls(iter(texts))
        assert not found, "\n".join(found[:5])
        joined = "\n".join(texts)
        for live in ("<!", "<@U0EVIL", "<https://evil", "<mailto:", "&amp;amp;lt;"):
            assert live not in joined
        return calls


@pytest.fixture
def served(bot: ServedBot, request: pytest.FixtureRequest, _served_apps: Any) -> Served:
    """The module's served app for this database kind, made new for every Hypothesis example."""
    app = _served_apps(request, request.node.callspec.params["bot"])
    state = Served(bot, app.settle)

    def fresh() -> None:
        app.settle()
        app.fresh_database()
        bot.slack.reset_all()
        for user_id, name, tz in PEOPLE:
            bot.slack.add_user(user_id, name=name, tz=tz)
        bot.slack.add_user("U0ADMIN", name="pat", tz="America/New_York", is_admin=True)
        bot.clock.now = NEW_YORK_MONDAY
        state.answers.clear()

    state.fresh = fresh
    return state


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=NY)


# --- people's words ------------------------------------------------------------------------------


def _form(what: str, owner: str = "U0LEE", due: str = "2026-11-27") -> dict[str, Any]:
    return {
        "what": {"value": {"type": "plain_text_input", "value": what}},
        "owners": {"value": {"type": "multi_users_select", "selected_users": [owner]}},
        "due": {"value": {"type": "datepicker", "selected_date": due}},
        "channel": {"value": {"type": "conversations_select", "selected_conversation": CHANNEL}},
    }


@settings(max_examples=6, **EXAMPLES)
@given(words=hostile(), note=hostile(4, long=False), org=hostile(4, long=False))
@example(words=EVERY, note=EVERY_SHORT, org=EVERY_SHORT)
def test_peoples_words_never_run_in_slack(served: Served, words, note, org):
    served.fresh()
    bot = served.bot
    served.command("/commstat", "meeting every Thursday at 10am")

    # /commit, as Slack escapes it: the owner stays an owner, the words are words
    line = f"<@U0LEE> Call {words.slack} by Friday"
    served.command("/commit", line)
    served.command("/commit", f"<@U0SAM> Drop {note.slack} by Friday")
    # the form, raw
    served.interact(
        lambda: bot.driver.submit_view(
            ids.NEW_COMMITMENT_VIEW, _form("Form " + words.raw), user="U0MARIA"
        )
    )
    by_slash, to_drop, by_form = served.stored()
    assert by_slash.owner_ids == ["U0LEE"] and by_form.owner_ids == ["U0LEE"]
    assert by_form.text == " ".join(("Form " + words.raw).split())[:2000]
    confirmations = [m for m in bot.slack.messages(CHANNEL) if m.get("blocks")]
    what = split_commit(line)[0].what
    assert by_slash.text == what
    assert f"*#{by_slash.id}* {safe(what, 400)}" in _shown(confirmations[0]["blocks"])
    assert f"*#{by_form.id}* {safe(by_form.text, 400)}" in _shown(confirmations[-1]["blocks"])

    # the note form, a note, a done note and a drop reason
    served.interact(
        lambda: bot.driver.click(
            ids.COMMIT_NOTE,
            user="U0LEE",
            value=str(by_slash.id),
            channel=CHANNEL,
            message_ts=by_slash.message_ts,
        )
    )
    served.interact(
        lambda: bot.driver.submit_view(
            ids.NOTE_VIEW,
            {"note": {"text": {"type": "plain_text_input", "value": "Note " + note.raw}}},
            user="U0LEE",
            private_metadata=f"{by_slash.id}|",
        )
    )
    served.command("/commit", f"note {by_slash.id} Also {note.slack}", user="U0LEE")
    served.command("/commit", f"drop {to_drop.id} Because {note.slack}", user="U0SAM")
    served.command("/commit", f"done {by_form.id} Done {note.slack}", user="U0LEE")

    # organisation names and the default place (an admin's words), the report and the settings
    served.command("/commstat", f"org <@U0LEE> Org {org.slack}", user="U0ADMIN")
    served.command("/commstat", f"settings default place {org.slack}", user="U0ADMIN")
    served.command("/commstat", "settings", user="U0ADMIN")
    with bot.services.sessions() as session:
        organisation = session.get(Person, (TEAM_ID, "U0LEE")).organisation
    assert organisation == " ".join(plain(f"Org {org.slack}").split())[:200]  # as people read it

    # refusals that echo what was typed
    # (`/commit list @someone` names the person it lists, on purpose: not part of this check)
    served.command("/commit", "list " + re.sub(r"<@[^>]*>", "", words.slack)[:200])
    served.command("/commit", f"snooze {by_slash.id} {note.slack}", user="U0LEE")
    served.command("/commstat", f"colour {org.slack}")

    # the lists, App Home, the digest and the reminders
    served.command("/commit", "list all")
    served.interact(
        lambda: bot.driver.event(
            {"type": "app_home_opened", "user": "U0LEE", "channel": "D0LEE", "tab": "home"}
        )
    )
    report = run_pass(bot.services, now=ny(25, 10, 30), per_channel_interval=0)  # the digest
    assert not report.errors, report.summary()
    bot.clock.now = ny(30, 12, 30)
    report = run_pass(bot.services, now=ny(30, 12, 30), per_channel_interval=0)  # overdue
    assert not report.errors, report.summary()
    served.command("/commstat", "report")  # now that they came due: by organisation

    calls = served.assert_nothing_live()
    methods = {c.method for c in calls}
    assert {"chat.postMessage", "chat.update", "views.open", "views.publish", "response_url"} <= (
        methods
    )
    dms = bot.slack.messages("U0LEE")
    assert any(f"#{by_slash.id}" in str(m) for m in dms), "no reminder reached the owner"
    digest = [m for m in bot.slack.messages(CHANNEL) if "CommStat digest" in str(m.get("blocks"))]
    assert digest and f"#{by_slash.id}" in str(digest[0]["blocks"])


# --- a file's words ------------------------------------------------------------------------------


def _load(bot: ServedBot, folder: Path, name: str, unit: str, place: str, source: str) -> None:
    data = folder / "values.csv"
    with data.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["indicator", "period", "geography", "value"])
        for period, value in (("2026-05", 10), ("2026-06", 12)):
            writer.writerow([name, period, place, value])
            writer.writerow([name, period, "MD", value + 5])
    import_file(
        bot.services.sessions, team_id=TEAM_ID, path=data, mapping=ImportMapping(), now=bot.clock()
    )
    catalog = folder / "catalog.yml"
    entry = {
        "name": name,
        "aliases": ["zzdeaths"],
        "unit": unit,
        "direction": "lower",
        "target": 9,
        "period_kind": "monthly",
        "update_frequency": "monthly",
        "steward": "U0LEE",
        "source": source,
    }
    catalog.write_text(yaml.safe_dump({"indicators": [entry]}, allow_unicode=True))
    load_catalog(bot.services.sessions, team_id=TEAM_ID, path=catalog, now=bot.clock())


def _short(max_pieces: int = 4) -> st.SearchStrategy[str]:
    """A file's cell: one line, at most 60 characters, with a letter to name it by."""
    return hostile(max_pieces, long=False).map(lambda h: " ".join(h.raw.split())[:60])


@settings(max_examples=2, **EXAMPLES)
@given(name=_short(), unit=_short(3), place=_short(3), source=hostile(4, long=False))
@example(
    name="<!channel> <@U0EVIL|lee> &lt;!here&gt; *x*",
    unit="<https://evil.example|agenda> & <b>",
    place="<!subteam^S1|@x> R&D",
    source=EVERY_SHORT,
)
def test_a_files_words_never_run_in_slack(
    served: Served, tmp_path_factory: pytest.TempPathFactory, name, unit, place, source
):
    served.fresh()
    bot = served.bot
    _load(
        bot,
        tmp_path_factory.mktemp("hostile"),
        f"Deaths {name}",
        unit,
        place or "Elsewhere",
        " ".join(source.raw.split()),
    )

    served.command("/indicator", "zzdeaths")  # both places, side by side, with its chart
    served.command("/indicator", "zzdeaths in MD")  # one place: its name in the header
    served.command("/indicator", "zzdeaths in nowhere")  # "Places with data: …"
    served.command("/indicator", "list")
    served.command("/indicator", "qqqqqqqq")  # "Closest: …"
    served.command("/indicator", "set zzdeaths 5 for 2026-07 in nowhere", user="U0LEE")
    served.command("/indicator", "set zzdeaths 5% for 2026-07 in MD", user="U0LEE")
    served.command("/commit", "")  # the form lists the indicator by name
    served.command("/commstat", "digest now")  # new values, late data, and the digest's chart
    bot.clock.now = ny(23, 12, 30)
    report = run_pass(bot.services, now=ny(23, 12, 30), per_channel_interval=0)  # the steward
    assert not report.errors, report.summary()

    calls = served.assert_nothing_live()
    uploads = [c for c in calls if c.method == "files.completeUploadExternal"]
    assert len(uploads) >= 2, "the answer's chart and the digest's chart"
    assert any("No value yet for" in str(m) for m in bot.slack.messages("U0LEE"))
    assert [c for c in calls if c.method == "views.open"]


def test_the_checks_see_a_live_control_when_there_is_one():
    """The reader of what Slack was sent is not blind: these would fail the tests above."""
    sent = {"blocks": [{"text": {"text": "Hi <!channel> and <@U0EVIL> and <@U0LEE>"}}]}
    assert live_controls(shown_texts(sent)) == [
        "<!channel> in 'Hi <!channel> and <@U0EVIL> and <@U0LEE>'",
        "<@U0EVIL> in 'Hi <!channel> and <@U0EVIL> and <@U0LEE>'",
    ]
    assert live_controls(shown_texts({"alt_txt": "<https://evil.example|agenda>"}))
    assert live_controls(shown_texts({"text": "`/commit drop 12 <reason>` in <#C0MEETING>"})) == []
    assert live_controls(shown_texts({"text": "R&amp;D <b>"}))  # a typed tag is no placeholder
    assert not live_controls(shown_texts({"value": "<!channel>"}))  # a button's value: not shown


def test_only_the_meant_people_are_mentioned_in_a_nudge_chain_of_hours():
    """Hours of the scheduler's clock used above are where reminders are due (a sanity check of
    the test's own timeline: Monday 10:00 New York, the digest Wednesday, Lee's nudge at 9:30
    in Los Angeles)."""
    assert NEW_YORK_MONDAY.astimezone(NY) == ny(23, 10)
    assert ny(30, 12, 30).astimezone(ZoneInfo("America/Los_Angeles")).hour == 9
    assert ny(25, 10, 30) - ny(23, 10) == timedelta(days=2, minutes=30)


def _shown(blocks: object) -> str:
    """Blocks as the characters Slack receives (str() would show U+2060 as an escape)."""
    return json.dumps(blocks, ensure_ascii=False)
