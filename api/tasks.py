"""``GET /api/v1/tasks/efficiency``: efficiency supervision (效能监察) per town or per
department — the same figures as the tables on /tasks (``queries.tasks.efficiency``),
for the period up to ``date`` at ``grain`` and the same stretch of the previous period.
``GET /api/v1/tasks/push``: push timeliness (推送时效, ``queries.push``), the same figures
as /tasks and /quality.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd
from flask import Response

from api.scope import request_scope
from api.v1 import DEFAULT_GRAIN, _bad, _date_arg, _enum_arg, _json, _records, _region_arg, bp
from indicators.periods import period_to_date, previous_period
from indicators.model import ALL_GRAINS
from queries.push import COLUMNS as PUSH_ALL, push_timeliness, unit_names
from queries.regions import region_names, region_node
from queries.tasks import departments_in, efficiency
from store.db import get_db
from store.filters import Filter, Grain
from supervision.rules import TaskRules

logger = logging.getLogger(__name__)

#: ``by`` → the unit ``queries.tasks.efficiency`` groups by.
BY = {"town": "town", "department": "dept"}
#: The periods the tables compare over (a day or a week would leave most units empty).
EFFICIENCY_GRAINS = ("month", "quarter", "year")
COLUMNS = ("unit", "name", "closed", "ontime", "ontime_rate", "avg_workdays", "overdue", "open",
           "prev_closed", "prev_ontime_rate")


@dataclass(frozen=True)
class _Query:
    """The parameters both task endpoints share, checked: region (in the caller's scope),
    ``date``, ``by``, ``grain`` and the period up to the date."""

    db: Any
    node: Any
    by: str
    grain: Grain
    day: Any
    period: Any
    flt: Filter


def _query(by_choices: tuple[str, ...] | dict[str, str], by_default: str, grains: tuple[str, ...]) -> _Query:
    region_code, day = _region_arg(), _date_arg()
    by = cast(str, _enum_arg("by", by_choices, by_default))
    grain = cast(Grain, _enum_arg("grain", grains, DEFAULT_GRAIN))
    scope, db = request_scope(), get_db()
    node = region_node(db, region_code, scope)
    period = period_to_date(day, grain)
    return _Query(db, node, by, grain, day, period,
                  Filter(region=region_code, scope=scope, start=period.start, end=period.end, grain=grain))


@bp.get("/tasks/efficiency")
def task_efficiency() -> Response:
    q = _query(BY, "town", EFFICIENCY_GRAINS)
    db, node, by, grain, day, period, flt = q.db, q.node, q.by, q.grain, q.day, q.period, q.flt
    region_code = flt.region
    if by == "town" and node.level > 4:
        _bad("by", f"region level {node.level} is below a town", "按镇街统计须选择镇街或以上区划")
    prev = previous_period(period, grain)
    rules = TaskRules.from_env()
    cur, before = efficiency(db, flt, period, BY[by], rules), efficiency(db, flt, prev, BY[by], rules)
    items = _rows(cur, before, _names(db, by, region_code, cur))
    return _json({
        "region": {"code": node.code, "name": node.name, "level": node.level},
        "by": by, "date": day, "grain": grain,
        "period": {"start": period.start, "end": period.end},
        "previous_period": {"start": prev.start, "end": prev.end},
        "items": items,
    })


def _names(db: Any, by: str, region: str, cur: pd.DataFrame) -> dict[str, str]:
    if by == "town":
        return region_names(db, sorted(set(cur["unit"].astype(str))))
    depts = departments_in(db, region)
    return dict(zip(depts["dept_id"], depts["name"]))


def _rows(cur: pd.DataFrame, before: pd.DataFrame, names: dict[str, str]) -> list[dict[str, Any]]:
    """One item per unit with tasks this period, with the previous period's closed and
    on-time rate beside; ordered by on-time rate (highest first), then unit."""
    prev = before.set_index("unit")
    out = cur.assign(
        name=[names.get(str(u), "") for u in cur["unit"]],
        prev_closed=[int(prev.at[u, "closed"]) if u in prev.index else 0 for u in cur["unit"]],
        prev_ontime_rate=[prev.at[u, "ontime_rate"] if u in prev.index else None for u in cur["unit"]])
    out = out.sort_values(["ontime_rate", "unit"], ascending=[False, True], na_position="last")
    return _records(out, COLUMNS)


#: ``GET /api/v1/tasks/push`` groupings.
PUSH_BY = ("region", "source")
PUSH_COLUMNS = ("unit", "name", *PUSH_ALL[1:])


@bp.get("/tasks/push")
def task_push() -> Response:
    """推送时效: the region's pushes in the period up to ``date`` at ``grain`` — in total and
    per child region or per source (``queries.push``)."""
    q = _query(PUSH_BY, "region", ALL_GRAINS)
    db, node, by, grain, day, period, flt = q.db, q.node, q.by, q.grain, q.day, q.period, q.flt
    rules = TaskRules.from_env()
    total = push_timeliness(db, flt, period, "total", rules)
    per = push_timeliness(db, flt, period, by, rules)
    names = unit_names(node, by)
    return _json({
        "region": {"code": node.code, "name": node.name, "level": node.level},
        "by": by, "date": day, "grain": grain, "limit_minutes": rules.push_minutes,
        "period": {"start": period.start, "end": period.end},
        "total": _records(total.assign(name=node.name), PUSH_COLUMNS)[0],
        "items": _records(per.assign(name=[names.get(str(u), str(u)) for u in per["unit"]]), PUSH_COLUMNS),
    })
