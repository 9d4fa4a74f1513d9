"""A Slack-like record of everything the bot showed, built from what the local Slack stand-in received.

The demo uses it to write `transcript.html`: channel messages, ephemeral replies, direct messages,
forms, App Home views and uploaded charts, in order, with the simulated time. Block Kit is rendered
faithfully enough to judge layout (sections, fields, context, buttons, pickers, images).

What people typed reaches the page too, so the page is built as if every word were hostile: text
is escaped; every attribute value goes through `_attr` (`html.escape(…, quote=True)`), so a `"` in
a link cannot open a new attribute; a link becomes an `href` only for http, https and mailto
(`_safe_url`; an image only for http and https), and a link's address is set aside while `*bold*`
and `_italics_` are applied, so formatting never reaches inside an attribute.
"""

from __future__ import annotations

import base64
import html
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.sandbox.fake_slack import Call, FakeSlack


@dataclass
class Entry:
    at: datetime
    where: str  # "#commstat", "DM with Maria", "Maria's App Home", "Form"
    who: str
    kind: str  # typed, message, ephemeral, update, dm, home, form, image, pass, note
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    image: bytes | None = None
    alt: str | None = None


@dataclass
class Transcript:
    """Collects what the bot sent through the stand-in, in order, tagged with the simulated time."""

    fake: FakeSlack
    names: dict[str, str]  # user id -> how people appear ("Maria (Health Dept)")
    channels: dict[str, str]  # channel id -> name without '#'
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("America/New_York"))
    entries: list[Entry] = field(default_factory=list)
    _seen: int = 0
    _dm_users: dict[str, str] = field(default_factory=dict)  # IM channel id -> user id

    # --- what people did ------------------------------------------------------------------------

    def typed(self, at: datetime, user: str, where: str, text: str) -> None:
        self.collect(at)
        self.entries.append(Entry(at, self.where(where), self.names.get(user, user), "typed", text))

    def did(self, at: datetime, user: str, where: str, text: str) -> None:
        """A click, a form submission or opening a tab, told in words."""
        self.collect(at)
        self.entries.append(Entry(at, self.where(where), self.names.get(user, user), "did", text))

    def note(self, at: datetime, text: str, *, kind: str = "note") -> None:
        self.collect(at)
        self.entries.append(Entry(at, "", "", kind, text))

    # --- what the bot did -----------------------------------------------------------------------

    def where(self, channel: str | None) -> str:
        if not channel:
            return ""
        if channel in self.channels:
            return "#" + self.channels[channel]
        user = self._dm_users.get(channel, channel if channel[:1] in "UW" else "")
        if user:
            return f"DM with {self.names.get(user, user)}"
        return channel

    def collect(self, at: datetime) -> None:
        calls = self.fake.calls
        for call in calls[self._seen :]:
            response = call.response if isinstance(call.response, dict) else {}
            if call.status == 200 and response.get("ok", True) is not False:
                self._take(at, call)
        self._seen = len(calls)

    def _take(self, at: datetime, call: Call) -> None:
        params = call.params
        response = call.response if isinstance(call.response, dict) else {}
        method = call.method
        if method == "conversations.open" and response.get("channel"):
            users = str(params.get("users", "")).split(",")
            if len(users) == 1:
                self._dm_users[str(response["channel"]["id"])] = users[0]
            return
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            channel = str(response.get("channel") or params.get("channel") or "")
            raw = str(params.get("channel") or "")
            if raw[:1] in "UW":
                self._dm_users.setdefault(channel, raw)
            kind = {"chat.update": "update", "chat.postEphemeral": "ephemeral"}.get(
                method, "dm" if raw[:1] in "UWD" else "message"
            )
            self._add(at, self.where(channel or raw), kind, params)
        elif method == "response_url":
            kind = "message" if params.get("response_type") == "in_channel" else "ephemeral"
            if params.get("replace_original") in (True, "true"):
                kind = "update"
            self._add(at, "", kind, params)
        elif method in ("views.open", "views.push", "views.update"):
            view = params.get("view") or {}
            title = _text_of(view.get("title"))
            self.entries.append(
                Entry(at, "Form", "CommStat", "form", title, list(view.get("blocks") or []))
            )
        elif method == "views.publish":
            view = params.get("view") or {}
            user = str(params.get("user_id", ""))
            self.entries.append(
                Entry(
                    at,
                    f"{self.names.get(user, user)}'s App Home",
                    "CommStat",
                    "home",
                    "",
                    list(view.get("blocks") or []),
                )
            )
        elif method == "files.completeUploadExternal":
            channel = str(params.get("channel_id") or params.get("channels") or "")
            uploads, files = self.fake.uploads, self.fake.files
            for entry in params.get("files") or []:
                file_id = str(entry.get("id"))
                meta = files.get(file_id, {})
                self.entries.append(
                    Entry(
                        at,
                        self.where(channel),
                        "CommStat",
                        "image",
                        str(params.get("initial_comment") or entry.get("title") or ""),
                        image=uploads.get(file_id),
                        alt=meta.get("alt_txt"),
                    )
                )

    def _add(self, at: datetime, where: str, kind: str, params: dict[str, Any]) -> None:
        blocks = params.get("blocks") or []
        if isinstance(blocks, str):  # form-encoded calls carry JSON text
            import json

            blocks = json.loads(blocks)
        self.entries.append(
            Entry(at, where, "CommStat", kind, str(params.get("text") or ""), list(blocks))
        )

    # --- the page -------------------------------------------------------------------------------

    def render_html(self, title: str) -> str:
        rows: list[str] = []
        day = ""
        for entry in self.entries:
            local = entry.at.astimezone(self.zone)
            today = local.strftime("%A, %B %-d, %Y")
            if today != day:
                if day:
                    rows.append("</section>")
                day = today
                rows.append(
                    f'<section id="{_attr(f"{local:%Y-%m-%d}")}"><div class="day">'
                    f"<span>{html.escape(day)}</span></div>"
                )
            rows.append(self._render_entry(entry, local))
        if day:
            rows.append("</section>")
        return _PAGE.format(
            title=html.escape(title), rows="\n".join(rows), css=_CSS, script=_SCRIPT
        )

    def _render_entry(self, entry: Entry, local: datetime) -> str:
        when = local.strftime("%-I:%M %p").lower()
        if entry.kind == "setup":  # what happened before the story starts: folded away
            summary, _, details = entry.text.partition("\n")
            return (
                f'<details class="entry setup"><summary><span class="time">{when}</span> '
                f"{self.mrkdwn(summary)}</summary>{self.mrkdwn(details)}</details>"
            )
        if entry.kind in ("note", "pass"):
            return (
                f'<div class="entry {_attr(entry.kind)}"><span class="time">{when}</span> '
                f"{self.mrkdwn(entry.text)}</div>"
            )
        if entry.kind == "image" and entry.image:
            data = base64.b64encode(entry.image).decode()
            alt = _attr(entry.alt or entry.text or "chart")
            src = _attr(f"data:image/png;base64,{data}")
            body = (
                f'<div class="section">{self.mrkdwn(entry.text)}</div>' if entry.text else ""
            ) + f'<img class="chart" src="{src}" alt="{alt}" title="{alt}">'
        elif entry.kind in ("typed", "did"):
            text = self.typed_html(entry.text)
            body = f'<div class="typed">{text}</div>' if entry.kind == "typed" else f"<i>{text}</i>"
        else:
            body = "".join(self.block(b) for b in entry.blocks) or self.mrkdwn(entry.text)
        tag = {
            "ephemeral": "Only visible to you",
            "update": "edited",
            "home": "App Home",
            "form": "Form",
        }.get(entry.kind, "")
        where = f'<span class="where">{html.escape(entry.where)}</span>' if entry.where else ""
        avatar = "bot" if entry.who == "CommStat" else "person"
        initials = html.escape(entry.who[:1] or "?")
        return (
            f'<div class="entry {_attr(entry.kind)}"><div class="avatar {avatar}">{initials}</div>'
            f'<div class="content"><div class="meta"><b>{html.escape(entry.who)}</b>'
            f"{' <span class=app>APP</span>' if avatar == 'bot' else ''} "
            f'<span class="time">{when}</span> {where}'
            f"{f' <span class=tag>{tag}</span>' if tag else ''}</div>{body}</div></div>"
        )

    # --- plain text (for `commstat console`) ---------------------------------------------------

    def render_text(self, entry: Entry) -> str:
        """One entry as terminal text: a heading line, then the blocks' words, indented."""
        local = entry.at.astimezone(self.zone)
        when = local.strftime("%a %b %-d, %-I:%M %p")
        if entry.kind in ("note", "pass", "setup"):
            return f"[{when}] {self.plain(entry.text)}"
        tag = {
            "ephemeral": " (only visible to you)",
            "update": " (edited)",
            "home": " (App Home)",
            "form": " (form)",
        }.get(entry.kind, "")
        where = f" in {entry.where}" if entry.where else ""
        if entry.kind in ("typed", "did"):
            return f"[{when}] {entry.who}{where}: {self.plain(entry.text)}"
        if entry.kind == "image":
            body = [self.plain(entry.text)] if entry.text else []
            body.append(f"[chart: {entry.alt or 'image'}]")
        else:
            body = [line for b in entry.blocks for line in self.block_text(b)]
            if not body:
                body = [self.plain(entry.text)]
        lines = "\n".join(body).splitlines()
        return f"[{when}] CommStat{where}{tag}:\n" + "\n".join(f"    {line}" for line in lines)

    def plain(self, text: str) -> str:
        out = re.sub(
            r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>", lambda m: "@" + self.names.get(m[1], m[1]), text
        )
        out = re.sub(
            r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>",
            lambda m: "#" + (m[2] or self.channels.get(m[1], m[1])),
            out,
        )
        out = re.sub(r"<(https?://[^|>]+)\|([^>]*)>", r"\2 (\1)", out)
        out = re.sub(r"<(https?://[^|>]+)>", r"\1", out)
        out = re.sub(r"<!(here|channel|everyone)>", r"@\1", out)
        return out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def _element_text(self, element: dict[str, Any]) -> str:
        kind = element.get("type")
        if kind == "button":
            return f"[{_text_of(element.get('text'))}]"
        if kind == "datepicker":
            return f"[📅 {element.get('initial_date', 'Pick a date')}]"
        if kind in ("static_select", "overflow", "users_select", "multi_users_select"):
            return f"[{_text_of(element.get('placeholder')) or '…'} ▾]"
        if kind in ("mrkdwn", "plain_text"):
            return self.plain(_text_of(element))
        return ""

    def block_text(self, block: dict[str, Any]) -> list[str]:
        kind = block.get("type")
        if kind == "header":
            return [self.plain(_text_of(block.get("text"))).upper()]
        if kind == "section":
            lines = [self.plain(_text_of(block.get("text")))] if block.get("text") else []
            lines += [self.plain(_text_of(f)) for f in block.get("fields") or []]
            if block.get("accessory"):
                lines.append(self._element_text(block["accessory"]))
            return [line for line in lines if line]
        if kind == "context":
            return [" · ".join(self._element_text(e) for e in block.get("elements", []))]
        if kind == "divider":
            return ["─" * 40]
        if kind == "actions":
            return [" ".join(self._element_text(e) for e in block.get("elements", []))]
        if kind == "image":
            return [f"[image: {block.get('alt_text', '')}]"]
        if kind == "input":
            return [f"{_text_of(block.get('label'))}: ____"]
        return []

    # --- Block Kit --------------------------------------------------------------------------------

    def typed_html(self, text: str) -> str:
        """What someone typed, as Slack shows it in the message box: a mention is @Name (the
        `<@U…|name>` Slack sends is not what they saw), everything else literally."""
        out = html.escape(text, quote=False)
        out = _MENTION.sub(
            lambda m: f'<span class="mention">@{html.escape(self.names.get(m[1], m[1]))}</span>',
            out,
        )
        return _CHANNEL.sub(lambda m: f"#{m[2] or html.escape(self.channels.get(m[1], m[1]))}", out)

    def mrkdwn(self, text: str) -> str:
        out = html.escape(text.replace("\x00", ""), quote=False)  # NUL marks a link, below
        out = re.sub(r"```(.+?)```", lambda m: f"<pre>{m[1]}</pre>", out, flags=re.S)
        out = _MENTION.sub(
            lambda m: f'<span class="mention">@{html.escape(self.names.get(m[1], m[1]))}</span>',
            out,
        )
        out = _CHANNEL.sub(
            lambda m: (  # a label is already escaped, like all of `out`; a stored name is not
                f'<span class="mention">#{m[2] or html.escape(self.channels.get(m[1], m[1]))}</span>'
            ),
            out,
        )
        # Links: the opening tag (the address) is set aside until the inline formatting is done.
        anchors: list[str] = []

        def link(m: re.Match[str]) -> str:
            label = m[2] or m[1]
            url = _safe_url(html.unescape(m[1]))
            if url is None:
                return label
            anchors.append(f'<a href="{_attr(url)}">')
            return f"\x00{len(anchors) - 1}\x00{label}</a>"

        out = _LINK.sub(link, out)
        for pattern, replacement in _INLINE:
            out = pattern.sub(replacement, out)
        out = _ANCHOR.sub(lambda m: anchors[int(m[1])], out)
        lines = []
        for line in out.split("\n"):
            if line.startswith("&gt; "):
                line = f"<blockquote>{line[5:]}</blockquote>"
            lines.append(line)
        return "<br>".join(lines).replace("</blockquote><br>", "</blockquote>")

    def _text(self, obj: Any) -> str:
        if isinstance(obj, dict):
            raw = str(obj.get("text", ""))
            return self.mrkdwn(raw) if obj.get("type") == "mrkdwn" else html.escape(raw)
        return html.escape(str(obj or ""))

    def _element(self, element: dict[str, Any]) -> str:
        kind = element.get("type")
        if kind == "button":
            style = _attr(element.get("style", ""))
            return f'<span class="button {style}">{self._text(element.get("text"))}</span>'
        if kind == "datepicker":
            return f'<span class="button picker">📅 {html.escape(element.get("initial_date", "Pick a date"))}</span>'
        if kind in ("static_select", "overflow", "users_select", "multi_users_select"):
            label = self._text(element.get("placeholder")) or "…"
            return f'<span class="button picker">{label} ▾</span>'
        if kind == "image":
            src = _safe_url(str(element.get("image_url", "")), schemes=_IMAGE_SCHEMES)
            alt = _attr(element.get("alt_text", ""))
            if src is None:
                return f'<span class="thumb">🖼 {alt}</span>'
            return f'<img class="thumb" src="{_attr(src)}" alt="{alt}">'
        if kind in ("mrkdwn", "plain_text"):
            return self._text(element)
        return ""

    def block(self, block: dict[str, Any]) -> str:
        kind = block.get("type")
        if kind == "header":
            return f'<div class="header">{self._text(block.get("text"))}</div>'
        if kind == "section":
            parts = [self._text(block.get("text"))] if block.get("text") else []
            if block.get("fields"):
                parts.append(
                    '<div class="fields">'
                    + "".join(f"<div>{self._text(f)}</div>" for f in block["fields"])
                    + "</div>"
                )
            accessory = block.get("accessory")
            extra = f'<div class="accessory">{self._element(accessory)}</div>' if accessory else ""
            return f'<div class="section"><div>{"".join(parts)}</div>{extra}</div>'
        if kind == "context":
            items = " ".join(self._element(e) for e in block.get("elements", []))
            return f'<div class="context">{items}</div>'
        if kind == "divider":
            return "<hr>"
        if kind == "actions":
            items = "".join(self._element(e) for e in block.get("elements", []))
            return f'<div class="actions">{items}</div>'
        if kind == "image":
            alt = html.escape(block.get("alt_text", ""))
            return f'<div class="imageblock">🖼 {alt}</div>'
        if kind == "input":
            element = block.get("element") or {}
            hint = self._text(element.get("placeholder")) or html.escape(
                str(element.get("initial_value") or element.get("initial_date") or "")
            )
            return (
                f'<div class="input"><label>{self._text(block.get("label"))}</label>'
                f'<span class="field">{hint}</span></div>'
            )
        return ""


