"""Who may grant what. Every change to users and display tokens goes through here
(the /admin page and the command line alike) and is audited.

Rules:
- an administrator manages users and display tokens inside their own scope only, and
  cannot grant a scope wider than their own or a role ranked above their own;
- an administrator cannot disable or demote themselves (no lock-out by accident);
- the command line acts as the operator of the host (``actor=None``): any scope
  inside the jurisdiction, any role.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from auth import audit
from auth.current import Principal, PermissionDenied
from auth.roles import ROLES, WORK_SCOPE_LENGTHS, get_role
from auth.store import AuthStore, DisplayToken, User
from domain.regions import region_name
from domain.errors import InvalidParameter, RegionNotFound, ScopeViolation
from store.filters import check_region_code
from settings import Settings

logger = logging.getLogger(__name__)

USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")
MIN_PASSWORD = 10


class WeakPassword(InvalidParameter):
    user_message = f"密码至少 {MIN_PASSWORD} 位，且须同时包含字母和数字"


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD or not re.search(r"[A-Za-z]", password) or not re.search(r"[0-9]", password):
        raise WeakPassword("password too weak")


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a signed-in administrator, or the host operator (None)."""
    principal: Principal | None

    @property
    def name(self) -> str:
        return self.principal.name if self.principal else "cli"

    def scope(self) -> str:
        return self.principal.scope if self.principal else Settings.from_env().root_region


def _audit(actor: Actor, action: str, **entry: object) -> None:
    """An audit entry in the actor's name (the command line is "cli", not "system")."""
    if actor.principal is None:
        entry.update(username="cli", role="operator", scope=actor.scope())
    audit.record(action, **entry)  # type: ignore[arg-type]


def _check_scope(actor: Actor, scope: str, what: str, must_exist: bool = True) -> str:
    """``scope`` inside the actor's own (else ScopeViolation, audited), then — for a new
    grant — a region that exists (RegionNotFound). Revoking and disabling skip the
    existence check, so they work while the analytics database is down."""
    scope = (scope or "").strip()
    check_region_code(scope)
    if not scope.startswith(actor.scope()):
        _audit(actor, "perm_denied", ok=False, target=f"grant {what}", region=scope,
               detail=f"{actor.name} (scope {actor.scope() or '全国'}) tried to grant {scope or '全国'}")
        raise ScopeViolation(f"{actor.name} cannot grant {what} {scope!r} outside {actor.scope()!r}",
                             user_message=f"不能授予超出本人管辖范围（{actor.scope() or '全国'}）的区域：{scope or '全国'}")
    return check_region_exists(scope) if must_exist else scope


def check_region_exists(code: str) -> str:
    """A well-formed region code present in the vendored region tree (a grid: its village)."""
    code = check_region_code((code or "").strip())
    if code and region_name(code[:12]) is None:  # the vendored tree: no database needed
        raise RegionNotFound(f"unknown region {code!r}", user_message=f"区划代码不存在：{code}")
    return code


def _check_admin(actor: Actor) -> None:
    if actor.principal is not None and not actor.principal.can("admin"):
        raise PermissionDenied(f"{actor.name} is not an administrator")


def _check_role(actor: Actor, role: str) -> None:
    wanted = get_role(role)
    if actor.principal is not None and wanted.rank > ROLES[actor.principal.role].rank:
        _audit(actor, "perm_denied", ok=False, target="grant role", detail=f"{actor.name} tried to grant {role}")
        raise PermissionDenied(f"{actor.name} cannot grant role {role}",
                               user_message=f"不能授予高于本人的角色：{wanted.zh}")


def _own_user(store: AuthStore, actor: Actor, username: str) -> User:
    user = store.get_user(username)
    if user is None:
        raise InvalidParameter(f"no user {username!r}", user_message=f"用户不存在：{username}")
    _check_scope(actor, user.scope, "user", must_exist=False)
    return user


def check_work_binding(role: str, scope: str, grids: list[str] | tuple[str, ...] = ()) -> list[str]:
    """A work role is bound to a region of its level (镇街处置人员: a town, 社区调度员: a village,
    网格员: a village or one grid) and a 网格员 to grids inside that village; returns the grids."""
    lengths = WORK_SCOPE_LENGTHS.get(role)
    if lengths is None:
        if grids:
            raise InvalidParameter("grids given for a role without grids", user_message="只有网格员可以绑定网格")
        return []
    if len(scope) not in lengths:
        levels = {9: "镇街", 12: "村（社区）", 15: "网格"}
        raise InvalidParameter(f"role {role} needs a scope of length {lengths}",
                               user_message=f"{ROLES[role].zh}须绑定到{'或'.join(levels[n] for n in lengths)}")
    out = [g.strip() for g in grids if g.strip()]
    for g in out:
        if not (len(g) == 15 and g.isdigit() and g.startswith(scope)):
            raise InvalidParameter(f"grid {g!r} outside {scope}", user_message=f"网格编码不正确或不在所属村（社区）内：{g}")
    return out


