"""`commstat demo`: three weeks of a coalition, played through the real app, with no Slack account.

It starts the local Slack stand-in, serves the real Bolt app over HTTP on a SQLite file in
./commstat-demo/, loads the bundled CDC data, and plays three weeks of a city's opioid-response
coalition: signed slash commands, button clicks in channels and DMs, App Home, and a scheduler pass
every simulated hour (nudges, data-freshness nudges, pre-meeting and weekly digests). Everything the
bot showed is written to `transcript.html`, in order, with the simulated time.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import create_app, create_worker_app
from bot.bootstrap import Services, bootstrap
from bot.config import load_settings
from bot.followup.scheduler import PassReport, run_pass
from bot.sandbox import bundled
from bot.sandbox.fake_slack import Call, FakeSlack
from bot.sandbox.slack_driver import SlackDriver
from bot.sandbox.transcript import Transcript
from bot.slack import ids
from bot.slack.http_server import make_server, make_wsgi_app, run_until_closed
from bot.slack.worker import WorkerThreads

logger = logging.getLogger(__name__)

TEAM = "T0COALITION"
CHANNEL = "C0COMMSTAT"
NEW_YORK = ZoneInfo("America/New_York")
PEOPLE = [
    ("U0PAT", "Pat (Mayor's Office)", "America/New_York"),
    ("U0MARIA", "Maria (Health Dept)", "America/New_York"),
    ("U0LEE", "Lee (Housing Authority)", "America/Los_Angeles"),
    ("U0SAM", "Sam (Police)", "America/Chicago"),
    ("U0ROSA", "Rosa (Harm Reduction Coalition)", "America/New_York"),
]
ORGANISATIONS = {
    "U0PAT": "Mayor's Office",
    "U0MARIA": "Health Department",
    "U0LEE": "Housing Authority",
    "U0SAM": "Police Department",
    "U0ROSA": "Harm Reduction Coalition",
}
START = datetime(2026, 11, 23, 9, 30, tzinfo=NEW_YORK)  # Monday morning in New York
END = START + timedelta(days=18)  # Friday of the third week (Dec 11)


def _sent_in_words(calls: Sequence[Call], transcript: Transcript) -> str:
    """What an hourly check sent, as a coalition member would say it: "2 direct messages
    (Maria, Lee) and 1 post in #commstat"."""
    people: list[str] = []
    posts: dict[str, int] = {}
    edits = 0
    for call in calls:
        if call.status != 200 or (isinstance(call.response, dict) and not call.response.get("ok")):
            continue
        channel = str(call.params.get("channel") or call.params.get("channel_id") or "")
        where = transcript.where(channel)
        if call.method == "chat.postMessage" and where.startswith("DM with "):
            people.append(where.removeprefix("DM with ").split(" (")[0])
        elif call.method in ("chat.postMessage", "files.completeUploadExternal"):
            posts[where] = posts.get(where, 0) + 1
        elif call.method == "chat.update":
            edits += 1
    words = []
    if people:
        dms = "direct message" if len(people) == 1 else "direct messages"
        words.append(f"{len(people)} {dms} ({', '.join(dict.fromkeys(people))})")
    for where, count in posts.items():
        words.append(f"{count} {'post' if count == 1 else 'posts'} in {where}")
    if edits:
        words.append(f"{edits} {'update' if edits == 1 else 'updates'} of earlier messages")
    if not words:
        return "nothing new"
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]


def _wait(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.01)
    return None


