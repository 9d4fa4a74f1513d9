"""How long ``commstat import`` takes for a big long-format file, and how much memory it needs.

What it does:

1. writes a long-format CSV (``indicator,period,value,geography,unit``) of 1,000,000 rows
   (``--quick``: 50,000; ``--rows`` overrides): 20 indicators x geographies x 125 months, with
   thousands separators, blanks and suppression markers like real publishers' files;
2. in a fresh child process each (so peak memory is that step's alone, from ``getrusage``):
   - a bare ``pandas.read_csv`` of the same file (the floor: parsing only),
   - ``import_file`` into a fresh database (SQLite file, or a throwaway PostgreSQL database
     with ``--database-url``): everything added,
   - the same import again: everything unchanged (nothing rewritten);
3. prints seconds, this process's CPU seconds (a loaded machine stretches the first, hardly the
   second; PostgreSQL's own work is in neither CPU figure), rows/s and peak memory, and writes
   ``bench/results/indicator_import-<db>.json``.
"""

from __future__ import annotations

import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    Database,
    Options,
    measure_in_child,
    print_step,
    print_table,
    run_migrated_in_folder,
)

NAME = "indicator_import"
FULL_ROWS = 1_000_000
QUICK_ROWS = 50_000
INDICATORS = 20
MONTHS = 125
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def write_csv(path: Path, rows: int, *, seed: int = 4) -> int:
    """A long-format file of about `rows` rows; returns the exact number written."""
    rng = random.Random(seed)
    geographies = max(1, rows // (INDICATORS * MONTHS))
    months = [f"{2015 + m // 12}-{m % 12 + 1:02d}" for m in range(MONTHS)]
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("indicator,period,value,geography,unit\n")
        for i in range(INDICATORS):
            name = f"Indicator {i:02d} deaths"
            for g in range(geographies):
                place = f"County {g:05d}"
                for month in months:
                    if written >= rows:
                        return written
                    roll = rng.random()
                    if roll < 0.02:
                        value = ""
                    elif roll < 0.03:
                        value = rng.choice(["*", "<10", "suppressed", "NA"])
                    elif roll < 0.10:
                        value = f'"{rng.randint(1000, 99999):,}"'
                    else:
                        value = f"{rng.uniform(0, 999):.1f}"
                    out.write(f"{name},{month},{value},{place},deaths\n")
                    written += 1
    return written


def _child(step: str, csv_path: str, database_url: str) -> None:
    """One measured step in this (fresh) process; prints a JSON line. Module imports are not
    timed (they cost the same for any file), but their memory is in the peak."""
    import pandas as pd

    from storage.db import make_engine, make_session_factory
    from storage.importer import ImportMapping, import_file

    detail: dict[str, Any] = {}
    started = time.perf_counter()
    cpu_started = time.process_time()
    if step == "read_csv":
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        detail["rows"] = len(frame)
    else:
        engine = make_engine(database_url)
        report = import_file(
            make_session_factory(engine),
            team_id="T0BENCH",
            path=Path(csv_path),
            mapping=ImportMapping(),
            now=NOW,
        )
        engine.dispose()
        detail = {
            "rows": report.rows,
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "missing": report.missing,
        }
    print_step(step, started, cpu_started, detail)


def _measure(step: str, csv_path: Path, database_url: str) -> dict[str, Any]:
    return measure_in_child("bench.indicator_import", step, csv_path, database_url)


def run(options: Options) -> dict[str, Any]:
    rows = options.rows or (QUICK_ROWS if options.quick else FULL_ROWS)
    return run_migrated_in_folder(
        options, NAME, lambda database, folder: _run(database, folder, rows)
    )


def _run(database: Database, folder: Path, rows: int) -> dict[str, Any]:
    csv_path = folder / "values.csv"
    written = write_csv(csv_path, rows)
    size_mb = csv_path.stat().st_size / 1e6
    print(f"database: {database.kind} at {database.shown}")
    print(f"file: {written:,} rows, {size_mb:.1f} MB", flush=True)
    steps = {
        "pandas.read_csv (floor)": _measure("read_csv", csv_path, database.url),
        "import (all new)": _measure("import", csv_path, database.url),
        "import again (all unchanged)": _measure("import", csv_path, database.url),
    }
    table = [
        [
            label,
            round(step["seconds"], 2),
            round(step["cpu_seconds"], 2),
            int(written / step["seconds"]),
            round(step["peak_mb"], 1),
            step.get("added", "-"),
            step.get("unchanged", "-"),
            step.get("missing", "-"),
        ]
        for label, step in steps.items()
    ]
    print_table(
        ["step", "seconds", "CPU s", "rows/s", "peak MB", "added", "unchanged", "missing"], table
    )
    return {
        "database": database.kind,
        "rows": written,
        "file_mb": round(size_mb, 1),
        "python": platform.python_version(),
        "steps": steps,
    }


if __name__ == "__main__":  # the child process of one measured step
    _child(sys.argv[1], sys.argv[2], sys.argv[3])
