"""An independent oracle for every indicator: plain pandas over the demo frames.

Each entry of :data:`ORACLES` recomputes one indicator of
``indicators/catalogue.py`` from its written definition (``definition_en`` and
the catalogue docstring), without looking at or importing its SQL, so the SQL
and the oracle can only agree by both being right. Signature::

    oracle(data: DemoData, region: str, start: date, end: date) -> float

``region`` is a code prefix of the rows' 15-digit ``grid_code`` ('' = the whole
country); ``start``/``end`` are inclusive dates. The result is the indicator's
value, already multiplied by its scale; ratios are NaN when the denominator is 0.

Conditions (catalogue docstring):

- ALIVE at ``end``: ``reg_date <= end`` and (``status == 'active'`` or
  ``status_date > end``); list flags and credit grades are the latest state;
- OPEN at ``end``: created on or before ``end`` (date of ``created_at``) and not
  closed by then (``closed_at`` missing or its date after ``end``);
- CLOSED in the period: the date of ``closed_at`` within [start, end];
- CREATED in the period: the date of ``created_at`` within [start, end];
- events count when ``event_date`` is within [start, end].

Adding an indicator to the catalogue without an entry here fails
``tests/test_indicators_oracle.py``.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Callable, Iterable

import pandas as pd

from etl.demo import DemoData
from tests import oracle_risk as R
from tests import oracle_tasks as T

Oracle = Callable[[DemoData, str, dt.date, dt.date], float]

SECONDARY_SECTIONS = ("B", "C", "D", "E")          # mining, manufacturing, utilities, construction
PRIMARY_AND_SECONDARY = ("A", "B", "C", "D", "E")  # tertiary = every other section (F–T)
VERIFICATION_TYPES = ("verify_registration", "verify_change")


# ------------------------------------------------------------------ region views


@dataclass(frozen=True)
class _View:
    """The rows of one region (grid_code prefix), with day-truncated task times."""

    entities: pd.DataFrame
    events: pd.DataFrame
    tasks: pd.DataFrame
    workers: pd.DataFrame


_VIEWS: dict[tuple[int, str], tuple[DemoData, _View]] = {}


def _rows_in(df: pd.DataFrame, region: str) -> pd.DataFrame:
    if not region:
        return df
    return df[df["grid_code"].astype(str).str.startswith(region)]


def _view(data: DemoData, region: str) -> _View:
    """Region-restricted frames, cached per data set and region (the cache keeps
    a reference to ``data`` so its id cannot be reused while cached)."""
    key = (id(data), region)
    hit = _VIEWS.get(key)
    if hit is not None and hit[0] is data:
        return hit[1]
    tasks = _rows_in(data.tasks, region).assign(
        created_day=lambda t: pd.to_datetime(t["created_at"]).dt.normalize(),
        closed_day=lambda t: pd.to_datetime(t["closed_at"]).dt.normalize(),
        due_day=lambda t: pd.to_datetime(t["due_date"]).dt.normalize())
    events = _rows_in(data.events, region).assign(
        day=lambda e: pd.to_datetime(e["event_date"]).dt.normalize())
    entities = _rows_in(data.entities, region).assign(
        reg_day=lambda e: pd.to_datetime(e["reg_date"]).dt.normalize(),
        status_day=lambda e: pd.to_datetime(e["status_date"]).dt.normalize())
    view = _View(entities, events, tasks, _rows_in(data.grid_workers, region))
    _VIEWS[key] = (data, view)
    return view


def _ts(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day)


def _ratio(numerator: float, denominator: float, scale: float = 1.0) -> float:
    if denominator == 0:
        return math.nan
    return numerator / denominator * scale


# ------------------------------------------------------------------ building blocks


def alive(data: DemoData, region: str, end: dt.date) -> pd.DataFrame:
    """Entities registered on or before ``end`` and not cancelled/revoked by then."""
    e = _view(data, region).entities
    t = _ts(end)
    still_there = (e["status"] == "active") | (e["status_day"] > t)  # NaT > t is False
    return e[(e["reg_day"] <= t) & still_there]


def events_in(data: DemoData, region: str, start: dt.date, end: dt.date,
              event_type: str | None = None) -> pd.DataFrame:
    ev = _view(data, region).events
    ev = ev[(ev["day"] >= _ts(start)) & (ev["day"] <= _ts(end))]
    return ev if event_type is None else ev[ev["event_type"] == event_type]


def closed_tasks(data: DemoData, region: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    t = _view(data, region).tasks
    return t[t["closed_day"].notna() & (t["closed_day"] >= _ts(start)) & (t["closed_day"] <= _ts(end))]


def created_tasks(data: DemoData, region: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    t = _view(data, region).tasks
    return t[(t["created_day"] >= _ts(start)) & (t["created_day"] <= _ts(end))]


def workers(data: DemoData, region: str) -> int:
    return len(_view(data, region).workers)


# ------------------------------------------------------------------ the oracles

ORACLES: dict[str, Oracle] = {}


def oracle(indicator_id: str) -> Callable[[Oracle], Oracle]:
    def register(fn: Oracle) -> Oracle:
        if indicator_id in ORACLES:
            raise ValueError(f"duplicate oracle {indicator_id}")
        ORACLES[indicator_id] = fn
        return fn
    return register


def _alive_count(where: Callable[[pd.DataFrame], pd.Series] | None = None) -> Oracle:
    """Alive entities at the period end (optionally those meeting ``where``)."""
    def fn(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
        a = alive(data, region, end)
        return float(len(a) if where is None else int(where(a).sum()))
    return fn


def _alive_share(where: Callable[[pd.DataFrame], pd.Series], scale: float) -> Oracle:
    """Alive entities meeting ``where`` / alive entities, at the period end, × scale."""
    def fn(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
        a = alive(data, region, end)
        return _ratio(int(where(a).sum()), len(a), scale)
    return fn


def _event_count(event_type: str, where: Callable[[pd.DataFrame], pd.Series] | None = None) -> Oracle:
    def fn(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
        ev = events_in(data, region, start, end, event_type)
        return float(len(ev) if where is None else int(where(ev).sum()))
    return fn


# --- registration (主体登记)
ORACLES["entity_stock"] = _alive_count()
ORACLES["enterprise_stock"] = _alive_count(lambda a: a["entity_type"] == "enterprise")
ORACLES["individual_stock"] = _alive_count(lambda a: a["entity_type"] == "individual")
ORACLES["cooperative_stock"] = _alive_count(lambda a: a["entity_type"] == "cooperative")
ORACLES["enterprise_share"] = _alive_share(lambda a: a["entity_type"] == "enterprise", 100.0)
ORACLES["secondary_stock"] = _alive_count(lambda a: a["industry"].isin(SECONDARY_SECTIONS))
ORACLES["tertiary_stock"] = _alive_count(lambda a: ~a["industry"].isin(PRIMARY_AND_SECONDARY))
ORACLES["retail_stock"] = _alive_count(lambda a: a["industry"] == "F")
ORACLES["catering_stock"] = _alive_count(lambda a: a["industry"] == "H")


@oracle("registered_capital")
def _registered_capital(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    a = alive(data, region, end)
    return float(a.loc[a["entity_type"] == "enterprise", "capital"].sum())


ORACLES["new_registrations"] = _event_count("registration")
ORACLES["new_enterprises"] = _event_count("registration", lambda e: e["entity_type"] == "enterprise")
ORACLES["new_individuals"] = _event_count("registration", lambda e: e["entity_type"] == "individual")
ORACLES["cancellations"] = _event_count("cancellation")
ORACLES["revocations"] = _event_count("revocation")


@oracle("net_growth")
def _net_growth(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    count = {k: len(events_in(data, region, start, end, k))
             for k in ("registration", "cancellation", "revocation")}
    return float(count["registration"] - count["cancellation"] - count["revocation"])


@oracle("exit_ratio")
def _exit_ratio(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    exits = (len(events_in(data, region, start, end, "cancellation"))
             + len(events_in(data, region, start, end, "revocation")))
    return _ratio(exits, len(events_in(data, region, start, end, "registration")), 100.0)


ORACLES["changes"] = _event_count("change")
ORACLES["address_changes"] = _event_count("change", lambda e: e["detail"] == "address")

# --- credit (信用监管)
ORACLES["abnormal_listed"] = _alive_count(lambda a: a["abnormal"] == 1)
ORACLES["abnormal_rate"] = _alive_share(lambda a: a["abnormal"] == 1, 100.0)
ORACLES["dishonest_listed"] = _alive_count(lambda a: a["dishonest"] == 1)
ORACLES["dishonest_rate"] = _alive_share(lambda a: a["dishonest"] == 1, 1000.0)
ORACLES["list_entries"] = _event_count("list_entry")
ORACLES["list_exits"] = _event_count("list_exit")
ORACLES["grade_a_share"] = _alive_share(lambda a: a["credit_grade"] == "A", 100.0)
ORACLES["grade_cd_count"] = _alive_count(lambda a: a["credit_grade"].isin(["C", "D"]))
ORACLES["grade_cd_share"] = _alive_share(lambda a: a["credit_grade"].isin(["C", "D"]), 100.0)

# --- complaints (投诉举报)
ORACLES["complaints"] = _event_count("complaint")
ORACLES["food_complaints"] = _event_count("complaint", lambda e: e["detail"] == "食品安全")
ORACLES["price_complaints"] = _event_count("complaint", lambda e: e["detail"] == "价格收费")


@oracle("complaint_rate")
def _complaint_rate(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    return _ratio(len(events_in(data, region, start, end, "complaint")), len(alive(data, region, end)),
                  10000.0)


# --- enforcement (执法办案)
ORACLES["penalties"] = _event_count("penalty")


@oracle("penalty_amount")
def _penalty_amount(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    return float(events_in(data, region, start, end, "penalty")["amount"].sum()) / 10000


ORACLES["unlicensed_penalties"] = _event_count("penalty", lambda e: e["detail"] == "无照经营")
ORACLES["licences"] = _event_count("licence")
ORACLES["food_licences"] = _event_count("licence", lambda e: e["detail"] == "食品经营许可")

# --- inspection and sampling (抽查检验)
ORACLES["inspections"] = _event_count("inspection")


@oracle("inspection_fail_rate")
def _inspection_fail_rate(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    ins = events_in(data, region, start, end, "inspection")
    return _ratio(int((ins["result"] == "fail").sum()), len(ins), 100.0)


ORACLES["samplings"] = _event_count("sampling")


@oracle("sampling_pass_rate")
def _sampling_pass_rate(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    s = events_in(data, region, start, end, "sampling")
    return _ratio(int((s["result"] == "pass").sum()), len(s), 100.0)


@oracle("failed_batches")
def _failed_batches(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    s = events_in(data, region, start, end, "sampling")
    return float(s.loc[s["result"] == "fail", "batch_no"].nunique())


# --- supervision tasks (监管任务)
@oracle("tasks_created")
def _tasks_created(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    return float(len(created_tasks(data, region, start, end)))


@oracle("tasks_open")
def _tasks_open(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    return float(len(T.open_at(data, region, end)))


@oracle("tasks_overdue")
def _tasks_overdue(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    return float(T.buckets_at(data, region, end).str.startswith("overdue").sum())


def _bucket_count(bucket: str) -> Oracle:
    def fn(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
        return float((T.buckets_at(data, region, end) == bucket).sum())
    return fn


for _b in ("due_soon", "overdue_mild", "overdue_moderate", "overdue_severe"):
    ORACLES["tasks_due_soon" if _b == "due_soon" else _b] = _bucket_count(_b)


@oracle("overdue_rate")
def _overdue_rate(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    b = T.buckets_at(data, region, end)
    return _ratio(int(b.str.startswith("overdue").sum()), len(b), 100.0)


def _step_share(where: Callable[[pd.DataFrame], pd.Series]) -> Oracle:
    """Transitions in the period meeting ``where``: share (%) ending their stage by its deadline."""
    def fn(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
        s = T.steps_in(data, region, start, end)
        s = s[where(s)]
        return _ratio(int(T.on_time(s).sum()), len(s), 100.0)
    return fn


ORACLES["step_ontime_rate"] = _step_share(lambda s: ~s["from_status"].isin(["none", "pending"]))
ORACLES["inspection_ontime_rate"] = _step_share(lambda s: s["from_status"] == "inspecting")
ORACLES["clue_feedback_rate"] = _step_share(
    lambda s: (s["task_type"] == "clue") & (s["from_status"] == "transferred"))
ORACLES["disclosure_ontime_rate"] = _step_share(
    lambda s: (s["task_type"] == "disclosure") & (s["status"] == "closed"))


@oracle("inspection_days")
def _inspection_days(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    s = T.steps_in(data, region, start, end)
    s = s[s["from_status"] == "inspecting"]
    # Working days of the stage, recounted from the dispatch event before it.
    te = data.task_events
    dispatch = te[te["status"] == "inspecting"].set_index("task_id")["event_date"]
    days = [T.working_days_after(pd.Timestamp(dispatch[t]).date(), pd.Timestamp(d).date())
            for t, d in zip(s["task_id"], s["event_date"])]
    return _ratio(float(sum(days)), len(days))


@oracle("recheck_pass_rate")
def _recheck_pass_rate(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    s = T.steps_in(data, region, start, end)
    s = s[s["from_status"] == "notice"]
    return _ratio(int((s["status"] == "closed").sum()), len(s), 100.0)


def _pushes(data: DemoData, region: str, start: dt.date, end: dt.date) -> pd.Series:
    """Lag in seconds of each push in the period whose source record time is known."""
    s = T.steps_in(data, region, start, end)
    s = s[(s["from_status"] == "none") & (pd.to_datetime(s["source_time"]) > pd.Timestamp(0))]
    return (pd.to_datetime(s["event_time"]) - pd.to_datetime(s["source_time"])).dt.total_seconds()


PUSH_LIMIT_S = 60 * 60  # JINJIAN_TASK_PUSH_MINUTES default


@oracle("push_ontime_rate")
def _push_ontime_rate(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    lag = _pushes(data, region, start, end)
    return _ratio(int((lag <= PUSH_LIMIT_S).sum()), len(lag), 100.0)


@oracle("push_late")
def _push_late(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    return float((_pushes(data, region, start, end) > PUSH_LIMIT_S).sum())


@oracle("push_late_hours")
def _push_late_hours(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    lag = _pushes(data, region, start, end)
    late = lag[lag > PUSH_LIMIT_S]
    return _ratio(float(late.sum()) / 3600.0, len(late))


@oracle("tasks_transferred")
def _tasks_transferred(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    s = T.steps_in(data, region, start, end)
    return float((s["status"] == "transferred").sum())


@oracle("tasks_closed")
def _tasks_closed(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    return float(len(closed_tasks(data, region, start, end)))


@oracle("ontime_rate")
def _ontime_rate(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    ontime, closed = T.closed_on_time(data, region, start, end)
    return _ratio(ontime, closed, 100.0)


@oracle("problem_rate")
def _problem_rate(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    c = created_tasks(data, region, start, end)
    verifications = c[c["task_type"].isin(VERIFICATION_TYPES)]
    return _ratio(int((verifications["problem_found"] == 1).sum()), len(verifications), 100.0)


# --- risk (风险预警): tests/oracle_risk.py
def _risk(fn: Callable[[pd.DataFrame], float]) -> Oracle:
    def oracle_fn(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
        return fn(R.scores(data, region, end))
    return oracle_fn


ORACLES["risk_red"] = _risk(lambda s: float((s["grade"] == "red").sum()))
ORACLES["risk_orange"] = _risk(lambda s: float((s["grade"] == "orange").sum()))
ORACLES["risk_yellow"] = _risk(lambda s: float((s["grade"] == "yellow").sum()))
ORACLES["high_risk_share"] = _risk(lambda s: _ratio(int(s["grade"].isin(["red", "orange"]).sum()), len(s), 100.0))
ORACLES["avg_risk_score"] = _risk(lambda s: _ratio(float(s["score"].sum()), len(s)))
ORACLES["batch_linked_entities"] = _risk(lambda s: float((s["failed_batches"] > 0).sum()))


@oracle("warning_events")
def _warning_events(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    ev = events_in(data, region, start, end)
    warn = ev["event_type"].isin(["complaint", "penalty", "list_entry"]) | (
        ev["event_type"].isin(["inspection", "sampling"]) & (ev["result"] == "fail"))
    return float(warn.sum())


# --- efficiency (效能监察)
@oracle("grid_workers")
def _grid_workers(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    return float(workers(data, region))


@oracle("load_per_worker")
def _load_per_worker(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    return _ratio(len(alive(data, region, end)), workers(data, region))


@oracle("open_tasks_per_worker")
def _open_tasks_per_worker(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    return _ratio(len(T.open_at(data, region, end)), workers(data, region))


@oracle("avg_days_to_close")
def _avg_days_to_close(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:
    c = closed_tasks(data, region, start, end)
    days = (c["closed_day"] - c["created_day"]).dt.days
    return _ratio(float(days.sum()), len(c))


# --- data quality (数据质量)
ORACLES["missing_coordinates"] = _alive_count(lambda a: (a["lon"] == 0) & (a["lat"] == 0))


@oracle("missing_owner_id_rate")
def _missing_owner_id_rate(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    ind = alive(data, region, end)
    ind = ind[ind["entity_type"] == "individual"]
    return _ratio(int((ind["owner_id"].fillna("") == "").sum()), len(ind), 100.0)


# ------------------------------------------------------------------ helpers for tests


def oracle_value(data: DemoData, indicator_id: str, region: str, start: dt.date, end: dt.date) -> float:
    return float(ORACLES[indicator_id](data, region, start, end))


def oracle_by_child(data: DemoData, indicator_id: str, children: Iterable[str], start: dt.date,
                    end: dt.date) -> dict[str, float]:
    """The oracle for each child region (a child code is a prefix of its rows' grid_code)."""
    return {code: oracle_value(data, indicator_id, code, start, end) for code in children}


from tests import oracle_quality  # noqa: E402,F401  (registers the 数据质量 oracles)
from tests import oracle_random  # noqa: E402,F401  (registers the 双随机 oracles)
from tests import oracle_joint  # noqa: E402,F401  (registers the 联合惩戒 oracles)
