"""How long ``commstat import`` takes for a big long-format file, and how much memory it needs.

What it does:

1. writes a long-format CSV (``indicator,period,value,geography,unit``) of 1,000,000 rows
   (``--quick``: 50,000; ``--rows`` overrides): 20 indicators x geographies x 125 months, with
   thousands separators, blanks and suppression markers like real publishers' files;
2. in a fresh child process each (so peak memory is that step's alone, from ``getrusage``):
   - a bare ``pandas.read_csv`` of the same file (the floor: parsing only),
   - ``import_file`` into a fresh database (SQLite file, or a throwaway PostgreSQL database
     with ``--database-url``): everything added,
   - the same import again: everything unchanged (nothing rewritten),
   - the database's own floor: the same rows, already parsed, checked and sorted, written in one
     transaction into a table with the same key, first with nothing else, then with the
     foreign key to the indicators that indicator_values has: ``executemany`` on SQLite,
     ``COPY`` on PostgreSQL, as the import writes them. No import into this schema can add
     the file's values faster than the second (its memory figure is not comparable: the rows
     are made up front);
3. prints seconds, this process's CPU seconds (a loaded machine stretches the first, hardly the
   second; PostgreSQL's own work is in neither CPU figure), rows/s, peak memory and each step's
   time as a multiple of ``read_csv``'s, and writes ``bench/results/indicator_import-<db>.json``.

``read_csv`` takes a fraction of a second, so a busy moment of the machine moves it a lot: it is
measured three times and its median is the yardstick.
"""

from __future__ import annotations

import itertools
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
    elif step.startswith("write_floor"):
        payload = _floor_payload(database_url, _parsed_rows(Path(csv_path)))
        rows, seconds, cpu_seconds = _write_floor(
            database_url, payload, foreign_key=step.endswith("_fk")
        )
        detail["rows"] = rows
        # Only the write and its commit count (not making or dropping the scratch table).
        started = time.perf_counter() - seconds
        cpu_started = time.process_time() - cpu_seconds
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


FLOOR_TABLE = "bench_floor_values"
FLOOR_PARENT = "bench_floor_indicators"


def _parsed_rows(path: Path) -> list[tuple[Any, ...]]:
    """The file's rows as the import writes them (team, indicator id, period, period start,
    place, value or None, updated at), in the key's order, each distinct text one string object
    (as the import's are): made before the floor's clock starts."""
    import csv

    ids: dict[str, int] = {}
    texts: dict[str, str] = {}
    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    rows = []
    with path.open(encoding="utf-8", newline="") as lines:
        for name, period, value, place, _unit in itertools.islice(csv.reader(lines), 1, None):
            try:
                parsed: float | None = float(value.replace(",", ""))
            except ValueError:
                parsed = None
            rows.append(
                (
                    "T0BENCH",
                    ids.setdefault(name, len(ids) + 1),
                    texts.setdefault(period, period),
                    texts.setdefault(f"{period}-01", f"{period}-01"),
                    texts.setdefault(place, place),
                    parsed,
                    stamp,
                )
            )
    rows.sort(key=lambda row: (row[1], row[2], row[4]))
    return rows


def _floor_payload(database_url: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]] | bytes:
    """What the database is handed: the rows (SQLite), or COPY's text of them (PostgreSQL)."""
    if database_url.startswith("sqlite"):
        return rows
    return "".join(
        "\t".join("\\N" if v is None else str(v) for v in row) + "\n" for row in rows
    ).encode()


def _write_floor(
    database_url: str, payload: list[tuple[Any, ...]] | bytes, *, foreign_key: bool
) -> tuple[int, float, float]:
    """Write the rows into a table keyed like indicator_values, in one transaction, and drop
    it after; with `foreign_key`, its indicator_id refers to a table of the 20 indicators, as
    indicator_values' does (a check per row). Returns the rows written and the wall and CPU
    seconds of the write and its commit."""
    from sqlalchemy import (
        Column,
        Date,
        DateTime,
        Float,
        ForeignKey,
        Integer,
        MetaData,
        String,
        Table,
        insert,
    )

    from storage.db import make_engine

    metadata = MetaData()
    parent = Table(FLOOR_PARENT, metadata, Column("id", Integer, primary_key=True))
    reference = [ForeignKey(f"{FLOOR_PARENT}.id", ondelete="CASCADE")] if foreign_key else []
    Table(
        FLOOR_TABLE,
        metadata,
        Column("team_id", String(32), nullable=False),
        Column("indicator_id", Integer, *reference, primary_key=True),
        Column("period", String(10), primary_key=True),
        Column("period_start", Date, nullable=False),
        Column("geography", String(100), primary_key=True),
        Column("value", Float),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        sqlite_with_rowid=False,
    )
    engine = make_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(parent), [{"id": n} for n in range(1, INDICATORS + 1)])
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        with engine.begin() as connection:
            raw: Any = connection.connection.driver_connection
            if isinstance(payload, list):
                marks = ", ".join("?" * len(payload[0]))
                connection.connection.cursor().executemany(
                    f"INSERT INTO {FLOOR_TABLE} VALUES ({marks})", payload
                )
                written = len(payload)
            else:
                with raw.cursor() as cursor, cursor.copy(f"COPY {FLOOR_TABLE} FROM STDIN") as copy:
                    copy.write(payload)
                written = payload.count(b"\n")
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        metadata.drop_all(engine)
        engine.dispose()
    return written, seconds, cpu_seconds


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
    reads = sorted(
        (_measure("read_csv", csv_path, database.url) for _ in range(3)),
        key=lambda step: step["seconds"],
    )
    steps = {
        "pandas.read_csv (median of 3)": reads[1],
        "import (all new)": _measure("import", csv_path, database.url),
        "import again (all unchanged)": _measure("import", csv_path, database.url),
        "floor: the write alone, key only": _measure("write_floor", csv_path, database.url),
        "floor: the write alone, key + foreign key": _measure(
            "write_floor_fk", csv_path, database.url
        ),
    }
    yardstick = reads[1]["seconds"]
    table = [
        [
            label,
            round(step["seconds"], 2),
            round(step["cpu_seconds"], 2),
            f"{step['seconds'] / yardstick:.1f}x",
            int(written / step["seconds"]),
            round(step["peak_mb"], 1),
            step.get("added", "-"),
            step.get("unchanged", "-"),
        ]
        for label, step in steps.items()
    ]
    print(
        "read_csv three times: " + ", ".join(f"{step['seconds']:.2f} s" for step in reads),
        flush=True,
    )
    print_table(
        ["step", "seconds", "CPU s", "x read_csv", "rows/s", "peak MB", "added", "unchanged"],
        table,
    )
    return {
        "database": database.kind,
        "rows": written,
        "file_mb": round(size_mb, 1),
        "python": platform.python_version(),
        "read_csv_runs": [step["seconds"] for step in reads],
        "steps": steps,
    }


if __name__ == "__main__":  # the child process of one measured step
    _child(sys.argv[1], sys.argv[2], sys.argv[3])
