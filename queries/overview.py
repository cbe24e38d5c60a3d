"""Compositions of indicators and queries that a screen shows together (no Dash)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from indicators.catalogue import CATALOGUE
from queries.indicator_values import compute, compute_periods, tolerant, with_comparisons
from indicators.periods import period_to_date, previous_period, year_ago
from domain.errors import ConfigurationProblem
from store.engine import Engine
from queries.entities import registration_flows
from queries.events import recent_events
from store.filters import Filter, RegionScope, default_scope
from store.parallel import run_all
from queries.regions import RegionNode, region_node
from queries.risk import newest_batch_alerts

#: (indicator id, grain) pairs the wall's headline tiles show.
WALL_HEADLINES: tuple[tuple[str, str], ...] = (
    ("entity_stock", "day"), ("enterprise_stock", "day"), ("individual_stock", "day"),
    ("new_registrations", "day"), ("new_registrations", "week"), ("new_registrations", "month"),
    ("cancellations", "month"), ("tasks_open", "day"), ("tasks_overdue", "day"),
    ("overdue_mild", "day"), ("overdue_moderate", "day"), ("overdue_severe", "day"),
    ("risk_red", "day"), ("risk_orange", "day"), ("push_ontime_rate", "month"), ("push_late", "month"),
    ("random_completion", "day"), ("random_overdue", "day"), ("joint_cases_open", "day"),
    ("joint_feedback_overdue", "day"),
)
#: Days of failed-batch alerts (traceability linkage) the wall shows.
ALERT_DAYS = 7
#: The ticker and the freshness stamp look at today's events first (then a day, a month more,
#: then the whole log if there are too few).
RECENT_DAYS = 0


@dataclass
class WallData:
    node: RegionNode
    headlines: dict[tuple[str, str], tuple[float, float]]  # (indicator, grain) → (value, 环比)
    alerts: pd.DataFrame      # the newest batch failed in the last ALERT_DAYS days handled in the region
    alert_total: int          # how many such batches there are
    children: pd.DataFrame    # compute(...) by child for the ranking / map indicator
    overdue: pd.DataFrame     # compute(tasks_overdue) by child today: the regions with most overdue tasks
    daily: pd.DataFrame
    monthly: pd.DataFrame
    ticker: pd.DataFrame
    latest: dt.datetime | None
    #: What an operator's broken setting keeps from the wall ("…请联系系统管理员"); the tiles it
    #: concerns are empty (NaN), everything else is drawn.
    problem: str | None = None


def wall_data(db: Engine, region: str, today: dt.date, ranking_indicator: str = "entity_stock",
              scope: RegionScope | None = None) -> WallData:
    """Everything the command wall shows for ``region`` on ``today``."""
    scope = scope or default_scope()
    flt = Filter(region=region, scope=scope)
    node = region_node(db, region, scope)
    month = period_to_date(today, "month")
    first_month = (pd.Timestamp(today).to_period("M") - 12).start_time.date()
    recent = today - dt.timedelta(days=RECENT_DAYS)
    problems: list[ConfigurationProblem] = []

    def by_child(ind_id: str, period) -> pd.DataFrame:
        return tolerant(lambda inds: [compute(db, inds, flt, period, by_child=True)], [CATALOGUE[ind_id]],
                         problems)[0]

    out = run_all({
        "headline_flows": lambda: _flow_headlines(db, flt, today, problems),
        "stocks": lambda: _stock_headlines(db, flt, today, problems),
        "alerts": lambda: newest_batch_alerts(db, flt, today - dt.timedelta(days=ALERT_DAYS - 1), today, limit=1),
        "children": lambda: by_child(ranking_indicator, month),
        "overdue": lambda: by_child("tasks_overdue", period_to_date(today, "day")),
        "flows": lambda: registration_flows(db, Filter(region=region, scope=scope), {
            "daily": ("day", today - dt.timedelta(days=29), today), "monthly": ("month", first_month, today)}),
        "ticker": lambda: recent_events(db, flt, limit=15, since=recent),
    })
    headlines = {**out["headline_flows"], **out["stocks"]}
    flows = out["flows"]
    # The ticker holds the region's newest events (its search widens until it has them):
    # its first is the data's freshness, no query of its own needed.
    ticker = out["ticker"]
    latest = pd.Timestamp(ticker["event_time"].max()).to_pydatetime() if len(ticker) else None
    return WallData(node, headlines, *out["alerts"], out["children"], out["overdue"], flows["daily"], flows["monthly"],
                    ticker, latest, problems[0].user_message if problems else None)


def _flow_headlines(db: Engine, flt: Filter, today: dt.date,
                    problems: list[ConfigurationProblem]) -> dict[tuple[str, str], tuple[float, float]]:
    """The flow tiles, (indicator, grain) → (value, 环比): every grain's period, the one
    before and a year ago, in one query per source (NaN where a setting is broken)."""
    grains = list(dict.fromkeys(g for i, g in WALL_HEADLINES if CATALOGUE[i].kind == "flow"))
    inds = [CATALOGUE[i] for i in dict.fromkeys(i for i, g in WALL_HEADLINES if CATALOGUE[i].kind == "flow")]
    periods = []
    for grain in grains:
        cur = period_to_date(today, grain)
        periods += [cur, previous_period(cur, grain), year_ago(cur)]
    frames = tolerant(lambda some: compute_periods(db, some, flt, periods), inds, problems, len(periods))
    out = {(i, g): (float("nan"), float("nan")) for i, g in WALL_HEADLINES if CATALOGUE[i].kind == "flow"}
    for k, grain in enumerate(grains):
        both = with_comparisons(*frames[3 * k:3 * k + 3], {i.id for i in inds if i.comparable})
        wanted = {i for i, g in WALL_HEADLINES if g == grain}
        out.update({(r.indicator_id, grain): (float(r.value), float(r.mom))
                    for r in both.itertuples(index=False) if r.indicator_id in wanted})
    return out


def _stock_headlines(db: Engine, flt: Filter, today: dt.date,
                     problems: list[ConfigurationProblem]) -> dict[tuple[str, str], tuple[float, float]]:
    """The stock tiles at the end of today (no 环比 for stocks; NaN where a setting is broken)."""
    pairs = [(i, g) for i, g in WALL_HEADLINES if CATALOGUE[i].kind != "flow"]
    day = period_to_date(today, "day")
    frame = tolerant(lambda some: [compute(db, some, flt, day)],
                      [CATALOGUE[i] for i in dict.fromkeys(i for i, _ in pairs)], problems)[0]
    values = frame.set_index("indicator_id")["value"]
    return {(i, g): (float(values[i]) if i in values.index else float("nan"), float("nan")) for i, g in pairs}
