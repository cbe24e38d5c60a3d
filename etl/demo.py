"""Deterministic demo data: ``python -m etl demo [--root 44] [--entities N] [--days D] [--seed S]``.

Regions below ``root`` receive grids, grid workers, departments and market
entities (valid unified social credit codes), with an event log and supervision
tasks over ``days`` days ending at ``end_date``. Dongguan (4419) is denser: about
3,000 grids, 9,600 grid workers. Same arguments → same rows.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from etl import demo_names as V
from domain.workdays import workdays
from supervision.rules import LICENSING_DEPT

logger = logging.getLogger(__name__)

DENSE_PREFIX = "4419"  # Dongguan: the source documents' grid project


@dataclass(frozen=True)
class DemoConfig:
    root: str = "44"
    entities: int = 200_000
    days: int = 800
    seed: int = 20151
    end_date: dt.date = field(default_factory=dt.date.today)
    #: The moment on ``end_date`` the demo ends (its generation time, so that nothing lies in
    #: the future); None: the end of that day (fixed test data sets).
    end_time: dt.time | None = None

    @property
    def start_date(self) -> dt.date:
        return self.end_date - dt.timedelta(days=self.days - 1)

    @property
    def until(self) -> np.datetime64:
        """The last second the demo's events and task events may carry."""
        if self.end_time is None:
            return np.datetime64(self.end_date) + np.timedelta64(86399, "s")
        return np.datetime64(dt.datetime.combine(self.end_date, self.end_time).replace(microsecond=0), "s")


@dataclass
class DemoData:
    grids: pd.DataFrame          # code, name, level(6), parent
    grid_workers: pd.DataFrame
    departments: pd.DataFrame
    entities: pd.DataFrame
    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    tasks: pd.DataFrame = field(default_factory=pd.DataFrame)
    task_events: pd.DataFrame = field(default_factory=pd.DataFrame)
    inspectors: pd.DataFrame = field(default_factory=pd.DataFrame)
    random_plans: pd.DataFrame = field(default_factory=pd.DataFrame)
    random_items: pd.DataFrame = field(default_factory=pd.DataFrame)
    joint_cases: pd.DataFrame = field(default_factory=pd.DataFrame)
    joint_actions: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"regions": self.grids, "grid_workers": self.grid_workers,
                "departments": self.departments, "entities": self.entities,
                "events": self.events, "tasks": self.tasks, "task_events": self.task_events,
                "inspectors": self.inspectors, "random_plans": self.random_plans,
                "random_items": self.random_items, "joint_cases": self.joint_cases,
                "joint_actions": self.joint_actions}


def _pick(rng: np.random.Generator, items: list[str], n: int) -> np.ndarray:
    return np.asarray(items, dtype=object)[rng.integers(0, len(items), n)]


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    two = rng.random(n) < 0.6
    given = _pick(rng, V.GIVEN, n) + np.where(two, _pick(rng, V.GIVEN, n), "")
    return _pick(rng, V.SURNAMES, n) + given


def make_grids(rng: np.random.Generator, villages: pd.DataFrame) -> pd.DataFrame:
    """Grids per village (Dongguan 3–7, elsewhere 1–3), codes = village + 3 digits."""
    dense = villages["code"].str.startswith(DENSE_PREFIX).to_numpy()
    counts = np.where(dense, rng.integers(3, 8, len(villages)), rng.integers(1, 4, len(villages)))
    parent = np.repeat(villages["code"].to_numpy(), counts)
    vname = np.repeat(villages["name"].to_numpy(), counts)
    seq = np.concatenate([np.arange(1, c + 1) for c in counts]) if len(counts) else np.array([], int)
    seq_s = pd.Series(seq).astype(str)
    return pd.DataFrame({
        "code": pd.Series(parent, dtype=object) + seq_s.str.zfill(3),
        "name": pd.Series(vname, dtype=object) + "第" + seq_s + "网格",
        "level": np.full(len(parent), 6, dtype="uint8"),
        "parent": parent,
    })


