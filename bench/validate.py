"""Benchmark: field checks of a registration file, the column-wise checks
(``etl.ingest.validate``) against the row-by-row checks they replaced
(``tests/rowwise_validate.py``, kept as the reference), on the same parsed rows.

A benchmark, not a test: it prints rows/s of each and asserts only that both agree.

    .venv/bin/python bench/validate.py [--rows 200000]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import machine  # noqa: E402
from domain import uscc  # noqa: E402
from domain.sources import SOURCES  # noqa: E402
from etl.ingest.raw import RawRow, RawTable  # noqa: E402
from etl.ingest.validate import check_fields  # noqa: E402
from tests import rowwise_validate  # noqa: E402


def table(n: int) -> tuple[RawTable, frozenset[str]]:
    rng = np.random.default_rng(7)
    codes = uscc.generate(rng, ["441900"] * n, ["enterprise"] * n)
    grids = [f"4419000{t:02d}00{v}00{g}" for t in range(3, 13) for v in range(1, 4) for g in range(1, 4)]
    src = SOURCES["registration"]
    head = [f.zh for f in src.fields]
    rows = []
    for i, code in enumerate(codes):
        bad = i % 50 == 0  # 2 % bad rows: a wrong check character
        values = [code[:17] + ("0" if code[17] != "0" else "1") if bad else code, f"东莞市测试{i}号商贸有限公司", "企业",
                  "F", grids[i % len(grids)], f"2026-11-{1 + i % 20:02d} 10:{i % 60:02d}:00", "张三", "", "100",
                  "113.7", "22.9"]
        rows.append(RawRow(i + 2, dict(zip(head, values)), ""))
    return RawTable("csv", "utf-8", head, rows, []), frozenset(grids)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    (tab, grids), now = table(args.rows), dt.datetime(2026, 11, 20, 23, 0)
    src = SOURCES["registration"]
    print(f"machine: {machine()}; {args.rows:,} registration rows, 2 % with a wrong check character")
    out = {}
    for name, fn in (("row by row (before)", rowwise_validate.check_fields), ("column-wise (now)", check_fields)):
        t0 = time.perf_counter()
        out[name] = fn(src, tab, now=now, grids=grids, scope="4419")
        s = time.perf_counter() - t0
        print(f"{name:22s} {s:6.2f} s  {args.rows / s:>10,.0f} rows/s  ({len(out[name].problems):,} problems)")
    a, b = out.values()
    print("same problems and valid rows:", a.problems == b.problems and a.rows.equals(b.rows))
    return 0


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
