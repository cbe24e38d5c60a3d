"""Access control end to end through the Flask server (JINJIAN_AUTH=1): login and
logout, throttling, CSRF, sessions that end when an account changes, display tokens
for wall screens, masking of personal data, region scopes, exports and the report
PDF behind the login. Every refusal is checked for its status *and* its audit entry.

Runs on both engines (the ``dongguan`` fixture is parametrised over chDB and a
ClickHouse server): jurisdiction 4419, users from tests/authkit.py."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from sqlalchemy import update

from tests.authkit import (PASSWORD, auth_on, csrf_of, dash_body, dash_post, logged_in, login,  # noqa: F401
                           wall_body)
from tests.conftest import DEMO_END

DG = "4419"
TOWN = "441900003"            # town_sup / town_view
END = DEMO_END.isoformat()
WEEK = "2026-11-18"           # a report week with data (as tests/test_reports.py)
COOKIE = "jinjian_session"


# ----------------------------------------------------------------------------- helpers
@pytest.fixture
def server(auth_on, flask_server, monkeypatch, tmp_path):  # noqa: F811
    """The app's Flask server with JINJIAN_AUTH=1 over the Dongguan demo data."""
    monkeypatch.setenv("JINJIAN_REPORT_SCHEDULER", "0")
    monkeypatch.setenv("JINJIAN_REPORT_DIR", str(tmp_path / "archive"))
    monkeypatch.delenv("JINJIAN_LOGIN_MAX_FAILURES", raising=False)
    monkeypatch.delenv("JINJIAN_LOGIN_LOCK_MINUTES", raising=False)
    from queries.regions import clear_region_cache

    clear_region_cache()
    return flask_server


@pytest.fixture
def store(auth_on):  # noqa: F811
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


def error_text(html: str) -> str:
    m = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    return m.group(1) if m else ""


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


def response_text(resp) -> str:
    """A Dash callback's answer as text (non-ASCII unescaped, for searching)."""
    return json.dumps(resp.get_json(), ensure_ascii=False)


def town_entities(demo_data, town: str = TOWN) -> pd.DataFrame:
    ent = demo_data.entities
    return ent[ent["grid_code"].str.startswith(town)]


def individual_and_enterprise(demo_data) -> tuple[pd.Series, pd.Series]:
    ent = town_entities(demo_data)
    ind = ent[(ent["entity_type"] == "individual") & (ent["owner_id"].fillna("").str.len() == 18)
              & (ent["legal_rep"].fillna("").str.len() >= 2)]
    firm = ent[(ent["entity_type"] == "enterprise") & (ent["legal_rep"].fillna("").str.len() >= 2)]
    assert len(ind) and len(firm)
    return ind.sort_values("credit_code").iloc[0], firm.sort_values("credit_code").iloc[0]


def outside_entity(demo_data) -> pd.Series:
    ent = demo_data.entities
    return ent[~ent["grid_code"].str.startswith(TOWN)].sort_values("credit_code").iloc[0]


# ----------------------------------------------------------------------------- 1. login and logout
def test_login_page_is_chinese_with_csrf_field(server):
    client = server.test_client()
    resp = client.get("/login")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "用户登录" in html and "用户名" in html and "密码" in html
    assert re.search(r'<form method="post" action="/login"', html)
    m = re.search(r'<input type="hidden" name="csrf_token" value="([^"]{32,})">', html)
    assert m, html
    assert 'name="password" type="password"' in html
    assert resp.headers["Cache-Control"] == "no-store"
    # the token is bound to the session: the same client sees the same token again
    assert csrf_of(client) == m.group(1)
    assert csrf_of(server.test_client()) != m.group(1)


@pytest.mark.parametrize("path", ["/", "/tasks?region=441900003&date=2026-11-20", "/region/4419", "/risk"])
def test_unauthenticated_page_redirects_to_login(server, path):
    resp = server.test_client().get(path)
    assert resp.status_code == 302
    url = urlsplit(location(resp))
    assert url.path == "/login" and parse_qs(url.query)["next"] == [path]


def error_code(resp) -> str:
    """The machine code of a JSON refusal: the API's shape {"error": {"code", "message",
    "detail"}} under /api/ (docs/api.md), {"error": code, "message"} for Dash requests."""
    body = resp.get_json()
    if resp.request.path.startswith("/api/"):
        assert isinstance(body["error"], dict) and set(body["error"]) == {"code", "message", "detail"}, body
        assert body["error"]["message"]
        return body["error"]["code"]
    assert isinstance(body["error"], str) and body["message"], body
    return body["error"]


@pytest.mark.parametrize("path", ["/api/v1/regions/4419", "/api/v1/entities", "/api/v1/indicators",
                                  "/api/v1/entities/91441900MA2W9XAW4P", "/_dash-layout", "/_dash-dependencies"])
def test_unauthenticated_api_is_401_json(server, path):
    resp = server.test_client().get(path)
    assert resp.status_code == 401 and resp.mimetype == "application/json"
    assert error_code(resp) == "unauthenticated"
    assert "请先登录" in json.dumps(resp.get_json(), ensure_ascii=False)


def test_unauthenticated_callback_is_401_json(server):
    resp = dash_post(server.test_client(), {"output": "wall-clock.children", "inputs": []})
    assert resp.status_code == 401 and resp.mimetype == "application/json"
    assert error_code(resp) == "unauthenticated"


def test_public_paths_need_no_login(server):
    client = server.test_client()
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/assets/login.css").status_code == 200


