"""Benchmark: ingestion throughput and event-to-screen lag (embedded chDB).

Runs on a benchmark data set made once with ``python -m etl init`` and
``python -m etl demo`` in its own data dir (default
``/tmp/jinjian-bench-ingest/base-<root>-<entities>-<days>``, reused when present).
Every measurement starts from a fresh copy of that data set, so the figures do not
depend on earlier runs. It prints:

1. file ingestion: ``Ingestor.ingest_file`` on generated CSV files (registrations
   with valid credit codes in real grids, inspections of loaded entities, and a
   registration file with 10 % bad rows): rows/s and where the time goes
   (read, field checks, grid list, lookups, transform, quarantine, stage, publish);
2. small batches as the live simulator sends them (5-record JSON lines per
   source): ms per batch, SQL statements per batch, and a cProfile of one batch;
3. API ingestion: the real app (``python app.py``) in a subprocess, one client
   posting JSON-lines bodies of 1, 100 and 5,000 complaints to
   ``POST /api/v1/ingest/complaint``: requests/s, rows/s, p50/p95 latency;
4. event-to-screen lag: the wall ``/`` open in headless Chromium; one registration
   posted through the API, then the time until the 市场主体总量 tile changes
   (target p95 ≤ 5 s).

A benchmark, not a test: it prints figures and asserts nothing. Everything is
offline (Debian's Chromium, no browser download).

    .venv/bin/python bench/ingest.py [--quick] [--root 4419 --entities 50000 --days 400]
                                     [--sections files,small,api,lag] [--samples 30]
    .venv/bin/python bench/ingest.py --root 44 --entities 200000 --days 800   # the default demo
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import cProfile
import csv
import datetime as dt
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.stats import machine as cores_and_memory, pct  # noqa: E402
from etl import demo_names as V  # noqa: E402
from etl import uscc  # noqa: E402

DEFAULT_DIR = Path("/tmp/jinjian-bench-ingest")
SECTIONS = ("files", "small", "api", "lag")
STOCK_TILE = "wall-kpi-stock-value"     # 市场主体总量: its data-value attribute is the exact count
LAG_LIMIT = 120  # s: a registration not on the wall by then stops the lag samples
CLEAN_ENV = ("JINJIAN_CLICKHOUSE_URL", "JINJIAN_METADATA_URL", "JINJIAN_INGEST_DIR", "JINJIAN_REPORT_DIR",
             "JINJIAN_INGEST_CRASH_AT")


# ---------------------------------------------------------------------------- machine, data set
def machine() -> str:
    import chdb

    return f"machine: {cores_and_memory()}, {platform.machine()}, embedded chDB {chdb.__version__}; {load_avg()} at start"


def load_avg() -> str:
    """The 1-minute load average: other work on the machine skews every figure here."""
    return f"load avg {os.getloadavg()[0]:.2f}"


def bench_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env.update({"JINJIAN_DATA_DIR": str(data_dir), "JINJIAN_SIMULATOR": "0", "JINJIAN_INBOX": "0",
                "JINJIAN_REPORT_SCHEDULER": "0"}, **extra)
    return env


def base_dataset(args: argparse.Namespace) -> Path:
    """The benchmark data set (made once, then reused)."""
    base = args.dir / f"base-{args.root}-{args.entities}-{args.days}"
    ready = base / ".bench-ready"
    if ready.exists():
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
    from queries.db import get_db
    from queries.executor import run

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
    """Realistic department records (field keys as in etl/ingest/sources.py)."""

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
    from etl.ingest.sources import get_source

    fields = get_source(source).fields
    keys = [f.key for f in fields if any(f.key in r for r in recs[:50])]
    zh = {f.key: f.zh for f in fields}
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([zh[k] for k in keys])
        w.writerows([r.get(k, "") for k in keys] for r in recs)


def jsonl(recs: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in recs).encode()


# ---------------------------------------------------------------------------- timing the phases (child)
PHASES = ("read", "check", "grids", "lookups", "transform", "quarantine", "stage", "publish")


class Probe:
    """Wraps the ingestion steps and the engine's methods to time them (this process only)."""

    def __init__(self, db: Any) -> None:
        from etl.ingest import batch, lookups, readers, transform

        self.t: dict[str, float] = defaultdict(float)
        self.sql: list[tuple[str, float]] = []
        self._saved: list[tuple[Any, str, Any]] = []
        for mod, attr, label in ((readers, "read_bytes", "read"), (batch, "check_fields", "check"),
                                 (lookups, "known_grids", "grids"), (lookups, "check_loaded", "lookups"),
                                 (transform, "build", "transform"), (batch.Ingestor, "_quarantine", "quarantine"),
                                 (batch.Ingestor, "_stage", "stage"), (batch.Ingestor, "_publish", "publish")):
            self._saved.append((mod, attr, getattr(mod, attr)))
            setattr(mod, attr, self._timed(getattr(mod, attr), label))
        for meth in ("query", "command", "insert"):
            setattr(db, meth, self._sql(getattr(db, meth), meth))
        self._saved += [(db, meth, None) for meth in ("query", "command", "insert")]

    def remove(self) -> None:
        """Put the original functions back (the profile should not see the wrappers)."""
        for obj, attr, orig in reversed(self._saved):
            if orig is None:
                delattr(obj, attr)  # the instance attribute: the class's method shows through again
            else:
                setattr(obj, attr, orig)
        self._saved.clear()

    def _timed(self, fn: Callable, label: str) -> Callable:
        def wrapper(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.t[label] += time.perf_counter() - t
        return wrapper

    def _sql(self, fn: Callable, meth: str) -> Callable:
        def wrapper(arg: Any, *rest: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(arg, *rest)
            finally:
                self.sql.append((_sql_label(meth, arg), time.perf_counter() - t))
        return wrapper

    def reset(self) -> None:
        self.t.clear()
        self.sql.clear()


def _sql_label(meth: str, arg: str) -> str:
    if meth == "insert":
        return f"insert {arg}"
    text = " ".join(arg.split())
    m = re.match(r"(SELECT|INSERT INTO|ALTER TABLE)\s+(\S+)", text)
    if not m:
        return text[:40]
    if m[1] == "SELECT":
        tables = re.findall(r"\bFROM\s+(\w+(?:\.\w+)?)", text)
        return "select " + (tables[0] if tables else "?")
    if m[1] == "ALTER TABLE":
        return f"alter {m[2]} " + ("drop partition" if "DROP PARTITION" in text else "delete")
    return f"insert…select {m[2]}"


def load_file(path: str, source: str, scope: str, warm: dict[str, bytes]) -> dict[str, Any]:
    """(child) Load one file on this process's fresh database; time its phases."""
    from etl.ingest.batch import Ingestor
    from queries.db import get_db

    db = get_db()
    ing = Ingestor(db)
    for src, body in warm.items():  # first-use costs (imports, calendars, boundaries) out of the figures
        ing.ingest_bytes(src, body, file_name=f"warm-{src}.jsonl", fmt="jsonl", scope=scope)
    probe = Probe(db)
    res = ing.ingest_file(path, source, scope=scope)
    return {"rows_in": res.rows_in, "loaded": res.rows_loaded, "rejected": res.rows_rejected,
            "seconds": res.seconds, "phases": dict(probe.t), "sql": len(probe.sql),
            "sql_s": sum(s for _, s in probe.sql), "state": res.state, "message": res.message}


def small_batches(root: str, per_source: int, batch_rows: int) -> dict[str, Any]:
    """(child) Simulator-style batches (``batch_rows`` JSON lines each) per source, timed and profiled."""
    from etl.ingest.batch import Ingestor
    from etl.ingest.simulator import Simulator
    from queries.db import get_db

    db = get_db()
    ing = Ingestor(db)
    sim = Simulator(ing, root, rate=2, seed=11)
    sim.step(40)  # warm: first-use costs, and the simulator's pools
    by_source: dict[str, list[dict]] = defaultdict(list)
    while min((len(by_source[s]) for s in ("registration", "inspection", "complaint", "task_feedback")),
              default=0) < batch_rows * (per_source + 1):
        for src, recs in sim.records(400).items():
            by_source[src].extend(recs)
    probe = Probe(db)
    out: dict[str, Any] = {"sources": {}}
    for src in ("registration", "inspection", "complaint", "task_feedback"):
        recs = by_source[src]
        times, sqls, sql_s, phases = [], [], [], defaultdict(list)
        for i in range(per_source):
            body = jsonl(recs[i * batch_rows:(i + 1) * batch_rows])
            probe.reset()
            res = ing.ingest_bytes(src, body, file_name=f"simulator-{src}.jsonl", fmt="jsonl", unit="bench",
                                   scope=root)
            times.append(res.seconds)
            sqls.append(len(probe.sql))
            sql_s.append(sum(s for _, s in probe.sql))
            for k in PHASES:
                phases[k].append(probe.t.get(k, 0.0))
        out["sources"][src] = {"times": times, "sql": statistics.median(sqls), "sql_s": statistics.median(sql_s),
                               "phases": {k: statistics.median(v) for k, v in phases.items()},
                               "loaded": res.rows_loaded, "rows": res.rows_in}
    # One registration batch statement by statement, then a cProfile of another.
    recs = by_source["registration"]
    probe.reset()
    ing.ingest_bytes("registration", jsonl(recs[-2 * batch_rows:-batch_rows]), file_name="simulator-registration.jsonl",
                     fmt="jsonl", unit="bench", scope=root)
    out["statements"] = list(probe.sql)
    probe.remove()
    prof = cProfile.Profile()
    body = jsonl(recs[-batch_rows:])
    prof.enable()
    ing.ingest_bytes("registration", body, file_name="simulator-registration.jsonl", fmt="jsonl", unit="bench",
                     scope=root)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(22)
    out["profile"] = buf.getvalue()
    return out


# ---------------------------------------------------------------------------- the app subprocess
class App:
    """``python app.py`` on a free port over ``data_dir``; always stopped by :meth:`stop`."""

    def __init__(self, data_dir: Path, root: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = bench_env(data_dir, JINJIAN_PORT=str(self.port), JINJIAN_HOST="127.0.0.1",
                             JINJIAN_ROOT_REGION=root, JINJIAN_DEBUG="0")
        self.log = (data_dir / "app.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 180.0) -> float:
        import requests

        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if requests.get(f"{self.url}/api/v1/openapi.json", timeout=2).ok:
                    return time.perf_counter() - t0
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"the app did not answer within {timeout:.0f} s; see {self.log.name}")

    def token(self, source: str, root: str) -> str:
        out = subprocess.run([sys.executable, "-m", "etl", "token", "add", "--source", source, "--unit", "bench",
                              "--region", root], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True)
        return next(line.strip() for line in out.stdout.splitlines() if line.strip().startswith("jj_"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the app's own process group (start_new_session)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        self.log.close()


def post(session: Any, app: App, source: str, token: str, body: bytes) -> tuple[float, dict]:
    t = time.perf_counter()
    r = session.post(f"{app.url}/api/v1/ingest/{source}", data=body, timeout=600,
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
    elapsed = time.perf_counter() - t
    if r.status_code != 200:
        raise RuntimeError(f"POST {source} → {r.status_code}: {r.text[:300]}")
    return elapsed, r.json()


def api_throughput(app: App, recs: Records, root: str, plan: list[tuple[int, int]]) -> None:
    import requests

    token = app.token("complaint", root)
    with requests.Session() as s:
        post(s, app, "complaint", token, jsonl(recs.complaints(1, "W")))  # warm: first request of the process
        print(f"API ingestion (POST /api/v1/ingest/complaint, JSON lines, one client, sequential, keep-alive; "
              f"{load_avg()}):")
        for size, n in plan:
            bodies = [jsonl(recs.complaints(size, "A")) for _ in range(n)]
            lat, loaded, rejected = [], 0, 0
            t0 = time.perf_counter()
            for body in bodies:
                secs, ans = post(s, app, "complaint", token, body)
                lat.append(secs)
                loaded += ans["rows_loaded"]
                rejected += ans["rows_rejected"]
            total = time.perf_counter() - t0
            note = f"  ({rejected} rejected!)" if rejected else ""
            print(f"  {size:>5,} rows/body × {n:3d}: p50 {1000 * statistics.median(lat):7.0f} ms  p95 "
                  f"{1000 * pct(lat, 0.95):7.0f} ms  max {1000 * max(lat):7.0f} ms | {n / total:6.2f} req/s  "
                  f"{loaded / total:8,.0f} rows/s{note}")


def screen_lag(app: App, recs: Records, root: str, samples: int) -> None:
    import requests
    from playwright.sync_api import TimeoutError as PwTimeout
    from playwright.sync_api import sync_playwright

    from reports.pdf import FLAGS

    token = app.token("registration", root)
    chromium = os.environ.get("JINJIAN_CHROMIUM", "").strip() or "/usr/bin/chromium"
    read = f"() => document.getElementById('{STOCK_TILE}')?.dataset.value || ''"
    # The exact count (data-value, e.g. "50,123"): shown once it reaches the expected count.
    reached = (f"want => {{ const e = document.getElementById('{STOCK_TILE}'); "
               "return !!e && !!e.dataset.value && Number(e.dataset.value.replace(/,/g, '')) >= want; }")
    lags, api_s, wrong, stalled = [], [], 0, False
    with sync_playwright() as p, requests.Session() as s:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            calls = WallCalls(page)
            t = time.perf_counter()
            page.goto(f"{app.url}/", wait_until="domcontentloaded", timeout=120_000)
            page.wait_for_function(f"() => ({read})() !== ''", timeout=120_000, polling=100)
            first = time.perf_counter() - t
            count = lambda: int(page.evaluate(read).replace(",", ""))  # noqa: E731
            expected = count() + 1
            post(s, app, "registration", token, jsonl(recs.registrations(1, stamp=_now())))  # warm
            try:
                page.wait_for_function(reached, arg=expected, timeout=LAG_LIMIT * 1000, polling=100)
            except PwTimeout:
                stalled = True
            page.wait_for_timeout(3000)
            rng = np.random.default_rng(3)
            calls.reset()
            for _ in range(0 if stalled else samples):
                expected = count() + 1
                body = jsonl(recs.registrations(1, stamp=_now()))
                t0 = time.perf_counter()
                secs, ans = post(s, app, "registration", token, body)
                try:
                    page.wait_for_function(reached, arg=expected, timeout=LAG_LIMIT * 1000, polling=50)
                except PwTimeout:
                    stalled = True
                    break
                lags.append(time.perf_counter() - t0)
                api_s.append(secs)
                if ans["rows_loaded"] != 1 or count() != expected:
                    wrong += 1
                page.wait_for_timeout(float(rng.uniform(2000, 3000)))
        finally:
            browser.close()
    print(f"event-to-screen lag (registration POSTed → 市场主体总量 tile changes in headless Chromium; wall-live "
          f"every {os.environ.get('JINJIAN_WALL_LIVE_SECONDS', '1')} s; first wall paint {first:.1f} s; "
          f"{load_avg()}):")
    if lags:
        print(f"  n={len(lags)}  p50 {statistics.median(lags):5.2f} s  p95 {pct(lags, 0.95):5.2f} s  max "
              f"{max(lags):5.2f} s  (of which the POST's answer: p50 {1000 * statistics.median(api_s):.0f} ms, "
              f"p95 {1000 * pct(api_s, 0.95):.0f} ms)  target p95 ≤ 5 s: "
              f"{'met' if pct(lags, 0.95) <= 5 else 'NOT met'}")
    if stalled:
        print(f"  a posted registration was still not on the wall {LAG_LIMIT} s later: sampling stopped after "
              f"{len(lags)} samples")
    if wrong:
        print(f"  {wrong} samples did not show exactly +1")
    print("  " + calls.summary())


class WallCalls:
    """Times the wall's Dash callback requests seen by the browser (the tiles' ``refresh``
    and the ``wall-live`` version check), to tell server time from waiting."""

    def __init__(self, page: Any) -> None:
        self.started: dict[Any, tuple[str, float]] = {}
        self.done: dict[str, list[float]] = defaultdict(list)
        self.sent: Counter[str] = Counter()
        self.triggers: Counter[str] = Counter()
        page.on("request", self._request)
        page.on("requestfinished", self._finished)
        page.on("requestfailed", lambda req: self.started.pop(req, None))

    def _request(self, req: Any) -> None:
        if "_dash-update-component" not in req.url:
            return
        body = req.post_data or ""
        kind = ("refresh" if "wall-kpi-stock.children" in body else "live" if "wall-data-version.data" in body
                else "")
        if kind:
            self.sent[kind] += 1
            self.started[req] = (kind, time.perf_counter())
            if kind == "refresh":
                try:
                    for prop in json.loads(body).get("changedPropIds") or ["(none)"]:
                        self.triggers[prop] += 1
                except ValueError:
                    pass

    def _finished(self, req: Any) -> None:
        hit = self.started.pop(req, None)
        if hit:
            self.done[hit[0]].append(time.perf_counter() - hit[1])

    def reset(self) -> None:
        self.done.clear()
        self.sent.clear()
        self.triggers.clear()

    def summary(self) -> str:
        parts = []
        for kind, what in (("refresh", "tile refresh callback"), ("live", "wall-live version check")):
            xs = self.done.get(kind, [])
            if xs:
                parts.append(f"{what}: {self.sent[kind]} sent, {len(xs)} answered, p50 {1000 * statistics.median(xs):.0f} "
                             f"ms, p95 {1000 * pct(xs, 0.95):.0f} ms, max {1000 * max(xs):.0f} ms")
        if self.triggers:
            parts.append("refresh triggered by " + ", ".join(f"{k} ×{v}" for k, v in self.triggers.most_common()))
        return "; ".join(parts) or "no wall callbacks seen"


def _now() -> str:
    return f"{dt.datetime.now():%Y-%m-%d %H:%M:%S}"


# ---------------------------------------------------------------------------- printing
def print_files(results: list[tuple[str, dict]]) -> None:
    print("file ingestion (Ingestor.ingest_file, CSV UTF-8 with Chinese headers, scope = root, each on a fresh "
          f"copy of the data set; seconds per phase; {load_avg()}):")
    head = "  ".join(f"{k:>6s}" for k in ("read", "check", "lookup", "transf", "quar", "stage", "publ", "other",
                                         "in SQL"))
    print(f"  {'file':28s} {'rows':>8s} {'loaded':>8s} {'rejected':>8s} {'seconds':>8s} {'rows/s':>8s} | {head}")
    for label, r in results:
        ph = r["phases"]
        cols = [ph.get("read", 0), ph.get("check", 0), ph.get("grids", 0) + ph.get("lookups", 0),
                ph.get("transform", 0), ph.get("quarantine", 0), ph.get("stage", 0), ph.get("publish", 0)]
        cols.append(max(0.0, r["seconds"] - sum(cols)))
        cols.append(r["sql_s"])
        print(f"  {label:28s} {r['rows_in']:8,} {r['loaded']:8,} {r['rejected']:8,} {r['seconds']:8.2f} "
              f"{r['rows_in'] / r['seconds']:8,.0f} | " + "  ".join(f"{c:6.2f}" for c in cols)
              + (f"  [{r['state']}: {r['message']}]" if r["state"] != "loaded" else ""))
    print("  (check = field checks incl. credit-code and date parsing; lookup = grid list + checks against loaded "
          "data; publish = INSERT…SELECT from stage + batch record + DROP PARTITION; other = archive write, "
          "batch state; in SQL = of all phases, the time inside chDB calls, {n} statements)".format(
        n="/".join(str(r["sql"]) for _, r in results)))


def print_small(r: dict[str, Any], batch_rows: int) -> None:
    print(f"small batches ({batch_rows} JSON lines each, as the live simulator sends them; ms per batch, "
          f"medians of the phases; {load_avg()}):")
    for src, s in r["sources"].items():
        ph = s["phases"]
        parts = "  ".join(f"{k} {1000 * ph[k]:.0f}" for k in PHASES if ph.get(k, 0) >= 0.0005)
        t = s["times"]
        print(f"  {src:13s} n={len(t):3d}  p50 {1000 * statistics.median(t):5.0f} ms  p95 {1000 * pct(t, 0.95):5.0f} ms"
              f" | {s['sql']:.0f} SQL statements, {1000 * s['sql_s']:.0f} ms in chDB | {parts}")
    stm = r["statements"]
    total = sum(s for _, s in stm)
    grouped: dict[str, list[float]] = defaultdict(list)
    for label, secs in stm:
        grouped[label].append(secs)
    print(f"  one registration batch, statement by statement ({len(stm)} statements, {1000 * total:.0f} ms):")
    for label, xs in sorted(grouped.items(), key=lambda kv: -sum(kv[1])):
        print(f"    {len(xs):2d} × {label:42s} {1000 * sum(xs):6.1f} ms")
    print("  cProfile of one registration batch (top cumulative):")
    text = r["profile"].replace(str(ROOT) + "/", "")
    text = re.sub(r"\S*/site-packages/", "", text)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    for ln in lines[start:]:
        print("    " + ln[:150])


# ---------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="4419", help="demo root region (default 4419 Dongguan)")
    ap.add_argument("--entities", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="benchmark data sets and run copies")
    ap.add_argument("--quick", action="store_true", help="small files, few repeats (a couple of minutes)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--samples", type=int, default=None, help="event-to-screen samples (default 30; quick 8)")
    ap.add_argument("--keep", action="store_true", help="keep the run copies (data dirs, files, app log)")
    args = ap.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}")
    q = args.quick
    started = time.perf_counter()
    print(machine())
    base = base_dataset(args)
    info = in_child(base, survey, args.root)
    print(f"data set: root {args.root} {info['name']}, {len(info['codes']):,} entities "
          f"({sum(info['active']):,} active), {len(info['grids']):,} grids, {info['events']:,} events "
          f"({info['span'][0]}..{info['span'][1]}), {info['tasks']:,} tasks, {info['task_events']:,} task events; "
          f"{base}{'; --quick' if q else ''}")
    recs = Records(info)
    files_dir = args.dir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    copies: list[Path] = []
    ok = False
    try:
        if "files" in sections:
            n_small, n_big = (1_000, 10_000) if q else (10_000, 100_000)
            plan = [(f"registration {n_small:,}", "registration", recs.registrations(n_small), 0.0),
                    (f"registration {n_big:,}", "registration", recs.registrations(n_big), 0.0),
                    (f"inspection {n_big:,}", "inspection", recs.inspections(n_big), 0.0),
                    (f"registration {n_small:,}, 10 % bad", "registration", recs.registrations(n_small), 0.1)]
            results = []
            for i, (label, source, rows, bad) in enumerate(plan):
                if bad:
                    recs.spoil(rows, bad)
                path = files_dir / f"{i}-{source}-{len(rows)}{'-bad' if bad else ''}.csv"
                write_csv(path, source, rows)
                warm = {"registration": jsonl(recs.registrations(1, stamp=_now())),
                        "inspection": jsonl(recs.inspections(1))}
                copy = fresh_copy(base, f"file{i}")
                copies.append(copy)
                results.append((label, in_child(copy, load_file, str(path), source, args.root, warm)))
                if not args.keep:
                    shutil.rmtree(copy, ignore_errors=True)
            print_files(results)
        if "small" in sections:
            copy = fresh_copy(base, "small")
            copies.append(copy)
            print_small(in_child(copy, small_batches, args.root, 5 if q else 20, 5), 5)
        if "api" in sections or "lag" in sections:
            copy = fresh_copy(base, "app")
            copies.append(copy)
            app = App(copy, args.root)
            try:
                ready = app.wait_ready()
                print(f"app: python app.py on {app.url} (ready in {ready:.1f} s; embedded chDB on a fresh copy; "
                      "simulator, inbox and report scheduler off; log {})".format(app.log.name))
                if "api" in sections:
                    plan = [(1, 20), (100, 10), (5000, 2)] if q else [(1, 100), (100, 40), (5000, 8)]
                    api_throughput(app, recs, args.root, plan)
                if "lag" in sections:
                    screen_lag(app, recs, args.root, args.samples or (8 if q else 30))
            finally:
                app.stop()
        ok = True
    finally:
        if ok and not args.keep:
            for c in copies:
                shutil.rmtree(c, ignore_errors=True)
            shutil.rmtree(files_dir, ignore_errors=True)
    print(f"bench run time {time.perf_counter() - started:.0f} s; {load_avg()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
