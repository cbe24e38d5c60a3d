"""Security headers on every response (docs/security.md, "Headers").

- ``Content-Security-Policy``: everything from the app's own origin only — the product is
  offline by design, so no CDN, font or tile server is ever needed (an intranet tile
  server set in ``JINJIAN_TILE_URL`` is added to ``img-src``). Inline scripts run only
  when their hash is listed: Dash's renderer bootstrap and clientside callbacks
  (``dash.Dash.csp_hashes``) and the report print view's ready-signal
  (:func:`allow_inline_script`). ``'unsafe-eval'`` stays because dash-ag-grid compiles the
  tables' value-formatter strings with ``new Function``; inline *styles* are allowed
  because React, Plotly and Leaflet set style attributes.
- ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``: no page can be framed (click-
  jacking of the admin page), unless ``JINJIAN_FRAME_ANCESTORS`` names the origins of a
  wall portal allowed to embed it.
- ``Referrer-Policy: no-referrer`` (display tokens and report tickets in URLs never leak
  to another site) and ``X-Content-Type-Options: nosniff``.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import os
from typing import Any
from urllib.parse import urlparse

import flask

from settings import ConfigError

logger = logging.getLogger(__name__)

_EXTRA_SCRIPTS: set[str] = set()


def allow_inline_script(script: str) -> None:
    """Let an inline ``<script>`` with exactly this text run (its SHA-256 joins script-src)."""
    _EXTRA_SCRIPTS.add(f"'sha256-{base64.b64encode(hashlib.sha256(script.encode('utf-8')).digest()).decode()}'")


def frame_ancestors(env: dict[str, str] | None = None) -> list[str]:
    """JINJIAN_FRAME_ANCESTORS: space-separated http(s) origins allowed to frame the app
    (a wall portal); empty = none."""
    raw = (os.environ if env is None else env).get("JINJIAN_FRAME_ANCESTORS", "").split()
    for origin in raw:
        u = urlparse(origin)
        if u.scheme not in ("http", "https") or not u.netloc or u.path not in ("", "/") or u.query:
            raise ConfigError(f"JINJIAN_FRAME_ANCESTORS: {origin!r} is not an origin such as https://portal.example")
    return [o.rstrip("/") for o in raw]


def policy(script_hashes: list[str], tile_url: str = "", ancestors: list[str] | None = None) -> str:
    """The Content-Security-Policy value."""
    tiles = ""
    if tile_url:
        u = urlparse(tile_url.replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
        tiles = f" {u.scheme}://{u.netloc}"
    parts = {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", "'unsafe-eval'", *sorted(set(script_hashes) | _EXTRA_SCRIPTS)]),
        "style-src": "'self' 'unsafe-inline'",
        "img-src": f"'self' data: blob:{tiles}",
        "font-src": "'self' data:",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": " ".join(ancestors) if ancestors else "'none'",
    }
    return "; ".join(f"{k} {v}" for k, v in parts.items())


def install(app: Any) -> None:
    """Add the headers to every response of ``app`` (a Dash app); the policy is built at
    the first response, once every page's clientside callbacks are known."""
    from settings import Settings

    settings = Settings.from_env()
    ancestors = frame_ancestors()
    state: dict[str, str] = {}

    def add(resp: flask.Response) -> flask.Response:
        if "csp" not in state:
            state["csp"] = policy(list(app.csp_hashes()), settings.tile_url, ancestors)
        resp.headers["Content-Security-Policy"] = state["csp"]
        if not ancestors:
            resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    app.server.after_request(add)
