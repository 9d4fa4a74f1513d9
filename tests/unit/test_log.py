import logging

from bot.log import RedactSecrets


def _record(msg, *args, exc_info=None):
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_configured_secrets_are_redacted_in_message_and_args():
    redact = RedactSecrets(["sign-me-please"])
    record = _record("verifying with %s and %s", "sign-me-please", "ok")
    redact.filter(record)
    assert record.getMessage() == "verifying with [redacted] and ok"


def test_anything_shaped_like_a_slack_token_is_redacted():
    record = _record("headers: {'Authorization': 'Bearer xoxb-123-456-abcDEF'} app xapp-1-A0-xyz")
    RedactSecrets([]).filter(record)
    assert "xoxb-" not in record.getMessage()
    assert "xapp-" not in record.getMessage()


def test_tracebacks_are_redacted():
    try:
        raise RuntimeError("bad token sign-me-please")
    except RuntimeError:
        import sys

        record = _record("failed", exc_info=sys.exc_info())
    RedactSecrets(["sign-me-please"]).filter(record)
    formatted = logging.Formatter().format(record)
    assert "sign-me-please" not in formatted
    assert "RuntimeError" in formatted