def create_user(store: AuthStore, actor: Actor, username: str, password: str, role: str, scope: str,
                display_name: str = "", grids: list[str] | tuple[str, ...] = ()) -> User:
    _check_admin(actor)
    if not USERNAME.match(username or ""):
        raise InvalidParameter(f"bad username {username!r}", user_message="用户名须为 3–64 位字母、数字、点、下划线或连字符")
    _check_role(actor, role)
    scope = _check_scope(actor, scope, "scope")
    bound = check_work_binding(role, scope, grids)
    check_password_strength(password)
    user = store.add_user(username, password, role, scope, display_name, created_by=actor.name)
    if bound:
        store.set_grids(username, bound)
    _audit(actor, "user_create", target=username, region=scope,
           detail=f"role={role}" + (f" grids={','.join(bound)}" if bound else ""))
    return user


def update_user(store: AuthStore, actor: Actor, username: str, *, role: str | None = None, scope: str | None = None,
                disabled: bool | None = None, password: str | None = None, display_name: str | None = None) -> User:
    _check_admin(actor)
    user = _own_user(store, actor, username)
    changes: dict[str, object] = {}
    if role is not None and role != user.role:
        _check_role(actor, role)
        changes["role"] = role
    if scope is not None and scope != user.scope:
        changes["scope"] = _check_scope(actor, scope, "scope")
    if "role" in changes or "scope" in changes:
        check_work_binding(str(changes.get("role", user.role)), str(changes.get("scope", user.scope)),
                           store.grids(username) if "scope" not in changes else ())
    if disabled is not None and disabled != user.disabled:
        changes["disabled"] = disabled
    if display_name is not None and display_name != user.display_name:
        changes["display_name"] = display_name
    if password is not None:
        check_password_strength(password)
        changes["password"] = password
    if actor.principal is not None and username == actor.principal.name and (
            changes.get("disabled") or changes.get("role", "admin") != "admin" or "scope" in changes):
        raise PermissionDenied(f"{actor.name} tried to lock themselves out",
                               user_message="不能停用、降级或改变自己的账号范围")
    if not changes:
        return user
    updated = store.update_user(username, **changes)
    if "scope" in changes:
        store.set_grids(username, [])  # grids of the old village do not carry over
    shown = {k: ("***" if k == "password" else v) for k, v in changes.items()}
    _audit(actor, "user_update", target=username, region=updated.scope, detail=str(shown))
    return updated


def list_users(store: AuthStore, actor: Actor) -> list[User]:
    _check_admin(actor)
    return store.list_users(actor.scope())


def parse_playlist(raw: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in (raw or "").replace("，", ",").split(",") if c.strip())


def create_token(store: AuthStore, actor: Actor, name: str, region: str,
                 playlist: tuple[str, ...] = ()) -> tuple[DisplayToken, str]:
    """A display token for a wall screen; returns it and the secret (shown once)."""
    _check_admin(actor)
    name = (name or "").strip()
    if not 1 <= len(name) <= 64:
        raise InvalidParameter("bad token name", user_message="请填写大屏名称（1–64 字）")
    region = _check_scope(actor, region, "display region")
    for code in playlist:
        _check_scope(actor, code, "playlist region")
        if not code.startswith(region):
            raise ScopeViolation(f"playlist region {code!r} outside token region {region!r}",
                                 user_message=f"轮播区域 {code} 不在大屏区域 {region or '全国'} 之内")
    token, secret = store.add_token(name, region, playlist, actor.name)
    _audit(actor, "token_create", target=f"{name} (#{token.id})", region=region, detail=f"playlist={','.join(playlist)}")
    return token, secret


def revoke_token(store: AuthStore, actor: Actor, token_id: int) -> bool:
    _check_admin(actor)
    token = store.get_token(token_id)
    if token is None:
        raise InvalidParameter(f"no token {token_id}", user_message=f"大屏令牌不存在：{token_id}")
    _check_scope(actor, token.region, "display token", must_exist=False)
    done = store.revoke_token(token_id, actor.name)
    if done:
        _audit(actor, "token_revoke", target=f"{token.name} (#{token_id})", region=token.region)
    return done


def list_tokens(store: AuthStore, actor: Actor) -> list[DisplayToken]:
    _check_admin(actor)
    return store.list_tokens(actor.scope())


def village_workers(store: AuthStore, village: str) -> dict[str, str]:
    """The grid workers bound to ``village`` as a whole (who a village dispatcher may give a
    task to: 改派), username → what to call them, active accounts only."""
    return {u.username: (u.display_name or u.username) for u in store.list_users(village)
            if u.role == "grid_worker" and u.scope == village and not u.disabled}
