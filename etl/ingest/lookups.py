"""Checks of valid-looking rows against what is already loaded: duplicates across
batches, unknown or out-of-scope entities and tasks, entity state, task
transitions (:data:`supervision.rules.TRANSITIONS`).

A look-up of up to :data:`CHUNK` keys is one bound ``IN`` list; more keys go into a
key table joined in the engine (:func:`chunked`), one statement per look-up. Look-ups
read copies sorted by their key (``store.batch_index``) where there is one.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
import uuid
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from domain.sources import CREDIT_LISTS_ZH, Source
from etl.ingest.validate import Checked, Problem
from store.engine import Engine
from store.executor import run
from store.sql import execute
from store.versions import reference_version
from etl.ingest.history_tasks import EVENTS_SQL, event_ids, history_task_state
from supervision.rules import STATUS_ZH, TaskRules, allowed_next

logger = logging.getLogger(__name__)

CHUNK = 2000
KEY_TABLE_PREFIX = "lookup_keys_"
#: Reference data (grids, departments) per database, kept while the reference version
#: (:func:`store.versions.reference_version`: the newest loaded grid, boundary, worker or
#: department file) is unchanged, and at most this long.
GRID_CACHE_SECONDS = 300.0
_GRID_CACHE: dict[str, tuple[float, int, frozenset[str]]] = {}
_DEPT_CACHE: dict[str, tuple[float, int, pd.DataFrame]] = {}
_STAFFED_CACHE: dict[str, tuple[float, int, frozenset[str]]] = {}


def chunked(db: Engine, name: str, sql: str, keys: Sequence[str], **params: object) -> pd.DataFrame:
    """Run ``sql`` (with ``IN %(keys)s``) for ``keys``: up to :data:`CHUNK` keys as one
    bound ``IN`` list (a small batch: no extra statement); more as one statement joined
    against a key table (:func:`key_table`), so a file's look-up is one pass over the
    granules its keys touch, sorted by key, however many keys it has."""
    if len(keys) <= CHUNK:
        return run(db, name, sql, {**params, "keys": tuple(keys)}) if len(keys) else pd.DataFrame()
    if sql.count("IN %(keys)s") != 1:
        raise ValueError(f"{name}: a look-up names its keys once, as IN %(keys)s")
    with key_table(db, keys) as table:
        return run(db, name, sql.replace("IN %(keys)s", f"GLOBAL IN (SELECT k FROM {table})"), dict(params))


@contextlib.contextmanager
def key_table(db: Engine, keys: Sequence[str]) -> Iterator[str]:
    """A Memory table ``lookup_keys_<random>`` (column ``k``) holding ``keys``, dropped
    afterwards (and by :func:`drop_key_tables` after a crash). ``GLOBAL IN`` sends it to
    every shard of a cluster."""
    table = f"{KEY_TABLE_PREFIX}{uuid.uuid4().hex[:16]}"
    execute(db, "lookup_keys_create", f"CREATE TABLE {table} (k String) ENGINE = Memory")
    try:
        db.insert(table, pd.DataFrame({"k": pd.Series(sorted(set(map(str, keys))), dtype=object)}))
        yield table
    finally:
        execute(db, "lookup_keys_drop", f"DROP TABLE IF EXISTS {table}")


def drop_key_tables(db: Engine) -> int:
    """Drop key tables an interrupted load left behind (one loader per database)."""
    names = run(db, "lookup_keys_left", "SELECT name FROM system.tables WHERE database = currentDatabase() "
                "AND startsWith(name, %(p)s)", {"p": KEY_TABLE_PREFIX})["name"]
    for name in names:
        execute(db, "lookup_keys_drop", f"DROP TABLE IF EXISTS {name}")
    return len(names)


def _cached(cache: dict, db: Engine, load):  # noqa: ANN001, ANN202 - two caches of different types
    version = reference_version(db)
    hit = cache.get(db.identity)
    if hit and hit[1] == version and time.monotonic() - hit[0] < GRID_CACHE_SECONDS:
        return hit[2]
    value = load()
    cache[db.identity] = (time.monotonic(), version, value)
    return value


def known_grids(db: Engine) -> frozenset[str]:
    """Every grid code (level 6) in the region table."""
    return _cached(_GRID_CACHE, db, lambda: frozenset(
        run(db, "ingest_known_grids", "SELECT code FROM regions WHERE level = 6")["code"]))


def departments(db: Engine) -> pd.DataFrame:
    """The loaded departments (dept_id, region_code, kind, industries): task routing."""
    return _cached(_DEPT_CACHE, db, lambda: run(db, "ingest_departments", """
        SELECT dept_id, region_code, toString(kind) AS kind, industries FROM departments"""))


def staffed_grids(db: Engine) -> frozenset[str]:
    """Grid codes with at least one grid worker."""
    return _cached(_STAFFED_CACHE, db, lambda: frozenset(
        run(db, "ingest_staffed_grids", "SELECT DISTINCT grid_code FROM grid_workers")["grid_code"]))


def clear_grid_cache() -> None:
    for cache in (_GRID_CACHE, _DEPT_CACHE, _STAFFED_CACHE):
        cache.clear()


def entity_rows(db: Engine, codes: Sequence[str]) -> pd.DataFrame:
    """The loaded entity rows of these credit codes (one per code), from the copy sorted by
    credit code (``store.batch_index``): the granules of these codes, whatever the table's size."""
    df = chunked(db, "ingest_entities", """
        SELECT credit_code, any(name) AS name, toString(any(entity_type)) AS entity_type,
               any(industry) AS industry, any(grid_code) AS grid_code, any(reg_date) AS reg_date,
               toString(any(status)) AS status, any(status_date) AS status_date,
               toString(any(credit_grade)) AS credit_grade, any(abnormal) AS abnormal,
               any(dishonest) AS dishonest, any(legal_rep) AS legal_rep, any(owner_id) AS owner_id,
               any(capital) AS capital, any(lon) AS lon, any(lat) AS lat
        FROM entities_by_code WHERE credit_code IN %(keys)s GROUP BY credit_code""", list(codes))
    return df.set_index("credit_code") if not df.empty else pd.DataFrame(columns=["grid_code"]).rename_axis(
        "credit_code")


