"""Benchmark: the command wall's data on the default demo data (embedded chDB).

Times the wall's full data refresh (``queries.overview.wall_data``) and the map
layer (``children_features`` + ``compute`` + ``map_layer``) for the root region
(first load, cold) and then for every drill-down target (root's children and
one grandchild level), printing p50/p95. Run after ``make data``:

    .venv/bin/python bench/wall.py [--root 44] [--repeat 3]
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

from components.region_map import map_layer  # noqa: E402
from indicators.catalogue import CATALOGUE  # noqa: E402
from queries.indicator_values import compute  # noqa: E402
from indicators.periods import period_to_date  # noqa: E402
from bench.stats import pct  # noqa: E402
from store.db import get_db  # noqa: E402
from store.filters import Filter  # noqa: E402
from queries.geo import children_features  # noqa: E402
from queries.overview import wall_data  # noqa: E402
from queries.regions import region_node  # noqa: E402


def _map(db, region: str, today: dt.date) -> None:
    ind = CATALOGUE["entity_stock"]
    values = compute(db, [ind], Filter(region=region), period_to_date(today, "month"), by_child=True)
    map_layer(children_features(db, region), dict(zip(values["region_code"], values["value"])), ind)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.environ.get("JINJIAN_ROOT_REGION", "44"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    db = get_db()
    today = dt.date.today()
    t = time.perf_counter()
    wall_data(db, args.root, today)
    _map(db, args.root, today)
    print(f"machine: {os.cpu_count()} cores; engine {db.name}; root {args.root}")
    print(f"first load (cold, data + map): {1000 * (time.perf_counter() - t):.0f} ms")
    kids = region_node(db, args.root).children["code"].tolist()
    targets = [args.root] + kids + region_node(db, kids[0]).children["code"].tolist()[:10]
    for label, fn in (("wall refresh", wall_data), ("map layer", _map)):
        times = []
        for _ in range(args.repeat):
            for code in targets:
                t = time.perf_counter()
                fn(db, code, today)
                times.append(1000 * (time.perf_counter() - t))
        print(f"{label:13s} n={len(times):3d}  p50 {statistics.median(times):6.0f} ms  "
              f"p95 {pct(times, 0.95):6.0f} ms  max {max(times):6.0f} ms")


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
