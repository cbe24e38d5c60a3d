"""Test set-up: both engines, a small deterministic demo data set, browser options.

- embedded chDB under a temporary JINJIAN_DATA_DIR (one per test session: chDB
  opens one path per process);
- a real ClickHouse server (Debian's clickhouse-server) started on loopback in a
  temporary directory; with JINJIAN_REQUIRE_SERVER=1 (as ``make test`` sets) a
  missing server binary is a failure, not a skip.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="jinjian-test-"))
os.environ["JINJIAN_DATA_DIR"] = str(_SESSION_DIR / "data")
os.environ.pop("JINJIAN_CLICKHOUSE_URL", None)
os.environ["JINJIAN_INBOX"] = "0"  # no background ingestion threads inside the test process
os.environ["JINJIAN_SIMULATOR"] = "0"
os.environ["JINJIAN_AUTH"] = "0"  # page and API tests run as the local administrator; tests/test_auth*.py log in
os.environ["JINJIAN_CACHE_SECONDS"] = "0"  # tests see every write at once; tests/test_cache.py turns the cache on
os.environ["JINJIAN_MAP_PREPARE"] = "0"  # no background map building in tests; tests/test_geo.py calls prepare()
os.environ["JINJIAN_RISK_SNAPSHOT_SECONDS"] = "0"  # risk computed live; tests/test_risk_snapshots.py turns snapshots on

from store.engine import ChdbEngine, Engine, ServerEngine  # noqa: E402
from tests.chserver import ClickHouseServer, find_clickhouse_server  # noqa: E402

#: The small fixed data set every query test reads (Dongguan: no county level).
DEMO_ROOT = "4419"
DEMO_END = dt.date(2026, 11, 20)
DEMO_ENTITIES = 14_000
DEMO_SEED = 7


_STATUS: dict[str, int] = {}


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
    _STATUS["exit"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):  # noqa: ARG001
    """Leave without the interpreter's teardown, as the app does (store/lifecycle.py): the embedded
    engine's native destructors crashed a full run after its summary was printed (SIGSEGV turned a
    green run red). Everything is written and every server stopped by now."""
    if "exit" in _STATUS:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_STATUS["exit"])


def pytest_setup_options():
    """Headless Debian chromium for dash_duo."""
    from selenium.webdriver.chrome.options import Options

    opts = Options()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1920,1080"):
        opts.add_argument(flag)
    return opts


@pytest.fixture(scope="session")
def ch_server():
    if find_clickhouse_server() is None:
        if os.environ.get("JINJIAN_REQUIRE_SERVER") == "1":
            pytest.fail("clickhouse-server is not installed (scripts/install_debian_deps.sh installs it)")
        pytest.skip("clickhouse-server is not installed")
    server = ClickHouseServer(_SESSION_DIR / "ch").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chdb_engine() -> Engine:
    return ChdbEngine(Path(os.environ["JINJIAN_DATA_DIR"]), database="test_main")


def make_test_engine(kind: str, request, database: str) -> Engine:
    if kind == "chdb":
        return ChdbEngine(Path(os.environ["JINJIAN_DATA_DIR"]), database=database)
    server = request.getfixturevalue("ch_server")
    return ServerEngine(server.url, database=database)


@pytest.fixture(scope="session")
def demo_data():
    """The generated frames of the fixed test data set (the oracle's input)."""
    from etl.demo import DemoConfig
    from etl.demo_build import build

    return build(DemoConfig(root=DEMO_ROOT, entities=DEMO_ENTITIES, days=800, seed=DEMO_SEED,
                            end_date=DEMO_END))


_LOADED: dict[str, Engine] = {}


def _loaded_engine(kind: str, request, data) -> Engine:
    if kind not in _LOADED:
        from etl.load import load_regions, load_tables
        from store.schema import drop_data_tables, init_schema

        db = make_test_engine(kind, request, "test_demo")
        drop_data_tables(db)
        init_schema(db)
        load_regions(db)
        load_tables(db, data.tables())
        _LOADED[kind] = db
    return _LOADED[kind]


@pytest.fixture(scope="session", params=["chdb", "server"])
def demo_db(request, demo_data) -> Engine:
    """An engine of each kind holding the fixed data set (loaded once per session)."""
    return _loaded_engine(request.param, request, demo_data)


@pytest.fixture(scope="session")
def both_dbs(request, demo_data) -> dict[str, Engine]:
    """Both engines holding the same fixed data set."""
    return {kind: _loaded_engine(kind, request, demo_data) for kind in ("chdb", "server")}


@pytest.fixture(scope="session")
def flask_server():
    """The app's Flask server (Dash pages and the API), created once."""
    from app import create_app

    return create_app().server


@pytest.fixture
def served_db(flask_server, demo_db):
    """The Flask server with ``store.db`` pointed at ``demo_db`` for one test."""
    from store import db as dbmod

    dbmod.set_db(demo_db)
    try:
        yield flask_server
    finally:
        dbmod.set_db(None)


@pytest.fixture
def dongguan(monkeypatch, demo_db):
    """``demo_db`` as the app's database with the jurisdiction set to Dongguan (4419)."""
    from store import db as dbmod

    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    dbmod.set_db(demo_db)
    yield demo_db
    dbmod.set_db(None)