def test_good_login_goes_to_next_and_sets_a_safe_cookie(server, store):
    client = server.test_client()
    nxt = "/tasks?region=441900003&date=2026-11-20"
    first = client.get(nxt)
    assert first.status_code == 302
    login_url = location(first)
    page = client.get(login_url).get_data(as_text=True)
    assert f'name="next" value="{nxt.replace("&", "&amp;")}"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"username": "town_sup", "password": PASSWORD, "csrf_token": token,
                                       "next": nxt})
    assert resp.status_code == 302 and location(resp) == nxt
    cookies = set_cookie_headers(resp)
    assert len(cookies) == 1, resp.headers
    flags = [f.strip().lower() for f in cookies[0].split(";")[1:]]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags  # JINJIAN_SECURE_COOKIES=0 (plain http on the test server)
    assert any(f.startswith("expires=") for f in flags)  # permanent: JINJIAN_SESSION_HOURS
    assert client.get(nxt).status_code == 200
    assert client.get("/api/v1/regions/441900003").status_code == 200
    row = one_audit(store, "login", username="town_sup", role="supervisor", scope=TOWN, ok=True)
    assert row["ip"] == "127.0.0.1"
    assert store.get_user("town_sup").last_login is not None


@pytest.mark.parametrize("nxt", ["//evil.example", "//evil.example/path", "http://evil.example/",
                                 "https://evil.example", "/\\evil.example", "\\\\evil.example", "evil.example",
                                 "javascript:alert(1)", "/login?next=//evil.example", ""])
def test_login_does_not_follow_next_to_another_site(server, nxt):
    client = server.test_client()
    resp = client.post("/login", data={"username": "town_sup", "password": PASSWORD,
                                       "csrf_token": csrf_of(client), "next": nxt})
    assert resp.status_code == 302 and location(resp) == "/", location(resp)
    # nor through the login page's hidden field
    page = client.get("/login", query_string={"next": nxt}).get_data(as_text=True)
    assert 'name="next" value="/"' in page


@pytest.mark.parametrize("nxt", [
    pytest.param("/\t/evil.example"),  # a browser drops the tab: "//evil.example"
    pytest.param("/\r\n/evil.example"),  # a newline in a header value
])
def test_login_next_with_control_characters_stays_local(server, nxt):
    client = server.test_client()
    resp = client.post("/login", data={"username": "town_sup", "password": PASSWORD,
                                       "csrf_token": csrf_of(client), "next": nxt})
    assert resp.status_code == 302
    target = urlsplit(location(resp))
    assert not target.netloc and not location(resp).startswith("//"), location(resp)


def test_secure_cookie_flag(auth_on, monkeypatch):  # noqa: F811
    """JINJIAN_SECURE_COOKIES=1 (behind HTTPS): the session cookie is Secure too (read
    when the gate is installed: a bare Flask server with auth.install)."""
    import flask

    from auth import install

    monkeypatch.setenv("JINJIAN_SECURE_COOKIES", "1")
    app = flask.Flask("secure_cookies")
    install(app)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    client = app.test_client()
    resp = login(client, "city_leader")
    flags = [f.strip().lower() for f in set_cookie_headers(resp)[0].split(";")[1:]]
    assert {"secure", "httponly", "samesite=lax"} <= set(flags)


def test_wrong_password_is_401_with_message_and_audit(server, store):
    client = server.test_client()
    resp = login(client, "town_sup", "wrong-Passw0rd", expect=401)
    html = resp.get_data(as_text=True)
    assert resp.mimetype == "text/html" and "用户名或密码错误" in error_text(html)
    assert 'value="town_sup"' in html  # the username is kept, the password is not
    assert "wrong-Passw0rd" not in html
    row = one_audit(store, "login_failed", username="town_sup", ok=False, target="town_sup")
    assert "password" in row["detail"]
    assert (row["role"], row["scope"]) == ("supervisor", TOWN)  # filed under the account: its admin sees it
    assert store.audit_rows(scope=TOWN, action="login_failed")
    assert client.get("/api/v1/regions/441900003").status_code == 401
    assert audits(store, "login") == []
    # an unknown user gets exactly the same answer (no user enumeration)
    other = login(server.test_client(), "nobody_here", "wrong-Passw0rd", expect=401)
    assert error_text(other.get_data(as_text=True)) == error_text(html)
    row = one_audit(store, "login_failed")
    assert (row["username"], row["role"], row["scope"]) == ("nobody_here", "", "")


def test_empty_password_is_refused(server):
    login(server.test_client(), "town_sup", "", expect=401)


def test_disabled_user_cannot_log_in(server, store):
    store.update_user("town_view", disabled=True)
    client = server.test_client()
    resp = login(client, "town_view", expect=401)
    assert "已停用" in error_text(resp.get_data(as_text=True))
    one_audit(store, "login_failed", username="town_view", ok=False)
    assert client.get("/api/v1/regions/441900003").status_code == 401
    store.update_user("town_view", disabled=False)
    login(server.test_client(), "town_view")


def test_user_outside_the_jurisdiction_cannot_log_in(server, store):
    store.add_user("gz_user", PASSWORD, "viewer", "4401")  # Guangzhou: not inside JINJIAN_ROOT_REGION=4419
    login(server.test_client(), "gz_user", expect=401)
    assert "4401" in one_audit(store, "login_failed", username="gz_user")["detail"]


def test_logout_needs_post_with_csrf(server, store):
    client = logged_in(server, "town_sup")
    api = "/api/v1/regions/441900003"
    # GET /logout does not log out (a link or an <img> on another site cannot end the session)
    resp = client.get("/logout")
    assert resp.status_code == 302
    assert client.get(api).status_code == 200
    # POST without a token / with a wrong one: 403 and audited, the session goes on
    resp = client.post("/logout")
    assert resp.status_code == 403 and "页面已过期" in resp.get_data(as_text=True)
    one_audit(store, "csrf_rejected", ok=False, target="/logout")
    assert client.post("/logout", data={"csrf_token": "x" * 43}).status_code == 403
    assert len(audits(store, "csrf_rejected")) == 2
    assert client.get(api).status_code == 200
    assert audits(store, "logout") == []
    # with the session's token: the session ends
    resp = client.post("/logout", data={"csrf_token": csrf_of(client)})
    assert resp.status_code == 302 and urlsplit(location(resp)).path == "/login"
    assert client.get(api).status_code == 401
    assert client.get("/tasks").status_code == 302
    one_audit(store, "logout", username="town_sup", ok=True)