def task_state(db: Engine, task_ids: Sequence[str]) -> pd.DataFrame:
    """Current state of these tasks, with the time their current stage started and the
    industry of their entity (who licenses the trade receives a case transferred to a
    department, 谁审批、谁监管)."""
    tasks = chunked(db, "ingest_tasks", """
        SELECT task_id, toString(any(task_type)) AS task_type, any(credit_code) AS credit_code,
               any(grid_code) AS grid_code, any(dept_id) AS dept_id, any(created_at) AS created_at,
               any(due_date) AS due_date, toString(any(status)) AS status,
               any(problem_found) AS problem_found, any(source_event_id) AS source_event_id,
               any(detail) AS detail, any(late_stages) AS late_stages
        FROM tasks_by_id WHERE task_id IN %(keys)s GROUP BY task_id""", list(task_ids))
    if tasks.empty:
        return pd.DataFrame(columns=["task_type", "status", "grid_code", "stage_start"]).rename_axis("task_id")
    last = chunked(db, "ingest_task_last_event", """
        SELECT task_id, max(event_time) AS stage_start FROM task_events_by_id
        WHERE task_id IN %(keys)s GROUP BY task_id""", list(tasks["task_id"]))
    trades = chunked(db, "ingest_task_industries", """
        SELECT credit_code, any(industry) AS industry FROM entities_by_code WHERE credit_code IN %(keys)s
        GROUP BY credit_code""", list(tasks["credit_code"].unique()))
    tasks = tasks.merge(trades, on="credit_code", how="left") if not trades.empty else tasks.assign(industry="")
    return tasks.merge(last, on="task_id", how="left").set_index("task_id")


