"""Who is asking: the principal of the current request and the region scope it may see.

Inside a request the guard (:mod:`auth.guard`) sets ``flask.g.principal``. Outside a
request (command line, scheduler threads, tests calling functions directly) the
principal is the system itself, bound to the jurisdiction (JINJIAN_ROOT_REGION).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import g, has_request_context

from auth.roles import DISPLAY_PERMS, ROLES
from domain.errors import JinjianError
from store.filters import RegionScope
from settings import Settings

logger = logging.getLogger(__name__)


class PermissionDenied(JinjianError):
    user_message = "您的角色无权执行此操作"
    http_status = 403


@dataclass(frozen=True)
class Principal:
    kind: str               # user | display | render | local (JINJIAN_AUTH=0) | system (no request)
    name: str
    role: str               # a key of auth.roles.ROLES, or "display"
    scope: str              # effective region prefix (inside the jurisdiction)
    perms: frozenset[str]
    playlist: tuple[str, ...] = ()
    token_id: int | None = None
    display_name: str = ""
    grids: tuple[str, ...] = ()  # a 网格员's own grids (empty: every grid of the scope)

    def can(self, perm: str) -> bool:
        return perm in self.perms

    @property
    def region_scope(self) -> RegionScope:
        return RegionScope(self.scope)

    def works_on(self, grid_code: str) -> bool:
        """Whether a task of ``grid_code`` is this principal's to act on (the workbench)."""
        return grid_code.startswith(self.scope) and (not self.grids or grid_code in self.grids)


def effective_scope(user_scope: str, root: str) -> str | None:
    """The part of the jurisdiction ``root`` a user bound to ``user_scope`` sees:
    the deeper of the two codes, or None when they do not overlap."""
    if user_scope.startswith(root):
        return user_scope
    if root.startswith(user_scope):
        return root
    return None


def system_principal() -> Principal:
    root = Settings.from_env().root_region
    return Principal("system", "system", "admin", root, ROLES["admin"].perms)


def local_principal() -> Principal:
    """JINJIAN_AUTH=0 (development on one machine): an administrator of the jurisdiction, who
    may also draw 双随机 plans (personal data stay masked)."""
    root = Settings.from_env().root_region
    return Principal("local", "local", "admin", root, ROLES["admin"].perms | {"inspect"})


def display_principal(token_id: int, name: str, region: str, playlist: tuple[str, ...]) -> Principal:
    return Principal("display", f"display:{token_id}", "display", region, DISPLAY_PERMS, playlist, token_id, name)


def render_principal(scope: str) -> Principal:
    """The app's own PDF renderer, holding a render ticket (auth.render) for ``scope``."""
    return Principal("render", "renderer", "viewer", scope, frozenset({"view"}))


def current() -> Principal:
    if has_request_context():
        p = g.get("principal")
        if p is not None:
            return p
    return system_principal()


def current_scope() -> RegionScope:
    return current().region_scope


def scope_root() -> str:
    """The code of the top region the current principal may see (pages start there)."""
    return current().scope


def can(perm: str) -> bool:
    return current().can(perm)


def require(perm: str) -> Principal:
    """The current principal when it holds ``perm``; else PermissionDenied (→ 403 + audit)."""
    p = current()
    if not p.can(perm):
        if has_request_context():
            g.denied = ("perm_denied", perm)
        raise PermissionDenied(f"{p.name} ({p.role}) lacks {perm!r}")
    return p


def request_scope_provider() -> RegionScope | None:
    """For :func:`store.filters.set_scope_provider`: the request's scope, None outside one."""
    if has_request_context():
        p = g.get("principal")
        if p is not None:
            return p.region_scope
    return None
