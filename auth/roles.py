"""Roles and what each may do. A user is one role bound to one region scope.

Permissions:
- ``view``: dashboards, drill-down, indicators, risk, tasks, data quality;
- ``export``: CSV / Excel exports, report PDFs and downloads, generating reports;
- ``pii``: personal data of individual business owners (names, ID numbers) unmasked;
- ``admin``: manage users and display tokens within the own scope, read the audit log.

A display token (wall screen) is not a user: it may view the command wall only.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    key: str
    zh: str
    perms: frozenset[str]
    rank: int  # a role may grant roles of equal or lower rank only


ROLES: dict[str, Role] = {r.key: r for r in (
    Role("admin", "系统管理员", frozenset({"view", "export", "admin"}), 40),
    Role("leader", "领导", frozenset({"view", "export"}), 30),
    Role("supervisor", "监管人员", frozenset({"view", "export", "pii"}), 20),
    Role("viewer", "只读用户", frozenset({"view"}), 10),
)}
DISPLAY_PERMS = frozenset({"wall"})
PERM_ZH = {"view": "查看", "export": "导出与报告", "pii": "查看个人信息", "admin": "用户与令牌管理、审计", "wall": "大屏展示"}


class UnknownRole(ValueError):
    def __init__(self, role: str) -> None:
        super().__init__(f"role {role!r} is not one of {', '.join(ROLES)}")
        self.user_message = f"角色不存在：{role}"


def get_role(key: str) -> Role:
    try:
        return ROLES[key]
    except KeyError:
        raise UnknownRole(key) from None
