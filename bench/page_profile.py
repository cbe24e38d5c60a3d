"""Benchmark: where a page's main-thread time goes in headless Chromium (issue 30).

Opens ``URL`` twice in one browser context (cold, then warm) with Chrome's sampling
profiler on (CDP ``Profiler``, 200 µs), waits ``--wait`` seconds, and prints the sampled
time per script file and the slowest functions. This is the figure behind docs/scale.md §7
("plotly.js's evaluation first on every page with a chart: 0.8–1.0 s"). It measures an app
already running, signed-out pages only (start one with ``JINJIAN_AUTH=0``), e.g.:

    JINJIAN_AUTH=0 JINJIAN_PORT=8061 .venv/bin/python app.py &
    .venv/bin/python bench/page_profile.py http://127.0.0.1:8061/quality

The browser is Debian's chromium (``JINJIAN_CHROMIUM``, default /usr/bin/chromium) driven by
Playwright, as for report PDFs. A benchmark: nothing is asserted.
"""
from __future__ import annotations

import argparse
import collections
import os

from playwright.sync_api import sync_playwright


def profile(page: object, cdp: object, url: str, wait_ms: int) -> dict:
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 200})
    cdp.send("Profiler.start")
    page.goto(url)
    page.wait_for_timeout(wait_ms)
    return cdp.send("Profiler.stop")["profile"]


def summarise(prof: dict, top: int) -> None:
    nodes = {n["id"]: n for n in prof["nodes"]}
    by_file: collections.Counter = collections.Counter()
    by_fn: collections.Counter = collections.Counter()
    for sample, delta in zip(prof["samples"], prof["timeDeltas"]):
        frame = nodes[sample]["callFrame"]
        name = frame["url"].split("/")[-1].split("?")[0] or frame["functionName"] or "(native)"
        by_file[name] += delta / 1000
        by_fn[(name, frame["functionName"])] += delta / 1000
    print(f"  sampled {sum(prof['timeDeltas']) / 1000:,.0f} ms")
    for name, ms in by_file.most_common(top):
        print(f"  {ms:8,.0f} ms  {name}")
    print("  slowest functions:")
    for (name, fn), ms in by_fn.most_common(top):
        print(f"  {ms:8,.0f} ms  {name} {fn or '(top level)'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--wait", type=float, default=6.0, help="seconds to sample after navigation")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("JINJIAN_CHROMIUM", "/usr/bin/chromium"),
                                     headless=True)
        ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
        for run in ("cold", "warm"):
            page = ctx.new_page()
            print(f"{run}: {args.url}")
            summarise(profile(page, ctx.new_cdp_session(page), args.url, int(args.wait * 1000)), args.top)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
