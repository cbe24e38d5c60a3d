"""Dying clean (issue 28 item 8): the serving app and the report command, killed with
SIGTERM or SIGKILL in the middle of their work, leave intact data behind.

The app runs as a real process (``python app.py``) over an embedded chDB data
directory of its own, loading a large registration file from its inbox:
- SIGTERM: the app stops its background work first, lets the batch being loaded
  finish, closes the database in order and exits 0 (store/lifecycle.py);
- SIGKILL: nothing can run; the next start finishes the interrupted batch.
After each, with the app down: every batch loaded, rows in = loaded + rejected, no
staged or half-published rows, the rollups equal the raw rows, and every indicator of
the town equals the pandas oracle (tests/oracle.py) over the rows in the database.
``python -m reports build`` stopped by SIGTERM exits 143 with no PDF written and no
browser left running; killed by SIGKILL, the next build succeeds. An app that cannot
start (its port taken) says so in one line and exits 2.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import pytest

from domain import uscc
from tests.chserver import free_port
from tests.ingestkit import to_csv, zh

ROOT = Path(__file__).resolve().parents[1]
TOWN = "441900003"
ROWS = 60_000
DEMO_ENTITIES = 1500  # a few seconds of loading: long enough to be stopped in the middle

#: Run with the app down, over its data directory: the batches, the counts of staged rows,
#: the rollup check, and every indicator of the town for this month next to the oracle.
CHECK = r"""
import datetime as dt, json, math, sys
import pandas as pd
from etl.demo import DemoData
from indicators.catalogue import INDICATORS
from indicators.periods import Period
from queries.indicator_values import compute
from settings import Settings
from store.engine import make_engine
from store.executor import run
from store.filters import Filter
from store.rollup_tables import verify
from tests.oracle import oracle_value

db = make_engine(Settings.from_env())
q = lambda sql: run(db, "dying_check", sql)
batches = q("SELECT batch_id, toString(argMax(state, version)) AS state, argMax(rows_in, version) AS rows_in, "
            "argMax(rows_loaded, version) AS rows_loaded, argMax(rows_rejected, version) AS rows_rejected "
            "FROM ingest_batches GROUP BY batch_id")
quarantined = q("SELECT batch_id, uniqExact(row_no) AS n FROM quarantine GROUP BY batch_id")
stage = q("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'stage%%'")
staged = {n: int(q(f"SELECT count() AS n FROM {n}")["n"].iloc[0]) for n in stage["name"]}
tables = {t: q(f"SELECT * FROM {t}") for t in ("entities", "events", "tasks", "task_events", "grid_workers",
                                               "departments", "random_items", "joint_cases", "joint_actions")}
grids = q("SELECT code, name, level, parent FROM regions WHERE level = 6")
data = DemoData(grids, tables["grid_workers"], tables["departments"], tables["entities"], tables["events"],
                tables["tasks"], tables["task_events"], random_items=tables["random_items"],
                joint_cases=tables["joint_cases"], joint_actions=tables["joint_actions"])
data.ingest_batches, data.quarantine = q("SELECT * FROM ingest_batches"), q("SELECT * FROM quarantine")
today = dt.date.today()
period = Period(today.replace(day=1), today)
got = compute(db, INDICATORS, Filter(region=sys.argv[1]), period).set_index("indicator_id")["value"]
wrong = {}
for ind in INDICATORS:
    want, have = float(oracle_value(data, ind.id, sys.argv[1], period.start, period.end)), float(got[ind.id])
    if not ((math.isnan(want) and math.isnan(have)) or math.isclose(want, have, rel_tol=1e-9, abs_tol=1e-9)):
        wrong[ind.id] = [want, have]
print(json.dumps({"batches": batches.to_dict(orient="records"),
                  "quarantined": dict(zip(quarantined["batch_id"], quarantined["n"].astype(int))), "staged": staged,
                  "rollups": {k: v for k, v in verify(db).items() if v},
                  "entities": len(tables["entities"]), "indicators": len(INDICATORS), "wrong": wrong}))
