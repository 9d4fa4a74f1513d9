"""A meeting-time burst: many signed slash commands at once against the real ``commstat serve``.

In a CommStat meeting twenty to two hundred people may type a command in the same minute. Slack
gives each slash command 3 seconds to be acknowledged; what the bot does after the ack (the
confirmation, the list, the indicator's answer and chart) decides how long the room waits.

What it does:

1. a fresh database (SQLite file, or a throwaway PostgreSQL database), migrated with Alembic;
2. seeds it with Core bulk inserts: 100,000 commitments (``--quick``: 10,000; ``--rows`` sets
   it) as ``commit_ack`` does, and ~1,000,000 indicator values (``--quick``: ~100,000): the
   bundled CDC overdose file through the importer and the bundled catalog, plus synthetic
   indicators x 16 places x 120 months. Due dates are relative to the real now: the served
   process runs on the system clock;
3. starts ``FakeSlack`` in this process and ``commstat serve --host 127.0.0.1 --port P
   --no-scheduler`` as a subprocess (environment: DATABASE_URL, SLACK_BOT_TOKEN,
   SLACK_SIGNING_SECRET, SLACK_API_URL = the stand-in, COMMSTAT_TIMEZONE), its output captured
   to ``bench/results/burst-<db>.log``. When ``commstat serve --help`` offers ``--workers``, it
   gets ``--workers 2`` (or ``$BENCH_BURST_WORKERS``). It waits for ``GET /healthz`` to answer 200;
4. warms up with one command of each kind, then climbs the ladder 1 / 20 / 100 / 200
   (``--quick``: 1 / 5 / 20): at level N, N threads wait on a barrier and each POSTs one signed
   command, round-robin over ``/commit <unique text> by Friday``, ``/commit list``,
   ``/commit list all`` and ``/indicator overdose deaths in MD``, from 50 seeded users, each with
   its own response URL, trigger id and channel. Each level is fired several times (rounds:
   40 / 5 / 3 / 3; ``--quick``: 8 / 2 / 1; ``--requests`` sets level 1's). After each round it
   waits until everything is answered (at most 60 s after the round started);
5. reads the arrival times FakeSlack records for every call (``Call.at``) and prints, per level
   and command: the ack (HTTP answer to the POST), the answer (first post that reached Slack: the
   confirmation's ``chat.postMessage`` or a response-URL post for ``/commit … by Friday``, the
   response-URL post for the others), the chart (``files.completeUploadExternal``) for
   ``/indicator``, commands answered per second, errors, and "database is locked" in the
   server's output; writes ``bench/results/burst-<db>.json``.
"""

from __future__ import annotations

import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import sqlalchemy
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from bench import (
    Database,
    Options,
    load_bundled,
    percentile,
    print_table,
    run_on_throwaway_database,
)
from bench.commit_ack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_ID,
    TEAM_ZONE,
    ZONES,
    Seeded,
    _server_version,
    _table,
)
from bench.commit_ack import seed as seed_commitments
from bench.indicator_answer import TOPICS
from bot.sandbox.fake_slack import Call, FakeSlack
from bot.sandbox.slack_driver import SlackDriver, post, sign
from handlers.replies import SORRY
from storage.db import make_engine, upgrade
from storage.models import Commitment, Indicator, IndicatorValue

NAME = "burst"
PROJECT = Path(__file__).resolve().parent.parent  # the tree whose bot/ is served

FULL_COMMITMENTS, QUICK_COMMITMENTS = 100_000, 10_000
FULL_INDICATORS, QUICK_INDICATORS = 520, 52  # x 16 places x 120 months: 998,400 / 99,840 values
PLACES = 16
MONTHS = 120
OWNERS = 200  # people in the team (owners of the seeded commitments)
SENDERS = 50  # of them, those who type the commands
BATCH = 20_000  # rows per executemany
SEED = 20261206

# (concurrency, rounds): level 1 is repeated most, for stable numbers at one request at a time.
FULL_LADDER = ((1, 40), (20, 5), (100, 3), (200, 3))
QUICK_LADDER = ((1, 8), (5, 2), (20, 1))

