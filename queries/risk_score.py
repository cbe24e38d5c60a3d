"""The live risk score as SQL (风险评分).

``ENTITY_RISK`` is a FROM item: one row per entity alive at the end of ``%(end)s``
inside ``%(like)s`` with its factor counts, points, score and grade (the formula of
``supervision.risk``; weights and thresholds are bound parameters, :func:`risk_params`).
It is built with ``UNION ALL`` + ``GROUP BY`` rather than joins so that it runs
unchanged on ClickHouse 18.16 (one JOIN per SELECT) and on chDB. Risk snapshots
(``queries.risk_snapshots``) store its rows computed ahead; ``queries.risk`` reads either.
"""
from __future__ import annotations

import datetime as dt

from indicators.measures import ALIVE
from queries.tasks import TASK_ASOF
from store.filters import Filter
from supervision.risk import FACTORS, HIGH_RISK_INDUSTRIES, MEDIUM_RISK_INDUSTRIES, RiskRules

_COUNTS = ("complaints", "penalties", "failed_inspections", "failed_batches", "overdue_verifications")
_ZEROS = ", ".join(f"toUInt32(0) AS {c}" for c in _COUNTS)


def _zeros_except(col: str, expr: str) -> str:
    return ", ".join(f"toUInt32({expr}) AS {c}" if c == col else f"toUInt32(0) AS {c}" for c in _COUNTS)


_FAILED_BATCHES = """SELECT batch_no FROM sampling_failures WHERE event_date > %(d365)s AND event_date <= %(end)s"""

_POINTS = {f.id: f"%(w_{f.id})s * least({f.id if f.id not in ('credit', 'industry') else f.id + '_class'}, "
                 f"{f.cap}) / {f.cap}" for f in FACTORS}

#: One row per entity alive at the end of %(end)s in %(like)s, scored.
ENTITY_RISK = f"""(
    SELECT *, {' + '.join(f'p_{f.id}' for f in FACTORS)} AS raw_score, round(raw_score, 2) AS score,
           multiIf(score >= %(g_red)s, 'red', score >= %(g_orange)s, 'orange',
                   score >= %(g_yellow)s, 'yellow', 'blue') AS grade
    FROM (
        SELECT *, {', '.join(f'{expr} AS p_{fid}' for fid, expr in _POINTS.items())}
        FROM (
            SELECT credit_code, anyIf(grid_code, alive = 1) AS grid_code, anyIf(name, alive = 1) AS name,
                   anyIf(industry, alive = 1) AS industry, anyIf(credit_grade, alive = 1) AS credit_grade,
                   max(abnormal) AS abnormal, max(dishonest) AS dishonest,
                   anyIf(lon, alive = 1) AS lon, anyIf(lat, alive = 1) AS lat,
                   {', '.join(f'sum({c}) AS {c}' for c in _COUNTS)},
                   multiIf(credit_grade = 'D', 3, credit_grade = 'C', 2, credit_grade = 'B', 1, 0) AS credit_class,
                   multiIf(industry IN {HIGH_RISK_INDUSTRIES}, 2, industry IN {MEDIUM_RISK_INDUSTRIES}, 1, 0)
                       AS industry_class
            FROM (
                SELECT credit_code, grid_code, name, industry, toString(credit_grade) AS credit_grade,
                       toUInt8(abnormal) AS abnormal, toUInt8(dishonest) AS dishonest, lon, lat,
                       toUInt8(1) AS alive, {_ZEROS}
                FROM entities WHERE grid_code LIKE %(like)s AND {ALIVE}
                UNION ALL
                SELECT credit_code, '', '', '', '', toUInt8(0), toUInt8(0), 0., 0., toUInt8(0),
                       toUInt32(countIf(event_type = 'complaint' AND event_date > %(d365)s)) AS complaints,
                       toUInt32(countIf(event_type = 'penalty')) AS penalties,
                       toUInt32(countIf(event_type = 'inspection' AND result = 'fail'
                                        AND event_date > %(d365)s)) AS failed_inspections,
                       toUInt32(0) AS failed_batches, toUInt32(0) AS overdue_verifications
                FROM events WHERE grid_code LIKE %(like)s AND event_date > %(d730)s AND event_date <= %(end)s
                  AND event_type IN ('complaint', 'penalty', 'inspection')
                GROUP BY credit_code
                UNION ALL
                SELECT credit_code, '', '', '', '', toUInt8(0), toUInt8(0), 0., 0., toUInt8(0),
                       {_zeros_except('failed_batches', 'uniqExact(batch_no)')}
                FROM sampling_regions WHERE grid_code LIKE %(like)s AND event_date <= %(end)s
                  AND batch_no GLOBAL IN ({_FAILED_BATCHES})
                GROUP BY credit_code
                UNION ALL
                SELECT credit_code, '', '', '', '', toUInt8(0), toUInt8(0), 0., 0., toUInt8(0),
                       {_zeros_except('overdue_verifications', 'count()')}
                FROM {TASK_ASOF}
                WHERE status != 'closed' AND due_date < %(end)s
                  AND task_type IN ('verify_registration', 'verify_change')
                GROUP BY credit_code
            ) GROUP BY credit_code HAVING max(alive) = 1
        )
    )
)"""

#: Columns of a scored entity shown to users (breakdown: p_<factor>).
ENTITY_COLUMNS = ("credit_code", "name", "grid_code", "industry", "credit_grade", "abnormal", "dishonest",
                  *_COUNTS, "credit_class", "industry_class", *(f"p_{f.id}" for f in FACTORS), "score", "grade")


def risk_params(flt: Filter, asof: dt.date, rules: RiskRules) -> dict[str, object]:
    return {"like": flt.like, "end": asof, "d365": asof - dt.timedelta(days=365),
            "d730": asof - dt.timedelta(days=730), **rules.params()}
