"""The grid workbench (网格员工作台): who acts on a task at which stage, and how.

The source documents' loop: a registration reaches its village (社区) within an hour, the
village dispatcher (社区调度员) assigns it to a grid worker (派单), the grid worker (网格员)
does the first on-site check within the inspection limit, re-checks after a written
notice, and what the village cannot settle goes to the town (镇街处置人员), which settles
it, passes it to the responsible department or returns it to the village (退回).

Each action is one step of :data:`supervision.rules.TRANSITIONS`, written as task feedback
through the ingestion path; this module only says which steps a role may take.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    key: str
    zh: str                              # the button / form title
    role: str                            # the role that takes it (auth.roles)
    stage: str                           # the task's current status
    outcomes: tuple[tuple[str, str], ...]  # (next status, what the user picks) in display order
    actor_kind: str                      # task_events.actor_kind of the step
    family: str = "verify"               # the task family (supervision.rules.task_family) it applies to


ACTIONS: dict[str, Action] = {a.key: a for a in (
    Action("dispatch", "派单", "village_dispatcher", "pending", (("inspecting", "派发网格员核查"),), "village"),
    Action("check", "记录首次核查结果", "grid_worker", "inspecting",
           (("closed", "经营情况与登记一致，办结"), ("notice", "发现问题，下达书面整改通知")), "grid_worker"),
    Action("recheck", "记录复查结果", "grid_worker", "notice",
           (("closed", "已整改到位，办结"), ("joint", "逾期未整改，转村（社区）联合处置")), "grid_worker"),
    Action("joint", "村（社区）联合处置", "village_dispatcher", "joint",
           (("closed", "处置完毕，办结"), ("town", "处置未果，提交镇街处置")), "village"),
    Action("handle", "镇街处置", "town_handler", "town",
           (("closed", "镇街处置完毕，办结"), ("transferred", "移送职能部门办理")), "town_office"),
    Action("return", "退回村（社区）", "town_handler", "town", (("joint", "退回村（社区）继续处置"),), "town_office"),
    Action("forward", "线索移送", "town_handler", "town", (("transferred", "移送职能部门办理"),), "town_office",
           family="clue"),
)}
#: What a grid worker may report from patrol (上报线索) about a business in their grids.
CLUE_KINDS: tuple[str, ...] = ("超范围经营", "无照经营（未办许可证）", "食品安全隐患", "虚假宣传", "经营场所与登记不符", "其他")

#: The stages each work role acts on (its 我的任务 list shows the open tasks at these stages).
ROLE_STAGES: dict[str, tuple[str, ...]] = {
    "grid_worker": ("inspecting", "notice"),
    "village_dispatcher": ("pending", "joint"),
    "town_handler": ("town",),
}
#: The stages at which the village dispatcher may give a task to another grid worker (改派).
REASSIGN_STAGES: tuple[str, ...] = ("inspecting", "notice")
#: Stages a role may list on request besides its own (the dispatcher: the grid workers' tasks, to 改派).
WATCH_STAGES: dict[str, tuple[str, ...]] = {"village_dispatcher": REASSIGN_STAGES}


def listable_stages(role: str) -> tuple[str, ...]:
    """The stages a role's 我的任务 can be filtered to: its own, then those it watches."""
    return ROLE_STAGES.get(role, ()) + WATCH_STAGES.get(role, ())
#: The task types the workbench acts on (verification tasks, and clues while at the town;
#: disclosures are handled by departments in their own systems).
WORK_TASK_TYPES = ("verify_registration", "verify_change", "clue")


def reassign_action(task_type: str, status: str, workers: list[tuple[str, str]]) -> Action | None:
    """改派 for the village dispatcher: ``workers`` (username, what the button says) are the
    village's grid workers; None when the task is not at a grid worker's stage."""
    if task_type not in WORK_TASK_TYPES or status not in REASSIGN_STAGES or not workers:
        return None
    return Action("reassign", "改派网格员", "village_dispatcher", status, tuple(workers), "village")


def actions_for(role: str, task_type: str, status: str) -> list[Action]:
    """The actions ``role`` may take on a task of ``task_type`` now in ``status``."""
    if task_type not in WORK_TASK_TYPES:
        return []
    family = "verify" if task_type.startswith("verify") else task_type
    return [a for a in ACTIONS.values() if a.role == role and a.stage == status and a.family == family]
