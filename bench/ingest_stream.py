"""Benchmark: a large file through ``python -m etl load`` — peak memory and rows/s (issue 20).

Writes an inspection CSV of the given size (a template of generated inspections of the data
set's entities, repeated with fresh record numbers), then loads it as history with
``python -m etl load FILE --source inspection --history`` on a fresh copy of the ingestion
bench's data set (``bench/ingest.py``), once per run, and prints for each: file size, rows,
parts (batches), seconds, rows/s and the loading process's peak resident memory (RSS, from
``getrusage`` of a wrapper whose only child is the load). Memory that stays flat as the file
grows is the point: a file is read in parts of ``JINJIAN_INGEST_PART_MB``.

A benchmark, not a test: it prints figures and asserts nothing.

    .venv/bin/python bench/ingest_stream.py [--runs 64:8,64:16,64:32,512:16,64:whole]
        (SIZE_MB:PART_MB; PART_MB "whole": the file as one batch, limits raised)
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest_data import Records, base_dataset, bench_env, fresh_copy, in_child, load_avg, survey  # noqa: E402
from bench.stats import machine  # noqa: E402

DEFAULT_DIR = Path("/tmp/jinjian-bench-ingest")
#: Runs the load and prints its peak RSS in KiB (the wrapper's only child is the load).
WRAPPER = ("import json, resource, subprocess, sys, time; t = time.perf_counter(); "
           "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
           "print(json.dumps({'rc': r.returncode, 'out': r.stdout[-3000:], 'err': r.stderr[-3000:], "
           "'batches': r.stdout.count('(batch '), "
           "'seconds': time.perf_counter() - t, 'rss_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")


def write_file(path: Path, template: list[dict[str, str]], size_mb: int) -> int:
    """The inspection CSV of about ``size_mb`` MB; returns its rows."""
    from domain.sources import get_source

    fields = [f for f in get_source("inspection").fields if f.key in template[0]]
    rows = 0
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f.zh for f in fields])
        rep = 0
        while fh.tell() < size_mb * 1024 * 1024:
            rep += 1
            w.writerows([f"JCB{rep:05d}{i:07d}" if f.key == "record_id" else r[f.key] for f in fields]
                        for i, r in enumerate(template))
            rows += len(template)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="64:8,64:16,64:32,512:16,64:whole", help="SIZE_MB:PART_MB, comma-separated")
    ap.add_argument("--root", default="4419")
    ap.add_argument("--entities", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = ap.parse_args()
    runs = [(int(a), b) for a, b in (r.split(":") for r in args.runs.split(","))]
    print(f"machine: {machine()}; {load_avg()} at start")
    base = base_dataset(args)
    info = in_child(base, survey, args.root)
    template = Records(info).inspections(100_000)
    print(f"data set: {len(info['codes']):,} entities, {base}")
    print(f"  {'file MB':>8s} {'part':>6s} {'rows':>11s} {'batches':>8s} {'seconds':>8s} {'rows/s':>8s} {'peak RSS':>9s}")
    for size_mb, part in runs:
        path = args.dir / f"stream-{size_mb}.csv"
        if not path.exists():
            rows = write_file(path, template, size_mb)
            path.with_suffix(".rows").write_text(str(rows))
        rows = int(path.with_suffix(".rows").read_text())
        copy = fresh_copy(base, "stream")
        extra = ({"JINJIAN_INGEST_PART_MB": "4096", "JINJIAN_INGEST_MAX_MB": "4096"} if part == "whole"
                 else {"JINJIAN_INGEST_PART_MB": part})
        cmd = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "etl", "load", str(path), "--source",
               "inspection", "--history"]
        res = json.loads(subprocess.run(cmd, cwd=ROOT, env=bench_env(copy, JINJIAN_LOG_LEVEL="WARNING", **extra),
                                        capture_output=True, text=True, check=True).stdout)
        summary = [ln for ln in res["out"].splitlines() if "rows in" in ln or ": 共" in ln]
        batches = res["batches"]
        if res["rc"] != 0:
            print(f"  load failed ({res['rc']}): {res['err'][-1500:]}")
        print(f"  {path.stat().st_size / 2**20:8.0f} {part:>6s} {rows:11,} {batches:8d} {res['seconds']:8.1f} "
              f"{rows / res['seconds']:8,.0f} {res['rss_kib'] / 1024:7.0f} MB   {summary[-1][-110:] if summary else ''}")
        shutil.rmtree(copy, ignore_errors=True)
    print(f"({load_avg()} at the end; files kept in {args.dir} for the next run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
