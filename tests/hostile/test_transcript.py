"""transcript.html in a real browser: what people typed is shown, never run.

`commstat demo` and `commstat console` write transcript.html from what the Slack stand-in
received. A link whose address holds a `"` used to close the `href` and write attributes of its
own (`autofocus onfocus=…`), which Chromium runs as the page loads. Each page here is opened in
Debian's chromium, headless, with a reader's script added at its end that focuses and hovers
every element once it has loaded; the DOM the browser ends up with is read back: the title a
script would change, the element a script would add, and every attribute the browser parsed.

Without chromium the tests skip locally, saying so; under CI=true they fail instead (.ci/run
installs chromium).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from slack_sdk import WebClient

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.transcript import Transcript
from tests.conftest import BOT_TOKEN, IN_CI, TEAM_ID

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
TITLE = "#commstat — hostile transcript"

# What a script would do if it ran: retitle the page and add an element.
SCRIPT = (
    "document.title='pwned';"
    "document.body.append(Object.assign(document.createElement('p'),{id:'pwned'}))"
)
# A link address that closes href="…" and writes its own attributes; Chromium focuses the
# element as the page loads and runs the handler. No spaces, `&` or `|`, so even the old pattern
# took it for an address.
BREAKOUT = f'https://evil.example/"autofocus/tabindex="1"onfocus="{SCRIPT}'
HOSTILE_TEXTS = [
    f"<{BREAKOUT}|the agenda>",
    f"<{BREAKOUT}>",
    f"<javascript:{SCRIPT}|click me>",
    f"<JavaScript:{SCRIPT}>",
    "<data:text/html;base64,PHNjcmlwdD5kb2N1bWVudC50aXRsZT0xPC9zY3JpcHQ+|data>",
    f"<https://evil.example/x'onfocus='{SCRIPT}'autofocus='|single quotes>",
    '<#C0HOSTILE|"onfocus="alert(1)> <@U0MARIA|"onfocus="alert(1)>',
    "```<img src=x onerror=alert(1)>``` </main><script>alert(1)</script>",
]
GOOD_LINK = "https://example.org/report_2026_final?a=1&b=2"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/eL9GtQAAAABJRU5ErkJggg=="
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if IN_CI:
        pytest.fail(
            "CI=true but chromium is missing: .ci/run installs it (apt-get install chromium)"
        )
    pytest.skip("needs Debian's chromium (apt-get install -y chromium); CI installs it")


# A reader, played by a script added after the page: once it has loaded, every element is
# focused, hovered and sent the events an injected handler would wait for (Chromium's own
# autofocus comes at a rendering step that --dump-dom does not always wait for). Then it marks
# the page, so a test knows scripts did run in it.
READER = """<script id="reader">
addEventListener("load", () => {
  const events = ["focus", "focusin", "mouseover", "mouseenter", "pointerover", "pointerenter",
                  "animationstart", "error", "load"];
  for (const element of document.querySelectorAll("body *")) {
    if (element.id === "reader") continue;
    for (const type of events) element.dispatchEvent(new Event(type));
    if (element.focus) element.focus();
  }
  document.documentElement.setAttribute("data-reader", "done");
});
</script>"""


def loaded_dom(page: Path, tmp_path: Path) -> str:
    """The DOM after the page loaded, a reader went over it, and its scripts had time to run."""
    read = page.with_name(f"{page.stem}-read.html")
    read.write_text(page.read_text(encoding="utf-8") + READER, encoding="utf-8")
    profile = tmp_path / f"chromium-profile-{page.stem}"
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            read.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'data-reader="done"' in result.stdout, result.stderr[-3000:]  # scripts did run
    return result.stdout


class Dom(HTMLParser):
    """Every element with its attributes, and the title, as the browser left them."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.title = ""
        self._in_title = False
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def links(self) -> list[str]:
        return [attrs["href"] for tag, attrs in self.elements if tag == "a" and "href" in attrs]


def assert_nothing_ran(dom: Dom) -> None:
    assert dom.title == TITLE, "a script retitled the page"
    assert not [a for _, a in dom.elements if a.get("id") == "pwned"], "a script added an element"
    handlers = [
        (tag, name) for tag, attrs in dom.elements for name in attrs if name.startswith("on")
    ]
    assert handlers == [], f"event handlers written into the page: {handlers}"
    assert not [tag for tag, attrs in dom.elements if "autofocus" in attrs]
    scripts = [attrs.get("id") for tag, attrs in dom.elements if tag == "script"]
    assert scripts == [None, "reader"]  # the page's own (`#only=` day filter), and the reader
    for href in dom.links():
        assert urlsplit(href).scheme in ("http", "https", "mailto"), href


