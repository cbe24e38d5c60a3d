"""Data side of ``bench/ingest.py``: the benchmark data set and its fresh copies, the
spawned child processes that own one copy each (embedded chDB), and realistic
department records (registrations, inspections, complaints) with their CSV and JSON
lines forms. ``bench/scale.py`` uses the records too (its ingest section)."""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from etl import demo_names as V
from domain import uscc

ROOT = Path(__file__).resolve().parents[1]
CLEAN_ENV = ("JINJIAN_CLICKHOUSE_URL", "JINJIAN_METADATA_URL", "JINJIAN_INGEST_DIR", "JINJIAN_REPORT_DIR",
             "JINJIAN_INGEST_CRASH_AT")


# ---------------------------------------------------------------------------- data set
def load_avg() -> str:
    """The 1-minute load average: other work on the machine skews every figure here."""
    return f"load avg {os.getloadavg()[0]:.2f}"


def bench_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    # JINJIAN_AUTH=0: the lag section watches the wall as the local administrator (bench/scale.py does the same)
    env.update({"JINJIAN_DATA_DIR": str(data_dir), "JINJIAN_SIMULATOR": "0", "JINJIAN_INBOX": "0",
                "JINJIAN_REPORT_SCHEDULER": "0", "JINJIAN_AUTH": "0"}, **extra)
    return env


def base_dataset(args: argparse.Namespace) -> Path:
    """The benchmark data set (made once, then reused)."""
    base = args.dir / f"base-{args.root}-{args.entities}-{args.days}"
    ready = base / ".bench-ready"
    if ready.exists():  # made by an older version, perhaps: `etl init` adds what is new, once, to the base
        subprocess.run([sys.executable, "-m", "etl", "init"], cwd=ROOT, env=bench_env(base, JINJIAN_LOG_LEVEL="ERROR"),
                       check=True, capture_output=True)
        return base
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    env = bench_env(base, JINJIAN_LOG_LEVEL="ERROR")
    t = time.perf_counter()
    for cmd in (["init"], ["demo", "--root", args.root, "--entities", str(args.entities), "--days", str(args.days)]):
        subprocess.run([sys.executable, "-m", "etl", *cmd], cwd=ROOT, env=env, check=True, capture_output=True)
    ready.write_text(dt.datetime.now().isoformat())
    print(f"(made the data set in {base} in {time.perf_counter() - t:.0f} s)")
    return base


def fresh_copy(base: Path, name: str) -> Path:
    target = base.parent / f"run-{name}"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base, target, symlinks=True, ignore=shutil.ignore_patterns(".bench-ready"))  # chDB: relative links
    return target


# ---------------------------------------------------------------------------- child processes
# Embedded chDB opens one data dir per process: every database step runs in a fresh
# spawned process that owns its copy of the data set.
def in_child(data_dir: Path, fn: Callable[..., Any], *args: Any) -> Any:
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_child, str(data_dir), fn, *args).result()


def _child(data_dir: str, fn: Callable[..., Any], *args: Any) -> Any:
    for k in CLEAN_ENV:
        os.environ.pop(k, None)
    os.environ.update({"JINJIAN_DATA_DIR": data_dir, "JINJIAN_SIMULATOR": "0", "JINJIAN_INBOX": "0"})
    from settings import configure_logging

    configure_logging("ERROR")
    return fn(*args)


def survey(root: str) -> dict[str, Any]:
    """(child) The data set's scale, its grids and its entities."""
    from store.db import get_db
    from store.executor import run

    db = get_db()
    one = lambda sql, **p: run(db, "bench_survey", sql, {"like": root + "%", **p})  # noqa: E731
    ents = one("SELECT credit_code, toString(reg_date) AS reg_date, toString(status) AS status FROM entities "
               "WHERE grid_code LIKE %(like)s")
    counts = {t: int(one(f"SELECT count() AS n FROM {t}")["n"].iloc[0]) for t in ("events", "tasks", "task_events")}
    name = one("SELECT name FROM regions WHERE code = %(c)s", c=root)
    return {
        "name": str(name["name"].iloc[0]) if not name.empty else root,
        "grids": sorted(one("SELECT code FROM regions WHERE level = 6 AND code LIKE %(like)s")["code"]),
        "codes": ents["credit_code"].tolist(), "reg_dates": ents["reg_date"].tolist(),
        "active": (ents["status"] == "active").tolist(),
        "span": one("SELECT toString(min(event_date)) AS a, toString(max(event_date)) AS b FROM events").iloc[0].tolist(),
        **counts}


