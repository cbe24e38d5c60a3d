"""Making report files: check the request, print the report route to PDF, write
the Excel workbook, and file runs in the archive.

Every entry point (the CLI, the scheduler, the page buttons, the archive page)
goes through here. Arguments are checked *before* anything is written: a bad
region, kind or date raises :class:`queries.report_periods.ReportError` and leaves no
file. Files are written to a temporary name and renamed, so a failed export never
leaves half a PDF behind.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from components.report_views import file_stem, report_tables
from store.db import get_db
from store.engine import Engine
from auth.current import current_scope
from auth.render import ticket_for
from domain.errors import JinjianError, RegionNotFound, ScopeViolation
from store.filters import RegionScope, check_region_code
from queries.regions import region_node
from reports.config import ReportSettings
from queries.report_data import cached_report
from reports.excel import workbook_bytes
from reports.pdf import PdfOptions, PdfRenderer, shared_renderer
from queries.report_periods import ReportError, ReportPeriod, report_period

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checked:
    region: str
    region_name: str
    period: ReportPeriod


def check_request(db: Engine, region: str, kind: str, day: str | dt.date, scope: RegionScope,
                  today: dt.date | None = None) -> Checked:
    """Validate a report request without building it (cheap): kind, date, period
    not in the future, region well-formed, existing and inside ``scope``."""
    period = report_period(kind, day, today)
    region = (region or "").strip()
    try:
        check_region_code(region)
        node = region_node(db, region, scope)
    except RegionNotFound:
        raise ReportError(f"unknown region {region!r}", user_message=f"未找到区划代码 {region}") from None
    except ScopeViolation:
        raise ReportError(f"region {region!r} is outside the jurisdiction {scope.prefix!r} (JINJIAN_ROOT_REGION)",
                          user_message=f"区划代码 {region} 不在本平台辖区范围内") from None
    except JinjianError as exc:
        if exc.http_status == 400:
            raise ReportError(f"bad region code {region!r}: {exc.detail}", user_message=exc.user_message) from None
        raise
    return Checked(region, node.name, period)


def report_url(base: str, region: str, kind: str, day: str, route: str = "/report/print") -> str:
    """The print view (default) or the interactive Dash page (``route='/report'``)."""
    return f"{base.rstrip('/')}{route}?" + urlencode({"region": region, "period": kind, "date": day})


def pdf_options(checked: Checked, timeout: int) -> PdfOptions:
    return PdfOptions(header_left=f"金监 · {checked.region_name}市场监管{checked.period.title}",
                      header_right=checked.period.label, timeout_s=float(timeout))


def render_pdf(flask_app: Any, region: str, kind: str, day: str, renderer: PdfRenderer | None = None,
               base_url: str | None = None, checked: Checked | None = None, route: str = "/report/print") -> bytes:
    """The report printed to PDF bytes. ``base_url``: a running app to load it
    from; default: ``flask_app`` served on a loopback port inside this process.
    ``route``: the static print view (default, fastest) or ``/report`` (the Dash
    page itself: same components and CSS, plus the Dash front end)."""
    from reports.server import local_url

    settings = ReportSettings.from_env()
    if checked is None:
        checked = check_request(get_db(), region, kind, day, current_scope())
    base = base_url or local_url(flask_app)
    url = report_url(base, checked.region, checked.period.kind, checked.period.start.isoformat(), route)
    ticket = ticket_for(current_scope().prefix, checked.region, checked.period.kind, checked.period.start.isoformat())
    url += "&" + urlencode({"ticket": ticket})  # the renderer's one-time pass to this report (auth.render)
    return (renderer or shared_renderer()).render(url, pdf_options(checked, settings.timeout))


def shown_error(exc: BaseException) -> str:
    """What the archive shows of a failed run: the user's message (Chinese); the technical
    detail goes to the log only."""
    if isinstance(exc, JinjianError) and exc.user_message:
        return exc.user_message
    return "报告生成失败（原因已记录日志），请联系系统管理员"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def xlsx_bytes(db: Engine, checked: Checked, scope: RegionScope) -> bytes:
    data = cached_report(db, checked.region, checked.period.kind, checked.period.start, scope)
    return workbook_bytes(report_tables(data))


def generate(flask_app: Any, region: str, kind: str, day: str | dt.date, trigger: str,
             schedule_id: int | None = None, store: Any = None, renderer: PdfRenderer | None = None,
             today: dt.date | None = None) -> dict[str, Any] | None:
    """Make a report's PDF and Excel files in the archive and record the run.

    Returns the run row, or None when the schedule already filed this period.
    A bad request raises ReportError before any run is recorded; a failure while
    making the files is recorded as a failed run (with its error text) and logged."""
    from reports.store import ReportStore

    settings = ReportSettings.from_env()
    store = store or ReportStore(settings.metadata_url)
    scope = current_scope()
    db = get_db()
    checked = check_request(db, region, kind, day, scope, today)
    key = checked.period.key + ("-partial" if checked.period.partial else "")
    run_id = store.start_run(kind, checked.region, key, trigger, schedule_id)
    if run_id is None:
        logger.info("report %s %s %s already filed by schedule %s", kind, region, key, schedule_id)
        return None
    t0 = time.monotonic()
    folder = settings.report_dir / checked.region / kind
    stem = f"{file_stem(checked.region, kind, key)}-r{run_id}"
    try:
        pdf = render_pdf(flask_app, checked.region, kind, str(day), renderer=renderer, checked=checked)
        write_atomic(folder / f"{stem}.pdf", pdf)
        write_atomic(folder / f"{stem}.xlsx", xlsx_bytes(db, checked, scope))
    except Exception as exc:  # noqa: BLE001 - recorded and shown on /reports
        detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
        logger.error("report run %d (%s %s %s) failed: %s", run_id, kind, checked.region, key, detail)
        store.finish_run(run_id, "failed", error=shown_error(exc)[:2000], region_name=checked.region_name,
                         period_label=checked.period.label, seconds=time.monotonic() - t0)
        return store.get_run(run_id)
    store.finish_run(run_id, "ok", pdf_path=str(folder / f"{stem}.pdf"), xlsx_path=str(folder / f"{stem}.xlsx"),
                     region_name=checked.region_name, period_label=checked.period.label,
                     seconds=time.monotonic() - t0)
    logger.info("report run %d filed %s in %.1f s", run_id, folder / f"{stem}.pdf", time.monotonic() - t0)
    return store.get_run(run_id)