def make_workers(rng: np.random.Generator, grids: pd.DataFrame) -> pd.DataFrame:
    dense = grids["code"].str.startswith(DENSE_PREFIX).to_numpy()
    counts = np.where(dense, rng.choice([2, 3, 4], len(grids), p=[0.1, 0.6, 0.3]),
                      rng.choice([1, 2], len(grids), p=[0.6, 0.4]))
    grid = np.repeat(grids["code"].to_numpy(), counts)
    seq = np.concatenate([np.arange(1, c + 1) for c in counts]) if len(counts) else np.array([], int)
    phones = rng.integers(13_000_000_000, 19_999_999_999, len(grid))
    return pd.DataFrame({
        "worker_id": pd.Series(grid, dtype=object) + "-" + pd.Series(seq).astype(str).str.zfill(2),
        "grid_code": grid, "name": person_names(rng, len(grid)),
        "phone": pd.Series(phones).astype(str),
    })


def make_departments(tree: pd.DataFrame) -> pd.DataFrame:
    """City departments (the licensing ones list the trades they license, 谁审批、谁监管)
    and each town's market-regulation office and comprehensive-governance office."""
    licenses: dict[str, list[str]] = {}
    for section, number in sorted(LICENSING_DEPT.items()):
        licenses.setdefault(number, []).append(section)
    rows = []
    for level, catalogue in ((2, V.CITY_DEPARTMENTS), (4, V.TOWN_DEPARTMENTS)):
        for code, name in tree.loc[tree["level"] == level, ["code", "name"]].itertuples(index=False):
            for i, (dname, kind) in enumerate(catalogue, start=1):
                trades = ",".join(licenses.get(f"{i:02d}", [])) if level == 2 else ""
                rows.append((f"{code}-{i:02d}", f"{name}{dname}", code, kind, trades))
    return pd.DataFrame(rows, columns=["dept_id", "name", "region_code", "kind", "industries"])


#: Inspectors (执法人员) per department kind in the demo roster.
INSPECTORS_PER_DEPT = {"market_regulator": 20, "licensing": 3}


def make_inspectors(seed: int, depts: pd.DataFrame) -> pd.DataFrame:
    """The demo 执法人员名录: a few inspectors per market-regulation and licensing department
    (their own random stream, so that adding them changed no other demo table)."""
    rng = np.random.default_rng([seed, 29])
    rows = []
    for dept_id, region, kind in depts[["dept_id", "region_code", "kind"]].itertuples(index=False):
        n = INSPECTORS_PER_DEPT.get(kind, 0)
        for i, name in enumerate(person_names(rng, n), start=1):
            rows.append((f"{dept_id}-Z{i:02d}", name, dept_id, region, f"{region[:6]}{int(rng.integers(10**6)):06d}{i:02d}"))
    return pd.DataFrame(rows, columns=["inspector_id", "name", "dept_id", "region_code", "cert_no"])


def _registration_dates(rng: np.random.Generator, cfg: DemoConfig, n: int) -> np.ndarray:
    """30% registered inside the window (fewer on rest days, growing), the rest earlier."""
    start, end = cfg.start_date, cfg.end_date
    window = np.arange(np.datetime64(start), np.datetime64(end) + 1)
    wd = np.isin(window, workdays(start, end))
    weight = np.where(wd, 1.0, 0.25) * (1 + 0.15 * np.arange(len(window)) / max(len(window), 1))
    new = rng.random(n) < 0.30
    dates = np.empty(n, dtype="datetime64[D]")
    dates[new] = rng.choice(window, int(new.sum()), p=weight / weight.sum())
    age = np.minimum(rng.exponential(6 * 365, int((~new).sum())), 30 * 365).astype(int) + 1
    dates[~new] = np.datetime64(start) - age.astype("timedelta64[D]")
    return dates


