"""How every slash command answers after its ack: privately, in the user's own words on a refusal,
with an apology (and a log entry) on anything unexpected. Nothing is stored on either."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Respond

logger = logging.getLogger(__name__)

HELP_WORDS = ("help", "?")
SORRY = "Sorry — something went wrong on my side and nothing was saved. Please try again."


def answer(
    respond: Respond,
    work: Callable[[], dict[str, Any] | None],
    *,
    refusals: tuple[type[Exception], ...],
    command: str,
) -> None:
    """Run the slow part of `command`; post what it returns (ephemeral unless it says otherwise).
    `work` may also answer by itself through `respond` and return None."""
    try:
        reply = work()
    except refusals as error:
        respond(text=str(error), response_type="ephemeral", replace_original=False)
        return
    except Exception:
        logger.exception("%s failed", command)
        respond(text=SORRY, response_type="ephemeral", replace_original=False)
        return
    if reply is not None:
        reply.setdefault("response_type", "ephemeral")
        respond(**reply, replace_original=False)
