"""Writes of 双随机一公开 (docs/double_random.md): a plan is drawn at once — the pool read,
the firms drawn by the hash lottery (:mod:`supervision.double_random`), two inspectors
each from the department's roster with avoidance — and stored with its seed and the
pool's fingerprint, so that anyone can redo it; then each firm's result is entered
(未发现问题 / 发现问题 / 通过登记的住所无法联系) until the plan's end date.

Rows are appended with a growing ``version`` (the newest counts): a result entered twice
keeps the later one, and nothing is updated in place. The caller audits the action.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass

import pandas as pd

from domain.codes import ENTITY_TYPES, RANDOM_RESULTS
from domain.errors import InvalidParameter, JinjianError
from domain.sources import INDUSTRY_SECTIONS
from queries import random_checks as q
from queries.discipline import spared_codes
from settings import ConfigError
from store.engine import Engine
from store.filters import RegionScope, check_region_code
from supervision.discipline import InspectionRules
from supervision.double_random import CREDIT_CLASSES, assign_inspectors, draw_firms

logger = logging.getLogger(__name__)

#: Not the same inspector to the same firm again within this many days of a plan's end.
AVOID_DAYS = 365
#: A plan runs at most a year; its name at most this many characters.
MAX_DAYS, MAX_NAME, MAX_NOTE = 366, 60, 200


class PlanRefused(InvalidParameter):
    user_message = "抽查计划不能创建"


class ItemNotFound(JinjianError):
    user_message = "未找到该抽查对象"
    http_status = 404


@dataclass(frozen=True)
class PlanSpec:
    """What an official fills in: the plan's name, the department that inspects, the region
    and period it covers, and the pool's filters (empty: all)."""

    name: str
    dept_id: str
    region: str
    start: dt.date
    end: dt.date
    industries: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()
    listed: str = "all"


def _version() -> int:
    return time.time_ns()


def _check(db: Engine, spec: PlanSpec, scope: RegionScope, today: dt.date) -> dict:
    """The department row of a valid spec; PlanRefused with the reason otherwise."""
    name = spec.name.strip()
    if not name or len(name) > MAX_NAME:
        raise PlanRefused(f"plan name {spec.name!r}", user_message=f"请填写计划名称（不超过 {MAX_NAME} 字）")
    check_region_code(spec.region)
    if len(spec.region) < 4:
        raise PlanRefused(f"region {spec.region!r}", user_message="抽查范围须为地市或以下区域")
    scope.check(spec.region)
    if spec.end < spec.start or (spec.end - spec.start).days >= MAX_DAYS:
        raise PlanRefused(f"period {spec.start}..{spec.end}", user_message="检查期限须在开始日期之后，且不超过一年")
    if spec.end < today:
        raise PlanRefused(f"period ends {spec.end}", user_message="检查期限已过，不能再抽取")
    wrong = [s for s in spec.industries if s not in INDUSTRY_SECTIONS]
    if wrong:
        raise PlanRefused(f"industries {wrong}", user_message=f"行业门类不正确：{wrong[0]}")
    wrong = [t for t in spec.entity_types if t not in ENTITY_TYPES]
    if wrong:
        raise PlanRefused(f"entity types {wrong}", user_message="主体类型不正确")
    if spec.listed not in q.LISTED:
        raise PlanRefused(f"listed {spec.listed!r}", user_message="名录条件不正确")
    depts = q.departments_for(db, scope)
    row = depts[depts["dept_id"] == spec.dept_id]
    if row.empty or not spec.region.startswith(str(row["region_code"].iloc[0])):
        raise PlanRefused(f"dept {spec.dept_id!r} for region {spec.region}",
                          user_message="检查部门须为抽查范围所属的市场监管或审批部门")
    return row.iloc[0].to_dict()


