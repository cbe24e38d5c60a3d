"""Access control end to end through the Flask server (JINJIAN_AUTH=1): login and
logout, throttling, CSRF and sessions that end when an account changes. Every refusal
is checked for its status *and* its audit entry (display tokens:
tests/test_auth_display.py; masking, scopes, exports and the report PDF:
tests/test_auth_scope.py).

Runs on both engines (the ``dongguan`` fixture is parametrised over chDB and a
ClickHouse server): jurisdiction 4419, users from tests/authkit.py."""
from __future__ import annotations

import datetime as dt
import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from tests.authkit import (COOKIE, DG, PASSWORD, TOWN, audits, auth_on, csrf_of, dash_post,  # noqa: F401
                           logged_in, login, location, one_audit, server, set_cookie_headers, store,
                           tasks_export_body, wall_body)


# ----------------------------------------------------------------------------- helpers
def error_text(html: str) -> str:
    m = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    return m.group(1) if m else ""


# ----------------------------------------------------------------------------- login and logout
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


# ----------------------------------------------------------------------------- throttling
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


# ----------------------------------------------------------------------------- CSRF
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


# ----------------------------------------------------------------------------- sessions end
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
        c.set_cookie(COOKIE, iface.get_signing_serializer(key_app).dumps(
            {"uid": "city_admin", "ver": ver, "at": int(__import__("time").time())}))
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
        return signer.sign(ser.dump_payload({"uid": "town_sup", "ver": ver, "_permanent": True,
                                             "at": int(time.time() - seconds_ago)})).decode()

    for ago, status in ((11 * 3600, 200), (13 * 3600, 401)):
        c = server.test_client()
        c.set_cookie(COOKIE, cookie_from(ago))
        resp = c.get(api)
        assert resp.status_code == status, ago
        if status == 200:  # refreshed on every request
            assert set_cookie_headers(resp)
    assert client.get(api).status_code == 200


def test_logout_ends_every_session_of_the_user_even_a_copied_cookie(server, store):
    """Issue 28 item 2: a cookie copied before the logout no longer reads anything; nor
    does the user's session in another browser; the user can sign in again."""
    api = "/api/v1/regions/441900003"
    here, other = logged_in(server, "town_sup"), logged_in(server, "town_sup")
    stolen = server.test_client()
    cookie = here.get_cookie("jinjian_session")
    stolen.set_cookie("jinjian_session", cookie.value)
    assert stolen.get(api).status_code == 200
    assert here.post("/logout", data={"csrf_token": csrf_of(here)}).status_code == 302
    assert stolen.get(api).status_code == 401 and other.get(api).status_code == 401
    assert logged_in(server, "town_sup").get(api).status_code == 200


def test_sessions_end_at_the_absolute_limit(server, store, monkeypatch):
    """JINJIAN_SESSION_MAX_HOURS: however active, a session ends that long after its login."""
    import time

    api = "/api/v1/regions/441900003"
    client = logged_in(server, "town_sup")
    monkeypatch.setenv("JINJIAN_SESSION_MAX_HOURS", "2")
    with client.session_transaction() as sess:
        sess["at"] = int(time.time()) - 3600  # an hour ago: still inside
    assert client.get(api).status_code == 200
    with client.session_transaction() as sess:
        sess["at"] = int(time.time()) - 3 * 3600  # logged in three hours ago
    assert client.get(api).status_code == 401
    assert client.get("/tasks").status_code == 302  # to the login page
