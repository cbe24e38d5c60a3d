"""Render tickets: how the app's own headless Chromium (report PDFs) reaches the print
view behind the login. The process that asks for a PDF — a user's request, the
scheduler, the CLI — signs a ticket for its own scope; the print route accepts it for
``TICKET_SECONDS`` and opens a view-only session limited to the report routes."""
from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "jinjian-render-ticket"
TICKET_SECONDS = 600
RENDER_PATHS = ("/report/print", "/report", "/_dash-layout", "/_dash-dependencies", "/_dash-update-component",
                "/_reload-hash", "/favicon.ico", "/_favicon.ico")


def _serializer() -> URLSafeTimedSerializer:
    from auth.config import AuthSettings

    return URLSafeTimedSerializer(AuthSettings.from_env().signing_key(), salt=SALT)


def ticket_for(scope: str) -> str:
    return _serializer().dumps({"scope": scope})


def check_ticket(ticket: str) -> str | None:
    """The scope a valid, unexpired ticket was signed for; None otherwise."""
    try:
        data = _serializer().loads(ticket, max_age=TICKET_SECONDS)
    except BadSignature:
        return None
    scope = data.get("scope") if isinstance(data, dict) else None
    return scope if isinstance(scope, str) else None
