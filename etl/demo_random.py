"""Demo 双随机抽查 (docs/double_random.md): each town's market-regulation office drew a plan
last quarter (finished: nearly every firm inspected, a few never found) and one this
quarter (running: firms inspected as the quarter goes on), with the real lottery
(:mod:`supervision.double_random`) over the demo entities and the office's inspectors.

Problems are found at the rates Henan published per credit-risk class (A about 0 %, B 40 %,
C 57 %, D 85 %), so the class chart shows a classification that predicts risk. Nothing is
dated after the demo's end (``until``); a running plan's deadline may lie ahead.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from supervision.double_random import CREDIT_CLASSES, DEFAULT_RATIOS, assign_inspectors, draw_firms

#: Share of inspected firms where a problem is found, per credit-risk class (Henan, see above).
PROBLEM_RATES = {"A": 0.02, "B": 0.40, "C": 0.57, "D": 0.85}
ABSENT_RATE = 0.04       # not found at the registered address
MISSED_RATE = 0.03       # a finished plan's firms never inspected (they show as overdue)
BY = "系统导入"
EPOCH64 = np.datetime64("1970-01-01T00:00:00", "ns")


def _quarter(day: dt.date) -> tuple[dt.date, dt.date]:
    first = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    nxt = dt.date(first.year + (first.month + 2) // 12, (first.month + 2) % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def _ratios() -> dict[str, float]:
    return {k: float(v) / 100 for k, v in (p.split("=") for p in DEFAULT_RATIOS.split(","))}


def _blemished(events: pd.DataFrame, day: dt.date, days: int = 365) -> set[str]:
    """Firms with a penalty, a complaint or a failed inspection within ``days`` up to ``day``
    (they are not 无事不扰, supervision.discipline)."""
    when = pd.to_datetime(events["event_date"])
    bad = (events["event_type"].isin(["penalty", "complaint"])
           | ((events["event_type"] == "inspection") & (events["result"] == "fail")))
    window = (when > pd.Timestamp(day) - pd.Timedelta(days=days)) & (when <= pd.Timestamp(day))
    return set(events.loc[bad & window, "credit_code"])


def make_random(seed: int, until: np.datetime64, entities: pd.DataFrame, depts: pd.DataFrame,
                inspectors: pd.DataFrame, events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo's ``random_plans`` and ``random_items`` (their own random stream): each town's
    market-regulation office last quarter and this quarter, and each licensing department that
    lists its trades this quarter over its whole region (so that some firms are inspected by
    two departments within a month: 涉企检查). Firms on the 无事不扰 list on the day of a draw
    are spared, as in a real draw."""
    rng = np.random.default_rng([seed, 30])
    end = pd.Timestamp(until).to_pydatetime()
    this_q = _quarter(end.date())
    last_q = _quarter(this_q[0] - dt.timedelta(days=1))
    plans: list[dict] = []
    items: list[dict[str, np.ndarray]] = []
    offices = depts[(depts["kind"] == "market_regulator") & (depts["region_code"].str.len() == 9)]
    licensing = depts[(depts["kind"] == "licensing") & (depts["industries"] != "")]
    # Entities by town and by city, rosters by department and blemished firms by day: computed once
    # (a province has thousands of towns).
    by_region = {**dict(tuple(entities.groupby(entities["grid_code"].str[:9]))),
                 **dict(tuple(entities.groupby(entities["grid_code"].str[:4])))}
    rosters = dict(tuple(inspectors.groupby("dept_id"))) if not inspectors.empty else {}
    blemished = {day: _blemished(events, day) for day in (last_q[0], this_q[0])}
    for dept_id, region, trades, quarters in (
            [(d, r, "", (last_q, this_q)) for d, r in offices[["dept_id", "region_code"]].itertuples(index=False)]
            + [(d, r, t, (this_q,)) for d, r, t in licensing[["dept_id", "region_code", "industries"]]
               .itertuples(index=False)]):
        roster = rosters.get(dept_id, inspectors.iloc[:0])
        firms = by_region.get(region, entities.iloc[:0]) if len(region) in (4, 9) else \
            entities[entities["grid_code"].str.startswith(region)]
        if trades:
            firms = firms[firms["industry"].isin(trades.split(","))]
        recent = None
        for first, last in quarters:
            drawn_at = dt.datetime.combine(first, dt.time(9, 0))
            if drawn_at > end or len(roster) < 2:
                continue
            plan, got = _plan(rng, dept_id, region, trades, firms, roster, recent, blemished[first], first, last,
                              drawn_at)
            if got is None:
                continue
            plans.append(plan)
            items.append(_results(rng, got, plan["plan_id"], dept_id, dict(zip(firms["credit_code"], firms["grid_code"])),
                                  drawn_at, first, last, end))
            recent = pd.concat([pd.DataFrame({"credit_code": got["credit_code"], "inspector_id": got[c]})
                                for c in ("inspector_1", "inspector_2")])
    item_frame = pd.DataFrame({k: np.concatenate([i[k] for i in items]) for k in items[0]}) if items else pd.DataFrame()
    return pd.DataFrame(plans), item_frame