def _text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else str(obj or "")


def _attr(value: Any) -> str:
    """A value to write between an attribute's double quotes: `&`, `<`, `>`, `"` and `'`
    escaped, so it can never end the attribute or the tag."""
    return html.escape(str(value), quote=True)


_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_IMAGE_SCHEMES = frozenset({"http", "https"})


def _safe_url(url: str, *, schemes: frozenset[str] = _LINK_SCHEMES) -> str | None:
    """`url` when a browser may follow it (one of `schemes`, no spaces or control characters,
    which browsers strip and which hide a `javascript:`), else None. Escape it with `_attr`."""
    url = url.strip()
    if not url or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in schemes:
        return None
    if parts.scheme.lower() != "mailto" and not parts.netloc:
        return None
    return url


_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)(?:\|[^&]*)?&gt;")
_CHANNEL = re.compile(r"&lt;#([CG][A-Z0-9]+)(?:\|([^&]*))?&gt;")
# `<https://…|label>` as escaped text: the address runs to the `|` or the closing `&gt;` (it may
# hold `&amp;`); the label, already escaped, to the first `&gt;`.
_LINK = re.compile(r"&lt;((?:https?://|mailto:)[^|\s]*?)(?:\|([^\n]*?))?&gt;", re.IGNORECASE)
_ANCHOR = re.compile("\x00(\\d+)\x00")
_INLINE = [
    (re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])"), r"<b>\1</b>"),
    (re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])"), r"<i>\1</i>"),
    (re.compile(r"(?<![\w~])~([^~\n]+)~(?![\w~])"), r"<s>\1</s>"),
    (re.compile(r"`([^`\n]+)`"), r"<code>\1</code>"),
    (re.compile(r"&lt;!(here|channel|everyone)&gt;"), r'<span class="mention">@\1</span>'),
]

