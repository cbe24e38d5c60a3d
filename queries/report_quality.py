"""六、数据质量说明 of a periodic report: is any data the report counts missing?

One row per data source, named as departments know it (the Chinese names of the
ingestion source registry, :data:`domain.sources.SOURCES`): 设立登记, 变更登记, 注销吊销,
行政许可, 行政处罚, 投诉举报, 监督检查, 抽样检验, 任务反馈, and 名录列入与移出 (经营异常名录, 严重违法失信名单) when the
region has such records. A source is judged by the **records the report counts** — events
by their type, task feedback by its stage changes — whichever way they came in (a file, the
API, the inbox, the simulator or a direct load such as the demo data), never by the
ingestion batch log: a report cannot say a source sent nothing while it counts its rows.
Batches, their arrival times and rejected records are the /quality page's business.

Statuses (only the first three are data-quality warnings, each with a note):

- 迟报: the source's newest record in its delivering area (the region's city for a town,
  village or grid; the region itself otherwise) is older than the period end, and at
  that area's usual daily volume (the 28 days before the period) at least
  :data:`MIN_EXPECTED` records were due in the days since;
- 本期无数据: no record in the period where at least :data:`MIN_EXPECTED` were usual;
- 不完整: fewer than half the usual records, where at least 2 × :data:`MIN_EXPECTED` were usual;
- 正常; 本期无记录 (none in the period, and few are usual: a quiet town, a rare kind);
  尚无记录 (the region has never had one).

A period that ends today is judged until yesterday: today's records are still coming in.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from domain.sources import SOURCES
from queries.report_periods import ReportPeriod
from store.engine import Engine
from store.executor import run
from store.filters import Filter

BASELINE_DAYS = 28     # a source's usual volume: its records in the 4 weeks before the period
LOW_VOLUME = 0.5       # fewer than half the usual records: incomplete
MIN_EXPECTED = 3       # records that must have been due before a shortfall is a warning (Poisson P(0) ≈ 5%)
LISTS = "credit_list"  # list entries and exits (名录列入与移出): no row in a report while none exist
#: The source of each event type (the ingestion registry's ids).
EVENT_SOURCE = {"registration": "registration", "change": "change", "cancellation": "cancellation",
                "revocation": "cancellation", "licence": "licence", "penalty": "penalty", "complaint": "complaint",
                "inspection": "inspection", "sampling": "sampling", "list_entry": LISTS, "list_exit": LISTS}
FEEDBACK = "task_feedback"
#: Display order and Chinese names of the feeds a report judges (a source sent when something
#: is found, 巡查线索, is no feed: it has no usual volume and is never late).
SOURCE_NAMES: dict[str, str] = {**{sid: s.zh for sid, s in SOURCES.items() if sid != FEEDBACK and s.scheduled},
                                FEEDBACK: SOURCES[FEEDBACK].zh}
COLUMNS = ["数据源", "本期记录数", "有数据天数", "最新数据日期", "状态"]
WARNINGS = ("迟报", "本期无数据", "不完整")

_SOURCE_SQL = ("if(event_type = 'revocation', 'cancellation', if(event_type IN ('list_entry', 'list_exit'), "
               f"'{LISTS}', toString(event_type)))")
_AGGREGATES = """
    countIf(event_date >= %(start)s AND event_date <= %(end)s AND grid_code LIKE %(like)s) AS n,
    countIf(event_date >= %(start)s AND event_date <= %(judged)s AND grid_code LIKE %(like)s) AS n_judged,
    uniqExactIf(event_date, event_date >= %(start)s AND event_date <= %(end)s AND grid_code LIKE %(like)s) AS days,
    countIf(event_date >= %(base)s AND event_date < %(start)s AND grid_code LIKE %(like)s) AS base_n,
    countIf(event_date >= %(base)s AND event_date < %(start)s) AS area_base_n,
    maxIf(event_date, event_date <= %(end)s AND grid_code LIKE %(like)s) AS latest,
    countIf(grid_code LIKE %(like)s) AS ever,
    max(event_date) AS area_newest"""


def feed_area(region: str) -> str:
    """The region whose deliveries a source's lateness is judged on: a town's, village's or
    grid's city (registrations, penalties … are sent city by city), else the region itself."""
    return region[:4] if len(region) > 4 else region