def loaded_keys(db: Engine, source: str, keys: Sequence[str]) -> pd.DataFrame:
    """Keys of ``source`` already loaded: record_id, batch_id, row_no."""
    df = chunked(db, "ingest_loaded_keys", """
        SELECT record_id, any(batch_id) AS batch_id, any(row_no) AS row_no FROM ingest_keys
        WHERE source = %(source)s AND record_id IN %(keys)s GROUP BY record_id""", list(keys), source=source)
    return df


def check_loaded(db: Engine, source: Source, checked: Checked, scope: str,
                 rules: TaskRules | None = None) -> dict[str, pd.DataFrame]:
    """Reject rows that clash with loaded data; return the lookups the transform needs
    (``entities`` by credit code, ``tasks`` by task id — with the tasks of records loaded as
    history built from their records: ``etl.ingest.history_tasks``)."""
    rows = checked.rows
    out: dict[str, pd.DataFrame] = {}
    if rows.empty:
        return out
    label = source.field(source.key).zh
    keys = loaded_keys(db, source.id, rows[source.key].tolist())
    if not keys.empty:
        seen = keys.set_index("record_id")
        checked.reject(Problem(int(r), label, "duplicate", f"已于批次 {seen.at[k, 'batch_id'][:12]} 第 "
                               f"{int(seen.at[k, 'row_no'])} 行导入（{label} {k}）")
                       for r, k in zip(rows["row_no"], rows[source.key]) if k in seen.index)
        rows = checked.rows
    if "credit_code" in rows:
        ents = entity_rows(db, rows["credit_code"].unique().tolist())
        out["entities"] = ents
        checked.reject(_entity_problems(source, rows, ents, scope))
        if source.id == "credit_list":
            out["list_last"] = last = last_list_decisions(db, checked.rows["credit_code"].unique().tolist())
            checked.reject(_list_problems(checked.rows, ents, last))
    if source.id == "task_feedback":
        ids = rows["task_id"].unique().tolist()
        state = task_state(db, ids)
        missing = [t for t in ids if t not in state.index]
        if missing:  # feedback on a record loaded as history: its task, built from the record
            records = chunked(db, "ingest_history_events", EVENTS_SQL, event_ids(missing))
            built = history_task_state(records, missing, departments(db), rules or TaskRules.from_env())
            state = pd.concat([state, built]) if not built.empty else state
        out["tasks"] = state
        checked.reject(_feedback_problems(checked.rows, state, scope))
    return out


def _entity_problems(source: Source, rows: pd.DataFrame, ents: pd.DataFrame, scope: str) -> list[Problem]:
    """Checks against the loaded entity of each row, column-wise (files of 100,000 rows)."""
    known = rows["credit_code"].isin(ents.index).to_numpy()
    if source.id == "registration":
        return [Problem(int(r), "统一社会信用代码", "duplicate", f"该主体已登记（{c}）")
                for r, c in zip(rows["row_no"][known], rows["credit_code"][known])]
    ent = ents.reindex(rows["credit_code"])
    grid = ent["grid_code"].fillna("").astype(str).to_numpy()
    reg = pd.to_datetime(ent["reg_date"]).dt.normalize().to_numpy()
    when = pd.to_datetime(rows["event_time"]).dt.normalize().to_numpy()
    outside = known & ~pd.Series(grid).str.startswith(scope).to_numpy()
    early = known & ~outside & (when < reg)
    gone = known & ~outside & ~early & (ent["status"].to_numpy() != "active") & (
        source.id in ("cancellation", "change"))
    time_label = source.field("event_time").zh
    problems = []
    row_nos, codes = rows["row_no"].to_numpy(), rows["credit_code"].to_numpy()
    for i in np.flatnonzero(~known | outside | early | gone).tolist():  # the failing rows only, in row order
        row, code = row_nos[i], codes[i]
        if not known[i]:
            problems.append(Problem(int(row), "统一社会信用代码", "unknown_entity", f"未找到该市场主体：{code}"))
        elif outside[i]:
            problems.append(Problem(int(row), "统一社会信用代码", "out_of_scope",
                                    f"该主体所在网格 {grid[i]} 不在本单位辖区（{scope}）内"))
        elif early[i]:
            problems.append(Problem(int(row), time_label, "bad_date",
                                    f"早于该主体成立日期 {pd.Timestamp(reg[i]).date()}"))
        elif gone[i]:
            problems.append(Problem(int(row), "统一社会信用代码", "bad_state", "该主体已注销或吊销"))
    return problems


