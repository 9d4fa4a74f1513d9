"""Guessing how to read an uploaded file, and the "updated by" words: plain functions."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from bot.sandbox import bundled
from bot.slack.blocks.imports import updated_words
from bot.usecases.imports import UpdatedBy, form_fields, guess_mapping, mapping_from_form
from storage.importer import ImportMapping


def sample(path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))[:50]
    return list(rows[0]), rows


def test_the_bundled_files_are_read_as_their_commstat_import_options_say():
    assert guess_mapping(*sample(bundled.OVERDOSES)) == bundled.OVERDOSE_MAPPING
    assert guess_mapping(*sample(bundled.NALOXONE)) == bundled.NALOXONE_MAPPING


def test_the_long_format_needs_no_mapping():
    rows = [{"Indicator": "A", "Period": "2024-01", "Value": "3"}]
    assert guess_mapping(["Indicator", "Period", "Value"], rows) == ImportMapping()


def test_a_period_over_year_and_month_columns():
    columns = ["Year", "Month", "County", "County FIPS", "Count"]
    rows = [
        {"Year": "2024", "Month": str(m), "County": "Kent", "County FIPS": "24029", "Count": str(m)}
        for m in range(1, 13)
    ]
    rows += [dict(r, Year="2025") for r in rows]
    mapping = guess_mapping(columns, rows)
    assert mapping.period_columns == (("year", "Year"), ("month", "Month"))
    assert (mapping.value_column, mapping.geography_column) == ("Count", "County")
    assert mapping.indicator == "Count"


def test_a_rate_column_with_wonders_unreliable_flags_is_the_value():
    # CDC WONDER: "15.8 (Unreliable)" is a number the import reads (flag dropped, and said)
    columns = ["Notes", "State", "Year", "Crude Rate"]
    rates = ["15.8 (Unreliable)", "12.1 (Unreliable)", "40.2", "41.0"]
    rows = [
        {"Notes": "", "State": state, "Year": year, "Crude Rate": rate}
        for (state, year), rate in zip(
            [("Vermont", "2022"), ("Vermont", "2023"), ("Maryland", "2022"), ("Maryland", "2023")],
            rates,
            strict=True,
        )
    ]
    mapping = guess_mapping(columns, rows)
    assert (mapping.period_column, mapping.value_column) == ("Year", "Crude Rate")


def test_the_form_reads_what_it_shows():
    shown = form_fields(bundled.OVERDOSE_MAPPING)
    assert mapping_from_form(**shown) == bundled.OVERDOSE_MAPPING
    split = mapping_from_form(**{**shown, "period_columns": "year=Year\nmonth=Month"})
    assert split.period_columns == (("year", "Year"), ("month", "Month"))


def test_updated_by_names_the_importer_only_when_it_made_the_latest_change():
    day = datetime(2026, 11, 23, 15, tzinfo=UTC)
    slack = UpdatedBy(via="slack", user_id="U0MARIA", at=day)
    assert updated_words(day, slack) == " · updated by <@U0MARIA> on Mon, Nov 23, 2026"
    assert (
        updated_words(day, UpdatedBy("cli", None, day))
        == " · updated by import on Mon, Nov 23, 2026"
    )
    later = datetime(2026, 11, 30, 15, tzinfo=UTC).replace(tzinfo=None)  # SQLite: no zone
    assert updated_words(later, slack) == " · updated Mon, Nov 30, 2026"
    assert updated_words(None, None) == ""
