"""HTTP mode for production: Bolt's WSGI adapter under waitress, plus a health check.

Bolt's own `app.start()` is a development server; waitress is a production WSGI server with a
thread pool, request size limits and clean shutdown, and needs no C compiler or fork.

The door to /slack/events: the body is read as bytes and its signature checked (401, as Bolt
answers); a signed body that is not UTF-8, or that Bolt cannot read as a Slack request (`{not
json`, a `payload` that is not a JSON object), is refused with 400 before Bolt sees it, instead
of a 500 and a traceback. Whether a readable request has the ids Slack always sends, and comes
from the workspace this bot serves, is the Bolt middleware's job (`bot.slack.app`), so Socket
Mode gets the same checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import select
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from sqlalchemy import Engine
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server

from bot.bootstrap import system_clock
from storage import jobs
from storage.db import make_session_factory, ping

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1_000_000  # Slack payloads are a few kB; refuse anything absurd early.
CONNECTION_LIMIT = 1000
MAX_SIGNATURE_AGE = 300  # seconds, as Slack and Bolt: older requests may be replays

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def is_signed(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    """Slack's signature over the raw bytes (`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`),
    compared in constant time, for a request at most five minutes old. Unlike slack_sdk's
    verifier it takes any bytes and any header text (never raises)."""
    if not secret or not timestamp.isascii() or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > MAX_SIGNATURE_AGE:
        return False
    expected = hmac.new(
        secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(
        ("v0=" + expected).encode(), signature.encode("utf-8", "surrogateescape")
    )


def _refusal(status: int, error: str) -> BoltResponse:
    return BoltResponse(
        status=status,
        body=json.dumps({"error": error}),
        headers={"content-type": "application/json"},
    )


def _is_ssl_check(raw: bytes) -> bool:
    return parse_qs(raw.decode("latin-1")).get("ssl_check") == ["1"]


class _Door(SlackRequestHandler):
    """Bolt's WSGI adapter, with the signature checked on the raw bytes and unreadable bodies
    refused (400) instead of raising inside Bolt (500)."""

    def __init__(self, app: App, *, path: str, signing_secret: str) -> None:
        super().__init__(app, path=path)
        self._secret = signing_secret

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        environ = request.environ
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            return _refusal(400, "bad request")
        stream = environ.get("wsgi.input")
        raw = stream.read(length) if stream is not None and length else b""
        timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))
        signature = str(environ.get("HTTP_X_SLACK_SIGNATURE", ""))
        if not is_signed(self._secret, raw, timestamp, signature):
            if _is_ssl_check(raw):  # Slack checking our certificate: Bolt answers it unsigned too
                return BoltResponse(status=200, body="")
            return _refusal(401, "invalid request")
        try:
            bolt_request = BoltRequest(
                body=raw.decode("utf-8"),
                query=request.query_string,
                headers=request.get_headers(),
            )
            readable = isinstance(bolt_request.body, dict)
        except Exception:  # whatever Bolt's parser chokes on is a bad request
            readable = False
        if not readable:
            logger.warning("refused a signed request Slack would not send (%d bytes)", len(raw))
            return _refusal(400, "bad request")
        return self.app.dispatch(bolt_request)


def make_wsgi_app(app: App, engine: Engine, *, signing_secret: str) -> WSGIApp:
    """The bot's WSGI app: /slack/events (and OAuth's pages) through Bolt, /healthz.

    `signing_secret` is the one the Bolt app was built with (SLACK_SIGNING_SECRET): the door
    checks it on the raw bytes before Bolt parses anything."""
    bolt = _Door(app, path=EVENTS_PATH, signing_secret=signing_secret)
    sessions = make_session_factory(engine)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in (
            "GET",
            "HEAD",
        ):
            healthy = ping(engine)
            report: dict[str, Any] = {"ok": healthy, "database": "ok" if healthy else "unreachable"}
            if healthy:
                report["jobs"] = _queue(sessions)
            body = json.dumps(report).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(
                status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return bolt(environ, start_response)

    return wsgi


def _queue(sessions: Any) -> dict[str, Any]:
    """How far behind the workers are: jobs waiting, running and given up, and the age of the
    oldest waiting one in seconds (growing means: start more workers, see the README)."""
    try:
        state = jobs.state(sessions, now=system_clock())
    except Exception:  # the queue's numbers are a courtesy; the ping said the database is up
        logger.exception("could not read the job queue")
        return {"error": "unreadable"}
    oldest = state.oldest_waiting_seconds
    return {
        "waiting": state.waiting,
        "working": state.working,
        "failed": state.failed,
        "oldest_waiting_seconds": round(oldest, 1) if oldest is not None else None,
    }


class Server:
    """A waitress server whose `close()` is safe from a signal handler or any other thread, and
    quick: it wakes the running loop instead of waiting out its select timeout (1 s).

    Stopping happens on the thread that runs `run()`, in order: stop accepting; finish the
    requests in flight (at most `drain_seconds`), closing idle keep-alive connections; stop the
    worker threads; and only then close the sockets and the trigger pipe. Nothing is closed under
    a running select() or while a worker can still pull the trigger (which made waitress's own
    `close()` end in `OSError: [Errno 9] Bad file descriptor`, or write to a reused fd).
    """

    def __init__(self, socket_map: dict[int, Any], waitress: Any, drain_seconds: float) -> None:
        self._map = socket_map
        self._adj = waitress.adj
        self._workers = waitress.task_dispatcher
        self._listeners = [d for d in socket_map.values() if isinstance(d, BaseWSGIServer)]
        # One listener is returned as itself, several (e.g. IPv4 and IPv6) as a MultiSocketServer.
        listening = getattr(waitress, "effective_listen", None) or [
            (waitress.effective_host, waitress.effective_port)
        ]
        self.effective_port = int(listening[0][1])
        self._drain_seconds = drain_seconds
        # Reentrant: close() may run in a signal handler on the thread that holds it in run().
        self._lock = threading.RLock()
        self._stopping = False
        self._stopped = False

    def run(self) -> None:
        """Serve until `close()`; returns once everything is stopped and closed."""
        use_poll = self._adj.asyncore_use_poll and hasattr(select, "poll")
        poll = wasyncore.poll2 if use_poll else wasyncore.poll
        timeout = self._adj.asyncore_loop_timeout
        try:
            while not self._stopping:
                poll(timeout, self._map)
        finally:
            self._stop(poll, timeout)

    def close(self) -> None:
        """Ask the server to stop; returns at once (join the thread that runs `run()`)."""
        with self._lock:
            self._stopping = True
            if not self._stopped:
                self._listeners[0].pull_trigger()  # wakes the loop's select() now

    def _stop(self, poll: Callable[[float, dict[int, Any]], None], timeout: float) -> None:
        with self._lock:
            self._stopping = True
        for listener in self._listeners:
            # The listening socket only: its trigger stays open while workers may pull it.
            wasyncore.dispatcher.close(listener)
        deadline = time.monotonic() + self._drain_seconds
        while self._close_idle_channels() and time.monotonic() < deadline:
            poll(timeout, self._map)  # a worker that finishes pulls the trigger: no waiting
        self._workers.shutdown(cancel_pending=True)
        with self._lock:
            self._stopped = True
        for channel in list(self._map.values()):
            if isinstance(channel, HTTPChannel):
                channel.handle_close()
        wasyncore.close_all(self._map)  # the trigger pipes

    def _close_idle_channels(self) -> bool:
        """Close connections with no request in flight; True while some request still is."""
        busy = False
        for channel in list(self._map.values()):
            if not isinstance(channel, HTTPChannel):
                continue
            if channel.requests or channel.request is not None or channel.total_outbufs_len:
                busy = True
            else:
                channel.handle_close()
        return busy


def make_server(
    wsgi: WSGIApp,
    *,
    host: str = "0.0.0.0",  # noqa: S104
    port: int = 3000,
    threads: int = 8,
    drain_seconds: float = 30.0,
) -> Server:
    """A waitress server, not yet running: `run_until_closed(server)`; `server.close()` stops it,
    letting requests in flight finish (for up to `drain_seconds`)."""
    socket_map: dict[int, Any] = {}
    waitress = create_server(
        wsgi,
        map=socket_map,
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=MAX_BODY_BYTES,
        # A meeting's burst: up to this many open connections are read (and acknowledged)
        # instead of waiting unread in the kernel's queue (waitress's default is 100).
        connection_limit=CONNECTION_LIMIT,
        ident="commstat",
        clear_untrusted_proxy_headers=True,
    )
    return Server(socket_map, waitress, drain_seconds)


def run_until_closed(server: Server) -> None:
    """Serve until `server.close()` is called (from a signal handler or another thread), then
    finish the requests in flight and return."""
    server.run()
