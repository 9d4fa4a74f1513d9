"""A local stand-in for the Slack Web API (standard library only).

Nothing on this machine can reach a Slack workspace, so everything that talks to Slack is tested
(and ``commstat demo`` runs) against :class:`FakeSlack`: a small HTTP server that answers the Web
API methods the bot uses with realistic answer shapes, records every request, and can inject the
failures real Slack produces (HTTP 429 + ``Retry-After``, 500/503, ``{"ok": false}`` errors, slow
answers).

Usage::

    with FakeSlack() as fake:
        client = WebClient(token=fake.token, base_url=fake.api_url)
        client.chat_postMessage(channel="C1", text="hi")
        assert fake.messages("C1")[0]["text"] == "hi"

How the real ``slack_sdk.WebClient`` (3.4x) talks to it, and what this server therefore handles:

* Every Web API call is a ``POST`` to ``base_url + method`` (``base_url`` must end with ``/``;
  :attr:`FakeSlack.api_url` does). The token travels as ``Authorization: Bearer <token>``; a
  ``token`` form/JSON field is accepted as well. Missing → ``not_authed``, wrong →
  ``invalid_auth`` (HTTP 200, like Slack).
* ``chat.postMessage``/``postEphemeral``/``update``/``views.*`` are sent as JSON bodies; most
  other methods as ``application/x-www-form-urlencoded`` (lists such as ``files`` for
  ``files.completeUploadExternal`` then arrive as JSON strings, decoded here).
  ``multipart/form-data`` is parsed too.
* ``files_upload_v2``: ``files.getUploadURLExternal`` (reads ``file_id`` and ``upload_url``) →
  a bare ``POST`` of the bytes to ``upload_url`` (no token, no retry handlers; anything but
  HTTP 200 raises) → ``files.completeUploadExternal`` (the SDK needs a ``files`` list in the
  answer; with exactly one file it copies it to ``response["file"]``). It no longer calls
  ``files.info``. As on real Slack, the completion answer's file objects carry no ``shares`` yet
  (sharing finishes asynchronously, python-slack-sdk #1329 / bolt-js #2115); ``files.info`` shows
  them.
* ``RateLimitErrorRetryHandler`` retries HTTP 429 and sleeps ``int(Retry-After) + random()``
  seconds; ``ServerErrorRetryHandler`` retries HTTP 500 and 503 only. ``fail_next(..., status=0)``
  drops the connection without an answer (``ConnectionErrorRetryHandler`` territory).
* Bolt's ``respond()`` is a ``WebhookClient`` that POSTs JSON to the ``response_url``; Slack answers
  ``200 ok``. Each response URL takes at most 5 posts (then HTTP 404 ``used_url``).

Run ``python -m bot.sandbox.fake_slack`` to serve one standalone on a fixed port.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email.parser
import email.policy
import hashlib
import json
import logging
import mimetypes
import random
import re
import selectors
import socket
import struct
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from zoneinfo import ZoneInfo

__all__ = ["Call", "FakeSlack"]

logger = logging.getLogger(__name__)

# Fields the SDK (or a hand-written form post) may send as JSON strings inside a form body.
_JSON_FIELDS = frozenset({"blocks", "attachments", "files", "view", "metadata", "user_auth_blocks"})

_STATUS_ERRORS = {
    429: "ratelimited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

# Long names for the zone abbreviations Slack shows as ``tz_label``; others fall back to the
# abbreviation itself.
_TZ_LABELS = {
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "AKST": "Alaska Standard Time",
    "AKDT": "Alaska Daylight Time",
    "HST": "Hawaii-Aleutian Standard Time",
    "GMT": "Greenwich Mean Time",
    "UTC": "Coordinated Universal Time",
    "BST": "British Summer Time",
    "IST": "India Standard Time",
    "CET": "Central European Time",
    "CEST": "Central European Summer Time",
    "EET": "Eastern European Time",
    "EEST": "Eastern European Summer Time",
    "JST": "Japan Standard Time",
    "AEST": "Australian Eastern Standard Time",
    "AEDT": "Australian Eastern Daylight Time",
}

_TRIGGER_TTL_SECONDS = 3.0
_RESPONSE_URL_MAX_USES = 5
_CHANNEL_ID_RE = re.compile(r"^[CGD][A-Z0-9]+$")
_USER_ID_RE = re.compile(r"^[UW][A-Z0-9]+$")


@dataclass
class Call:
    """One request the stand-in received.

    ``method`` is the Web API method (``"chat.postMessage"``), ``"upload"`` for a POST to an upload
    URL, ``"response_url"`` for a POST to a response URL, or ``"file_download"``. ``status`` is the
    HTTP status answered (0 while the request is still being answered, or when the connection was
    dropped on purpose); ``response`` is the decoded answer.
    """

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    at: float
    path: str = ""
    status: int = 0
    response: Any = None

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    @property
    def ok(self) -> bool:
        """True when the answer was HTTP 200 and not ``{"ok": false}``."""
        if self.status != 200:
            return False
        return not (isinstance(self.response, dict) and self.response.get("ok") is False)


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    error: str | None


@dataclass
class _RandomFaults:
    rate: float
    rng: random.Random
    statuses: tuple[int, ...]
    methods: frozenset[str] | None
    slow_seconds: float | None
    retry_after: int


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    decoded: Any = None
    drop: bool = False


class _ApiError(Exception):
    """Raised inside a method handler to answer HTTP 200 ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, *, messages: Sequence[str] = (), **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            out["response_metadata"] = {"messages": self.messages}
        return out


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _split_ids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _short_hash(text: str, length: int = 10) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:length]


def _decode_json_fields(params: dict[str, Any]) -> None:
    for key in _JSON_FIELDS & params.keys():
        value = params[key]
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            # A bad value stays a string; the method handler reports the bad format.
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    out: dict[str, Any] = {}
    if not message.is_multipart():
        return out
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            out[name] = data
        else:
            out[name] = data.decode(part.get_content_charset() or "utf-8", "replace")
    return out


def _parse_params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    ctype = content_type.split(";", 1)[0].strip().lower()
    if body:
        if ctype == "application/json":
            try:
                decoded = json.loads(body.decode("utf-8"))
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                params.update(decoded)
        elif ctype == "multipart/form-data":
            params.update(_parse_multipart(content_type, body))
        else:
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    _decode_json_fields(params)
    return params


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else ""
    return ""


