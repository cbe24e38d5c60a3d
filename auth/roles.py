"""Roles and what each may do. A user is one role bound to one region scope.

Permissions:
- ``view``: dashboards, drill-down, indicators, risk, tasks, data quality;
- ``export``: CSV / Excel exports, report PDFs and downloads, generating reports;
- ``pii``: personal data of individual business owners (names, ID numbers) unmasked;
- ``admin``: manage users and display tokens within the own scope, read the audit log;
- ``inspect``: 双随机抽查 and 联合惩戒 — draw inspection plans and enter their results (/random),
  open joint-punishment cases, enter departments' feedback and credit repair (/joint);
- ``work``: the grid workbench (/work, 网格员工作台) only — the roles that act on tasks
  (网格员, 社区调度员, 镇街处置人员) see their own tasks and nothing of the dashboards;
  a 网格员 may be bound to one or more grids of their village (``user_grids``).

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
    Role("supervisor", "监管人员", frozenset({"view", "export", "pii", "inspect"}), 20),
    Role("viewer", "只读用户", frozenset({"view"}), 10),
    Role("town_handler", "镇街处置人员", frozenset({"work"}), 8),
    Role("village_dispatcher", "社区调度员", frozenset({"work"}), 6),
    Role("grid_worker", "网格员", frozenset({"work"}), 4),
)}
#: The work roles and the region level their scope must be: a town (9 digits), a village
#: (12) or, for a grid worker, a village or one grid (15).
WORK_SCOPE_LENGTHS: dict[str, tuple[int, ...]] = {
    "town_handler": (9,), "village_dispatcher": (12,), "grid_worker": (12, 15)}
DISPLAY_PERMS = frozenset({"wall"})
PERM_ZH = {"view": "查看", "export": "导出与报告", "pii": "查看个人信息", "admin": "用户与令牌管理、审计", "wall": "大屏展示",
           "inspect": "双随机抽查与联合惩戒（抽取、发起、录入）",
           "work": "网格工作台（办理任务）"}


class UnknownRole(ValueError):
    def __init__(self, role: str) -> None:
        super().__init__(f"role {role!r} is not one of {', '.join(ROLES)}")
        self.user_message = f"角色不存在：{role}"


def get_role(key: str) -> Role:
    try:
        return ROLES[key]
    except KeyError:
        raise UnknownRole(key) from None
