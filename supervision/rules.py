"""Supervision task rules (任务督办): stage time limits and warning grades.

Time limits are in Chinese working days (``domain.workdays``) and are applied when a
stage starts: the deadline is stored with the task event, so changing a limit
affects new stages only. Warning thresholds are applied when a view is drawn.

Lifecycle (Dongguan collaborative supervision / grid project, DESIGN.md §2):

- verification (``verify_registration`` / ``verify_change``): pushed to the grid
  (``pending``) → dispatched to a grid worker (``inspecting``, first on-site
  inspection within ``inspection`` days) → no problem: ``closed``; a problem: a
  written notice (``notice``, recheck within ``recheck`` days) → rectified:
  ``closed``; not rectified: village joint handling (``joint``) → town
  (``town``) → the responsible department (``transferred``: the market regulator
  for address and general unlicensed cases, the licensing department for
  licensed trades) → ``closed`` with its feedback;
- clue transfer (``clue``): found on patrol, received by the town office
  (``town``, forwarded within ``clue_forward`` days) → responsible department
  (``transferred``, feedback within ``department`` days) → ``closed``;
- disclosure (``disclosure``): licence or penalty decision (``pending``, published
  within ``disclosure`` days) → ``closed``.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from settings import ConfigError, parse_named_numbers

STATUS_ZH: dict[str, str] = {
    "pending": "待核查", "inspecting": "核查中", "notice": "限期整改", "joint": "村居联合处置",
    "town": "镇街处置", "transferred": "部门办理", "closed": "办结",
}
STATUS_EN: dict[str, str] = {
    "pending": "Pushed", "inspecting": "Inspecting", "notice": "Rectification notice",
    "joint": "Village joint handling", "town": "Town handling", "transferred": "With department",
    "closed": "Closed",
}
TASK_TYPE_ZH: dict[str, str] = {
    "verify_registration": "新设登记核查", "verify_change": "变更登记核查", "clue": "线索移送",
    "disclosure": "信息公示",
}
TASK_TYPE_EN: dict[str, str] = {
    "verify_registration": "Verify new registration", "verify_change": "Verify change",
    "clue": "Clue transfer", "disclosure": "Disclosure",
}

#: Industry (GB/T 4754 section) → city licensing department number (demo_names.CITY_DEPARTMENTS):
#: "who licenses, supervises" (谁审批、谁监管). Food and industrial products: the market regulator.
LICENSING_DEPT = {"Q": "02", "G": "05", "R": "06", "P": "10", "H": "01", "F": "01", "C": "01"}

#: The changes that push a 变更登记核查, with the task's detail.
CHANGE_ZH: dict[str, str] = {"address": "住所变更", "scope": "经营范围变更"}


def task_type_of(event_type: object, detail: object, result: object) -> np.ndarray:
    """The task each record pushes ('' for none), over columns: a registration a
    新设登记核查, an address or business-scope change a 变更登记核查, a failed inspection a
    线索移送, a licence or penalty a 信息公示 (the ingestion transform, history tasks and
    the demo generator all follow it)."""
    et = np.asarray(event_type, dtype=object).astype(str)
    det, res = np.asarray(detail, dtype=object), np.asarray(result, dtype=object)
    return np.select([et == "registration", (et == "change") & np.isin(det, list(CHANGE_ZH)),
                      (et == "inspection") & (res == "fail"), np.isin(et, ["licence", "penalty"])],
                     ["verify_registration", "verify_change", "clue", "disclosure"], "").astype(object)


#: Next statuses allowed from each status, per task family (the lifecycle above).
#: The demo generator and task feedback ingestion both follow it (tests check the demo).
TRANSITIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("verify", "pending"): ("inspecting",),
    ("verify", "inspecting"): ("closed", "notice"),
    ("verify", "notice"): ("closed", "joint"),
    ("verify", "joint"): ("closed", "town"),
    ("verify", "town"): ("closed", "transferred", "joint"),  # joint: 退回村（社区）
    ("verify", "transferred"): ("closed",),
    ("clue", "town"): ("transferred",),
    ("clue", "transferred"): ("closed",),
    ("disclosure", "pending"): ("closed",),
}
#: The time limit a status starts; a status not listed keeps the running deadline.
STAGE_LIMIT: dict[str, str] = {"notice": "recheck", "joint": "joint", "town": "town", "transferred": "department"}
#: A new task's first status and the limit of that first stage, per task type.
FIRST_STAGE: dict[str, tuple[str, str]] = {
    "verify_registration": ("pending", "inspection"), "verify_change": ("pending", "inspection"),
    "clue": ("town", "clue_forward"), "disclosure": ("pending", "disclosure"),
}


def task_family(task_type: str) -> str:
    return "verify" if task_type.startswith("verify") else task_type


def allowed_next(task_type: str, status: str) -> tuple[str, ...]:
    """Statuses a task of ``task_type`` in ``status`` may move to (empty when closed)."""
    return TRANSITIONS.get((task_family(task_type), status), ())


#: Warning buckets of open tasks, in display order, with their colour grade.
BUCKETS: tuple[str, ...] = ("normal", "due_soon", "overdue_mild", "overdue_moderate", "overdue_severe")
BUCKET_GRADE: dict[str, str | None] = {
    "normal": None, "due_soon": "blue", "overdue_mild": "yellow", "overdue_moderate": "orange",
    "overdue_severe": "red",
}

LIMIT_NAMES = ("inspection", "recheck", "joint", "town", "department", "clue_forward", "disclosure")
DEFAULT_LIMITS = "inspection=10,recheck=10,joint=5,town=5,department=10,clue_forward=2,disclosure=7"


def parse_limits(raw: str, name: str = "JINJIAN_TASK_LIMITS") -> dict[str, int]:
    """'inspection=10,recheck=10,…' → dict; names not given keep their default."""
    limits = parse_named_numbers(DEFAULT_LIMITS, name, LIMIT_NAMES, 1, 365)
    limits.update(parse_named_numbers(raw, name, LIMIT_NAMES, 1, 365))
    return {k: int(v) for k, v in limits.items()}


def parse_buckets(raw: str, name: str = "JINJIAN_TASK_OVERDUE_BUCKETS") -> tuple[int, int]:
    """'5,10' → (5, 10): overdue 1–5, 6–10 and more than 10 working days."""
    try:
        a, b = (int(p) for p in raw.split(","))
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be two whole numbers like 5,10") from None
    if not 1 <= a < b <= 365:
        raise ConfigError(f"{name}={raw!r} needs 1 <= first < second <= 365")
    return a, b


@dataclass(frozen=True)
class TaskRules:
    """Stage limits (working days) and warning thresholds."""

    limits: Mapping[str, int] = field(default_factory=lambda: parse_limits(""))
    remind_days: int = 2
    overdue_buckets: tuple[int, int] = (5, 10)
    push_minutes: int = 60  # a record reaches its village within this time of its own time

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "TaskRules":
        env = os.environ if env is None else env
        remind = env.get("JINJIAN_TASK_REMIND_DAYS", "2").strip()
        if not remind.isdigit() or not 0 <= int(remind) <= 60:
            raise ConfigError(f"JINJIAN_TASK_REMIND_DAYS={remind!r} must be a whole number 0..60")
        push = env.get("JINJIAN_TASK_PUSH_MINUTES", "60").strip()
        if not push.isdigit() or not 1 <= int(push) <= 10080:
            raise ConfigError(f"JINJIAN_TASK_PUSH_MINUTES={push!r} must be a whole number 1..10080")
        return cls(limits=parse_limits(env.get("JINJIAN_TASK_LIMITS", "")),
                   remind_days=int(remind), push_minutes=int(push),
                   overdue_buckets=parse_buckets(env.get("JINJIAN_TASK_OVERDUE_BUCKETS", "5,10")))

    def limit(self, name: str) -> int:
        return int(self.limits[name])

    def bucket_labels(self) -> dict[str, str]:
        a, b = self.overdue_buckets
        return {"normal": "正常", "due_soon": f"{self.remind_days}个工作日内到期（提醒）",
                "overdue_mild": f"逾期1–{a}个工作日", "overdue_moderate": f"逾期{a + 1}–{b}个工作日",
                "overdue_severe": f"逾期超过{b}个工作日（升级督办）"}

    def bucket_labels_en(self) -> dict[str, str]:
        a, b = self.overdue_buckets
        return {"normal": "On track", "due_soon": f"Due within {self.remind_days} working days",
                "overdue_mild": f"Overdue 1–{a} working days",
                "overdue_moderate": f"Overdue {a + 1}–{b} working days",
                "overdue_severe": f"Overdue over {b} working days (escalated)"}


@dataclass(frozen=True)
class BucketBounds:
    """Due-date boundaries of the warning buckets as of the end of ``asof``.

    A task is overdue when its due date is before ``asof``. Working days overdue
    = working days in (due, asof]; an overdue task whose count is 0 (``asof`` is
    a rest day right after the deadline) counts as 1. Because due dates are
    working days, "overdue at most k working days" ⟺ ``due >= W(k)``, the working
    day k working days before ``asof``; SQL then compares plain dates.
    """

    asof: dt.date
    soon_until: dt.date     # due in [asof, soon_until] → due_soon
    mild_from: dt.date      # due in [mild_from, asof) → overdue_mild
    moderate_from: dt.date  # due in [moderate_from, mild_from) → overdue_moderate; earlier → severe

    def params(self) -> dict[str, dt.date]:
        return {"asof": self.asof, "soon_until": self.soon_until, "mild_from": self.mild_from,
                "moderate_from": self.moderate_from}

    def bucket(self, due: dt.date) -> str:
        """The bucket of an open task due on ``due`` (the Python twin of :data:`BUCKET_SQL`)."""
        if due >= self.asof:
            return "due_soon" if due <= self.soon_until else "normal"
        if due >= self.mild_from:
            return "overdue_mild"
        return "overdue_moderate" if due >= self.moderate_from else "overdue_severe"


#: SQL twin of :meth:`BucketBounds.bucket` over a ``due_date`` column (bound parameters only).
BUCKET_SQL = ("multiIf(due_date >= %(asof)s, if(due_date <= %(soon_until)s, 'due_soon', 'normal'), "
              "due_date >= %(mild_from)s, 'overdue_mild', "
              "due_date >= %(moderate_from)s, 'overdue_moderate', 'overdue_severe')")


def bucket_bounds(asof: dt.date, rules: TaskRules) -> BucketBounds:
    from domain.workdays import add_workdays, workdays

    a, b = rules.overdue_buckets
    cal = workdays(asof - dt.timedelta(days=3 * b + 60), asof)  # cal[-1] has asof's ordinal
    soon = (add_workdays(np.array([asof], dtype="datetime64[D]"), rules.remind_days)[0]
            if rules.remind_days else np.datetime64(asof))
    return BucketBounds(asof=asof, soon_until=soon.astype(dt.date),
                        mild_from=cal[-1 - a].astype(dt.date), moderate_from=cal[-1 - b].astype(dt.date))
