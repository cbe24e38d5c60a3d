"""涉企检查 discipline (issue 29 item 3, docs/double_random.md): the command centre polices
inspections of firms themselves, under the 2024–26 rules on regulating administrative
inspections of enterprises.

- 多头检查: a firm inspected by two or more different departments within
  ``window_days`` (Quzhou flags a firm inspected by different departments within 30 days);
- 频繁检查: a firm inspected more than ``max_per_year`` times within the last 365 days;
- 无事不扰: low-risk firms spared from random draws — credit-risk class A, on neither the
  abnormal-operation nor the serious-dishonesty list, and without a penalty, a complaint or a
  failed inspection within the last ``spare_days`` days.

Pure: the rules and their settings; the queries are in :mod:`queries.discipline`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from settings import ConfigError

#: Events that end a firm's clean record (无事不扰): a penalty, a complaint, a failed inspection.
BLEMISHES = "(event_type IN ('penalty', 'complaint') OR (event_type = 'inspection' AND result = 'fail'))"


def _whole(env: Mapping[str, str], name: str, default: str, lo: int, hi: int) -> int:
    raw = env.get(name, default).strip()
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ConfigError(f"{name}={raw!r} must be a whole number {lo}..{hi}")
    return int(raw)


@dataclass(frozen=True)
class InspectionRules:
    window_days: int = 30       # JINJIAN_INSPECT_WINDOW_DAYS: 多头检查 window
    max_per_year: int = 2       # JINJIAN_INSPECT_MAX_PER_YEAR: more is 频繁检查
    spare_days: int = 365       # 无事不扰: the clean record's length

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "InspectionRules":
        env = os.environ if env is None else env
        return cls(window_days=_whole(env, "JINJIAN_INSPECT_WINDOW_DAYS", "30", 1, 366),
                   max_per_year=_whole(env, "JINJIAN_INSPECT_MAX_PER_YEAR", "2", 1, 366))


__all__ = ["BLEMISHES", "InspectionRules"]