def _date(value: Any) -> dt.date | None:
    """A date aggregate (None for none: the engines give the epoch for an empty maxIf)."""
    if value is None or pd.isna(value):
        return None
    day = pd.Timestamp(value).date()
    return None if day.year <= 1970 else day


def _counts(db: Engine, flt: Filter, period: ReportPeriod, judged: dt.date) -> pd.DataFrame:
    """Per source: records and days with data in the period (and until ``judged``), usual
    volume (region and delivering area), newest record by the period end (region) and at all (area)."""
    params = {"like": flt.like, "area": feed_area(flt.region) + "%", "start": period.start, "end": period.end,
              "judged": judged, "base": period.start - dt.timedelta(days=BASELINE_DAYS)}
    ev = run(db, "report_quality_events", f"""
        SELECT {_SOURCE_SQL} AS src, {_AGGREGATES}
        FROM events WHERE grid_code LIKE %(area)s GROUP BY src""", params)
    fb = run(db, "report_quality_feedback", f"""
        SELECT '{FEEDBACK}' AS src, {_AGGREGATES}
        FROM task_events WHERE grid_code LIKE %(area)s AND from_status != 'none' AND actor_kind != 'system'
        """, params)
    return pd.concat([ev, fb], ignore_index=True).set_index("src")


def source_quality(db: Engine, flt: Filter, period: ReportPeriod,
                   today: dt.date | None = None) -> tuple[pd.DataFrame, list[str], int]:
    """The data-quality table (Chinese columns), its notes, and the records in the period."""
    today = today or dt.date.today()
    end = min(period.end, today - dt.timedelta(days=1))  # the last whole day judged
    counts = _counts(db, flt, period, end)
    days, judged = (period.end - period.start).days + 1, (end - period.start).days + 1
    rows, notes = [], []
    if counts.empty or int(counts["ever"].sum()) == 0:
        return pd.DataFrame(columns=COLUMNS), ["该区域尚无任何业务数据接入。"], 0
    for sid, name in SOURCE_NAMES.items():
        if sid not in counts.index or not int(counts.loc[sid, "ever"]):
            if sid != LISTS:
                rows.append(dict(zip(COLUMNS, (name, 0, f"0 / {days}", "—", "尚无记录"))))
            continue
        r = counts.loc[sid]
        n, n_judged, latest, newest = int(r["n"]), int(r["n_judged"]), _date(r["latest"]), _date(r["area_newest"])
        daily = int(r["base_n"]) / BASELINE_DAYS
        usual = daily * max(judged, 0)
        due = int(r["area_base_n"]) / BASELINE_DAYS * ((end - newest).days if newest else 0)
        if newest and newest < end and due >= MIN_EXPECTED:
            status = "迟报"
            notes.append(f"{name}：数据截至 {newest.isoformat()}，{(newest + dt.timedelta(days=1)).isoformat()} 至 "
                         f"{end.isoformat()} 的数据尚未报送。")
        elif n == 0 and usual >= MIN_EXPECTED:
            status = "本期无数据"
            notes.append(f"{name}：本期没有记录，而前 {BASELINE_DAYS} 天日均 {daily:.1f} 条，可能缺报。")
        elif usual >= 2 * MIN_EXPECTED and n_judged < LOW_VOLUME * usual:
            status = "不完整"
            notes.append(f"{name}：本期日均 {n_judged / judged:.1f} 条，低于前 {BASELINE_DAYS} 天日均 "
                         f"{daily:.1f} 条的一半，可能缺报。")
        else:
            status = "正常" if n else "本期无记录"
        rows.append(dict(zip(COLUMNS, (name, n, f"{int(r['days'])} / {days}",
                                       latest.isoformat() if latest else "—", status))))
    if not notes:
        notes.append("各数据源本期均按时、完整报送。")
    return pd.DataFrame(rows, columns=COLUMNS), notes, int(counts["n"].sum())


def warned_sources(quality: pd.DataFrame) -> list[str]:
    """The sources with a data-quality warning, by name."""
    if quality.empty:
        return []
    return list(quality.loc[quality["状态"].isin(WARNINGS), "数据源"])
