"""Request-body size caps applied before anything reads a body (docs/security.md; installed
by ``app.create_app``).

Every request gets its cap before the first ``before_request`` that could read its body:
a body over the cap is refused with 413 whether it declares its length (refused at once,
unread) or is sent chunked (read here in pieces and refused as soon as it passes the cap;
nothing beyond one piece past the cap is read). Caps: ``POST /api/v1/ingest/<source>`` — ``JINJIAN_INGEST_MAX_MB``;
``/api/v1/work/`` (the workbench's actions with photos) — 5 × ``JINJIAN_WORK_PHOTO_KB`` + 64 KB;
everything else (Dash callbacks, login, the admin's forms) — ``JINJIAN_MAX_BODY_KB``.
"""
from __future__ import annotations

import io
import logging
import os
from typing import Any

import flask
from werkzeug.exceptions import RequestEntityTooLarge

from settings import ConfigError

logger = logging.getLogger(__name__)

INGEST_PREFIX = "/api/v1/ingest/"
WORK_PREFIX = "/api/v1/work/"


def body_cap_kb(env: dict[str, str] | None = None) -> int:
    """JINJIAN_MAX_BODY_KB: the largest request body outside the ingestion API (default 4096)."""
    raw = (os.environ if env is None else env).get("JINJIAN_MAX_BODY_KB", "4096").strip()
    if not raw.isdigit() or not 16 <= int(raw) <= 1_048_576:
        raise ConfigError(f"JINJIAN_MAX_BODY_KB={raw!r} must be a whole number of kilobytes 16..1048576")
    return int(raw)


_PIECE = 64 * 1024


def read_capped(stream: Any, cap: int) -> bytes:
    """A whole request body read in pieces, refused with 413 as soon as it passes ``cap``
    (at most one piece beyond the cap is ever read)."""
    parts, seen = [], 0
    while part := stream.read(_PIECE):
        seen += len(part)
        if seen > cap:
            logger.warning("request body over %d bytes refused while reading: %s", cap, flask.request.path)
            raise RequestEntityTooLarge()
        parts.append(part)
    return b"".join(parts)


def _cap() -> None:
    if flask.request.path.startswith(INGEST_PREFIX):
        from etl.ingest.config import IngestSettings

        cap = IngestSettings.from_env().max_bytes
    elif flask.request.path.startswith(WORK_PREFIX):  # up to MAX_PHOTOS photos and the form
        from etl.work_photos import MAX_PHOTOS, photo_limit_kb

        cap = (MAX_PHOTOS * photo_limit_kb() + 64) * 1024
    else:
        cap = body_cap_kb() * 1024
    environ = flask.request.environ
    flask.request.max_content_length = cap  # a declared length over the cap: refused at once
    if environ.get("wsgi.input_terminated") and not environ.get("CONTENT_LENGTH"):
        # chunked: read here, counted, at most cap + one piece (413 past the cap, before any
        # route or callback runs); the route then reads it as a body of known length.
        # (Werkzeug's own limit on such a stream stops at the cap without an error, so a
        # truncated body would pass as a whole one.)
        data = read_capped(environ["wsgi.input"], cap)
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))


def install(server: flask.Flask) -> None:
    """Run the cap first among the ``before_request`` functions of ``server``."""
    funcs = server.before_request_funcs.setdefault(None, [])
    if _cap not in funcs:
        funcs.insert(0, _cap)
