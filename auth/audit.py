"""The audit log: who did what, where, and whether it was allowed.

Actions (docs/security.md): login, login_failed, login_locked, logout, display_open,
display_denied, scope_denied, perm_denied, csrf_rejected, export_csv, export_xlsx,
export_pdf, report_download, report_generate, rejects_download, user_create,
user_update, token_create, token_revoke, random_draw, random_result, joint_open,
joint_feedback, joint_repair.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from flask import has_request_context, request

from auth.current import current

logger = logging.getLogger(__name__)

ACTIONS_ZH: dict[str, str] = {
    "login": "登录", "login_failed": "登录失败", "login_locked": "登录锁定", "logout": "退出登录",
    "display_open": "大屏令牌打开", "display_denied": "大屏令牌拒绝", "scope_denied": "越权访问区域",
    "perm_denied": "越权操作", "csrf_rejected": "跨站请求拒绝", "export_csv": "导出 CSV",
    "export_xlsx": "导出 Excel", "export_pdf": "导出 PDF", "report_download": "下载报告",
    "report_generate": "生成报告", "rejects_download": "下载退回报告", "work_reassign": "改派任务",
    "random_draw": "双随机抽取", "random_result": "录入抽查结果",
    "joint_open": "发起联合惩戒", "joint_feedback": "录入惩戒反馈", "joint_repair": "信用修复",
    "user_create": "新建用户",
    "user_update": "修改用户", "token_create": "新建大屏令牌", "token_revoke": "吊销大屏令牌",
}


@lru_cache(maxsize=4)
def _store(url: str):  # noqa: ANN202 - AuthStore, imported lazily
    from auth.store import AuthStore

    return AuthStore(url)


def store():  # noqa: ANN201
    """The access-control store of JINJIAN_METADATA_URL."""
    from store.metastore import metadata_url

    return _store(metadata_url())


def client_ip() -> str:
    return (request.remote_addr or "") if has_request_context() else ""


def _who():  # noqa: ANN202 - Principal
    """Who acts: the request's principal; on a public route (login, logout, a wall link) the
    signed-in user of the session if any, else an anonymous visitor; outside a request, the system."""
    from flask import g

    from auth.current import Principal

    if not has_request_context():
        return current()
    p = g.get("principal")
    if p is None:
        from auth.session import load_principal

        try:
            p = load_principal(store())
        except Exception:  # noqa: BLE001 - naming the visitor must not stop the audit entry
            p = None
    return p if p is not None else Principal("anonymous", "anonymous", "", "", frozenset())


def record(action: str, ok: bool = True, target: str = "", region: str = "", detail: str = "",
           username: str | None = None, role: str | None = None, scope: str | None = None) -> None:
    """One audit entry for the current principal (or the names given). Never raises:
    a failing audit store is logged at ERROR and the request goes on."""
    if action not in ACTIONS_ZH:
        raise ValueError(f"unknown audit action {action!r}")
    p = _who()
    entry: dict[str, Any] = {
        # str(): a callback's input may be any JSON value (a list where a code was expected)
        "action": action, "ok": ok, "target": str(target)[:255], "region": str(region)[:15], "detail": str(detail)[:2000],
        "username": p.name if username is None else username, "role": p.role if role is None else role,
        "scope": p.scope if scope is None else scope, "ip": client_ip(),
    }
    try:
        store().audit(**entry)
    except Exception:  # noqa: BLE001 - the audit must not take the app down, but must be seen
        logger.exception("audit entry lost: %s", entry)
    logger.info("audit %s ok=%s user=%s target=%s region=%s", action, ok, entry["username"], target, region)


def exported(action: str, target: str, region: str) -> None:
    """An export about to leave the server: the principal must hold ``export``
    (PermissionDenied → 403 + audit otherwise); the export itself is audited."""
    from auth.current import require

    require("export")
    record(action, target=target, region=region)
