"""Flask route of the data-quality page: ``GET /ingest/rejects/<batch_id>`` sends a
batch's rejection report (退回记录, in the source's own format) as an attachment.

Answers, each with a one-line Chinese text body:

- 404 when the id is not a batch id, the batch is unknown, or it has no report
  (no record was rejected);
- 403 when the signed-in role may not export (``export``; audited);
- 404, as for an unknown batch, when the batch was sent under a region scope outside the
  deployment's jurisdiction (``JINJIAN_ROOT_REGION``; a batch without scope, '', belongs
  to the whole deployment) or outside the signed-in user's scope (the probe is audited);
- the report with personal data masked (``etl.ingest.masking``) for a role without
  ``pii``; as written for one with it. Every download is audited.
- 503 / 500 when the database or the settings fail.

The file is never chosen by the request: the batch id selects the recorded batch
and :meth:`Ingestor.report_path` builds the path from it.
"""
from __future__ import annotations

import io
import logging
import re
from typing import Any

from flask import Response, send_file

from auth import audit
from auth.current import can, current_scope, require
from auth.guard import hide

logger = logging.getLogger(__name__)

REJECTS_ROUTE = "/ingest/rejects/<batch_id>"
ENDPOINT = "ingest_rejects"
_BATCH_ID = re.compile(r"^[0-9a-f]{64}$")
MIMETYPES = {".csv": "text/csv", ".jsonl": "application/x-ndjson",
             ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
NOT_FOUND = "未找到该批次"
NO_REPORT = "该批次没有退回记录"


def rejects_href(batch_id: str) -> str:
    """The download path of a batch's rejection report (without the app's path prefix)."""
    return f"/ingest/rejects/{batch_id}"


def _text(status: int, message: str) -> Response:
    return Response(message, status=status, mimetype="text/plain")  # Flask adds charset=utf-8


def visible_to(region_code: str, root: str, scope: str | None = None) -> bool:
    """Whether a batch sent under ``region_code`` lies in the jurisdiction ``root`` and
    in the viewer's ``scope`` (a batch without region, '', belongs to the jurisdiction)."""
    effective = region_code or root
    return effective.startswith(root) and effective.startswith(root if scope is None else scope)


def download_rejects(batch_id: str) -> Any:
    from etl.ingest.batch import Ingestor
    from etl.ingest.config import IngestSettings
    from store.db import get_db
    from domain.errors import JinjianError
    from settings import ConfigError, Settings

    require("export")  # a rejection report is an export of records (PermissionDenied → 403, audited)
    if not _BATCH_ID.match(batch_id):
        return _text(404, NOT_FOUND)
    try:
        root = Settings.from_env().root_region
        ing = Ingestor(get_db(), IngestSettings.from_env())
        state = ing.state(batch_id)
    except ConfigError as exc:
        logger.error("rejects %s: settings: %s", batch_id[:12], exc)
        return _text(500, "系统配置有误，请联系管理员")
    except JinjianError as exc:
        logger.warning("rejects %s: %s", batch_id[:12], exc.detail)
        return _text(exc.http_status, exc.user_message)
    if state is None:
        return _text(404, NOT_FOUND)
    if not visible_to(str(state["region_code"]), root, current_scope().prefix):
        logger.warning("rejects %s: batch region %r outside scope %r", batch_id[:12], state["region_code"],
                       current_scope().prefix)
        hide(f"rejects of batch {batch_id[:12]} sent under {state['region_code'] or root}",
             str(state["region_code"]) or root)
        return _text(404, NOT_FOUND)  # exactly as for a batch that does not exist
    try:
        path = ing.report_path(state)
    except KeyError:  # a format without a report
        path = None
    if path is None or not path.is_file():
        return _text(404, NO_REPORT)
    full = can("pii")
    logger.info("rejects %s (%s) downloaded, %s", batch_id[:12], state["source"], "full" if full else "masked")
    audit.record("rejects_download", target=f"{state['source']} {batch_id[:12]}", region=str(state["region_code"]),
                 detail="个人信息完整" if full else "个人信息已脱敏")
    name = f"{state['source']}-{batch_id[:12]}-退回记录{path.suffix}"
    mimetype = MIMETYPES.get(path.suffix, "application/octet-stream")
    if full:
        return send_file(path, mimetype=mimetype, as_attachment=True, download_name=name)
    from domain.sources import get_source
    from etl.ingest.masking import masked_report

    data = masked_report(path, get_source(str(state["source"])))
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=name)


def install(server: Any) -> None:
    """Register the download route on the Flask ``server`` (once)."""
    if ENDPOINT in server.view_functions:
        return
    server.add_url_rule(REJECTS_ROUTE, ENDPOINT, download_rejects, methods=["GET"])
