"""Logging that never shows a secret.

A filter on every handler replaces the configured tokens and signing secret (and anything shaped
like a Slack token) wherever they appear: message, arguments or a formatted traceback.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

REDACTED = "[redacted]"
# xoxb-/xoxp-/xapp-/xoxe- tokens, however they reach a log line.
_TOKEN_SHAPE = re.compile(r"\b(xox[abepr]|xapp)-[A-Za-z0-9-]+")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPE.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class QuietRoutine(logging.Filter):
    """Drops what is routine and says nothing to an operator: Bolt's note, at every start, that
    the Web API client we hand it (which carries the bot token) is used rather than the
    SLACK_BOT_TOKEN it finds in the environment."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client` as well")


def configure_logging(secrets: Iterable[str], *, level: int = logging.INFO) -> None:
    """Log to stderr through the redacting filter; replaces any handlers set up before.
    Alembic's line per migration step, on every start of every command, shows only at debug."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    handler.addFilter(QuietRoutine())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(
        logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    )
