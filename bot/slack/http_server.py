"""HTTP mode for production: Bolt's WSGI adapter under waitress, plus a health check.

Bolt's own `app.start()` is a development server; waitress is a production WSGI server with a
thread pool, request size limits and clean shutdown, and needs no C compiler or fork.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine
from waitress.server import create_server

from storage.db import ping

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1_000_000  # Slack payloads are a few kB; refuse anything absurd early.

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_wsgi_app(app: App, engine: Engine) -> WSGIApp:
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in (
            "GET",
            "HEAD",
        ):
            healthy = ping(engine)
            body = json.dumps(
                {"ok": healthy, "database": "ok" if healthy else "unreachable"}
            ).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(
                status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return bolt(environ, start_response)

    return wsgi


def make_server(wsgi: WSGIApp, *, host: str = "0.0.0.0", port: int = 3000, threads: int = 8) -> Any:  # noqa: S104
    """A waitress server, not yet running: call `.run()`; `.close()` stops it."""
    return create_server(
        wsgi,
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=MAX_BODY_BYTES,
        ident="commstat",
        clear_untrusted_proxy_headers=True,
    )


def run_until_closed(server: Any) -> None:
    """Serve until `server.close()` is called (from a signal handler or another thread).

    close() waits for the requests being answered, then closes the sockets under the running
    loop, which makes the loop's last select() fail; that failure is the normal way out.
    """
    with contextlib.suppress(OSError, ValueError):
        server.run()