@dataclass
class Demo:
    services: Services
    fake: FakeSlack
    driver: SlackDriver
    transcript: Transcript
    workers: WorkerThreads
    now: datetime = START

    def clock(self) -> datetime:
        return self.now.astimezone(UTC)

    # --- people act -----------------------------------------------------------------------------

    def settle(self) -> None:
        """Wait until the app has finished the work it does after acking (follow-ups, charts)."""
        self.workers.settle(timeout=30)
        _wait(lambda: all(c.status for c in self.fake.calls), timeout=30)

    def command(self, user: str, command: str, text: str, channel: str = CHANNEL) -> None:
        self.transcript.typed(self.now, user, channel, f"{command} {text}".strip())
        answer = self.driver.command(command, text, user=user, channel=channel)
        if answer.body:
            body = answer.json()
            self.transcript.entries.append(
                _ack_entry(self.now, self.transcript.where(channel), body)
            )
        self.settle()
        self.transcript.collect(self.now)

    def click(
        self, user: str, action_id: str, *, channel: str, ts: str, words: str, **extra: Any
    ) -> None:
        self.transcript.did(self.now, user, channel, words)
        self.driver.click(action_id, user=user, channel=channel, message_ts=ts, **extra)
        self.settle()
        self.transcript.collect(self.now)

    def open_home(self, user: str) -> None:
        self.transcript.did(self.now, user, "", "opens the CommStat app's Home tab")
        self.driver.event(
            {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"}
        )
        self.settle()
        self.transcript.collect(self.now)

    # --- time passes ----------------------------------------------------------------------------

    def until(self, when: datetime) -> None:
        """Run a scheduler pass every simulated hour (on the hour) up to `when`."""
        step = self.now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        while step <= when:
            self.now = step
            self.tick()
            step += timedelta(hours=1)
        self.now = when

    def tick(self) -> PassReport:
        """One scheduler pass at the simulated time, noted in the transcript when it sent anything."""
        before = len(self.fake.calls)
        # The stand-in has no rate limit to respect: pace by 50 ms, not Slack's 1 s per channel.
        report = run_pass(self.services, now=self.clock(), per_channel_interval=0.05)
        if len(self.fake.calls) > before:
            self.transcript.collect(self.now)  # learns the DM channels it opened
            sent = _sent_in_words(self.fake.calls[before:], self.transcript)
            self.transcript.note(
                self.now,
                f"CommStat's hourly check sent {sent}.",
                kind="pass",
            )
            self.transcript.collect(self.now)
        return report

    def last_dm(self, user: str) -> tuple[str, str]:
        """(channel, ts) of the newest message the bot sent to this person's DM."""
        for call in reversed(self.fake.calls):
            if call.method == "chat.postMessage" and call.params.get("channel") == user:
                response = call.response or {}
                return str(response["channel"]), str(response["ts"])
        raise LookupError(f"no DM to {user}")

    def last_dm_option(self, user: str, action_id: str, ending: str) -> tuple[str, str, str]:
        """(channel, ts, value) of the newest DM to this person that carries this menu, and the
        value of its option ending with `ending` as the app put it there (the snooze menu carries
        `<id>:<days>`), so a click goes to that message and sends what a real click sends."""
        for call in reversed(self.fake.calls):
            if call.method != "chat.postMessage" or call.params.get("channel") != user:
                continue
            blocks = call.params.get("blocks") or []
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            for block in blocks:
                for element in block.get("elements") or []:
                    if isinstance(element, dict) and element.get("action_id") == action_id:
                        for option in element.get("options") or []:
                            if str(option.get("value", "")).endswith(ending):
                                response = call.response or {}
                                return (
                                    str(response["channel"]),
                                    str(response["ts"]),
                                    str(option["value"]),
                                )
        raise LookupError(f"no DM to {user} with a {action_id} option ending {ending!r}")


def _ack_entry(at: datetime, where: str, body: dict[str, Any]) -> Any:
    from bot.sandbox.transcript import Entry

    kind = "message" if body.get("response_type") == "in_channel" else "ephemeral"
    return Entry(at, where, "CommStat", kind, body.get("text", ""), body.get("blocks") or [])


MARKER = ".made-by-commstat"


class FolderInUse(Exception):
    """The folder holds files the demo did not make; it is never emptied."""


def _fresh_folder(folder: Path) -> None:
    """An empty folder for this run. One an earlier demo or console run made (it holds MARKER) is
    emptied; any other folder with files in it is refused, never deleted."""
    if folder.exists():
        if not folder.is_dir():
            raise FolderInUse(f"{folder} is a file; choose a folder with --folder.")
        if any(folder.iterdir()) and not (folder / MARKER).exists():
            raise FolderInUse(
                f"{folder} already has files in it that CommStat did not make; choose an empty or "
                "new folder with --folder (nothing was changed)."
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text(
        "Made by `commstat demo` or `commstat console`; rerunning empties it.\n"
    )


@contextmanager
def started(folder: Path, *, start: datetime = START) -> Iterator[Demo]:
    """The real app served over HTTP on a fresh SQLite file in `folder`, wired to a local Slack
    stand-in with the demo's people and #commstat channel, on a simulated clock at `start`."""
    _fresh_folder(folder)
    secret = secrets.token_hex(16)
    token = "xoxb-demo-" + secrets.token_hex(8)
    fake = FakeSlack(team_id=TEAM, token=token).start()
    for user_id, name, tz in PEOPLE:
        fake.add_user(user_id, name=name, tz=tz, is_admin=user_id == "U0PAT")
    fake.add_channel(CHANNEL, name="commstat")
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'commstat.sqlite3'}",
            "SLACK_BOT_TOKEN": token,
            "SLACK_SIGNING_SECRET": secret,
            "SLACK_API_URL": fake.api_url,
        }
    )
    holder: dict[str, Demo] = {}
    services = bootstrap(settings, clock=lambda: holder["demo"].clock())
    app = create_app(services)
    workers = WorkerThreads(services, create_worker_app(services)).start()
    server = make_server(
        make_wsgi_app(app, services.engine, signing_secret=secret), host="127.0.0.1", port=0
    )
    thread = threading.Thread(target=run_until_closed, args=(server,), daemon=True)
    thread.start()
    driver = SlackDriver(
        f"http://127.0.0.1:{server.effective_port}/slack/events",
        secret,
        TEAM,
        response_url_for=lambda key: fake.response_url(key, channel=CHANNEL),
    )
    names = {user_id: name for user_id, name, _ in PEOPLE}
    transcript = Transcript(fake, names, {CHANNEL: "commstat"}, zone=NEW_YORK)
    demo = holder["demo"] = Demo(services, fake, driver, transcript, workers, start)
    try:
        yield demo
    finally:
        # Work the app still does after an ack (when the demo or console was interrupted) ends
        # first; then the server finishes its requests and stops, and only then the Slack stand-in.
        server.close()
        thread.join(timeout=5)
        try:
            workers.settle(timeout=10)
        finally:
            workers.close()
        fake.stop()
        services.engine.dispose()


