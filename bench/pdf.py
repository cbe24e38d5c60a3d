"""Benchmark: seconds per report PDF, cold and warm browser, on the configured
database (run after ``make data``: the default demo, Guangdong, embedded chDB).

Cold = the first PDF of the process: Chromium launch + first page + report.
Warm = later PDFs with the same browser, each reading the database afresh (report
cache cleared). "data cached" = a PDF of a report just viewed on the page (its
data still in the two-minute cache). The time to build the report's data alone
(``queries.report_data.build_report``) is shown too: the rest is the browser (load,
render, print).

    .venv/bin/python bench/pdf.py [--regions 44,4419] [--period weekly] [--date YYYY-MM-DD] [--repeat 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import pct  # noqa: E402
from store.db import get_db  # noqa: E402
from store.filters import RegionScope  # noqa: E402
from queries.report_periods import last_complete  # noqa: E402
from settings import Settings, configure_logging  # noqa: E402


def _latest_day(db) -> dt.date:
    from store.executor import run

    df = run(db, "bench_latest", "SELECT max(event_date) AS d FROM events")
    return dt.date.fromisoformat(str(df["d"].iloc[0])[:10])


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def main() -> int:
    ap = argparse.ArgumentParser()
    settings = Settings.from_env()
    ap.add_argument("--regions", default=f"{settings.root_region},4419")
    ap.add_argument("--period", default="weekly")
    ap.add_argument("--date", default=None, help="a day in the period (default: the last complete period "
                                                   "before the newest data)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    configure_logging("WARNING")

    from app import create_app
    from reports.build import check_request, render_pdf
    from queries.report_data import build_report, clear_cache
    from reports.pdf import PdfRenderer
    from reports.server import stop_all

    db = get_db()
    day = args.date or last_complete(args.period, _latest_day(db) + dt.timedelta(days=1)).start.isoformat()
    scope = RegionScope(settings.root_region)
    server = create_app().server
    renderer = PdfRenderer()
    entities = int(db.query("SELECT count() AS n FROM entities")["n"].iloc[0])
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.python_version()}; "
          f"engine {db.name}; {entities:,} entities; {args.period} report of {day}")
    try:
        for i, region in enumerate(r.strip() for r in args.regions.split(",") if r.strip()):
            checked = check_request(db, region, args.period, day, scope)
            t = time.perf_counter()
            build_report(db, region, args.period, day, scope)
            data_s = time.perf_counter() - t
            times, sizes = [], []
            for _ in range(1 + args.repeat):
                clear_cache()  # every PDF reads the database afresh
                t = time.perf_counter()
                pdf = render_pdf(server, region, args.period, day, renderer=renderer, checked=checked)
                times.append(time.perf_counter() - t)
                sizes.append(len(pdf))
            t = time.perf_counter()  # the page was just viewed: its data are cached
            render_pdf(server, region, args.period, day, renderer=renderer, checked=checked)
            cached = time.perf_counter() - t
            cold, warm = times[0], times[1:]
            label = "cold (browser launch)" if i == 0 else "first for region"
            print(f"{region} {checked.region_name}: data {data_s:.2f} s | {label} {cold:.2f} s | warm p50 "
                  f"{statistics.median(warm):.2f} s, p95 {pct(warm, 0.95):.2f} s (n={len(warm)}) | "
                  f"data cached {cached:.2f} s | {sizes[-1] / 1024:.0f} KiB, {_pages(pdf)} pages")
    finally:
        renderer.close()
        stop_all()
    return 0


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