def last_list_decisions(db: Engine, codes: Sequence[str]) -> dict[tuple[str, str], pd.Timestamp]:
    """(credit code, list) → the time of the newest loaded decision on it (list events)."""
    df = chunked(db, "ingest_list_last", """
        SELECT credit_code, detail, max(event_time) AS last FROM events
        WHERE event_type IN ('list_entry', 'list_exit') AND credit_code IN %(keys)s
        GROUP BY credit_code, detail""", list(codes))
    names = {zh: key for key, zh in CREDIT_LISTS_ZH.items()}
    return {} if df.empty else {(c, names.get(d, d)): pd.Timestamp(t)
                                for c, d, t in zip(df["credit_code"], df["detail"], df["last"])}


def _list_problems(rows: pd.DataFrame, ents: pd.DataFrame, last: dict[tuple[str, str], pd.Timestamp]) -> list[Problem]:
    """An exit only for an entity on that list then (its flag, then the batch's earlier rows);
    a decision older than the newest loaded one on that list is history: loaded, not checked."""
    problems, listed = [], {}
    for r in rows.sort_values(["credit_code", "event_time", "row_no"]).itertuples(index=False):
        key = (r.credit_code, r.list)
        if key in last and r.event_time < last[key]:
            continue
        on = listed.get(key, bool(int(ents.at[r.credit_code, r.list])))
        if r.action == "exit" and not on:
            problems.append(Problem(int(r.row_no), "列入或移出", "bad_state",
                                    f"该主体未列入{CREDIT_LISTS_ZH[r.list]}，不能移出"))
            continue
        listed[key] = r.action == "entry"
    return problems


def _feedback_problems(rows: pd.DataFrame, state: pd.DataFrame, scope: str) -> list[Problem]:
    """Walk each task's feedback in time order through the lifecycle."""
    problems = []
    current: dict[str, tuple[str, dt.datetime]] = {}
    for r in rows.sort_values(["task_id", "event_time", "row_no"]).itertuples(index=False):
        row, tid = int(r.row_no), r.task_id
        if tid not in state.index:
            problems.append(Problem(row, "任务编号", "unknown_task", f"未找到该任务：{tid}"))
            continue
        st = state.loc[tid]
        if not str(st["grid_code"]).startswith(scope):
            problems.append(Problem(row, "任务编号", "out_of_scope", f"该任务不在本单位辖区（{scope}）内"))
            continue
        status, since = current.get(tid, (st["status"], pd.Timestamp(st["stage_start"]).to_pydatetime()))
        if r.status not in allowed_next(st["task_type"], status):
            nxt = "、".join(STATUS_ZH[s] for s in allowed_next(st["task_type"], status)) or "无（已办结）"
            problems.append(Problem(row, "处置结果", "bad_transition",
                                    f"任务当前环节为“{STATUS_ZH.get(status, status)}”，不能转为“"
                                    f"{STATUS_ZH.get(r.status, r.status)}”（可转：{nxt}）"))
            continue
        if r.event_time < since:
            problems.append(Problem(row, "反馈时间", "bad_date", f"早于任务上一环节时间 {since:%Y-%m-%d %H:%M}"))
            continue
        current[tid] = (r.status, r.event_time)
    return problems