def _plan(rng: np.random.Generator, dept_id: str, region: str, trades: str, firms: pd.DataFrame,
          roster: pd.DataFrame, recent: pd.DataFrame | None, blemished: set[str], first: dt.date, last: dt.date,
          drawn_at: dt.datetime) -> tuple[dict, pd.DataFrame | None]:
    """One plan drawn on ``first``: its row and its firms with their inspectors (None: no pool)."""
    day = pd.Timestamp(first)
    alive = firms[(firms["reg_date"] <= day) & ((firms["status"] == "active") | (firms["status_date"] > day))]
    if alive.empty:
        return {}, None
    pool = pd.DataFrame({"credit_code": alive["credit_code"], "credit_class": alive["credit_grade"].astype(str)})
    clean = alive[(alive["credit_grade"].astype(str) == "A") & (alive["abnormal"] == 0) & (alive["dishonest"] == 0)]
    spared = set(clean["credit_code"]) - blemished
    plan_seed = int(rng.integers(10 ** 12))
    draw = draw_firms(pool, _ratios(), plan_seed, spared)
    pairs = assign_inspectors(draw.firms["credit_code"], roster, plan_seed, recent)  # in the firms' order
    got = draw.firms.assign(inspector_1=pairs["inspector_1"].to_numpy(), inspector_2=pairs["inspector_2"].to_numpy())
    quarter = f"{first.year}年第{(first.month - 1) // 3 + 1}季度"
    return {
        "plan_id": f"SJ{first:%Y%m%d}{dept_id.replace('-', '')}", "dept_id": dept_id, "region_code": region,
        "name": f"{quarter}{'行业专项' if trades else '日常监督'}抽查", "period_from": day,
        "period_to": pd.Timestamp(last), "industries": trades, "entity_types": "", "listed": "all",
        "ratios": ",".join(f"{c}={draw.ratios[c] * 100:g}" for c in CREDIT_CLASSES), "seed": plan_seed,
        "fingerprint": draw.fingerprint, "pool": ",".join(f"{c}={draw.pool[c]}" for c in CREDIT_CLASSES),
        "spared": len(spared), "drawn": len(got), "created_by": BY, "created_at": pd.Timestamp(drawn_at), "version": 1,
    }, got


def _results(rng: np.random.Generator, got: pd.DataFrame, plan_id: str, dept_id: str, grids: dict[str, str],
             drawn_at: dt.datetime, first: dt.date, last: dt.date, end: dt.datetime) -> dict[str, np.ndarray]:
    """The items of one plan with their results: inspected at a random moment of the plan's
    period up to the demo's end; a finished plan leaves ``MISSED_RATE`` uninspected."""
    n = len(got)
    start = pd.Timestamp(drawn_at)
    stop = min(pd.Timestamp(last) + pd.Timedelta(hours=18), pd.Timestamp(end))
    span = max((stop - start).total_seconds(), 0.0)
    finished = pd.Timestamp(last) < pd.Timestamp(end.date())
    at = start + pd.to_timedelta(rng.random(n) * span, unit="s")
    # A running plan: a firm is inspected with the share of the period gone by.
    share = 1.0 - MISSED_RATE if finished else span / max((pd.Timestamp(last) - start).total_seconds(), 1.0)
    done = rng.random(n) < share
    u = rng.random(n)
    problem = u < np.array([PROBLEM_RATES[c] for c in got["credit_class"]])
    absent = ~problem & (rng.random(n) < ABSENT_RATE)
    result = np.where(~done, "pending", np.where(problem, "problem", np.where(absent, "absent", "clean")))
    # As in the product: the drawn row, then for an inspected firm a result row entered when it was
    # (columns as arrays: one frame is built for all plans at the end).
    codes = got["credit_code"].to_numpy()
    drawn = {"plan_id": np.full(n, plan_id, dtype=object), "credit_code": codes,
             "credit_class": got["credit_class"].to_numpy(), "rank": got["rank"].to_numpy(),
             "grid_code": np.array([grids[c] for c in codes], dtype=object), "dept_id": np.full(n, dept_id, dtype=object),
             "inspector_1": got["inspector_1"].to_numpy(), "inspector_2": got["inspector_2"].to_numpy(),
             "drawn_at": np.full(n, start.to_datetime64()), "due_date": np.full(n, pd.Timestamp(last).to_datetime64()),
             "result": np.full(n, "pending", dtype=object), "result_at": np.full(n, EPOCH64),
             "result_by": np.full(n, "", dtype=object), "note": np.full(n, "", dtype=object),
             "entered_at": np.full(n, start.to_datetime64()), "version": np.ones(n, dtype=np.int64)}
    when = at.floor("s").to_numpy()[done]
    inspected = {k: v[done] for k, v in drawn.items()}
    inspected.update(result=result[done], result_at=when, result_by=np.full(len(when), BY, dtype=object),
                     entered_at=when, version=np.full(len(when), 2, dtype=np.int64))
    return {k: np.concatenate([drawn[k], inspected[k]]) for k in drawn}