def test_logout_token_of_another_session_is_refused(server, store):
    a, b = logged_in(server, "town_sup"), logged_in(server, "town_view")
    assert b.post("/logout", data={"csrf_token": csrf_of(a)}).status_code == 403
    assert b.get("/api/v1/regions/441900003").status_code == 200
    one_audit(store, "csrf_rejected", ok=False, target="/logout")


def test_refusals_on_public_routes_name_who_asked(server, store):
    client = logged_in(server, "town_sup")
    assert client.post("/logout").status_code == 403
    row = one_audit(store, "csrf_rejected", target="/logout")
    assert (row["username"], row["role"], row["scope"]) == ("town_sup", "supervisor", TOWN)
    assert server.test_client().get("/wall/jjw_unknown").status_code == 403
    row = one_audit(store, "display_denied")
    assert row["username"] != "system" and row["role"] != "admin"


# ----------------------------------------------------------------------------- 2. throttling
@pytest.fixture
def throttled(server, monkeypatch):
    monkeypatch.setenv("JINJIAN_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("JINJIAN_LOGIN_LOCK_MINUTES", "15")
    return server


def test_three_failures_lock_the_account(throttled, store):
    client = throttled.test_client()
    hints = []
    for _ in range(3):
        resp = login(client, "town_view", "bad-Passw0rd", expect=401)
        hints.append(error_text(resp.get_data(as_text=True)))
    assert "还可尝试 2 次" in hints[0] and "还可尝试 1 次" in hints[1]
    # now even the right password is refused, without being checked
    resp = login(client, "town_view", PASSWORD, expect=429)
    assert "登录失败次数过多" in error_text(resp.get_data(as_text=True))
    assert client.get("/api/v1/regions/441900003").status_code == 401
    row = one_audit(store, "login_locked", username="town_view", ok=False)
    assert "3 failures" in row["detail"]
    assert len(audits(store, "login_failed", username="town_view")) == 3
    # from another browser too (the lock is per account, not per session)
    login(throttled.test_client(), "town_view", PASSWORD, expect=429)
    # another user is not affected
    login(throttled.test_client(), "town_sup")
    # after the window the account opens again (attempts moved back by 16 minutes)
    from auth.store import login_attempts

    with store.engine.begin() as conn:
        conn.execute(update(login_attempts).values(at=dt.datetime.now().replace(microsecond=0)
                                                   - dt.timedelta(minutes=16)))
    fresh = throttled.test_client()
    login(fresh, "town_view")
    assert fresh.get("/api/v1/regions/441900003").status_code == 200


def test_lock_expires_with_a_short_window(throttled, monkeypatch):
    monkeypatch.setenv("JINJIAN_LOGIN_LOCK_MINUTES", "0.1")  # 6 s, the shortest
    client = throttled.test_client()
    for _ in range(3):
        login(client, "town_view", "bad-Passw0rd", expect=401)
    login(client, "town_view", expect=429)
    time.sleep(6.5)
    login(client, "town_view")


def test_successful_login_resets_the_count(throttled):
    client = throttled.test_client()
    for _ in range(2):
        login(client, "town_view", "bad-Passw0rd", expect=401)
    login(client, "town_view")
    time.sleep(1.1)  # attempts are stored to the second: the next ones are after the success
    for _ in range(2):
        login(client, "town_view", "bad-Passw0rd", expect=401)
    login(client, "town_view")  # 4 failures in the window, but only 2 since the last success
    time.sleep(1.1)
    for _ in range(3):
        login(client, "town_view", "bad-Passw0rd", expect=401)
    login(client, "town_view", expect=429)


def test_many_failures_from_one_address_lock_it(throttled, store):
    """Password spraying: failures over many user names from one address lock that
    address (4 × JINJIAN_LOGIN_MAX_FAILURES), not the others."""
    client = throttled.test_client()
    for i in range(12):
        login(client, f"guess{i:02d}", "bad-Passw0rd", expect=401)
    login(throttled.test_client(), "city_leader", expect=429)
    assert "from 127.0.0.1" in one_audit(store, "login_locked", username="city_leader")["detail"]
    other = throttled.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    login(other, "city_leader")
    assert one_audit(store, "login", username="city_leader")["ip"] == "10.1.2.3"


# ----------------------------------------------------------------------------- 3. CSRF
def test_login_without_or_with_wrong_csrf_is_403(server, store):
    client = server.test_client()
    client.get("/login")
    data = {"username": "town_sup", "password": PASSWORD, "next": "/"}
    resp = client.post("/login", data=data)
    assert resp.status_code == 403 and "页面已过期" in error_text(resp.get_data(as_text=True))
    assert client.post("/login", data={**data, "csrf_token": "forged" * 8}).status_code == 403
    assert client.post("/login", data={**data, "csrf_token": ""}).status_code == 403
    # a valid token of another session does not count either
    assert client.post("/login", data={**data, "csrf_token": csrf_of(server.test_client())}).status_code == 403
    # a session without any token (never saw the form)
    assert server.test_client().post("/login", data={**data, "csrf_token": "x"}).status_code == 403
    assert len(audits(store, "csrf_rejected")) == 5
    assert audits(store, "login") == [] and audits(store, "login_failed") == []
    assert client.get("/api/v1/regions/441900003").status_code == 401


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "http://localhost.evil.example"},
                                     {"Origin": "http://localhost", "Sec-Fetch-Site": "cross-site"}])
def test_cross_site_callback_post_is_403(server, store, headers):
    client = logged_in(server, "town_sup")
    body = wall_body(client, TOWN)
    assert dash_post(client, body, {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}).status_code == 200
    resp = dash_post(client, body, headers)
    assert resp.status_code == 403 and resp.mimetype == "application/json"
    row = one_audit(store, "csrf_rejected", ok=False, username="town_sup")
    assert row["target"].startswith("/_dash-update-component")


def test_cross_site_post_of_the_export_is_refused_before_the_export(server, store):
    client = logged_in(server, "town_sup")
    resp = dash_post(client, tasks_export_body(client, TOWN), {"Origin": "http://evil.example"})
    assert resp.status_code == 403
    one_audit(store, "csrf_rejected", username="town_sup")
    assert audits(store, "export_xlsx") == []


