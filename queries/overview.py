"""Compositions of indicators and queries that a screen shows together (no Dash)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from indicators.catalogue import CATALOGUE
from indicators.compute import compute, compute_with_comparisons
from indicators.periods import period_to_date
from queries.engine import Engine
from queries.entities import registration_flow
from queries.events import latest_event_time, recent_events
from queries.filters import Filter, RegionScope, default_scope
from queries.parallel import run_all
from queries.regions import RegionNode, region_node
from queries.risk import batch_alerts

#: (indicator id, grain) pairs the wall's headline tiles show.
WALL_HEADLINES: tuple[tuple[str, str], ...] = (
    ("entity_stock", "day"), ("enterprise_stock", "day"), ("individual_stock", "day"),
    ("new_registrations", "day"), ("new_registrations", "week"), ("new_registrations", "month"),
    ("cancellations", "month"), ("tasks_open", "day"), ("tasks_overdue", "day"),
    ("overdue_mild", "day"), ("overdue_moderate", "day"), ("overdue_severe", "day"),
    ("risk_red", "day"), ("risk_orange", "day"),
)
#: Days of failed-batch alerts (traceability linkage) the wall shows.
ALERT_DAYS = 7
#: The ticker and the freshness stamp look at the events of the last day first (then a month more,
#: then the whole log if there are too few).
RECENT_DAYS = 1


@dataclass
class WallData:
    node: RegionNode
    headlines: dict[tuple[str, str], tuple[float, float]]  # (indicator, grain) → (value, 环比)
    alerts: pd.DataFrame      # batches failed in the last ALERT_DAYS days handled in the region
    children: pd.DataFrame    # compute(...) by child for the ranking / map indicator
    overdue: pd.DataFrame     # compute(tasks_overdue) by child today: the regions with most overdue tasks
    daily: pd.DataFrame
    monthly: pd.DataFrame
    ticker: pd.DataFrame
    latest: dt.datetime | None


def wall_data(db: Engine, region: str, today: dt.date, ranking_indicator: str = "entity_stock",
              scope: RegionScope | None = None) -> WallData:
    """Everything the command wall shows for ``region`` on ``today``."""
    scope = scope or default_scope()
    flt = Filter(region=region, scope=scope)
    node = region_node(db, region, scope)
    month = period_to_date(today, "month")
    first_month = (pd.Timestamp(today).to_period("M") - 12).start_time.date()
    recent = today - dt.timedelta(days=RECENT_DAYS)
    out = run_all({
        **{grain: (lambda g=grain: _headlines(db, flt, today, g)) for grain in ("day", "week", "month")},
        "alerts": lambda: batch_alerts(db, flt, today - dt.timedelta(days=ALERT_DAYS - 1), today),
        "children": lambda: compute(db, [CATALOGUE[ranking_indicator]], flt, month, by_child=True),
        "overdue": lambda: compute(db, [CATALOGUE["tasks_overdue"]], flt, period_to_date(today, "day"),
                                   by_child=True),
        "daily": lambda: registration_flow(db, Filter(region=region, scope=scope,
                                                      start=today - dt.timedelta(days=29), end=today, grain="day")),
        "monthly": lambda: registration_flow(db, Filter(region=region, scope=scope, start=first_month, end=today,
                                                        grain="month")),
        "ticker": lambda: recent_events(db, flt, limit=15, since=recent),
        "latest": lambda: latest_event_time(db, flt, since=recent),
    })
    headlines = {**out["day"], **out["week"], **out["month"]}
    return WallData(node, headlines, out["alerts"], out["children"], out["overdue"], out["daily"], out["monthly"],
                    out["ticker"], out["latest"])


def _headlines(db: Engine, flt: Filter, today: dt.date, grain: str) -> dict[tuple[str, str], tuple[float, float]]:
    """The wall's tiles of one grain: (indicator, grain) → (value, 环比)."""
    inds = [CATALOGUE[i] for i in dict.fromkeys(i for i, g in WALL_HEADLINES if g == grain)]
    period = period_to_date(today, grain)
    # Tiles show 环比 for flows only: stocks skip the two comparison periods.
    flows = [i for i in inds if i.kind == "flow"]
    stocks = [i for i in inds if i.kind != "flow"]
    out = pd.concat([compute_with_comparisons(db, flows, flt, period, grain) if flows else None,
                     compute(db, stocks, flt, period).assign(mom=float("nan")) if stocks else None])
    return {(r.indicator_id, grain): (float(r.value), float(r.mom)) for r in out.itertuples(index=False)}
