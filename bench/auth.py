"""What the access-control gate costs per request (in-process Flask test client, no network).

Prints p50/p95 of GET /api/v1/indicators (no analytics query, so the gate dominates)
with JINJIAN_AUTH=0 and with a signed-in user (session check: one metadata-store read),
and of a login (scrypt hash check).

    python bench/auth.py [--n 2000]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _time(client, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        resp = client.get(url)
        out.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200, resp.status_code
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jj-bench-auth-"))
    os.environ.update(JINJIAN_DATA_DIR=str(tmp), JINJIAN_METADATA_URL=f"sqlite:///{tmp / 'm.sqlite'}",
                      JINJIAN_INBOX="0", JINJIAN_SIMULATOR="0", JINJIAN_REPORT_SCHEDULER="0", JINJIAN_LOG_LEVEL="WARNING",
                      JINJIAN_ROOT_REGION="4419")
    import logging

    logging.disable(logging.INFO)
    from app import create_app
    from auth.audit import store

    server = create_app().server
    store().add_user("bench", "Bench-pass-2026", "supervisor", "441900003")
    url = "/api/v1/indicators"
    os.environ["JINJIAN_AUTH"] = "0"
    off = _time(server.test_client(), url, args.n)
    os.environ["JINJIAN_AUTH"] = "1"
    client = server.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    logins = []
    for _ in range(20):
        t0 = time.perf_counter()
        resp = client.post("/login", data={"username": "bench", "password": "Bench-pass-2026", "csrf_token": token})
        logins.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 302
        token = client.get("/login").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    on = _time(client, url, args.n)
    print(f"requests per case: {args.n}; {os.cpu_count()} cores")
    print(f"GET {url} JINJIAN_AUTH=0     p50 {statistics.median(off):6.2f} ms  p95 {_pct(off, .95):6.2f} ms")
    print(f"GET {url} signed-in user     p50 {statistics.median(on):6.2f} ms  p95 {_pct(on, .95):6.2f} ms")
    print(f"gate overhead (p50)                      {statistics.median(on) - statistics.median(off):6.2f} ms")
    print(f"POST /login (scrypt check)   p50 {statistics.median(logins):6.2f} ms  p95 {_pct(logins, .95):6.2f} ms")
    return 0


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path (store/lifecycle.py)