# ----------------------------------------------------------------------------- 4. sessions end
@pytest.mark.parametrize("user,change", [
    ("town_sup", {"disabled": True}),
    ("town_sup", {"password": "N3w-password-2026"}),
    ("city_leader", {"role": "viewer"}),
    ("city_leader", {"scope": TOWN}),
    ("town_sup", {"scope": "441900004"}),
])
def test_session_ends_when_the_account_changes(server, store, user, change):
    client = logged_in(server, user)
    api = f"/api/v1/regions/{TOWN}"
    assert client.get(api).status_code == 200
    body = wall_body(client, TOWN)
    assert dash_post(client, body).status_code == 200
    store.update_user(user, **change)
    assert client.get(api).status_code == 401
    assert client.get("/tasks").status_code == 302
    assert dash_post(client, body).status_code == 401
    if not change.get("disabled"):  # a new login picks up the change
        fresh = server.test_client()
        login(fresh, user, change.get("password", PASSWORD))
        assert fresh.get(f"/api/v1/regions/{DG}").status_code == (
            200 if change.get("role") == "viewer" else 403)


def test_display_name_change_keeps_the_session(server, store):
    client = logged_in(server, "town_sup")
    store.update_user("town_sup", display_name="东城监管员")
    assert client.get(f"/api/v1/regions/{TOWN}").status_code == 200


def test_admin_update_ends_the_session(server, store):
    from auth.admin import Actor, update_user

    client = logged_in(server, "town_view")
    update_user(store, Actor(None), "town_view", role="supervisor")
    assert client.get(f"/api/v1/regions/{TOWN}").status_code == 401
    one_audit(store, "user_update", target="town_view")


def test_tampered_cookie_is_rejected(server):
    import flask
    from flask.sessions import SecureCookieSessionInterface

    client = logged_in(server, "town_sup")
    api = f"/api/v1/regions/{TOWN}"
    value = client.get_cookie(COOKIE).value
    assert client.get(api).status_code == 200
    # one character of the signature changed
    bad = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    client.set_cookie(COOKIE, bad)
    assert client.get(api).status_code == 401
    assert client.get("/").status_code == 302
    # the payload changed (another user) under the old signature
    import zlib

    from itsdangerous.encoding import base64_decode, base64_encode

    payload, stamp, sig = value.rsplit(".", 2)
    raw = base64_decode(payload.lstrip("."))
    data = json.loads(zlib.decompress(raw) if payload.startswith(".") else raw)
    assert data["uid"] == "town_sup"
    data["uid"] = "city_admin"
    forged = server.test_client()
    forged.set_cookie(COOKIE, ".".join([base64_encode(json.dumps(data).encode()).decode(), stamp, sig]))
    assert forged.get(f"/api/v1/regions/{DG}").status_code == 401
    # signed with another key: refused; with the server's own key: accepted (the forging works)
    other = flask.Flask("forger")
    other.secret_key = "not-the-server-key-" * 3
    iface = SecureCookieSessionInterface()
    ver = 1
    for key_app, status in ((other, 401), (server, 200)):
        c = server.test_client()
        c.set_cookie(COOKIE, iface.get_signing_serializer(key_app).dumps({"uid": "city_admin", "ver": ver}))
        assert c.get(f"/api/v1/regions/{DG}").status_code == status, key_app
    # a session naming a user that does not exist
    c = server.test_client()
    c.set_cookie(COOKIE, iface.get_signing_serializer(server).dumps({"uid": "ghost", "ver": 1}))
    assert c.get(f"/api/v1/regions/{DG}").status_code == 401


def test_session_expires_after_the_session_hours(server):
    """A cookie last refreshed more than JINJIAN_SESSION_HOURS (12) ago is refused, though
    correctly signed; a recent one is accepted and refreshed (sliding expiry)."""
    from flask.sessions import SecureCookieSessionInterface

    client = logged_in(server, "town_sup")
    api = f"/api/v1/regions/{TOWN}"
    ver = 1
    ser = SecureCookieSessionInterface().get_signing_serializer(server)
    hours = server.permanent_session_lifetime.total_seconds() / 3600
    assert hours == 12

    def cookie_from(seconds_ago: float) -> str:
        signer = ser.make_signer()
        signer.get_timestamp = lambda: int(time.time() - seconds_ago)  # type: ignore[method-assign]
        return signer.sign(ser.dump_payload({"uid": "town_sup", "ver": ver, "_permanent": True})).decode()

    for ago, status in ((11 * 3600, 200), (13 * 3600, 401)):
        c = server.test_client()
        c.set_cookie(COOKIE, cookie_from(ago))
        resp = c.get(api)
        assert resp.status_code == status, ago
        if status == 200:  # refreshed on every request
            assert set_cookie_headers(resp)
    assert client.get(api).status_code == 200


@pytest.mark.parametrize("user,status", [("town_sup", 403), ("city_leader", 403), ("town_view", 403),
                                         ("city_admin", 200)])
def test_admin_page_needs_the_admin_role(server, store, user, status):
    client = logged_in(server, user)
    assert client.get("/admin").status_code == status
    if status == 403:
        row = one_audit(store, "perm_denied", username=user)
        assert "admin" in row["detail"]
        assert dash_post(client, page_body(client, "/admin")).status_code == 403
        assert len(audits(store, "perm_denied")) == 2


@pytest.mark.parametrize("query", [f"region={TOWN}&region={DG}", f"region={DG}&region={TOWN}",
                                   f"region=%20{DG}%20", "grid=441900004001001", f"grid={DG}", "region=all"])
def test_every_region_named_in_the_url_is_checked(server, store, query):
    client = logged_in(server, "town_sup")
    assert client.get(f"/tasks?{query}").status_code == 403
    one_audit(store, "scope_denied", username="town_sup")


# ----------------------------------------------------------------------------- 5. display tokens
@pytest.fixture
def wall_token(server, store):
    from auth.admin import Actor, create_token

    token, secret = create_token(store, Actor(None), "东城大屏", TOWN)
    return token, secret


