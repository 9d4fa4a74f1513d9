"""Benchmarks: how fast the real bot answers, measured over HTTP against a seeded database.

These are measurements to read, never pass/fail tests: `make bench` (= ``python -m bench``) runs
every module in this package that defines ``run(options)`` and prints a small table per module;
each module also writes its figures as JSON to ``bench/results/`` (git-ignored).

This module holds what every benchmark shares: the options, a throwaway database (a fresh SQLite
file, or a fresh database on a PostgreSQL server, dropped afterwards), a counter of the SQL
statements an engine issues, percentiles and the table printer.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Options:
    """What ``python -m bench`` was asked for; each benchmark picks its own defaults from it."""

    quick: bool = False
    database_url: str | None = None  # None: a fresh SQLite file in a temporary directory
    rows: int | None = None  # override the benchmark's table size
    requests: int | None = None  # override the benchmark's number of measured requests
    explain: bool = False  # print the query plans of the measured queries
    results_dir: Path = RESULTS_DIR


# --- databases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    url: str  # with the password, for the engine
    kind: str  # "sqlite" or "postgresql"
    shown: str  # for printing: no password


@contextmanager
def throwaway_database(url: str | None, *, prefix: str = "commstat_bench") -> Iterator[Database]:
    """A fresh, empty database for one benchmark run.

    No URL: a SQLite file in a temporary directory, deleted afterwards. A SQLite URL: that file,
    which must not exist yet (it is kept, to look at). A PostgreSQL URL names a server and a
    database to connect to for administration: a new database is created there (like
    tests/conftest.py does) and dropped ``WITH (FORCE)`` afterwards.
    """
    if url is None:
        with tempfile.TemporaryDirectory(prefix=f"{prefix}_") as tmp:
            path = Path(tmp) / "commstat.sqlite3"
            yield Database(f"sqlite:///{path}", "sqlite", f"sqlite:///{path} (temporary)")
        return
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise SystemExit("--database-url: give a SQLite file path, not :memory:")
        path = Path(parsed.database).expanduser()
        if path.exists() and path.stat().st_size > 0:
            raise SystemExit(f"--database-url: {path} exists; benchmarks need a fresh file")
        yield Database(url, "sqlite", parsed.render_as_string(hide_password=True))
        return
    if backend != "postgresql":
        raise SystemExit(f"--database-url: {backend} is not supported (SQLite or PostgreSQL)")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        fresh = parsed.set(database=name)
        yield Database(
            fresh.render_as_string(hide_password=False),
            "postgresql",
            fresh.render_as_string(hide_password=True),
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class SqlCounter:
    """Counts the statements an engine sends (``before_cursor_execute``), from any thread.

    ``capture()`` also keeps their text and parameters, e.g. for EXPLAIN afterwards.
    """

    engine: Engine
    count: int = 0
    captured: list[tuple[str, Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(
        self,
        _conn: Any,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        with self._lock:
            self.count += 1
            if self.captured is not None:
                self.captured.append((statement, parameters))

    def capture(self) -> list[tuple[str, Any]]:
        """Start keeping statements in a new list (returned), replacing the previous one."""
        with self._lock:
            self.captured = []
            return self.captured

    def seen_like(self, prefix: str) -> int:
        """How many captured statements start with `prefix` (whitespace-normalised)."""
        with self._lock:
            statements = list(self.captured or [])
        return sum(1 for s, _ in statements if " ".join(s.split()).startswith(prefix))

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def explain(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """The plan of one captured SELECT: EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            return [f"{'  ' * _depth(rows, r)}{r[-1]}" for r in rows]
        rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters).all()
        conn.rollback()
        return [str(r[0]) for r in rows]


def _depth(rows: Sequence[Any], row: Any) -> int:
    """Indentation of an EXPLAIN QUERY PLAN row (id, parent, notused, detail)."""
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth


# --- waiting and statistics --------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.001
) -> Any:
    """Poll `predicate` until it returns something truthy (returned); TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for the bot")
        time.sleep(interval)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of non-empty `values`."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max (and mean) of durations in seconds, as milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "p50": round(percentile(ms, 50), 2),
        "p95": round(percentile(ms, 95), 2),
        "p99": round(percentile(ms, 99), 2),
        "max": round(max(ms), 2),
        "mean": round(sum(ms) / len(ms), 2),
    }


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain, aligned text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = (value.rjust(width) for value, width in zip(row[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_results(options: Options, name: str, kind: str, results: dict[str, Any]) -> Path:
    """Write `results` to ``<results_dir>/<name>-<kind>.json`` and return the path."""
    options.results_dir.mkdir(parents=True, exist_ok=True)
    path = options.results_dir / f"{name}-{kind}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def run_on_throwaway_database(
    options: Options, name: str, body: Callable[[Database], dict[str, Any]]
) -> dict[str, Any]:
    """Run one benchmark's `body` on a throwaway database; time the whole run, write and say
    where the results are."""
    started = time.perf_counter()
    with throwaway_database(options.database_url) as database:
        results = body(database)
    results["run_seconds"] = round(time.perf_counter() - started, 1)
    path = write_results(options, name, database.kind, results)
    print(f"whole run {results['run_seconds']:.1f} s; results: {path}")
    return results


def load_bundled(engine: Engine, *, team_id: str, now: datetime) -> Any:
    """The bundled CDC overdose file (through the importer) and the demo's catalog."""
    from bot.sandbox import bundled
    from storage.catalog import load_catalog
    from storage.db import make_session_factory
    from storage.importer import import_file

    sessions = make_session_factory(engine)
    report = import_file(
        sessions,
        team_id=team_id,
        path=bundled.OVERDOSES,
        mapping=bundled.OVERDOSE_MAPPING,
        now=now,
        progress=None,
    )
    load_catalog(sessions, team_id=team_id, path=bundled.CATALOG, now=now)
    return report


# --- one measured step in a child process of its own (its peak memory is its own) ----------------


def measure_in_child(module: str, step: str, path: Path, database_url: str) -> dict[str, Any]:
    """Run `python -m <module> <step> <path> <database_url>` and read the JSON line it prints
    with `print_step` last."""
    done = subprocess.run(
        [sys.executable, "-m", module, step, str(path), database_url],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def print_step(step: str, started: float, cpu_started: float, detail: dict[str, Any]) -> None:
    """The child's report: wall and CPU seconds since `started`/`cpu_started` (perf_counter and
    process_time; a loaded machine stretches the first, not the second, and the database
    server's own work is in neither), its peak memory, and `detail`."""
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "step": step,
                "seconds": time.perf_counter() - started,
                "cpu_seconds": time.process_time() - cpu_started,
                "peak_mb": peak_kb / 1024,
                **detail,
            }
        )
    )


def run_migrated_in_folder(
    options: Options, name: str, run: Callable[[Database, Path], dict[str, Any]]
) -> dict[str, Any]:
    """`run(database, folder)` on a throwaway database, migrated, with a temporary folder for
    the files it writes (the import benches)."""

    def migrated(database: Database) -> dict[str, Any]:
        from storage.db import make_engine, upgrade

        engine = make_engine(database.url)
        upgrade(engine)
        engine.dispose()
        with tempfile.TemporaryDirectory(prefix=f"commstat_{name}_") as folder:
            return run(database, Path(folder))

    return run_on_throwaway_database(options, name, migrated)
