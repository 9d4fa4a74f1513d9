"""An upload's preview (mapping, what would change, problems, guessed settings; Import / Change
mapping / Cancel), its result in place, and the two forms: `/indicator import`'s file picker and
Change mapping.

Everything that came from the file (names, columns, places, the importer's refusal, which quotes
rows) passes through `safe` or is plain text: a file can hold `<!channel>`, never run it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.core.dates import format_due
from bot.core.periods import label
from bot.core.text import clip, format_number, mention, safe
from bot.slack import ids
from bot.slack.blocks.limits import SECTION_LIMIT
from bot.usecases.imports import Imported, Preview, UpdatedBy, describe_mapping, form_fields
from storage.importer import MAX_CHANGES_KEPT, ImportMapping, ImportReport
from storage.models import Direction

COLUMNS_BLOCK = "import_columns"  # the preview's list of the file's columns (the form shows it)
MAX_INDICATORS_SHOWN = 12
MAX_PLACES_SHOWN = 8
UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "xlsm"]
# The Change mapping form's fields, in order: (block id, label, hint, multiline).
MAPPING_FIELDS = (
    ("indicator", "Indicator name (every row)", "When the whole file is one indicator.", False),
    ("indicator_column", "Indicator column", "The column naming each row's indicator.", False),
    (
        "period_columns",
        "Period column(s)",
        "One a line; a period split over columns: year=Year and month=Month.",
        True,
    ),
    (
        "value_columns",
        "Value column(s)",
        "One a line; several measures in a row: Column=Indicator name.",
        True,
    ),
    ("geography_column", "Place column", "State, county, ward… (empty: no places).", False),
    ("filters", "Only rows where", "One a line: Column=Value, e.g. State=MD.", True),
    ("sheet", "Sheet (Excel)", "Empty: the sheet open when the file was saved.", False),
    (
        "skip_rows",
        "Lines above the header",
        "Notes above the table; empty: found by looking.",
        False,
    ),
    ("unit", "Unit", "e.g. deaths, per 100 people (empty: from the file).", False),
)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))


def _count(n: int, word: str) -> str:
    return f"{format_number(n)} {word}"


def mapping_lines(mapping: ImportMapping, columns: Sequence[str]) -> list[str]:
    return [f"*{name}:* {safe(text, 300)}" for name, text in describe_mapping(mapping, columns)]


def indicator_lines(report: ImportReport) -> list[str]:
    lines: list[str] = []
    for result in report.indicators[:MAX_INDICATORS_SHOWN]:
        span = ""
        if result.first and result.last:
            first, last = label(result.first, None), label(result.last, None)
            span = f"{first} – {last}" if first != last else first
        places = ", ".join(safe(g, 40) for g in result.geographies[:MAX_PLACES_SHOWN])
        if len(result.geographies) > MAX_PLACES_SHOWN:
            places += f" and {len(result.geographies) - MAX_PLACES_SHOWN} more"
        new = " _(new)_" if result.created else ""
        counts = (
            f"{format_number(result.added)} to add, {format_number(result.updated)} to update, "
            f"{format_number(result.unchanged)} unchanged, {format_number(result.missing)} missing"
        )
        where = f" · {places}" if places else ""
        lines.append(f"• *{safe(result.name, 120)}*{new}: {counts} · {span}{where}")
    if len(report.indicators) > MAX_INDICATORS_SHOWN:
        lines.append(f"…and {len(report.indicators) - MAX_INDICATORS_SHOWN} more indicators.")
    return lines


def change_lines(report: ImportReport) -> list[str]:
    """The stored values Import would change, from what to what (the first few, in the file's
    order), so a corrected re-release can be checked before it is imported."""
    if not report.changes:
        return []
    named = report.changes_named
    lines = [f"*Stored values this file changes ({format_number(report.updated)}):*"]
    lines += [f"• {safe(c.words(named=named), 240)}" for c in report.changes[:MAX_CHANGES_KEPT]]
    more = report.updated - min(len(report.changes), MAX_CHANGES_KEPT)
    if more > 0:
        lines.append(f"…and {format_number(more)} more.")
    return lines


def guessed_lines(report: ImportReport) -> list[str]:
    lines = []
    for result in [r for r in report.indicators if r.created][:MAX_INDICATORS_SHOWN]:
        better = "lower" if result.direction == Direction.LOWER_IS_BETTER else "higher"
        lines.append(
            f"• {safe(result.name, 120)}: {safe(result.period_kind or 'no period kind', 40)} "
            f"({safe(result.kind_reason or 'guessed', 120)}); {better} is better "
            f"({safe(result.direction_reason or 'guessed', 120)})"
        )
    return lines


def _buttons(preview: Preview) -> ActionsBlock:
    """Import when it can be imported; Change mapping unless the person may not import it."""
    value = str(preview.row_id)
    elements = []
    if preview.importable:
        elements.append(
            ButtonElement(text="Import", action_id=ids.IMPORT_CONFIRM, value=value, style="primary")
        )
    if preview.rights is None:
        elements.append(
            ButtonElement(text="Change mapping", action_id=ids.IMPORT_MAPPING, value=value)
        )
    elements.append(ButtonElement(text="Cancel", action_id=ids.IMPORT_CANCEL, value=value))
    return ActionsBlock(block_id=f"import-{preview.row_id}", elements=elements)


def build_preview(preview: Preview) -> list[Block]:
    """The preview message: nothing is written until Import."""
    name = safe(preview.file_name, 150)
    blocks: list[Block] = []
    if preview.rights is not None:
        blocks.append(
            _section(f"🔒 *{name}* can't be imported by you from here.\n{preview.rights}")
        )
        blocks.append(_buttons(preview))
        return blocks
    how = (
        "the mapping set for this upload"
        if preview.chosen
        else "the mapping remembered for files of this name"
        if preview.remembered
        else "a mapping guessed from its columns"
    )
    head = f"📄 *{name}* — preview, read with {how}. Nothing is imported until you press *Import*."
    if preview.note:
        head += "\n" + safe(preview.note, 600)
    blocks.append(
        _section(head + "\n" + "\n".join(mapping_lines(preview.mapping, preview.columns)))
    )
    report = preview.report
    if report is not None:
        periods = [r for r in report.indicators if r.first and r.last]
        span = ""
        if periods:
            first = min(r.first for r in periods if r.first)
            last = max(r.last for r in periods if r.last)
            span = f" · periods {label(first, None)} – {label(last, None)}"
        places = sorted({g for r in report.indicators for g in r.geographies})
        where = (
            f" · {_count(len(places), 'place' if len(places) == 1 else 'places')}" if places else ""
        )
        total = (
            f"*Rows to add: {format_number(report.added)} · update: "
            f"{format_number(report.updated)} · unchanged: {format_number(report.unchanged)} · "
            f"missing: {format_number(report.missing)}* (blank or suppressed: stored as missing, "
            f"never zero)\n{_count(len(report.indicators), 'indicator' + ('s' if len(report.indicators) != 1 else ''))}"
            f"{span}{where}"
        )
        blocks.append(_section(total + "\n" + "\n".join(indicator_lines(report))))
        if report.decimal_comma_note:
            blocks.append(_section(safe(report.decimal_comma_note, 600)))
        if report.read_notes:
            blocks.append(_section("\n".join(safe(n, 600) for n in report.read_notes[:6])))
        changed = change_lines(report) + [safe(line, 300) for line in report.kept_lines()]
        if changed:
            blocks.append(_section("\n".join(changed)))
        guessed = guessed_lines(report)
        if guessed:
            blocks.append(
                _section(
                    "*New indicators get guessed settings* (you become their data steward; an "
                    "admin can change them in the catalog):\n" + "\n".join(guessed)
                )
            )
        if not report.added and not report.updated:
            blocks.append(
                _section("Everything in this file is stored already: Import changes nothing.")
            )
    if preview.refusal is not None:
        blocks.append(
            _section(
                "⚠️ *This file can't be imported as it is.* Fix the file, or press "
                "*Change mapping* if its columns were read wrongly:\n```"
                + safe(preview.refusal, SECTION_LIMIT - 200)
                + "```"
            )
        )
    if preview.columns:
        listed = ", ".join(safe(c, 80) for c in preview.columns[:40])
        more = f" and {len(preview.columns) - 40} more" if len(preview.columns) > 40 else ""
        blocks.append(
            ContextBlock(
                block_id=COLUMNS_BLOCK,
                elements=[PlainTextObject(text=clip(f"Columns in the file: {listed}{more}", 1900))],
            )
        )
    blocks.append(_buttons(preview))
    return blocks


def preview_fallback(preview: Preview) -> str:
    name = safe(preview.file_name, 150)
    if preview.rights is not None:
        return f"{name} can't be imported by you from here."
    if preview.report is None:
        return f"{name} can't be imported as it is."
    return (
        f"Preview of {name}: {format_number(preview.report.added)} rows to add, "
        f"{format_number(preview.report.updated)} to update. Press Import to write them."
    )


def build_imported(done: Imported) -> tuple[str, list[Block]]:
    """The preview, replaced in place by its result (no buttons left to press)."""
    name = safe(done.file_name, 150)
    by = f" by {mention(done.user_id)}" if done.user_id else ""
    text = (
        f"✅ Imported *{name}*{by} on {format_due(done.at)}: {format_number(done.added)} added, "
        f"{format_number(done.updated)} updated, {format_number(done.unchanged)} unchanged; "
        f"{format_number(done.missing)} missing (stored as missing, not zero)."
    )
    if done.indicators:
        text += f"\nIndicators: {', '.join('#' + safe(s, 60) for s in done.indicators[:12])}"
    text += f"\nNext time a file named *{name}* is uploaded, it is read the same way."
    return text, [_section(text)]


def updated_words(updated: datetime | None, by: UpdatedBy | None) -> str:
    """The end of an indicator answer's "Data through …" line: who last imported its values,
    when that import is also its latest change ("updated by <@U> on Mon, Nov 23, 2026"); else
    only the date of the latest change (a value entered with `/indicator set`)."""
    if by is not None and (
        updated is None or _naive(by.at) >= _naive(updated) - timedelta(minutes=1)
    ):
        day = format_due(by.at)
        if by.via == "slack" and by.user_id:
            return f" · updated by {mention(by.user_id)} on {day}"
        if by.via == "source":
            return f" · updated from its source on {day}"
        return f" · updated by import on {day}"
    return f" · updated {format_due(updated)}" if updated else ""


def _naive(at: datetime) -> datetime:
    """UTC without a zone: SQLite gives stored times back without one, PostgreSQL with."""
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def build_closed(text: str) -> tuple[str, list[Block]]:
    """A preview that ended without an import (cancelled): its words, no buttons."""
    return text, [_section(text)]


def build_upload_modal(*, channel_id: str) -> dict[str, Any]:
    """`/indicator import`: pick a CSV or Excel file (Slack's file_input, at most 10 MB)."""
    return View(
        type="modal",
        callback_id=ids.IMPORT_UPLOAD_VIEW,
        private_metadata=channel_id,
        title=PlainTextObject(text="Import indicator data"),
        submit=PlainTextObject(text="Preview"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            _section(
                "Pick a CSV or Excel (.xlsx) file of up to 10 MB. I'll send you a preview by DM "
                "— what would be added or updated, and any problems — and write nothing until "
                "you press *Import*. (You can also drop the file into a DM with me.)"
            ),
            InputBlock(
                block_id="file",
                label="File",
                element={
                    "type": "file_input",
                    "action_id": "file",
                    "filetypes": UPLOAD_TYPES,
                    "max_files": 1,
                },
            ),
        ],
    ).to_dict()


def build_mapping_modal(
    *, row_id: int, file_name: str, mapping: ImportMapping, columns_text: str, context: str
) -> View:
    """Change mapping: the options of `commstat import`, filled with the current mapping."""
    initial = form_fields(mapping)
    blocks: list[Block] = [
        _section(
            f"How to read *{safe(file_name, 150)}* (the same options as `commstat import`). "
            "I'll send a new preview; nothing is imported until you press *Import*."
        )
    ]
    if columns_text:
        blocks.append(ContextBlock(elements=[PlainTextObject(text=clip(columns_text, 1900))]))
    for block_id, title, hint, multiline in MAPPING_FIELDS:
        element = PlainTextInputElement(
            action_id="value",
            multiline=multiline,
            max_length=1000,
            initial_value=initial[block_id][:1000] or None,
        )
        blocks.append(
            InputBlock(block_id=block_id, label=title, hint=hint, optional=True, element=element)
        )
    return View(
        type="modal",
        callback_id=ids.IMPORT_MAPPING_VIEW,
        private_metadata=clip(f"{row_id}|{context}", 3000),
        title=PlainTextObject(text="Change mapping"),
        submit=PlainTextObject(text="Preview again"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
    )