"""


class Site:
    """A data directory with a small demo town, and the app or commands over it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("JINJIAN_")}
        self.env.update(JINJIAN_DATA_DIR=str(tmp / "data"), JINJIAN_ROOT_REGION=TOWN, JINJIAN_AUTH="0",
                        JINJIAN_REPORT_SCHEDULER="0", JINJIAN_SIMULATOR="0", JINJIAN_INBOX="1",
                        JINJIAN_RISK_SNAPSHOT_SECONDS="0", JINJIAN_MAP_PREPARE="0", JINJIAN_PORT=str(self.port),
                        JINJIAN_LOG_LEVEL="INFO", PYTHONPATH=str(ROOT))
        self.inbox = tmp / "data" / "ingest" / "inbox" / "registration"
        self.processing = tmp / "data" / "ingest" / "processing" / "registration"

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self, log: str) -> subprocess.Popen:
        out = open(self.tmp / log, "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the first request starts the background work (inbox)
            assert proc.poll() is None, (self.tmp / log).read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/health", timeout=5) as resp:
                    if resp.status == 200:
                        return proc
            except OSError:
                time.sleep(0.3)
        raise AssertionError("the app did not start")

    def check(self) -> dict:
        res = self.run("-c", CHECK, TOWN)
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout.strip().splitlines()[-1])

    def registrations(self, name: str, seed: int) -> Path:
        """``ROWS`` new enterprises of the town's grids, dated yesterday, as a department's CSV."""
        rng = np.random.default_rng(seed)
        grids = self.grids
        cells = [grids[i % len(grids)] for i in range(ROWS)]
        codes = uscc.generate(rng, [g[:6] for g in cells], ["enterprise"] * ROWS)
        day = (dt.date.today() - dt.timedelta(days=1)).isoformat()
        rows = [zh("registration", {"credit_code": c, "name": f"停机测试{seed}第{i}号有限公司", "entity_type": "企业",
                                    "industry": "F", "grid_code": g, "event_time": day, "legal_rep": "赵六",
                                    "lon": "113.75", "lat": "23.02"}) for i, (c, g) in enumerate(zip(codes, cells))]
        part = self.inbox / f"{name}.csv.part"
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(to_csv(rows))
        return part


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    s = Site(tmp_path_factory.mktemp("dying"))
    res = s.run("-m", "etl", "demo", "--root", TOWN, "--entities", str(DEMO_ENTITIES), "--days", "60")
    assert res.returncode == 0, res.stderr[-3000:]
    res = s.run("-c", "from settings import Settings; from store.engine import make_engine; "
                "from store.executor import run; db = make_engine(Settings.from_env()); "
                "print(len(run(db, 'n', 'SELECT credit_code FROM entities')), "
                "','.join(run(db, 'g', 'SELECT DISTINCT grid_code FROM entities ORDER BY grid_code')"
                "['grid_code']))")
    assert res.returncode == 0, res.stderr[-3000:]
    count, grids = res.stdout.strip().splitlines()[-1].split(" ")
    # the demo ends when it is made: registrations later today are not there yet, so count what it made
    s.demo_rows, s.grids = int(count), grids.split(",")
    assert DEMO_ENTITIES * 0.9 < s.demo_rows <= DEMO_ENTITIES
    assert len(s.grids) > 5
    return s


def _loading(site: Site, proc: subprocess.Popen, name: str) -> None:
    """Wait until the app has taken ``name`` from the inbox and is loading it."""
    deadline = time.monotonic() + 60
    while not (site.processing / f"{name}.csv").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the inbox never picked the file up"
        time.sleep(0.05)
    time.sleep(0.8)  # in the middle of reading, checking or staging it


def _intact(site: Site, loads: int) -> dict:
    """No batch half-done, every row loaded or quarantined, rollups and indicators exact."""
    state = site.check()
    batches = state["batches"]
    assert len(batches) == loads and [b for b in batches if b["state"] != "loaded"] == []
    assert all(b["rows_in"] == b["rows_loaded"] + b["rows_rejected"] for b in batches)
    assert all(state["quarantined"].get(b["batch_id"], 0) == b["rows_rejected"] for b in batches), state
    assert sum(b["rows_loaded"] for b in batches) >= loads * (ROWS - 20)  # collisions of random codes only
    assert state["entities"] == site.demo_rows + sum(b["rows_loaded"] for b in batches)
    assert sum(state["staged"].values()) == 0, state["staged"]  # nothing half-published left behind
    assert state["rollups"] == {}
    assert state["wrong"] == {} and state["indicators"] > 40
    return state


def test_sigterm_lets_the_batch_finish_and_exits_0(site):
    proc = site.start("app-term.log")
    part = site.registrations("term", 1)
    part.rename(part.with_suffix(""))
    _loading(site, proc, "term")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    log = (site.tmp / "app-term.log").read_text()
    assert "stopping on signal 15" in log and "Traceback" not in log and "still running" not in log
    assert time.monotonic() - t0 < 30
    assert not (site.processing / "term.csv").exists()  # loaded, moved to done/
    _intact(site, 1)


