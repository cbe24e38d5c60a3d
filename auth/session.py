"""Who a request is: the principal of its session (a signed-in user, a PDF render
ticket or a wall display token), re-read from the access-control store on every request.
Used by the gate (:mod:`auth.guard`) and by the audit log to name a visitor."""
from __future__ import annotations

import time

from flask import session

from auth.config import AuthSettings
from auth.current import Principal, display_principal, effective_scope, render_principal
from auth.roles import ROLES
from auth.store import AuthStore
from settings import Settings


def load_principal(store: AuthStore) -> Principal | None:
    """The principal of this request's session, read from ``store`` (re-checked on every
    request: a disabled user, a changed role, scope or password, a logout anywhere, or a
    revoked token ends the session; so does the absolute limit since login)."""
    root = Settings.from_env().root_region
    if "uid" in session:
        if time.time() - float(session.get("at") or 0) > AuthSettings.from_env().session_max_hours * 3600:
            session.clear()  # the absolute limit since login (JINJIAN_SESSION_MAX_HOURS)
            return None
        user = store.get_user(str(session["uid"]))
        role = ROLES.get(user.role) if user else None
        scope = effective_scope(user.scope, root) if user else None
        if user is None or user.disabled or role is None or scope is None or user.session_version != session.get("ver"):
            session.clear()
            return None
        grids = store.grids(user.username) if "work" in role.perms else ()
        return Principal("user", user.username, user.role, scope, role.perms, display_name=user.display_name,
                         grids=grids)
    if "render" in session:  # opened by a render ticket: the one report's region, until the ticket's time
        report = session["render"]
        ok = isinstance(report, dict) and isinstance(report.get("region"), str) and \
            float(report.get("until") or 0) > time.time()
        scope = effective_scope(report["region"], root) if ok else None
        if scope is None:
            session.clear()
            return None
        return render_principal(scope)
    if "dt" in session:
        token = store.get_token(int(session["dt"]))
        scope = effective_scope(token.region, root) if token else None
        if token is None or not token.active or scope is None:
            session.clear()
            return None
        return display_principal(token.id, token.name, scope, token.playlist)
    return None
