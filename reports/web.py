"""Flask routes of the reports — the print view the PDF renderer loads
(``/report/print?region=&period=&date=``) and archive downloads — and the
scheduler's start-up hook."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Response, abort, request, send_file

from auth.headers import allow_inline_script
from reports.config import ReportSettings

logger = logging.getLogger(__name__)

FILE_ROUTE = "/reports/file/<int:run_id>.<ext>"
PRINT_ROUTE = "/report/print"
CSS_PATH = Path(__file__).resolve().parents[1] / "assets" / "report.css"
#: Sets #report-ready[data-ready="1"] once every chart's SVG and every table is in
#: the document and the fonts are loaded (the PDF renderer waits for it).
READY_SCRIPT = """
(function () {
  var body = document.getElementById("report-body"), marker = document.getElementById("report-ready");
  function check() {
    var want = parseInt(body.getAttribute("data-charts") || "0", 10);
    var wantT = parseInt(body.getAttribute("data-tables") || "0", 10);
    var charts = body.querySelectorAll(".report-chart svg").length;
    var tables = body.querySelectorAll("table.report-table").length;
    if (charts !== want || tables !== wantT) { marker.setAttribute("data-ready", "error"); return; }
    document.fonts.ready.then(function () {
      requestAnimationFrame(function () { requestAnimationFrame(function () {
        marker.setAttribute("data-ready", "1"); }); });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", check); } else { check(); }
})();
"""
allow_inline_script(READY_SCRIPT)  # the print view's one inline script (Content-Security-Policy)
MAX_RUN_ID = 2**63 - 1
MIMETYPES = {"pdf": "application/pdf",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def file_href(run_id: int, ext: str) -> str:
    return f"/reports/file/{int(run_id)}.{ext}"


def archived_file(run_id: int, ext: str) -> Path:
    """The file of a run, only if it lies inside the archive directory (no path
    from the request is ever used: the run id selects a recorded path)."""
    from reports.store import ReportStore

    if ext not in MIMETYPES:
        abort(_missing())
    settings = ReportSettings.from_env()
    run = ReportStore(settings.metadata_url).get_run(run_id)
    raw = run and run.get(f"{ext}_path")
    if not raw:
        abort(_missing())
    root = settings.report_dir.resolve()
    path = Path(raw).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        logger.warning("run %d file %s is not in the archive %s", run_id, path, root)
        abort(_missing())
    return path


def _missing() -> Response:
    """404 with the app's Chinese message page."""
    from auth.web import error_page

    return Response(error_page(404, "未找到该报告文件"), status=404, mimetype="text/html")


def print_page(args: Any) -> tuple[str, int]:
    """The report as one static HTML document (same components and CSS as the Dash
    page at /report, no JavaScript framework): what the PDF renderer prints."""
    from html import escape

    from components.report_views import N_CHARTS, N_TABLES, create_report, to_html
    from store.db import get_db
    from domain.errors import JinjianError
    from auth.current import current_scope
    from queries.report_data import cached_report
    from settings import ConfigError

    css = CSS_PATH.read_text(encoding="utf-8")
    try:
        scope = current_scope()
        region = (args.get("region") or scope.prefix).strip()
        data = cached_report(get_db(), region, args.get("period") or "weekly", args.get("date"), scope)
    except (JinjianError, ConfigError) as exc:
        message = getattr(exc, "user_message", str(exc))
        logger.info("report print %s: %s", {k: v for k, v in dict(args).items() if k != "ticket"},
                    getattr(exc, "detail", exc))
        body = (f'<article id="report-body" class="report-doc" data-state="error"><div class="report-error" '
                f'role="alert"><h2>无法生成报告</h2><p id="report-error">{escape(message)}</p></div></article>'
                '<div id="report-ready" class="report-ready" data-ready="error"></div>')
        return _document("无法生成报告", css, body, ""), getattr(exc, "http_status", 400)
    tree, svgs = create_report(data)
    body = (f'<article id="report-body" class="report-doc" data-state="ok" data-charts="{N_CHARTS}" '
            f'data-tables="{N_TABLES}">{to_html(tree, svgs)}</article>'
            '<div id="report-ready" class="report-ready" data-ready="0"></div>')
    return _document(data.title, css, body, READY_SCRIPT), 200


def _document(title: str, css: str, body: str, script: str) -> str:
    from html import escape

    return ('<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{css}</style></head>"
            f'<body class="report-print"><div class="page report-page">{body}</div>'
            + (f"<script>{script}</script>" if script else "") + "</body></html>")


def _print_view() -> Any:
    html_text, status = print_page(request.args)
    return Response(html_text, status=status, mimetype="text/html")


def _download(run_id: int, ext: str) -> Any:
    """An archived report file, for a user with the export permission whose scope holds
    the report's region (else 403, audited)."""
    from auth import audit
    from auth.current import current_scope, require
    from reports.store import ReportStore

    require("export")
    if not 0 < run_id <= MAX_RUN_ID:  # the route takes any digits; the database holds 64-bit ids
        abort(_missing())
    run = ReportStore(ReportSettings.from_env().metadata_url).get_run(run_id)
    if run is None:
        abort(_missing())
    current_scope().check(str(run["region"]))  # ScopeViolation → 403 + audit entry
    path = archived_file(run_id, ext)
    audit.record("report_download", target=f"{path.name} (run {run_id})", region=str(run["region"]))
    return send_file(path, mimetype=MIMETYPES[ext], as_attachment=True, download_name=path.name)


def install(server: Any) -> None:
    """Register the download route and start the scheduler on the first request
    (the debug reloader's watcher process never serves one, so it never starts a
    second scheduler)."""
    if "reports_file" in server.view_functions:
        return
    server.add_url_rule(FILE_ROUTE, "reports_file", _download)
    server.add_url_rule(PRINT_ROUTE, "report_print", _print_view)

    started: list[bool] = []

    @server.before_request
    def _start_scheduler() -> None:
        if not started:
            started.append(True)
            from reports.scheduler import start_scheduler

            start_scheduler(server)
