"""The measures the indicator catalogue (:mod:`indicators.catalogue`) is built from:
bound SQL conditions and counting expressions over each measure source.

SQL conditions (bound placeholders only):
- ALIVE: registered on or before the period end and not cancelled/revoked by then;
- CLOSED / CREATED: a task closed / pushed within the period (the ``tasks`` table: current
  state), up to ``%(until)s`` — the period's last moment, or its time of day when a
  comparison period is cut to match a period ending now;
- task_asof: every task's state at the end of the period end (its last task event
  on or before then, ``queries.tasks.TASK_ASOF``); OPEN = not closed then; the
  deadline is the one in force then. Warning buckets (``supervision.rules``)
  compare that deadline with bounds computed from the working-day calendar;
- task_events: the transitions dated within the period (``from_status`` is the
  stage a transition ends, ``stage_due`` its deadline, ``stage_wd`` its working days;
  a push, ``from_status = 'none'``, keeps its record's own time in ``source_time``);
- ingest_quality: the ingestion batches whose current state is ``loaded`` and that
  were received within the period, one row per batch (``queries.quality.INGEST_QUALITY``;
  docs/quality.md). A batch counts for the regions its sending unit's region scope lies
  in; a batch sent without a scope counts for the jurisdiction root (JINJIAN_ROOT_REGION).
- random_items: every firm a 双随机 plan drew, as the records stood at the end of the period
  (the newest row entered by then, ``queries.random_checks.ITEMS_ASOF``; docs/double_random.md):
  DONE = a result entered by then; overdue = no result by then and the plan's end date before
  the period end;
- inspection_firms: every firm inspected on site (a department's inspection record or a
  双随机 result) within the 365 days up to the period end, one row per firm
  (``queries.discipline.FIRM_FLAGS``): ``depts_window`` = departments that inspected it
  within ``%(window)s`` days (JINJIAN_INSPECT_WINDOW_DAYS), ``times_year`` = inspections of the
  year; 频繁 = more than ``%(max_year)s`` (JINJIAN_INSPECT_MAX_PER_YEAR);
- joint_cases / joint_actions: 联合惩戒 cases and their departments' actions at their newest
  version (``queries.joint``; docs/joint.md), as of the period end: a case in force was opened
  by then and not repaired by then; an action is due by then when its deadline is, reported
  back when its feedback is dated by then, on time when dated by its deadline.
"""
from __future__ import annotations

from indicators.model import Measure

ALIVE = ("reg_date <= %(end)s AND (status = 'active' OR "
         "ifNull(status_date, toDate('2100-01-01')) > %(end)s)")
CLOSED = ("ifNull(toDate(closed_at), toDate('1970-01-02')) >= %(start)s AND "
          "ifNull(toDate(closed_at), toDate('2100-01-01')) <= %(end)s AND "
          "ifNull(closed_at, toDateTime('2100-01-01 00:00:00')) <= toDateTime(%(until)s)")
CREATED = ("toDate(created_at) >= %(start)s AND toDate(created_at) <= %(end)s AND "
           "created_at <= toDateTime(%(until)s)")
SECONDARY = "industry IN ('B', 'C', 'D', 'E')"
TERTIARY = "industry NOT IN ('A', 'B', 'C', 'D', 'E')"


def ent(cond: str = "1") -> Measure:
    """Entities alive at the period end that meet ``cond`` (list flags and credit
    grades are the entity's latest state)."""
    return Measure("entities", f"countIf({ALIVE} AND {cond})")


def ev(event_type: str, cond: str = "1") -> Measure:
    """Events of ``event_type`` dated within the period that meet ``cond``."""
    return Measure("events", f"countIf(event_type = '{event_type}' AND {cond})")


def task(cond: str) -> Measure:
    """Rows of the current-state ``tasks`` table that meet ``cond``."""
    return Measure("tasks", f"countIf({cond})")


def asof(cond: str = "1") -> Measure:
    """Tasks open at the period end (state as of then) that meet ``cond``."""
    return Measure("task_asof", f"countIf(status != 'closed' AND {cond})")


def step(cond: str) -> Measure:
    """Task transitions dated within the period that meet ``cond``."""
    return Measure("task_events", f"countIf({cond})")


def risk(cond: str = "1") -> Measure:
    """Entities alive at the period end, scored (``queries.risk_score.ENTITY_RISK``), that meet ``cond``."""
    return Measure("entity_risk", f"countIf({cond})")


#: A push (the first event of a task) whose source record's own time is recorded, and its
#: lag in seconds behind that time; ``%(push_limit)s`` = JINJIAN_TASK_PUSH_MINUTES × 60.
PUSHED = "from_status = 'none' AND toUnixTimestamp(source_time) > 0"
PUSH_LAG = "(toInt64(toUnixTimestamp(event_time)) - toInt64(toUnixTimestamp(source_time)))"
PUSH_LATE = f"{PUSHED} AND {PUSH_LAG} > %(push_limit)s"

OPEN = asof()
OVERDUE = asof("due_date < %(end)s")
ON_TIME_STEP = "event_date <= stage_due"


WORKERS = Measure("grid_workers", "count()")
RECORDS_IN = Measure("ingest_quality", "sum(records_in)")
STOCK = ent()


#: 双随机 (rows as they stood at the period end): every drawn firm, the inspected, the overdue.
R_DRAWN = "1"
R_DONE = "result != 'pending'"
R_OVERDUE = "result = 'pending' AND due_date < %(end)s"


def rnd(cond: str) -> Measure:
    """Firms drawn by 双随机 plans that meet ``cond`` (R_DRAWN, R_DONE, R_OVERDUE …)."""
    return Measure("random_items", f"countIf({cond})")


#: 无事不扰 (supervision.discipline): alive, class A, on no list, no penalty, complaint or failed
#: inspection within ``%(spare)s`` days up to the period end.
SPARED = ("credit_grade = 'A' AND abnormal = 0 AND dishonest = 0 AND credit_code NOT IN ("
          "SELECT credit_code FROM events WHERE (event_type IN ('penalty', 'complaint') OR "
          "(event_type = 'inspection' AND result = 'fail')) AND event_date > toDate(%(end)s) - %(spare)s "
          "AND event_date <= toDate(%(end)s))")


def firms(cond: str = "1") -> Measure:
    """Firms inspected within the year up to the period end that meet ``cond``."""
    return Measure("inspection_firms", f"countIf({cond})")


#: 联合惩戒 as of the period end (epoch 0 = not closed / not reported; actions as their newest row
#: entered by then stood, ``queries.joint.ACTIONS_ASOF``).
J_OPEN = ("toDate(opened_at) <= %(end)s AND NOT (toUnixTimestamp(closed_at) > 0 AND toDate(closed_at) <= %(end)s)")
J_DUE = "due_date <= %(end)s"
J_DONE = "toUnixTimestamp(done_at) > 0"


def joint(source: str, cond: str) -> Measure:
    """联合惩戒 cases or actions that meet ``cond``."""
    return Measure(source, f"countIf({cond})")  # type: ignore[arg-type]
