"""API and event-to-screen sections of ``bench/ingest.py``: the real app
(``python app.py``) in a subprocess, JSON-lines bodies posted to
``POST /api/v1/ingest/<source>``, and the wall in headless Chromium timed from a
posted registration until the 市场主体总量 tile changes."""
from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.ingest_data import ROOT, Records, bench_env, jsonl, load_avg, now_stamp
from bench.stats import pct

STOCK_TILE = "wall-kpi-stock-value"     # 市场主体总量: its data-value attribute is the exact count
LAG_LIMIT = 120  # s: a registration not on the wall by then stops the lag samples


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
            post(s, app, "registration", token, jsonl(recs.registrations(1, stamp=now_stamp())))  # warm
            try:
                page.wait_for_function(reached, arg=expected, timeout=LAG_LIMIT * 1000, polling=100)
            except PwTimeout:
                stalled = True
            page.wait_for_timeout(3000)
            rng = np.random.default_rng(3)
            calls.reset()
            for _ in range(0 if stalled else samples):
                expected = count() + 1
                body = jsonl(recs.registrations(1, stamp=now_stamp()))
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

