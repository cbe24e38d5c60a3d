"""Benchmark: how long each page takes to *settle* in headless Chromium (issue 30, item 2).

Every page — the command wall ``/``, a city and a town page, ``/risk``, ``/tasks``,
``/reports``, one ``/report``, ``/quality``, ``/indicators`` and one entity page — is opened
at 1920×1080, the wall also at 3840×2160, and timed from navigation until it has settled:
no Dash callback in flight (an init script wraps ``window.fetch`` and ``XMLHttpRequest``
and counts pending ``/_dash-update-component`` requests, a response counting as done once
its body is read) and no long main-thread task (``PerformanceObserver`` 'longtask') for
0.5 s. The settle time is the end of the last callback or long task before that quiet
half second, on the page's own clock (``performance.now()`` from navigation start).
Cold = the first load in a new browser context (empty browser cache, new session); warm
= the second load of the same URL in that context. The server's caches are whatever the
running app holds (as for a real user). Budgets (issue 30): 2 s warm and 3 s cold at
1920×1080; the wall at 3840×2160 3 s warm. A benchmark, not a test: nothing is asserted.

Without ``--url`` it does what ``make run`` does in its own data directory — ``etl init``,
``etl demo --if-absent`` (the default demo: Guangdong, 200,000 entities), ``etl users
demo`` — then serves ``python app.py`` on a free loopback port with the live simulator on
(``JINJIAN_SIMULATOR=1``) and login required (``JINJIAN_AUTH=1``), signs in as the demo
administrator (``admin``, province scope) and, after the runs, stops the app; it also
times the first load after the start (the wall, cold; budget 2× cold). Besides the table
it prints, per page, the slowest callbacks: their time in the page, the server's part of
it (the app's access log), the same request replayed alone after the warm load, response
sizes, long tasks, and the SQL run while the page loaded per query name (the app's log,
``<data-dir>/bench-pages-app.log``). With ``--url`` it measures an app that is already
running (signing in when the app asks for it; ``--user``/``--password``); the access log
and SQL figures are then left out.

    .venv/bin/python bench/pages.py [--data-dir bench/out/pages-data] [--runs 3] [--pages wall,city,risk]
    .venv/bin/python bench/pages.py --url http://127.0.0.1:8050 [--user admin --password …]

The browser is Debian's chromium (``JINJIAN_CHROMIUM``, default /usr/bin/chromium) driven
by Playwright, as for report PDFs — no ``playwright install``.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import machine, md_table  # noqa: E402
from bench.pages_kit import (DEMO_PASSWORD, FHD, PAGES, QUIET_MS, App, AppLog, Load, Signals,  # noqa: E402
                             browser_pids, budget_text, call_name, fmt_s, kill_leftovers, med, print_details)



INIT_SCRIPT = r"""
(() => {
  if (window.__bench) { return; }
  const S = window.__bench = {pending: 0, sent: 0, done: 0, last: 0, calls: [], longtasks: [], lt: 0};
  const touch = (t) => { if (t > S.last) { S.last = t; } };
  const isDash = (u) => String(u || '').indexOf('/_dash-update-component') >= 0;
  const begin = (body) => {
    const c = {out: '', n: 0, trig: '', t0: performance.now(), t1: null, status: 0, bytes: 0,
               body: typeof body === 'string' ? body : ''};
    try {
      const b = JSON.parse(typeof body === 'string' ? body : '');
      const outs = String(b.output || '').replace(/^\.\./, '').replace(/\.\.$/, '').split('...');
      c.out = outs[0]; c.n = outs.length;
      c.trig = (b.changedPropIds || []).join(',');
    } catch (e) { c.out = '?'; }
    S.pending += 1; S.sent += 1; S.calls.push(c); touch(c.t0);
    return c;
  };
  const end = (c, status, bytes) => {
    if (c.t1 !== null) { return; }
    c.t1 = performance.now(); c.status = status; c.bytes = bytes || 0;
    S.pending -= 1; S.done += 1; touch(c.t1);
  };
  const origFetch = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === 'string' ? input : (input && input.url) || String(input);
    if (!isDash(url)) { return origFetch.apply(this, arguments); }
    const c = begin(init && init.body);
    return origFetch.apply(this, arguments).then((r) => {
      r.clone().arrayBuffer().then((b) => end(c, r.status, b.byteLength), () => end(c, r.status, 0));
      return r;
    }, (e) => { end(c, -1, 0); throw e; });
  };
  const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) { this.__benchUrl = url; return open.apply(this, arguments); };
  XMLHttpRequest.prototype.send = function (body) {
    if (isDash(this.__benchUrl)) {
      const c = begin(body);
      this.addEventListener('loadend', () => end(c, this.status, 0));
    }
    return send.apply(this, arguments);
  };
  const take = (list) => list.forEach((e) => {
    S.longtasks.push([e.startTime, e.duration]); S.lt += e.duration; touch(e.startTime + e.duration);
  });
  try {
    S.obs = new PerformanceObserver((l) => take(l.getEntries()));
    S.obs.observe({type: 'longtask', buffered: true});
  } catch (e) { S.noLongtask = true; }
  S.at = null;  // the settle time, kept once found (callbacks fired later by intervals do not move it)
  S.settled = (quiet) => {
    if (S.at !== null) { return S.at; }
    if (S.obs) { take(S.obs.takeRecords()); }
    if (document.readyState !== 'complete' || S.done < 1 || S.pending > 0) { return false; }
    if (performance.now() - S.last < quiet) { return false; }
    S.at = S.last;
    return S.at;
  };
})();
"""


# ---------------------------------------------------------------------------- the app
def auth_required(url: str) -> bool:
    import requests

    r = requests.get(url + "/", allow_redirects=False, timeout=30)
    return r.status_code in (301, 302, 303, 307, 308) and "/login" in r.headers.get("Location", "")


def sign_in(context: Any, url: str, user: str, password: str) -> None:
    """Sign in through the login form's HTTP exchange (CSRF token, POST) with the context's
    own cookie jar, loading no page: the context's browser cache stays empty."""
    page = context.request.get(url + "/login", timeout=30_000)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text())
    if not m:
        raise RuntimeError("no CSRF token on the login page")
    r = context.request.post(url + "/login", form={"username": user, "password": password, "csrf_token": m.group(1),
                                                   "next": "/"}, max_redirects=0, timeout=30_000)
    if r.status not in (302, 303):
        raise RuntimeError(f"login as {user} failed: HTTP {r.status}")


