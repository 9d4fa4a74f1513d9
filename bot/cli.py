"""The `commstat` command line."""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from bot.config import ConfigError, Settings, load_settings
from bot.log import configure_logging

logger = logging.getLogger("commstat")


def _settings(**overrides: Any) -> Settings:
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    level = click.get_current_context().find_root().params.get("log_level") or "info"
    configure_logging(settings.secret_values(), level=getattr(logging, level.upper()))
    return settings


def _require(settings: Settings, *fields: str) -> None:
    try:
        settings.require(*fields)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
)
def main(log_level: str) -> None:
    """CommStat bot: commitments, indicators and relentless follow-up in Slack."""


@main.command()
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Port to listen on (default: $PORT or 3000)."
)
@click.option("--host", default="0.0.0.0", show_default=True)  # noqa: S104
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--no-scheduler", is_flag=True, help="Do not run scheduler passes in this process.")
def serve(port: int | None, host: str, threads: int, no_scheduler: bool) -> None:
    """HTTP mode (production): POST /slack/events, GET /healthz."""
    from bot.app import create_app
    from bot.server import make_server, make_wsgi_app, run_until_closed
    from bot.services import bootstrap

    settings = _settings()
    _require(settings, "slack_bot_token", "slack_signing_secret")
    services = bootstrap(settings)
    try:
        app = create_app(services)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    server = make_server(
        make_wsgi_app(app, services.engine), host=host, port=port or settings.port, threads=threads
    )

    def _stop(signum: int, _frame: Any) -> None:
        logger.info("received signal %s; shutting down", signum)
        server.close()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if not no_scheduler:
        logger.info(
            "scheduler: not available yet in this version; run with --no-scheduler to silence"
        )
    logger.info(
        "listening on http://%s:%s (POST /slack/events, GET /healthz)", host, server.effective_port
    )
    run_until_closed(server)
    logger.info("stopped")


@main.command()
@click.option(
    "--folder", type=click.Path(path_type=Path), default=Path("commstat-demo"), show_default=True
)
def demo(folder: Path) -> None:
    """The whole workflow with no Slack account: writes a transcript of what Slack would show."""
    from bot.demo import run

    configure_logging([], level=logging.WARNING)
    started = time.monotonic()
    path, counts = run(folder)
    click.echo(f"CommStat demo finished in {time.monotonic() - started:.1f}s.")
    click.echo("  " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    click.echo(f"  Open the transcript: {path.resolve()}")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (also done on every start)."""
    from storage.db import make_engine, upgrade

    settings = _settings()
    upgrade(make_engine(settings.database_url))
    click.echo("database is up to date")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