_CSS = """
body{font-family:Lato,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;background:#f4ede4;margin:0;color:#1d1c1d}
main{max-width:820px;margin:0 auto;background:#fff;min-height:100vh;box-shadow:0 0 0 1px #ddd}
h1{font-size:18px;margin:0;padding:14px 20px;border-bottom:1px solid #ddd;background:#3f0e40;color:#fff}
.sub{font-size:13px;color:#ddd;font-weight:normal}
.day{text-align:center;margin:18px 0 6px;border-top:1px solid #e2e2e2;height:0}
.day span{position:relative;top:-11px;background:#fff;border:1px solid #e2e2e2;border-radius:12px;padding:2px 12px;font-size:13px;font-weight:bold}
.entry{display:flex;padding:6px 20px;gap:10px}
.entry:hover{background:#f8f8f8}
.avatar{width:36px;height:36px;border-radius:6px;flex:none;display:flex;align-items:center;justify-content:center;color:#fff;font-weight:bold}
.avatar.bot{background:#1d3557}.avatar.person{background:#2a9d8f}
.content{flex:1;min-width:0}
.meta{font-size:15px}.time{color:#616061;font-size:12px}
.where{color:#616061;font-size:12px;background:#f1f1f1;border-radius:3px;padding:0 5px}
.tag{color:#616061;font-size:12px;font-style:italic}
.app{background:#e8e8e8;color:#616061;font-size:10px;padding:0 3px;border-radius:2px;font-weight:bold}
.typed{font-family:Menlo,Consolas,monospace;font-size:14px;color:#1264a3}
.ephemeral .content{border-left:3px solid #c9c9c9;padding-left:8px}
.home .content,.form .content{border:1px solid #ddd;border-radius:8px;padding:8px 12px;background:#fcfcfc}
.note,.pass,.setup{display:block;padding:4px 20px;font-size:13px;color:#616061}
.setup summary{cursor:pointer}
.note code{white-space:pre-wrap}
.pass{color:#7a4d00;background:#fff8e6}
.section{display:flex;gap:8px;margin:4px 0;line-height:1.46;font-size:15px}
.section>div:first-child{flex:1}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px;margin-top:4px}
.header{font-weight:900;font-size:18px;margin:6px 0}
.context{color:#616061;font-size:12px;margin:4px 0}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}
.button{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:3px 12px;margin:4px 6px 0 0;font-size:13px;font-weight:bold;background:#fff}
.button.primary{background:#007a5a;color:#fff;border-color:#007a5a}.button.danger{color:#e01e5a;border-color:#e01e5a}
.button.picker{font-weight:normal}
code{background:#f6f6f6;border:1px solid #e1e1e1;border-radius:3px;padding:0 3px;font-size:12px;color:#e01e5a}
pre{background:#f6f6f6;border:1px solid #e1e1e1;border-radius:4px;padding:6px}
blockquote{border-left:4px solid #ddd;margin:2px 0;padding-left:8px}
hr{border:none;border-top:1px solid #e2e2e2}
img.chart{max-width:480px;width:100%;border:1px solid #ddd;border-radius:6px;margin-top:4px}
.input label{font-weight:bold;display:block;margin-top:6px}
.field{display:block;border:1px solid #bbb;border-radius:4px;min-height:22px;padding:2px 6px;color:#888}
"""

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{css}</style></head>
<body><main><h1>{title}</h1>
{rows}
</main><script>{script}</script></body></html>"""

# `transcript.html#only=2026-11-25` shows one day (the README's screenshots use it).
_SCRIPT = """
const m = location.hash.match(/only=([0-9,-]+)/);
if (m) {
  const keep = new Set(m[1].split(","));
  document.querySelectorAll("main > section").forEach(s => {
    if (!keep.has(s.id)) s.style.display = "none";
  });
}
"""
