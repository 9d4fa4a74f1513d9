"""The real CDC data bundled with the bot (see `bot/data/PROVENANCE.md`), and how it is read.

The mappings are exactly the `commstat import` options a data analyst would type for these
files; the demo, the console, the benchmarks and the tests all load the data through them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from storage.catalog import load_catalog
from storage.importer import ImportMapping, ImportReport, import_file

DATA = Path(__file__).parents[1] / "data"
OVERDOSES = DATA / "cdc_vsrr_provisional_overdose_deaths_US_MD_NC_VT.csv"
NALOXONE = DATA / "cdc_naloxone_dispensing_rates_by_state.csv"
DOSE_SYS = DATA / "cdc_dose_sys_nonfatal_overdose_ed_rates_by_state.csv"
CATALOG = DATA / "catalog.yml"

# commstat import <OVERDOSES> --indicator-column Indicator --period-column period_end
#   --value-column "Data Value" --geography-column State
OVERDOSE_MAPPING = ImportMapping.from_options(
    indicator_column="Indicator",
    period_column="period_end",
    value_column="Data Value",
    geography_column="State",
)
# commstat import <NALOXONE> --indicator "Naloxone dispensing rate" --period-column YEAR
#   --value-column naloxone_dispensing_rate --geography-column STATE_ABBREV
NALOXONE_MAPPING = ImportMapping.from_options(
    indicator="Naloxone dispensing rate",
    period_column="YEAR",
    value_column="naloxone_dispensing_rate",
    geography_column="STATE_ABBREV",
)

# The DOSE-SYS file's eight measures (columns) and the indicator each becomes.
DOSE_SYS_MEASURES = (
    ("drug_rate", "Drug overdose ED visits"),
    ("opioid_rate", "Opioid overdose ED visits"),
    ("fentanyl_rate", "Fentanyl overdose ED visits"),
    ("heroin_rate", "Heroin overdose ED visits"),
    ("stimulant_rate", "Stimulant overdose ED visits"),
    ("cocaine_rate", "Cocaine overdose ED visits"),
    ("methamphetamine_rate", "Methamphetamine overdose ED visits"),
    ("benzodiazepine_rate", "Benzodiazepine overdose ED visits"),
)
# commstat import <DOSE_SYS> --geography-column jurisdiction --filter rate_time=Monthly
#   --period-column year --period-column month --unit "per 10,000 ED visits"
#   --value-column drug_rate="Drug overdose ED visits" ... (one per measure, as above)
DOSE_SYS_MAPPING = ImportMapping.from_options(
    geography_column="jurisdiction",
    filters=["rate_time=Monthly"],
    period_column=["year", "month"],
    unit="per 10,000 ED visits",
    value_column=[f"{column}={name}" for column, name in DOSE_SYS_MEASURES],
)
# The rolling 12-month rows (rate_time = Annual) as indicators of their own:
#   ... --filter rate_time=Annual --period-kind 12-month-ending
#   --value-column drug_rate="Drug overdose ED visits, 12 months" ...
DOSE_SYS_ANNUAL_MAPPING = ImportMapping.from_options(
    geography_column="jurisdiction",
    filters=["rate_time=Annual"],
    period_column=["year", "month"],
    period_kind="12-month-ending",
    unit="per 10,000 ED visits",
    value_column=[f"{column}={name}, 12 months" for column, name in DOSE_SYS_MEASURES],
)


def load_all(
    sessions: sessionmaker[Session], *, team_id: str, now: datetime
) -> tuple[ImportReport, ImportReport, str]:
    """Both CDC files, then the catalog: (overdose report, naloxone report, catalog summary)."""
    overdoses = import_file(
        sessions, team_id=team_id, path=OVERDOSES, mapping=OVERDOSE_MAPPING, now=now
    )
    naloxone = import_file(
        sessions, team_id=team_id, path=NALOXONE, mapping=NALOXONE_MAPPING, now=now
    )
    catalog = load_catalog(sessions, team_id=team_id, path=CATALOG, now=now)
    return overdoses, naloxone, catalog
