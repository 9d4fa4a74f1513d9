"""How long ``commstat export commitments`` takes for a big commitments table, as CSV and as xlsx.

What it does:

1. a fresh database (SQLite file, or a throwaway PostgreSQL database), migrated, seeded as
   ``commit_ack`` seeds it: 100,000 commitments (``--quick``: 10,000; ``--rows`` overrides) of one
   team, ~200 owners, 1-2 owners each;
2. exports every commitment the way the command does (``export_rows`` in a read session, then
   ``write_csv`` or ``write_xlsx`` through ``write_atomically`` into a file), each format twice,
   keeping the faster run;
3. prints seconds, CPU seconds, rows/s and the file's size, and writes
   ``bench/results/export_commitments-<db>.json``. The xlsx target is 5 s for 100,000 rows.
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import Database, Options, print_table, run_on_throwaway_database

NAME = "export_commitments"
RUNS = 2


def run(options: Options) -> dict[str, Any]:
    from bench.commit_ack import FULL_ROWS, QUICK_ROWS

    rows = options.rows or (QUICK_ROWS if options.quick else FULL_ROWS)
    return run_on_throwaway_database(options, NAME, lambda database: _run(database, rows))


def _run(database: Database, rows: int) -> dict[str, Any]:
    from bench.commit_ack import NOW, OWNERS, TEAM_ID, seed
    from bot.usecases.export import Filters, export_rows, write_atomically, write_csv, write_xlsx
    from storage.db import make_engine, make_session_factory, upgrade

    engine = make_engine(database.url)
    upgrade(engine)
    seeded = seed(engine, rows=rows, owners=OWNERS, now=NOW)
    print(f"database: {database.kind} at {database.shown}")
    print(f"seeded {seeded.commitments:,} commitments in {seeded.seconds:.1f} s", flush=True)
    sessions = make_session_factory(engine)
    filters = Filters(None, None, None, "all")
    steps: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="commstat_export_") as tmp:
        for fmt, writer, binary in (("csv", write_csv, False), ("xlsx", write_xlsx, True)):
            path = Path(tmp) / f"commitments.{fmt}"
            best: dict[str, Any] | None = None
            for _ in range(RUNS):
                started, cpu_started = time.perf_counter(), time.process_time()
                with sessions() as session:
                    exported = export_rows(session, team_id=TEAM_ID, filters=filters, now=NOW)
                    count = write_atomically(
                        path,
                        lambda f, w=writer, r=exported: w(r, f),  # type: ignore[misc]
                        binary=binary,
                    )
                seconds = time.perf_counter() - started
                step = {
                    "seconds": seconds,
                    "cpu_seconds": time.process_time() - cpu_started,
                    "rows": count,
                    "file_mb": path.stat().st_size / 1e6,
                }
                if best is None or seconds < best["seconds"]:
                    best = step
            assert best is not None
            steps[fmt] = best
    engine.dispose()
    print_table(
        ["format", "seconds", "CPU s", "rows/s", "file MB", "rows"],
        [
            [
                fmt,
                round(s["seconds"], 2),
                round(s["cpu_seconds"], 2),
                int(s["rows"] / s["seconds"]),
                round(s["file_mb"], 1),
                s["rows"],
            ]
            for fmt, s in steps.items()
        ],
    )
    return {
        "database": database.kind,
        "commitments": seeded.commitments,
        "python": platform.python_version(),
        "steps": steps,
    }
