"""Jinjian web app: ``python app.py`` serves on JINJIAN_HOST:JINJIAN_PORT."""
from __future__ import annotations

import logging
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
    from api.plotly_bundle import install as install_plotly

    install_plotly(app.server)  # plotly.js's basic bundle for the charts (scripts/fetch_plotly_basic.sh)
    return app


def wsgi() -> object:
    """The app as a WSGI callable behind the access log, for gunicorn in server mode
    (``gunicorn … 'app:wsgi()'``, docs/deploy.md)."""
    from api.serving import AccessLog

    settings = check_all_settings()  # a malformed setting stops gunicorn's boot with one line naming it
    configure_logging(settings.log_level)  # the access log and the app's own lines, to gunicorn's stderr
    return AccessLog(create_app().server)


def check_all_settings() -> Settings:
    """Every setting the serving process reads, checked before it serves (ConfigError
    names the first malformed one)."""
    from api.limits import body_cap_kb
    from auth.headers import frame_ancestors

    settings = Settings.from_env()
    check_settings()
    frame_ancestors()  # JINJIAN_FRAME_ANCESTORS
    body_cap_kb()  # JINJIAN_MAX_BODY_KB
    check_app_settings()
    return settings


def check_app_settings() -> None:
    """Read every settings group the serving process uses, so a malformed value stops the
    start with one line naming it instead of failing a request later."""
    from auth.config import AuthSettings
    from etl.ingest.config import IngestSettings
    from reports.config import ReportSettings
    from store.cache import CacheSettings
    from etl.work_photos import photo_limit_kb
    from settings import setting_number
    from store.lifecycle import shutdown_seconds

    for read in (AuthSettings.from_env, IngestSettings.from_env, ReportSettings.from_env, CacheSettings.from_env,
                 shutdown_seconds, photo_limit_kb, lambda: setting_number("JINJIAN_THREADS", 1, 256)):
        read()


def _check_port(host: str, port: int) -> None:
    """Raise OSError when ``host:port`` cannot be listened on (taken, not this machine's)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))


def main() -> int:
    try:
        settings = check_all_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        _check_port(settings.host, settings.port)
    except OSError as exc:
        print(f"error: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    app = create_app()
    from store.lifecycle import Terminated

    from api.serving import serve
    from settings import setting_number

    from store.lifecycle import last_signal

    try:  # waitress; Flask's development server only with JINJIAN_DEBUG=1
        serve(app, settings.host, settings.port, settings.debug, int(setting_number("JINJIAN_THREADS", 1, 256)))
    except Terminated:  # SIGTERM/SIGINT/SIGHUP: the normal way a server is stopped
        pass
    if last_signal() is not None:  # (waitress takes the signal's exception and returns)
        logging.getLogger(__name__).info("stopping on signal %s: background work first, then the database",
                                         last_signal())
    return 0


if __name__ == "__main__":
    from store.db import run_command

    run_command(main)  # every way out — a signal, an error at start-up — closes in order