def _status(rng: np.random.Generator, cfg: DemoConfig, reg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(reg)
    u = rng.random(n)
    status = np.where(u < 0.06, "cancelled", np.where(u < 0.07, "revoked", "active")).astype(object)
    lo = np.maximum(reg + 30, np.datetime64(cfg.start_date) - 3 * 365)
    span = (np.datetime64(cfg.end_date) - lo).astype(int)
    when = lo + (rng.random(n) * np.maximum(span + 1, 0)).astype(int).astype("timedelta64[D]")
    ended = (status != "active") & (span > 0)
    status[(status != "active") & ~ended] = "active"
    return status, np.where(ended, when, np.datetime64("NaT"))


def _owner_ids(rng: np.random.Generator, division: np.ndarray, n: int) -> np.ndarray:
    """Resident ID numbers (GB 11643, with their check digit) for individual owners."""
    birth = np.datetime64("1960-01-01") + rng.integers(0, 40 * 365, n).astype("timedelta64[D]")
    body = (pd.Series(division, dtype=object) + pd.Series(birth).dt.strftime("%Y%m%d")
            + pd.Series(rng.integers(0, 1000, n)).astype(str).str.zfill(3))
    digits = np.array([list(map(int, s)) for s in body]) if n else np.zeros((0, 17), int)
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    check = np.array(list("10X98765432"))[(digits * weights).sum(axis=1) % 11] if n else []
    return (body + pd.Series(check, dtype=object)).to_numpy()


def make_entities(rng: np.random.Generator, cfg: DemoConfig, tree: pd.DataFrame,
                  grids: pd.DataFrame) -> pd.DataFrame:
    from domain import uscc

    n = cfg.entities
    villages = tree[tree["level"] == 5].reset_index(drop=True)
    weight = rng.lognormal(0, 0.8, len(villages)) * np.where(
        villages["code"].str.startswith(DENSE_PREFIX), 8.0, 1.0)
    # Every grid of the dense city holds data: two entities each first, the rest at random.
    dense = grids["code"][grids["code"].str.startswith(DENSE_PREFIX)].to_numpy(dtype=object)
    seeded = np.repeat(dense, 2) if n >= 4 * len(dense) else dense[:0]
    n_rand = n - len(seeded)
    v_idx = rng.choice(len(villages), n_rand, p=weight / weight.sum())
    per_village = grids.groupby("parent", sort=True)["code"].agg(list)
    gl = per_village.reindex(villages["code"]).to_list()
    g_off = (rng.random(n_rand) * np.array([len(g) for g in gl])[v_idx]).astype(int)
    grid_code = np.concatenate([seeded, np.array([gl[v][o] for v, o in zip(v_idx, g_off)], dtype=object)])

    etype = rng.choice(["individual", "enterprise", "cooperative"], n, p=[0.62, 0.35, 0.03]).astype(object)
    sections = list(V.INDUSTRIES)
    p = np.array([V.INDUSTRIES[s][1] for s in sections])
    industry = rng.choice(sections, n, p=p / p.sum()).astype(object)
    industry[etype == "cooperative"] = "A"
    reg = _registration_dates(rng, cfg, n)
    status, status_date = _status(rng, cfg, reg)
    grade = rng.choice(["A", "B", "C", "D"], n, p=[0.72, 0.20, 0.06, 0.02]).astype(object)
    abnormal_p = np.select([grade == "C", grade == "D"], [0.20, 0.50], 0.03)
    abnormal = (rng.random(n) < abnormal_p).astype("uint8")
    dishonest = (rng.random(n) < np.where(grade == "D", 0.10, 0.002)).astype("uint8")

    names_by_code = dict(zip(tree["code"], tree["name"]))
    county = pd.Series(grid_code).str[:6].to_numpy()
    county_name = np.array([names_by_code.get(c, names_by_code.get(c[:4], "")) for c in county], dtype=object)
    short = pd.Series(county_name).str.replace(r"(市|区|县)$", "", regex=True).to_numpy(dtype=object)
    brand = _pick(rng, V.BRAND_CHARS, n) + _pick(rng, V.BRAND_CHARS, n)
    word = np.array([V.INDUSTRY_WORDS[s][i % len(V.INDUSTRY_WORDS[s])]
                     for s, i in zip(industry, rng.integers(0, 5, n))], dtype=object)
    suffix = np.select([etype == "enterprise", etype == "cooperative"],
                       ["有限公司", "专业合作社"], "店").astype(object)
    name = short + brand + word + suffix
    division = np.where(pd.Series(county).isin(names_by_code.keys()), county,
                        pd.Series(grid_code).str[:4] + "00").astype(object)
    credit = uscc.generate(rng, list(division), list(etype))
    owner = np.where(etype == "individual", _owner_ids(rng, division, n), "").astype(object)
    capital = np.round(np.where(etype == "enterprise", rng.lognormal(4.6, 1.2, n),
                                rng.lognormal(1.6, 0.8, n)), 2)
    return pd.DataFrame({
        "credit_code": credit, "name": name, "entity_type": etype, "industry": industry,
        "grid_code": grid_code, "reg_date": reg.astype("datetime64[ns]"), "status": status,
        "status_date": status_date.astype("datetime64[ns]"), "credit_grade": grade,
        "abnormal": abnormal, "dishonest": dishonest, "legal_rep": person_names(rng, n),
        "owner_id": owner, "capital": capital,
    })
