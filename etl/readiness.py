"""``python -m etl check``: what a jurisdiction still lacks before its data can flow —
region tree, grids, boundaries, grid workers, departments, the go-live date, user
accounts and the working-day calendar — each finding in plain Chinese and English with what to do.

Severity ``missing`` (exit status 1): registrations would be rejected or tasks reach
nobody; ``warning``: works, but something is schematic, incomplete or due to expire;
``ok``: in place.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from domain.regions import LEVEL_NAMES_ZH, load_region_table, region_name
from domain.workdays import calendar_source
from store.engine import Engine
from queries.golive import go_live_dates
from store.executor import run
from supervision.routing import route
from supervision.rules import LICENSING_DEPT

logger = logging.getLogger(__name__)

SEVERITY_ZH = {"missing": "缺少", "warning": "注意", "ok": "就绪"}


@dataclass(frozen=True)
class Finding:
    severity: str  # missing | warning | ok
    zh: str
    en: str


def _few(codes: Iterable[str], n: int = 5) -> str:
    codes = list(codes)
    return "、".join(codes[:n]) + (f" 等 {len(codes)} 个" if len(codes) > n else "")


def check(db: Engine, region: str, users: list | None = None, today: dt.date | None = None) -> list[Finding]:
    """The findings for ``region`` ('' = the country); ``users``: the accounts of the
    metadata store (None: not checked)."""
    today = today or dt.date.today()
    out: list[Finding] = []
    like = region + "%"
    name = region_name(region) or region
    tree = load_region_table(region)
    n_nbs = int(run(db, "check_nbs", "SELECT count() AS n FROM regions WHERE level <= 5")["n"].iloc[0])
    if not n_nbs:
        return [Finding("missing", "区划库未加载：请运行 python -m etl init", "region tree not loaded: run python -m etl init")]
    grids = run(db, "check_grids", "SELECT code, parent FROM regions WHERE level = 6 AND code LIKE %(like)s",
                {"like": like})
    villages = tree.loc[tree["level"] == 5, "code"]
    bare = villages[~villages.isin(set(grids["parent"]))]
    if grids.empty:
        out.append(Finding("missing", f"{name}没有网格，登记信息将全部退回：请导入网格（python -m etl grids load 文件）",
                           f"no grids under {region or 'CN'}: every registration is rejected; load grids first"))
    else:
        sev = "warning" if len(bare) else "ok"
        out.append(Finding(sev, f"网格 {len(grids):,} 个，覆盖村居 {len(villages) - len(bare):,}/{len(villages):,} 个"
                           + (f"；无网格的村居：{_few(bare)}" if len(bare) else ""),
                           f"{len(grids):,} grids covering {len(villages) - len(bare):,} of {len(villages):,} villages"))
    geo = run(db, "check_geo", """
        SELECT level, count() AS n, countIf(geometry != '') AS polygons FROM region_geo
        WHERE code LIKE %(like)s GROUP BY level""", {"like": like}).set_index("level")
    polys = {int(k): int(v) for k, v in geo["polygons"].items()} if not geo.empty else {}
    if len(grids):
        with_poly = polys.get(6, 0)
        out.append(Finding("ok" if with_poly == len(grids) else "warning",
                           f"网格边界 {with_poly:,}/{len(grids):,} 个为真实边界，其余在地图上为示意",
                           f"{with_poly:,} of {len(grids):,} grids have a real polygon; the rest are schematic"))
    for level in (4, 5):
        total = int((tree["level"] == level).sum())
        if total:
            n = polys.get(level, 0)
            out.append(Finding("ok" if n == total else "warning",
                               f"{LEVEL_NAMES_ZH[level]}边界 {n:,}/{total:,} 个为真实边界，其余为示意（python -m etl boundaries load）",
                               f"{n:,} of {total:,} {'towns' if level == 4 else 'villages'} have real boundaries"))
    workers = run(db, "check_workers", "SELECT grid_code, count() AS n FROM grid_workers WHERE grid_code LIKE %(like)s "
                  "GROUP BY grid_code", {"like": like})
    if len(grids):
        unstaffed = grids.loc[~grids["code"].isin(set(workers["grid_code"])), "code"]
        out.append(Finding("warning" if len(unstaffed) else "ok",
                           f"网格员 {int(workers['n'].sum()):,} 人次" + (f"；{len(unstaffed):,} 个网格没有网格员：{_few(unstaffed)}"
                                                                 "（python -m etl workers load）" if len(unstaffed) else ""),
                           f"{int(workers['n'].sum()):,} grid-worker assignments; {len(unstaffed):,} grids without one"))
    out.extend(_departments(db, region, tree))
    if users is not None:
        mine = [u for u in users if not u.disabled and (u.scope.startswith(region) or region.startswith(u.scope))]
        out.append(Finding("ok" if mine else "missing",
                           f"可用账号 {len(mine)} 个" if mine else "没有可登录本辖区的账号：python -m etl users add 用户名 --role admin --scope "
                           + (region or "''"), f"{len(mine)} active accounts" if mine else "no account can sign in here"))
    live = {c: d for c, d in go_live_dates(db).items() if region.startswith(c) or c.startswith(region)}
    if live:
        out.append(Finding("ok", "上线日期：" + "、".join(f"{region_name(c) or c or '全国'} {d}" for c, d in sorted(live.items()))
                           + "（此前的记录作为历史数据，不推送任务）",
                           "go-live dates: " + ", ".join(f"{c or 'CN'} {d}" for c, d in sorted(live.items()))))
    else:
        out.append(Finding("warning", "未设置上线日期：导入的历史记录也会推送任务（python -m etl golive set --region "
                           f"{region or 'CN'} --date YYYY-MM-DD，或 etl load --history）",
                           "no go-live date: history loads would push tasks"))
    for year in (today.year, today.year + 1):
        src = calendar_source(year)
        if src == "weekdays":
            out.append(Finding("missing" if year == today.year else "warning",
                               f"{year} 年没有法定节假日安排，期限按周一至周五计算：请在 JINJIAN_HOLIDAY_FILE 中提供该年安排",
                               f"no holiday calendar for {year}: provide it in JINJIAN_HOLIDAY_FILE"))
    n_ent = int(run(db, "check_entities", "SELECT count() AS n FROM entities WHERE grid_code LIKE %(like)s",
                    {"like": like})["n"].iloc[0])
    out.append(Finding("ok", f"市场主体 {n_ent:,} 户", f"{n_ent:,} market entities"))
    return out


def _departments(db: Engine, region: str, tree: pd.DataFrame) -> list[Finding]:
    prefixes = [region[:n] for n in (2, 4, 6, 9, 12) if n <= len(region)]
    depts = run(db, "check_departments", """
        SELECT dept_id, region_code, toString(kind) AS kind, industries FROM departments
        WHERE region_code LIKE %(like)s OR region_code IN %(up)s""", {"like": region + "%", "up": prefixes or [""]})
    if depts.empty:
        return [Finding("missing", "没有部门名录，推送的任务找不到负责部门：请导入部门名录（python -m etl departments load 文件）",
                        "no departments: tasks cannot be routed; load the department list")]
    towns = tree.loc[tree["level"] == 4, "code"].reset_index(drop=True)
    out = []
    if len(towns):
        none = towns[route(depts, towns, "regulator") == ""]
        out.append(Finding("warning" if len(none) else "ok",
                           f"部门 {len(depts):,} 个" + (f"；{len(none):,} 个镇街找不到市场监管部门：{_few(none)}" if len(none) else ""),
                           f"{len(depts):,} departments; {len(none):,} towns without a market regulator"))
    listed = set(depts["industries"].str.split(",").explode())
    unlisted = [t for t in sorted(LICENSING_DEPT) if t not in listed]
    if unlisted:
        out.append(Finding("warning", f"许可行业 {'、'.join(unlisted)} 没有审批部门，相关任务推送至市场监管部门",
                           f"licensed trades {', '.join(unlisted)} have no licensing department"))
    return out


def render(findings: list[Finding], region: str) -> str:
    head = f"{region_name(region) or region or '全国'}（{region or 'CN'}）"
    lines = [f"{head} 上线检查 / readiness check"]
    for f in findings:
        lines.append(f"[{SEVERITY_ZH[f.severity]}] {f.zh}")
        lines.append(f"        {f.en}")
    missing = sum(f.severity == "missing" for f in findings)
    lines.append(f"缺少 {missing} 项 / {missing} missing" if missing else "可以开始导入登记数据 / ready for registrations")
    return "\n".join(lines)
