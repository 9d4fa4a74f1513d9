"""`commstat console`: type slash commands and see what Slack would show, with no Slack account.

It is the demo's set-up (the real app over signed HTTP, a SQLite file, the local Slack stand-in,
the bundled CDC data and catalog) without the scripted three weeks: you play the coalition. Time
stands still until you move it with `wait`, which runs a scheduler pass every simulated hour, so
reminders and digests arrive as they would. Charts are saved as PNG files next to the transcript.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import dateparser

from bot.sandbox.demo import CHANNEL, NEW_YORK, PEOPLE, Demo, load_data, started
from bot.slack import ids

COMMANDS = {"/commit": ids.COMMIT, "/indicator": ids.INDICATOR, "/commstat": ids.COMMSTAT}
UNITS = {"minute": 1 / 60, "hour": 1, "day": 24, "week": 24 * 7}
LONGEST_WAIT = timedelta(days=92)

HELP = """\
Type what a person would type in #commstat, for example:
  /indicator overdose deaths in MD        /indicator list
  /commit Call the shelters by Wednesday  /commit list all      /commit done 1
  /commstat meeting every Thursday at 10am                      /commstat digest now
Console commands:
  as <name>            act as someone else ({people})
  wait <N> hours|days  let time pass (a scheduler pass every hour: reminders, digests)
  wait until <when>    e.g. `wait until Wednesday 10am`
  tick                 one scheduler pass now
  home                 open your App Home tab
  people               who is in the coalition
  help, quit"""


class Console:
    def __init__(self, demo: Demo, folder: Path, output: Callable[[str], None]) -> None:
        self.demo = demo
        self.folder = folder
        self.output = output
        self.user = PEOPLE[0][0]
        self._shown = len(demo.transcript.entries)
        self._charts = 0

    @property
    def prompt(self) -> str:
        name = self.demo.transcript.names[self.user]
        return f"{name} · {self.demo.now:%a %b %-d, %-I:%M %p} New York> "

    def handle(self, line: str) -> bool:
        """Act on one typed line; False when the person wants to stop."""
        line = line.strip()
        if not line:
            return True
        word, _, rest = line.partition(" ")
        word, rest = word.lower(), rest.strip()
        if word in ("quit", "exit", "q"):
            return False
        if word.startswith("/"):
            if word not in COMMANDS:
                self.output(f"{word} is not one of CommStat's commands: {', '.join(COMMANDS)}.")
            else:
                self.demo.command(self.user, COMMANDS[word], _escape(rest), channel=CHANNEL)
        elif word in ("help", "?"):
            names = ", ".join(name.split(" ")[0] for _, name, _ in PEOPLE)
            self.output(HELP.format(people=names))
        elif word == "people":
            for user_id, name, zone in PEOPLE:
                self.output(
                    f"  {name} — {zone}{' (Slack workspace admin)' if user_id == 'U0PAT' else ''}"
                )
        elif word == "as":
            self._switch(rest)
        elif word == "wait":
            self._wait(rest)
        elif word == "tick":
            before = len(self.demo.fake.calls)
            report = self.demo.tick()
            if len(self.demo.fake.calls) == before:
                self.output(f"Scheduler pass: nothing to send ({report.summary()}).")
        elif word == "home":
            self.demo.open_home(self.user)
        else:
            self.output(
                f"I don't know `{line[:60]}`. Slash commands start with `/`; type `help` for more."
            )
        self.show_new()
        return True

    def show_new(self) -> None:
        transcript = self.demo.transcript
        for entry in transcript.entries[self._shown :]:
            if entry.kind == "typed":
                continue
            text = transcript.render_text(entry)
            if entry.kind == "image" and entry.image:
                self._charts += 1
                path = self.folder / f"chart-{self._charts}.png"
                path.write_bytes(entry.image)
                text += f"\n    saved as {path}"
            self.output(text)
        self._shown = len(transcript.entries)

    def _switch(self, who: str) -> None:
        wanted = who.lstrip("@").lower()
        for user_id, name, _ in PEOPLE:
            if wanted and (wanted == user_id.lower() or name.lower().startswith(wanted)):
                self.user = user_id
                self.output(f"You are now {name}.")
                return
        names = ", ".join(name.split(" ")[0] for _, name, _ in PEOPLE)
        self.output(f"No one called `{who}` here. Try one of: {names}.")

    def _wait(self, text: str) -> None:
        now = self.demo.now
        target = _until(text, now) if text.lower().startswith("until ") else _after(text, now)
        if target is None:
            self.output(
                "Say how long, e.g. `wait 2 days`, `wait 3 hours`, `wait until Friday 9am`."
            )
        elif target <= now:
            self.output(
                f"That is not later than now ({now:%a %b %-d, %-I:%M %p}); time only moves on."
            )
        elif target - now > LONGEST_WAIT:
            self.output("That is more than three months ahead; wait in smaller steps.")
        else:
            self.demo.until(target)
            self.output(f"It is now {target:%a %b %-d, %-I:%M %p} in New York.")


def _escape(text: str) -> str:
    """`@maria` as Slack sends it from a command with should_escape: `<@U0MARIA|maria>`."""

    def mention(match: re.Match[str]) -> str:
        wanted = match[1].lower()
        for user_id, name, _ in PEOPLE:
            if wanted in (user_id.lower(), name.split(" ")[0].lower()):
                return f"<@{user_id}|{match[1]}>"
        return match[0]

    return re.sub(r"(?<![<\w])@(\w+)", mention, text)


def _after(text: str, now: datetime) -> datetime | None:
    number, _, unit = text.partition(" ")
    unit = unit.strip().lower().rstrip("s")
    try:
        amount = float(number)
    except ValueError:
        return None
    if unit not in UNITS or not 0 < amount < 10_000:
        return None
    return now + timedelta(hours=amount * UNITS[unit])


def _until(text: str, now: datetime) -> datetime | None:
    base = now.replace(tzinfo=None)
    # `wait until Tuesday 11am` on a Tuesday at 8 means today; once that has passed, next week's.
    for prefer in ("current_period", "future"):
        parsed = dateparser.parse(
            text[len("until ") :],
            languages=["en"],
            settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": prefer},
        )
        if parsed is None:
            return None
        at = parsed.replace(tzinfo=None).replace(tzinfo=NEW_YORK)
        if at > now:
            return at
    return at


def run(
    folder: Path,
    read: Callable[[str], str] = input,
    output: Callable[[str], None] = print,
) -> Path:
    """Play until `quit` (or end of input); returns the transcript of the session."""
    with started(folder) as demo:
        load_data(demo)
        console = Console(demo, folder, output)
        console.show_new()
        output("Type `help` for what you can do, `quit` to stop.")
        while True:
            try:
                line = read(console.prompt)
            except (EOFError, KeyboardInterrupt):
                output("")
                break
            if not console.handle(line):
                break
    path = folder / "transcript.html"
    path.write_text(demo.transcript.render_html("#commstat — console session"), encoding="utf-8")
    return path
