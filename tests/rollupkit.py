"""An independent check of the rollups (store/rollups.py): the raw rows are read back
and aggregated with plain pandas.

- :func:`mismatches`: every rollup table (each level, each total) holds exactly the
  pandas totals of its raw rows (after summing its not-yet-merged rows);
- :func:`stock_mismatches`: the stocks the rollups give at the end of a day (total
  minus later changes) equal the raw definitions evaluated in pandas: entities alive
  then (``ALIVE``), and each task's state then (its last event on or before the day).
"""
from __future__ import annotations

import datetime as dt
from typing import Callable, Union

import pandas as pd

from store.rollups import FAMILIES, LEVELS
from store.engine import Engine
from store.executor import run

#: An engine, or a function running a SELECT elsewhere (another process) and returning its rows.
Source = Union[Engine, Callable[[str], pd.DataFrame]]
NO_DEADLINE = pd.Timestamp("1970-01-01")


def _query(db: Source, sql: str) -> pd.DataFrame:
    return db(sql) if callable(db) and not isinstance(db, Engine) else run(db, "kit_rollup_check", sql)


def _raw(db: Source, table: str, cols: list[str]) -> pd.DataFrame:
    return _query(db, f"SELECT {', '.join(cols)} FROM {table}")


def _events(db: Source) -> pd.DataFrame:
    f = FAMILIES["events"]
    ev = _raw(db, "events", ["event_date", "grid_code", *f.dims, "amount"])
    return ev.assign(n=1)


def _entity_changes(db: Source) -> pd.DataFrame:
    """+1 on the registration date, −1 on the (not earlier) end date of a dead entity with one."""
    f = FAMILIES["entities"]
    ent = _raw(db, "entities", ["grid_code", "reg_date", "status", "status_date", *f.dims, "capital"])
    born = ent.assign(day=pd.to_datetime(ent["reg_date"]), d=1, cap=ent["capital"])
    dead = ent[(ent["status"] != "active") & ent["status_date"].notna()]
    end = pd.to_datetime(dead["status_date"])
    dead = dead.assign(day=end.where(end > pd.to_datetime(dead["reg_date"]), pd.to_datetime(dead["reg_date"])),
                       d=-1, cap=-dead["capital"])
    return pd.concat([born, dead], ignore_index=True).drop(columns="capital").rename(columns={"cap": "capital"})


def _task_events(db: Source) -> pd.DataFrame:
    return _raw(db, "task_events", ["task_id", "event_time", "event_date", "grid_code", "task_type", "status",
                                    "from_status", "due_date", "stage_due"])


def _task_changes(db: Source) -> pd.DataFrame:
    """+1 to the state each task event starts, −1 to the state it ends (not for creations)."""
    te = _task_events(db)
    start = pd.DataFrame({"day": te["event_date"], "grid_code": te["grid_code"], "task_type": te["task_type"],
                          "state": te["status"].astype(str),
                          "deadline": pd.to_datetime(te["due_date"]).where(te["status"] != "closed", NO_DEADLINE),
                          "d": 1})
    ended = te[te["from_status"] != "none"]
    end = pd.DataFrame({"day": ended["event_date"], "grid_code": ended["grid_code"],
                        "task_type": ended["task_type"], "state": ended["from_status"].astype(str),
                        "deadline": pd.to_datetime(ended["stage_due"]).where(ended["from_status"] != "closed",
                                                                             NO_DEADLINE), "d": -1})
    return pd.concat([start, end], ignore_index=True)


_CHANGES = {"events": _events, "entities": _entity_changes, "tasks": _task_changes}


def _expected(rows: pd.DataFrame, family: str, level: str, with_date: bool = True) -> pd.DataFrame:
    f = FAMILIES[family]
    key = list(f.key(with_date))
    rows = rows.assign(grid_code=rows["grid_code"].str[:LEVELS[level]])
    out = rows.groupby(key, as_index=False, observed=True)[list(f.sums)].sum()
    return out[(out[list(f.sums)].abs() > 1e-6).any(axis=1)]


def _stored(db: Source, table: str, key: list[str], sums: tuple[str, ...]) -> pd.DataFrame:
    cols = ", ".join(key)
    agg = ", ".join(f"sum({s}) AS {s}" for s in sums)
    having = " OR ".join(f"abs({s}) > 0.000001" for s in sums)
    return _query(db, f"SELECT {cols}, {agg} FROM {table} GROUP BY {cols} HAVING {having}")


