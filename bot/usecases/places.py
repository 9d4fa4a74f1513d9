"""Which places are the coalition's own, for charts that compare many places.

The rule (one, so a reader can predict it): the coalition's places are

1. its default place (`Team.default_geography`, set with `/commstat settings` or the catalog's
   `default_geography`), then
2. every place that one of its *other* indicators reports on in its latest period, when that is
   at most `FEW_PLACES` places: a file with a handful of places is one the coalition chose for
   itself (the demo's overdose deaths for the US, MD, NC and VT), a file with every state is not.
   (The latest period only, so the question costs one index lookup per indicator, not a scan
   of every stored value: ~10 ms for 200 indicators and 190,000 values on PostgreSQL.)

Only places the asked indicator has data for count, named as that indicator stores them
(`MD` and `Maryland` are one place, see `bot.core.indicator_rules.place_key`). The default place
comes first, the others alphabetically. `bot.core.charts` draws them first and in their own
colour (`ChartSpec.highlight`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from bot.core.indicator_rules import match_geography, place_key
from storage.models import Indicator, IndicatorValue, Team

FEW_PLACES = 12  # an indicator with at most this many places: the coalition picked them


def coalition_places(
    session: Session, team: Team | None, indicator: Indicator, known: Sequence[str]
) -> tuple[str, ...]:
    """The coalition's places among `known` (the places being compared), its default first.

    One query (only worth it when several places are compared; `/indicator x in MD` needs none)."""
    found: list[str] = []
    home = team.default_geography if team is not None else None
    if home and (place := match_geography(home, known)) is not None:
        found.append(place)
    newer = aliased(IndicatorValue)
    latest = (
        select(func.max(newer.period))
        .where(newer.indicator_id == Indicator.id)
        .correlate(Indicator)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Indicator.id, IndicatorValue.geography)
        .join(
            IndicatorValue,
            (IndicatorValue.indicator_id == Indicator.id) & (IndicatorValue.period == latest),
        )
        .where(
            Indicator.team_id == indicator.team_id,
            Indicator.id != indicator.id,
            IndicatorValue.geography != "",
        )
    ).all()
    by_indicator: dict[int, set[str]] = {}
    for indicator_id, geography in rows:
        by_indicator.setdefault(indicator_id, set()).add(geography)
    followed = sorted(
        {g for places in by_indicator.values() if len(places) <= FEW_PLACES for g in places}
    )
    taken = {place_key(p) for p in found}
    others = []
    for name in followed:
        place = match_geography(name, known)
        if place is not None and place_key(place) not in taken:
            taken.add(place_key(place))
            others.append(place)
    return (*found, *sorted(others, key=str.casefold))
