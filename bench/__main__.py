"""``python -m bench``: run every benchmark module in bench/ and print its table.

python -m bench                        # full size, a fresh SQLite file
python -m bench --quick                # small and fast, to check that it works
python -m bench --database-url postgresql+psycopg://postgres@127.0.0.1:54329/postgres
python -m bench --only commit_ack --explain
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import bench
from bench import Options


def benchmark_modules() -> list[str]:
    """Modules of this package that are benchmarks: not private, not this one."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(bench.__path__)
        if not info.name.startswith("_") and not info.ispkg
    )


def load(name: str) -> ModuleType:
    module = importlib.import_module(f"bench.{name}")
    if not callable(getattr(module, "run", None)):
        raise SystemExit(f"bench/{name}.py has no run(options) function")
    return module


def parse_args(argv: Sequence[str] | None) -> tuple[Options, list[str]]:
    names = benchmark_modules()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small table, fewer requests (checks it works)"
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="SQLite file (must not exist) or PostgreSQL server; a PostgreSQL URL gets a fresh "
        "throwaway database on that server (default: a fresh SQLite file in a temp directory)",
    )
    parser.add_argument("--rows", type=int, metavar="N", help="override the table size")
    parser.add_argument(
        "--requests", type=int, metavar="N", help="override the measured requests per command"
    )
    parser.add_argument(
        "--explain", action="store_true", help="print the query plans of the measured queries"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(names)}",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=bench.RESULTS_DIR,
        metavar="DIR",
        help="where the JSON results go (default: bench/results)",
    )
    args = parser.parse_args(argv)
    for flag in ("rows", "requests"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag} must be at least 1")
    options = Options(
        quick=args.quick,
        database_url=args.database_url,
        rows=args.rows,
        requests=args.requests,
        explain=args.explain,
        results_dir=args.results_dir,
    )
    return options, args.only or names


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options, names = parse_args(argv)
    failed: list[str] = []
    for name in names:
        print(f"== {name} ==", flush=True)
        started = time.perf_counter()
        try:
            load(name).run(options)
        except KeyboardInterrupt:
            raise
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"({name}: {time.perf_counter() - started:.1f} s in all)\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