def draw_plan(db: Engine, spec: PlanSpec, scope: RegionScope, by: str, seed: int | None = None,
              ratios: dict[str, float] | None = None, now: dt.datetime | None = None) -> str:
    """Create the plan, draw its firms and their inspectors, store them; return the plan id.
    The pool is the firms alive on the day of the draw that pass the plan's filters, less the
    无事不扰 list (supervision.discipline); its fingerprint is taken after that.

    ``seed``: drawn from the system's secure random source when not given (stored and shown
    with the plan). ``ratios``: per class, the setting ``JINJIAN_RANDOM_RATIOS`` by default."""
    from supervision.double_random import ratios_from_env

    now = (now or dt.datetime.now()).replace(microsecond=0)
    _check(db, spec, scope, now.date())
    try:
        ratios = ratios if ratios is not None else ratios_from_env()
    except ConfigError as exc:
        raise PlanRefused(f"ratios: {exc}", user_message="抽查比例配置不正确，请联系系统管理员") from None
    seed = secrets.randbelow(10 ** 12) if seed is None else seed
    frame = q.pool(db, q.PoolSpec(spec.region, now.date(), spec.industries, spec.entity_types, spec.listed))
    if frame.empty:
        raise PlanRefused("empty pool", user_message="抽查范围内没有符合条件的市场主体")
    try:
        rules = InspectionRules.from_env()
    except ConfigError as exc:
        raise PlanRefused(f"inspection rules: {exc}", user_message="涉企检查规则配置不正确，请联系系统管理员") from None
    spared = spared_codes(db, spec.region, now.date(), rules) & set(frame["credit_code"])
    draw = draw_firms(frame, ratios, seed, spared)
    staff = q.roster(db, spec.dept_id)
    recent = q.recent_pairs(db, now.date() - dt.timedelta(days=AVOID_DAYS))
    pairs = assign_inspectors(draw.firms["credit_code"], staff, seed, recent)
    plan_id = f"SJ{now:%Y%m%d%H%M%S}{secrets.token_hex(3).upper()}"
    version = _version()
    grids = dict(zip(frame["credit_code"], frame["grid_code"]))
    firms = draw.firms.merge(pairs, on="credit_code")
    items = pd.DataFrame({
        "plan_id": plan_id, "credit_code": firms["credit_code"], "credit_class": firms["credit_class"],
        "rank": firms["rank"], "grid_code": [grids[c] for c in firms["credit_code"]], "dept_id": spec.dept_id,
        "inspector_1": firms["inspector_1"], "inspector_2": firms["inspector_2"], "drawn_at": pd.Timestamp(now),
        "due_date": pd.Timestamp(spec.end), "result": "pending", "result_at": pd.Timestamp("1970-01-01"),
        "result_by": "", "note": "", "entered_at": pd.Timestamp(now), "version": version})
    plan = pd.DataFrame({
        "plan_id": [plan_id], "name": [spec.name.strip()], "dept_id": [spec.dept_id], "region_code": [spec.region],
        "period_from": [pd.Timestamp(spec.start)], "period_to": [pd.Timestamp(spec.end)],
        "industries": [",".join(spec.industries)], "entity_types": [",".join(spec.entity_types)],
        "listed": [spec.listed], "ratios": [",".join(f"{c}={draw.ratios[c] * 100:g}" for c in CREDIT_CLASSES)],
        "seed": [seed], "fingerprint": [draw.fingerprint],
        "pool": [",".join(f"{c}={draw.pool[c]}" for c in CREDIT_CLASSES)], "spared": [len(spared)],
        "drawn": [len(items)],
        "created_by": [by], "created_at": [pd.Timestamp(now)], "version": [version]})
    if not items.empty:
        db.insert("random_items", items)
    db.insert("random_plans", plan)  # last: a plan is seen only with its firms
    logger.info("random plan %s: %d of %d firms drawn (seed %d, pool %s)", plan_id, len(items), len(frame), seed,
                draw.fingerprint[:12])
    return plan_id


def record_result(db: Engine, plan_id: str, credit_code: str, result: str, scope: RegionScope, by: str,
                  note: str = "", when: dt.datetime | None = None) -> None:
    """Enter (or correct) the result of one drawn firm inside ``scope``."""
    if result not in RANDOM_RESULTS or result == "pending":
        raise InvalidParameter(f"result {result!r}", user_message="请选择抽查结果")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidParameter("note too long", user_message=f"情况说明不超过 {MAX_NOTE} 字")
    when = (when or dt.datetime.now()).replace(microsecond=0)
    row = q.items(db, str(plan_id), scope, credit_code)
    if row.empty:
        raise ItemNotFound(f"item {plan_id}/{credit_code} not in scope {scope.prefix}")
    item = row.iloc[0]
    # A correction keeps the inspection's date; the row is dated when it was entered (entered_at).
    inspected = pd.Timestamp(item["result_at"]) if item["result"] != "pending" else pd.Timestamp(when)
    db.insert("random_items", pd.DataFrame({
        "plan_id": [plan_id], "credit_code": [credit_code], "credit_class": [item["credit_class"]],
        "rank": [item["rank"]], "grid_code": [item["grid_code"]], "dept_id": [item["dept_id"]],
        "inspector_1": [item["inspector_1"]], "inspector_2": [item["inspector_2"]],
        "drawn_at": [pd.Timestamp(item["drawn_at"])], "due_date": [pd.Timestamp(item["due_date"])],
        "result": [result], "result_at": [inspected],
        "result_by": [by], "note": [note], "entered_at": [pd.Timestamp(when)], "version": [_version()]}))
    logger.info("random plan %s: %s → %s by %s", plan_id, credit_code, result, by)


__all__ = ["AVOID_DAYS", "ItemNotFound", "PlanRefused", "PlanSpec", "draw_plan", "record_result"]
