"""Serving the app in production (docs/deploy.md):

- :func:`serve`: waitress (a production WSGI server: one process, many threads — the
  process that owns embedded chDB's data) unless ``JINJIAN_DEBUG=1``, which keeps Flask's
  development server with its reloader and debugger; in server mode several processes
  (gunicorn, ``gunicorn.conf.py``) serve the same app;
- :class:`AccessLog`: one line per request on the ``jinjian.access`` logger (client,
  method, path — tickets and tokens redacted —, status, bytes, milliseconds);
- ``GET /healthz`` (public, for load balancers): 200 while the database answers, 503
  otherwise, with the age of the newest data, of the newest risk snapshot and the
  ingestion backlog (batches not finished, files waiting in the inbox); on a cluster, each
  server up or down and its replicas' lag — ``degraded`` (200) with a replica down, 503
  with a whole shard down.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Callable, Iterable

import flask

access_logger = logging.getLogger("jinjian.access")
logger = logging.getLogger(__name__)


class AccessLog:
    """WSGI middleware: an access-log line per request once its body has been sent."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        from auth.render import redact

        t0 = time.perf_counter()
        seen: dict[str, Any] = {"status": "-", "bytes": 0}

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        body = self.app(environ, start)
        try:
            for chunk in body:
                seen["bytes"] += len(chunk)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()
            query = environ.get("QUERY_STRING", "")
            path = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
            access_logger.info('%s "%s %s" %s %d %.0f ms', environ.get("REMOTE_ADDR", "-"),
                               environ.get("REQUEST_METHOD", "-"), redact(path)[:300], seen["status"],
                               seen["bytes"], (time.perf_counter() - t0) * 1000)


def _one(db: Any, name: str, sql: str) -> Any:
    from store.executor import run

    df = run(db, name, sql)
    return None if df.empty else df.iloc[0, 0]


def health() -> tuple[dict, int]:
    """The body and status of ``/healthz``."""
    from etl.ingest.config import IngestSettings
    from settings import ConfigError, Settings
    from store.db import get_db

    now = dt.datetime.now().replace(microsecond=0)
    body: dict[str, Any] = {"status": "ok", "time": now.isoformat(), "database": "up"}
    try:
        db = get_db()
        body["engine"] = db.name
        _one(db, "healthz_ping", "SELECT 1")
    except Exception as exc:  # noqa: BLE001 - a health check answers whatever happens
        logger.warning("healthz: database down: %s", getattr(exc, "detail", exc))
        body.update(status="down", database="down", engine="server" if Settings.from_env().clickhouse_url else "chdb")
        return body, 503

    def age(sql: str, name: str) -> int | None:
        try:
            t = _one(db, name, sql)
        except Exception as exc:  # noqa: BLE001 - a missing table is "no data yet"
            logger.warning("healthz: %s: %s", name, getattr(exc, "detail", exc))
            return None
        if t is None or str(t).startswith("1970") or t != t:
            return None
        return max(int((now - _naive(t)).total_seconds()), 0)

    if getattr(db, "cluster", None):  # each server of the cluster; a shard with none up is an outage
        from store.cluster import health as cluster_health

        body["cluster"] = cluster_health(db)
        if body["cluster"]["shards_down"]:
            body.update(status="down", database="shard_down")
            return body, 503
        if body["cluster"]["servers_down"]:
            body["status"] = "degraded"  # still serving: every shard has a replica up
    body["data_age_seconds"] = age("SELECT max(event_time) FROM events", "healthz_data")
    body["snapshot_age_seconds"] = age("SELECT max(finished) FROM risk_snapshots WHERE state = 'done'",
                                       "healthz_snapshot")
    try:
        unfinished = int(_one(db, "healthz_backlog", """
            SELECT count() FROM (SELECT batch_id, argMax(toString(state), version) AS state
                                 FROM ingest_batches GROUP BY batch_id) WHERE state IN ('received', 'staged')""") or 0)
    except Exception as exc:  # noqa: BLE001
        logger.warning("healthz: backlog: %s", getattr(exc, "detail", exc))
        unfinished = None
    try:
        inbox = IngestSettings.from_env().ingest_dir / "inbox"
    except ConfigError as exc:  # checked at start; an app made without the check says so here
        logger.error("healthz: %s", exc)
        body.update(status="config_error", backlog={"batches_unfinished": unfinished, "inbox_files": None})
        return body, 503
    waiting = sum(1 for p in inbox.rglob("*") if p.is_file() and not p.name.startswith(".")) if inbox.is_dir() else 0
    body["backlog"] = {"batches_unfinished": unfinished, "inbox_files": waiting}
    return body, 200


def _naive(value: Any) -> dt.datetime:
    import pandas as pd

    return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)


def install(server: flask.Flask) -> None:
    """``/healthz`` on ``server`` (idempotent)."""
    if "healthz" in server.view_functions:
        return

    def healthz() -> flask.Response:
        body, status = health()
        resp = flask.jsonify(body)
        resp.status_code = status
        resp.headers["Cache-Control"] = "no-store"
        return resp

    server.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])


def serve(app: Any, host: str, port: int, debug: bool, threads: int) -> None:
    """Serve ``app`` (a Dash app) until the process is told to stop."""
    if debug:  # JINJIAN_DEBUG=1: Flask's development server, reloader and debugger
        app.run(host=host, port=port, debug=True)
        return
    from waitress import serve as waitress_serve

    logger.info("serving on http://%s:%d with waitress (%d threads)", host, port, threads)
    waitress_serve(AccessLog(app.server), host=host, port=port, threads=threads, ident="Jinjian",
                   channel_timeout=120, connection_limit=1000, clear_untrusted_proxy_headers=True,
                   _quiet=True)
