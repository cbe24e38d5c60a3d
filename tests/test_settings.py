"""Settings: documented, validated, and bad values give one clear line."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from settings import ROOT, SETTINGS, ConfigError, Settings
from tests.chserver import free_port


def test_every_setting_documented():
    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(JINJIAN_[A-Z_]+)`", doc))
    declared = {s.name for s in SETTINGS}
    assert declared == documented


def test_every_setting_read_in_code_is_declared():
    used = set()
    for path in list(ROOT.glob("*.py")) + list(ROOT.glob("[a-z]*/*.py")):
        if "tests" in path.parts or ".venv" in path.parts:
            continue
        used |= set(re.findall(r"JINJIAN_[A-Z_]+", path.read_text(encoding="utf-8")))
    assert used <= {s.name for s in SETTINGS} | {"JINJIAN_REQUIRE_SERVER"}


@pytest.mark.parametrize("env, fragment", [
    ({"JINJIAN_PORT": "abc"}, "JINJIAN_PORT='abc' is not a whole number"),
    ({"JINJIAN_PORT": "70000"}, "out of range"),
    ({"JINJIAN_ROOT_REGION": "4x"}, "JINJIAN_ROOT_REGION"),
    ({"JINJIAN_CLICKHOUSE_URL": "http://x"}, "must start with clickhouse://"),
    ({"JINJIAN_LOG_LEVEL": "LOUD"}, "JINJIAN_LOG_LEVEL"),
])
def test_bad_settings(env, fragment):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_defaults():
    s = Settings.from_env({})
    assert s.port == 8050 and s.host == "127.0.0.1" and s.clickhouse_url == "" and s.root_region == "44"


def _cli(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINJIAN_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "etl", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_unreachable_server_url_one_line_error():
    port = free_port()  # nothing listens there
    res = _cli({"JINJIAN_CLICKHOUSE_URL": f"clickhouse://default@127.0.0.1:{port}/x",
                "JINJIAN_CONNECT_TIMEOUT": "1"}, "init")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and str(port) in lines[0]
    assert "Traceback" not in res.stderr


def test_unwritable_data_dir_one_line_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a regular file where a directory is needed: even root cannot
    res = _cli({"JINJIAN_DATA_DIR": str(blocker / "data")}, "init")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "JINJIAN_DATA_DIR" in lines[0] and "not writable" in lines[0]


def test_bad_setting_cli_one_line():
    res = _cli({"JINJIAN_QUERY_TIMEOUT": "soon"}, "status")
    assert res.returncode == 2 and res.stderr.strip() == "error: JINJIAN_QUERY_TIMEOUT='soon' is not a whole number"


def test_broken_setting_stops_gunicorn_and_never_fails_a_page(tmp_path: Path):
    """``app:wsgi()`` (gunicorn) checks every setting as ``python app.py`` does; an app made
    without that check still serves its login page, and /healthz says the configuration is wrong."""
    script = (
        "import json, logging\n"
        "import app\n"
        "from settings import ConfigError\n"
        "try:\n"
        "    app.wsgi(); refused = ''\n"
        "except ConfigError as exc:\n"
        "    refused = str(exc)\n"
        "client = app.create_app().server.test_client()\n"
        "health = client.get('/healthz')\n"
        "print(json.dumps({'refused': refused, 'login': client.get('/login').status_code,\n"
        "                  'health': [health.status_code, health.get_json()['status']]}))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINJIAN_")}
    env.update(JINJIAN_DATA_DIR=str(tmp_path / "data"), JINJIAN_SOURCE_LATE_HOURS="abc", JINJIAN_INBOX="1")
    res = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["refused"].startswith("JINJIAN_SOURCE_LATE_HOURS")
    assert out["login"] == 200 and out["health"] == [503, "config_error"]
    assert "background ingestion not started: JINJIAN_SOURCE_LATE_HOURS" in res.stderr
