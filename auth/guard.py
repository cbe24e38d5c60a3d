"""The gate in front of every route: who is asking, and may they see this?

``before_request``:
1. public paths (login, assets, the display-token link, health, ingestion with its own
   token) pass; everything else needs a principal — a logged-in user, a display token
   session, or the local administrator when JINJIAN_AUTH=0;
2. a display-token session may reach the command wall and its callbacks only;
3. cross-site POSTs (an Origin or Sec-Fetch-Site of another site) are refused;
4. regions and entities named in a page URL or in a Dash callback's inputs (the page
   router's pathname/search, ``*-region`` stores, ``entity-code``) must lie inside the
   principal's scope.

Behind the gate the query layer checks the scope again (``RegionScope.check``). Any
refusal in a request — here, in a query, or a missing permission — turns the response
into a 403 with one audit entry (``after_request``), even when a page caught the error
to draw its "no access" panel.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import flask
from flask import g, request, session

from auth import audit
from auth.current import Principal, local_principal
from auth.render import RENDER_PATHS
from auth.session import load_principal
from domain.errors import InvalidParameter, ScopeViolation
from store.filters import check_region_code

logger = logging.getLogger(__name__)

PUBLIC_PREFIXES = ("/login", "/logout", "/wall/", "/assets/", "/_dash-component-suites/", "/static/",
                   "/_favicon.ico", "/api/v1/health", "/api/v1/openapi.json", "/api/v1/ingest/", "/healthz")
#: What a wall screen (display token) may reach.
DISPLAY_PATHS = ("/", "/_dash-layout", "/_dash-dependencies", "/_dash-update-component", "/_reload-hash")
DISPLAY_OUTPUT = re.compile(r"^(\.\.)?(wall-|_pages_)")
#: Callbacks a render-ticket session may call: those of the report page it prints.
RENDER_OUTPUT = re.compile(r"^(\.\.)?(report-|_pages_)")
RENDER_PAGES = ("/report", "/report/print")
#: What a work role (网格员, 社区调度员, 镇街处置人员: ``work`` without ``view``) may reach.
WORK_PATHS = ("/work", "/api/v1/work/", "/_dash-layout", "/_dash-dependencies", "/_dash-update-component",
              "/_reload-hash")
WORK_OUTPUT = re.compile(r"^(\.\.)?(work-|_pages_)")
#: Pages that need a permission beyond ``view``.
PAGE_PERMS = {"/admin": "admin", "/work": "work"}
#: Callback inputs holding a region code / a credit code.
REGION_INPUT = re.compile(r"(^|-)region$|^region-code$")
ENTITY_INPUTS = {"entity-code"}
URL_REGION_KEYS = ("region", "grid")


def _json_or_html(status: int, code: str, message: str) -> flask.Response:
    if request.path.startswith("/api/"):  # the API's error shape (api.openapi "Error")
        resp = flask.jsonify({"error": {"code": code, "message": message, "detail": f"{status} {code}"}})
        resp.status_code = status
        return resp
    if request.path.startswith("/_dash-"):
        resp = flask.jsonify({"error": code, "message": message})
        resp.status_code = status
        return resp
    from auth.web import error_page

    return flask.Response(error_page(status, message), status=status, mimetype="text/html")


def deny(kind: str, detail: str, region: str = "", message: str = "无权访问：超出您的管辖范围或权限") -> flask.Response:
    g.denied = (kind, detail, region)
    return _json_or_html(403, "forbidden", message)


def note_violation(code: str, prefix: str) -> None:
    """Listener of ``RegionScope.check``: remember the refusal for ``after_request``."""
    if flask.has_request_context() and g.get("principal") is not None and g.get("denied") is None:
        g.denied = ("scope_denied", f"region {code or '全国'} outside scope {prefix or '全国'}", code)


def _check_region(raw: Any) -> None:
    if not isinstance(raw, str):
        return
    code = "" if raw == "all" else raw.strip()
    if code == "root":
        return
    try:
        check_region_code(code)
    except InvalidParameter:
        return  # malformed: the page draws its 404 panel, the query layer refuses it
    g.principal.region_scope.check(code)


def _check_entity(raw: Any) -> None:
    if not isinstance(raw, str) or not re.fullmatch(r"[0-9A-Z]{18}", raw.strip().upper()):
        return
    from store.db import get_db
    from queries.entity_list import entity_grid

    code = raw.strip().upper()
    grid = entity_grid(get_db(), code)
    scope = g.principal.region_scope
    if grid is not None and not scope.contains(grid):
        hide(f"entity {code} outside scope {scope.prefix or '全国'}", grid)


def hide(detail: str, region: str = "") -> None:
    """Something named by the request exists outside the caller's scope: the answer is the
    one for something that does not exist (404, the not-found panel), so the caller cannot
    tell the two apart; the probe is audited once (``scope_denied``, ok=False) by
    :func:`after_request`."""
    if flask.has_request_context() and g.get("hidden") is None:
        g.hidden = ("scope_denied", f"{detail}; answered as not found", region)


def check_url(path: str, query: str) -> str | None:
    """Regions / entities named by a page URL; raises ScopeViolation. Returns the
    permission the page needs beyond ``view``, if any."""
    args = parse_qs(query or "")
    if path.startswith("/region/"):
        _check_region(path[len("/region/"):].strip("/"))
    if path.startswith("/entity/"):
        _check_entity(path[len("/entity/"):].strip("/"))
    for key in URL_REGION_KEYS:
        for value in args.get(key, []):
            _check_region(value)
    return PAGE_PERMS.get("/" + path.strip("/").split("/")[0] if path.strip("/") else "/")


def _callback_values(body: dict[str, Any]) -> list[tuple[Any, str, Any]]:
    out = []
    for item in list(body.get("inputs") or []) + list(body.get("state") or []):
        for one in (item if isinstance(item, list) else [item]):
            if isinstance(one, dict):
                out.append((one.get("id"), str(one.get("property", "")), one.get("value")))
    return out


def check_callback(p: Principal) -> flask.Response | None:
    from auth.callback_errors import body_problem

    try:
        body = json.loads(request.get_data(cache=True) or b"{}")
    except (ValueError, RecursionError):
        return _json_or_html(400, "bad_request", "请求格式不正确")
    problem = "not an object" if not isinstance(body, dict) else body_problem(body)
    if problem:
        logger.info("callback request refused (400): %s", problem)
        return _json_or_html(400, "bad_request", "请求格式不正确")
    output = g.callback_output = str(body.get("output", ""))
    if p.kind == "display" and not DISPLAY_OUTPUT.match(output):
        return deny("display_denied", f"callback {output[:120]}")
    if p.kind == "render" and not RENDER_OUTPUT.match(output):
        return deny("perm_denied", f"render ticket used for callback {output[:120]}")
    if _work_only(p) and not WORK_OUTPUT.match(output):
        return deny("perm_denied", f"work role used callback {output[:120]}")
    values = _callback_values(body)
    router = {prop: v for i, prop, v in values if i == "_pages_location"}
    if any(v is not None and not isinstance(v, str) for v in router.values()) or \
            ("pathname" in router and not str(router["pathname"] or "").startswith("/")):
        # Dash's page router parses these before any page code runs: refuse them here
        logger.info("callback request refused (400): page location %r", router)
        return _json_or_html(400, "bad_request", "请求格式不正确")
    pathname = next((v for i, prop, v in values if i == "_pages_location" and prop == "pathname"), None)
    if isinstance(pathname, str):
        search = next((v for i, prop, v in values if i == "_pages_location" and prop == "search"), "") or ""
        if p.kind == "display" and pathname.rstrip("/") != "":
            return deny("display_denied", f"page {pathname}")
        if p.kind == "render" and pathname.rstrip("/") not in RENDER_PAGES:
            return deny("perm_denied", f"render ticket used for page {pathname}")
        if _work_only(p) and not pathname.startswith("/work"):
            return deny("perm_denied", f"work role opened page {pathname}")
        perm = check_url(pathname, str(search).lstrip("?"))
        if perm and not p.can(perm):
            return deny("perm_denied", f"page {pathname} needs {perm}")
    for cid, _prop, value in values:
        if isinstance(cid, str) and REGION_INPUT.search(cid):
            for v in (value if isinstance(value, list) else [value]):
                _check_region(v)
        elif isinstance(cid, str) and cid in ENTITY_INPUTS:  # pattern-matching ids are dicts
            _check_entity(value)
    return None


def _work_only(p: Principal) -> bool:
    """A work role: the workbench and nothing of the dashboards."""
    return p.can("work") and not p.can("view")


def _same_site() -> bool:
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


def before_request() -> flask.Response | None:
    path = request.path
    if path.startswith(PUBLIC_PREFIXES):
        return None
    from auth.config import auth_enabled

    ticket = request.args.get("ticket")
    if ticket and path in ("/report/print", "/report"):
        from auth.render import redeem

        report = redeem(ticket, request.args.to_dict())  # spent now: once only, this report only
        if report is not None:
            session.clear()
            session["render"] = report  # the renderer's later requests (the Dash page's callbacks)
    p = load_principal(audit.store()) if auth_enabled() else local_principal()
    if p is None:
        if path.startswith(("/api/", "/_dash-")):
            return _json_or_html(401, "unauthenticated", "请先登录")
        nxt = request.full_path.rstrip("?")
        return flask.redirect(flask.url_for("auth_login", next=nxt))
    g.principal = p
    if request.method == "POST" and not _same_site():
        return deny("csrf_rejected", f"cross-site POST from {request.headers.get('Origin', '?')}")
    if p.kind == "display" and path not in DISPLAY_PATHS:
        return deny("display_denied", f"path {path}")
    if p.kind == "render" and path not in RENDER_PATHS:
        return deny("perm_denied", f"render ticket used for {path}")
    if _work_only(p) and not path.startswith(WORK_PATHS):
        if path == "/" and request.method == "GET":
            return flask.redirect("/work")  # after login: the workbench is their start page
        return deny("perm_denied", f"work role ({p.role}) reached {path}")
    try:
        if path == "/_dash-update-component":
            return check_callback(p)
        if request.method == "GET" and not path.startswith(("/api/", "/_dash-", "/reports/file", "/ingest/")):
            perm = check_url(path, request.query_string.decode("utf-8", "replace"))
            if perm and not p.can(perm):
                return deny("perm_denied", f"page {path} needs {perm}")
    except ScopeViolation:
        return _json_or_html(403, "forbidden", ScopeViolation.user_message)
    return None


def after_request(resp: flask.Response) -> flask.Response:
    denied = g.get("denied")
    if denied is None:
        hidden = g.get("hidden")
        if hidden is not None and not g.get("audited"):  # answered as not found, audited as refused
            g.audited = True
            target = request.path + (" " + g.callback_output[:150] if g.get("callback_output") else "")
            audit.record(hidden[0], ok=False, target=target, region=str(hidden[2]), detail=hidden[1])
        return resp
    kind, detail, region = (tuple(denied) + ("", ""))[:3]
    if resp.status_code < 400:
        logger.warning("403 instead of %s for %s: %s", resp.status_code, request.path, detail)
        message = ScopeViolation.user_message if kind == "scope_denied" else "您的角色无权执行此操作"
        resp = _json_or_html(403, "forbidden", message)
    if resp.status_code in (401, 403) and not g.get("audited"):
        g.audited = True
        target = request.path
        if g.get("callback_output"):
            target += " " + g.callback_output[:150]
        audit.record(kind, ok=False, target=target, region=str(region), detail=detail)
    return resp


def on_forbidden_error(exc: Exception) -> flask.Response:
    """A ScopeViolation / PermissionDenied a callback or route did not catch → 403."""
    if g.get("denied") is None:
        g.denied = ("scope_denied" if isinstance(exc, ScopeViolation) else "perm_denied", str(exc), "")
    return _json_or_html(403, "forbidden", getattr(exc, "user_message", "无权访问"))
