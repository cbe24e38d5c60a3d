"""Benchmark: default demo generation (``etl init`` + ``etl demo``) in a fresh data dir.

Prints wall time, peak memory (RSS of the child process) and database size on
disk for each scale given (default: the default demo, 200,000 entities).

    .venv/bin/python bench/demo_generation.py [--entities 200000 500000] [--root 44]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_once(entities: int, root: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="jinjian-bench-") as tmp:
        env = {**os.environ, "JINJIAN_DATA_DIR": tmp}
        env.pop("JINJIAN_CLICKHOUSE_URL", None)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "etl", "init"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        t1 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "etl", "demo", "--entities", str(entities), "--root", root],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        t2 = time.perf_counter()
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {"init_s": t1 - t0, "demo_s": t2 - t1, "peak_rss_mb": peak_mb,
                "db_mb": _du(Path(tmp)) / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, nargs="+", default=[200_000])
    ap.add_argument("--root", default="44")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; root {args.root}")
    print(f"{'entities':>10} {'init s':>8} {'demo s':>8} {'total s':>8} {'peak RSS MB':>12} {'db MB':>8}")
    for n in args.entities:
        r = run_once(n, args.root)
        print(f"{n:>10,} {r['init_s']:>8.1f} {r['demo_s']:>8.1f} {r['init_s'] + r['demo_s']:>8.1f} "
              f"{r['peak_rss_mb']:>12.0f} {r['db_mb']:>8.1f}")


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