def load(page: Any, url: str, timeout_s: float, sig: Signals) -> Load:
    """Open ``url`` in ``page`` and wait until it has settled."""
    from playwright.sync_api import TimeoutError as PwTimeout

    page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
    note, settled = "", False
    deadline = time.monotonic() + timeout_s
    while not settled and time.monotonic() < deadline:
        sig.check()
        if page.url.split("?")[0].rstrip("/").endswith("/login"):
            break
        try:
            page.wait_for_function(f"() => window.__bench && window.__bench.settled({QUIET_MS}) !== false",
                                   timeout=max(100.0, min(500.0, 1000 * (deadline - time.monotonic()))),
                                   polling=100)
            settled = True
        except PwTimeout:
            pass
    sig.check()
    if not settled:
        note = f"did not settle within {timeout_s:.0f} s"
    if page.url.split("?")[0].rstrip("/").endswith("/login"):
        return Load(None, note="redirected to the login page")
    st = page.evaluate("""() => { const S = window.__bench;
        return {settle: S.at, origin: performance.timeOrigin, calls: S.calls, lt: S.longtasks,
                pending: S.pending, noLongtask: !!S.noLongtask}; }""")
    end = st["settle"] if settled else float("inf")
    calls = [c for c in st["calls"] if c["t0"] <= end]
    lts = [lt for lt in st["lt"] if lt[0] <= end]
    errors = sum(1 for c in calls if c["status"] not in (200, 204))
    if st["noLongtask"]:
        note = (note + "; " if note else "") + "no longtask observer"
    if not settled and st["pending"]:
        note += f" ({st['pending']} callbacks still in flight)"
    return Load(st["settle"] / 1000 if settled else None, st["origin"] / 1000, calls,
                sum(d for _, d in lts), len(lts), errors, note)


