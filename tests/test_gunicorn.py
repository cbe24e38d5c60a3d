"""Production serving with several processes (docs/deploy.md §2): gunicorn with two
workers over ``app:wsgi()`` in server mode, against the test ClickHouse server's fixed
data set — the settings checked before the boot, sign-in valid on every worker, the
access log written with tokens redacted, /healthz, pages, callbacks and the API."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.chserver import free_port
from tests.conftest import DEMO_ROOT, _loaded_engine

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
PASSWORD = "Gunicorn-test-2026"


class Site:
    def __init__(self, tmp: Path, url: str) -> None:
        self.tmp, self.port = tmp, free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("JINJIAN_")}
        self.env.update(JINJIAN_CLICKHOUSE_URL=url, JINJIAN_DATA_DIR=str(tmp / "data"),
                        JINJIAN_ROOT_REGION=DEMO_ROOT, JINJIAN_SECRET_KEY="gunicorn-test-secret-key-0123456789",
                        JINJIAN_REPORT_SCHEDULER="0", JINJIAN_SIMULATOR="0", JINJIAN_INBOX="0",
                        JINJIAN_RISK_SNAPSHOT_SECONDS="0", JINJIAN_MAP_PREPARE="0", JINJIAN_LOG_LEVEL="INFO",
                        PYTHONPATH=str(ROOT))
        self.base = f"http://127.0.0.1:{self.port}"

    def etl(self, *args: str, stdin: str = "") -> str:
        res = subprocess.run([sys.executable, "-m", "etl", *args], cwd=ROOT, env=self.env, input=stdin,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout

    def gunicorn(self, log: Path, port: int, **extra: str) -> subprocess.Popen:
        out = open(log, "w")  # noqa: SIM115 - closed with the process
        return subprocess.Popen([str(GUNICORN), "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}",
                                 "--chdir", str(ROOT), "--graceful-timeout", "20", "app:wsgi()"],
                                cwd=ROOT, env={**self.env, **extra}, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)


@pytest.fixture(scope="module")
def site(request, demo_data, ch_server, tmp_path_factory):
    if not GUNICORN.exists():
        pytest.fail("gunicorn is not installed (requirements.txt)")
    _loaded_engine("server", request, demo_data)  # test_demo holds the fixed data set
    s = Site(tmp_path_factory.mktemp("gunicorn"), ch_server.url.rsplit("/", 1)[0] + "/test_demo")
    s.etl("users", "add", "gadmin", "--role", "admin", "--scope", DEMO_ROOT, "--password-stdin", stdin=PASSWORD)
    s.wall = re.search(r"/wall/[A-Za-z0-9_\-]+", s.etl("display", "add", "--name", "测试大屏", "--region", DEMO_ROOT))[0]
    s.log = s.tmp / "gunicorn.log"
    s.proc = s.gunicorn(s.log, s.port)
    deadline = time.monotonic() + 120
    while True:
        assert s.proc.poll() is None, s.log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{s.base}/healthz", timeout=5) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "gunicorn did not start:\n" + s.log.read_text()[-3000:]
        time.sleep(0.3)
    yield s
    _stop(s.proc)


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


def _get(opener, url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(req, timeout=60) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _workers(proc: subprocess.Popen) -> set[int]:
    import psutil

    return {c.pid for c in psutil.Process(proc.pid).children()}


def test_two_workers_serve_one_signed_in_session(site):
    assert len(_workers(site.proc)) == 2
    status, body = _get(_opener(), f"{site.base}/healthz")
    health = json.loads(body)
    assert status == 200 and health["engine"] == "server" and health["status"] == "ok"
    assert health["data_age_seconds"] is not None

    web = _opener()
    status, page = _get(web, f"{site.base}/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    status, _ = _get(web, f"{site.base}/login", urlencode({"username": "gadmin", "password": PASSWORD,
                                                           "csrf_token": token, "next": "/"}).encode())
    assert status == 200  # followed the redirect to the wall
    # The session is the metadata store's, not one worker's: every request of it is served.
    for _ in range(16):
        status, body = _get(web, f"{site.base}/api/v1/regions/{DEMO_ROOT}")
        assert status == 200 and "东莞市" in body, body[:300]
    for path in ("/tasks", "/risk", "/report", "/quality", "/_dash-layout", "/_dash-dependencies"):
        status, body = _get(web, f"{site.base}{path}")
        assert status == 200, (path, body[:300])
    status, _ = _get(_opener(), f"{site.base}/api/v1/regions/{DEMO_ROOT}")
    assert status == 401  # no session, no data


def test_access_log_redacts_the_wall_token(site):
    status, _ = _get(_opener(), f"{site.base}{site.wall}")
    assert status == 200
    token = site.wall.rsplit("/", 1)[1]
    deadline = time.monotonic() + 10
    while "/wall/[已隐去]" not in site.log.read_text():
        assert time.monotonic() < deadline, site.log.read_text()[-2000:]
        time.sleep(0.2)
    log = site.log.read_text()
    assert token not in log and "Traceback" not in log
    lines = [ln for ln in log.splitlines() if "jinjian.access" in ln]
    assert any('"GET /healthz" 200' in ln for ln in lines) and any('"GET /login" 200' in ln for ln in lines)


def test_a_malformed_setting_stops_the_boot(site, tmp_path):
    log = tmp_path / "bad.log"
    proc = site.gunicorn(log, free_port(), JINJIAN_SOURCE_LATE_HOURS="abc")
    try:
        code = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise AssertionError("gunicorn kept running with a malformed setting:\n" + log.read_text()[-2000:]) from None
    assert code != 0
    assert "JINJIAN_SOURCE_LATE_HOURS: 'abc' is not name=value" in log.read_text()
