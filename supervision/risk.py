"""Entity risk score (风险评分) and four-colour grades (分级分色预警).

The score is a documented, explainable sum of factor points::

    points(f) = weight(f) × min(count(f), cap(f)) / cap(f)
    score     = Σ points(f)          (0 … Σ weights; 100 with the default weights)

where ``count(f)`` is the entity's value of factor ``f`` at the end of the as-of day
(table below). An entity's breakdown ("why") is its points per factor. Grades:
score ≥ red → 红, ≥ orange → 橙, ≥ yellow → 黄, otherwise 蓝 (low risk).

Regions (grids, villages, towns, …) are graded by the share of high-risk (red or
orange) entities among their scored entities, with their own thresholds.

Weights and thresholds come from ``JINJIAN_RISK_WEIGHTS``, ``JINJIAN_RISK_GRADES``
and ``JINJIAN_RISK_AREA_GRADES`` (docs/risk.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from settings import ConfigError, parse_named_numbers


@dataclass(frozen=True)
class Factor:
    id: str
    name_zh: str
    name_en: str
    cap: int
    weight: float
    definition_zh: str
    definition_en: str


FACTORS: tuple[Factor, ...] = (
    Factor("complaints", "投诉举报", "Complaints", 5, 15,
           "近365天投诉举报件数（5件封顶）", "Complaints in the 365 days up to the as-of day (cap 5)"),
    Factor("penalties", "行政处罚", "Penalties", 3, 15,
           "近730天行政处罚次数（3次封顶）", "Penalties in the 730 days up to the as-of day (cap 3)"),
    Factor("abnormal", "经营异常名录", "Abnormal-operation list", 1, 10,
           "当前列入经营异常名录", "Currently on the abnormal-operation list"),
    Factor("dishonest", "严重违法失信名单", "Serious-dishonesty list", 1, 20,
           "当前列入严重违法失信名单", "Currently on the serious illegal and dishonest list"),
    Factor("failed_batches", "抽检不合格批次", "Failed batches handled", 2, 10,
           "经营的产品批次近365天在任何地区抽检不合格的批次数（追溯联动，2批封顶）",
           "Distinct batches the entity handled (any sampling record of it) that failed sampling anywhere "
           "in the 365 days up to the as-of day — traceability linkage (cap 2)"),
    Factor("failed_inspections", "检查不合格", "Failed inspections", 2, 5,
           "近365天监督检查不合格次数（2次封顶）", "Failed inspections in the 365 days up to the as-of day (cap 2)"),
    Factor("overdue_verifications", "核查逾期", "Overdue verifications", 1, 5,
           "有逾期未完成的登记核查任务", "Has an open verification task past its deadline at the as-of day"),
    Factor("credit", "信用等级", "Credit grade", 3, 10,
           "信用等级 A/B/C/D 记 0/1/2/3", "Credit grade A/B/C/D counts 0/1/2/3"),
    Factor("industry", "行业风险", "Industry risk class", 2, 10,
           "行业风险类别：高（住宿餐饮、卫生——食品、药品、医疗器械）记2，中（批发零售、制造业——含特种设备、农业）记1，其余0",
           "Industry risk class: high (H catering, Q health: food, drugs, medical devices) 2; medium (F wholesale "
           "and retail, C manufacturing incl. special equipment, A agriculture) 1; others 0"),
)
FACTOR_IDS = tuple(f.id for f in FACTORS)
HIGH_RISK_INDUSTRIES = ("H", "Q")
MEDIUM_RISK_INDUSTRIES = ("F", "C", "A")
CREDIT_POINTS = {"A": 0, "B": 1, "C": 2, "D": 3}
#: Entity grades, least severe first, with their zh labels.
RISK_GRADES: dict[str, str] = {"blue": "蓝色（低风险）", "yellow": "黄色（一般风险）",
                               "orange": "橙色（较高风险）", "red": "红色（高风险）"}
HIGH = ("red", "orange")


def _floats(raw: str, n: int, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(p) for p in raw.split(","))
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be {n} comma-separated numbers") from None
    if len(values) != n or any(b <= a for a, b in zip(values, values[1:])) or values[0] <= 0:
        raise ConfigError(f"{name}={raw!r} must be {n} increasing positive numbers")
    return values


def parse_weights(raw: str, name: str = "JINJIAN_RISK_WEIGHTS") -> dict[str, float]:
    """'complaints=30,industry=0' → every factor's weight (others keep their default)."""
    weights = {f.id: float(f.weight) for f in FACTORS}
    weights.update(parse_named_numbers(raw, name, FACTOR_IDS, 0, 1000, whole=False))
    return weights


@dataclass(frozen=True)
class RiskRules:
    weights: Mapping[str, float] = field(default_factory=lambda: parse_weights(""))
    grades: tuple[float, float, float] = (15.0, 30.0, 50.0)        # yellow, orange, red score
    area_grades: tuple[float, float, float] = (0.5, 1.0, 2.0)      # yellow, orange, red high-risk share %

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "RiskRules":
        env = os.environ if env is None else env
        return cls(weights=parse_weights(env.get("JINJIAN_RISK_WEIGHTS", "")),
                   grades=_floats(env.get("JINJIAN_RISK_GRADES", "15,30,50"), 3, "JINJIAN_RISK_GRADES"),
                   area_grades=_floats(env.get("JINJIAN_RISK_AREA_GRADES", "0.5,1,2"), 3,
                                       "JINJIAN_RISK_AREA_GRADES"))

    def grade(self, score: float) -> str:
        y, o, r = self.grades
        return "red" if score >= r else "orange" if score >= o else "yellow" if score >= y else "blue"

    def area_grade(self, high_share_pct: float) -> str:
        y, o, r = self.area_grades
        return ("red" if high_share_pct >= r else "orange" if high_share_pct >= o
                else "yellow" if high_share_pct >= y else "blue")

    def params(self) -> dict[str, float]:
        """Bound parameters of the SQL score (``queries.risk``)."""
        out = {f"w_{k}": float(v) for k, v in self.weights.items()}
        out.update({"g_yellow": self.grades[0], "g_orange": self.grades[1], "g_red": self.grades[2]})
        return out

    @property
    def max_score(self) -> float:
        return float(sum(self.weights.values()))
