"""The OpenAPI 3.0 document of API v1, built as a Python dict.

Served at ``/api/v1/openapi.json``. Parameters carry patterns, formats, enums
and bounds so a schema-driven fuzzer (tests/test_api_fuzz.py) generates both
meaningful and invalid inputs; responses forbid undeclared properties so a
drift between code and document fails the fuzz run.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from domain.sources import SOURCES
from domain.regions import LEVEL_NAMES_ZH
from domain.codes import (CREDIT_GRADES, ENTITY_STATUSES, ENTITY_TYPES, EVENT_TYPES, RESULTS, TASK_STATUSES,
                          TASK_TYPES)
from indicators.catalogue import INDICATORS
from indicators.model import ALL_GRAINS, CATEGORIES, GRADES
from queries.entity_list import INDUSTRY_SECTIONS, MAX_NAME_QUERY, MAX_PAGE_SIZE, PROFILE_ROWS

API_VERSION = "1.0.0"
MIN_DATE = dt.date(2000, 1, 1)
MAX_DATE = dt.date(2099, 12, 31)
MAX_PAGE = 1_000_000

REGION_PATTERN = "^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12}|[0-9]{15})$"
REGION_OR_EMPTY = "^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12}|[0-9]{15})?$"
USCC_PATTERN = "^[0-9A-HJ-NPQRTUWXY]{18}$"
DATETIME_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$"
ERROR_CODES = ["invalid_parameter", "invalid_credit_code", "scope_violation", "region_not_found",
               "indicator_not_found", "entity_not_found", "page_out_of_range", "not_found",
               "method_not_allowed", "bad_request", "database_unavailable", "query_timeout",
               "query_failed", "config_error", "internal_error", "unauthenticated", "forbidden",
               "permission_denied",
               # ingestion (api.ingest)
               "missing_token", "invalid_token", "token_source_mismatch", "unknown_source", "too_large",
               "unreadable_body", "batch_not_found", "no_rejects",
               # the grid workbench (api.work)
               "conflict", "too_many_photos"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required or list(props),
            "additionalProperties": False, **kw}


def _str(**kw: Any) -> dict[str, Any]:
    return {"type": "string", **kw}


def _num(nullable: bool = False) -> dict[str, Any]:
    return {"type": "number", "nullable": True} if nullable else {"type": "number"}


DATE = _str(format="date")
REGION_REF = _obj({"code": _str(pattern=REGION_OR_EMPTY), "name": _str(),
                   "level": {"type": "integer", "minimum": 0, "maximum": 6}})


def _schemas() -> dict[str, Any]:
    entity_item = {
        "credit_code": _str(pattern=USCC_PATTERN), "name": _str(),
        "entity_type": _str(enum=list(ENTITY_TYPES)), "industry": _str(enum=list(INDUSTRY_SECTIONS)),
        "grid_code": _str(pattern="^[0-9]{15}$"), "reg_date": DATE,
        "status": _str(enum=list(ENTITY_STATUSES)), "credit_grade": _str(enum=list(CREDIT_GRADES)),
        "abnormal": {"type": "boolean", "description": "经营异常名录"},
        "dishonest": {"type": "boolean", "description": "严重违法失信名单"},
    }
    entity_detail = {
        **entity_item, "status_date": {**DATE, "nullable": True}, "legal_rep": _str(),
        "owner_id": _str(pattern=r"^(|\*{8}|[0-9A-Za-z]{6}\*{8}[0-9A-Za-z]{4})$",
                         description="经营者身份证号（脱敏：前6位 + ******** + 后4位）"),
        "capital": _num(), "lon": _num(), "lat": _num(),
    }
    period = _obj({"start": DATE, "end": DATE})
    # A comparison period of a period that ends today stops at the same time of day on its last day.
    compared = _obj({"start": DATE, "end": DATE, "until": _str(
        pattern="^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$", nullable=True,
        description="末日截至时刻（本期截至今日当前时刻时，同期按同一时刻比较）；null 为整日")})
    return {
        "Error": _obj({"error": _obj({
            "code": _str(enum=ERROR_CODES, description="machine-readable, stable"),
            "message": _str(description="中文，可直接展示给用户"),
            "detail": _str(description="English, for logs and developers")})}),
        "IngestResult": _obj({
            "batch_id": _str(pattern="^[0-9a-f]{64}$", description="SHA-256 of source, region and body"),
            "source": _str(enum=list(SOURCES)), "state": _str(enum=["loaded"]),
            "already_loaded": {"type": "boolean", "description": "the same body was loaded before: nothing changed"},
            "rows_in": {"type": "integer", "minimum": 0}, "rows_loaded": {"type": "integer", "minimum": 0},
            "rows_rejected": {"type": "integer", "minimum": 0}, "message": _str(), "warnings": {
                "type": "array", "items": _str()},
            "rejected": {"type": "array", "maxItems": 1000, "items": _obj({
                "line": {"type": "integer", "minimum": 1}, "field": _str(), "code": _str(), "reason": _str()})},
            "rejected_listed": {"type": "integer", "minimum": 0},
            "report": {"type": "string", "nullable": True, "description": "rejection report URL (same token)"}}),
        "Health": _obj({
            "status": _str(enum=["ok", "degraded"]), "engine": _str(enum=["chdb", "server"]),
            "database": _str(enum=["up", "down"]), "time": _str(format="date-time")}),
        "RegionRef": REGION_REF,
        "Region": _obj({
            "node": _obj({**REGION_REF["properties"],
                          "level_name": _str(enum=list(LEVEL_NAMES_ZH.values()))}),
            "children": {"type": "array", "items": _ref("RegionRef"),
                         "description": "下级区划（跳过唯一且有下级的过渡层级），按代码排序"},
            "path": {"type": "array", "items": _ref("RegionRef"), "minItems": 1,
                     "description": "从全国到本级的面包屑（code '' = 全国）"}}),
        "Thresholds": {**_obj({"direction": _str(enum=["higher_worse", "higher_better"]),
                               "blue": _num(), "yellow": _num(), "orange": _num(), "red": _num()}),
                       "nullable": True},
        "Indicator": _obj({
            "id": _str(pattern="^[a-z][a-z0-9_]*$"), "name_zh": _str(), "name_en": _str(),
            "category": _str(enum=list(CATEGORIES)), "category_zh": _str(), "unit": _str(),
            "kind": _str(enum=["stock", "flow", "current"]), "definition_zh": _str(), "definition_en": _str(),
            "decimals": {"type": "integer", "minimum": 0},
            "grains": {"type": "array", "items": _str(enum=list(ALL_GRAINS))},
            "levels": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 6}},
            "refresh_seconds": {"type": "integer", "minimum": 1}, "thresholds": _ref("Thresholds")}),
        "IndicatorList": _obj({"total": {"type": "integer", "minimum": 0},
                               "items": {"type": "array", "items": _ref("Indicator")}}),
        "Period": period,
        "IndicatorValue": _obj({
            "region_code": _str(pattern=REGION_OR_EMPTY), "region_name": _str(),
            "value": _num(True), "numerator": _num(True),
            "denominator": {**_num(True), "description": "null unless the indicator is a ratio"},
            "grade": _str(enum=list(GRADES), nullable=True), "prev_value": _num(True),
            "yoy_value": _num(True), "mom": {**_num(True), "description": "环比 (relative change)"},
            "yoy": {**_num(True), "description": "同比 (relative change)"}}),
        "IndicatorValues": _obj({
            "indicator": _obj({"id": _str(), "name_zh": _str(), "unit": _str(),
                               "kind": _str(enum=["stock", "flow", "current"]),
                               "decimals": {"type": "integer", "minimum": 0}}),
            "region": REGION_REF, "date": DATE, "grain": _str(enum=list(ALL_GRAINS)),
            "children": {"type": "boolean"}, "period": _ref("Period"),
            "previous_period": {**compared, "nullable": True}, "year_ago_period": {**compared, "nullable": True},
            "items": {"type": "array", "items": _ref("IndicatorValue")}}),
        "EntitySummary": _obj(entity_item),
        "EntityPage": _obj({
            "total": {"type": "integer", "minimum": 0}, "page": {"type": "integer", "minimum": 1},
            "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            "pages": {"type": "integer", "minimum": 1},
            "items": {"type": "array", "items": _ref("EntitySummary"), "maxItems": MAX_PAGE_SIZE}}),
        "EntityDetail": _obj(entity_detail),
        "Event": _obj({
            "event_id": {"type": "integer", "minimum": 0}, "event_time": _str(pattern=DATETIME_PATTERN),
            "event_date": DATE, "event_type": _str(enum=list(EVENT_TYPES)), "detail": _str(),
            "result": _str(enum=list(RESULTS)), "amount": _num(), "batch_no": _str(), "dept_id": _str(),
            "source": _str()}),
        "Task": _obj({
            "task_id": _str(), "task_type": _str(enum=list(TASK_TYPES)), "dept_id": _str(),
            "created_at": _str(pattern=DATETIME_PATTERN), "due_date": DATE,
            "status": _str(enum=list(TASK_STATUSES)),
            "closed_at": _str(pattern=DATETIME_PATTERN, nullable=True),
            "problem_found": {"type": "boolean"}}),
        "TaskEfficiencyItem": _obj({
            "unit": {**_str(), "description": "镇街代码（by=town）或部门编码（by=department）"},
            "name": _str(), "closed": {"type": "integer", "minimum": 0},
            "ontime": {"type": "integer", "minimum": 0, "description": "办结任务中各环节均按期的件数"},
            "ontime_rate": {**_num(True), "description": "按期办结率（%）；本期无办结为 null"},
            "avg_workdays": {**_num(True), "description": "从推送到办结的平均工作日"},
            "overdue": {"type": "integer", "minimum": 0, "description": "期末在办且逾期"},
            "open": {"type": "integer", "minimum": 0, "description": "期末在办"},
            "prev_closed": {"type": "integer", "minimum": 0}, "prev_ontime_rate": _num(True)}),
        "TaskEfficiency": _obj({
            "region": REGION_REF, "by": _str(enum=["town", "department"]), "date": DATE,
            "grain": _str(enum=["month", "quarter", "year"]), "period": _ref("Period"),
            "previous_period": _ref("Period"),
            "items": {"type": "array", "items": _ref("TaskEfficiencyItem")}}),
        "TaskPushItem": _obj({
            "unit": {**_str(), "description": "下级区划代码（by=region）、数据来源（by=source）或本区划代码（total）"},
            "name": _str(), "pushed": {"type": "integer", "minimum": 0, "description": "期内推送的任务"},
            "timely": {"type": "integer", "minimum": 0, "description": "在推送时限内推送"},
            "late": {"type": "integer", "minimum": 0, "description": "推送超时"},
            "ontime_rate": {**_num(True), "description": "推送及时率（%）；期内无推送为 null"},
            "late_median_hours": {**_num(True), "description": "超时推送自业务发生至推送的中位小时数"},
            "late_max_hours": {**_num(True), "description": "超时推送的最长小时数"}}),
        "TaskPush": _obj({
            "region": REGION_REF, "by": _str(enum=["region", "source"]), "date": DATE,
            "grain": _str(enum=list(ALL_GRAINS)), "limit_minutes": {"type": "integer", "minimum": 1},
            "period": _ref("Period"), "total": _ref("TaskPushItem"),
            "items": {"type": "array", "items": _ref("TaskPushItem")}}),
        "RandomPlans": _obj({
            "region": REGION_REF, "date": DATE,
            "figures": _obj({k: {"type": "integer", "minimum": 0} for k in ("drawn", "done", "overdue", "problems", "absent")}
                            | {"completion_rate": {**_num(True), "description": "已检查 ÷ 抽查户数（%）"},
                               "problem_rate": {**_num(True), "description": "发现问题 ÷ 已检查（%）"}}),
            "classes": {"type": "array", "items": _obj({
                "credit_class": _str(enum=["A", "B", "C", "D"]), "checked": {"type": "integer", "minimum": 0},
                "problems": {"type": "integer", "minimum": 0}, "problem_rate": _num(True)})},
            "plans": {"type": "array", "items": _obj({
                "plan_id": _str(), "name": _str(), "dept_id": _str(), "dept_name": _str(), "region_code": _str(),
                "period_from": DATE, "period_to": DATE, "seed": {"type": "integer", "minimum": 0},
                "fingerprint": {**_str(), "description": "主体库指纹：主体库统一社会信用代码排序后的 SHA-256"},
                "pool": {**_str(), "description": "主体库各信用风险分类户数，如 A=900,B=410,C=133,D=17"},
                "ratios": {**_str(), "description": "各类抽取比例（%）"},
                "drawn": {"type": "integer", "minimum": 0}, "done": {"type": "integer", "minimum": 0},
                "problems": {"type": "integer", "minimum": 0}})}}),
        "EntityProfile": _obj({
            "entity": _ref("EntityDetail"),
            "events": {"type": "array", "items": _ref("Event"), "maxItems": PROFILE_ROWS},
            "events_total": {"type": "integer", "minimum": 0},
            "tasks": {"type": "array", "items": _ref("Task"), "maxItems": PROFILE_ROWS},
            "tasks_total": {"type": "integer", "minimum": 0}}),
    }


def _q(name: str, schema: dict[str, Any], description: str, example: Any = None) -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
    return param if example is None else {**param, "example": example}


def _path(name: str, schema: dict[str, Any], description: str, example: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description,
            "example": example}


PARAMETERS: dict[str, Any] = {
    "region": _q("region", _str(pattern=REGION_OR_EMPTY),
                 "区划代码（2/4/6/9/12/15 位数字）；省略 = 部署的根区划 JINJIAN_ROOT_REGION；空串 = 全国", "4419"),
    "date": _q("date", _str(format="date"),
               f"统计截止日 YYYY-MM-DD（{MIN_DATE} … {MAX_DATE}），省略 = 今天；期间 = 所在粒度周期的期初至该日",
               "2026-11-20"),
    "grain": _q("grain", _str(enum=list(ALL_GRAINS), default="month"), "时间粒度，默认 month"),
    "children": _q("children", {"type": "boolean", "default": False},
                   "true = 返回每个下级区划的值（跳过过渡层级）；false = 本区划"),
    "page": _q("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
               "页码，从 1 开始；超过最后一页返回 404 page_out_of_range"),
    "page_size": _q("page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 50},
                    f"每页条数 1–{MAX_PAGE_SIZE}"),
    "entity_type": _q("entity_type", _str(enum=list(ENTITY_TYPES)), "主体类型"),
    "status": _q("status", _str(enum=list(ENTITY_STATUSES)), "登记状态"),
    "industry": _q("industry", _str(enum=list(INDUSTRY_SECTIONS)), "国民经济行业门类（GB/T 4754，A–T）"),
    "q": _q("q", _str(maxLength=MAX_NAME_QUERY), "名称包含的文字（子串匹配，区分大小写）", "超市"),
    "category": _q("category", _str(enum=list(CATEGORIES)), "指标类别"),
    "by": _q("by", _str(enum=["town", "department"], default="town"), "统计单位：镇街或责任部门"),
    "push_by": _q("by", _str(enum=["region", "source"], default="region"), "统计单位：下级区划或数据来源"),
    "efficiency_grain": _q("grain", _str(enum=["month", "quarter", "year"], default="month"), "统计期间粒度，默认 month"),
    "region_code": _path("code", _str(pattern=REGION_PATTERN), "区划代码（2/4/6/9/12/15 位数字）", "4419"),
    "indicator_id": _path("indicator_id", _str(enum=[i.id for i in INDICATORS]), "指标编号", "entity_stock"),
    "source": _path("source", _str(enum=list(SOURCES)), "数据来源（docs/ingest.md）", "complaint"),
    "batch_id": _path("batch_id", _str(pattern="^[0-9a-f]{64}$"), "批次编号", "0" * 64),
    "credit_code": _path("credit_code", _str(pattern=USCC_PATTERN, minLength=18, maxLength=18),
                         "统一社会信用代码（GB 32100-2015，18 位，含校验位）", "91350100M000100Y43"),
}

_ERROR_TEXT = {
    "400": "参数不正确（格式、取值范围、枚举值、重复参数）",
    "401": "未登录或会话已失效（unauthenticated）；数据接入：缺少令牌，或令牌无效、已吊销",
    "403": "区划或主体超出当前用户的管辖范围（已记入审计日志）；数据接入：令牌不属于该数据来源", "413": "请求体过大（JINJIAN_INGEST_MAX_MB）",
    "404": "资源不存在（区划、指标、主体、页码）", "500": "服务内部错误（程序缺陷，已记录日志）",
    "503": "数据库暂时不可用", "504": "查询超时",
}


def _op(op_id: str, summary: str, schema: str, params: list[str], errors: list[str],
        tag: str, description: str = "") -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK",
                                         "content": {"application/json": {"schema": _ref(schema)}}}}
    for status in errors + ["500"]:
        responses[status] = {"$ref": f"#/components/responses/E{status}"}
    op = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": responses}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in params]
    return op


def _paths() -> dict[str, Any]:
    data_errors = ["401", "403", "404", "503", "504"]
    health = _op("health", "健康检查", "Health", [], [], "system", "数据库可用时 200，否则 503（同一结构）")
    health["responses"]["503"] = {"description": "数据库不可用",
                                  "content": {"application/json": {"schema": _ref("Health")}}}
    spec = _op("openapi", "本文档（OpenAPI 3.0）", "Health", [], [], "system")
    spec["responses"]["200"]["content"]["application/json"]["schema"] = {"type": "object"}
    health["security"] = spec["security"] = []  # public: no login
    ingest = _op("ingest", "报送数据（JSON Lines，每行一条记录）", "IngestResult", ["source"],
                 ["400", "401", "403", "404", "413", "503", "504"], "ingest",
                 "Authorization: Bearer <令牌>（python -m etl token add）。逐行校验：合格的导入，不合格的退回并列出行号、"
                 "字段和原因；同一请求体再次报送不会重复导入（already_loaded）。")
    ingest["requestBody"] = {"required": True, "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}
    ingest["security"] = [{"ingestToken": []}]
    rejects = _op("ingestRejects", "批次退回记录（报送单位原格式）", "Health", ["source", "batch_id"],
                  ["401", "403", "404"], "ingest")
    rejects["responses"]["200"] = {"description": "退回记录文件（CSV / XLSX / JSONL）",
                                   "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                       "format": "binary"}}}}
    rejects["security"] = [{"ingestToken": []}]
    return {
        "/api/v1/ingest/{source}": {"post": ingest},
        "/api/v1/ingest/{source}/batches/{batch_id}/rejects": {"get": rejects},
        "/api/v1/openapi.json": {"get": spec},
        "/api/v1/health": {"get": health},
        "/api/v1/regions": {"get": _op("getNationalRegion", "全国（根节点）及其省级下级", "Region", [],
                                       ["403", "503", "504"], "regions")},
        "/api/v1/regions/{code}": {"get": _op("getRegion", "区划节点、下级与面包屑路径", "Region",
                                              ["region_code"], ["400"] + data_errors, "regions")},
        "/api/v1/indicators": {"get": _op("listIndicators", "指标目录", "IndicatorList", ["category"],
                                          ["400"], "indicators")},
        "/api/v1/indicators/{indicator_id}": {"get": _op("getIndicator", "单个指标的定义", "Indicator",
                                                         ["indicator_id"], ["404"], "indicators")},
        "/api/v1/indicators/{indicator_id}/values": {"get": _op(
            "getIndicatorValues", "指标值（含环比、同比、预警等级）", "IndicatorValues",
            ["indicator_id", "region", "date", "grain", "children"], ["400"] + data_errors, "indicators",
            "期间 = date 所在 grain 周期的期初至 date；prev_value/mom 为上一周期同一时段，"
            "yoy_value/yoy 为去年同期。不可计算的值（分母为 0 等）为 null。")},
        "/api/v1/tasks/efficiency": {"get": _op(
            "getTaskEfficiency", "效能监察：各镇街或责任部门的任务办结、按期率、平均用时与逾期", "TaskEfficiency",
            ["region", "date", "efficiency_grain", "by"], ["400"] + data_errors, "tasks",
            "与任务督办页面（/tasks）的效能监察表数字一致：本期 = date 所在周期的期初至 date，"
            "prev_* 为上一周期同一时段；按按期办结率从高到低排列。")},
        "/api/v1/tasks/push": {"get": _op(
            "getTaskPush", "推送时效：推送及时率、推送超时件数与超时时长（按下级区划或数据来源）", "TaskPush",
            ["region", "date", "grain", "push_by"], ["400"] + data_errors, "tasks",
            "任务推送时间与业务发生时间（登记、变更、检查、决定作出时间）之差超过推送时限（limit_minutes，"
            "JINJIAN_TASK_PUSH_MINUTES，默认 60 分钟）为推送超时；期间 = date 所在周期的期初至 date。"
            "与任务督办页面和数据质量页面的推送时效表数字一致。")},
        "/api/v1/random/plans": {"get": _op(
            "getRandomPlans", "双随机抽查：抽查户数、完成率、逾期未检查、按信用风险分类的问题发现率与抽查计划", "RandomPlans",
            ["region", "date"], ["400"] + data_errors, "random",
            "截至 date 当日末：已检查 = 已录入抽查结果；逾期未检查 = 未录入结果且计划检查期限早于 date。"
            "计划含随机种子与主体库指纹，任何人可复核抽取结果。与双随机抽查页面（/random）数字一致。")},
        "/api/v1/entities": {"get": _op(
            "listEntities", "市场主体列表（分页，按统一社会信用代码排序）", "EntityPage",
            ["region", "page", "page_size", "entity_type", "status", "industry", "q"],
            ["400"] + data_errors, "entities",
            "页码超过最后一页时返回 404（code = page_out_of_range）；没有匹配时第 1 页返回空列表。")},
        "/api/v1/entities/{credit_code}": {"get": _op(
            "getEntity", "市场主体档案：登记信息、最近事件与任务", "EntityProfile", ["credit_code"],
            ["400"] + data_errors, "entities",
            f"事件与任务各取最近 {PROFILE_ROWS} 条（新的在前），*_total 为总数。"
            "格式或校验位错误返回 400（invalid_credit_code），不存在返回 404，在管辖范围外返回 403（记入审计）。"
            "个体工商户经营者姓名与身份证号按角色脱敏。")},
    }


@lru_cache(maxsize=1)
def build_openapi() -> dict[str, Any]:
    """The whole document (cached; it depends only on code)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "金监 Jinjian Open API", "version": API_VERSION,
                 "description": "市场监管智慧监管平台只读数据接口。所有错误返回统一结构 "
                                "{\"error\": {\"code\", \"message\", \"detail\"}}。"},
        "tags": [{"name": n} for n in ("system", "regions", "indicators", "entities", "tasks", "random", "ingest")],
        "paths": _paths(),
        "security": [{"session": []}],
        "components": {
            "schemas": _schemas(),
            "parameters": PARAMETERS,
            "securitySchemes": {"ingestToken": {"type": "http", "scheme": "bearer",
                                                "description": "数据接入令牌（按数据来源和报送单位签发）"},
                                "session": {"type": "apiKey", "in": "cookie", "name": "jinjian_session",
                                            "description": "登录（/login）后的会话；数据限定在用户的管辖区域内"}},
            "responses": {f"E{status}": {"description": text,
                                         "content": {"application/json": {"schema": _ref("Error")}}}
                          for status, text in _ERROR_TEXT.items()},
        },
    }
