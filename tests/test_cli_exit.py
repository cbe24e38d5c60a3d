"""Command-line tools exit cleanly on the embedded engine: after a success they exit 0,
every time. (``python -m reports build`` used to write its PDF, print its success line
and then die with SIGSEGV in the embedded engine's teardown — a scheduler or cron job
saw a failed report every other run.) Each command runs several times in a row in a
fresh data directory with a small demo data set."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOWN = "441900003"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("cli-exit")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINJIAN_")}
    env.update({"JINJIAN_DATA_DIR": str(data), "JINJIAN_ROOT_REGION": TOWN, "JINJIAN_REPORT_SCHEDULER": "0"})
    for args in (("etl", "init"), ("etl", "demo", "--root", TOWN, "--entities", "1500", "--days", "60")):
        res = _run(env, *args)
        assert res.returncode == 0, res.stderr[-2000:]
    return env


#: Every command-line tool, each with its own sign of success; each runs ``TIMES`` times in
#: a row (issue 28 item 8: a scheduler must never see a failed run after a success).
TIMES = 10
COMMANDS = {
    ("etl", "status"): (0, "entities"),
    ("etl", "check", "--region", TOWN): (1, "上线检查"),  # 1: the demo town lacks real grids (docs/onboarding.md)
    ("etl", "batches"): (0, ""),
    ("etl", "rollups", "--check"): (0, "all equal the raw rows"),
    ("etl", "golive", "list"): (0, ""),
    ("etl", "users", "list"): (0, ""),
    ("etl", "display", "list"): (0, ""),
    ("etl", "audit", "--limit", "5"): (0, ""),
    ("etl", "token", "list"): (0, ""),
    ("etl", "inbox"): (0, ""),
    ("reports", "schedules"): (0, ""),
    ("reports", "runs"): (0, ""),
}


@pytest.mark.parametrize("command", list(COMMANDS), ids=" ".join)
def test_every_command_exits_alike_every_time(cli_env, command):
    code, sign = COMMANDS[command]
    for i in range(TIMES):
        res = _run(cli_env, *command)
        assert res.returncode == code and sign in res.stdout, (i, res.returncode, res.stdout[-500:],
                                                              res.stderr[-2000:])
        assert "Traceback" not in res.stderr and "Exception" not in res.stderr, res.stderr[-2000:]


#: One registration of a new enterprise on a grid of the town, as a department's CSV.
ONE_REGISTRATION = """
import datetime as dt, sys
import numpy as np
from domain import uscc
from settings import Settings
from store.engine import make_engine
from store.executor import run
from tests.ingestkit import to_csv, zh
db = make_engine(Settings.from_env())
grid = run(db, "g", "SELECT any(grid_code) AS g FROM entities")["g"].iloc[0]
code = uscc.generate(np.random.default_rng(7), [grid[:6]], ["enterprise"])[0]
day = (dt.date.today() - dt.timedelta(days=1)).isoformat()
sys.stdout.buffer.write(to_csv([zh("registration", {"credit_code": code, "name": "十次导入测试有限公司",
    "entity_type": "企业", "industry": "F", "grid_code": grid, "event_time": day, "legal_rep": "赵六"})]))
"""


def test_loading_one_file_ten_times_loads_it_once(cli_env, tmp_path):
    made = subprocess.run([sys.executable, "-c", ONE_REGISTRATION], cwd=ROOT, env=cli_env, capture_output=True,
                          timeout=120)
    assert made.returncode == 0, made.stderr[-2000:]
    path = tmp_path / "登记.csv"
    path.write_bytes(made.stdout)
    for i in range(TIMES):
        res = _run(cli_env, "etl", "load", str(path), "--source", "registration")
        assert res.returncode == 0 and "导入 1 条" in res.stdout, (i, res.stdout, res.stderr[-2000:])
        assert ("本次未作改动" in res.stdout) == (i > 0), res.stdout  # at most once


#: Report builds in a row: each starts Chromium (8 s); the SIGSEGV came every other run.
REPORT_TIMES = 4


def test_report_build_exits_0_every_time(cli_env, tmp_path):
    week = (dt.date.today() - dt.timedelta(days=7)).isoformat()
    for i in range(REPORT_TIMES):
        out = tmp_path / f"r{i}.pdf"
        res = _run(cli_env, "reports", "build", "--period", "weekly", "--date", week, "--region", TOWN,
                   "--out", str(out))
        assert res.returncode == 0, (i, res.returncode, res.stderr[-2000:])
        assert out.read_bytes().startswith(b"%PDF") and str(out) in res.stdout
