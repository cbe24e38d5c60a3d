"""Helpers for access-control tests: a metadata store per test, users, logged-in clients.

Use with the ``dongguan`` fixture (jurisdiction 4419 over the demo data) and
``auth_on`` (JINJIAN_AUTH=1 and a fresh SQLite metadata store). The end-to-end
files (tests/test_auth_login.py, tests/test_auth_display.py, tests/test_auth_scope.py)
also share ``server`` and ``store`` (import them together with ``auth_on``), the
regions and dates below, and the audit, response and request-body helpers."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import DEMO_END
from tests.pagekit import callback_outputs

PASSWORD = "Passw0rd-2026"
#: (username, role, scope): a city administrator, a city leader, a town supervisor, a town viewer.
USERS = (("city_admin", "admin", "4419"), ("city_leader", "leader", "4419"),
         ("town_sup", "supervisor", "441900003"), ("town_view", "viewer", "441900003"))


@pytest.fixture
def auth_on(monkeypatch, tmp_path, dongguan):
    """JINJIAN_AUTH=1 with an empty metadata store; yields the AuthStore with USERS created."""
    from auth.audit import _store
    from auth.store import AuthStore

    url = f"sqlite:///{tmp_path / 'meta.sqlite'}"
    monkeypatch.setenv("JINJIAN_AUTH", "1")
    monkeypatch.setenv("JINJIAN_METADATA_URL", url)
    _store.cache_clear()
    store = AuthStore(url)
    for name, role, scope in USERS:
        store.add_user(name, PASSWORD, role, scope, display_name=name)
    yield store
    _store.cache_clear()


def csrf_of(client: Any, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client: Any, username: str, password: str = PASSWORD, expect: int = 302) -> Any:
    resp = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(client),
                                       "next": "/"})
    assert resp.status_code == expect, (resp.status_code, resp.get_data(as_text=True)[:300])
    return resp


def logged_in(server: Any, username: str) -> Any:
    """A Flask test client of ``server`` signed in as ``username``."""
    client = server.test_client()
    login(client, username)
    return client


def audit_rows(store: Any, **filters: Any) -> list[dict]:
    return store.audit_rows(**filters)


_DEPS: list[dict] = []


def dash_deps(client) -> list[dict]:
    if not _DEPS:
        resp = client.get("/_dash-dependencies")
        assert resp.status_code == 200, resp.status_code
        _DEPS.extend(resp.get_json())
    return _DEPS


def dash_body(client, output_has: str, values: dict | None = None, changed: list[str] | None = None) -> dict:
    """A /_dash-update-component request body for the callback whose output names
    ``output_has``, its inputs and states filled from ``values`` ('id.prop' → value)."""
    found = [d for d in dash_deps(client) if output_has in d["output"]]
    assert len(found) == 1, (output_has, [d["output"][:80] for d in found])
    dep = found[0]
    out = dep["output"]
    outputs = callback_outputs(out)
    values = values or {}

    def fill(items: list[dict]) -> list[dict]:
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in items]

    inputs = fill(dep["inputs"])
    return {"output": out, "outputs": outputs, "inputs": inputs, "state": fill(dep["state"]),
            "changedPropIds": changed or [f"{inputs[0]['id']}.{inputs[0]['property']}"]}


def dash_post(client, body: dict, headers: dict | None = None):
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=headers or {})


def wall_body(client, region: str) -> dict:
    return dash_body(client, "wall-kpi-stock.children", {
        "wall-refresh.n_intervals": 1, "wall-region.data": region, "wall-lang.value": "zh",
        "wall-map-indicator.value": "entity_stock"})


# ----------------------------------------------------------------------------- shared by tests/test_auth_*.py
DG = "4419"
TOWN = "441900003"            # town_sup / town_view
END = DEMO_END.isoformat()
WEEK = "2026-11-18"           # a report week with data (as tests/test_reports.py)
COOKIE = "jinjian_session"


@pytest.fixture
def server(auth_on, flask_server, monkeypatch, tmp_path):
    """The app's Flask server with JINJIAN_AUTH=1 over the Dongguan demo data."""
    monkeypatch.setenv("JINJIAN_REPORT_SCHEDULER", "0")
    monkeypatch.setenv("JINJIAN_REPORT_DIR", str(tmp_path / "archive"))
    monkeypatch.delenv("JINJIAN_LOGIN_MAX_FAILURES", raising=False)
    monkeypatch.delenv("JINJIAN_LOGIN_LOCK_MINUTES", raising=False)
    from queries.regions import clear_region_cache

    clear_region_cache()
    return flask_server


@pytest.fixture
def store(auth_on):
    return auth_on


def audits(store, action: str, **kw) -> list[dict]:
    return store.audit_rows(action=action, **kw)


def one_audit(store, action: str, **expected) -> dict:
    """The newest audit entry of ``action``; its fields must include ``expected``."""
    rows = audits(store, action)
    assert rows, f"no audit entry {action!r}; have {[r['action'] for r in store.audit_rows()]}"
    row = rows[0]
    for key, value in expected.items():
        assert row[key] == value, (key, row)
    return row


def location(resp) -> str:
    return resp.headers.get("Location", "")


def set_cookie_headers(resp) -> list[str]:
    return [v for k, v in resp.headers.items() if k.lower() == "set-cookie" and v.startswith(COOKIE + "=")]


def page_body(client, pathname: str, search: str = "") -> dict:
    return dash_body(client, "_pages_content.children", {"_pages_location.pathname": pathname,
                                                        "_pages_location.search": search})


def tasks_export_body(client, region: str) -> dict:
    return dash_body(client, "tasks-download.data", {"tasks-export-xlsx.n_clicks": 1, "tasks-region.value": region,
                                                     "tasks-date.date": END})
