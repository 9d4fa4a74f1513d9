"""The `commstat` command line."""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
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


WORKERS_OPTION = click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=None,
    help="Worker processes to start (default: one per CPU; 0: none here, run `commstat worker`).",
)
NO_SCHEDULER_OPTION = click.option(
    "--no-scheduler",
    is_flag=True,
    help="Do not run scheduler passes (run `commstat tick` from cron).",
)


def _log_level() -> str:
    return str(click.get_current_context().find_root().params.get("log_level") or "info")


def _start_workers(count: int | None, no_scheduler: bool) -> Any:
    """`serve`'s and `socket`'s worker processes (bot/workers.py); None for --workers 0."""
    from bot.workers import Supervisor, default_count

    count = default_count() if count is None else count
    if count == 0:
        logger.info("workers: none here (--workers 0); run `commstat worker` to carry out jobs")
        if not no_scheduler:
            logger.info("scheduler: runs in `commstat worker` processes")
        return None
    supervisor = Supervisor(
        count, scheduler=not no_scheduler, log_level=_log_level(), extra=["--no-migrate"]
    ).start()
    logger.info("workers: %d process(es)", count)
    if no_scheduler:
        logger.info("scheduler: off (--no-scheduler); run `commstat tick` from cron instead")
    else:
        logger.info("scheduler: a pass every minute, in worker-1 (nudges, digests, sending)")
    return supervisor


@main.command()
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Port to listen on (default: $PORT or 3000)."
)
@click.option("--host", default="0.0.0.0", show_default=True)  # noqa: S104
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@WORKERS_OPTION
@NO_SCHEDULER_OPTION
def serve(
    port: int | None, host: str, threads: int, workers: int | None, no_scheduler: bool
) -> None:
    """HTTP mode (production): POST /slack/events, GET /healthz, and the worker processes.

    This process only checks, stores and acknowledges each request; the workers do the work
    (database, charts, answers) and the scheduler's passes."""
    from bot.app import create_app
    from bot.bootstrap import bootstrap
    from bot.slack.http_server import make_server, make_wsgi_app, run_until_closed

    settings = _settings()
    # Fail before touching the database: OAuth mode has no bot token, only client credentials.
    if settings.oauth_enabled:
        _require(settings, "slack_client_secret", "slack_signing_secret")
    else:
        _require(settings, "slack_bot_token", "slack_signing_secret")
    services = bootstrap(settings)
    try:
        app = create_app(services)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    assert settings.slack_signing_secret is not None  # required just above
    server = make_server(
        make_wsgi_app(
            app, services.engine, signing_secret=settings.slack_signing_secret.get_secret_value()
        ),
        host=host,
        port=port or settings.port,
        threads=threads,
    )

    def _stop(signum: int, _frame: Any) -> None:
        logger.info("received signal %s; shutting down", signum)
        server.close()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    supervisor = _start_workers(workers, no_scheduler)
    logger.info(
        "listening on http://%s:%s (POST /slack/events, GET /healthz)", host, server.effective_port
    )
    try:
        run_until_closed(server)
    finally:
        if supervisor is not None:
            supervisor.stop()  # each worker finishes its job first
    logger.info("stopped")


