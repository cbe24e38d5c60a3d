"""Helpers of bench/pages.py: pages and loads, the app process it starts, signals, leftover
browsers, the app's SQL and access logs, and the detail tables it prints."""
from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUIET_MS = 500  # settled: no callback in flight and no long task for this long
FHD, UHD = (1920, 1080), (3840, 2160)
DEMO_PASSWORD = "Jinjian-demo-2026"  # etl users demo (auth/cli_users.py)


@dataclass(frozen=True)
class Page:
    key: str
    label: str
    path: str  # may hold {root} {city} {town} {entity}
    viewport: tuple[int, int] = FHD
    warm_budget: float = 2.0
    cold_budget: float | None = 3.0


PAGES: tuple[Page, ...] = (
    Page("wall", "wall", "/"),
    Page("wall4k", "wall", "/", UHD, 3.0, None),
    Page("city", "region (city)", "/region/{city}"),
    Page("town", "region (town)", "/region/{town}"),
    Page("risk", "risk", "/risk"),
    Page("tasks", "tasks", "/tasks"),
    Page("reports", "reports", "/reports"),
    Page("report", "report", "/report"),
    Page("quality", "quality", "/quality"),
    Page("indicators", "indicators", "/indicators"),
    Page("entity", "entity", "/entity/{entity}"),
    Page("random", "random", "/random"), Page("joint", "joint", "/joint"),
)

