"""Publishers' shapes in `commstat import`: periods split over columns, several measures in one
row, lines above and below the table, places written several ways, and the DOSE-SYS file."""

from __future__ import annotations

import pytest

from storage.importer import ImportError_, ImportMapping


def test_a_mapping_with_every_new_setting_round_trips_through_plain_json() -> None:
    mapping = ImportMapping.from_options(
        period_column=["year", "month"],
        value_column=["drug_rate=Drug overdose ED visits", "opioid_rate"],
        geography_column="jurisdiction",
        filters=["rate_time=Monthly"],
        skip_rows=0,
        county_fips_column="fips",
        unit="per 10,000 ED visits",
    )
    assert mapping.period_columns == (("year", "year"), ("month", "month"))
    assert mapping.value_columns == (
        ("drug_rate", "Drug overdose ED visits"),
        ("opioid_rate", "opioid_rate"),
    )
    data = mapping.to_dict()
    assert data["period_columns"] == [["year", "year"], ["month", "month"]]
    assert data["skip_rows"] == 0
    assert ImportMapping.from_dict(data) == mapping
    # the old single options keep their meaning
    plain = ImportMapping.from_options(period_column="period_end", value_column="Data Value")
    assert (plain.period_column, plain.value_column) == ("period_end", "Data Value")
    assert (plain.period_columns, plain.value_columns) == ((), ())
    assert ImportMapping.from_dict(plain.to_dict()) == plain


def test_period_parts_come_from_the_column_names_or_are_named() -> None:
    mapping = ImportMapping.from_options(period_column=["MMWR Week", "MMWR Year"])
    assert mapping.period_columns == (("year", "MMWR Year"), ("week", "MMWR Week"))
    mapping = ImportMapping.from_options(period_column=["yr", "quarter=Q"])
    assert mapping.period_columns == (("year", "yr"), ("quarter", "Q"))
    mapping = ImportMapping.from_options(period_column=["year=YEAR"])
    assert mapping.period_columns == (("year", "YEAR"),)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"period_column": ["year", "year"]}, "names the column 'year' twice"),
        ({"period_column": ["year", "period"]}, "which part of the period does it hold?"),
        ({"period_column": ["month", "mon"]}, "two columns hold the month"),
        ({"period_column": ["month=mo"]}, "needs the year too"),
        ({"period_column": ["month", "week"]}, "needs the year too"),
        ({"period_column": ["year", "month", "week"]}, "at most one of month"),
        ({"period_column": ["day=d", "year"]}, "'day' is not a part of a period"),
        (
            {"value_column": ["a=Opioid visits", "b=opioid VISITS"]},
            "name the same indicator ('opioid VISITS')",
        ),
        ({"value_column": ["a", "A=x"]}, "names the column 'A' twice"),
        ({"value_column": ["a=", "b"]}, "names no indicator after '='"),
        ({"value_column": ["=x", "b"]}, "should look like COLUMN=NAME"),
        ({"value_column": ["a=x", "b"], "indicator": "Y"}, "leave out --indicator"),
        ({"value_column": ["a=x", "b"], "indicator_column": "Y"}, "leave out --indicator-column"),
        ({"skip_rows": -1}, "give 0 or more lines"),
        ({"unit": "  "}, "--unit needs a unit"),
        ({"unit": "x", "unit_column": "u"}, "either --unit TEXT or --unit-column"),
    ],
)
def test_mapping_options_that_cannot_work_are_refused(options, says) -> None:
    with pytest.raises(ImportError_) as refused:
        ImportMapping.from_options(**options)
    assert says in str(refused.value)