def open_wall(server, secret: str):
    client = server.test_client()
    resp = client.get(f"/wall/{secret}")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return client, resp


def test_display_token_opens_the_wall_only(server, store, wall_token):
    token, secret = wall_token
    assert secret.startswith("jjw_") and len(secret) > 30
    assert store.find_token(secret).id == token.id
    one_audit(store, "token_create", region=TOWN)
    client, resp = open_wall(server, secret)
    assert location(resp) == f"/?region={TOWN}"
    flags = [f.strip().lower() for f in set_cookie_headers(resp)[0].split(";")[1:]]
    assert "httponly" in flags and "samesite=lax" in flags
    one_audit(store, "display_open", region=TOWN, username=f"display:{token.id}", ok=True)
    # the wall page, its layout and its callbacks
    assert client.get(f"/?region={TOWN}").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    resp = dash_post(client, wall_body(client, TOWN))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert "wall-kpi-stock" in resp.get_data(as_text=True)
    assert dash_post(client, page_body(client, "/", f"?region={TOWN}")).status_code == 200
    assert audits(store, "display_denied") == []
    # nothing else
    denied = [client.get("/tasks"), client.get(f"/region/{TOWN}"), client.get(f"/api/v1/regions/{DG}"),
              client.get(f"/api/v1/regions/{TOWN}"), client.get("/report/print?region=441900003"),
              dash_post(client, tasks_export_body(client, TOWN)),
              dash_post(client, dash_body(client, "tasks-region-name.children", {"tasks-region.value": TOWN})),
              dash_post(client, page_body(client, "/tasks", f"?region={TOWN}"))]
    assert [r.status_code for r in denied] == [403] * len(denied)
    rows = audits(store, "display_denied")
    assert len(rows) == len(denied)
    assert {r["username"] for r in rows} == {f"display:{token.id}"}
    targets = " ".join(r["target"] for r in rows)
    assert "/tasks" in targets and "tasks-download" in targets and f"/api/v1/regions/{DG}" in targets
    assert audits(store, "export_xlsx") == []


def test_display_token_stays_in_its_region(server, store, wall_token):
    _, secret = wall_token
    client, _ = open_wall(server, secret)
    for region in (DG, "441900004", "", "4401"):
        resp = dash_post(client, wall_body(client, region))
        assert resp.status_code == 403, (region, resp.status_code)
        row = one_audit(store, "scope_denied", ok=False)
        assert row["region"] == region and row["scope"] == TOWN
    assert client.get(f"/?region={DG}").status_code == 403
    assert dash_post(client, page_body(client, "/", f"?region={DG}")).status_code == 403
    # a village inside the town is fine
    village = f"{TOWN}001"
    assert dash_post(client, wall_body(client, village)).status_code == 200


def test_revoked_token_ends_the_wall_session(server, store, wall_token):
    from auth.admin import Actor, revoke_token

    token, secret = wall_token
    client, _ = open_wall(server, secret)
    assert dash_post(client, wall_body(client, TOWN)).status_code == 200
    assert revoke_token(store, Actor(None), token.id) is True
    one_audit(store, "token_revoke", region=TOWN)
    resp = dash_post(client, wall_body(client, TOWN))
    assert resp.status_code == 401
    assert client.get("/").status_code == 302
    resp = server.test_client().get(f"/wall/{secret}")
    assert resp.status_code == 403 and "已被吊销" in resp.get_data(as_text=True)
    assert resp.headers.get("Location") is None and set_cookie_headers(resp) == []
    row = one_audit(store, "display_denied", ok=False)
    assert secret not in row["detail"] and secret[:8] in row["detail"]  # the secret is not logged
    assert revoke_token(store, Actor(None), token.id) is False


@pytest.mark.parametrize("secret", ["jjw_unknown-token-000000000000", "x", "jjw_" + "A" * 32])
def test_unknown_token_is_403(server, store, secret):
    resp = server.test_client().get(f"/wall/{secret}")
    assert resp.status_code == 403 and "大屏链接无效" in resp.get_data(as_text=True)
    one_audit(store, "display_denied", ok=False)
    assert audits(store, "display_open") == []


def test_wall_link_replaces_a_user_session(server, store, wall_token):
    """Opening a wall link in a browser where someone is signed in starts a display
    session: the user's rights do not leak into the wall screen."""
    _, secret = wall_token
    client = logged_in(server, "city_admin")
    assert client.get(f"/api/v1/regions/{DG}").status_code == 200
    assert client.get(f"/wall/{secret}").status_code == 302
    assert client.get(f"/api/v1/regions/{DG}").status_code == 403


def test_token_cannot_be_created_outside_the_jurisdiction(server, store):
    from auth.admin import Actor, create_token
    from queries.errors import ScopeViolation

    with pytest.raises(ScopeViolation):
        create_token(store, Actor(None), "广州大屏", "4401")
    assert store.list_tokens() == []


# ----------------------------------------------------------------------------- 6. masking
def masked_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1)


