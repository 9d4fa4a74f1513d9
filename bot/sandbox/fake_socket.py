"""A local stand-in for Slack's Socket Mode WebSocket server.

In Socket Mode the app opens a WebSocket to Slack (no public URL needed): it asks the Web API's
``apps.connections.open`` with its app-level token (``xapp-…``) for a ``wss://`` URL, connects,
receives a ``hello``, and then Slack pushes *envelopes* (``{"envelope_id", "type", "payload",
"accepts_response_payload"}``) that the app must acknowledge within 3 seconds by sending back
``{"envelope_id": …}``, with a ``payload`` for a slash command's immediate answer.

:class:`FakeSocketMode` plays Slack's side: a plain ``ws://`` server (slack_sdk's built-in client
uses a plain socket for any port but 443) registered with a :class:`~bot.sandbox.fake_slack.FakeSlack`,
so the real ``SocketModeHandler`` connects exactly as it would to Slack. Tests push envelopes and
read the acks::

    with FakeSlack() as slack, FakeSocketMode(slack) as socket_mode:
        ...  # start the app with SLACK_APP_TOKEN=socket_mode.app_token
        socket_mode.wait_connected()
        ack = socket_mode.wait_for_ack(socket_mode.push_command("/commit", "help", user="U1"))
        assert "/commit" in ack.payload["text"]
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from bot.sandbox.fake_slack import FakeSlack

__all__ = ["Ack", "FakeSocketMode"]


@dataclass
class Ack:
    """What the app sent back for one envelope, and how long after the push it arrived."""

    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float


class FakeSocketMode:
    """Slack's Socket Mode server, on ``ws://127.0.0.1:<port>/link/``."""

    def __init__(
        self,
        slack: FakeSlack,
        *,
        app_token: str = "xapp-1-A0COMMSTAT-0000-test-app-token",  # noqa: S107 - fake token
        host: str = "127.0.0.1",
    ) -> None:
        self.slack = slack
        self.app_token = app_token
        self.host = host
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()
        self._connections: list[ServerConnection] = []
        self._pushed: dict[str, float] = {}
        self.acks: dict[str, Ack] = {}
        self.received: list[dict[str, Any]] = []  # every message the app sent, in order
        self.connections_opened = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSocketMode:
        if self._server is not None:
            return self
        # Slack's own server pings; the SDK answers. Compression off: Slack does not offer it.
        self._server = serve(
            self._serve_connection, self.host, 0, compression=None, ping_interval=None
        )
        port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"FakeSocketMode:{port}", daemon=True
        )
        self._thread.start()
        self.slack.enable_socket_mode(
            app_token=self.app_token, url=f"ws://{self.host}:{port}/link/?ticket=fake"
        )
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ what tests call

    def wait_connected(self, timeout: float = 10) -> None:
        """Block until the app holds an open connection (it has received its ``hello``)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._live() is not None, timeout):
                raise TimeoutError("the app did not open a Socket Mode connection")

    def push(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = True
    ) -> str:
        """Send one envelope to the app over its open connection; returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self._changed:
            connection = self._live()
            if connection is None:
                raise RuntimeError("no Socket Mode connection is open; call wait_connected()")
            self._pushed[envelope_id] = time.monotonic()
        connection.send(json.dumps(envelope))
        return envelope_id

    def push_command(
        self,
        command: str,
        text: str = "",
        *,
        user: str,
        channel: str = "C0MEETING",
        team_id: str | None = None,
    ) -> str:
        """A slash command, with the same fields Slack posts in HTTP mode."""
        key = uuid.uuid4().hex[:12]
        return self.push(
            "slash_commands",
            {
                "token": "legacy-unused",
                "team_id": team_id or self.slack.team_id,
                "team_domain": self.slack.team_domain,
                "channel_id": channel,
                "channel_name": "commstat" if channel.startswith("C") else "directmessage",
                "user_id": user,
                "user_name": user.lower(),
                "command": command,
                "text": text,
                "api_app_id": self.slack.app_id,
                "is_enterprise_install": "false",
                "response_url": self.slack.response_url(key),
                "trigger_id": self.slack.new_trigger_id(),
            },
        )

    def wait_for_ack(self, envelope_id: str, timeout: float = 5) -> Ack:
        """The app's acknowledgement of one envelope (Slack gives up after 3 seconds)."""
        with self._changed:
            if not self._changed.wait_for(lambda: envelope_id in self.acks, timeout):
                raise TimeoutError(f"the app did not acknowledge envelope {envelope_id}")
            return self.acks[envelope_id]

    def disconnect_all(self) -> None:
        """Close every connection, as Slack does now and then; the SDK reconnects."""
        with self._changed:
            connections = list(self._connections)
        for connection in connections:
            connection.close()

    # ------------------------------------------------------------------ the server side

    def _live(self) -> ServerConnection | None:
        return self._connections[-1] if self._connections else None

    def _serve_connection(self, connection: ServerConnection) -> None:
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": self.slack.app_id},
                }
            )
        )
        with self._changed:
            self._connections.append(connection)
            self.connections_opened += 1
            self._changed.notify_all()
        try:
            for raw in connection:
                self._receive(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                self._connections.remove(connection)
                self._changed.notify_all()

    def _receive(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        with self._changed:
            self.received.append(message)
            envelope_id = message.get("envelope_id")
            if isinstance(envelope_id, str) and envelope_id in self._pushed:
                payload = message.get("payload")
                self.acks[envelope_id] = Ack(
                    envelope_id=envelope_id,
                    payload=payload if isinstance(payload, dict) else None,
                    seconds=time.monotonic() - self._pushed[envelope_id],
                )
            self._changed.notify_all()
