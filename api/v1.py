"""Open API v1: read-only JSON endpoints under ``/api/v1`` (see docs/api.md).

Every handler parses its parameters strictly (a bad value is a 400, never a
500), takes the engine from :func:`store.db.get_db` and computes within
:func:`api.scope.request_scope`. Every error has one JSON shape::

    {"error": {"code": "<machine code>", "message": "<中文>", "detail": "<English>"}}
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from typing import Any, Iterable, NoReturn, cast

import numpy as np
import pandas as pd
from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from api.openapi import MAX_DATE, MAX_PAGE, MIN_DATE, build_openapi
from api.scope import request_scope
from auth.current import PermissionDenied, can
from auth.guard import hide
from domain import uscc
from domain.regions import LEVEL_NAMES_ZH
from domain.codes import ENTITY_STATUSES, ENTITY_TYPES
from indicators.catalogue import CATALOGUE, INDICATORS
from queries.indicator_values import compute_with_comparisons
from indicators.model import CATEGORIES, Indicator
from indicators.periods import period_to_date, previous_period, span_json, year_ago
from domain import errors as qerr
from store.db import get_db
from queries.entity_list import (INDUSTRY_SECTIONS, LIST_COLUMNS, MAX_NAME_QUERY, MAX_PAGE_SIZE,
                                 EntityFilter, entity_grid, entity_list, entity_profile)
from store.executor import run
from store.filters import GRAIN_SQL, Filter, Grain
from etl.joint import CaseNotFound
from etl.random_checks import ItemNotFound
from etl.work_actions import StepRefused, TaskNotFound
from queries.regions import region_node
from settings import ConfigError, Settings

logger = logging.getLogger(__name__)

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

DEFAULT_GRAIN = "month"
DEFAULT_PAGE_SIZE = 50
#: Machine codes of the query layer's exceptions; a new subclass needs an entry here and in
#: api.openapi.ERROR_CODES (tests/test_api.py checks both).
ERROR_CODES: dict[type[qerr.JinjianError], str] = {
    qerr.InvalidParameter: "invalid_parameter", qerr.ScopeViolation: "scope_violation",
    qerr.RegionNotFound: "region_not_found", qerr.DatabaseUnavailable: "database_unavailable",
    qerr.QueryTimeout: "query_timeout", qerr.QueryFailed: "query_failed",
    PermissionDenied: "permission_denied", TaskNotFound: "not_found", StepRefused: "conflict", ItemNotFound: "not_found",
    CaseNotFound: "not_found",
    qerr.ConfigurationProblem: "config_error",
}
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT_RE = re.compile(r"[0-9]{1,9}")
_BOOLS = {"true": True, "false": False}
DATE_COLUMNS = ("reg_date", "status_date", "event_date", "due_date", "period_from", "period_to")
DATETIME_COLUMNS = ("event_time", "created_at", "closed_at")
BOOL_COLUMNS = ("abnormal", "dishonest", "problem_found")


class ApiError(Exception):
    """An error answered as the JSON error shape with ``status``."""

    def __init__(self, status: int, code: str, message: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.message, self.detail = status, code, message, detail


# ---------------------------------------------------------------- JSON
def _clean(value: Any) -> Any:
    """JSON-ready data: NaN/inf/NaT → None, numpy scalars → Python, dates → ISO."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(_clean(data), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(body, status=status, mimetype="application/json", headers=headers)


def _error(status: int, code: str, message: str, detail: str,
           headers: dict[str, str] | None = None) -> Response:
    return _json({"error": {"code": code, "message": message, "detail": detail}}, status, headers)


