"""Benchmark: the risk views on the default demo data (embedded chDB).

Times, for the root region and each of its children: the grade distribution
(scores every alive entity), risk by child region, the top-100 entities with their
breakdown, the high-risk points, and batch alerts over the whole history, printing
p50/p95 per view. Run after ``make data``:

    .venv/bin/python bench/risk.py [--root 44] [--repeat 3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import pct  # noqa: E402
from store.db import get_db  # noqa: E402
from store.filters import Filter  # noqa: E402
from queries.regions import region_node  # noqa: E402
from queries.risk import (batch_alerts, grade_distribution, high_risk_points, risk_by_child,  # noqa: E402
                          top_entities)
from supervision.risk import RiskRules  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.environ.get("JINJIAN_ROOT_REGION", "44"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    db, rules, today = get_db(), RiskRules.from_env(), dt.date.today()
    views = {
        "grade distribution": lambda f: grade_distribution(db, f, today, rules),
        "risk by child region": lambda f: risk_by_child(db, f, today, rules),
        "top 100 with breakdown": lambda f: top_entities(db, f, today, rules, limit=100),
        "high-risk points": lambda f: high_risk_points(db, f, today, rules),
        "batch alerts (all history)": lambda f: batch_alerts(db, f, dt.date(2000, 1, 1), today),
    }
    targets = [args.root] + region_node(db, args.root).children["code"].tolist()
    print(f"machine: {os.cpu_count()} cores; engine {db.name}; root {args.root}; {len(targets)} regions")
    for name, fn in views.items():
        root_ms, times = [], []
        for _ in range(args.repeat):
            for code in targets:
                t = time.perf_counter()
                fn(Filter(region=code))
                ms = 1000 * (time.perf_counter() - t)
                times.append(ms)
                if code == args.root:
                    root_ms.append(ms)
        print(f"{name:28s} root p50 {statistics.median(root_ms):6.0f} ms   all regions p50 "
              f"{statistics.median(times):6.0f} ms  p95 {pct(times, 0.95):6.0f} ms  (n={len(times)})")


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
