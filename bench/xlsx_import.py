"""How long ``commstat import`` takes for a big Excel workbook: read, imported, or refused.

What it does:

1. writes a ~44 MB .xlsx (``--quick``: ~4 MB; ``--rows`` sets the rows) the way Excel saves
   one: a shared-strings table and one sheet of 9 columns (indicator, period, value, geography,
   unit, state, percent complete, predicted value, footnote), streamed straight into the zip
   (openpyxl or XlsxWriter would take minutes for a million rows);
2. two variants of it: one stray value at XFD1048576, and one row whose value is not a number
   (row 1,000,001 of a million); each must be refused, the first before calamine loads it;
3. in a fresh child process each (peak memory is that step's alone): reading the sheet as the
   importer does (``storage.xlsx.Workbook``: the sample, then the wanted columns), and
   ``import_file`` of each file into a fresh database;
4. prints seconds, CPU seconds and peak memory, and writes ``bench/results/xlsx_import-<db>.json``.
   The target: a 44 MB sheet read, or refused, in 30 s.
"""

from __future__ import annotations

import platform
import random
import sys
import time
import zipfile
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

NAME = "xlsx_import"
FULL_ROWS = 1_000_000
QUICK_ROWS = 100_000
INDICATORS = 20
MONTHS = 125
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
HEADER = (
    "indicator",
    "period",
    "value",
    "geography",
    "unit",
    "state",
    "percent complete",
    "predicted value",
    "footnote",
)
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{NS}" xmlns:r="{RELS}">'
        '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{RELS}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    ),
}


def write_xlsx(path: Path, rows: int, *, seed: int = 4, extra: str = "") -> int:
    """A long-format workbook of `rows` data rows (plus `extra` XML after the last row)."""
    rng = random.Random(seed)
    strings: dict[str, int] = {}

    def shared(text: str) -> int:
        return strings.setdefault(text, len(strings))

    letters = [chr(65 + i) for i in range(len(HEADER))]
    places = max(1, rows // (INDICATORS * MONTHS) + 1)
    months = [f"{2015 + m // 12}-{m % 12 + 1:02d}" for m in range(MONTHS)]
    written = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as book:
        for name, text in PARTS.items():
            book.writestr(name, text)
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml")
        info.compress_type = zipfile.ZIP_DEFLATED
        with book.open(info, "w", force_zip64=True) as sheet:
            sheet.write(
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}"><sheetData>'.encode()
            )
            cells = "".join(
                f'<c r="{letter}1" t="s"><v>{shared(text)}</v></c>'
                for letter, text in zip(letters, HEADER, strict=True)
            )
            lines = [f'<row r="1">{cells}</row>']
            for i in range(INDICATORS):
                name = shared(f"Indicator {i:02d} deaths")
                for g in range(places):
                    place, state = shared(f"County {g:05d}"), shared(f"State {g % 50:02d}")
                    for month in months:
                        if written >= rows:
                            break
                        written += 1
                        r = written + 1
                        note = shared("Provisional" if rng.random() < 0.2 else "Final")
                        lines.append(
                            f'<row r="{r}"><c r="A{r}" t="s"><v>{name}</v></c>'
                            f'<c r="B{r}" t="s"><v>{shared(month)}</v></c>'
                            f'<c r="C{r}"><v>{rng.uniform(0, 999):.1f}</v></c>'
                            f'<c r="D{r}" t="s"><v>{place}</v></c>'
                            f'<c r="E{r}" t="s"><v>{shared("deaths")}</v></c>'
                            f'<c r="F{r}" t="s"><v>{state}</v></c>'
                            f'<c r="G{r}"><v>{rng.uniform(90, 100):.3f}</v></c>'
                            f'<c r="H{r}"><v>{rng.uniform(0, 999):.4f}</v></c>'
                            f'<c r="I{r}" t="s"><v>{note}</v></c></row>'
                        )
                        if len(lines) >= 5000:
                            sheet.write("".join(lines).encode())
                            lines.clear()
            lines.append(extra.replace("{next}", str(written + 2)))
            sheet.write(("".join(lines) + "</sheetData></worksheet>").encode())
        table = "".join(f"<si><t>{text}</t></si>" for text in strings)
        book.writestr(
            "xl/sharedStrings.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{NS}" count="{len(strings)}" '
            f'uniqueCount="{len(strings)}">{table}</sst>',
        )
    return written


def _child(step: str, path: str, database_url: str) -> None:
    """One measured step in this (fresh) process; prints a JSON line."""
    from storage.db import make_engine, make_session_factory
    from storage.importer import ImportError_, ImportMapping, import_file
    from storage.xlsx import Workbook

    detail: dict[str, Any] = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    if step == "read":
        with Workbook(Path(path)) as book:
            book.read(None, last_row=201)
            cells = book.read(None, columns={1, 2, 3, 4})
            detail = {
                "rows": len(cells.rows),
                "fast": not any(p.exact for p in book._plans.values()),
            }
    else:
        engine = make_engine(database_url)
        try:
            report = import_file(
                make_session_factory(engine),
                team_id="T0BENCH",
                path=Path(path),
                mapping=ImportMapping(),
                now=NOW,
            )
            detail = {"rows": report.rows, "added": report.added, "outcome": "imported"}
        except ImportError_ as exc:
            detail = {"outcome": "refused: " + str(exc).splitlines()[0][:60]}
        engine.dispose()
    print_step(step, started, cpu_started, detail)


def _measure(step: str, path: Path, database_url: str) -> dict[str, Any]:
    return measure_in_child("bench.xlsx_import", step, path, database_url)


def run(options: Options) -> dict[str, Any]:
    rows = options.rows or (QUICK_ROWS if options.quick else FULL_ROWS)
    return run_migrated_in_folder(
        options, NAME, lambda database, folder: _run(database, folder, rows)
    )


def _run(database: Database, folder: Path, rows: int) -> dict[str, Any]:
    started = time.perf_counter()
    good = folder / "values.xlsx"
    written = write_xlsx(good, rows)
    stray = folder / "stray.xlsx"
    write_xlsx(stray, rows, extra='<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    bad = folder / "bad.xlsx"
    bad_row = (
        '<row r="{next}"><c r="A{next}" t="inlineStr"><is><t>Indicator 00 deaths</t></is></c>'
        '<c r="B{next}" t="inlineStr"><is><t>2030-01</t></is></c>'
        '<c r="C{next}" t="inlineStr"><is><t>lots</t></is></c></row>'
    )
    write_xlsx(bad, rows, extra=bad_row)
    size_mb = good.stat().st_size / 1e6
    print(f"database: {database.kind} at {database.shown}")
    print(
        f"file: {written:,} rows x {len(HEADER)} columns, {size_mb:.1f} MB "
        f"(written in {time.perf_counter() - started:.1f} s, three files)",
        flush=True,
    )
    steps = {
        "read the sheet (sample + 4 columns)": _measure("read", good, database.url),
        "import (all new)": _measure("import", good, database.url),
        "import with a stray cell at XFD1048576": _measure("import", stray, database.url),
        "import with a bad value in the last row": _measure("import", bad, database.url),
    }
    print_table(
        ["step", "seconds", "CPU s", "peak MB", "outcome"],
        [
            [
                label,
                round(s["seconds"], 2),
                round(s["cpu_seconds"], 2),
                round(s["peak_mb"], 1),
                s.get("outcome") or f"{s['rows']:,} rows ({'calamine' if s['fast'] else 'exact'})",
            ]
            for label, s in steps.items()
        ],
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
