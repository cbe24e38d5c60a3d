"""Demo event log derived from generated entities (tasks: ``etl.demo_tasks``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from etl import demo_names as V

DAY = np.timedelta64(1, "D")


def office_time(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    secs = rng.integers(8 * 3600 + 1800, 17 * 3600 + 1800, len(days))
    return days.astype("datetime64[s]") + secs.astype("timedelta64[s]")


def _poisson_events(rng: np.random.Generator, ent: pd.DataFrame, lo: np.ndarray, hi: np.ndarray,
                    rate_per_year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entity indices and dates of a Poisson process inside each entity's [lo, hi]."""
    span = (hi - lo).astype(int) + 1  # both ends inclusive
    lam = np.where(span > 0, rate_per_year * span / 365.0, 0.0)
    k = rng.poisson(lam)
    idx = np.repeat(np.arange(len(ent)), k)
    days = lo[idx] + (rng.random(len(idx)) * span[idx]).astype(int) * DAY
    return idx, days


def make_events(rng: np.random.Generator, ent: pd.DataFrame, start: np.datetime64,
                end: np.datetime64, activity: float = 1.0) -> pd.DataFrame:
    """Events of ``ent`` between ``start`` and ``end``; ``activity`` multiplies the yearly
    rates of changes, licences, penalties, complaints, inspections and samplings (the
    national-scale benchmark raises it to about ten events per entity)."""
    reg = ent["reg_date"].to_numpy().astype("datetime64[D]")
    sdate = ent["status_date"].to_numpy().astype("datetime64[D]")
    status = ent["status"].to_numpy()
    industry = ent["industry"].to_numpy()
    grade = ent["credit_grade"].to_numpy()
    n = len(ent)
    parts: list[dict[str, np.ndarray]] = []

    def add(kind: str, idx: np.ndarray, days: np.ndarray, detail=None, result=None, amount=None,
            batch=None) -> None:
        m = len(idx)
        parts.append({"idx": idx, "day": days, "event_type": np.full(m, kind, dtype=object),
                      "detail": np.full(m, "", dtype=object) if detail is None else detail,
                      "result": np.full(m, "none", dtype=object) if result is None else result,
                      "amount": np.zeros(m) if amount is None else amount,
                      "batch_no": np.full(m, "", dtype=object) if batch is None else batch})

    new = (reg >= start) & (reg <= end)
    add("registration", np.flatnonzero(new), reg[new])
    for kind, label in (("cancellation", "cancelled"), ("revocation", "revoked")):
        m = (status == label) & (sdate >= start) & (sdate <= end)
        add(kind, np.flatnonzero(m), sdate[m])

    lo = np.maximum(reg, start)
    hi = np.where(np.isnat(sdate), end, np.minimum(sdate, end))
    risky = np.select([grade == "C", grade == "D"], [3.0, 6.0], 1.0)
    k = float(activity)

    idx, d = _poisson_events(rng, ent, lo, hi, np.full(n, 0.12 * k))
    add("change", idx, d, detail=rng.choice(V.CHANGE_KINDS[0], len(idx), p=V.CHANGE_KINDS[1]).astype(object))

    lic = np.isin(industry, list(V.LICENSED))
    idx, d = _poisson_events(rng, ent, lo, hi, np.where(lic, 0.25 * k, 0.0))
    add("licence", idx, d, detail=np.array([V.LICENCES[s] for s in industry[idx]], dtype=object))

    idx, d = _poisson_events(rng, ent, lo, hi, 0.008 * k * risky)
    add("penalty", idx, d, detail=rng.choice(V.PENALTY_KINDS, len(idx)).astype(object),
        amount=np.round(rng.lognormal(8.5, 1.0, len(idx)), 2))

    food = np.isin(industry, ["F", "H", "O"])
    idx, d = _poisson_events(rng, ent, lo, hi, np.where(food, 0.06, 0.02) * k * risky)
    add("complaint", idx, d,
        detail=rng.choice(V.COMPLAINT_KINDS[0], len(idx), p=V.COMPLAINT_KINDS[1]).astype(object))

    idx, d = _poisson_events(rng, ent, lo, hi, np.full(n, 0.08 * k))
    fail = rng.random(len(idx)) < 0.05 * risky[idx]
    add("inspection", idx, d, result=np.where(fail, "fail", "pass").astype(object))

    # Sampling: product batches are shared by several entities, across regions.
    sampled = np.isin(industry, list(V.SAMPLED))
    idx, d = _poisson_events(rng, ent, lo, hi, np.where(sampled, 0.05 * k, 0.0))
    # Most batches reach a few shops; a few wholesale batches reach dozens, across towns and cities.
    n_batches = max(len(idx) // 4, 1)
    wholesale = max(n_batches // 50, 1)
    batch_ids = np.where(rng.random(len(idx)) < 0.2, rng.integers(0, wholesale, len(idx)),
                         rng.integers(0, n_batches, len(idx)))
    batch_fail = rng.random(n_batches) < 0.04
    add("sampling", idx, d, result=np.where(batch_fail[batch_ids], "fail", "pass").astype(object),
        batch=np.char.add("PC", np.char.zfill(batch_ids.astype(str), 7)).astype(object))

    # List entries for currently listed entities (and some that have left a list).
    for flag, label in (("abnormal", "经营异常名录"), ("dishonest", "严重违法失信名单")):
        on = ent[flag].to_numpy() == 1
        idx = np.flatnonzero(on & (hi > lo))
        span = (hi[idx] - lo[idx]).astype(int)
        add("list_entry", idx, lo[idx] + (rng.random(len(idx)) * span).astype(int) * DAY,
            detail=np.full(len(idx), label, dtype=object))
    past = np.flatnonzero((ent["abnormal"].to_numpy() == 0) & (rng.random(n) < 0.01) & ((hi - lo).astype(int) > 60))
    entry = lo[past] + (rng.random(len(past)) * ((hi[past] - lo[past]).astype(int) - 30)).astype(int) * DAY
    add("list_entry", past, entry, detail=np.full(len(past), "经营异常名录", dtype=object))
    add("list_exit", past, entry + 30 * DAY, detail=np.full(len(past), "经营异常名录", dtype=object))

    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    idx = cols.pop("idx")
    ev = pd.DataFrame({
        "event_time": office_time(rng, cols.pop("day")).astype("datetime64[ns]"),
        "event_type": cols["event_type"], "credit_code": ent["credit_code"].to_numpy()[idx],
        "grid_code": ent["grid_code"].to_numpy()[idx],
        "entity_type": ent["entity_type"].to_numpy()[idx], "industry": industry[idx],
        "detail": cols["detail"], "result": cols["result"], "amount": cols["amount"],
        "batch_no": cols["batch_no"],
    })
    ev["dept_id"] = ev["grid_code"].str[:9] + "-01"
    ev["source"] = "demo"
    ev = ev.sort_values(["event_time", "credit_code", "event_type"], kind="stable").reset_index(drop=True)
    ev.insert(0, "event_id", np.arange(1, len(ev) + 1, dtype="uint64"))
    ev.insert(2, "event_date", ev["event_time"].dt.normalize())
    return ev


def clip_to(entities: pd.DataFrame, events: pd.DataFrame,
            until: np.datetime64) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo as it stands at ``until`` (its generation time): the events of the last day
    after that moment have not happened yet. An entity whose registration is still to come
    does not exist (nor do its events); a cancellation or revocation still to come leaves
    the entity active. Events are numbered again in time order."""
    late = events["event_time"].to_numpy() > until.astype("datetime64[ns]")
    kind = events["event_type"].to_numpy()
    unborn = events.loc[late & (kind == "registration"), "credit_code"].to_numpy()
    ending = events.loc[late & np.isin(kind, ["cancellation", "revocation"]), "credit_code"].to_numpy()
    codes = entities["credit_code"].to_numpy()
    entities = entities[~np.isin(codes, unborn)].copy()
    undo = np.isin(entities["credit_code"].to_numpy(), ending)
    entities.loc[undo, "status"] = "active"
    entities.loc[undo, "status_date"] = pd.NaT
    keep = ~late & ~np.isin(events["credit_code"].to_numpy(), unborn)
    events = events[keep].reset_index(drop=True)
    events["event_id"] = np.arange(1, len(events) + 1, dtype="uint64")
    return entities.reset_index(drop=True), events
