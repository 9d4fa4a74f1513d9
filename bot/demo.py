"""`commstat demo`: the real app, driven the way Slack drives it, with no Slack account.

It starts the local Slack stand-in, serves the real Bolt app over HTTP on a SQLite file in
./commstat-demo/, plays a coalition's week through signed slash commands, clicks and App Home,
and writes a transcript of everything the bot said.
"""

from __future__ import annotations

import html
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import create_app
from bot.config import load_settings
from bot.fake_slack import FakeSlack
from bot.server import make_server, make_wsgi_app, run_until_closed
from bot.services import bootstrap
from bot.slack_driver import SlackDriver

TEAM = "T0COALITION"
CHANNEL = "C0COMMSTAT"
PEOPLE = [
    ("U0MARIA", "Maria (Health Dept)", "America/New_York"),
    ("U0LEE", "Lee (Housing Authority)", "America/Los_Angeles"),
    ("U0SAM", "Sam (Police)", "America/New_York"),
    ("U0PAT", "Pat (Mayor's Office)", "America/New_York"),
]
START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday, 10:00 in New York


@dataclass
class Entry:
    at: datetime
    who: str
    kind: str  # "you typed", "message", "only you", "home", "form", "update"
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Demo:
    folder: Path
    clock_now: datetime = START
    entries: list[Entry] = field(default_factory=list)

    def clock(self) -> datetime:
        return self.clock_now


def _wait(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.02)
    return None


def run(folder: Path) -> tuple[Path, dict[str, int]]:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    demo = Demo(folder)
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
    services = bootstrap(settings, clock=demo.clock)
    server = make_server(
        make_wsgi_app(create_app(services), services.engine), host="127.0.0.1", port=0
    )
    thread = threading.Thread(target=run_until_closed, args=(server,), daemon=True)
    thread.start()
    driver = SlackDriver(
        f"http://127.0.0.1:{server.effective_port}/slack/events",
        secret,
        TEAM,
        response_url_for=lambda key: fake.response_url(key, channel=CHANNEL),
    )
    try:
        _play(demo, fake, driver)
    finally:
        server.close()
        fake.stop()
        services.engine.dispose()
    path = folder / "transcript.html"
    path.write_text(render_html(demo.entries), encoding="utf-8")
    counts: dict[str, int] = {}
    for entry in demo.entries:
        counts[entry.kind] = counts.get(entry.kind, 0) + 1
    return path, counts


def _play(demo: Demo, fake: FakeSlack, driver: SlackDriver) -> None:
    names = {user_id: name for user_id, name, _ in PEOPLE}
    seen = 0

    def collect() -> None:
        nonlocal seen
        for call in fake.calls[seen:]:
            params = call.params
            kind = {"chat.postMessage": "message", "chat.update": "update"}.get(call.method)
            if kind is not None:
                text, message_blocks = params.get("text", ""), params.get("blocks") or []
                demo.entries.append(Entry(demo.clock_now, "CommStat", kind, text, message_blocks))
            elif call.method == "response_url":
                kind = "message" if params.get("response_type") == "in_channel" else "only you"
                demo.entries.append(
                    Entry(
                        demo.clock_now,
                        "CommStat",
                        kind,
                        params.get("text", ""),
                        params.get("blocks") or [],
                    )
                )
            elif call.method in ("views.publish", "views.open"):
                view = params.get("view") or {}
                kind = "home" if call.method == "views.publish" else "form"
                demo.entries.append(
                    Entry(demo.clock_now, "CommStat", kind, "", view.get("blocks") or [])
                )
        seen = len(fake.calls)

    def say(user: str, text: str) -> None:
        demo.entries.append(
            Entry(demo.clock_now, names[user], "you typed", f"/commit {text}".strip())
        )
        before = len(fake.calls)
        answer = driver.command("/commit", text, user=user, channel=CHANNEL)
        if answer.body:
            body = answer.json()
            demo.entries.append(
                Entry(
                    demo.clock_now,
                    "CommStat",
                    "only you",
                    body.get("text", ""),
                    body.get("blocks") or [],
                )
            )
        _wait(lambda: len(fake.calls) > before and fake.calls[-1].status)
        time.sleep(0.15)
        collect()

    collect()
    say("U0PAT", "help")
    say("U0MARIA", "Distribute 200 naloxone kits at the Eastside shelters by end of month")
    say("U0MARIA", "<@U0LEE|lee> <@U0SAM|sam> Open the Saturday warming center by Friday")
    say("U0SAM", "Share the overdose hot-spot map with outreach by the 15th")
    say("U0SAM", "Send the weekly overdose report by yesterday")
    say("U0LEE", "Find 20 recovery-housing beds")
    demo.clock_now = START + timedelta(days=2)
    say("U0LEE", "list all")
    say("U0LEE", "done 2 Center opened with 40 cots")
    say("U0MARIA", "move 1 Dec 4")
    say("U0SAM", "done 1")
    demo.clock_now = START + timedelta(days=10)
    say("U0PAT", "list overdue")
    demo.entries.append(
        Entry(demo.clock_now, names["U0MARIA"], "you typed", "(opens the CommStat app's Home tab)")
    )
    driver.event(
        {"type": "app_home_opened", "user": "U0MARIA", "channel": "D0MARIA", "tab": "home"}
    )
    _wait(lambda: fake.calls_to("views.publish"))
    collect()


