"""Compositions of indicators and queries that a page shows together (no Dash)."""
from __future__ import annotations

import datetime as dt

from indicators.catalogue import CATALOGUE
from indicators.compute import compute, compute_with_comparisons
from indicators.periods import period_to_date
from queries.engine import Engine
from queries.entities import registration_flow
from queries.filters import NATIONAL, Filter, RegionScope
from queries.regions import region_node

HOME_CARDS = ("entity_stock", "enterprise_stock", "individual_stock", "cooperative_stock",
              "new_registrations", "cancellations")
HOME_TABLE = ("entity_stock", "enterprise_stock", "individual_stock", "cooperative_stock",
              "new_registrations", "cancellations")


def home_data(db: Engine, region: str, today: dt.date, scope: RegionScope = NATIONAL) -> dict[str, object]:
    """Everything the home page shows for ``region``: headline indicators for the
    month to date (with 环比/同比), the same per child region, and 90 days of flow."""
    flt = Filter(region=region, scope=scope)
    period = period_to_date(today, "month")
    node = region_node(db, region, scope)
    cards = compute_with_comparisons(db, [CATALOGUE[i] for i in HOME_CARDS], flt, period, "month")
    kids = compute(db, [CATALOGUE[i] for i in HOME_TABLE], flt, period, by_child=True)
    table = (kids.pivot_table(index=["region_code", "region_name"], columns="indicator_id", values="value",
                              aggfunc="first", sort=False)
             .reindex(columns=list(HOME_TABLE)).fillna(0).astype("int64").reset_index()
             .rename(columns={"region_code": "child_code", "region_name": "child_name"}))
    daily = registration_flow(db, Filter(region=region, scope=scope,
                                         start=today - dt.timedelta(days=89), end=today))
    return {"node": node, "cards": cards.set_index("indicator_id"), "table": table, "daily": daily,
            "period": period}


__all__ = ["home_data", "HOME_CARDS", "HOME_TABLE"]