def replay(context: Any, url: str, ld: Load) -> None:
    """Post each callback of ``ld`` once more, alone, from the same session, outside the
    browser: its server time with nothing else running beside it (the app's caches as the
    load left them) — the rest of its time in the page was waiting for the other
    callbacks, the main thread or the network."""
    seen = set()
    for c in ld.calls:
        name = call_name(c)
        if name in seen or not c.get("body"):
            continue
        seen.add(name)
        t = time.perf_counter()
        r = context.request.post(url + "/_dash-update-component", data=c["body"],
                                 headers={"Content-Type": "application/json"}, timeout=120_000)
        r.body()
        if r.status in (200, 204):
            ld.server_ms[name] = 1000 * (time.perf_counter() - t)


# ---------------------------------------------------------------------------- the app log
def pick_targets(url: str, cookies: dict[str, str], args: argparse.Namespace) -> dict[str, str]:
    """The city, town and entity the page URLs name (an enterprise of the town unless
    --entity), and the number of entities in the root region (for the header)."""
    import requests

    s = requests.Session()
    s.cookies.update(cookies)
    t = {"root": args.root, "city": args.city, "town": args.town, "entity": args.entity or ""}
    r = s.get(f"{url}/api/v1/entities", params={"region": args.root, "page_size": 1}, timeout=60)
    t["entities"] = f"{r.json().get('total', 0):,}" if r.ok else "?"
    if not t["entity"]:
        r = s.get(f"{url}/api/v1/entities", params={"region": args.town, "entity_type": "enterprise",
                                                    "status": "active", "page_size": 1}, timeout=60)
        r.raise_for_status()
        t["entity"] = r.json()["items"][0]["credit_code"]
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="measure an app already running there (else start one as make run does)")
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "out" / "pages-data",
                    help="data directory of the app this script starts (JINJIAN_DATA_DIR; made as by make run)")
    ap.add_argument("--runs", type=int, default=1, help="loads of each page, cold and warm; medians are printed")
    ap.add_argument("--pages", default=",".join(p.key for p in PAGES),
                    help="subset, comma-separated: " + ",".join(p.key for p in PAGES))
    ap.add_argument("--root", default=os.environ.get("JINJIAN_ROOT_REGION", "44") or "44")
    ap.add_argument("--city", default="4419", help="region page of a city (default 东莞市)")
    ap.add_argument("--town", default="441900003", help="region page of a town (default 东城街道)")
    ap.add_argument("--entity", default="", help="credit code of the entity page (default: an enterprise of --town)")
    ap.add_argument("--user", default="admin", help="account to sign in with when the app asks for a login")
    ap.add_argument("--password", default=DEMO_PASSWORD)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a load may take to settle")
    ap.add_argument("--top", type=int, default=5, help="callbacks and query names listed per page")
    args = ap.parse_args()
    keys = [k.strip() for k in args.pages.split(",") if k.strip()]
    unknown = [k for k in keys if k not in {p.key for p in PAGES}]
    if unknown:
        print(f"unknown page(s): {', '.join(unknown)}; choose from {', '.join(p.key for p in PAGES)}",
              file=sys.stderr)
        return 2
    pages = [p for p in PAGES if p.key in keys]
    if args.runs < 1:
        print("--runs must be at least 1", file=sys.stderr)
        return 2

    from playwright.sync_api import sync_playwright

    from reports.pdf import FLAGS

    chromium = os.environ.get("JINJIAN_CHROMIUM", "").strip() or "/usr/bin/chromium"
    app: App | None = None
    browser = None
    pw = None
    launched: list[int] = []
    stack = contextlib.ExitStack()
    first_after_start: Load | None = None
    results: dict[str, dict[str, list[Any]]] = {}
    load_before = os.getloadavg()[0]
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            args.data_dir.mkdir(parents=True, exist_ok=True)
            app = App(args.data_dir.resolve(), args.data_dir.resolve() / "bench-pages-app.log")
            print(f"preparing {args.data_dir} as make run does:", flush=True)
            app.prepare()
            ready = app.start()
            url = app.url
            print(f"app started in {ready:.1f} s on {url} (JINJIAN_SIMULATOR={app.env['JINJIAN_SIMULATOR']}; "
                  f"log {app.log_path})", flush=True)
        auth = auth_required(url)
        sig = stack.enter_context(Signals())
        pw = sync_playwright().start()
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        launched = browser_pids()

        def new_context(viewport: tuple[int, int]) -> Any:
            ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=1,
                                      locale="zh-CN")
            ctx.add_init_script(INIT_SCRIPT)
            if auth:
                sign_in(ctx, url, args.user, args.password)
            return ctx

        probe = new_context(FHD)
        cookies = {c["name"]: c["value"] for c in probe.cookies()}
        if app is not None and "wall" in keys:  # the first load after the start: the wall, cold
            page = probe.new_page()
            first_after_start = load(page, url + "/", args.timeout, sig)
        probe.close()
        if app is not None:
            print("start-up work: " + app.wait_startup_work(sig), flush=True)
        targets = pick_targets(url, cookies, args)
        print(f"machine: {machine()}; load avg {load_before:.2f} at the start")
        print(f"app {url}: {targets['entities']} entities in {args.root}; "
              + (f"signed in as {args.user}" if auth else "login off (JINJIAN_AUTH=0): every visitor is an "
                                                             "administrator of the jurisdiction")
              + f"; chromium {browser.version}; {args.runs} run(s); settle = no callback in flight and no long "
                f"task for {QUIET_MS / 1000:g} s", flush=True)
        for run in range(args.runs):
            for p in pages:
                sig.check()
                path = p.path.format(**targets)
                ctx = new_context(p.viewport)
                try:
                    page = ctx.new_page()
                    cold = load(page, url + path, args.timeout, sig)
                    warm = load(page, url + path, args.timeout, sig)
                    page.close()
                    replay(ctx, url, warm)
                finally:
                    ctx.close()
                r = results.setdefault(p.key, {"cold": [], "warm": [], "url": [path]})
                r["cold"].append(cold)
                r["warm"].append(warm)
                print(f"  run {run + 1} {p.key:10s} cold {fmt_s(cold.settle, p.cold_budget, args.timeout):>10s}  "
                      f"warm {fmt_s(warm.settle, p.warm_budget, args.timeout):>10s}  callbacks "
                      f"{cold.n_calls}/{warm.n_calls}  load avg {os.getloadavg()[0]:.1f}"
                      + (f"  ({cold.note or warm.note})" if cold.note or warm.note else ""), flush=True)
    finally:
        for close in ((lambda: browser.close()) if browser is not None else None,
                      (lambda: pw.stop()) if pw is not None else None,
                      lambda: kill_leftovers(launched),
                      (lambda: app.stop()) if app is not None else None,
                      stack.close):
            if close is not None:
                try:
                    close()
                except Exception as exc:  # noqa: BLE001 - the next close must still run
                    print(f"(closing: {type(exc).__name__}: {exc})", file=sys.stderr)

    rows = []
    for p in pages:
        r = results.get(p.key)
        if not r:
            continue
        cold = med([ld.settle for ld in r["cold"]])
        warm = med([ld.settle for ld in r["warm"]])
        ncold = med([ld.n_calls for ld in r["cold"]])
        nwarm = med([ld.n_calls for ld in r["warm"]])
        rows.append([f"{p.label} `{r['url'][0]}`", f"{p.viewport[0]}×{p.viewport[1]}",
                     fmt_s(cold, p.cold_budget, args.timeout), fmt_s(warm, p.warm_budget, args.timeout),
                     f"{ncold:g} / {nwarm:g}" if ncold is not None and nwarm is not None else "?", budget_text(p)])
    print(f"\nPage settle times (s; median of {args.runs}; {dt.datetime.now():%Y-%m-%d %H:%M}; load avg "
          f"{load_before:.2f} → {os.getloadavg()[0]:.2f}):\n")
    print(md_table(["page", "viewport", "cold s", "warm s", "callbacks cold / warm", "budget"], rows))
    if first_after_start is not None:
        x = first_after_start.settle
        print(f"\nfirst load after start (wall, 1920×1080, new browser): "
              f"{fmt_s(x, 6.0, args.timeout)} s, {first_after_start.n_calls} callbacks (budget 2× cold: 6 s)")
    over = []
    for p in pages:
        for kind, budget in (("cold", p.cold_budget), ("warm", p.warm_budget)):
            if p.key in results and budget is not None:
                v = med([ld.settle for ld in results[p.key][kind]])
                if v is None or v > budget:
                    over.append(f"{p.key} {p.viewport[0]}×{p.viewport[1]} {kind}")
    print("over budget: " + (", ".join(over) if over else "none"))
    print_details(results, pages, AppLog(app.log_path) if app is not None else None, args.top)
    return 0


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # ends in order on every path, SIGTERM included (store/lifecycle.py)

