"""The /commit slash command."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot import ids
from bot.help import help_text, not_understood
from bot.services import Services


def register(app: App, services: Services) -> None:
    @app.command(ids.COMMIT)
    def on_commit(ack: Ack, command: dict[str, Any]) -> None:
        text = (command.get("text") or "").strip()
        if text.lower() in ("", "help"):
            ack(text=help_text(ids.COMMIT), response_type="ephemeral")
            return
        ack(text=not_understood(ids.COMMIT, text), response_type="ephemeral")