# --- a Slack-like page ---------------------------------------------------------------------------

_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)(?:\|[^&]*)?&gt;")
_NAMES = {user_id: name for user_id, name, _ in PEOPLE}
_MRKDWN = [
    (re.compile(r"\*([^*\n]+)\*"), r"<b>\1</b>"),
    (re.compile(r"`([^`\n]+)`"), r"<code>\1</code>"),
    (re.compile(r"_([^_\n]+)_"), r"<i>\1</i>"),
]


def _mrkdwn(text: str) -> str:
    out = html.escape(text, quote=False)
    out = _MENTION.sub(
        lambda m: f'<span class="mention">@{html.escape(_NAMES.get(m[1], m[1]))}</span>', out
    )
    for pattern, replacement in _MRKDWN:
        out = pattern.sub(replacement, out)
    return out.replace("\n", "<br>")


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return str(obj or "")


def _render_block(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind in ("section", "header"):
        body = _mrkdwn(_text_of(block.get("text")))
        extra = ""
        if block.get("accessory", {}).get("type") == "button":
            extra = f'<span class="button">{html.escape(_text_of(block["accessory"].get("text")))}</span>'
        cls = "header" if kind == "header" else "section"
        return f'<div class="{cls}">{body}{extra}</div>'
    if kind == "context":
        return (
            '<div class="context">'
            + " ".join(_mrkdwn(_text_of(e)) for e in block.get("elements", []))
            + "</div>"
        )
    if kind == "divider":
        return "<hr>"
    if kind == "actions":
        parts = []
        for element in block.get("elements", []):
            label = _text_of(element.get("text") or element.get("placeholder")) or element.get(
                "initial_date", ""
            )
            if element.get("type") == "datepicker":
                label = f"📅 {element.get('initial_date', '')}"
            parts.append(f'<span class="button">{html.escape(str(label))}</span>')
        return '<div class="actions">' + "".join(parts) + "</div>"
    if kind == "input":
        return f'<div class="input"><label>{html.escape(_text_of(block.get("label")))}</label><span class="field"></span></div>'
    return ""


def render_html(entries: list[Entry]) -> str:
    rows = []
    for entry in entries:
        body = "".join(_render_block(b) for b in entry.blocks) or _mrkdwn(entry.text)
        when = entry.at.strftime("%a %b %-d %Y, %H:%M UTC")
        label = {
            "only you": "Only visible to you",
            "home": "App Home",
            "form": "Form",
            "update": "Message updated",
        }.get(entry.kind, "")
        rows.append(
            f'<div class="entry {entry.kind.replace(" ", "-")}"><div class="meta"><b>{html.escape(entry.who)}</b>'
            f' <span class="time">{when}</span> <span class="tag">{label}</span></div>{body}</div>'
        )
    return _PAGE.replace("{rows}", "\n".join(rows))


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>CommStat demo transcript</title>
<style>
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;background:#f8f8f8;margin:0}
main{max-width:760px;margin:0 auto;background:#fff;padding:16px 24px;border-left:1px solid #ddd;border-right:1px solid #ddd}
h1{font-size:18px} .entry{padding:8px 0;border-bottom:1px solid #eee} .meta{font-size:13px;color:#1d1c1d}
.time{color:#616061;font-size:12px} .tag{color:#616061;font-size:12px;font-style:italic}
.you-typed{color:#1264a3} .only-you{background:#f4f9ff} .home,.form{background:#fbf7ef}
.section{margin:4px 0;line-height:1.45} .header{font-weight:bold;font-size:17px;margin:6px 0}
.context{color:#616061;font-size:12px;margin:2px 0} .mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}
.button{display:inline-block;border:1px solid #ccc;border-radius:4px;padding:2px 10px;margin:4px 6px 0 0;font-size:13px;background:#fff}
.actions{margin:4px 0} code{background:#f1f1f1;border:1px solid #e1e1e1;border-radius:3px;padding:0 3px;font-size:12px;color:#e01e5a}
.input label{font-weight:bold;display:block;margin-top:6px}.field{display:block;border:1px solid #ccc;border-radius:4px;height:22px}
</style></head><body><main><h1>#commstat — CommStat demo transcript</h1>
{rows}
</main></body></html>"""
