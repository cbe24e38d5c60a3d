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


def test_etl_commands_exit_0_every_time(cli_env):
    for _ in range(5):
        res = _run(cli_env, "etl", "status")
        assert res.returncode == 0 and "entities" in res.stdout, (res.returncode, res.stderr[-2000:])
    for _ in range(3):
        res = _run(cli_env, "etl", "check", "--region", TOWN)
        assert res.returncode in (0, 1) and "上线检查" in res.stdout, (res.returncode, res.stderr[-2000:])


def test_report_build_exits_0_every_time(cli_env, tmp_path):
    week = (dt.date.today() - dt.timedelta(days=7)).isoformat()
    for i in range(3):
        out = tmp_path / f"r{i}.pdf"
        res = _run(cli_env, "reports", "build", "--period", "weekly", "--date", week, "--region", TOWN,
                   "--out", str(out))
        assert res.returncode == 0, (i, res.returncode, res.stderr[-2000:])
        assert out.read_bytes().startswith(b"%PDF") and str(out) in res.stdout
