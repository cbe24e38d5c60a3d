"""Render tickets: how the app's own headless Chromium (report PDFs) reaches the print
view behind the login (docs/security.md, "Render tickets").

The process that asks for a PDF — a user's request, the scheduler, the CLI — signs a
ticket for one report: its region (inside the asker's scope), period and date. A ticket

- is good for ``TICKET_SECONDS`` (60 s: the renderer opens it at once);
- is used once: the first request that presents it opens the renderer's session and the
  ticket is spent (a copy presented later, or twice, opens nothing);
- opens only that report: the print route's region, period and date must be the ticket's,
  and the session it opens is a view-only principal limited to the report routes and to
  the report's region, ending with the ticket's time;
- is never written to a log: :class:`RedactFilter` takes tickets and wall-link tokens out
  of every log line (access log included).
"""
from __future__ import annotations

import logging
import re
import secrets
import threading
import time

from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "jinjian-render-ticket"
TICKET_SECONDS = 60
RENDER_PATHS = ("/report/print", "/report", "/_dash-layout", "/_dash-dependencies", "/_dash-update-component",
                "/_reload-hash", "/favicon.ico", "/_favicon.ico")
#: The query arguments a ticket binds (the print view's and the report page's).
BOUND = ("region", "period", "date")

_SPENT: dict[str, float] = {}  # ticket id → when it stops mattering (its expiry)
_LOCK = threading.Lock()


def _serializer() -> URLSafeTimedSerializer:
    from auth.config import AuthSettings

    return URLSafeTimedSerializer(AuthSettings.from_env().signing_key(), salt=SALT)


def ticket_for(scope: str, region: str, period: str, date: str) -> str:
    """A one-time ticket for the report of ``region`` (within ``scope``), ``period``, ``date``."""
    return _serializer().dumps({"scope": scope, "region": region, "period": period, "date": date,
                                "id": secrets.token_urlsafe(12)})


def redeem(ticket: str, args: dict[str, str]) -> dict | None:
    """The report a valid, unexpired, unspent ticket opens, when ``args`` ask for that very
    report; the ticket is spent. None otherwise (nothing is spent)."""
    try:
        data = _serializer().loads(ticket, max_age=TICKET_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("scope", "id", *BOUND)):
        return None
    if any((args.get(k) or "") != data[k] for k in BOUND) or not data["region"].startswith(data["scope"]):
        return None
    now = time.time()
    with _LOCK:
        for k in [k for k, t in _SPENT.items() if t < now]:
            del _SPENT[k]
        if data["id"] in _SPENT:
            return None
        _SPENT[data["id"]] = now + TICKET_SECONDS + 5
    return {"region": data["region"], "until": now + TICKET_SECONDS}


_SECRETS = (re.compile(r"(ticket=)[A-Za-z0-9_.\-%]+"), re.compile(r"(['\"]ticket['\"]:\s*['\"])[^'\"]+"),
            re.compile(r"(/wall/)[A-Za-z0-9_\-]+"))


def redact(text: str) -> str:
    """``text`` without render tickets and wall-link tokens."""
    for pattern in _SECRETS:
        text = pattern.sub(r"\1[已隐去]", text)
    return text


class RedactFilter(logging.Filter):
    """Takes tickets and display tokens out of every record a handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def install_redaction() -> None:
    """Redact on every handler of the root logger and of werkzeug's access log."""
    for name in ("", "werkzeug"):
        lg = logging.getLogger(name)
        for handler in lg.handlers:
            if not any(isinstance(f, RedactFilter) for f in handler.filters):
                handler.addFilter(RedactFilter())
        if not any(isinstance(f, RedactFilter) for f in lg.filters):
            lg.addFilter(RedactFilter())
