"""Benchmark: the supervision-task views on the default demo data (embedded chDB).

Times, for the root region and each of its children: the ageing chart, the first
5,000 rows of the task list, the town and department efficiency tables (month to
date), and every indicator of the ``tasks`` category with comparisons, printing
p50/p95 per view. Run after ``make data``:

    .venv/bin/python bench/tasks.py [--root 44] [--repeat 3]
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

from indicators.catalogue import INDICATORS  # noqa: E402
from queries.indicator_values import compute_with_comparisons  # noqa: E402
from indicators.periods import period_to_date  # noqa: E402
from bench.stats import pct  # noqa: E402
from store.db import get_db  # noqa: E402
from store.filters import Filter  # noqa: E402
from queries.regions import region_node  # noqa: E402
from queries.tasks import TaskQuery, ageing, efficiency, task_list  # noqa: E402
from supervision.rules import TaskRules  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.environ.get("JINJIAN_ROOT_REGION", "44"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    db, rules, today = get_db(), TaskRules.from_env(), dt.date.today()
    month = period_to_date(today, "month")
    task_inds = [i for i in INDICATORS if i.category == "tasks"]
    views = {
        "ageing": lambda f: ageing(db, TaskQuery(f, today), rules),
        "task list (5,000 rows)": lambda f: task_list(db, TaskQuery(f, today), rules),
        "efficiency by town": lambda f: efficiency(db, f, month, "town", rules),
        "efficiency by department": lambda f: efficiency(db, f, month, "dept", rules),
        f"{len(task_inds)} task indicators + 环比/同比": lambda f: compute_with_comparisons(
            db, task_inds, f, month, "month"),
    }
    targets = [args.root] + region_node(db, args.root).children["code"].tolist()
    print(f"machine: {os.cpu_count()} cores; engine {db.name}; root {args.root}; {len(targets)} regions")
    for name, fn in views.items():
        times = []
        for _ in range(args.repeat):
            for code in targets:
                t = time.perf_counter()
                fn(Filter(region=code))
                times.append(1000 * (time.perf_counter() - t))
        print(f"{name:32s} p50 {statistics.median(times):6.0f} ms   p95 {pct(times, 0.95):6.0f} ms   "
              f"(n={len(times)})")


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