def masked_id(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


@pytest.mark.parametrize("user,pii", [("town_view", False), ("town_sup", True)])
def test_api_profile_masks_personal_data_without_pii(server, demo_data, user, pii):
    ind, firm = individual_and_enterprise(demo_data)
    client = logged_in(server, user)
    resp = client.get(f"/api/v1/entities/{ind['credit_code']}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    got = resp.get_json()["entity"]
    assert got["credit_code"] == ind["credit_code"] and got["name"] == ind["name"]
    if pii:
        assert (got["legal_rep"], got["owner_id"]) == (ind["legal_rep"], ind["owner_id"])
    else:
        assert got["legal_rep"] == masked_name(ind["legal_rep"]) != ind["legal_rep"]
        assert got["owner_id"] == masked_id(ind["owner_id"]) and ind["owner_id"] not in resp.get_data(as_text=True)
        assert re.fullmatch(r"[0-9]{6}\*{8}[0-9X]{4}", got["owner_id"])
    body = client.get(f"/api/v1/entities/{firm['credit_code']}").get_json()["entity"]
    assert body["legal_rep"] == firm["legal_rep"]  # an enterprise's legal representative is public
    assert body["owner_id"] in ("", None)


@pytest.mark.parametrize("user", ["city_leader", "city_admin"])
def test_leader_and_admin_see_masked_personal_data(server, demo_data, user):
    ind, firm = individual_and_enterprise(demo_data)
    client = logged_in(server, user)
    got = client.get(f"/api/v1/entities/{ind['credit_code']}").get_json()["entity"]
    assert got["legal_rep"] == masked_name(ind["legal_rep"]) and got["owner_id"] == masked_id(ind["owner_id"])
    assert client.get(f"/api/v1/entities/{firm['credit_code']}").get_json()["entity"]["legal_rep"] == firm["legal_rep"]


@pytest.mark.parametrize("user,pii", [("town_view", False), ("town_sup", True), ("city_leader", False)])
def test_entity_page_masks_personal_data_without_pii(server, demo_data, user, pii):
    ind, firm = individual_and_enterprise(demo_data)
    client = logged_in(server, user)
    assert client.get(f"/entity/{ind['credit_code']}").status_code == 200
    resp = dash_post(client, dash_body(client, "entity-title.children",
                                       {"entity-code.data": ind["credit_code"], "entity-date.date": END}))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    text = response_text(resp)
    assert ind["name"] in text
    if pii:
        assert ind["legal_rep"] in text and ind["owner_id"] in text
    else:
        assert masked_name(ind["legal_rep"]) in text and masked_id(ind["owner_id"]) in text
        assert ind["owner_id"] not in text and ind["owner_id"][6:14] not in text
        assert ind["legal_rep"] not in text
    resp = dash_post(client, dash_body(client, "entity-title.children",
                                       {"entity-code.data": firm["credit_code"], "entity-date.date": END}))
    assert firm["legal_rep"] in response_text(resp)


def test_entity_list_api_carries_no_personal_data(server, demo_data):
    client = logged_in(server, "town_view")
    body = client.get(f"/api/v1/entities?region={TOWN}&page_size=500").get_json()
    text = json.dumps(body, ensure_ascii=False)
    ent = town_entities(demo_data)
    ids = ent.loc[ent["owner_id"].fillna("") != "", "owner_id"]
    assert not any(i in text for i in ids)
    assert all("legal_rep" not in item and "owner_id" not in item for item in body["items"])


# ----------------------------------------------------------------------------- 7. scope
def alive(ent: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    return ent[(ent["reg_date"] <= day) & ((ent["status"] == "active") | (ent["status_date"] > day))]


def test_town_supervisor_sees_the_town_with_right_numbers(server, dongguan, demo_data, store):
    from queries.filters import NATIONAL
    from queries.regions import region_node

    client = logged_in(server, "town_sup")
    ent = town_entities(demo_data)
    body = client.get(f"/api/v1/regions/{TOWN}").get_json()
    assert body["node"]["code"] == TOWN and body["node"]["level"] == 4
    node = region_node(dongguan, TOWN, NATIONAL)
    assert [c["code"] for c in body["children"]] == list(node.children["code"])
    assert set(ent["grid_code"].str[:12]) <= {c["code"] for c in body["children"]}
    assert [p["code"] for p in body["path"]] == ["", "44", DG, TOWN]
    # entity list: the town's entities, by default (the user's scope) and by name
    listed = client.get(f"/api/v1/entities?region={TOWN}&page_size=500").get_json()
    assert listed["total"] == len(ent)
    default = client.get("/api/v1/entities?page_size=500").get_json()
    assert default["total"] == len(ent)
    codes = {i["credit_code"] for p in range(1, default["pages"] + 1)
             for i in client.get(f"/api/v1/entities?page_size=500&page={p}").get_json()["items"]}
    assert codes == set(ent["credit_code"])
    for etype in ("individual", "enterprise"):
        got = client.get(f"/api/v1/entities?entity_type={etype}&page_size=1").get_json()["total"]
        assert got == (ent["entity_type"] == etype).sum()
    # an indicator value: the number of live entities at the end of the data
    val = client.get(f"/api/v1/indicators/entity_stock/values?region={TOWN}&date={END}").get_json()
    assert val["region"]["code"] == TOWN
    assert val["items"][0]["value"] == len(alive(ent, pd.Timestamp(DEMO_END)))
    default = client.get(f"/api/v1/indicators/entity_stock/values?date={END}").get_json()
    assert default["region"]["code"] == TOWN and default["items"][0]["value"] == val["items"][0]["value"]
    assert audits(store, "scope_denied") == []


@pytest.mark.parametrize("url,region", [
    (f"/api/v1/regions/{DG}", DG), ("/api/v1/regions/4401", "4401"), ("/api/v1/regions", ""),
    ("/api/v1/regions/441900004", "441900004"), ("/api/v1/regions/44", "44"),
    (f"/api/v1/indicators/entity_stock/values?region={DG}&date={END}", DG),
    (f"/api/v1/indicators/entity_stock/values?region=&date={END}", ""),
    (f"/api/v1/entities?region={DG}", DG), ("/api/v1/entities?region=441900004", "441900004"),
])
def test_town_supervisor_is_refused_outside_the_town(server, store, url, region):
    client = logged_in(server, "town_sup")
    resp = client.get(url)
    assert resp.status_code == 403, (url, resp.get_data(as_text=True)[:300])
    assert resp.get_json()["error"]["code"] == "scope_violation"
    row = one_audit(store, "scope_denied", ok=False, username="town_sup", scope=TOWN)
    assert row["region"] == region and row["target"] == urlsplit(url).path
    assert (region or "全国") in row["detail"]
    assert len(audits(store, "scope_denied")) == 1  # exactly one entry per refusal


def test_entity_outside_the_town_403_does_not_say_where_it_is(server, demo_data):
    client = logged_in(server, "town_sup")
    out = outside_entity(demo_data)
    resp = client.get(f"/api/v1/entities/{out['credit_code']}")
    assert resp.status_code == 403
    text = resp.get_data(as_text=True)
    assert out["grid_code"][:9] not in text and out["name"] not in text, text


def test_entity_outside_the_town_is_403_not_404(server, store, demo_data):
    client = logged_in(server, "town_sup")
    out = outside_entity(demo_data)
    resp = client.get(f"/api/v1/entities/{out['credit_code']}")
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "scope_violation"
    row = one_audit(store, "scope_denied", username="town_sup")
    assert row["region"] == out["grid_code"] and out["credit_code"] in row["target"]
    assert out["name"] not in resp.get_data(as_text=True)
    # an entity that exists nowhere is still a 404
    from etl import uscc

    body8 = "MA000001"
    first17 = "91441900" + body8 + uscc.org_check_char(body8)
    unknown = first17 + uscc.check_char(first17)
    assert uscc.is_valid(unknown) and unknown not in set(demo_data.entities["credit_code"])
    assert client.get(f"/api/v1/entities/{unknown}").status_code == 404
    # the entity page and its callback
    assert client.get(f"/entity/{out['credit_code']}").status_code == 403
    resp = dash_post(client, dash_body(client, "entity-title.children",
                                       {"entity-code.data": out["credit_code"], "entity-date.date": END}))
    assert resp.status_code == 403 and out["name"] not in response_text(resp)
    assert len(audits(store, "scope_denied")) == 3


@pytest.mark.parametrize("path", [f"/region/{DG}", f"/tasks?region={DG}", f"/risk?region={DG}",
                                  "/region/441900004", f"/?region={DG}", f"/indicators?region={DG}"])
def test_pages_outside_the_town_are_403(server, store, path):
    client = logged_in(server, "town_sup")
    resp = client.get(path)
    assert resp.status_code == 403 and resp.mimetype == "text/html"
    assert "无权" in resp.get_data(as_text=True)
    one_audit(store, "scope_denied", username="town_sup")
    # and the same through the page router's callback (client-side navigation)
    p, _, q = path.partition("?")
    assert dash_post(client, page_body(client, p, f"?{q}" if q else "")).status_code == 403
    assert len(audits(store, "scope_denied")) == 2


def test_pages_inside_the_town_are_200(server, store):
    client = logged_in(server, "town_sup")
    for path in (f"/region/{TOWN}", f"/tasks?region={TOWN}", "/tasks", "/", f"/?region={TOWN}", "/risk"):
        assert client.get(path).status_code == 200, path
        p, _, q = path.partition("?")
        assert dash_post(client, page_body(client, p, f"?{q}" if q else "")).status_code == 200, path
    assert audits(store, "scope_denied") == []


def test_callback_with_a_region_outside_the_scope_is_403(server, store):
    client = logged_in(server, "town_sup")
    ok = dash_post(client, dash_body(client, "tasks-region-name.children", {"tasks-region.value": TOWN}))
    assert ok.status_code == 200
    resp = dash_post(client, dash_body(client, "tasks-region-name.children", {"tasks-region.value": DG}))
    assert resp.status_code == 403
    row = one_audit(store, "scope_denied", username="town_sup", region=DG)
    assert "tasks-region-name" in row["target"]


def test_viewer_cannot_export_tasks(server, store):
    client = logged_in(server, "town_view")
    resp = dash_post(client, tasks_export_body(client, TOWN))
    assert resp.status_code == 403, resp.get_data(as_text=True)[:300]
    assert '"content"' not in resp.get_data(as_text=True)
    row = one_audit(store, "perm_denied", ok=False, username="town_view", role="viewer")
    assert "export" in row["detail"] and "tasks-download" in row["target"]
    assert audits(store, "export_xlsx") == []
    # the CSV export's server check too
    resp = dash_post(client, dash_body(client, "tasks-grid.exportDataAsCsv", {
        "tasks-export-csv.n_clicks": 1, "tasks-grid.csvExportParams": {"fileName": "x.csv"},
        "tasks-region.value": TOWN}))
    assert resp.status_code == 403
    assert audits(store, "export_csv") == [] and len(audits(store, "perm_denied")) == 2


def test_supervisor_export_is_audited(server, store, demo_data):
    client = logged_in(server, "town_sup")
    resp = dash_post(client, tasks_export_body(client, TOWN))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    data = resp.get_json()["response"]["tasks-download"]["data"]
    assert data["filename"].endswith(".xlsx") and TOWN in data["filename"]
    raw = base64.b64decode(data["content"])
    assert raw[:2] == b"PK"
    frame = pd.read_excel(io.BytesIO(raw))
    tasks = demo_data.tasks
    town_tasks = set(tasks.loc[tasks["grid_code"].str.startswith(TOWN), "task_id"].astype(str))
    id_col = next(c for c in frame.columns if "编号" in str(c))
    assert len(frame) and set(frame[id_col].astype(str)) <= town_tasks
    row = one_audit(store, "export_xlsx", ok=True, username="town_sup", region=TOWN)
    assert f"{len(frame)} rows" in row["target"]
    # the leader may export the whole city; the supervisor may not export it
    assert dash_post(client, tasks_export_body(client, DG)).status_code == 403
    one_audit(store, "scope_denied", username="town_sup", region=DG)
    assert len(audits(store, "export_xlsx")) == 1


def report_params(region: str) -> dict:
    return {"region": region, "period": "weekly", "date": WEEK}


def test_report_page_is_scoped(server, store):
    """The report page's store (report-params) is not an input the gate recognises: the
    query layer refuses the city for a town user, and the response is still a 403."""
    client = logged_in(server, "town_sup")
    ok = dash_post(client, dash_body(client, "report-body.children", {"report-params.data": report_params(TOWN)}))
    assert ok.status_code == 200 and '"ok"' in ok.get_data(as_text=True)
    resp = dash_post(client, dash_body(client, "report-body.children", {"report-params.data": report_params(DG)}))
    assert resp.status_code == 403
    assert "东莞市市场监管" not in response_text(resp)
    one_audit(store, "scope_denied", username="town_sup", region=DG)
    assert client.get(f"/report?region={DG}").status_code == 403


def test_report_excel_export_needs_export_and_is_audited(server, store):
    body = {"report-xlsx.n_clicks": 1, "report-params.data": report_params(TOWN)}
    viewer = logged_in(server, "town_view")
    resp = dash_post(viewer, dash_body(viewer, "report-download.data", body, changed=["report-xlsx.n_clicks"]))
    assert resp.status_code == 403 and '"content"' not in resp.get_data(as_text=True)
    assert "export" in one_audit(store, "perm_denied", username="town_view")["detail"]
    sup = logged_in(server, "town_sup")
    resp = dash_post(sup, dash_body(sup, "report-download.data", body, changed=["report-xlsx.n_clicks"]))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    data = resp.get_json()["response"]["report-download"]["data"]
    assert base64.b64decode(data["content"])[:2] == b"PK" and data["filename"].endswith(".xlsx")
    one_audit(store, "export_xlsx", username="town_sup", region=TOWN)
    city = {"report-xlsx.n_clicks": 1, "report-params.data": report_params(DG)}
    resp = dash_post(sup, dash_body(sup, "report-download.data", city, changed=["report-xlsx.n_clicks"]))
    assert resp.status_code == 403 and '"content"' not in resp.get_data(as_text=True)
    assert len(audits(store, "export_xlsx")) == 1


def test_audit_rows_are_scoped(server, store):
    logged_in(server, "town_sup").get(f"/api/v1/regions/{DG}")
    logged_in(server, "city_leader").get("/api/v1/regions/4401")
    town_rows = store.audit_rows(scope=TOWN)
    assert town_rows and {r["username"] for r in town_rows} == {"town_sup"}
    assert {r["username"] for r in store.audit_rows(scope=DG)} >= {"town_sup", "city_leader"}


# ----------------------------------------------------------------------------- 8. the report PDF
@pytest.fixture(scope="module")
def renderer():
    from reports.pdf import PdfRenderer

    r = PdfRenderer()
    yield r
    r.close()


@pytest.mark.slow
def test_report_pdf_for_the_town_through_the_render_ticket(server, dongguan, store, renderer, tmp_path):
    from queries.filters import NATIONAL
    from queries.regions import region_node
    from reports.build import render_pdf

    name = region_node(dongguan, TOWN, NATIONAL).name
    client = logged_in(server, "town_sup")
    with client:
        assert client.get(f"/report?region={TOWN}").status_code == 200
        from auth.current import current

        assert (current().name, current().scope) == ("town_sup", TOWN)
        pdf = render_pdf(server, TOWN, "weekly", WEEK, renderer=renderer)
    assert pdf[:5] == b"%PDF-"
    path = tmp_path / "town.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    squashed = re.sub(r"\s+", "", text)
    assert name in squashed and TOWN in squashed and "登录" not in squashed
    # nothing refused on the way (not even Chromium's own /favicon.ico request)
    refused = [(r["action"], r["target"]) for r in store.audit_rows(ok=False)]
    assert refused == []


def test_report_print_with_a_town_ticket_is_scoped(server, store, dongguan):
    from auth.render import ticket_for

    ticket = ticket_for(TOWN)
    ok = server.test_client().get(f"/report/print?region={TOWN}&period=weekly&date={WEEK}&ticket={ticket}")
    assert ok.status_code == 200 and 'data-state="ok"' in ok.get_data(as_text=True)
    client = server.test_client()
    resp = client.get(f"/report/print?region={DG}&period=weekly&date={WEEK}&ticket={ticket}")
    assert resp.status_code == 403
    body = resp.get_data(as_text=True)
    assert "data-state=\"ok\"" not in body and "东莞市市场监管" not in body
    row = one_audit(store, "scope_denied", ok=False, region=DG)
    assert row["username"] == "renderer" and row["scope"] == TOWN
    # the render session opens the report routes only
    assert client.get(f"/api/v1/regions/{TOWN}").status_code == 403
    assert client.get(f"/tasks?region={TOWN}").status_code == 403
    one_audit(store, "perm_denied", username="renderer")
    # and no ticket at all / a forged one: the login
    for bad in ("", "forged.ticket.value", ticket[:-3] + "abc", ticket_for(DG) + "x"):
        r = server.test_client().get(f"/report/print?region={TOWN}&period=weekly&date={WEEK}&ticket={bad}")
        assert r.status_code == 302 and urlsplit(location(r)).path == "/login", bad


def test_render_session_favicon_is_not_a_refusal(server, store, dongguan):
    from auth.render import ticket_for

    client = server.test_client()
    ok = client.get(f"/report/print?region={TOWN}&period=weekly&date={WEEK}&ticket={ticket_for(TOWN)}")
    assert ok.status_code == 200
    client.get("/favicon.ico")
    assert audits(store, "perm_denied") == []


def test_report_print_ticket_expires(server, monkeypatch):
    from auth import render

    ticket = render.ticket_for(TOWN)
    monkeypatch.setattr(render, "TICKET_SECONDS", -1)
    resp = server.test_client().get(f"/report/print?region={TOWN}&period=weekly&date={WEEK}&ticket={ticket}")
    assert resp.status_code == 302


def test_report_print_needs_login_without_ticket(server):
    resp = server.test_client().get(f"/report/print?region={TOWN}&period=weekly&date={WEEK}")
    assert resp.status_code == 302 and urlsplit(location(resp)).path == "/login"


def test_hashes_not_secrets_are_stored(server, store, wall_token):
    """Passwords as salted hashes, display tokens as their SHA-256 only."""
    from auth.store import display_tokens, users
    from sqlalchemy import select

    _, secret = wall_token
    with store.engine.connect() as conn:
        hashes = [r.pw_hash for r in conn.execute(select(users))]
        toks = [r.token_hash for r in conn.execute(select(display_tokens))]
    assert all(PASSWORD not in h and h.startswith(("scrypt:", "pbkdf2:")) for h in hashes)
    assert len(set(hashes)) == len(hashes)  # salted
    assert toks == [hashlib.sha256(secret.encode()).hexdigest()]