def test_the_browser_does_run_a_handler_written_into_an_attribute(tmp_path: Path):
    """The check is real: the same breakout, unescaped, runs in this browser."""
    page = tmp_path / "control.html"
    page.write_text(
        f"<!doctype html><html><head><title>{TITLE}</title></head><body><main>"
        f'<a href="{BREAKOUT}">the agenda</a></main></body></html>',
        encoding="utf-8",
    )
    dom = Dom(loaded_dom(page, tmp_path))
    assert dom.title == "pwned"
    assert [a for _, a in dom.elements if a.get("id") == "pwned"]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(team_id=TEAM_ID, token=BOT_TOKEN).start()
    fake.add_user("U0MARIA", name="maria", tz="America/New_York")
    yield fake
    fake.stop()


def test_hostile_links_in_messages_blocks_uploads_and_notes_run_nothing(
    slack: FakeSlack, tmp_path: Path
):
    """Everything the transcript shows, through the stand-in as the bot would send it: message
    text, each kind of block, a button's style and value, an image's address and alt text, a
    chart's comment and alt text, a DM, what a person typed, and the demo's notes."""
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    slack.add_channel("C0MEETING", name="commstat")
    transcript = Transcript(
        slack, names={"U0MARIA": 'Maria "onfocus="alert(1)'}, channels={"C0MEETING": "commstat"}
    )
    handler = f'"autofocus tabindex=1 onfocus="{SCRIPT}'
    for text in HOSTILE_TEXTS:
        client.chat_postMessage(channel="C0MEETING", text=text)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": '"><b onfocus=x>'}},
        {"type": "section", "text": {"type": "mrkdwn", "text": " ".join(HOSTILE_TEXTS)}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": t} for t in HOSTILE_TEXTS[:2]],
            "accessory": {
                "type": "image",
                "image_url": f"javascript:{SCRIPT}",
                "alt_text": handler,
            },
        },
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": HOSTILE_TEXTS[0]},
                # Port 9 refuses at once: an injected onerror would run, and nothing waits.
                {
                    "type": "image",
                    "image_url": f'http://127.0.0.1:9/a.png"onerror="{SCRIPT}',
                    "alt_text": handler,
                },
            ],
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Done"},
                    "action_id": "done",
                    "style": f"primary{handler}",
                    "value": handler,
                }
            ],
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"The report: <{GOOD_LINK}|*final* report>, "
                "<mailto:maria@example.org|write to Maria>",
            },
        },
    ]
    client.chat_postMessage(channel="C0MEETING", text="fallback", blocks=blocks)
    client.chat_postMessage(channel="U0MARIA", text=HOSTILE_TEXTS[0])
    client.files_upload_v2(
        channel="C0MEETING",
        content=PNG,
        filename="chart.png",
        title=handler,
        alt_txt=handler,
        initial_comment=HOSTILE_TEXTS[0],
    )
    transcript.typed(AT, "U0MARIA", "C0MEETING", f"/commit {HOSTILE_TEXTS[0]} by Friday")
    transcript.did(AT, "U0MARIA", "C0MEETING", HOSTILE_TEXTS[0])
    transcript.note(AT, " ".join(HOSTILE_TEXTS))
    transcript.note(AT, HOSTILE_TEXTS[1], kind="pass")
    kinds = {entry.kind for entry in transcript.entries}
    assert {"message", "dm", "image", "typed", "did", "note", "pass"} <= kinds

    page = tmp_path / "transcript.html"
    page.write_text(transcript.render_html(TITLE), encoding="utf-8")
    dom = Dom(loaded_dom(page, tmp_path))

    assert_nothing_ran(dom)
    links = set(dom.links())
    # Well-formed http(s) and mailto links stay links, address intact and words formatted; the
    # breakout is one address, its quotes kept inside the href, and runs nothing.
    assert {GOOD_LINK, "mailto:maria@example.org", BREAKOUT} <= links
    markup = page.read_text(encoding="utf-8")
    assert "<b>final</b> report</a>" in markup and ">the agenda</a>" in markup
    assert not [link for link in links if "script:" in link.lower() or link.startswith("data:")]
    images = [attrs.get("src", "") for tag, attrs in dom.elements if tag == "img"]
    assert any(src.startswith("data:image/png;base64,") for src in images)  # the chart


def test_a_console_session_with_a_hostile_link_writes_a_page_that_runs_nothing(tmp_path: Path):
    """The real door: `commstat console`, a person typing a link that breaks out of href."""
    chromium()  # skip (or fail in CI) before the session, not after
    home = tmp_path / "home"
    home.mkdir()
    session = f"as maria\n/commit Read <{BREAKOUT}|the agenda> by Friday\n/commit list\nquit\n"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "MPLCONFIGDIR": str(home / "mpl"),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "console"],
        cwd=home,
        env=env,
        input=session,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    page = home / "commstat-console" / "transcript.html"
    assert "the agenda" in page.read_text(encoding="utf-8")

    dom = Dom(loaded_dom(page, tmp_path))
    assert dom.title == "#commstat — console session", "a script retitled the page"
    assert not [a for _, a in dom.elements if a.get("id") == "pwned"], "a script added an element"
    handlers = [
        (tag, name) for tag, attrs in dom.elements for name in attrs if name.startswith("on")
    ]
    assert handlers == [], f"event handlers written into the page: {handlers}"
