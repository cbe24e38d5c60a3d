"""Login, logout and the display-token link: plain server-rendered forms (no script
needed), Chinese, with a CSRF token bound to the session and throttled logins."""
from __future__ import annotations

import datetime as dt
import hmac
import html
import logging
import secrets
import time
from dataclasses import dataclass

import flask
from flask import g, request, session

from auth import audit
from auth.config import AuthSettings
from auth.current import current, display_principal, effective_scope
from auth.roles import ROLES
from settings import Settings

logger = logging.getLogger(__name__)


def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def csrf_ok(value: object) -> bool:
    expected = session.get("csrf")  # compared as bytes: compare_digest refuses non-ASCII text (a 500)
    return bool(expected) and isinstance(value, str) and \
        hmac.compare_digest(str(expected).encode(), value.encode("utf-8", "replace"))


def _page(title: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/login.css"></head>
<body class="login-body"><main class="login-card">
<div class="login-brand">金监</div><div class="login-sub">智慧监管指挥平台</div>
{body}
</main></body></html>"""


def error_page(status: int, message: str) -> str:
    return _page(f"金监 · {status}", f"""<h1 class="login-title">{status} · 无法访问</h1>
<p class="login-error" role="alert">{html.escape(message)}</p>
<p class="login-links"><a href="/">返回首页</a> · <a href="/login">切换账号</a></p>""")


def login_page(message: str = "", username: str = "", nxt: str = "/", status: int = 200) -> flask.Response:
    msg = f'<p class="login-error" role="alert" id="login-error">{html.escape(message)}</p>' if message else ""
    body = f"""<h1 class="login-title">用户登录</h1>{msg}
<form method="post" action="/login" class="login-form" autocomplete="off">
<input type="hidden" name="csrf_token" value="{csrf_token()}">
<input type="hidden" name="next" value="{html.escape(nxt)}">
<label for="username">用户名</label>
<input id="username" name="username" value="{html.escape(username)}" required maxlength="64" autofocus>
<label for="password">密码</label>
<input id="password" name="password" type="password" required maxlength="256">
<button type="submit" id="login-submit">登录</button>
</form>
<p class="login-hint">连续 {AuthSettings.from_env().max_failures} 次密码错误将暂时锁定账号。大屏请使用管理员下发的大屏链接。</p>"""
    resp = flask.Response(_page("金监 · 登录", body), status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def safe_next(raw: str | None) -> str:
    """A local path to return to after login (never another site)."""
    from urllib.parse import urlsplit

    if (not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw or raw.startswith("/login")
            or any(ord(c) < 33 or ord(c) == 127 for c in raw)):  # browsers drop tabs/newlines: '/\t/x' is '//x'
        return "/"
    parts = urlsplit(raw)
    return "/" if parts.scheme or parts.netloc else raw


def login() -> flask.Response:
    cfg = AuthSettings.from_env()
    if request.method == "GET":
        return login_page(nxt=safe_next(request.args.get("next")))
    username = (request.form.get("username") or "").strip()[:64]
    nxt = safe_next(request.form.get("next"))
    if not csrf_ok(request.form.get("csrf_token")):
        g.denied = ("csrf_rejected", "login form without a valid CSRF token", "")
        return login_page("页面已过期，请重新登录", username, nxt, status=403)
    store = audit.store()
    ip = audit.client_ip()
    since = dt.datetime.now() - dt.timedelta(minutes=cfg.lock_minutes)
    by_user, by_ip, oldest = store.recent_failures(username, ip, since)
    if by_user >= cfg.max_failures or by_ip >= cfg.max_failures * 4:
        until = (oldest or dt.datetime.now()) + dt.timedelta(minutes=cfg.lock_minutes)
        minutes = max(1, int((until - dt.datetime.now()).total_seconds() // 60) + 1)
        known = store.get_user(username)
        audit.record("login_locked", ok=False, target=username, username=username, role=known.role if known else "",
                     scope=known.scope if known else "",
                     detail=f"{by_user} failures for the user, {by_ip} from {ip}")
        return login_page(f"登录失败次数过多，请 {minutes} 分钟后再试", username, nxt, status=429)
    user = store.check_password(username, request.form.get("password") or "")
    root = Settings.from_env().root_region
    scope = effective_scope(user.scope, root) if user else None
    if user is None or scope is None or user.role not in ROLES:
        store.note_login(username, ip, ok=False)
        why = "bad password or unknown/disabled user" if user is None else f"scope {user.scope} outside {root}"
        known = store.get_user(username)  # filed under the account's scope, so its administrator sees it
        audit.record("login_failed", ok=False, target=username, username=username, role=known.role if known else "",
                     scope=known.scope if known else "", detail=why)
        left = cfg.max_failures - by_user - 1
        hint = f"（还可尝试 {left} 次）" if 0 < left < cfg.max_failures else ""
        return login_page("用户名或密码错误，或账号已停用" + hint, username, nxt, status=401)
    store.note_login(username, ip, ok=True)
    session.clear()
    session.permanent = True
    session["uid"], session["ver"], session["at"] = user.username, user.session_version, int(time.time())
    csrf_token()
    audit.record("login", target=username, username=user.username, role=user.role, scope=scope)
    return flask.redirect(nxt)


def logout() -> flask.Response:
    if request.method == "POST" and not csrf_ok(request.form.get("csrf_token")):
        g.denied = ("csrf_rejected", "logout form without a valid CSRF token", "")
        return flask.Response(error_page(403, "页面已过期，请刷新后再退出"), status=403, mimetype="text/html")
    if request.method == "POST" and "uid" in session:
        known = audit.store().get_user(str(session["uid"]))
        if known is not None:  # every session of the user ends, not only this browser's cookie
            audit.store().end_sessions(known.username)
        audit.record("logout", target=str(session["uid"]), username=str(session["uid"]),
                     role=known.role if known else "", scope=known.scope if known else "")
    if request.method == "POST":
        session.clear()
    return flask.redirect("/login")


def open_display(token: str) -> flask.Response:
    """``/wall/<token>``: a wall screen's link. A valid token starts a read-only display
    session bound to the token's region and playlist and opens the command wall."""
    found = audit.store().find_token(token)
    root = Settings.from_env().root_region
    scope = effective_scope(found.region, root) if found else None
    if found is None or scope is None:
        g.denied = ("display_denied", f"unknown or revoked display token {token[:8]}…", "")
        return flask.Response(error_page(403, "大屏链接无效或已被吊销，请联系管理员重新下发"), status=403,
                              mimetype="text/html")
    session.clear()
    session.permanent = True
    session["dt"] = found.id
    g.principal = display_principal(found.id, found.name, scope, found.playlist)
    audit.record("display_open", target=found.name, region=scope)
    return flask.redirect(f"/?region={scope}")


@dataclass(frozen=True)
class NavAccount:
    """Who is signed in, for the navigation bar."""
    name: str
    role_zh: str
    scope: str
    csrf: str
    admin: bool


def nav_account() -> NavAccount | None:
    """The signed-in user for the navigation bar (None outside a request or without a user)."""
    if not flask.has_request_context():
        return None
    p = current()
    if p.kind != "user":
        return None
    role = ROLES.get(p.role)
    return NavAccount(p.display_name or p.name, role.zh if role else p.role, p.scope, csrf_token(), p.can("admin"))


def install_routes(server: flask.Flask) -> None:
    server.add_url_rule("/login", "auth_login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "auth_logout", logout, methods=["GET", "POST"])
    server.add_url_rule("/wall/<token>", "auth_wall", open_display, methods=["GET"])


def require_csrf(value: object) -> None:
    """For Dash forms (the /admin page): the token from the page's store must be the
    session's (PermissionDenied → 403 + audit entry otherwise)."""
    from auth.current import PermissionDenied

    if not csrf_ok(value):
        g.denied = ("csrf_rejected", "form without a valid CSRF token", "")
        raise PermissionDenied("CSRF token missing or wrong", user_message="页面已过期，请刷新后重试")