# Runs in every document before its own scripts: counts Dash callbacks in flight and
# long tasks, and records each callback (first output, trigger, start, end, status).
class App:
    """``python app.py`` as ``make run`` starts it (live simulator on, login required) over
    its own data directory, on a free loopback port; always stopped by :meth:`stop`."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "JINJIAN_DATA_DIR": str(data_dir), "JINJIAN_HOST": "127.0.0.1",
                    "JINJIAN_PORT": str(self.port), "JINJIAN_DEBUG": "0"}
        self.env.setdefault("JINJIAN_SIMULATOR", "1")  # as make run: JINJIAN_SIMULATOR=${JINJIAN_SIMULATOR:-1}
        self.env.setdefault("JINJIAN_LOG_LEVEL", "INFO")  # store/sql.py logs every query's name and ms at INFO
        self.log_path = log_path
        self.log = None
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    def prepare(self) -> None:
        """``make data`` and the demo accounts of ``make run``, in this data directory."""
        for cmd in (["init"], ["demo", "--if-absent"], ["users", "demo"]):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "etl", *cmd], cwd=ROOT, env=self.env, capture_output=True,
                                 text=True)
            if out.returncode != 0:
                raise RuntimeError(f"etl {' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
            last = next((ln for ln in reversed(out.stdout.splitlines()) if ln.strip()), "")
            print(f"  etl {' '.join(cmd)}: {time.perf_counter() - t:.1f} s — {last.strip()[:140]}", flush=True)

    def start(self, timeout: float = 180.0) -> float:
        import requests

        self.log = self.log_path.open("wb")
        self.started_at = time.time()
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"the app did not answer within {timeout:.0f} s; see {self.log_path}")

    def wait_startup_work(self, sig: "Signals") -> str:
        """Wait (from the log) for the work the app does once after its start, so the runs
        measure a settled server: the jurisdiction's region maps (up to 3 minutes) and
        today's risk snapshot — built at start unless a current one exists (restarted
        within JINJIAN_RISK_SNAPSHOT_SECONDS of the last), so waited for up to 30 s only.
        With the simulator on, the refresher rebuilds the snapshot every 5 minutes (the
        default): during the runs too, as on any ``make run`` server."""
        marks = {"region maps": (re.compile(r"region maps prepared"), 180.0),
                 "risk snapshot": (re.compile(r"risk snapshot \S+ for .*entities in|risk snapshots off"), 30.0)}
        t0 = time.perf_counter()
        seen: dict[str, str] = {}
        while any(k not in seen and time.perf_counter() - t0 < limit for k, (_, limit) in marks.items()):
            sig.check()
            text = self.log_path.read_text(errors="replace")
            for k, (rx, _) in marks.items():
                m = rx.search(text)
                if m and k not in seen:
                    line = text[text.rfind("\n", 0, m.start()) + 1:text.find("\n", m.end())]
                    seen[k] = line.split(": ", 1)[-1].strip()
            time.sleep(0.5)
        return "; ".join([seen.get(k) or f"no {k} within {limit:.0f} s" for k, (_, limit) in marks.items()])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # its own process group (start_new_session)
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        if self.log is not None:
            self.log.close()
            self.log = None


# ---------------------------------------------------------------------------- signals, the browser's processes
class Signals:
    """While the browser runs, SIGTERM/SIGINT/SIGHUP are noted, not raised at once: raised
    inside a Playwright call, the exception breaks Playwright's event loop and leaves
    Chromium running. :meth:`check`, called between steps and every half second while a
    page loads, ends the run through ``store.lifecycle.Terminated`` from there, so the
    ``finally`` blocks close the browser and stop the app."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "Signals":
        from store.lifecycle import SIGNAL_EXIT

        for sig in SIGNAL_EXIT:
            self._old[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _note(self, signum: int, frame: Any) -> None:  # noqa: ARG002 - signal handler signature
        self.signum = self.signum or signum

    def check(self) -> None:
        if self.signum is not None:
            from store.lifecycle import Terminated

            raise Terminated(self.signum)


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
                out.append(int(d.name))
    return out


def browser_pids() -> list[int]:
    """Chromium processes started by this process's Playwright driver (its grandchildren)."""
    return [b for d in child_pids(os.getpid()) for b in child_pids(d)]


def kill_leftovers(pids: list[int]) -> None:
    """SIGKILL the browser processes recorded at launch that are still there (after a
    clean close there are none)."""
    for pid in pids:
        try:
            if "chrom" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


# ---------------------------------------------------------------------------- one load
@dataclass
class Load:
    settle: float | None  # seconds from navigation; None: did not settle in time
    origin: float = 0.0  # epoch seconds of navigation start
    calls: list[dict[str, Any]] = field(default_factory=list)
    longtask_ms: float = 0.0
    longtasks: int = 0
    errors: int = 0
    note: str = ""
    server_ms: dict[str, float] = field(default_factory=dict)  # callback → ms replayed alone (see replay)

    @property
    def n_calls(self) -> int:
        return len(self.calls)


LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ store\.sql: (query|command) (\S+) engine=\S+ "
                      r"ms=([\d.]+)")
#: Query names of the app's background work (the live simulator's ingestion batches, rollup
#: reconciliation), listed apart from the page's own; commands (INSERT … SELECT of the risk
#: snapshots, ingestion's publishing) are background work too.
BACKGROUND = ("ingest_", "sim_", "rollup_", "go_live_dates", "command ")


def background(name: str) -> bool:
    return name.startswith(BACKGROUND)


ACCESS_LINE = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ jinjian\.access: \S+ '
                         r'"POST /_dash-update-component[^"]*" (\d+) (\d+) (\d+) ms')