# ---------------------------------------------------------------------------- generated records
class Records:
    """Realistic department records (field keys as in domain/sources.py)."""

    def __init__(self, info: dict[str, Any], seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        self.grids = np.array(info["grids"])
        active = np.array(info["active"])
        self.codes = np.array(info["codes"])[active]
        self.reg = np.array(info["reg_dates"], dtype="datetime64[D]")[active]
        self.known = set(info["codes"])
        self.place = info["name"]
        self.serial = 0
        self.industries = list(V.INDUSTRIES)
        self.ind_p = np.array([w for _, w in V.INDUSTRIES.values()])
        self.ind_p /= self.ind_p.sum()

    def _name(self, industry: str, etype: str) -> str:
        brand = "".join(self.rng.choice(V.BRAND_CHARS, 2))
        word = str(self.rng.choice(V.INDUSTRY_WORDS.get(industry) or ["商贸"]))
        suffix = {"enterprise": "有限公司", "individual": "店", "cooperative": "专业合作社"}[etype]
        return f"{self.place}{brand}{word}{suffix}" if etype == "enterprise" else f"{brand}{word}{suffix}"

    def _person(self) -> str:
        return str(self.rng.choice(V.SURNAMES)) + "".join(self.rng.choice(V.GIVEN, 2))

    def registrations(self, n: int, *, days_back: int = 60, stamp: str | None = None) -> list[dict[str, str]]:
        rng = self.rng
        grids = rng.choice(self.grids, n)
        etypes = rng.choice(["enterprise", "individual", "cooperative"], n, p=[0.35, 0.63, 0.02])
        codes = uscc.generate(rng, [g[:6] for g in grids], list(etypes))
        codes = [c for c in codes if c not in self.known]
        while len(codes) < n:  # a clash with a loaded entity (practically never): draw again
            codes += [c for c in uscc.generate(rng, [grids[0][:6]], ["individual"]) if c not in self.known]
        self.known.update(codes)
        today = np.datetime64(dt.date.today())
        days = rng.integers(0, days_back + 1, n)
        out = []
        for i in range(n):
            industry = str(rng.choice(self.industries, p=self.ind_p))
            etype = str(etypes[i])
            out.append({
                "credit_code": codes[i], "name": self._name(industry, etype), "entity_type": etype,
                "industry": industry, "grid_code": str(grids[i]),
                "event_time": stamp or str(today - days[i]), "legal_rep": self._person(),
                "capital": "" if etype == "individual" else f"{rng.lognormal(4, 1.2):.2f}"})
        return out

    def spoil(self, recs: list[dict[str, str]], share: float) -> int:
        """Make ``share`` of the records invalid, each in one of several ways; returns how many."""
        bad = self.rng.choice(len(recs), int(round(share * len(recs))), replace=False)
        future = str(np.datetime64(dt.date.today()) + 30)
        ways = [
            lambda r: r.update(credit_code=r["credit_code"][:-1] + ("0" if r["credit_code"][-1] != "0" else "1")),
            lambda r: r.update(grid_code=r["grid_code"][:12] + "999"),  # not a grid
            lambda r: r.update(event_time=future),
            lambda r: r.update(name=""),
            lambda r: r.update(entity_type="外资企业"),
            lambda r: r.update(capital="约五十万"),
            lambda r: r.update(event_time="2024/13/45"),
            lambda r: r.update(credit_code=recs[0]["credit_code"]),  # duplicate inside the batch
        ]
        for k, i in enumerate(sorted(bad)):
            ways[k % len(ways)](recs[int(i)])
        return len(bad)

    def inspections(self, n: int) -> list[dict[str, str]]:
        rng = self.rng
        idx = rng.integers(0, len(self.codes), n)
        now = np.datetime64(dt.datetime.now().replace(microsecond=0), "s")
        start = np.maximum(self.reg[idx].astype("datetime64[s]"), now - np.timedelta64(365, "D"))
        span = (now - np.timedelta64(3600, "s") - start).astype(np.int64)
        times = start + (rng.random(n) * np.maximum(span, 0)).astype("timedelta64[s]")
        fail = rng.random(n) < 0.08
        out = []
        for i in range(n):
            self.serial += 1
            out.append({"record_id": f"JC4419{self.serial:010d}", "credit_code": str(self.codes[idx[i]]),
                        "event_time": str(times[i]).replace("T", " "), "result": "发现问题" if fail[i] else "未发现问题",
                        "inspector": self._person(), "note": "证照不全，已责令整改" if fail[i] else ""})
        return out

    def complaints(self, n: int, tag: str) -> list[dict[str, str]]:
        rng = self.rng
        idx = rng.integers(0, len(self.codes), n)
        stamp = dt.datetime.now().replace(microsecond=0) - dt.timedelta(minutes=1)
        channels = ["12315平台", "热线", "来信", "来访"]
        out = []
        for i in range(n):
            self.serial += 1
            out.append({"complaint_no": f"TS{tag}{self.serial:09d}", "credit_code": str(self.codes[idx[i]]),
                        "event_time": f"{stamp:%Y-%m-%d %H:%M:%S}", "channel": str(rng.choice(channels)),
                        "content": f"{rng.choice(V.COMPLAINT_KINDS[0])}：消费者反映商品与宣传不符"})
        return out


def write_csv(path: Path, source: str, recs: list[dict[str, str]]) -> None:
    """A department's CSV: Chinese headers (sources.py), UTF-8 with BOM as Excel writes it."""
    from domain.sources import get_source

    fields = get_source(source).fields
    keys = [f.key for f in fields if any(f.key in r for r in recs[:50])]
    zh = {f.key: f.zh for f in fields}
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([zh[k] for k in keys])
        w.writerows([r.get(k, "") for k in keys] for r in recs)


def jsonl(recs: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in recs).encode()



def now_stamp() -> str:
    return f"{dt.datetime.now():%Y-%m-%d %H:%M:%S}"