def test_sigkill_in_the_middle_is_finished_by_the_next_start(site):
    proc = site.start("app-kill.log")
    part = site.registrations("kill", 2)
    part.rename(part.with_suffix(""))
    _loading(site, proc, "kill")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert (site.processing / "kill.csv").exists()  # killed in the middle: left for the next start
    proc = site.start("app-restart.log")
    deadline = time.monotonic() + 120
    while (site.processing / "kill.csv").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the restarted app did not finish the batch"
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    _intact(site, 2)


def test_sigterm_stops_the_inbox_watcher_after_its_file(site):
    """``python -m etl inbox --watch`` (the loader of a server-mode deployment) stopped
    in the middle of a file: the file is finished, then the command exits 0."""
    proc = subprocess.Popen([sys.executable, "-m", "etl", "inbox", "--watch"], cwd=ROOT, env=site.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = site.registrations("watch", 3)
    part.rename(part.with_suffix(""))
    _loading(site, proc, "watch")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    assert not (site.processing / "watch.csv").exists(), err[-3000:]
    _intact(site, 3)


def _browsers(proc: subprocess.Popen) -> list[psutil.Process]:
    """The browser processes started by ``proc`` (Playwright's driver and Chromium)."""
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            if "chrom" in " ".join(k.cmdline()).lower():
                out.append(k)
        except psutil.NoSuchProcess:  # gone, or a zombie being reaped (ZombieProcess): not running
            continue
    return out


def test_report_build_stopped_by_signals(site, tmp_path):
    week = (dt.date.today() - dt.timedelta(days=7)).isoformat()
    args = ["-m", "reports", "build", "--period", "weekly", "--date", week, "--region", TOWN]
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGKILL, -signal.SIGKILL)):
        out = tmp_path / f"stopped-{sig.name}.pdf"
        proc = subprocess.Popen([sys.executable, *args, "--out", str(out)], cwd=ROOT, env=site.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (browsers := _browsers(proc)):  # the browser is up: the report is being rendered
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
            time.sleep(0.05)
        time.sleep(0.3)
        browsers = _browsers(proc) or browsers
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == code, err[-2000:]
        assert not out.exists() and list(tmp_path.glob("*.tmp*")) == []  # no half-written PDF
        if sig == signal.SIGTERM:
            assert "Traceback" not in err
        _, alive = psutil.wait_procs(browsers, timeout=20)  # the browser goes with its process
        assert alive == [], f"a browser outlived the report command ({sig.name}): {alive}"
    res = site.run(*args, "--out", str(tmp_path / "after.pdf"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "after.pdf").read_bytes().startswith(b"%PDF")


def test_an_app_that_cannot_start_says_why_in_one_line(site):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {**site.env, "JINJIAN_PORT": str(taken.getsockname()[1])}
        res = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert f"127.0.0.1:{env['JINJIAN_PORT']}" in res.stderr.strip().splitlines()[-1]


def test_served_by_a_production_server_with_health_and_access_log(site):
    """``python app.py`` serves through waitress (no development-server warning), answers
    ``/healthz`` without login with the data's age and the ingestion backlog, writes an
    access-log line per request with tickets redacted, and stops on SIGTERM with exit 0."""
    import json as _json

    proc = site.start("serving.log")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{site.port}/healthz", timeout=10) as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
            body = _json.loads(resp.read())
        assert body["status"] == "ok" and body["database"] == "up" and body["engine"] == "chdb"
        assert body["data_age_seconds"] is not None and body["data_age_seconds"] >= 0
        assert body["backlog"] == {"batches_unfinished": 0, "inbox_files": 0}
        secret = "rt_" + "x" * 40
        with urllib.request.urlopen(f"http://127.0.0.1:{site.port}/report/print?ticket={secret}", timeout=30) as r:
            r.read()
    except urllib.error.HTTPError:
        pass  # the ticket is refused: the request is still logged
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
    log = (site.tmp / "serving.log").read_text()
    assert "development server" not in log and f"serving on http://127.0.0.1:{site.port} with waitress" in log
    assert '"GET /healthz" 200' in log and "/api/v1/health" in log
    assert secret not in log and "/report/print?ticket=" in log
