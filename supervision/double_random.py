"""双随机一公开: random firms by credit-risk class, two random inspectors per firm — a draw
that anyone can reproduce and check (issue 29, docs/double_random.md).

The draw is a hash lottery, not a library's random stream, so that it does not depend on a
numpy or Python version and can be redone in a spreadsheet:

- every firm of the pool gets the rank ``sha256("<seed>:<credit code>")`` (hex); within each
  credit-risk class (A–D) the ``ceil(ratio × firms in the class)`` lowest ranks are drawn
  (:func:`draw_firms`). The pool's order does not matter; its fingerprint
  (:func:`pool_fingerprint`) and the seed are stored with the draw, so a published list can be
  checked against the pool it came from;
- firms spared from random draws (无事不扰: low-risk firms on the list) never enter the pool;
- each drawn firm, in rank order, gets ``per_firm`` inspectors from the roster (执法人员名录):
  the eligible ones with the fewest firms so far, ties broken by
  ``sha256("<seed>:<credit code>:<inspector id>")``; an inspector who inspected the same firm
  within the avoidance period is not eligible (:func:`assign_inspectors`).

Ratios are a setting (``JINJIAN_RANDOM_RATIOS``, per cent per class). Pure: no database, no
Dash; plans, results and publication build on it.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from typing import Iterable, Mapping

import pandas as pd

from domain.errors import InvalidParameter
from settings import parse_named_numbers

CREDIT_CLASSES: tuple[str, ...] = ("A", "B", "C", "D")
#: Sampling ratios in per cent per credit-risk class (the riskier, the more firms drawn).
DEFAULT_RATIOS = "A=3,B=5,C=10,D=100"
SETTING = "JINJIAN_RANDOM_RATIOS"


class NotEnoughInspectors(InvalidParameter):
    user_message = "执法人员不足，无法为每户抽取两名检查人员"


def ratios_from_env(env: Mapping[str, str] | None = None) -> dict[str, float]:
    """The per-class sampling ratios as fractions (``JINJIAN_RANDOM_RATIOS``; classes left
    out keep their default). A malformed value raises ConfigError naming the setting."""
    env = os.environ if env is None else env
    pct = parse_named_numbers(DEFAULT_RATIOS, SETTING, CREDIT_CLASSES, 0, 100, whole=False)
    pct.update(parse_named_numbers(env.get(SETTING, ""), SETTING, CREDIT_CLASSES, 0, 100, whole=False))
    return {c: pct[c] / 100.0 for c in CREDIT_CLASSES}


def _rank(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def pool_fingerprint(codes: Iterable[str]) -> str:
    """sha256 (hex) of the pool's distinct credit codes, sorted, one per line: the same for
    the same firms in any order, different as soon as one firm differs."""
    return hashlib.sha256("\n".join(sorted(set(map(str, codes)))).encode("utf-8")).hexdigest()


def draw_count(firms: int, ratio: float) -> int:
    """How many of ``firms`` a class draws: ceil(ratio × firms), at most all of them."""
    if firms <= 0 or ratio <= 0:
        return 0
    return min(firms, math.ceil(round(ratio * firms, 9)))


@dataclass(frozen=True)
class Draw:
    seed: int
    fingerprint: str                 # of the pool after the spared firms were taken out
    ratios: dict[str, float]
    pool: dict[str, int]             # firms per class in the pool
    firms: pd.DataFrame              # credit_code, credit_class, rank — drawn firms, rank order


def draw_firms(pool: pd.DataFrame, ratios: Mapping[str, float], seed: int,
               spared: Iterable[str] = ()) -> Draw:
    """Draw from ``pool`` (credit_code, credit_class in A–D): per class the
    ``draw_count`` firms of lowest rank. Firms in ``spared`` are not in the pool; a firm
    listed twice counts once; a class outside A–D is refused (InvalidParameter)."""
    if not isinstance(seed, int) or seed < 0:
        raise InvalidParameter(f"seed {seed!r}", user_message="随机种子须为非负整数")
    # Plain Python over the codes: a plan's pool is small, and pandas' per-call cost would dominate
    # (a province's demo draws thousands of plans); a firm listed twice keeps its first class.
    first: dict[str, str] = {}
    for code, cls in zip(pool["credit_code"].astype(str), pool["credit_class"].astype(str)):
        first.setdefault(code, cls)
    wrong = sorted(set(first.values()) - set(CREDIT_CLASSES))
    if wrong:
        raise InvalidParameter(f"credit classes {wrong}", user_message=f"信用风险分类只能是 A、B、C、D（有 {wrong[0]}）")
    out = set(map(str, spared))
    kept = [(code, cls) for code, cls in first.items() if code not in out]
    ranked: dict[str, list[tuple[str, str]]] = {cls: [] for cls in CREDIT_CLASSES}
    for code, cls in kept:
        ranked[cls].append((_rank(seed, code), code))
    sizes = {cls: len(ranked[cls]) for cls in CREDIT_CLASSES}
    picked = sorted((rank, code, cls) for cls in CREDIT_CLASSES
                    for rank, code in sorted(ranked[cls])[:draw_count(sizes[cls], float(ratios.get(cls, 0)))])
    firms = pd.DataFrame({"credit_code": [c for _, c, _ in picked], "credit_class": [k for _, _, k in picked],
                          "rank": [r for r, _, _ in picked]})
    return Draw(seed, pool_fingerprint(code for code, _ in kept), {c: float(ratios.get(c, 0)) for c in CREDIT_CLASSES},
                sizes, firms)


def assign_inspectors(firms: Iterable[str], roster: pd.DataFrame, seed: int, recent: pd.DataFrame | None = None,
                      per_firm: int = 2) -> pd.DataFrame:
    """Inspectors for each firm (in the order given): credit_code, inspector_1 … inspector_N.
    ``roster``: inspector_id (one row each); ``recent``: credit_code, inspector_id pairs of the
    avoidance period (those inspectors are not sent to that firm again). Each pick takes the
    eligible inspectors with the fewest firms so far (ties by the seeded rank), so the load is
    even. A firm with fewer than ``per_firm`` eligible inspectors raises NotEnoughInspectors
    naming it."""
    staff = sorted(set(map(str, roster["inspector_id"])))
    avoid: dict[str, set[str]] = {}
    if recent is not None:
        for code, who in zip(recent["credit_code"].astype(str), recent["inspector_id"].astype(str)):
            avoid.setdefault(code, set()).add(who)
    load = dict.fromkeys(staff, 0)
    rows = []
    for code in map(str, firms):
        eligible = [s for s in staff if s not in avoid.get(code, ())]
        if len(eligible) < per_firm:
            raise NotEnoughInspectors(
                f"firm {code}: {len(eligible)} eligible inspectors, {per_firm} needed",
                user_message=f"主体 {code} 可派检查人员不足 {per_firm} 名（名录 {len(staff)} 名，需回避 "
                             f"{len(staff) - len(eligible)} 名）")
        chosen = sorted(eligible, key=lambda s: (load[s], _rank(seed, code, s)))[:per_firm]
        for s in chosen:
            load[s] += 1
        rows.append([code, *chosen])
    return pd.DataFrame(rows, columns=["credit_code", *[f"inspector_{i + 1}" for i in range(per_firm)]])


__all__ = ["CREDIT_CLASSES", "DEFAULT_RATIOS", "Draw", "NotEnoughInspectors", "assign_inspectors", "draw_count",
           "draw_firms", "pool_fingerprint", "ratios_from_env"]