def run(folder: Path) -> tuple[Path, dict[str, int]]:
    with started(folder) as demo:
        load_data(demo)
        _play(demo)
    path = folder / "transcript.html"
    path.write_text(
        demo.transcript.render_html("#commstat — three weeks of a coalition (CommStat demo)"),
        encoding="utf-8",
    )
    counts: dict[str, int] = {}
    for entry in demo.transcript.entries:
        counts[entry.kind] = counts.get(entry.kind, 0) + 1
    return path, counts


def load_data(demo: Demo) -> None:
    """What the backbone team's data analyst does once: load the CDC files and the catalog."""
    overdoses, naloxone, catalog = bundled.load_all(
        demo.services.sessions, team_id=TEAM, now=demo.clock()
    )
    demo.transcript.note(
        demo.now,
        "Before the story: the data analyst loads the coalition's shared indicators "
        "(three commands; click to see them)\n"
        "`commstat import cdc_vsrr_provisional_overdose_deaths_US_MD_NC_VT.csv --indicator-column "
        'Indicator --period-column period_end --value-column "Data Value" --geography-column State`\n'
        f"{overdoses.summary()}\n"
        "`commstat import cdc_naloxone_dispensing_rates_by_state.csv --indicator "
        '"Naloxone dispensing rate" --period-column YEAR --value-column naloxone_dispensing_rate '
        "--geography-column STATE_ABBREV`\n"
        f"{naloxone.summary()}\n`commstat indicators load catalog.yml`\n{catalog}",
        kind="setup",
    )


