"""Declarative indicator model: measures, thresholds, grades, categories."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Source = Literal["entities", "events", "tasks", "task_events", "task_asof", "entity_risk", "grid_workers",
                 "ingest_quality", "random_items", "inspection_firms", "joint_cases", "joint_actions"]
Kind = Literal["stock", "flow", "current"]
Direction = Literal["higher_worse", "higher_better"]

CATEGORIES: dict[str, tuple[str, str]] = {
    "registration": ("主体登记", "Registration"),
    "credit": ("信用监管", "Credit supervision"),
    "tasks": ("监管任务", "Supervision tasks"),
    "risk": ("风险预警", "Risk warning"),
    "complaints": ("投诉举报", "Complaints and reports"),
    "enforcement": ("执法办案", "Enforcement"),
    "inspection": ("抽查检验", "Inspection and sampling"),
    "data_quality": ("数据质量", "Data quality"),
    "efficiency": ("效能监察", "Efficiency supervision"),
}

#: Four-colour warning grades (分级分色预警), most severe last; "normal" below blue.
GRADES: dict[str, tuple[str, str]] = {
    "normal": ("正常", "#38d39f"), "blue": ("蓝色", "#3d8bff"), "yellow": ("黄色", "#ffd400"),
    "orange": ("橙色", "#ff8c1a"), "red": ("红色", "#ff3b3b"),
}
ALL_GRAINS = ("day", "week", "month", "quarter", "year")
ALL_LEVELS = (0, 1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class Measure:
    """An aggregate over one source table, grouped by region.

    ``expr`` is ClickHouse SQL (portable subset) that may use the bound
    placeholders ``%(start)s`` and ``%(end)s`` (dates) and, over ``task_asof``,
    the warning-bucket bounds of ``supervision.rules.BucketBounds``. Rows of
    ``events`` and ``task_events`` are pre-filtered to ``start <= event_date <=
    end``; ``task_asof`` holds every task's state at the end of ``end``
    (``queries.tasks.TASK_ASOF``); ``entity_risk`` every entity alive then with its
    risk score (``queries.risk_score.ENTITY_RISK``); other sources are not filtered, their
    expressions say which rows count.
    """

    source: Source
    expr: str


@dataclass(frozen=True)
class Thresholds:
    """Warning breakpoints. ``higher_worse``: value ≥ red → red … ≥ blue → blue;
    ``higher_better``: value ≤ red → red … ≤ blue → blue; otherwise normal."""

    direction: Direction
    blue: float
    yellow: float
    orange: float
    red: float

    def __post_init__(self) -> None:
        points = [self.blue, self.yellow, self.orange, self.red]
        ordered = sorted(points) if self.direction == "higher_worse" else sorted(points, reverse=True)
        if points != ordered:
            raise ValueError(f"thresholds not ordered for {self.direction}: {points}")

    def grade(self, value: float | None) -> str | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        worse = (lambda v, t: v >= t) if self.direction == "higher_worse" else (lambda v, t: v <= t)
        for name in ("red", "orange", "yellow", "blue"):
            if worse(value, getattr(self, name)):
                return name
        return "normal"


@dataclass(frozen=True)
class Indicator:
    """One indicator. Value = numerator (or numerator / denominator) × ``scale``.

    ``kind``: ``stock`` = as of the end of the period; ``flow`` = within the
    period; ``current`` = the latest known state (period ignored, no comparison).
    """

    id: str
    name_zh: str
    name_en: str
    category: str
    unit: str
    kind: Kind
    numerator: Measure
    definition_zh: str
    definition_en: str
    denominator: Measure | None = None
    scale: float = 1.0
    decimals: int = 0
    thresholds: Thresholds | None = None
    grains: tuple[str, ...] = ALL_GRAINS
    levels: tuple[int, ...] = ALL_LEVELS
    refresh_seconds: int = 300
    tags: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.id}: unknown category {self.category!r}")
        if not self.id.replace("_", "").isalnum() or not self.id.islower():
            raise ValueError(f"indicator id {self.id!r} must be lower_snake_case")

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None

    @property
    def comparable(self) -> bool:
        """Whether 环比 / 同比 are meaningful."""
        return self.kind != "current"

    def public(self) -> dict[str, object]:
        """The catalogue entry as JSON-ready data (no SQL)."""
        return {
            "id": self.id, "name_zh": self.name_zh, "name_en": self.name_en,
            "category": self.category, "category_zh": CATEGORIES[self.category][0],
            "unit": self.unit, "kind": self.kind, "definition_zh": self.definition_zh,
            "definition_en": self.definition_en, "decimals": self.decimals,
            "grains": list(self.grains), "levels": list(self.levels),
            "refresh_seconds": self.refresh_seconds,
            "thresholds": None if self.thresholds is None else {
                "direction": self.thresholds.direction, "blue": self.thresholds.blue,
                "yellow": self.thresholds.yellow, "orange": self.thresholds.orange,
                "red": self.thresholds.red},
        }


def indicator(id_: str, zh: str, en: str, cat: str, unit: str, kind: str, num: Measure, dzh: str, den: str,
              **kw: object) -> Indicator:
    """A catalogue entry in one line: id, names, category, unit, kind, numerator, definitions."""
    return Indicator(id=id_, name_zh=zh, name_en=en, category=cat, unit=unit, kind=kind,  # type: ignore[arg-type]
                     numerator=num, definition_zh=dzh, definition_en=den, **kw)  # type: ignore[arg-type]


def pct(dec: int = 1) -> dict[str, object]:
    """A percentage: × 100 with ``dec`` decimals."""
    return {"scale": 100.0, "decimals": dec}