def _compare(want: pd.DataFrame, have: pd.DataFrame, key: list[str], sums: tuple[str, ...], label: str) -> list[str]:
    for frame in (want, have):
        for col in key:
            values = frame[col]
            if col in ("event_date", "day", "deadline"):
                values = pd.to_datetime(values).dt.strftime("%Y-%m-%d")
            frame[col] = values.astype(str)
    both = want.merge(have, on=key, how="outer", suffixes=("_want", "_have"))
    problems = []
    for s in sums:
        diff = (both[f"{s}_want"].fillna(0).astype(float) - both[f"{s}_have"].fillna(0).astype(float)).abs()
        bad = both[diff > 0.001]
        if len(bad):
            problems.append(f"{label}.{s}: {len(bad)} keys differ, e.g. "
                            f"{bad.iloc[0][key + [f'{s}_want', f'{s}_have']].to_dict()}")
    if len(want) == 0:
        problems.append(f"{label}: no raw rows to compare")
    return problems


def mismatches(db: Source) -> list[str]:
    """Rows where a rollup table differs from the pandas totals of its raw table (empty = all equal)."""
    problems = []
    for name, f in FAMILIES.items():
        rows = _CHANGES[name](db)
        for level in LEVELS:
            problems += _compare(_expected(rows, name, level), _stored(db, f.table(level), list(f.key()), f.sums),
                                 list(f.key()), f.sums, f.table(level))
            if f.stock:
                key = ["grid_code", *f.dims]
                problems += _compare(_expected(rows, name, level, with_date=False),
                                     _stored(db, f.total(level), key, f.sums), key, f.sums, f.total(level))
            if level in f.month_levels:  # the changes per month: dated the first of their month
                months = rows.assign(**{f.date_col: pd.to_datetime(rows[f.date_col]).dt.to_period("M").dt.start_time})
                problems += _compare(_expected(months, name, level), _stored(db, f.month_table(level), list(f.key()),
                                                                              f.sums),
                                     list(f.key()), f.sums, f.month_table(level))
    return problems


def _alive(db: Source, end: dt.date) -> pd.DataFrame:
    f = FAMILIES["entities"]
    ent = _raw(db, "entities", ["grid_code", "reg_date", "status", "status_date", *f.dims, "capital"])
    t = pd.Timestamp(end)
    status_date = pd.to_datetime(ent["status_date"])
    alive = (pd.to_datetime(ent["reg_date"]) <= t) & ((ent["status"] == "active") | status_date.isna()
                                                     | (status_date > t))
    return ent[alive].assign(d=1)


def _tasks_then(db: Source, end: dt.date) -> pd.DataFrame:
    """Each task's state at the end of ``end``: its event with the latest time on or before then."""
    te = _task_events(db)
    te = te[pd.to_datetime(te["event_date"]) <= pd.Timestamp(end)]
    last = te.sort_values(["task_id", "event_time"]).groupby("task_id").tail(1)
    return pd.DataFrame({"grid_code": last["grid_code"], "task_type": last["task_type"],
                         "state": last["status"].astype(str),
                         "deadline": pd.to_datetime(last["due_date"]).where(last["status"] != "closed", NO_DEADLINE),
                         "d": 1})


def stock_mismatches(db: Source, ends: list[dt.date]) -> list[str]:
    """Stocks at the end of each day in ``ends`` read from the rollups (total − later
    changes, as indicator queries do) against pandas over the raw rows."""
    problems = []
    for name, then in (("entities", _alive), ("tasks", _tasks_then)):
        f = FAMILIES[name]
        key = ["grid_code", *f.dims]
        for end in ends:
            rows = then(db, end)
            for level in LEVELS:
                cols = ", ".join(key)
                sums = ", ".join(f"sum({s}) AS {s}" for s in f.sums)
                stock = f.stock_from(level).replace("%(like)s", "'%%'").replace("%(end)s", f"toDate('{end}')")
                # stock_from names task columns as measures do (status, due_date); read them back as stored
                stock = stock.replace(" AS status", " AS state").replace(" AS due_date", " AS deadline")
                have = _query(db, f"SELECT {cols}, {sums} FROM {stock} GROUP BY {cols} "
                              "HAVING " + " OR ".join(f"abs({s}) > 0.000001" for s in f.sums))
                problems += _compare(_expected(rows, name, level, with_date=False), have, key, f.sums,
                                     f"{name} stock at {end} ({level})")
    return problems
