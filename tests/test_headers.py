"""Security headers (auth/headers.py; issue 28 item 6): a Content-Security-Policy that
allows only the app's own origin on every response — pages, API, assets, the report print
view, errors — no framing unless a portal is configured, no referrer, nosniff. The
browser tests then run every page under this policy; here a browser also records any
policy violation while the wall, a drill-down page and the report print view draw."""
from __future__ import annotations

import re

import pytest

from auth.headers import frame_ancestors, policy
from settings import ConfigError
from tests.conftest import DEMO_END

ROUTES = ("/", "/region/4419", "/tasks", "/api/v1/health", "/api/v1/regions/4419", "/assets/wall.css",
          f"/report/print?region=4419&period=weekly&date={DEMO_END}", "/no-such-page", "/api/v1/nothing")


def _directives(csp: str) -> dict[str, list[str]]:
    return {p.split()[0]: p.split()[1:] for p in csp.split("; ")}


@pytest.mark.parametrize("route", ROUTES)
def test_every_response_has_the_headers(served_db, route):
    resp = served_db.test_client().get(route)
    d = _directives(resp.headers["Content-Security-Policy"])
    assert d["default-src"] == ["'self'"] and d["connect-src"] == ["'self'"] and d["object-src"] == ["'none'"]
    assert d["frame-ancestors"] == ["'none'"] and resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer" and resp.headers["X-Content-Type-Options"] == "nosniff"
    scripts = d["script-src"]
    assert scripts[0] == "'self'" and "'unsafe-inline'" not in scripts  # inline scripts only by their hash
    assert all(re.fullmatch(r"'sha256-[A-Za-z0-9+/]+=*'", s) for s in scripts[2:]) and len(scripts) > 3
    assert not any(s.startswith("http") for v in d.values() for s in v)  # nothing from another origin


def test_policy_admits_an_intranet_tile_server_and_a_portal():
    d = _directives(policy([], "http://10.0.0.8:8080/tiles/{z}/{x}/{y}.png", ["https://portal.gov.example"]))
    assert d["img-src"] == ["'self'", "data:", "blob:", "http://10.0.0.8:8080"]
    assert d["frame-ancestors"] == ["https://portal.gov.example"]
    assert frame_ancestors({"JINJIAN_FRAME_ANCESTORS": "https://a.example http://b.example:8080/"}) == [
        "https://a.example", "http://b.example:8080"]
    for bad in ("portal.example", "javascript:alert(1)", "https://a.example/path", "*"):
        with pytest.raises(ConfigError, match="JINJIAN_FRAME_ANCESTORS"):
            frame_ancestors({"JINJIAN_FRAME_ANCESTORS": bad})


@pytest.mark.browser
def test_pages_draw_without_a_policy_violation(dash_duo, dongguan):
    from app import create_app

    dash_duo.start_server(create_app())
    driver = dash_duo.driver
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
        "window.__csp = []; document.addEventListener('securitypolicyviolation', "
        "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")})
    from tests.pagekit import wait

    drawn = {"/": "return document.querySelectorAll('path.leaflet-interactive').length > 0 && "
                  "document.getElementById('wall-kpi-stock-value').textContent !== '—';",
             "/region/4419": "return document.querySelectorAll('.ag-row').length > 0;",
             f"/report/print?region=4419&period=weekly&date={DEMO_END}":  # its hashed inline script ran
                 "return document.getElementById('report-ready').getAttribute('data-ready') === '1';"}
    for path, script in drawn.items():
        driver.get(f"{dash_duo.server_url}{path}")  # the print view is not a Dash page: no wait_for_page
        wait(lambda: driver.execute_script(script), timeout=60, what=path)
        assert driver.execute_script("return window.__csp;") == [], path
