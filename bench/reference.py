"""Benchmark: loading a locality's grid file (``python -m etl grids load``) into a fresh
embedded database, as an operator onboarding a city or a province would.

Two files are generated (deterministic, cached in bench/out/):

- Dongguan size: every village of 东莞 4419 split into grids (about 3,000 grids, the
  source documents' 2,952), polygons from ``domain.boundaries.child_polygons`` (GeoJSON);
- province size: about 100,000 grids over Guangdong's 26,842 villages — 4 per village,
  each a 24-vertex polygon inside its village — as GeoJSON (and ``--csv``: CSV with WKT).

Each load runs in a child process after ``etl init``; the figures are its wall time,
rows per second and peak RSS (the child's own ``ru_maxrss``).

    .venv/bin/python bench/reference.py [--only dongguan|province] [--csv]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

_CHILD = """
import resource, sys, time
from etl.__main__ import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
print(f"@@ {time.perf_counter() - t0:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
sys.exit(code)
"""


def dongguan_file() -> Path:
    path = OUT / "grids_dongguan.geojson"
    if path.exists():
        return path
    from shapely.geometry import mapping

    from domain.boundaries import child_polygons
    from domain.regions import load_region_table

    tree = load_region_table("4419")
    feats = []
    for i, village in enumerate(tree.loc[tree["level"] == 5, "code"]):
        codes = [f"{village}{k:03d}" for k in range(1, 3 + i % 5 + 1)]  # 4-8 grids, 5 on average
        for code, geom in sorted(child_polygons(village, codes).items()):
            feats.append({"type": "Feature", "geometry": mapping(geom),
                          "properties": {"网格编码": code, "网格名称": f"第{code[-3:]}网格", "网格员人数": 3}})
    _write(path, feats)
    return path


def province_file(csv: bool = False) -> Path:
    path = OUT / ("grids_guangdong.csv" if csv else "grids_guangdong.geojson")
    if path.exists():
        return path
    import numpy as np
    import shapely

    from domain.boundaries import region_polygon
    from domain.regions import load_region_table

    tree = load_region_table("44")
    villages = tree.loc[tree["level"] == 5, "code"].tolist()
    centres = shapely.point_on_surface([region_polygon(v)[0] for v in villages])
    xy = shapely.get_coordinates(centres)
    feats = []
    angle = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    for village, (x, y) in zip(villages, xy):
        for k, (dx, dy) in enumerate(((-1, -1), (1, -1), (-1, 1), (1, 1)), start=1):
            ring = np.column_stack([x + dx * 0.0012 + 0.001 * np.cos(angle), y + dy * 0.0012 + 0.001 * np.sin(angle)])
            feats.append((f"{village}{k:03d}", f"第{k}网格", shapely.Polygon(ring)))
    if csv:
        with open(path, "w", encoding="utf-8") as f:
            f.write("网格编码,网格名称,边界\n")
            for code, name, geom in feats:
                f.write(f'{code},{name},"{geom.wkt}"\n')
    else:
        _write(path, [{"type": "Feature", "geometry": json.loads(shapely.to_geojson(g)),
                       "properties": {"网格编码": c, "网格名称": n}} for c, n, g in feats])
    return path


def _write(path: Path, feats: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"type": "FeatureCollection", "features": feats}, f, ensure_ascii=False)


def load(path: Path, region: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="jinjian-bench-ref-") as tmp:
        env = {**os.environ, "JINJIAN_DATA_DIR": tmp, "JINJIAN_INGEST_MAX_MB": "4096"}
        env.pop("JINJIAN_CLICKHOUSE_URL", None)
        subprocess.run([sys.executable, "-m", "etl", "init"], cwd=ROOT, env=env, check=True, capture_output=True)
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, "grids", "load", str(path), "--region", region],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"load failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        line = next(x for x in done.stdout.splitlines() if x.startswith("@@"))
        seconds, rss = (float(v) for v in line.split()[1:])
        summary = next(x for x in done.stdout.splitlines() if x.startswith(path.name))
        rows = int(summary.split("导入 ")[1].split(" 条")[0])
        return {"rows": rows, "seconds": seconds, "process_s": wall, "rows_per_s": rows / seconds, "peak_rss_mb": rss,
                "file_mb": path.stat().st_size / 1e6}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("dongguan", "province"))
    p.add_argument("--csv", action="store_true", help="also load the province file as CSV with WKT")
    args = p.parse_args()
    cases = []
    if args.only in (None, "dongguan"):
        cases.append(("Dongguan GeoJSON", dongguan_file(), "4419", 10))
    if args.only in (None, "province"):
        cases.append(("Guangdong GeoJSON", province_file(), "44", 120))
        if args.csv:
            cases.append(("Guangdong CSV+WKT", province_file(csv=True), "44", 120))
    print(f"{'file':20s} {'grids':>8s} {'MB':>6s} {'load s':>7s} {'rows/s':>8s} {'RSS MB':>7s}  target")
    for label, path, region, target in cases:
        r = load(path, region)
        ok = "met" if r["seconds"] <= target else "MISSED"
        print(f"{label:20s} {r['rows']:8,d} {r['file_mb']:6.1f} {r['seconds']:7.1f} {r['rows_per_s']:8,.0f} "
              f"{r['peak_rss_mb']:7.0f}  ≤ {target} s: {ok}")


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
