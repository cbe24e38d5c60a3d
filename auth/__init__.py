"""Access control: users, roles and region scopes, display tokens for walls, the audit log.

``install(server)`` puts the gate (:mod:`auth.guard`) in front of every route of the
Flask server and mounts the login, logout and display-token routes (:mod:`auth.web`).
Pages, callbacks, the API, exports and PDFs read the current principal's scope through
:func:`auth.current.current_scope` / :func:`auth.current.scope_root`, and the query
layer falls back to it for any query that names no scope.
"""
from __future__ import annotations

import datetime as dt
import logging

import flask

from auth.current import PermissionDenied, can, current, current_scope, require, scope_root
from domain.errors import ScopeViolation

logger = logging.getLogger(__name__)

__all__ = ["install", "current", "current_scope", "scope_root", "can", "require", "PermissionDenied"]


def install(server: flask.Flask) -> None:
    """Sessions, the gate and the auth routes on ``server`` (idempotent)."""
    from auth import guard
    from auth.config import AuthSettings
    from auth.current import request_scope_provider
    from auth.web import install_routes
    from store.filters import on_scope_violation, set_scope_provider

    if "auth_login" in server.view_functions:
        return
    cfg = AuthSettings.from_env()
    server.secret_key = cfg.signing_key()
    server.config.update(
        SESSION_COOKIE_NAME="jinjian_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg.secure_cookies, PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=cfg.session_hours),
        SESSION_REFRESH_EACH_REQUEST=True,
    )
    from auth.render import install_redaction

    install_redaction()  # no render ticket or wall-link token in any log line
    set_scope_provider(request_scope_provider)
    on_scope_violation(guard.note_violation)
    server.before_request(guard.before_request)  # after the start-up hooks; before every view
    server.after_request(guard.after_request)
    server.register_error_handler(ScopeViolation, guard.on_forbidden_error)
    server.register_error_handler(PermissionDenied, guard.on_forbidden_error)
    from auth.callback_errors import install as install_bad_input

    install_bad_input(server)  # Dash's own routes: no 500 for a component file that does not exist
    install_routes(server)
    if not cfg.enabled:
        logger.warning("JINJIAN_AUTH=0: no login; every visitor is an administrator of the jurisdiction")
