"""Access control in real headless Chromium (JINJIAN_AUTH=1): the login form leads to
the command wall, logout ends the session, and a wall screen's display-token link
shows the wall — tiles filled — without any login form, and nothing else."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest

from components.format import format_cn
from tests.authkit import PASSWORD, auth_on  # noqa: F401
from tests.oracle import ORACLES
from tests.pagekit import js, wait

DG = "4419"
TOWN = "441900003"


def _start(dash_duo, monkeypatch, tmp_path) -> str:
    from app import create_app

    monkeypatch.setenv("JINJIAN_REPORT_SCHEDULER", "0")
    monkeypatch.setenv("JINJIAN_REPORT_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("JINJIAN_WALL_REFRESH_SECONDS", "5")
    dash_duo.start_server(create_app(), navigate=False)  # "/" answers with the login page, not Dash
    return dash_duo.server.url.rstrip("/")


def _alive_today(demo_data, region: str) -> str:
    today = dt.date.today()
    return format_cn(int(ORACLES["entity_stock"](demo_data, region, today, today)))


def _path(dash_duo) -> str:
    return urlsplit(dash_duo.driver.current_url).path


def _fetch_status(dash_duo, url: str) -> int:
    return js(dash_duo, "const r = new XMLHttpRequest(); r.open('GET', arguments[0], false); r.send(); "
                        "return r.status;", url)


@pytest.mark.browser
def test_login_form_opens_the_wall_and_logout_ends_it(dash_duo, auth_on, monkeypatch, tmp_path, demo_data):  # noqa: F811
    base = _start(dash_duo, monkeypatch, tmp_path)
    driver = dash_duo.driver
    driver.get(base + "/")
    wait(lambda: _path(dash_duo) == "/login", what="the redirect to the login page")
    assert "用户登录" in dash_duo.find_element("h1").text
    assert not dash_duo.find_elements("#wall-path")
    # a wrong password first: the message, and still the form
    dash_duo.find_element("#username").send_keys("city_leader")
    dash_duo.find_element("#password").send_keys("wrong-Passw0rd")
    dash_duo.find_element("#login-submit").click()
    wait(lambda: "用户名或密码错误" in dash_duo.find_element("#login-error").text, what="the error message")
    assert dash_duo.find_element("#username").get_attribute("value") == "city_leader"
    # then the right one: back to the wall, filled
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_contains_text("#wall-path", "东莞市", timeout=40)
    assert _path(dash_duo) == "/"
    dash_duo.wait_for_text_to_equal("#wall-kpi-stock-value", _alive_today(demo_data, DG), timeout=40)
    assert [r["action"] for r in auth_on.audit_rows()][:2] == ["login", "login_failed"]
    # the session cookie is out of reach of scripts, and Lax
    cookie = driver.get_cookie("jinjian_session")
    assert cookie and cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert "jinjian_session" not in js(dash_duo, "return document.cookie")
    assert _fetch_status(dash_duo, f"/api/v1/regions/{DG}") == 200
    # a page with the navigation bar: who is signed in, and the logout button
    driver.get(base + "/tasks")
    dash_duo.wait_for_text_to_equal("#nav-user", "city_leader", timeout=30)
    assert "领导" in dash_duo.find_element("#nav-role").text
    dash_duo.find_element("#nav-logout").click()
    wait(lambda: _path(dash_duo) == "/login", what="the login page after logout")
    assert _fetch_status(dash_duo, f"/api/v1/regions/{DG}") == 401
    driver.get(base + "/")
    wait(lambda: _path(dash_duo) == "/login", what="the login page for the wall")
    assert auth_on.audit_rows(action="logout")[0]["username"] == "city_leader"
    logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE" and "401" not in e.get("message", "")]
    assert logs == []


@pytest.mark.browser
def test_display_link_shows_the_wall_without_login(dash_duo, auth_on, dongguan, monkeypatch, tmp_path,  # noqa: F811
                                                  demo_data):
    from auth.admin import Actor, create_token
    from store.filters import NATIONAL
    from queries.regions import region_node

    town_name = region_node(dongguan, TOWN, NATIONAL).name

    token, secret = create_token(auth_on, Actor(None), "东城大屏", TOWN)
    base = _start(dash_duo, monkeypatch, tmp_path)
    driver = dash_duo.driver
    driver.get(f"{base}/wall/{secret}")
    dash_duo.wait_for_element("#wall-path", timeout=40)
    assert _path(dash_duo) == "/" and f"region={TOWN}" in driver.current_url
    assert not dash_duo.find_elements("#login-submit") and not dash_duo.find_elements("#username")
    dash_duo.wait_for_text_to_equal("#wall-kpi-stock-value", _alive_today(demo_data, TOWN), timeout=40)
    assert town_name in dash_duo.find_element("#wall-path").text
    wait(lambda: dash_duo.find_elements("path.leaflet-interactive"), timeout=30, what="the town's map")
    def tiles_filled() -> list[str] | None:  # read again when a redraw replaces the tiles (stale elements)
        texts = [e.text for e in dash_duo.find_elements(".kpi .kpi-value")]
        return texts if len(texts) >= 6 and sum(t.strip() not in ("", "—") for t in texts) >= len(texts) - 1 else None

    wait(tiles_filled, timeout=30, what="the wall's tiles")
    logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert logs == []
    assert auth_on.audit_rows(action="display_open")[0]["region"] == TOWN
    assert auth_on.audit_rows(action="display_denied") == []
    # the wall session reaches nothing else
    assert _fetch_status(dash_duo, f"/api/v1/regions/{TOWN}") == 403
    driver.get(base + "/tasks")
    wait(lambda: "无法访问" in dash_duo.find_element("body").text, what="the 403 page")
    # revoked: the screen's session ends, the link no longer works
    from auth.admin import revoke_token

    revoke_token(auth_on, Actor(None), token.id)
    driver.get(f"{base}/wall/{secret}")
    wait(lambda: "已被吊销" in dash_duo.find_element("body").text, what="the revoked-link page")
    driver.get(base + "/")
    wait(lambda: _path(dash_duo) == "/login", what="the login page once revoked")
