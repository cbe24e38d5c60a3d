"""``GET /api/v1/random/plans``: 双随机抽查 of a region as on /random — the figures as of the
end of ``date`` (drawn, done, overdue, problems, not found; completion and problem rates),
the problem rate per credit-risk class A–D, and the plans seen in the caller's scope with
their seed and pool fingerprint (``queries.random_checks``). No personal data: firms are
counted, not listed."""
from __future__ import annotations

import logging

from flask import Response

from api.scope import request_scope
from api.v1 import _date_arg, _json, _records, _region_arg, bp
from queries import random_checks as q
from queries.regions import region_node
from store.db import get_db
from store.filters import Filter, RegionScope

logger = logging.getLogger(__name__)

PLAN_COLUMNS = ("plan_id", "name", "dept_id", "dept_name", "region_code", "period_from", "period_to", "seed",
                "fingerprint", "pool", "ratios", "drawn", "done", "problems")


def _rate(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 2) if den else None


@bp.get("/random/plans")
def random_plans() -> Response:
    """双随机抽查: the region's figures on ``date`` and the plans of the caller's scope."""
    flt = Filter(region=_region_arg(), scope=request_scope())
    day = _date_arg()
    db = get_db()
    node = region_node(db, flt.region, flt.scope)
    figs = q.figures(db, flt.region, day)
    rates = q.class_rates(db, flt.region, day)
    plans = q.plans(db, RegionScope(flt.region))  # plans covering or inside the region, firms counted in it
    return _json({
        "region": {"code": node.code, "name": node.name, "level": node.level}, "date": day,
        "figures": {**figs, "completion_rate": _rate(figs["done"], figs["drawn"]),
                    "problem_rate": _rate(figs["problems"], figs["done"])},
        "classes": [{"credit_class": r.credit_class, "checked": int(r.checked), "problems": int(r.problems),
                     "problem_rate": _rate(int(r.problems), int(r.checked))} for r in rates.itertuples(index=False)],
        "plans": _records(plans, PLAN_COLUMNS),
    })