def _play(demo: Demo) -> None:
    day = timedelta(days=1)
    monday = START.replace(hour=0, minute=0)

    # Week 1, Monday: the backbone team sets up the channel, leaders look at the data.
    demo.command("U0PAT", ids.COMMSTAT, "help")
    demo.command("U0PAT", ids.COMMSTAT, "meeting every Thursday at 10am")
    demo.command("U0PAT", ids.COMMSTAT, "weekly digest Monday 9am")
    for user, organisation in ORGANISATIONS.items():
        demo.command("U0PAT", ids.COMMSTAT, f"org <@{user}> {organisation}")
    demo.command("U0PAT", ids.INDICATOR, "overdose deaths in MD")
    demo.command("U0ROSA", ids.INDICATOR, "naloxone by state")
    demo.command("U0ROSA", ids.INDICATOR, "overdoes")
    demo.command("U0PAT", ids.INDICATOR, "list")

    # Partners make commitments.
    demo.now = monday + timedelta(hours=11)
    demo.command(
        "U0MARIA",
        ids.COMMIT,
        "Distribute 200 naloxone kits at the Eastside shelters by Wednesday #naloxone",
    )
    demo.command(
        "U0PAT", ids.COMMIT, "<@U0LEE|lee> <@U0SAM|sam> Open the Saturday warming center by Friday"
    )
    demo.command("U0SAM", ids.COMMIT, "Share the overdose hot-spot map with outreach by the 15th")
    demo.command("U0SAM", ids.COMMIT, "Send the weekly overdose report by yesterday")
    demo.command("U0LEE", ids.COMMIT, "Find 20 recovery-housing beds")
    demo.command("U0LEE", ids.COMMIT, "Find 20 recovery-housing beds by end of month")
    demo.command(
        "U0ROSA", ids.COMMIT, "Train 30 outreach workers in naloxone use by Dec 4 #naloxone"
    )
    demo.command("U0ROSA", ids.COMMIT, "done 3")

    # Tuesday and Wednesday: reminders arrive by DM; the digest goes out 24 hours before Thursday.
    demo.until(monday + day + timedelta(hours=12))
    demo.until(monday + 2 * day + timedelta(hours=11))
    channel, ts = demo.last_dm("U0MARIA")
    demo.click(
        "U0MARIA",
        ids.COMMIT_DONE,
        channel=channel,
        ts=ts,
        value="1",
        words="clicks ✅ Done in the DM",
    )
    demo.until(monday + 3 * day + timedelta(hours=9, minutes=45))

    # Thursday: the CommStat meeting.
    demo.command("U0PAT", ids.COMMIT, "list all")
    demo.command("U0SAM", ids.COMMIT, "move 3 Dec 18")
    demo.command("U0MARIA", ids.COMMIT, "move 3 Dec 1")
    demo.command(
        "U0MARIA",
        ids.COMMIT,
        "<@U0ROSA|rosa> Post naloxone vending machine locations on the city site by next Friday #naloxone",
    )
    demo.open_home("U0LEE")

    # Week 2.
    demo.until(monday + 7 * day + timedelta(hours=10))
    demo.command("U0LEE", ids.COMMIT, "done 2 Warming center opened with 40 cots")
    demo.until(monday + 8 * day + timedelta(hours=13))
    channel, ts, three_days = demo.last_dm_option("U0LEE", ids.COMMIT_SNOOZE, ":3")
    demo.click(
        "U0LEE",
        ids.COMMIT_SNOOZE,
        channel=channel,
        ts=ts,
        selected_option=three_days,
        words="snoozes the reminder for 3 days from the DM",
    )
    demo.until(monday + 10 * day + timedelta(hours=10, minutes=30))
    demo.command("U0PAT", ids.COMMSTAT, "digest now")
    demo.command("U0MARIA", ids.INDICATOR, "naloxone in MD since 2019")

    # Week 3.
    demo.until(monday + 14 * day + timedelta(hours=10))
    demo.command("U0PAT", ids.COMMSTAT, "report")
    demo.until(monday + 16 * day + timedelta(hours=12))
    demo.command("U0ROSA", ids.COMMIT, "done 6 Posted with a map")
    demo.until(monday + 17 * day + timedelta(hours=11))
    demo.open_home("U0SAM")
    demo.until(END.replace(hour=17))
    demo.command("U0PAT", ids.COMMIT, "list overdue")
