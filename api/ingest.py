"""Streaming ingestion: ``POST /api/v1/ingest/<source>`` with JSON lines.

Authentication is a per-source token (``Authorization: Bearer <token>``,
created with ``python -m etl token add``) bound to a source unit and its region.
The body is one JSON object per line (docs/ingest.md lists each source's keys).
The answer reports rows in / loaded / rejected and, for each rejected line, its
line number, field and reason. Posting the same body again is answered from the
first load and changes nothing (``already_loaded``).
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import Response, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge

from api.v1 import ApiError, _json, bp
from domain.sources import SOURCES
from etl.ingest.tokens import TokenInfo

logger = logging.getLogger(__name__)

MAX_LISTED = 1000  # rejected rows listed in one answer (the report file has all)


def _token(source: str) -> TokenInfo:
    from etl.ingest.service import token_store

    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-Jinjian-Token", "")
    if not token:
        raise ApiError(401, "missing_token", "缺少数据接入令牌（Authorization: Bearer <令牌>）",
                       "send the source's token as Authorization: Bearer <token>")
    info = token_store().check(token.strip())
    if info is None:
        logger.warning("ingest %s: rejected an unknown or revoked token from %s", source, request.remote_addr)
        raise ApiError(401, "invalid_token", "数据接入令牌无效或已吊销", "unknown or revoked token")
    if info.source != source:
        raise ApiError(403, "token_source_mismatch", f"该令牌只能报送“{SOURCES[info.source].zh}”数据",
                       f"this token is for source {info.source!r}, not {source!r}")
    return info


def _source(source: str) -> str:
    if source not in SOURCES:
        raise ApiError(404, "unknown_source", f"未知的数据来源“{source[:40]}”",
                       f"unknown source; known: {', '.join(SOURCES)}")
    return source


@bp.post("/ingest/<source>")
def ingest(source: str) -> Response:
    from etl.ingest.raw import FileRejected
    from etl.ingest.service import ingestor

    info = _token(_source(source))
    ing = ingestor()
    if (request.content_length or 0) > ing.cfg.max_bytes:
        raise ApiError(413, "too_large", f"请求体超过 {ing.cfg.max_bytes // 2**20} MB，请分批报送",
                       "body larger than JINJIAN_INGEST_MAX_MB")
    try:
        data = request.get_data(cache=False)  # capped by api.limits, chunked bodies too
    except RequestEntityTooLarge:
        raise ApiError(413, "too_large", f"请求体超过 {ing.cfg.max_bytes // 2**20} MB，请分批报送",
                       "body larger than JINJIAN_INGEST_MAX_MB") from None
    name = f"api-{dt.datetime.now():%Y%m%d-%H%M%S}.jsonl"
    try:
        res = ing.ingest_bytes(source, data, file_name=name, fmt="jsonl", unit=info.unit, scope=info.region)
    except FileRejected as exc:
        raise ApiError(400, "unreadable_body", exc.user_message, exc.detail) from None
    if res.state == "failed":
        raise ApiError(400, "unreadable_body", res.message, "the body could not be read as JSON lines")
    problems = sorted(res.problems, key=lambda p: p.row_no)
    body = {"batch_id": res.batch_id, "source": source, "state": res.state, "already_loaded": res.already,
            "rows_in": res.rows_in, "rows_loaded": res.rows_loaded, "rows_rejected": res.rows_rejected,
            "message": res.summary(), "warnings": res.warnings,
            "rejected": [{"line": p.row_no, "field": p.field, "code": p.code, "reason": p.reason}
                         for p in problems[:MAX_LISTED]],
            "rejected_listed": min(len(problems), MAX_LISTED),
            "report": f"{bp.url_prefix}/ingest/{source}/batches/{res.batch_id}/rejects" if res.report else None}
    return _json(body)


@bp.get("/ingest/<source>/batches/<batch_id>/rejects")
def ingest_rejects(source: str, batch_id: str) -> Response:
    """The rejection report of a batch, for the unit that sent it (same token), as written
    (the unit's own records); audited like a download from /quality."""
    from etl.ingest.service import ingestor

    info = _token(_source(source))
    ing = ingestor()
    state = ing.state(batch_id) if len(batch_id) == 64 and batch_id.isalnum() else None
    if state is None or state["source"] != source or state["region_code"] != info.region:
        raise ApiError(404, "batch_not_found", "未找到该批次", "no such batch for this token")
    path = ing.report_path(state)
    if not path.exists():
        raise ApiError(404, "no_rejects", "该批次没有退回记录", "the batch has no rejected rows")
    from auth import audit

    audit.record("rejects_download", target=f"{source} {batch_id[:12]}", region=info.region,
                 username=f"token:{info.id}", role="ingest", scope=info.region,
                 detail=f"数据接入令牌（{info.unit}）下载本单位退回记录，个人信息完整")
    return send_file(path, as_attachment=True, download_name=f"{source}-{batch_id[:12]}-退回记录{path.suffix}")
