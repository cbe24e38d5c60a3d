"""Benchmark: where a drill-down header's time goes (issue 23 item 3), in-process.

Computes the region page's cards with 环比 and 同比 (``compute_with_comparisons`` over
``pages.region.CARDS``, this month) for each region given, cold (query cache, region nodes,
versions and the snapshot list cleared) ``--runs`` times, and prints the times and, for the
last run, every query with its time. Reads the database of ``bench/scale.py`` (its server
must be running, e.g. started by ``bench/scale.py --sections gen``). Nothing is asserted.

    .venv/bin/python bench/header_queries.py 44 4401 440106
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("regions", nargs="+")
    ap.add_argument("--entities", type=int, default=10_000_000)
    ap.add_argument("--root", default="44")
    ap.add_argument("--tcp-port", type=int, default=19000)
    ap.add_argument("--runs", type=int, default=6)
    args = ap.parse_args(argv)
    os.environ.update(JINJIAN_ROOT_REGION=args.root, JINJIAN_AUTH="0", JINJIAN_LOG_LEVEL="WARNING",
                      JINJIAN_CLICKHOUSE_URL=f"clickhouse://default@127.0.0.1:{args.tcp_port}/scale_{args.entities}",
                      JINJIAN_DATA_DIR=os.environ.get("JINJIAN_DATA_DIR", "/tmp/jinjian-header-bench"))
    Path(os.environ["JINJIAN_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    from bench.scale_probe import clear_all_caches, install_log, say
    from indicators.catalogue import CATALOGUE
    from indicators.periods import period_to_date
    from queries.indicator_values import compute_with_comparisons
    from queries.regions import region_node
    from store.db import get_db
    from store.filters import Filter, RegionScope

    # pages/region.py CARDS (the page module registers itself with a Dash app: not imported here)
    cards = ["entity_stock", "new_registrations", "cancellations", "tasks_open", "tasks_overdue", "abnormal_rate"]
    db, log, day = get_db(), install_log(), dt.date.today()
    inds = [CATALOGUE[i] for i in cards]
    for code in args.regions:
        flt, times = Filter(region=code, scope=RegionScope(args.root)), []
        for k in range(args.runs):
            clear_all_caches()
            log.on = k == args.runs - 1
            t = time.perf_counter()
            region_node(db, code, flt.scope)
            compute_with_comparisons(db, inds, flt, period_to_date(day, "month"), "month")
            times.append((time.perf_counter() - t) * 1000)
        say(f"{code}: cards with 环比/同比, cold, ms: {', '.join(f'{x:.0f}' for x in times)}")
        for name, ms in log.take()[0]:
            say(f"    {name:48s} {ms:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