@main.command("socket")
@WORKERS_OPTION
@NO_SCHEDULER_OPTION
def socket_mode(workers: int | None, no_scheduler: bool) -> None:
    """Socket Mode: connect out to Slack over a WebSocket (needs SLACK_APP_TOKEN; no public URL),
    with the same worker processes as `serve`."""
    import threading

    from bot.app import create_app
    from bot.bootstrap import bootstrap
    from bot.slack.socket_mode import app_token, connect, run_until_stopped

    settings = _settings()
    try:
        app_token(settings)  # before touching the database: the most likely missing setting
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        logger.info("received signal %s; shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)  # before connecting: a stop while starting is honoured
    signal.signal(signal.SIGINT, _stop)
    services = bootstrap(settings)
    try:
        handler = connect(create_app(services, socket_mode=True), settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    supervisor = _start_workers(workers, no_scheduler)
    logger.info("connected to Slack in Socket Mode (%s)", settings.slack_api_url)
    try:
        run_until_stopped(handler, stop)
    finally:
        if supervisor is not None:
            supervisor.stop()
    logger.info("stopped")


@main.command()
@NO_SCHEDULER_OPTION
@click.option("--parent", type=int, hidden=True, help="Stop when this process ends.")
@click.option("--name", default="worker", hidden=True)
@click.option("--no-migrate", is_flag=True, hidden=True)
def worker(no_scheduler: bool, parent: int | None, name: str, no_migrate: bool) -> None:
    """Carry out the jobs `serve` or `socket` stored, from the same database (run more of these
    on other hosts against PostgreSQL to scale out); also runs the scheduler's passes."""
    import os
    import threading

    from bot.app import create_worker_app
    from bot.bootstrap import bootstrap
    from bot.slack.worker import HOST, Worker
    from bot.workers import become_started_worker, parent_gone

    if parent is not None and not become_started_worker(parent):
        return  # `serve` ended while this worker was starting

    settings = _settings()
    if settings.oauth_enabled:
        _require(settings, "slack_client_secret")
    else:
        _require(settings, "slack_bot_token")
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        logger.info("%s: received signal %s; finishing the job in hand", name, signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    services = bootstrap(settings, migrate=not no_migrate)
    try:
        app = create_worker_app(services)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    scheduler = None
    if not no_scheduler:
        from bot.followup.scheduler import BackgroundScheduler

        scheduler = BackgroundScheduler(services).start()
        logger.info("%s: scheduler: a pass every minute (nudges, digests, sending)", name)
    if parent is not None:

        def _watch_parent() -> None:
            while not stop.wait(1.0):
                if parent_gone(parent):
                    logger.warning("%s: the process that started it has ended; stopping", name)
                    stop.set()

        threading.Thread(target=_watch_parent, name="parent-watch", daemon=True).start()
    try:
        Worker(services, app, name=f"{HOST}:{os.getpid()}:{name}").serve(stop)
    finally:
        if scheduler is not None:
            scheduler.stop()  # lets a pass in flight finish
    logger.info("%s: stopped", name)


@main.command()
@click.option(
    "--folder", type=click.Path(path_type=Path), default=Path("commstat-demo"), show_default=True
)
def demo(folder: Path) -> None:
    """The whole workflow with no Slack account: writes a transcript of what Slack would show."""
    from bot.sandbox.demo import FolderInUse, run

    configure_logging([], level=logging.WARNING)
    started = time.monotonic()
    try:
        path, counts = run(folder)
    except FolderInUse as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"CommStat demo finished in {time.monotonic() - started:.1f}s.")
    click.echo("  " + _demo_counts(counts))
    click.echo(f"  Open the transcript: {path.resolve()}")


# How the demo's transcript entries are counted in words people use (bot/sandbox/transcript.py).
_DEMO_KINDS = {
    "typed": ("command typed", "commands typed"),
    "did": ("click", "clicks"),
    "message": ("channel message", "channel messages"),
    "dm": ("direct message", "direct messages"),
    "ephemeral": ("private reply", "private replies"),
    "update": ("message edited", "messages edited"),
    "image": ("chart", "charts"),
    "home": ("App Home view", "App Home views"),
    "form": ("form", "forms"),
    "pass": ("hourly check that sent something", "hourly checks that sent something"),
}


def _demo_counts(counts: dict[str, int]) -> str:
    """e.g. "30 commands typed, 4 clicks, 46 direct messages, …" (notes are not counted)."""
    words = []
    for kind, (one, many) in _DEMO_KINDS.items():
        if counts.get(kind):
            words.append(f"{counts[kind]} {one if counts[kind] == 1 else many}")
    return ", ".join(words)


@main.command()
@click.option(
    "--folder", type=click.Path(path_type=Path), default=Path("commstat-console"), show_default=True
)
def console(folder: Path) -> None:
    """Type slash commands as the demo's coalition and see the answers (no Slack account)."""
    from bot.sandbox.console import run
    from bot.sandbox.demo import FolderInUse

    configure_logging([], level=logging.WARNING)
    click.echo("Starting CommStat on a local Slack stand-in with the bundled CDC data…")
    try:
        path = run(folder, read=_console_reader())
    except FolderInUse as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Transcript of this session: {path.resolve()}")


def _console_reader() -> Callable[[str], str]:
    """`input`, but a line piped in (not typed at a terminal) is echoed after its prompt, so the
    output reads like a session: the question, then its answer."""
    if sys.stdin.isatty():
        return input

    def read(prompt: str) -> str:
        line = input(prompt)
        click.echo(line)
        return line

    return read


def _instant(text: str | None) -> datetime | None:
    """`--now`: an ISO-8601 instant with its UTC offset, or None when not given."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.ClickException(
            f"--now {text!r} is not an ISO-8601 instant like 2026-12-01T14:30:00Z"
        ) from None
    if at.tzinfo is None:
        raise click.ClickException("--now needs a UTC offset, e.g. 2026-12-01T14:30:00Z")
    return at


def _kept_for_later(team_id: str) -> None:
    """After data was stored before any workspace is connected: say where it went."""
    from storage.repositories import UNCONNECTED_TEAM

    if team_id == UNCONNECTED_TEAM:
        click.echo(
            "No Slack workspace is connected yet: this is kept for the workspace that "
            "SLACK_BOT_TOKEN serves, which takes it over when `commstat serve` first starts."
        )


def _team_id(settings: Settings, services: Any, team: str | None) -> str:
    """Which workspace's data a CLI command works on: --team, else the only one we know."""
    from sqlalchemy import select

    from storage.models import Team
    from storage.repositories import UNCONNECTED_TEAM

    if team:
        return team
    with services.sessions() as session:
        known = list(session.scalars(select(Team.id).limit(2)))
    if len(known) == 1:
        return str(known[0])
    if not known and settings.slack_bot_token is not None:
        try:
            return str(services.client_for("").auth_test()["team_id"])
        except Exception as exc:
            logger.debug("auth.test failed: %s", exc)
    if not known and settings.slack_bot_token is None and not settings.oauth_enabled:
        # The first run: data before Slack is connected. The workspace the token serves takes it
        # over when `commstat serve` (or `socket`/`worker`) first starts with its token.
        return UNCONNECTED_TEAM
    which = "several workspaces use this database" if known else "no workspace has used the bot yet"
    raise click.ClickException(
        f"Say which Slack workspace with --team T0123ABCD ({which}; the team id is the T… part "
        "of your Slack URL)."
    )


TEAM_OPTION = click.option("--team", help="Slack team id (default: the only workspace known).")


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--indicator", "indicator_name", help="All rows are this indicator.")
@click.option("--indicator-column", help="Column holding the indicator's name.")
@click.option(
    "--period-column",
    "period_columns",
    multiple=True,
    metavar="COL",
    help="Column holding the period (default: period). Repeat for a period over columns: "
    "year and month, quarter or week (ISO); PART=COL when the name does not say, e.g. month=mo.",
)
@click.option(
    "--value-column",
    "value_columns",
    multiple=True,
    metavar="COL[=NAME]",
    help="Column holding the value (default: value). Repeat for several measures in one row, "
    'each its own indicator: COL="Indicator name" (a bare COL is named by its header).',
)
@click.option("--geography-column", help="Column holding the geography (default: geography).")
@click.option(
    "--county-fips-column",
    metavar="COL",
    help="Column holding a 5-digit county FIPS code: the place is that county (24510 -> "
    "'Baltimore city, MD').",
)
@click.option("--unit", help='Every value\'s unit, e.g. "per 10,000 ED visits".')
@click.option(
    "--period-kind",
    metavar="KIND",
    help="New indicators' period kind (daily, weekly, monthly, quarterly, yearly, "
    "12-month-ending); default: guessed. The catalog's kind wins.",
)
@click.option("--filter", "filters", multiple=True, metavar="COL=VALUE", help="Keep matching rows.")
@click.option(
    "--skip-rows",
    type=click.IntRange(min=0),
    metavar="N",
    help="Lines above the header (a title, notes); default: found by looking.",
)
@click.option("--sheet", help="Excel sheet name (default: the first).")
@TEAM_OPTION
def import_(
    file: Path,
    indicator_name: str | None,
    indicator_column: str | None,
    period_columns: tuple[str, ...],
    value_columns: tuple[str, ...],
    geography_column: str | None,
    county_fips_column: str | None,
    unit: str | None,
    period_kind: str | None,
    filters: tuple[str, ...],
    skip_rows: int | None,
    sheet: str | None,
    team: str | None,
) -> None:
    """Load indicator values from CSV or Excel (idempotent upsert; bad files change nothing).

    \b
    Long files need no options: indicator,period,value[,geography][,unit].
    Publishers' files are read through the options, e.g. CDC's DOSE-SYS file
    (bot/data; eight measures a row, the period in two columns):
      commstat import cdc_dose_sys_nonfatal_overdose_ed_rates_by_state.csv \\
        --geography-column jurisdiction --filter rate_time=Monthly \\
        --period-column year --period-column month \\
        --unit "per 10,000 ED visits" \\
        --value-column drug_rate="Drug overdose ED visits" \\
        --value-column opioid_rate="Opioid overdose ED visits" \\
        --value-column fentanyl_rate="Fentanyl overdose ED visits" \\
        --value-column heroin_rate="Heroin overdose ED visits" \\
        --value-column stimulant_rate="Stimulant overdose ED visits" \\
        --value-column cocaine_rate="Cocaine overdose ED visits" \\
        --value-column methamphetamine_rate="Methamphetamine overdose ED visits" \\
        --value-column benzodiazepine_rate="Benzodiazepine overdose ED visits"
    Places are stored one way: Maryland, MD and FIPS 24 are MD.
    """
    from bot.bootstrap import bootstrap
    from storage.importer import ImportError_, ImportMapping, import_file

    settings = _settings()
    services = bootstrap(settings)
    try:
        mapping = ImportMapping.from_options(
            indicator=indicator_name,
            indicator_column=indicator_column,
            period_column=period_columns or None,
            value_column=value_columns or None,
            geography_column=geography_column,
            filters=filters,
            sheet=sheet,
            skip_rows=skip_rows,
            county_fips_column=county_fips_column,
            unit=unit,
            period_kind=period_kind,
        )
        team_id, now = _team_id(settings, services, team), services.clock()

        def recorded(session: Any, report: Any) -> None:
            """Who imported what, in the import's own transaction ("updated by import on …" in
            /indicator), and the mapping remembered for the file's name (a Slack upload of a
            file of that name is read the same way)."""
            from storage.import_records import record_import, remember_source

            source = remember_source(session, team_id, file.name, mapping.to_dict(), now=now)
            record_import(
                session,
                report,
                team_id=team_id,
                via="cli",
                now=now,
                mapping=mapping.to_dict(),
                source_id=source.id,
            )

        report = import_file(
            services.sessions,
            team_id=team_id,
            path=file,
            mapping=mapping,
            now=now,
            progress=click.progressbar,
            time_zone=settings.timezone,
            on_stored=recorded,
        )
    except ImportError_ as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.summary())
    _kept_for_later(team_id)


@main.group()
def indicators() -> None:
    """The indicator catalog."""


@indicators.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@TEAM_OPTION
def indicators_load(file: Path, team: str | None) -> None:
    """Load indicator metadata (aliases, unit, direction, target, steward...) from YAML."""
    from bot.bootstrap import bootstrap
    from storage.catalog import CatalogError, load_catalog

    settings = _settings()
    services = bootstrap(settings)
    team_id = _team_id(settings, services, team)
    try:
        summary = load_catalog(
            services.sessions,
            team_id=team_id,
            path=file,
            now=services.clock(),
            time_zone=settings.timezone,
        )
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(summary)
    _kept_for_later(team_id)


@main.command()
@click.option(
    "--now",
    "now_text",
    metavar="ISO-8601",
    help="Run the pass as if it were this instant (default: now), e.g. 2026-12-01T14:30:00Z.",
)
def tick(now_text: str | None) -> None:
    """One scheduler pass: plan due nudges and digests, then send what is waiting."""

    from bot.bootstrap import bootstrap
    from bot.followup.scheduler import run_pass

    at = _instant(now_text)  # a bad --now is refused before the database is touched
    settings = _settings()
    services = bootstrap(settings)
    report = run_pass(services, now=at or services.clock())
    click.echo(report.summary())


@main.group()
def sources() -> None:
    """Catalog sources that refresh themselves (`sources:` / `source_url` in the catalog)."""


@sources.command("refresh")
@click.argument("name", required=False)
@TEAM_OPTION
def sources_refresh(name: str | None, team: str | None) -> None:
    """Fetch catalog sources now (all with a url, or NAME), import what changed, announce it."""
    from bot.bootstrap import bootstrap
    from bot.followup.sources import UnknownSource, refresh_now
    from bot.slack import outbox

    settings = _settings()
    services = bootstrap(settings)
    team_id = _team_id(settings, services, team)
    now = services.clock()
    try:
        outcomes = refresh_now(services, team_id=team_id, name=name, now=now)
    except UnknownSource as exc:
        raise click.ClickException(str(exc)) from None
    if not outcomes:
        click.echo(
            "No sources with a url yet: list them under `sources:` in the catalog and load it "
            "with `commstat indicators load catalog.yml`."
        )
        return
    keys = [key for outcome in outcomes for key in outcome.keys]
    for outcome in outcomes:
        click.echo(outcome.message)
        if outcome.news:
            channels = len(outcome.keys)  # one announcement per channel
            click.echo(
                f"  announced in {channels} channel{'s' * (channels != 1)}"
                if channels
                else "  not announced: no meeting or weekly digest channel is set "
                "(/commstat meeting … in a channel)"
            )
    if keys:
        if settings.slack_bot_token is None and not settings.oauth_enabled:
            click.echo(
                "Announcements are queued; the running bot posts them (SLACK_BOT_TOKEN is not set here)."
            )
        else:
            delivery = outbox.deliver(services, now=now, keys=keys)
            click.echo(delivery.summary())
    if any(outcome.failed for outcome in outcomes):
        sys.exit(1)


@main.group()
def export() -> None:
    """Export data for meeting minutes and the coalition's scorecard."""


@export.command("commitments")
@click.option(
    "--since",
    metavar="DATE",
    help="From this day or period: 2026-10-01, 2026-10, last month, 30 days.",
)
@click.option("--until", metavar="DATE", help="Up to and including this day or period.")
@click.option(
    "--channel", metavar="CHANNEL_ID", help="Only commitments made in this channel (C0123ABCD)."
)
@click.option(
    "--status",
    type=click.Choice(["open", "done", "dropped", "all"]),
    default="all",
    show_default=True,
)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: the screen for csv, commitments-YYYY-MM-DD.xlsx for xlsx).",
)
@click.option("--now", "now_text", metavar="ISO-8601", help="Judge lateness as of this instant.")
@TEAM_OPTION
def export_commitments(
    since: str | None,
    until: str | None,
    channel: str | None,
    status: str,
    fmt: str,
    output: Path | None,
    now_text: str | None,
    team: str | None,
) -> None:
    """Every commitment as CSV or Excel: owners, organisations, due and closed dates, on time.

    --since/--until keep the commitments made, due or closed in that period (days in the
    coalition's time zone). CSV is UTF-8 with a byte-order mark, so Excel reads it correctly.
    """
    import io
    from zoneinfo import ZoneInfo

    from bot.bootstrap import bootstrap
    from bot.usecases.export import (
        ExportError,
        Filters,
        export_rows,
        parse_channel,
        window,
        write_atomically,
        write_csv,
        write_xlsx,
    )
    from storage.models import Team

    now_value = _instant(now_text)
    if output is not None and str(output) != "-" and not output.parent.is_dir():
        raise click.ClickException(f"--output {output}: the folder {output.parent} does not exist.")
    settings = _settings()
    services = bootstrap(settings)
    team_id = _team_id(settings, services, team)
    now = now_value or services.clock()
    with services.sessions() as session:
        team_row = session.get(Team, team_id)
        zone = team_row.time_zone if team_row is not None else settings.timezone
    try:
        start, end = window(since, until, now=now, time_zone=zone)
        filters = Filters(start, end, parse_channel(channel) if channel else None, status)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    to_stdout = str(output) == "-" or (output is None and fmt == "csv")
    if fmt == "xlsx" and output is None:
        output = Path(f"commitments-{now.astimezone(ZoneInfo(zone)).date().isoformat()}.xlsx")
    if to_stdout and fmt == "xlsx" and sys.stdout.isatty():
        raise click.ClickException(
            "An Excel file can't be shown on the screen: add --output FILE, or leave out --output."
        )
    with services.sessions() as session:
        rows = export_rows(session, team_id=team_id, filters=filters, now=now)
        if to_stdout:
            binary = click.open_file("-", "wb")  # stdout as bytes; left open on close
            if fmt == "xlsx":
                buffer = io.BytesIO()
                count = write_xlsx(rows, buffer)
                binary.write(buffer.getvalue())
            else:
                text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
                try:
                    count = write_csv(rows, text)
                finally:
                    text.flush()
                    text.detach()
            binary.flush()
        else:
            assert output is not None
            if fmt == "xlsx":
                count = write_atomically(output, lambda f: write_xlsx(rows, f), binary=True)
            else:
                count = write_atomically(output, lambda f: write_csv(rows, f), binary=False)
    noun = "commitment" if count == 1 else "commitments"
    where = "" if to_stdout else f" to {output}"
    click.echo(f"Exported {count:,} {noun}{where}.", err=to_stdout)


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