def _records(df: pd.DataFrame, columns: Iterable[str]) -> list[dict[str, Any]]:
    """Rows as dicts: Date columns as YYYY-MM-DD, DateTime as YYYY-MM-DDTHH:MM:SS
    (local time, no offset), 0/1 flags as booleans."""
    out = []
    for row in df.to_dict("records"):
        item = {}
        for col in columns:
            v = row.get(col)
            if col in DATE_COLUMNS or col in DATETIME_COLUMNS:
                v = None if v is None or pd.isna(v) else pd.Timestamp(v)
                if v is not None:
                    v = v.date().isoformat() if col in DATE_COLUMNS else v.isoformat(timespec="seconds")
            elif col in BOOL_COLUMNS:
                v = bool(v)
            item[col] = _clean(v)
        out.append(item)
    return out


# ---------------------------------------------------------------- parameters
def _bad(name: str, detail: str, message: str) -> NoReturn:
    raise ApiError(400, "invalid_parameter", message, f"parameter {name!r}: {detail}")


def _arg(name: str) -> str | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        _bad(name, "given more than once", f"参数 {name} 只能出现一次")
    return values[0] if values else None


def _enum_arg(name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
    value = _arg(name)
    if value is None:
        return default
    allowed = tuple(allowed)
    if value not in allowed:
        _bad(name, f"{value!r} not in {', '.join(allowed)}", f"参数 {name} 不支持该取值：{value}")
    return value


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = _arg(name)
    if raw is None:
        return default
    if not _INT_RE.fullmatch(raw):
        _bad(name, f"{raw!r} is not a whole number", f"参数 {name} 应为正整数")
    value = int(raw)
    if not lo <= value <= hi:
        _bad(name, f"{value} not in {lo}..{hi}", f"参数 {name} 应在 {lo}–{hi} 之间")
    return value


def _bool_arg(name: str, default: bool) -> bool:
    raw = _arg(name)
    if raw is None:
        return default
    if raw not in _BOOLS:
        _bad(name, f"{raw!r} is not true or false", f"参数 {name} 应为 true 或 false")
    return _BOOLS[raw]


def _date_arg(name: str = "date") -> dt.date:
    raw = _arg(name)
    if raw is None:
        return dt.date.today()
    try:
        if not _DATE_RE.fullmatch(raw):
            raise ValueError("not YYYY-MM-DD")
        day = dt.date.fromisoformat(raw)
    except ValueError:
        _bad(name, f"{raw!r} is not a date (YYYY-MM-DD)", "日期格式不正确，应为 YYYY-MM-DD")
    if not MIN_DATE <= day <= MAX_DATE:
        _bad(name, f"{day} not in {MIN_DATE}..{MAX_DATE}", f"日期应在 {MIN_DATE} 至 {MAX_DATE} 之间")
    return day


def _region_arg() -> str:
    """``region``: omitted = the deployment's root region, '' = the whole country."""
    raw = _arg("region")
    return request_scope().prefix if raw is None else raw


def _indicator(indicator_id: str) -> Indicator:
    ind = CATALOGUE.get(indicator_id)
    if ind is None:
        raise ApiError(404, "indicator_not_found", f"未知指标：{indicator_id}",
                       f"no indicator {indicator_id!r} in the catalogue")
    return ind


# ---------------------------------------------------------------- endpoints
@bp.get("/openapi.json")
def openapi() -> Response:
    return _json(build_openapi())


@bp.get("/health")
def health() -> Response:
    """200 when the database answers ``SELECT 1``, else 503 (same shape)."""
    engine = "chdb"
    try:
        engine = "server" if Settings.from_env().clickhouse_url else "chdb"
        db = get_db()
        engine = db.name if db.name in ("chdb", "server") else engine
        run(db, "api_health", "SELECT 1 AS ok")
        up = True
    except Exception as exc:  # noqa: BLE001 - health must answer whatever happens
        logger.warning("health check failed: %s", getattr(exc, "detail", exc))
        up = False
    body = {"status": "ok" if up else "degraded", "engine": engine, "database": "up" if up else "down",
            "time": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    return _json(body, 200 if up else 503, {"Cache-Control": "no-store"})


def _region_payload(code: str) -> Response:
    node = region_node(get_db(), code, request_scope())
    cols = ["code", "name", "level"]
    return _json({
        "node": {"code": node.code, "name": node.name, "level": node.level,
                 "level_name": LEVEL_NAMES_ZH.get(node.level, "")},
        "children": node.children[cols].to_dict("records"),
        "path": node.path[cols].to_dict("records"),
    })


@bp.get("/regions")
def regions_root() -> Response:
    return _region_payload("")


@bp.get("/regions/<code>")
def region(code: str) -> Response:
    return _region_payload(code)


@bp.get("/indicators")
def indicators() -> Response:
    category = _enum_arg("category", CATEGORIES)
    items = [i.public() for i in INDICATORS if category is None or i.category == category]
    return _json({"total": len(items), "items": items})


@bp.get("/indicators/<indicator_id>")
def indicator(indicator_id: str) -> Response:
    return _json(_indicator(indicator_id).public())


@bp.get("/indicators/<indicator_id>/values")
def indicator_values(indicator_id: str) -> Response:
    ind = _indicator(indicator_id)
    region_code = _region_arg()
    day = _date_arg()
    grain = cast(Grain, _enum_arg("grain", GRAIN_SQL, DEFAULT_GRAIN))
    children = _bool_arg("children", False)
    if grain not in ind.grains:
        _bad("grain", f"{ind.id} has no grain {grain!r}", f"指标 {ind.name_zh} 不支持时间粒度 {grain}")
    scope = request_scope()
    period = period_to_date(day, grain)
    flt = Filter(region=region_code, scope=scope, start=period.start, end=period.end, grain=grain)
    db = get_db()
    node = region_node(db, region_code, scope)
    levels = set(node.children["level"].astype(int)) if children else {node.level}
    if not levels <= set(ind.levels):
        _bad("region", f"{ind.id} is not defined at levels {sorted(levels)}",
             f"指标 {ind.name_zh} 不适用于该区划层级")
    df = compute_with_comparisons(db, [ind], flt, period, grain, by_child=children)
    cols = ["region_code", "region_name", "value", "numerator", "denominator", "grade",
            "prev_value", "yoy_value", "mom", "yoy"]
    items = [{c: row.get(c) for c in cols} for row in df.to_dict("records")]
    prev, ago = previous_period(period, grain), year_ago(period)
    return _json({
        "indicator": {"id": ind.id, "name_zh": ind.name_zh, "unit": ind.unit, "kind": ind.kind,
                      "decimals": ind.decimals},
        "region": {"code": node.code, "name": node.name, "level": node.level},
        "date": day, "grain": grain, "children": children,
        "period": {"start": period.start, "end": period.end},
        "previous_period": span_json(prev) if ind.comparable else None,
        "year_ago_period": span_json(ago) if ind.comparable else None,
        "items": items,
    })


@bp.get("/entities")
def entities() -> Response:
    region_code = _region_arg()
    page = _int_arg("page", 1, 1, MAX_PAGE)
    page_size = _int_arg("page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    q = _arg("q")
    if q is not None and len(q) > MAX_NAME_QUERY:
        _bad("q", f"longer than {MAX_NAME_QUERY} characters", f"名称关键词不能超过 {MAX_NAME_QUERY} 个字符")
    flt = EntityFilter(Filter(region=region_code, scope=request_scope()),
                       entity_type=_enum_arg("entity_type", ENTITY_TYPES),
                       status=_enum_arg("status", ENTITY_STATUSES),
                       industry=_enum_arg("industry", INDUSTRY_SECTIONS),
                       name_contains=q or None)
    result = entity_list(get_db(), flt, page, page_size)
    if page > result.pages:
        raise ApiError(404, "page_out_of_range", f"页码超出范围（共 {result.pages} 页）",
                       f"page {page} > last page {result.pages} ({result.total} entities)")
    return _json({"total": result.total, "page": page, "page_size": page_size, "pages": result.pages,
                  "items": _records(result.rows, result.rows.columns)})


PROFILE_EXTRA = ("status_date", "legal_rep", "owner_id", "capital", "lon", "lat")


@bp.get("/entities/<credit_code>")
def entity(credit_code: str) -> Response:
    """One entity with its latest events and tasks. An individual owner's name and
    ``owner_id`` are masked unless the caller's role may see personal data. An entity
    outside the caller's scope answers exactly like one that does not exist (404), and the
    probe is audited."""
    try:
        code = uscc.validate(credit_code)
    except uscc.InvalidCreditCode as exc:
        raise ApiError(400, "invalid_credit_code", exc.user_message,
                       f"malformed credit code ({exc.reason})") from None
    scope = request_scope()
    db = get_db()
    profile = entity_profile(db, Filter(region=scope.prefix, scope=scope), code, pii=can("pii"))
    if profile is None:
        grid = entity_grid(db, code)
        if grid is not None and not scope.contains(grid):  # exists outside the scope: the same 404, audited
            hide(f"entity {code} outside scope {scope.prefix or '全国'}", grid)
        raise ApiError(404, "entity_not_found", f"未找到统一社会信用代码为 {code} 的市场主体",
                       f"no entity {code} in scope {scope.prefix or 'national'}")
    ent = pd.DataFrame([profile.entity])
    return _json({
        "entity": _records(ent, LIST_COLUMNS + list(PROFILE_EXTRA))[0],
        "events": _records(profile.events, profile.events.columns), "events_total": profile.events_total,
        "tasks": _records(profile.tasks, profile.tasks.columns), "tasks_total": profile.tasks_total,
    })


@bp.get("/<path:rest>")
def fallback(rest: str) -> Response:
    """Unknown paths under /api/v1 get the JSON error shape instead of the Dash page."""
    raise NotFound(f"no API endpoint /api/v1/{rest}")


def on_routing_error(exc: HTTPException) -> Response:
    """App-level handler for 404 and 405 (routing errors never reach blueprint handlers):
    JSON error shape under /api/v1, the app's Chinese message page elsewhere (a path no
    route takes — one with a line break in it, say — or a missing asset)."""
    if request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/"):
        return _on_error(exc)
    from auth.web import error_page

    status = exc.code or 404
    headers = {"Allow": ", ".join(exc.valid_methods)} if isinstance(exc, MethodNotAllowed) and \
        exc.valid_methods else None
    message = "不支持该请求方法" if status == 405 else "未找到该页面或文件"
    return Response(error_page(status, message), status=status, mimetype="text/html", headers=headers)


# ---------------------------------------------------------------- errors
_HTTP_CODES = {400: ("bad_request", "请求不正确"), 404: ("not_found", "接口不存在"),
               405: ("method_not_allowed", "不支持该请求方法"), 413: ("too_large", "请求体过大，请分批报送")}


@bp.errorhandler(Exception)
def _on_error(exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return _error(exc.status, exc.code, exc.message, exc.detail)
    if isinstance(exc, qerr.JinjianError):
        code = ERROR_CODES.get(type(exc), "internal_error")
        log = logger.error if exc.http_status >= 500 else logger.info
        log("api %s %s -> %d %s: %s", request.method, request.path, exc.http_status, code, exc.detail)
        return _error(exc.http_status, code, exc.user_message, exc.detail)
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        code, message = _HTTP_CODES.get(status) or (
            ("bad_request", "请求不正确") if status < 500 else ("internal_error", qerr.JinjianError.user_message))
        headers = {"Allow": ", ".join(exc.valid_methods)} if isinstance(exc, MethodNotAllowed) and \
            exc.valid_methods else None
        return _error(status, code, message, exc.description or exc.name, headers)
    if isinstance(exc, ConfigError):
        logger.error("api %s %s: configuration error: %s", request.method, request.path, exc)
        return _error(500, "config_error", "服务配置错误，请联系管理员", str(exc))
    logger.exception("api %s %s: unhandled error", request.method, request.path)
    return _error(500, "internal_error", qerr.JinjianError.user_message,
                  f"{type(exc).__name__}: internal error")