ACK_TIMEOUT = 10.0  # seconds without an HTTP answer: a timeout (Slack itself gives up after 3)
ANSWER_TIMEOUT = 60.0  # seconds after a round started: what has no answer by then is unanswered
SLOW_ACK = 3.0  # Slack shows the user an error when the ack takes longer
SETTLE = 0.5  # seconds between rounds, for the writes that follow an answer (message ts)
READY_TIMEOUT = 180.0  # for `commstat serve` to answer /healthz
DEFAULT_WORKERS = 2
LOCKED = "database is locked"
QUEUE_DEPTH = re.compile(r"Task queue depth is (\d+)")  # waitress: requests waiting for a thread
CONNECTION_LIMIT = "reached the connection limit"  # waitress stops accepting (100 open by default)

CREATE = "/commit <text> by Friday"
LIST = "/commit list"
LIST_ALL = "/commit list all"
INDICATOR = "/indicator overdose deaths in MD"
KINDS = (CREATE, LIST, LIST_ALL, INDICATOR)


# --- seeding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorSeed:
    cdc_values: int
    synthetic_indicators: int
    synthetic_values: int
    seconds: float


def seed_indicators(engine: Engine, *, indicator_count: int, now: datetime) -> IndicatorSeed:
    """The CDC file (importer) and the bundled catalog, then `indicator_count` synthetic monthly
    indicators x PLACES places x MONTHS months, inserted with Core executemany in batches."""
    started = time.perf_counter()
    report = load_bundled(engine, team_id=TEAM_ID, now=now)
    rng = random.Random(SEED)
    months = [date(2016 + m // 12, m % 12 + 1, 1) for m in range(MONTHS)]
    values = 0
    with Session(engine) as session, session.begin():
        session.execute(
            insert(_table(Indicator)),
            [
                {
                    "team_id": TEAM_ID,
                    "slug": f"program-{n:04d}",
                    "name": f"{TOPICS[n % len(TOPICS)].capitalize()} — program {n:04d}",
                    "aliases": [],
                    "unit": "people",
                    "period_kind": "monthly",
                    "restricted_to": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(indicator_count)
            ],
        )
        ids = session.execute(
            select(Indicator.id)
            .where(Indicator.team_id == TEAM_ID, Indicator.slug.like("program-%"))
            .order_by(Indicator.slug)
        ).scalars()
        table = _table(IndicatorValue)
        rows: list[dict[str, Any]] = []
        for indicator_id in list(ids):
            for place in range(1, PLACES + 1):
                level = rng.uniform(50, 500)
                for start in months:
                    level *= rng.uniform(0.95, 1.05)
                    rows.append(
                        {
                            "team_id": TEAM_ID,
                            "indicator_id": indicator_id,
                            "period": f"{start:%Y-%m}",
                            "period_start": start,
                            "geography": f"Ward {place}",
                            "value": None if rng.random() < 0.03 else round(level),
                            "updated_at": now,
                        }
                    )
            if len(rows) >= BATCH:
                session.execute(insert(table), rows)
                values += len(rows)
                rows = []
        if rows:
            session.execute(insert(table), rows)
            values += len(rows)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return IndicatorSeed(
        cdc_values=sum(r.added for r in report.indicators),
        synthetic_indicators=indicator_count,
        synthetic_values=values,
        seconds=time.perf_counter() - started,
    )


# --- the served bot ----------------------------------------------------------------------------


def commstat_executable() -> str:
    """The `commstat` script of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).parent / "commstat"
    if beside.exists():
        return str(beside)
    found = shutil.which("commstat")
    if found is None:
        raise RuntimeError("no `commstat` script: install the project (pip install -e .)")
    return found


def serve_accepts_workers(commstat: str) -> bool:
    """Whether `commstat serve --help` lists a --workers option."""
    shown = subprocess.run(
        [commstat, "serve", "--help"], capture_output=True, text=True, timeout=120, check=True
    )
    return re.search(r"--workers\b", shown.stdout) is not None


def workers_to_ask(commstat: str) -> tuple[int | None, str]:
    """The --workers value to pass (None: not supported) and a sentence saying why."""
    wanted = os.environ.get("BENCH_BURST_WORKERS")
    if not serve_accepts_workers(commstat):
        note = "`commstat serve` has no --workers option: one process"
        if wanted:
            note += f" (BENCH_BURST_WORKERS={wanted} ignored)"
        return None, note
    if wanted:
        return int(wanted), f"--workers {wanted} (BENCH_BURST_WORKERS)"
    return DEFAULT_WORKERS, f"--workers {DEFAULT_WORKERS}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    events_url: str
    log_path: Path
    command: list[str]

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_between(self, start: int, end: int | None = None) -> str:
        with self.log_path.open("rb") as log:
            log.seek(start)
            data = log.read() if end is None else log.read(max(0, end - start))
        return data.decode("utf-8", "replace")


@contextmanager
def serve(
    database_url: str, fake: FakeSlack, *, workers: int | None, log_path: Path
) -> Iterator[Server]:
    """`commstat serve` in its own process group, answering /healthz; stopped with SIGTERM (the
    whole group, so worker processes go too), SIGKILL if it has not stopped after 60 s."""
    commstat = commstat_executable()
    port = _free_port()
    command = [commstat, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"]
    if workers is not None:
        command += ["--workers", str(workers)]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "COMMSTAT_", "DATABASE_URL"))
    }
    env.update(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        COMMSTAT_TIMEZONE=TEAM_ZONE,
        PYTHONUNBUFFERED="1",
        # Serve the code beside this bench/ (e.g. a checkout of an older commit), not whichever
        # tree the environment's editable install points at.
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")])),
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}/slack/events", log_path, command)
    try:
        _wait_healthy(server, f"http://127.0.0.1:{port}/healthz")
        yield server
    finally:
        _stop(process)


def _wait_healthy(server: Server, url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"`commstat serve` exited with {server.process.returncode}:\n"
                + server.log_between(0)[-3000:]
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"`commstat serve` did not answer {url} within {READY_TIMEOUT:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (serve and any worker processes it started)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return  # the whole group is gone already
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _roomy_backlog(fake: FakeSlack) -> None:
    """FakeSlack listens with socketserver's backlog of 5; real Slack does not drop connections
    in a burst, so give the stand-in's socket a real backlog (the kernel caps it)."""
    server = getattr(fake, "_server", None)
    if server is not None:
        server.socket.listen(1024)


# --- one command, sent and answered --------------------------------------------------------------


@dataclass
class Shot:
    """One signed slash command of a round and what became of it (monotonic seconds)."""

    kind: str
    level: int
    round: int
    user: str
    channel: str
    marker: str
    key: str = ""  # its response URL's key
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    sent_at: float = 0.0
    acked_at: float | None = None
    status: int = 0
    failure: str | None = None  # no HTTP 200: "timeout", "HTTP 500 ...", a connection error
    posted_at: float | None = None  # chat.postMessage with the marker (a new commitment)
    posts: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # response URL
    chart_at: float | None = None
    chart_ok: bool = True

    @property
    def ack(self) -> float | None:
        """Seconds to the HTTP 200; a timeout counts as the time waited (ACK_TIMEOUT or a bit
        more), so that the percentiles do not forget the slowest requests."""
        if self.acked_at is None or (self.status != 200 and not self.timed_out):
            return None
        return self.acked_at - self.sent_at

    @property
    def timed_out(self) -> bool:
        return self.failure == "timeout"

    @property
    def answered_at(self) -> float | None:
        times = [t for t in (self.posted_at, self.posts[0][0] if self.posts else None) if t]
        return min(times) if times else None

    @property
    def answer_error(self) -> str | None:
        """The first answer's text when it is a refusal or an apology, not the answer asked for."""
        if self.kind == CREATE:
            if self.posted_at is not None and (
                not self.posts or self.posted_at <= self.posts[0][0]
            ):
                return None
            if not self.posts:
                return None
            text = str(self.posts[0][1].get("text") or "")
            return None if self.marker in text and text != SORRY else text
        if not self.posts:
            return None
        first = self.posts[0][1]
        text = str(first.get("text") or "")
        if self.kind == INDICATOR:
            return None if first.get("response_type") == "in_channel" else text
        return None if "commitments (" in text else text

    @property
    def chart_error(self) -> str | None:
        """A later response-URL post instead of the chart (it could not be drawn or uploaded)."""
        if self.kind != INDICATOR:
            return None
        if self.chart_at is not None and not self.chart_ok:
            return "files.completeUploadExternal failed"
        if self.chart_at is None and len(self.posts) > 1:
            return str(self.posts[1][1].get("text") or "")
        return None

    @property
    def settled(self) -> bool:
        """Nothing more to wait for."""
        if self.failure is not None and not self.timed_out:
            return True  # refused or dropped: the bot never got it
        if self.answered_at is None:
            return False
        if self.kind != INDICATOR or self.answer_error is not None:
            return True
        return self.chart_at is not None or self.chart_error is not None


def _shots(
    level: int, round_: int, first: int, senders: Sequence[str], driver: SlackDriver
) -> list[Shot]:
    """`level` commands, round-robin over KINDS from command number `first`, signed now."""
    shots = []
    for n in range(first, first + level):
        kind = KINDS[n % len(KINDS)]
        marker = f"burst{n:06d}"
        shot = Shot(kind, level, round_, senders[n % len(senders)], f"C0BURST{n:06d}", marker)
        command, text = {
            CREATE: ("/commit", f"Call {marker} partners about kits by Friday"),
            LIST: ("/commit", "list"),
            LIST_ALL: ("/commit", "list all"),
            INDICATOR: ("/indicator", "overdose deaths in MD"),
        }[kind]
        payload = driver.command_payload(command, text, user=shot.user, channel=shot.channel)
        shot.key = unquote(payload["response_url"].rsplit("/", 1)[-1])
        shot.body = urlencode(payload).encode()
        shot.headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(SIGNING_SECRET, shot.body, int(time.time())),
        }
        shots.append(shot)
    return shots


def _send(url: str, shot: Shot, barrier: threading.Barrier) -> None:
    barrier.wait()
    shot.sent_at = time.monotonic()
    try:
        answer = post(url, shot.body, shot.headers, timeout=ACK_TIMEOUT)
    except Exception as error:  # a timeout or a dropped connection is a result here
        shot.acked_at = time.monotonic()
        reason = getattr(error, "reason", error)
        shot.failure = "timeout" if isinstance(reason, TimeoutError) else repr(reason)[:200]
        return
    shot.acked_at = time.monotonic()
    shot.status = answer.status
    if answer.status != 200:
        shot.failure = f"HTTP {answer.status}: {answer.text[:120]}"


class Watcher:
    """Matches the calls FakeSlack records to the shots that caused them: response-URL posts by
    key, a new commitment's chat.postMessage and the chart's files.completeUploadExternal by
    the shot's own channel. Uses the arrival time FakeSlack stamps on each call."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.next = len(fake.calls)
        self.by_key: dict[str, Shot] = {}
        self.by_channel: dict[str, Shot] = {}
        self.stray = 0  # calls to Slack matched to no shot (e.g. a nudge, users.info)

    def expect(self, shots: Sequence[Shot]) -> None:
        for shot in shots:
            self.by_key[shot.key] = shot
            self.by_channel[shot.channel] = shot

    def scan(self) -> None:
        calls = self.fake.calls[self.next :]
        done = 0
        for call in calls:
            if call.status == 0:  # still being answered: look again next time
                break
            self._match(call)
            done += 1
        self.next += done

    def _match(self, call: Call) -> None:
        if call.method == "response_url":
            shot = self.by_key.get(unquote(call.path.split("/response/", 1)[-1]))
            if shot is not None:
                shot.posts.append((call.at, call.params))
                return
        elif call.method == "chat.postMessage":
            shot = self.by_channel.get(str(call.params.get("channel")))
            if shot is not None and shot.marker in str(call.params.get("text") or ""):
                if shot.posted_at is None:
                    shot.posted_at = call.at
                return
        elif call.method == "files.completeUploadExternal":
            shot = self.by_channel.get(str(call.params.get("channel_id")))
            if shot is not None and shot.chart_at is None:
                shot.chart_at = call.at
                shot.chart_ok = call.ok
                return
        elif call.method in ("files.getUploadURLExternal", "upload"):
            return  # the first two steps of a chart upload
        self.stray += 1

    def wait(self, shots: Sequence[Shot], *, deadline: float) -> None:
        while True:
            self.scan()
            if all(s.settled for s in shots) or time.monotonic() > deadline:
                return
            time.sleep(0.01)


def fire(url: str, watcher: Watcher, shots: Sequence[Shot]) -> None:
    """Send `shots` at once (threads behind a barrier), then wait until they are answered."""
    watcher.expect(shots)
    barrier = threading.Barrier(len(shots) + 1)
    threads = [
        threading.Thread(target=_send, args=(url, s, barrier), name=f"burst-{i}", daemon=True)
        for i, s in enumerate(shots)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()  # all threads are at the line: go
    started = time.monotonic()
    for thread in threads:
        thread.join(ACK_TIMEOUT + 5)
    watcher.wait(shots, deadline=started + ANSWER_TIMEOUT)


# --- figures ---------------------------------------------------------------------------------


def _ms(seconds: Sequence[float], p: float) -> float | None:
    return round(percentile(seconds, p) * 1000, 1) if seconds else None


def _ms_max(seconds: Sequence[float]) -> float | None:
    return round(max(seconds) * 1000, 1) if seconds else None


def kind_figures(shots: Sequence[Shot]) -> dict[str, Any]:
    acks = [a for s in shots if (a := s.ack) is not None]
    answered = [
        t - s.sent_at for s in shots if (t := s.answered_at) is not None and s.answer_error is None
    ]
    charts = [s.chart_at - s.sent_at for s in shots if s.chart_at is not None and s.chart_ok]
    return {
        "requests": len(shots),
        "ack_p50_ms": _ms(acks, 50),
        "ack_p99_ms": _ms(acks, 99),
        "ack_max_ms": _ms_max(acks),
        "acks_over_3s": sum(1 for a in acks if a > SLOW_ACK),
        "answered_p50_ms": _ms(answered, 50),
        "answered_p99_ms": _ms(answered, 99),
        "answered_max_ms": _ms_max(answered),
        "chart_p50_ms": _ms(charts, 50) if shots and shots[0].kind == INDICATOR else None,
        "chart_p99_ms": _ms(charts, 99) if shots and shots[0].kind == INDICATOR else None,
        **_errors(shots),
    }


def _errors(shots: Sequence[Shot]) -> dict[str, int]:
    return {
        "http_errors": sum(1 for s in shots if s.failure is not None and not s.timed_out),
        "timeouts": sum(1 for s in shots if s.timed_out),
        "unanswered": sum(
            1 for s in shots if s.answered_at is None and (s.failure is None or s.timed_out)
        ),
        "error_answers": sum(1 for s in shots if s.answer_error is not None),
        "chart_errors": sum(
            1
            for s in shots
            if s.kind == INDICATOR
            and s.answered_at is not None
            and s.answer_error is None
            and (s.chart_error is not None or s.chart_at is None)
        ),
    }


def level_figures(
    level: int, shots: Sequence[Shot], rounds: int, server_log: str
) -> dict[str, Any]:
    """The whole level: throughput (answers per second of the rounds' spans) and errors."""
    span = 0.0
    for round_ in range(rounds):
        in_round = [s for s in shots if s.round == round_]
        ends = [t for s in in_round if (t := s.answered_at) is not None]
        if ends:
            span += max(ends) - min(s.sent_at for s in in_round)
    ok = sum(1 for s in shots if s.answered_at is not None and s.answer_error is None)
    return {
        "level": level,
        "rounds": rounds,
        "requests": len(shots),
        "answered": ok,
        "answered_per_second": round(ok / span, 2) if span > 0 else None,
        "acks_over_3s": sum(1 for s in shots if (a := s.ack) is not None and a > SLOW_ACK),
        **_errors(shots),
        "database_is_locked": server_log.count(LOCKED),
        "tracebacks": server_log.count("Traceback (most recent call last)"),
        "connection_limit_reached": server_log.count(CONNECTION_LIMIT),
        "waitress_queue_max": max((int(n) for n in QUEUE_DEPTH.findall(server_log)), default=0),
        "error_texts": sorted(
            {t[:160] for s in shots for t in (s.answer_error, s.chart_error, s.failure) if t}
        ),
        "commands": {kind: kind_figures([s for s in shots if s.kind == kind]) for kind in KINDS},
    }


# --- the benchmark ---------------------------------------------------------------------------


def run(options: Options) -> dict[str, Any]:
    commitments = options.rows or (QUICK_COMMITMENTS if options.quick else FULL_COMMITMENTS)
    indicators = QUICK_INDICATORS if options.quick else FULL_INDICATORS
    ladder = list(QUICK_LADDER if options.quick else FULL_LADDER)
    if options.requests is not None:
        ladder = [(1, options.requests) if level == 1 else (level, n) for level, n in ladder]
    return run_on_throwaway_database(
        options,
        NAME,
        lambda database: _run(
            database,
            options,
            commitments=commitments,
            indicators=indicators,
            ladder=ladder,
        ),
    )


def _run(
    database: Database,
    options: Options,
    *,
    commitments: int,
    indicators: int,
    ladder: list[tuple[int, int]],
) -> dict[str, Any]:
    commstat = commstat_executable()
    workers, workers_note = workers_to_ask(commstat)
    now = datetime.now(UTC)
    engine = make_engine(database.url)
    try:
        upgrade(engine)
        version = _server_version(engine)
        print(f"database: {database.kind} ({version}) at {database.shown}")
        print(
            f"seeding {commitments:,} commitments and "
            f"~{indicators * PLACES * MONTHS:,} indicator values ...",
            flush=True,
        )
        seeded = seed_commitments(engine, rows=commitments, owners=OWNERS, now=now)
        print(
            f"  {seeded.commitments:,} commitments + {seeded.owner_rows:,} owner rows "
            f"in {seeded.seconds:.1f} s",
            flush=True,
        )
        values = seed_indicators(engine, indicator_count=indicators, now=now)
        print(
            f"  {values.cdc_values:,} CDC values + {values.synthetic_values:,} synthetic values "
            f"({values.synthetic_indicators} indicators) in {values.seconds:.1f} s",
            flush=True,
        )
        seed_seconds = seeded.seconds + values.seconds
        print(f"seeding took {seed_seconds:.1f} s", flush=True)
        value_rows = _count(engine, IndicatorValue)
    finally:
        engine.dispose()

    log_path = options.results_dir / f"{NAME}-{database.kind}.log"
    fake = FakeSlack(team_id=TEAM_ID, token=BOT_TOKEN).start()
    try:
        _roomy_backlog(fake)
        for i, user_id in enumerate(seeded.people):
            zone = TEAM_ZONE if i == 0 else ZONES[i % len(ZONES)]
            fake.add_user(user_id, name=f"partner{i:03d}", tz=zone)
        print(f"starting commstat serve ({workers_note}) ...", flush=True)
        with serve(database.url, fake, workers=workers, log_path=log_path) as server:
            print(f"  serving: {' '.join(server.command[1:])}", flush=True)
            results = _climb(server, fake, seeded, ladder)
        if fake.errors:
            raise RuntimeError(f"FakeSlack itself failed: {fake.errors[0]}")
    finally:
        fake.stop()

    engine = make_engine(database.url)
    try:
        final_commitments = _count(engine, Commitment)
    finally:
        engine.dispose()
    levels = results["levels"]
    _print_report(database, commitments, value_rows, seed_seconds, workers_note, levels)
    print(f"server output: {log_path}")
    return {
        "benchmark": NAME,
        "database": database.kind,
        "database_url": database.shown,
        "server_version": version,
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "cpus": os.cpu_count(),
        "started_at": now.isoformat(timespec="seconds"),
        "quick": options.quick,
        "serve_command": server.command[1:],
        "workers": workers,
        "workers_note": workers_note,
        "seeded_commitments": seeded.commitments,
        "owner_rows": seeded.owner_rows,
        "commitments_after": final_commitments,
        "indicator_values": value_rows,
        "synthetic_indicators": values.synthetic_indicators,
        "seed_seconds": {
            "commitments": round(seeded.seconds, 1),
            "indicators": round(values.seconds, 1),
            "total": round(seed_seconds, 1),
        },
        "ladder": [{"level": level, "rounds": rounds} for level, rounds in ladder],
        "senders": SENDERS,
        "ack_timeout_seconds": ACK_TIMEOUT,
        "answer_timeout_seconds": ANSWER_TIMEOUT,
        "stray_calls": results["stray_calls"],
        "server_log": str(log_path),
        "levels": levels,
    }


def _climb(
    server: Server, fake: FakeSlack, seeded: Seeded, ladder: list[tuple[int, int]]
) -> dict[str, Any]:
    driver = SlackDriver(
        server.events_url, SIGNING_SECRET, TEAM_ID, response_url_for=fake.response_url
    )
    senders = seeded.people[:SENDERS]
    watcher = Watcher(fake)
    number = 0

    warmup = _shots(len(KINDS), -1, number, senders, driver)
    number += len(warmup)
    fire(server.events_url, watcher, warmup)
    broken = [s for s in warmup if not s.settled or s.failure or s.answer_error or s.chart_error]
    if broken:
        shot = broken[0]
        raise RuntimeError(
            f"warm-up: {shot.kind} failed: {shot.failure or shot.answer_error or shot.chart_error}"
            f" (answered: {shot.answered_at is not None}); see {server.log_path}"
        )
    answer = next(s for s in warmup if s.kind == INDICATOR).posts[0][1].get("text")
    print(f"  warm-up answered; /indicator said: {str(answer)[:120]!r}", flush=True)

    levels = []
    for level, rounds in ladder:
        started = time.perf_counter()
        log_start = server.log_size()
        shots: list[Shot] = []
        for round_ in range(rounds):
            batch = _shots(level, round_, number, senders, driver)
            number += level
            fire(server.events_url, watcher, batch)
            shots += batch
            time.sleep(SETTLE)
        figures = level_figures(level, shots, rounds, server.log_between(log_start))
        levels.append(figures)
        print(
            f"  level {level:>3}: {rounds} round(s), {figures['answered']}/{len(shots)} answered "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    return {"levels": levels, "stray_calls": watcher.stray}


def _count(engine: Engine, model: Any) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _print_report(
    database: Database,
    commitments: int,
    value_rows: int,
    seed_seconds: float,
    workers_note: str,
    levels: list[dict[str, Any]],
) -> None:
    print(
        f"\n{database.kind}: {commitments:,} commitments, {value_rows:,} indicator values "
        f"(seeding {seed_seconds:.1f} s); {workers_note}; times in ms from the POST"
    )
    rows = []
    for figures in levels:
        for kind, f in figures["commands"].items():
            errors = f["http_errors"] + f["timeouts"] + f["unanswered"] + f["error_answers"]
            rows.append(
                [
                    str(figures["level"]),
                    kind,
                    f["requests"],
                    _show_ack(f["ack_p50_ms"]),
                    _show_ack(f["ack_p99_ms"]),
                    _show_ack(f["ack_max_ms"]),
                    f["acks_over_3s"],
                    _show(f["answered_p50_ms"]),
                    _show(f["answered_p99_ms"]),
                    _show(f["chart_p99_ms"]),
                    errors + f["chart_errors"],
                ]
            )
    print_table(
        [
            "level",
            "command",
            "n",
            "ack p50",
            "p99",
            "max",
            ">3 s",
            "answered p50",
            "p99",
            "chart p99",
            "errors",
        ],
        rows,
    )
    print()
    print_table(
        [
            "level",
            "rounds",
            "requests",
            "answered",
            "answers/s",
            "acks >3 s",
            "HTTP errors",
            "timeouts",
            "unanswered",
            "error answers",
            "chart errors",
            "db locked",
            "tracebacks",
            "queue max",
            "conn. limit",
        ],
        [
            [
                str(f["level"]),
                f["rounds"],
                f["requests"],
                f["answered"],
                _show(f["answered_per_second"]),
                f["acks_over_3s"],
                f["http_errors"],
                f["timeouts"],
                f["unanswered"],
                f["error_answers"],
                f["chart_errors"],
                f["database_is_locked"],
                f["tracebacks"],
                f["waitress_queue_max"],
                f["connection_limit_reached"],
            ]
            for f in levels
        ],
    )
    for figures in levels:
        for text in figures["error_texts"]:
            print(f"level {figures['level']}: {text!r}")


def _show(value: float | None) -> Any:
    return "-" if value is None else value


def _show_ack(value: float | None) -> Any:
    """An ack percentile that falls on a timeout is only known to be over ACK_TIMEOUT."""
    if value is not None and value >= ACK_TIMEOUT * 1000:
        return f">{ACK_TIMEOUT * 1000:.0f}"
    return _show(value)
