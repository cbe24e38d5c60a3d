"""Jinjian web app: ``python app.py`` serves on JINJIAN_HOST:JINJIAN_PORT."""
from __future__ import annotations

import sys
from pathlib import Path

import dash
from dash import html

from settings import ConfigError, Settings, configure_logging
from supervision import check_settings

ROOT = Path(__file__).resolve().parent


def create_app() -> dash.Dash:
    """The Dash app with every page under ``pages/`` (assets served locally)."""
    from auth.callback_errors import on_callback_error

    app = dash.Dash(
        __name__, use_pages=True, pages_folder=str(ROOT / "pages"), assets_folder=str(ROOT / "assets"),
        serve_locally=True, title="金监 · 智慧监管指挥平台", update_title=None,
        on_error=on_callback_error,  # no input reaches a 500 (auth/callback_errors.py)
    )
    app.layout = html.Div(dash.page_container, id="app-root", lang="zh-CN")
    from api import register_api
    from store.cache import install as install_cache

    install_cache(app.server)  # shared cache of screen queries (JINJIAN_CACHE_SECONDS, JINJIAN_CACHE_URL)
    from reports.web import install as install_reports

    register_api(app.server)
    install_reports(app.server)  # report downloads, the print view, the report scheduler
    from etl.ingest.service import install as install_ingest

    install_ingest(app.server)  # inbox watcher and live simulator (JINJIAN_INBOX, JINJIAN_SIMULATOR)
    from etl.ingest.web import install as install_ingest_web

    install_ingest_web(app.server)  # rejection report downloads (/quality)
    from queries.risk_snapshots import install as install_risk_snapshots

    install_risk_snapshots(app.server)  # today's risk scores computed ahead (JINJIAN_RISK_SNAPSHOT_SECONDS)
    from queries.geo import install as install_maps

    install_maps(app.server)  # the jurisdiction's region maps prepared in the background
    from auth import install as install_auth

    # Last, so the start-up hooks above (scheduler, inbox) run even before anyone signs in.
    install_auth(app.server)  # login, sessions, display tokens, the scope gate and the audit log
    from auth.headers import install as install_headers

    install_headers(app)  # Content-Security-Policy, no framing, no referrer, nosniff
    from api.limits import install as install_limits

    install_limits(app.server)  # body size caps before any body is read (chunked or not)
    return app


def main() -> int:
    try:
        settings = Settings.from_env()
        check_settings()
        from auth.headers import frame_ancestors

        frame_ancestors()  # JINJIAN_FRAME_ANCESTORS
        from api.limits import body_cap_kb

        body_cap_kb()  # JINJIAN_MAX_BODY_KB
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    app = create_app()
    app.run(host=settings.host, port=settings.port, debug=settings.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