def _validate_blocks(blocks: Any, *, limit: int, error: str) -> list[dict[str, Any]]:
    """Check the Block Kit limits the bot is most likely to trip over."""
    if isinstance(blocks, str):
        raise _ApiError("invalid_blocks_format")
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise _ApiError("invalid_blocks_format")
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"[ERROR] no more than {limit} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if not isinstance(kind, str):
            problems.append(f"[ERROR] missing required field: type [json-pointer:/blocks/{i}]")
            continue
        if kind == "section":
            if len(_text_of(block.get("text"))) > 3000:
                problems.append(
                    f"[ERROR] must be less than 3001 characters [json-pointer:/blocks/{i}/text]"
                )
            fields = block.get("fields") or []
            if isinstance(fields, list):
                if len(fields) > 10:
                    problems.append(
                        f"[ERROR] no more than 10 items allowed [json-pointer:/blocks/{i}/fields]"
                    )
                for j, fld in enumerate(fields):
                    if len(_text_of(fld)) > 2000:
                        problems.append(
                            "[ERROR] must be less than 2001 characters "
                            f"[json-pointer:/blocks/{i}/fields/{j}]"
                        )
        elif kind == "header" and len(_text_of(block.get("text"))) > 150:
            problems.append(
                f"[ERROR] must be less than 151 characters [json-pointer:/blocks/{i}/text]"
            )
        elif kind == "actions":
            elements = block.get("elements") or []
            if isinstance(elements, list) and len(elements) > 25:
                problems.append(
                    f"[ERROR] no more than 25 items allowed [json-pointer:/blocks/{i}/elements]"
                )
    if problems:
        raise _ApiError(error, messages=problems)
    return blocks


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "FakeSlack/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        with fake._answering():
            self._answer(fake)

    def _answer(self, fake: FakeSlack) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        answer = fake._handle_http(
            self.command, self.path, {k: v for k, v in self.headers.items()}, body
        )
        if answer.drop:
            self.close_connection = True
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    timeout = 0  # handle_request() never blocks: it is called when a connection is waiting

    def __init__(self, address: tuple[str, int], fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(address, _Handler)
        self._wake_r, self._wake_w = socket.socketpair()
        self._closing = False

    def serve_until_closed(self) -> None:
        """Accept connections until `close_soon()`; unlike `serve_forever()` (which notices a
        `shutdown()` only at its next poll), it stops the moment it is told to."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._closing:
                for key, _ in selector.select():
                    if key.fileobj is self and not self._closing:
                        self.handle_request()  # ready: accepts without waiting

    def close_soon(self) -> None:
        self._closing = True
        self._wake_w.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake_r.close()
        self._wake_w.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        self.fake._record_error(traceback.format_exc())


class FakeSlack:
    """A local Slack Web API stand-in on ``http://host:port/api/``.

    State (messages, files, views, ...) lives in memory behind one lock; every request is recorded
    in :attr:`calls`. Channels need not be registered to post to them (IDs like ``C…``/``G…``/``D…``
    are accepted) unless ``strict_channels=True``; ``conversations.info``/``join`` only know
    channels added with :meth:`add_channel` or opened with ``conversations.open``.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0COALITION",
        bot_user_id: str = "U0BOT",
        token: str = "xoxb-test-token",  # noqa: S107 - the stand-in's own fake token
        host: str = "127.0.0.1",
        port: int = 0,
        team_name: str = "Coalition",
        team_domain: str = "coalition",
        bot_id: str | None = None,
        bot_name: str = "commstat",
        ts_start: float | None = None,  # None: the real time, like Slack's own message ts
        strict_channels: bool = False,
    ) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id or ("B" + bot_user_id[1:])
        self.bot_name = bot_name
        self.app_id = "A" + bot_user_id[1:]
        self.token = token
        self.team_name = team_name
        self.team_domain = team_domain
        self.strict_channels = strict_channels
        self.host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ts_start = ts_start
        self._lock = threading.RLock()
        self._in_flight = 0  # requests being answered (see reset_all)
        self._idle = threading.Condition(self._lock)
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.members": self._conversations_members,
            "conversations.history": self._conversations_history,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "views.update": self._views_update,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "files.upload": self._files_upload_retired,
            "team.info": self._team_info,
            "reactions.add": self._reactions_add,
            "oauth.v2.access": self._oauth_v2_access,  # see "OAuth and Socket Mode" below
            "apps.connections.open": self._apps_connections_open,
        }
        self._new_state()

    def _new_state(self) -> None:
        """Everything a new stand-in starts with: no calls, no messages, only the bot user."""
        with self._lock:
            self.calls: list[Call] = []
            self.errors: list[str] = []  # tracebacks of bugs in the stand-in itself
            self._tokens: set[str] = {self.token}
            # Message ts are real epoch times on Slack; code that asks conversations.history for
            # messages "since" a wall-clock instant (the outbox's crash check) relies on that.
            start = time.time() if self._ts_start is None else self._ts_start
            self._ts_base_us = round(start * 1_000_000)
            self._ts_counter = 0
            self._id_counter = 0

            self._users: dict[str, dict[str, Any]] = {}
            self._channels: dict[str, dict[str, Any]] = {}
            self._messages: dict[str, list[dict[str, Any]]] = {}
            self._ephemeral: dict[str, list[dict[str, Any]]] = {}
            self._files: dict[str, dict[str, Any]] = {}
            self._uploads: dict[str, bytes] = {}
            self._views: dict[str, dict[str, Any]] = {}
            self._view_records: list[dict[str, Any]] = []
            self._home_view_ids: dict[str, str] = {}
            self._triggers: dict[str, float] = {}
            self._response_urls: dict[str, dict[str, Any]] = {}
            self._responses: dict[str, list[dict[str, Any]]] = {}

            self._fail_next: dict[str, deque[_Fault]] = {}
            self._random: _RandomFaults | None = None
            self._delays: dict[str, float] = {}
            self._errors: dict[tuple[str, str | None], str] = {}
            self._apps = _AppSide()  # OAuth installs and Socket Mode (see that section below)

            self.add_user(
                self.bot_user_id, name=self.bot_name, real_name=self.bot_name, is_bot=True
            )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self._port), self)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_until_closed, name=f"FakeSlack:{self._port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in delay()/slow answers
        server.close_soon()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        server.server_close()

    def reset_all(self, timeout: float = 10.0) -> None:
        """Back to the state of a new stand-in, on the same address: only the bot user, its own
        token, no calls, messages, files, views, channels or fault injection.

        Requests being answered finish first (those sleeping in `delay()` or a slow fault are
        woken), so nothing from before lands in the new state. Tests share one server this way.
        """
        with self._idle:
            self._stopping.set()
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout):
                raise TimeoutError(f"FakeSlack: {self._in_flight} request(s) still being answered")
            if self._server is not None:
                self._stopping.clear()
            self._new_state()

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started; call start() or use it as a context")
        return f"http://{self.host}:{self._port}"

    @property
    def api_url(self) -> str:
        """Give this to ``WebClient(base_url=...)`` / ``SLACK_API_URL``; ends with ``/``."""
        return f"{self.base_url}/api/"

    def response_url(self, key: str | None = None, *, channel: str | None = None) -> str:
        """A URL on this server that records JSON POSTed to it (Bolt's ``respond()``).

        With ``channel``, ``response_type: in_channel`` posts also become messages in that channel
        (ephemeral ones go to :meth:`ephemeral_messages`).
        """
        with self._lock:
            if key is None:
                key = f"R{self._next_id():08d}"
            entry = self._response_urls.setdefault(key, {"channel": None, "uses": 0})
            if channel is not None:
                entry["channel"] = channel
            self._responses.setdefault(key, [])
        return f"{self.base_url}/response/{quote(key, safe='')}"

    def new_trigger_id(self) -> str:
        """A ``trigger_id`` that expires 3 s from now, like the ones in Slack payloads."""
        with self._lock:
            trigger = f"{self._next_id()}.{_short_hash(str(self._id_counter), 8)}"
            self._triggers[trigger] = time.monotonic()
        return trigger

    # ------------------------------------------------------------------ recorded state

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def methods_called(self) -> list[str]:
        with self._lock:
            return [c.method for c in self.calls]

    def clear(self) -> None:
        """Forget the recorded calls (state and fault settings stay)."""
        with self._lock:
            self.calls.clear()

    def reset(self) -> None:
        """Forget calls, messages, files, views, responses and all fault injection.

        Users, channels and tokens stay.
        """
        with self._lock:
            self.calls.clear()
            self._messages.clear()
            self._ephemeral.clear()
            self._files.clear()
            self._uploads.clear()
            self._views.clear()
            self._view_records.clear()
            self._home_view_ids.clear()
            self._responses = {k: [] for k in self._responses}
            for entry in self._response_urls.values():
                entry["uses"] = 0
            self._fail_next.clear()
            self._random = None
            self._delays.clear()
            self._errors.clear()

    def all_messages(self) -> list[tuple[str, dict[str, Any]]]:
        """Every stored message as ``(channel id, message)``, in the order they were posted."""
        with self._lock:
            out = [(cid, m) for cid, msgs in self._messages.items() for m in msgs]
            return copy.deepcopy(sorted(out, key=lambda pair: float(pair[1]["ts"])))

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages in a channel, oldest first, with updates applied in place (copies).

        A user ID is resolved to the bot's DM channel with that user.
        """
        with self._lock:
            cid = self._resolve_channel_id(channel)
            return copy.deepcopy(self._messages.get(cid, []))

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._find_message(self._resolve_channel_id(channel), ts)
            return copy.deepcopy(found)

    def ephemeral_messages(self, channel: str, user: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            cid = self._resolve_channel_id(channel)
            out = self._ephemeral.get(cid, [])
            return copy.deepcopy(
                [m for m in out if user is None or m.get("ephemeral_user") == user]
            )

    @property
    def uploads(self) -> dict[str, bytes]:
        """Bytes POSTed to upload URLs, by file id."""
        with self._lock:
            return dict(self._uploads)

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        """File objects, by file id (including ``shares`` once completed)."""
        with self._lock:
            return copy.deepcopy(self._files)

    @property
    def views(self) -> list[dict[str, Any]]:
        """Records of views.open/push/publish/update, in order.

        Each: ``{"action", "view_id", "view", "user_id", "trigger_id", "external_id"}``.
        """
        with self._lock:
            return copy.deepcopy(self._view_records)

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._views.get(view_id))

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home_view_ids.get(user_id)
            return copy.deepcopy(self._views.get(view_id)) if view_id else None

    def responses(self, key: str) -> list[dict[str, Any]]:
        """JSON bodies POSTed to ``response_url(key)``, in order."""
        with self._lock:
            return copy.deepcopy(self._responses.get(key, []))

    # ------------------------------------------------------------------ directory

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        real_name: str | None = None,
        tz: str = "America/New_York",
        team_id: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        display_name: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
    ) -> None:
        ZoneInfo(tz)  # fail fast on a bad zone name
        with self._lock:
            self._users[user_id] = {
                "id": user_id,
                "name": name,
                "real_name": real_name if real_name is not None else name,
                "display_name": display_name if display_name is not None else name,
                "tz": tz,
                "team_id": team_id or self.team_id,
                "is_bot": is_bot,
                "deleted": deleted,
                "email": email,
                "is_admin": is_admin,
            }

    def deactivate_user(self, user_id: str) -> None:
        """A workspace admin deactivates someone: users.info says `deleted`, and a direct
        message to them (conversations.open, chat.postMessage) fails with `user_disabled`."""
        self._set_deleted(user_id, True)

    def reactivate_user(self, user_id: str) -> None:
        """The admin turns the account back on: everything works for them again."""
        self._set_deleted(user_id, False)

    def _set_deleted(self, user_id: str, deleted: bool) -> None:
        with self._lock:
            if user_id not in self._users:
                raise KeyError(f"no user {user_id} in the stand-in")
            self._users[user_id]["deleted"] = deleted

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str,
        is_archived: bool = False,
        members: Iterable[str] | None = None,
        is_private: bool | None = None,
    ) -> None:
        """Register a channel. ``members=None`` means the bot is in it; with an explicit member
        list that leaves out the bot, posting answers ``not_in_channel`` until
        ``conversations.join``."""
        with self._lock:
            self._channels[channel_id] = {
                "id": channel_id,
                "name": name,
                "is_archived": is_archived,
                "is_private": is_private if is_private is not None else channel_id.startswith("G"),
                "is_im": False,
                "members": None if members is None else list(dict.fromkeys(members)),
                "created": 1690000000,
            }

    # ------------------------------------------------------------------ files people upload

    def upload_as_user(
        self,
        user_id: str,
        name: str,
        data: bytes,
        *,
        title: str | None = None,
        claimed_size: int | None = None,
    ) -> dict[str, Any]:
        """A file that ``user_id`` uploaded (through a form's ``file_input``, or before sharing
        it): its file object, as ``files.info`` and a form's state give it. ``claimed_size`` is
        the size Slack reports, when it should differ from the bytes served."""
        with self._lock:
            file_id = f"F{self._next_id():010d}"
            meta: dict[str, Any] = {
                "id": file_id,
                "name": name,
                "title": title,
                "user": user_id,
                "created": int(time.time()),
                "completed": True,
                "size": len(data),
                "shares": {},
                "channels": [],
                "groups": [],
                "ims": [],
            }
            if claimed_size is not None:
                meta["claimed_size"] = claimed_size
            self._files[file_id] = meta
            self._uploads[file_id] = data
            return self._file_object(meta)

    def share_in_dm(
        self,
        user_id: str,
        name: str,
        data: bytes,
        *,
        comment: str = "",
        title: str | None = None,
        claimed_size: int | None = None,
    ) -> dict[str, Any]:
        """``user_id`` drops a file into their direct message with the bot: the file is stored,
        the message is posted in the DM, and the ``message`` event (subtype ``file_share``,
        ``channel_type: im``) Slack would send for it is returned, for the driver to send."""
        file = self.upload_as_user(user_id, name, data, title=title, claimed_size=claimed_size)
        with self._lock:
            cid = self._open_dm([user_id])
            meta = self._files[file["id"]]
            message: dict[str, Any] = {
                "type": "message",
                "subtype": "file_share",
                "user": user_id,
                "team": self.team_id,
                "text": comment,
                "upload": True,
                "display_as_bot": False,
                "files": [],
            }
            message = self._store_message(cid, message)
            meta["shares"] = {
                "private": {
                    cid: [
                        {
                            "reply_users": [],
                            "reply_users_count": 0,
                            "reply_count": 0,
                            "ts": message["ts"],
                            "channel_name": cid,
                            "team_id": self.team_id,
                            "share_user_id": user_id,
                            "source": "UNKNOWN",
                        }
                    ]
                }
            }
            meta["ims"] = [cid]
            message["files"] = [self._file_object(meta)]
            event = copy.deepcopy(message)
        event.update(channel=cid, channel_type="im", event_ts=event["ts"])
        return event

    def say_in_dm(self, user_id: str, text: str) -> dict[str, Any]:
        """``user_id`` types ``text`` in their direct message with the bot: the message is posted
        in the DM and the ``message`` event (no subtype, ``channel_type: im``) Slack would send
        for it is returned, for the driver to send."""
        with self._lock:
            cid = self._open_dm([user_id])
            message = self._store_message(
                cid, {"type": "message", "user": user_id, "team": self.team_id, "text": text}
            )
            event = copy.deepcopy(message)
        event.update(channel=cid, channel_type="im", event_ts=event["ts"])
        return event

    def change_file(self, file_id: str, data: bytes) -> None:
        """The file's bytes change under the same id (a snippet edited in Slack, or a test that
        needs what a later download finds to differ from what an earlier one did)."""
        with self._lock:
            self._files[file_id]["size"] = len(data)
            self._uploads[file_id] = data

    def delete_file(self, file_id: str) -> None:
        """Its owner deletes the file: files.info answers file_not_found, the download 404."""
        with self._lock:
            self._files.pop(file_id, None)
            self._uploads.pop(file_id, None)

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        error: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail.

        ``error`` set → HTTP 200 ``{"ok": false, "error": error}``. Otherwise HTTP ``status``
        (429 carries ``Retry-After: retry_after`` unless it is None); ``status=0`` drops the
        connection without answering. ``method`` may also be ``"upload"`` or ``"response_url"``.
        """
        with self._lock:
            queue = self._fail_next.setdefault(method, deque())
            for _ in range(times):
                queue.append(_Fault(status=status, retry_after=retry_after, error=error))

    def fail_randomly(
        self,
        rate: float,
        *,
        seed: int,
        statuses: Sequence[int] = (429, 500, 503),
        methods: Iterable[str] | None = None,
        slow_seconds: float | None = None,
        retry_after: int = 1,
    ) -> None:
        """Fail a share ``rate`` of calls, reproducibly for a ``seed`` and a call sequence.

        Each eligible call (``methods``; by default every Web API method, not uploads or response
        URLs) draws from ``random.Random(seed)``; a failing call gets one of ``statuses`` or, when
        ``slow_seconds`` is set, is answered normally after sleeping that long (for client
        timeouts). ``rate=0`` turns it off.
        """
        with self._lock:
            if rate <= 0:
                self._random = None
                return
            if not statuses and slow_seconds is None:
                raise ValueError("fail_randomly needs statuses or slow_seconds")
            self._random = _RandomFaults(
                rate=rate,
                rng=random.Random(seed),
                statuses=tuple(statuses),
                methods=frozenset(methods) if methods is not None else None,
                slow_seconds=slow_seconds,
                retry_after=retry_after,
            )

    def delay(self, method: str, seconds: float) -> None:
        """Sleep ``seconds`` before answering every call to ``method`` (0 removes it)."""
        with self._lock:
            if seconds > 0:
                self._delays[method] = seconds
            else:
                self._delays.pop(method, None)

    def set_error(self, method: str, error: str | None, *, channel: str | None = None) -> None:
        """Answer ``{"ok": false, "error": error}`` to every call to ``method`` (only those naming
        ``channel``, when given) until cleared with ``error=None``."""
        with self._lock:
            if error is None:
                self._errors.pop((method, channel), None)
            else:
                self._errors[(method, channel)] = error

    # ------------------------------------------------------------------ HTTP plumbing

    def _record_error(self, text: str) -> None:
        logger.error("FakeSlack internal error:\n%s", text)
        with self._lock:
            self.errors.append(text)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _handle_http(
        self, verb: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> _Answer:
        at = time.monotonic()
        parts = urlsplit(raw_path)
        path = parts.path
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        kind: str
        key = ""
        if path.startswith("/api/"):
            kind = "api"
            method = unquote(path[len("/api/") :]).strip("/")
            try:
                params = _parse_params(content_type, body, parts.query)
            except Exception:
                params = {}
        elif path.startswith("/upload/"):
            kind, method = "upload", "upload"
            params = {"file_id": unquote(path[len("/upload/") :])}
        elif path.startswith("/response/"):
            kind, method = "response_url", "response_url"
            params = _parse_params("application/json", body, "")
            key = unquote(path[len("/response/") :])
        elif path.startswith("/files/") and verb == "GET":
            kind, method = "download", "file_download"
            params = {"file_id": unquote(path.split("/")[2]) if path.count("/") >= 2 else ""}
        else:
            kind, method, params = "unknown", "unknown_path", {}

        call = Call(method=method, params=params, headers=headers, body=body, at=at, path=raw_path)
        with self._lock:
            self.calls.append(call)

        try:
            answer = self._pre_answer(method, kind, call)
            if answer is None:
                if kind == "api":
                    answer = self._answer_api(method, call)
                elif kind == "upload":
                    answer = self._answer_upload(call)
                elif kind == "response_url":
                    answer = self._answer_response_url(key, call)
                elif kind == "download":
                    answer = self._answer_download(call)
                else:
                    answer = _Answer(status=404, body=b"not found", content_type="text/plain")
        except Exception:
            self._record_error(traceback.format_exc())
            answer = self._json_answer(500, {"ok": False, "error": "fake_slack_internal_error"})

        call.status = 0 if answer.drop else answer.status
        call.response = answer.decoded
        return answer

    @staticmethod
    def _json_answer(
        status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> _Answer:
        return _Answer(
            status=status,
            body=json.dumps(payload).encode("utf-8"),
            headers=headers or {},
            decoded=payload,
        )

    def _fault_answer(self, status: int, retry_after: int | None) -> _Answer:
        if status == 0:
            return _Answer(status=0, body=b"", drop=True)
        headers: dict[str, str] = {}
        if status == 429 and retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        error = _STATUS_ERRORS.get(status, f"http_{status}")
        return self._json_answer(status, {"ok": False, "error": error}, headers)

    def _pre_answer(self, method: str, kind: str, call: Call) -> _Answer | None:
        """Delays and injected faults, before the method itself runs."""
        with self._lock:
            delay = self._delays.get(method, 0.0)
            fault: _Fault | None = None
            queue = self._fail_next.get(method)
            if queue:
                fault = queue.popleft()
            random_status: int | None = None
            slow = 0.0
            retry_after = 1
            rnd = self._random
            if fault is None and rnd is not None:
                eligible = method in rnd.methods if rnd.methods is not None else kind == "api"
                if eligible and rnd.rng.random() < rnd.rate:
                    outcomes: list[int | None] = list(rnd.statuses)
                    if rnd.slow_seconds is not None:
                        outcomes.append(None)
                    pick = rnd.rng.choice(outcomes)
                    if pick is None:
                        slow = rnd.slow_seconds or 0.0
                    else:
                        random_status = pick
                    retry_after = rnd.retry_after
        self._sleep(delay + slow)
        if fault is not None:
            if fault.error is not None:
                return self._json_answer(200, {"ok": False, "error": fault.error})
            return self._fault_answer(fault.status, fault.retry_after)
        if random_status is not None:
            return self._fault_answer(random_status, retry_after)
        return None

    def _token_of(self, call: Call) -> str | None:
        auth = call.header("Authorization")
        if auth and auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        token = call.params.get("token")
        return token if isinstance(token, str) and token else None

    def _answer_api(self, method: str, call: Call) -> _Answer:
        handler = self._methods.get(method)
        if handler is None:
            return self._json_answer(200, {"ok": False, "error": "unknown_method"})
        if method in _APP_LEVEL_METHODS:  # client credentials or an app-level token, not a bot's
            return self._answer_app_level(method, call)
        token = self._token_of(call)
        with self._lock:
            if token is None:
                return self._json_answer(200, {"ok": False, "error": "not_authed"})
            if token not in self._tokens:
                return self._json_answer(200, {"ok": False, "error": "invalid_auth"})
            params = {k: v for k, v in call.params.items() if k != "token"}
            error = self._configured_error(method, params)
            if error is not None:
                return self._json_answer(200, {"ok": False, "error": error})
            try:
                payload = handler(params)
            except _ApiError as exc:
                payload = exc.payload()
        return self._json_answer(200, payload)

    def _configured_error(self, method: str, params: dict[str, Any]) -> str | None:
        if not self._errors:
            return None
        named: list[str] = []
        for key in ("channel", "channel_id"):
            value = params.get(key)
            if isinstance(value, str) and value:
                named.append(value)
        named.extend(_split_ids(params.get("channels")))
        resolved = [self._resolve_channel_id(c) for c in named]
        for channel in [*named, *resolved]:
            error = self._errors.get((method, channel))
            if error is not None:
                return error
        return self._errors.get((method, None))

    def _answer_upload(self, call: Call) -> _Answer:
        file_id = call.params["file_id"]
        with self._lock:
            pending = self._files.get(file_id)
            if pending is None:
                return _Answer(status=404, body=b"Not Found", content_type="text/plain")
            self._uploads[file_id] = call.body
            pending["size"] = len(call.body)
        text = f"OK - {len(call.body)}"
        return _Answer(
            status=200, body=text.encode(), content_type="text/plain; charset=utf-8", decoded=text
        )

    def _answer_response_url(self, key: str, call: Call) -> _Answer:
        payload = call.params
        with self._lock:
            entry = self._response_urls.setdefault(key, {"channel": None, "uses": 0})
            if entry["uses"] >= _RESPONSE_URL_MAX_USES:
                return _Answer(
                    status=404, body=b"used_url", content_type="text/plain", decoded="used_url"
                )
            entry["uses"] += 1
            self._responses.setdefault(key, []).append(copy.deepcopy(payload))
            channel = entry["channel"]
            if channel is not None:
                self._apply_response(channel, payload)
        return _Answer(status=200, body=b"ok", content_type="text/html", decoded="ok")

    def _apply_response(self, channel: str, payload: dict[str, Any]) -> None:
        cid = self._resolve_channel_id(channel)
        if _truthy(payload.get("delete_original")):
            return
        message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": payload.get("text", ""),
            "blocks": payload.get("blocks"),
            "attachments": payload.get("attachments"),
            "thread_ts": payload.get("thread_ts"),
        }
        message = {k: v for k, v in message.items() if v is not None}
        if payload.get("response_type") == "in_channel":
            self._store_message(cid, message)
        else:
            message["ts"] = self._next_ts()
            self._ephemeral.setdefault(cid, []).append(message)

    def _answer_download(self, call: Call) -> _Answer:
        """A file's bytes at its ``url_private(_download)``, for a bearer token Slack accepts.

        Like Slack, a request without one (or with a wrong one) gets HTTP 200 and the HTML of
        the sign-in page, not the file; an unknown file is a 404."""
        token = self._token_of(call)
        with self._lock:
            data = self._uploads.get(call.params["file_id"])
            meta = self._files.get(call.params["file_id"])
            tokens_ok = token in self._tokens
        if not tokens_ok:
            return _Answer(status=200, body=_SIGN_IN_PAGE, content_type="text/html; charset=utf-8")
        if data is None or meta is None or not meta.get("completed"):
            return _Answer(status=404, body=b"Not Found", content_type="text/plain")
        mimetype = mimetypes.guess_type(str(meta.get("name") or ""))[0]
        return _Answer(status=200, body=data, content_type=mimetype or "application/octet-stream")

    # ------------------------------------------------------------------ helpers (lock held)

    def _next_id(self) -> int:
        self._id_counter += 1
        return self._id_counter

    def _next_ts(self) -> str:
        self._ts_counter += 1
        total = self._ts_base_us + 100 * self._ts_counter
        return f"{total // 1_000_000}.{total % 1_000_000:06d}"

    def _dm_id(self, users: Sequence[str]) -> str:
        people = sorted(set(users))
        prefix = "D" if len(people) == 1 else "G"
        return prefix + _short_hash(",".join(people))

    def _resolve_channel_id(self, channel: str) -> str:
        if _USER_ID_RE.match(channel):
            return self._dm_id([channel])
        if channel.startswith("#") or not _CHANNEL_ID_RE.match(channel):
            name = channel.lstrip("#")
            for cid, info in self._channels.items():
                if info.get("name") == name:
                    return cid
        return channel

    def _require(self, params: dict[str, Any], name: str) -> Any:
        value = params.get(name)
        if value is None or value == "":
            raise _ApiError(
                "invalid_arguments", messages=[f"[ERROR] missing required field: {name}"]
            )
        return value

    def _channel_for_write(self, params: dict[str, Any], key: str = "channel") -> str:
        raw = params.get(key)
        if not isinstance(raw, str) or not raw:
            raise _ApiError("channel_not_found")
        if _USER_ID_RE.match(raw):
            user = self._users.get(raw)
            if user is not None and user["deleted"]:
                raise _ApiError("user_disabled")
            cid = self._open_dm([raw])
            return cid
        cid = self._resolve_channel_id(raw)
        info = self._channels.get(cid)
        if info is None:
            if self.strict_channels or not _CHANNEL_ID_RE.match(cid):
                raise _ApiError("channel_not_found")
            return cid
        if info["is_archived"]:
            raise _ApiError("is_archived")
        members = info.get("members")
        if members is not None and self.bot_user_id not in members:
            raise _ApiError("not_in_channel")
        return cid

    def _open_dm(self, users: Sequence[str]) -> str:
        cid = self._dm_id(users)
        if cid not in self._channels:
            people = sorted(set(users))
            self._channels[cid] = {
                "id": cid,
                "name": None,
                "is_archived": False,
                "is_private": True,
                "is_im": len(people) == 1,
                "is_mpim": len(people) > 1,
                "user": people[0] if len(people) == 1 else None,
                "members": [*people, self.bot_user_id],
                "created": int(time.time()),
            }
        return cid

    def _find_message(self, channel: str, ts: Any) -> dict[str, Any] | None:
        for message in self._messages.get(channel, []):
            if message.get("ts") == ts:
                return message
        return None

    def _bot_profile(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "app_id": self.app_id,
            "name": self.bot_name,
            "team_id": self.team_id,
            "deleted": False,
        }

    def _new_message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text")
        blocks = params.get("blocks")
        attachments = params.get("attachments")
        if not text and not blocks and not attachments:
            raise _ApiError("no_text")
        if isinstance(text, str) and len(text) > 40000:
            raise _ApiError("msg_too_long")
        if blocks:
            _validate_blocks(blocks, limit=50, error="invalid_blocks")
        if attachments is not None and not isinstance(attachments, list):
            raise _ApiError("invalid_attachments")
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text if isinstance(text, str) else "",
            "bot_profile": self._bot_profile(),
        }
        for key in ("blocks", "attachments", "metadata", "thread_ts", "icon_emoji", "username"):
            if params.get(key) not in (None, ""):
                message[key] = copy.deepcopy(params[key])
        return message

    def _store_message(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        message["ts"] = self._next_ts()
        thread_ts = message.get("thread_ts")
        if thread_ts:
            parent = self._find_message(channel, thread_ts)
            if parent is not None:
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
                parent["latest_reply"] = message["ts"]
        self._messages.setdefault(channel, []).append(message)
        return message

    def _permalink(self, channel: str, ts: str, thread_ts: str | None = None) -> str:
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return link

    def _user_object(self, user: dict[str, Any]) -> dict[str, Any]:
        zone = ZoneInfo(user["tz"])
        now = datetime.now(zone)  # now-ok: like Slack, tz_offset is today's real offset
        offset = now.utcoffset()
        abbrev = now.tzname() or user["tz"]
        profile: dict[str, Any] = {
            "real_name": user["real_name"],
            "real_name_normalized": user["real_name"],
            "display_name": user["display_name"],
            "display_name_normalized": user["display_name"],
            "team": user["team_id"],
        }
        if user.get("email"):
            profile["email"] = user["email"]
        if user["is_bot"]:
            profile["bot_id"] = self.bot_id if user["id"] == self.bot_user_id else None
        return {
            "id": user["id"],
            "team_id": user["team_id"],
            "name": user["name"],
            "deleted": user["deleted"],
            "real_name": user["real_name"],
            "tz": user["tz"],
            "tz_label": _TZ_LABELS.get(abbrev, abbrev),
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": profile,
            "is_admin": bool(user.get("is_admin")),
            "is_owner": False,
            "is_bot": user["is_bot"],
            "is_app_user": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "updated": 1690000000,
        }

    def _channel_object(self, info: dict[str, Any]) -> dict[str, Any]:
        cid = info["id"]
        if info.get("is_im"):
            return {
                "id": cid,
                "created": info["created"],
                "is_im": True,
                "is_org_shared": False,
                "user": info.get("user"),
                "is_user_deleted": False,
                "priority": 0,
            }
        members = info.get("members")
        out = {
            "id": cid,
            "name": info.get("name"),
            "name_normalized": info.get("name"),
            "is_channel": not info["is_private"] and not info.get("is_mpim", False),
            "is_group": info["is_private"] and not info.get("is_mpim", False),
            "is_im": False,
            "is_mpim": info.get("is_mpim", False),
            "is_private": info["is_private"],
            "is_archived": info["is_archived"],
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": members is None or self.bot_user_id in members,
            "created": info["created"],
            "creator": "",
            "context_team_id": self.team_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }
        if members is not None:
            out["num_members"] = len(members)
        return out

    def _view_object(
        self, view: Any, *, view_id: str, previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if not isinstance(view, dict):
            raise _ApiError("invalid_arguments", messages=["[ERROR] missing required field: view"])
        kind = view.get("type")
        problems: list[str] = []
        if kind not in ("modal", "home"):
            problems.append("[ERROR] must be one of modal, home [json-pointer:/view/type]")
        if kind == "modal":
            title = _text_of(view.get("title"))
            if not title:
                problems.append("[ERROR] missing required field: title [json-pointer:/view]")
            elif len(title) > 24:
                problems.append(
                    "[ERROR] must be less than 25 characters [json-pointer:/view/title]"
                )
            for key in ("submit", "close"):
                if view.get(key) is not None and len(_text_of(view.get(key))) > 24:
                    problems.append(
                        f"[ERROR] must be less than 25 characters [json-pointer:/view/{key}]"
                    )
        blocks = view.get("blocks", [])
        if problems:
            raise _ApiError("invalid_arguments", messages=problems)
        _validate_blocks(blocks, limit=100, error="invalid_arguments")
        root = previous.get("root_view_id") if previous else view_id
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": kind,
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": copy.deepcopy(blocks),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{_short_hash(view_id + str(self._next_id()), 8)}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": root,
            "previous_view_id": None,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _use_trigger(self, params: dict[str, Any]) -> str:
        trigger = self._require(params, "trigger_id")
        issued = self._triggers.get(trigger)
        if issued is not None and time.monotonic() - issued > _TRIGGER_TTL_SECONDS:
            raise _ApiError("expired_trigger_id")
        return str(trigger)

    def _file_object(self, meta: dict[str, Any]) -> dict[str, Any]:
        file_id = meta["id"]
        name = meta["name"]
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        quoted = quote(name)
        team_url = f"https://{self.team_domain}.slack.com"
        public_key = _short_hash(file_id, 10).lower()
        obj: dict[str, Any] = {
            "id": file_id,
            "created": meta["created"],
            "timestamp": meta["created"],
            "name": name,
            "title": meta.get("title") or name,
            "mimetype": mimetype,
            "filetype": ext,
            "pretty_type": ext.upper(),
            "user": meta.get("user") or self.bot_user_id,
            "user_team": self.team_id,
            "editable": False,
            "size": meta.get("claimed_size", meta.get("size", 0)),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{self.base_url}/files/{file_id}/{quoted}",
            "url_private_download": f"{self.base_url}/files/{file_id}/download/{quoted}",
            "permalink": f"{team_url}/files/{meta.get('user') or self.bot_user_id}/{file_id}/{quoted}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{file_id}-{public_key}",
            "comments_count": 0,
            "is_starred": False,
            "shares": copy.deepcopy(meta.get("shares", {})),
            "channels": list(meta.get("channels", [])),
            "groups": list(meta.get("groups", [])),
            "ims": list(meta.get("ims", [])),
            "has_rich_preview": False,
            "file_access": "visible",
        }
        if meta.get("alt_txt"):
            obj["alt_txt"] = meta["alt_txt"]
        size = meta.get("image_size")
        if size:
            obj["original_w"], obj["original_h"] = size
        return obj

    # ------------------------------------------------------------------ Web API methods

    def _api_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "args": {k: v for k, v in params.items() if isinstance(v, str)}}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _team_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "team": {
                "id": self.team_id,
                "name": self.team_name,
                "url": f"https://{self.team_domain}.slack.com/",
                "domain": self.team_domain,
                "email_domain": "",
                "icon": {"image_default": True},
                "avatar_base_url": "https://ca.slack-edge.com/",
                "is_verified": False,
            },
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_for_write(params)
        message = self._store_message(cid, self._new_message(params))
        return {"ok": True, "channel": cid, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_for_write(params)
        user = self._require(params, "user")
        known = self._users.get(user)
        if known is not None and known["deleted"]:
            raise _ApiError("user_not_in_channel")
        members = self._channels.get(cid, {}).get("members")
        if members is not None and user not in members:
            raise _ApiError("user_not_in_channel")
        message = self._new_message(params)
        message["ts"] = self._next_ts()
        message["ephemeral_user"] = user
        self._ephemeral.setdefault(cid, []).append(message)
        return {"ok": True, "message_ts": message["ts"]}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = self._require(params, "channel")
        cid = self._resolve_channel_id(raw)
        ts = self._require(params, "ts")
        message = self._find_message(cid, ts)
        if message is None:
            raise _ApiError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise _ApiError("cant_update_message")
        if not any(params.get(k) for k in ("text", "blocks", "attachments", "file_ids")):
            raise _ApiError("no_text")
        text = params.get("text")
        if isinstance(text, str) and len(text) > 40000:
            raise _ApiError("msg_too_long")
        if params.get("blocks"):
            _validate_blocks(params["blocks"], limit=50, error="invalid_blocks")
        # Slack keeps fields that are left out and removes the ones sent empty.
        if text is not None:
            message["text"] = text if isinstance(text, str) else str(text)
        for key in ("blocks", "attachments", "metadata"):
            if key in params:
                if params[key] in (None, "", []):
                    message.pop(key, None)
                else:
                    message[key] = copy.deepcopy(params[key])
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": cid,
            "ts": ts,
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._resolve_channel_id(self._require(params, "channel"))
        ts = self._require(params, "ts")
        message = self._find_message(cid, ts)
        if message is None:
            raise _ApiError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise _ApiError("cant_delete_message")
        self._messages[cid].remove(message)
        return {"ok": True, "channel": cid, "ts": ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._resolve_channel_id(self._require(params, "channel"))
        ts = self._require(params, "message_ts")
        message = self._find_message(cid, ts)
        if message is None:
            raise _ApiError("message_not_found")
        return {
            "ok": True,
            "channel": cid,
            "permalink": self._permalink(cid, ts, message.get("thread_ts")),
        }

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if channel:
            info = self._channels.get(str(channel))
            if info is None:
                raise _ApiError("channel_not_found")
            return {"ok": True, "channel": {"id": info["id"]}}
        users = _split_ids(params.get("users"))
        if not users:
            raise _ApiError("users_list_not_supplied")
        if len(users) > 8:
            raise _ApiError("too_many_users")
        for uid in users:
            user = self._users.get(uid)
            if user is None:
                if self.strict_channels or not _USER_ID_RE.match(uid):
                    raise _ApiError("user_not_found")
            elif user["deleted"]:
                raise _ApiError("user_disabled")
        cid = self._dm_id(users)
        already = cid in self._channels
        self._open_dm(users)
        body: dict[str, Any] = {"ok": True, "no_op": already, "already_open": already}
        if _truthy(params.get("return_im")):
            body["channel"] = self._channel_object(self._channels[cid])
        else:
            body["channel"] = {"id": cid}
        return body

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._resolve_channel_id(self._require(params, "channel"))
        info = self._channels.get(cid)
        if info is None:
            raise _ApiError("channel_not_found")
        return {"ok": True, "channel": self._channel_object(info)}

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._resolve_channel_id(self._require(params, "channel"))
        info = self._channels.get(cid)
        if info is None:
            raise _ApiError("channel_not_found")
        if info["is_archived"]:
            raise _ApiError("is_archived")
        if info.get("is_im") or info.get("is_mpim"):
            raise _ApiError("method_not_supported_for_channel_type")
        members = info.get("members")
        if info["is_private"] and members is not None and self.bot_user_id not in members:
            raise _ApiError("channel_not_found")
        already = members is None or self.bot_user_id in members
        if members is not None and not already:
            members.append(self.bot_user_id)
        body: dict[str, Any] = {"ok": True, "channel": self._channel_object(info)}
        if already:
            body["warning"] = "already_in_channel"
            body["response_metadata"] = {"warnings": ["already_in_channel"]}
        return body

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Newest first, ``oldest``/``latest`` exclusive unless ``inclusive``, cursor paging;
        message ``metadata`` only with ``include_all_metadata`` (as on Slack)."""
        cid = self._resolve_channel_id(self._require(params, "channel"))
        info = self._channels.get(cid)
        if info is None and (self.strict_channels or not _CHANNEL_ID_RE.match(cid)):
            raise _ApiError("channel_not_found")
        if info is not None:
            members = info.get("members")
            if members is not None and self.bot_user_id not in members:
                raise _ApiError("channel_not_found" if info["is_private"] else "not_in_channel")
        inclusive = _truthy(params.get("inclusive"))
        try:
            oldest = float(params.get("oldest") or 0)
            latest = float(params["latest"]) if params.get("latest") else None
            limit = min(max(int(params.get("limit") or 100), 1), 999)
            start = int(params.get("cursor") or 0)
        except (TypeError, ValueError):
            raise _ApiError("invalid_arguments") from None
        with_metadata = _truthy(params.get("include_all_metadata"))

        def within(ts: float) -> bool:
            low = ts >= oldest if inclusive else ts > oldest
            high = latest is None or (ts <= latest if inclusive else ts < latest)
            return low and high

        found = [m for m in reversed(self._messages.get(cid, [])) if within(float(m["ts"]))]
        page = [copy.deepcopy(m) for m in found[start : start + limit]]
        if not with_metadata:
            for message in page:
                message.pop("metadata", None)
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._resolve_channel_id(self._require(params, "channel"))
        info = self._channels.get(cid)
        if info is None:
            raise _ApiError("channel_not_found")
        members = info.get("members")
        if members is None:
            members = [self.bot_user_id]
        return {"ok": True, "members": list(members), "response_metadata": {"next_cursor": ""}}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(self._require(params, "user"))
        if user is None:
            raise _ApiError("user_not_found")
        return {"ok": True, "user": self._user_object(user)}

    def _users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        members = [self._user_object(u) for u in self._users.values()]
        return {
            "ok": True,
            "members": members,
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": ""},
        }

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._open_view(params, action="open")

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._open_view(params, action="push")

    def _open_view(self, params: dict[str, Any], *, action: str) -> dict[str, Any]:
        """views.open and views.push: both need a fresh trigger and create a new view."""
        trigger = self._use_trigger(params)
        view_id = f"V{self._next_id():010d}"
        view = self._view_object(params.get("view"), view_id=view_id)
        self._views[view_id] = view
        self._view_records.append(
            {
                "action": action,
                "view_id": view_id,
                "view": copy.deepcopy(view),
                "trigger_id": trigger,
                "user_id": None,
                "external_id": view["external_id"] or None,
            }
        )
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = self._require(params, "user_id")
        user = self._users.get(user_id)
        if user is None and (self.strict_channels or not _USER_ID_RE.match(user_id)):
            raise _ApiError("user_not_found")
        raw = params.get("view")
        if isinstance(raw, dict) and raw.get("type") != "home":
            raise _ApiError(
                "invalid_arguments",
                messages=["[ERROR] must be home [json-pointer:/view/type]"],
            )
        previous_id = self._home_view_ids.get(user_id)
        previous = self._views.get(previous_id) if previous_id else None
        supplied_hash = params.get("hash")
        if supplied_hash and previous is not None and supplied_hash != previous["hash"]:
            raise _ApiError("hash_conflict")
        view_id = previous_id or f"V{self._next_id():010d}"
        view = self._view_object(raw, view_id=view_id, previous=previous)
        self._views[view_id] = view
        self._home_view_ids[user_id] = view_id
        self._view_records.append(
            {
                "action": "publish",
                "view_id": view_id,
                "view": copy.deepcopy(view),
                "trigger_id": None,
                "user_id": user_id,
                "external_id": view["external_id"] or None,
            }
        )
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        previous: dict[str, Any] | None = None
        if view_id:
            previous = self._views.get(view_id)
        elif external_id:
            previous = next(
                (v for v in self._views.values() if v.get("external_id") == external_id), None
            )
        else:
            raise _ApiError(
                "invalid_arguments",
                messages=["[ERROR] either view_id or external_id is required"],
            )
        if previous is None:
            raise _ApiError("not_found")
        supplied_hash = params.get("hash")
        if supplied_hash and supplied_hash != previous["hash"]:
            raise _ApiError("hash_conflict")
        view = self._view_object(params.get("view"), view_id=previous["id"], previous=previous)
        self._views[previous["id"]] = view
        self._view_records.append(
            {
                "action": "update",
                "view_id": previous["id"],
                "view": copy.deepcopy(view),
                "trigger_id": None,
                "user_id": None,
                "external_id": view["external_id"] or None,
            }
        )
        return {"ok": True, "view": copy.deepcopy(view)}

    def _files_upload_retired(self, params: dict[str, Any]) -> dict[str, Any]:
        raise _ApiError("method_deprecated")

    def _files_get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = self._require(params, "filename")
        raw_length = self._require(params, "length")
        try:
            length = int(raw_length)
        except (TypeError, ValueError):
            raise _ApiError(
                "invalid_arguments", messages=["[ERROR] length must be an integer"]
            ) from None
        if length < 1:
            raise _ApiError("invalid_arguments", messages=["[ERROR] length must be positive"])
        file_id = f"F{self._next_id():010d}"
        self._files[file_id] = {
            "id": file_id,
            "name": str(filename),
            "title": None,
            "length": length,
            "alt_txt": params.get("alt_txt"),
            "snippet_type": params.get("snippet_type"),
            "created": int(time.time()),
            "completed": False,
            "shares": {},
            "channels": [],
            "groups": [],
            "ims": [],
        }
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        entries = self._require(params, "files")
        if not isinstance(entries, list) or not entries:
            raise _ApiError("invalid_arguments", messages=["[ERROR] files must be a JSON array"])
        metas: list[dict[str, Any]] = []
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("id"):
                raise _ApiError("invalid_arguments", messages=["[ERROR] each file needs an id"])
            meta = self._files.get(str(entry["id"]))
            if meta is None or meta["id"] not in self._uploads or meta["completed"]:
                raise _ApiError("file_not_found")
            metas.append(meta)

        targets: list[str] = []
        if params.get("channel_id"):
            targets.append(self._channel_for_write(params, "channel_id"))
        for raw in _split_ids(params.get("channels")):
            cid = self._channel_for_write({"channel": raw})
            if cid not in targets:
                targets.append(cid)
        thread_ts = params.get("thread_ts") or None
        if thread_ts and len(targets) > 1:
            raise _ApiError("invalid_arguments", messages=["[ERROR] thread_ts needs one channel"])

        answer: list[dict[str, Any]] = []
        for meta, entry in zip(metas, entries, strict=True):
            meta["completed"] = True
            if entry.get("title"):
                meta["title"] = entry["title"]
            meta["size"] = len(self._uploads[meta["id"]])
            meta["image_size"] = _png_size(self._uploads[meta["id"]])
            # Answered before sharing: Slack shares asynchronously, so no shares in the answer.
            answer.append(self._file_object(meta))

        if targets:
            comment = params.get("initial_comment")
            for cid in targets:
                message: dict[str, Any] = {
                    "type": "message",
                    "user": self.bot_user_id,
                    "team": self.team_id,
                    "text": comment if isinstance(comment, str) else "",
                    "upload": True,
                    "display_as_bot": False,
                    "files": [],
                }
                if thread_ts:
                    message["thread_ts"] = thread_ts
                message = self._store_message(cid, message)
                info = self._channels.get(cid, {})
                bucket = "private" if info.get("is_private") or cid[0] in "DG" else "public"
                for meta in metas:
                    share: dict[str, Any] = {
                        "reply_users": [],
                        "reply_users_count": 0,
                        "reply_count": 0,
                        "ts": message["ts"],
                        "channel_name": info.get("name") or cid,
                        "team_id": self.team_id,
                        "share_user_id": self.bot_user_id,
                        "source": "UNKNOWN",
                    }
                    if thread_ts:
                        share["thread_ts"] = thread_ts
                    meta["shares"].setdefault(bucket, {}).setdefault(cid, []).append(share)
                    kind = (
                        "ims"
                        if cid.startswith("D")
                        else "groups"
                        if bucket == "private"
                        else "channels"
                    )
                    if cid not in meta[kind]:
                        meta[kind].append(cid)
                    message["files"].append(self._file_object(meta))
        return {"ok": True, "files": answer}

    def _files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        meta = self._files.get(self._require(params, "file"))
        if meta is None or not meta["completed"]:
            raise _ApiError("file_not_found")
        return {
            "ok": True,
            "file": self._file_object(meta),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._resolve_channel_id(self._require(params, "channel"))
        ts = self._require(params, "timestamp")
        name = str(self._require(params, "name")).strip(":")
        if not re.fullmatch(r"[a-z0-9_+'\-]+(::skin-tone-\d)?", name):
            raise _ApiError("invalid_name")
        message = self._find_message(cid, ts)
        if message is None:
            raise _ApiError("message_not_found")
        reactions: list[dict[str, Any]] = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise _ApiError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                break
        else:
            reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {"ok": True}

    # ------------------------------------------------------------------ OAuth and Socket Mode
    #
    # oauth.v2.access authenticates the app with its client id and secret (HTTP Basic, as the
    # SDK sends them, or form fields) and trades a one-time code from allow_install() for that
    # workspace's bot token, which is accepted from then on. apps.connections.open takes an
    # app-level token (xapp-) and answers the WebSocket URL of a Socket Mode stand-in
    # (bot/sandbox/fake_socket.py registers it with enable_socket_mode()).

    def allow_oauth(self, client_id: str, client_secret: str) -> None:
        """Accept these app credentials at ``oauth.v2.access``."""
        with self._lock:
            self._apps.client = (client_id, client_secret)

    def allow_install(
        self,
        code: str,
        *,
        team_id: str,
        bot_token: str,
        team_name: str | None = None,
        bot_user_id: str = "U0BOT",
        installer: str = "U0INSTALLER",
        scope: str = "commands,chat:write",
    ) -> None:
        """The next ``oauth.v2.access`` with ``code`` installs the app in ``team_id``."""
        with self._lock:
            self._apps.codes[code] = {
                "team_id": team_id,
                "team_name": team_name or team_id,
                "bot_token": bot_token,
                "bot_user_id": bot_user_id,
                "installer": installer,
                "scope": scope,
            }

    def enable_socket_mode(self, *, app_token: str, url: str) -> None:
        """``apps.connections.open`` with ``app_token`` answers ``url`` (a ws:// stand-in)."""
        with self._lock:
            self._apps.app_tokens.add(app_token)
            self._apps.socket_url = url

    def _answer_app_level(self, method: str, call: Call) -> _Answer:
        params = {k: v for k, v in call.params.items() if k not in ("token", "client_secret")}
        with self._lock:
            if method == "oauth.v2.access":
                client_id, secret = _client_credentials(call)
                if self._apps.client is None or client_id != self._apps.client[0]:
                    return self._json_answer(200, {"ok": False, "error": "invalid_client_id"})
                if secret != self._apps.client[1]:
                    return self._json_answer(200, {"ok": False, "error": "bad_client_secret"})
            else:
                token = self._token_of(call)
                if token is None:
                    return self._json_answer(200, {"ok": False, "error": "not_authed"})
                if token in self._tokens and not token.startswith("xapp-"):
                    return self._json_answer(200, {"ok": False, "error": "not_allowed_token_type"})
                if token not in self._apps.app_tokens:
                    return self._json_answer(200, {"ok": False, "error": "invalid_auth"})
            try:
                payload = self._methods[method](params)
            except _ApiError as exc:
                payload = exc.payload()
        return self._json_answer(200, payload)

    def _oauth_v2_access(self, params: dict[str, Any]) -> dict[str, Any]:
        code = params.get("code")
        if not code:
            raise _ApiError("invalid_code")
        grant = self._apps.codes.get(str(code))
        if grant is None:
            raise _ApiError("invalid_code")
        if grant.get("used"):
            raise _ApiError("code_already_used")
        grant["used"] = True
        self._tokens.add(grant["bot_token"])
        return {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": {"id": grant["installer"]},
            "scope": grant["scope"],
            "token_type": "bot",
            "access_token": grant["bot_token"],
            "bot_user_id": grant["bot_user_id"],
            "team": {"id": grant["team_id"], "name": grant["team_name"]},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        # Only reached with a token from enable_socket_mode(), which also set the URL.
        return {"ok": True, "url": self._apps.socket_url}


_APP_LEVEL_METHODS = frozenset({"oauth.v2.access", "apps.connections.open"})
# What Slack serves at a private file URL to a request without a valid bearer token.
_SIGN_IN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in | Slack</title></head>"
    b"<body><h1>Sign in to your workspace</h1></body></html>"
)


@dataclass
class _AppSide:
    """What the stand-in knows about the app itself: its credentials and install codes."""

    client: tuple[str, str] | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    app_tokens: set[str] = field(default_factory=set)
    socket_url: str | None = None


def _client_credentials(call: Call) -> tuple[str | None, str | None]:
    """client_id and client_secret from HTTP Basic auth (the SDK's way) or the form body."""
    auth = call.header("Authorization") or ""
    if auth.lower().startswith("basic "):
        with contextlib.suppress(ValueError):
            decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
            client_id, _, secret = decoded.partition(":")
            return client_id, secret
    form_id, form_secret = call.params.get("client_id"), call.params.get("client_secret")
    return (
        form_id if isinstance(form_id, str) else None,
        form_secret if isinstance(form_secret, str) else None,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a FakeSlack standalone: ``python -m bot.sandbox.fake_slack --port 3999``."""
    import argparse

    parser = argparse.ArgumentParser(description="Local Slack Web API stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3999)
    parser.add_argument("--token", default="xoxb-test-token")
    args = parser.parse_args(argv)
    fake = FakeSlack(host=args.host, port=args.port, token=args.token).start()
    print(f"FakeSlack serving {fake.api_url} (token {args.token}); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