def _stamp(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


class AppLog:
    """The app's log, read once after the runs: every query (store/sql.py: name and ms, at
    INFO) and every callback request (the access log: status, bytes, server ms)."""

    def __init__(self, path: Path) -> None:
        self.queries: list[tuple[float, float, str, float]] = []  # start, end, name, ms
        self.requests: list[tuple[float, int, float]] = []  # end, bytes, ms
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return
        for line in text.splitlines():
            m = LOG_LINE.match(line)
            if m:
                end, ms = _stamp(m.group(1)), float(m.group(4))
                name = m.group(3) if m.group(2) == "query" else f"command {m.group(3)}"
                self.queries.append((end - ms / 1000, end, name, ms))
                continue
            m = ACCESS_LINE.match(line)
            if m:
                self.requests.append((_stamp(m.group(1)), int(m.group(3)), float(m.group(4))))

    def queries_in(self, ld: Load) -> dict[str, list[float]]:
        """Per query name, the ms of the queries that ran (at least partly) while ``ld`` loaded."""
        if ld.settle is None:
            return {}
        lo, hi = ld.origin, ld.origin + ld.settle
        out: dict[str, list[float]] = defaultdict(list)
        for start, end, name, ms in self.queries:
            if end >= lo and start <= hi:
                out[name].append(ms)
        return out

    def match(self, ld: Load) -> dict[int, float]:
        """Server ms of ``ld``'s callbacks (by index): the logged request of the same response
        size that ended closest before the page read it."""
        out: dict[int, float] = {}
        used: set[int] = set()
        for i, c in enumerate(ld.calls):
            if not c.get("bytes") or c["t1"] is None:
                continue
            read = ld.origin + c["t1"] / 1000
            sent = ld.origin + c["t0"] / 1000
            best = None
            for j, (end, size, ms) in enumerate(self.requests):
                if j in used or size != c["bytes"] or not sent - 0.05 <= end <= read + 0.05:
                    continue
                if best is None or end > self.requests[best][0]:
                    best = j
            if best is not None:
                used.add(best)
                out[i] = self.requests[best][2]
        return out


# ---------------------------------------------------------------------------- output
def fmt_s(x: float | None, budget: float | None, timeout: float) -> str:
    if x is None:
        return f">{timeout:.0f}"
    return f"{x:.2f}" + (" OVER" if budget is not None and x > budget else "")


def med(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    if not vals or len(vals) < len(xs) / 2:
        return None
    return statistics.median(vals)


def budget_text(p: Page) -> str:
    return f"{p.warm_budget:g} s warm" + (f" / {p.cold_budget:g} s cold" if p.cold_budget is not None else "")


def call_name(c: dict[str, Any]) -> str:
    return c["out"] + (f" (+{c['n'] - 1})" if c.get("n", 1) > 1 else "")


def print_details(results: dict[str, dict[str, list[Load]]], pages: list[Page], log: AppLog | None,
                  top: int) -> None:
    print("\nPer page (medians over runs): long main-thread tasks; the slowest callbacks — first output, ms from "
          "request to last byte read in the page (cold / warm)"
          + (", the server's part of it from the app's access log (cold / warm)" if log is not None else "")
          + ", the same request replayed alone after the warm load, how often per load (cold / warm), response "
            "size"
          + ("; then the SQL that ran while the page loaded (summed ms per query name, cold / warm, × per load; "
             "from the app's log)" if log is not None else ""))
    for p in pages:
        runs = results.get(p.key)
        if not runs:
            continue
        print(f"\n{p.label} {p.viewport[0]}×{p.viewport[1]}  {runs['url'][0]}")  # type: ignore[index]
        page_ms: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"cold": [], "warm": []})
        server: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"cold": [], "warm": []})
        counts: dict[str, dict[str, int]] = defaultdict(lambda: {"cold": 0, "warm": 0})
        size: dict[str, list[int]] = defaultdict(list)
        alone: dict[str, list[float]] = defaultdict(list)
        trig: dict[str, Counter[str]] = defaultdict(Counter)
        for kind in ("cold", "warm"):
            loads: list[Load] = runs[kind]  # type: ignore[assignment]
            for ld in loads:
                matched = log.match(ld) if log is not None else {}
                for i, c in enumerate(ld.calls):
                    if c["t1"] is None:
                        continue
                    name = call_name(c)
                    page_ms[name][kind].append(c["t1"] - c["t0"])
                    counts[name][kind] += 1
                    trig[name][c.get("trig") or "(initial)"] += 1
                    if c.get("bytes"):
                        size[name].append(c["bytes"])
                    if i in matched:
                        server[name][kind].append(matched[i])
                for name, ms in ld.server_ms.items():
                    alone[name].append(ms)
            lt = med([ld.longtask_ms for ld in loads])
            n_lt = med([ld.longtasks for ld in loads])
            notes = sorted({ld.note for ld in loads if ld.note})
            errs = sorted({f"{call_name(c)} → {c['status'] if c['status'] >= 0 else 'network error'}"
                           for ld in loads for c in ld.calls if c["status"] not in (200, 204)})
            print(f"  {kind}: long tasks {n_lt or 0:.0f} ({lt or 0:,.0f} ms)"
                  + (f"; callbacks not answered 200/204: {', '.join(errs)}" if errs else "")
                  + (f"; {'; '.join(notes)}" if notes else ""))
        n_runs = max(1, len(runs["cold"]))  # type: ignore[arg-type]

        def pair(d: dict[str, list[float]]) -> str:
            return " / ".join(f"{statistics.median(d[k]):,.0f}" if d[k] else "—" for k in ("cold", "warm"))

        head = f"    {'in page':>15}" + (f"  {'server':>15}" if log is not None else "") + f"  {'alone':>6}  " \
               f"{'× load':7s} {'size':>8s}  callback"
        print(head)
        ranked = sorted(page_ms.items(), key=lambda kv: -max(max(kv[1]["cold"] or [0]), max(kv[1]["warm"] or [0])))
        for name, d in ranked[:top]:
            solo = f"{statistics.median(alone[name]):,.0f}" if alone[name] else "—"
            times = f"{counts[name]['cold'] / n_runs:.2g}/{counts[name]['warm'] / n_runs:.2g}"
            kb = f"{statistics.median(size[name]) / 1024:,.0f} KB" if size[name] else ""
            print(f"    {pair(d):>15}" + (f"  {pair(server[name]):>15}" if log is not None else "")
                  + f"  {solo:>6}  {times:7s} {kb:>8s}  {name}")
            if counts[name]["cold"] + counts[name]["warm"] > 2 * n_runs:  # fired again while loading: by what
                print(" " * 12 + "fired by: " + ", ".join(f"{t} ×{n / (2 * n_runs):.2g}"
                                                         for t, n in trig[name].most_common(4)))
        if log is None:
            continue
        sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"cold": [], "warm": []})
        nq: dict[str, dict[str, int]] = defaultdict(lambda: {"cold": 0, "warm": 0})
        for kind in ("cold", "warm"):
            for ld in runs[kind]:  # type: ignore[union-attr]
                for name, mss in log.queries_in(ld).items():
                    sums[name][kind].append(sum(mss))
                    nq[name][kind] += len(mss)
        own = {n: d for n, d in sums.items() if not background(n)}
        tot = {k: sum(sum(v[k]) for v in own.values()) / n_runs for k in ("cold", "warm")}
        bgt = {k: sum(sum(v[k]) for n, v in sums.items() if background(n)) / n_runs for k in ("cold", "warm")}
        print(f"    SQL of screens {tot['cold']:,.0f} / {tot['warm']:,.0f} ms summed (the app's background work "
              f"meanwhile — simulator batches, rollup upkeep — {bgt['cold']:,.0f} / {bgt['warm']:,.0f} ms); "
              f"top query names:")
        ranked_q = sorted(own.items(), key=lambda kv: -(sum(kv[1]["cold"]) + sum(kv[1]["warm"])))
        for name, d in ranked_q[:top]:
            print(f"    {sum(d['cold']) / n_runs:>7,.0f} / {sum(d['warm']) / n_runs:>7,.0f} ms  "
                  f"×{nq[name]['cold'] / n_runs:.2g}/{nq[name]['warm'] / n_runs:.2g}  {name}")


# ---------------------------------------------------------------------------- main
