"""``python -m etl display | audit``: wall-screen display tokens and the audit log.

A display token's ``/wall/`` link is printed once, when it is created; the store keeps only
a hash of its secret. ``audit`` prints the log newest first, failed logins included.
"""
from __future__ import annotations

import argparse
import datetime as dt

from auth.cli_common import auth_store, base_url, cli_actor, fail, format_table, known_region, region_label, when
from settings import Settings

__all__ = ["DISPLAY", "run_audit"]


# -- display tokens ------------------------------------------------------------------------------

def _display_add(args: argparse.Namespace, settings: Settings) -> int:
    from auth import admin

    region = known_region(args.region)
    playlist = tuple(known_region(c) for c in admin.parse_playlist(args.playlist))
    token, secret = admin.create_token(auth_store(), cli_actor(), args.name, region, playlist)
    shown = f" (playlist {','.join(token.playlist)})" if token.playlist else ""
    print(f"display token {token.id} 「{token.name}」 for {region_label(token.region)}{shown}\n"
          f"link: /wall/{secret}\n"
          f"open it on the screen as e.g. {base_url(settings)}/wall/{secret}\n"
          f"The link is shown only this once and cannot be shown again; keep it like a password. "
          f"Revoke it with `python -m etl display revoke {token.id}`.")
    return 0


def _display_list(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin

    tokens = admin.list_tokens(auth_store(), cli_actor())
    if not tokens:
        print("no display tokens")
        return 0
    rows = [(t.id, t.name, region_label(t.region), ",".join(t.playlist) or "-",
             "有效" if t.active else f"已吊销 {when(t.revoked_at)}", when(t.created_at), t.created_by or "-")
            for t in tokens]
    print(format_table(("ID", "名称", "区域", "轮播", "状态", "创建时间", "创建人"), rows))
    return 0


def _display_revoke(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin

    store = auth_store()
    if admin.revoke_token(store, cli_actor(), args.id):
        print(f"display token {args.id} revoked; its link no longer opens the wall")
    else:
        print(f"display token {args.id} was already revoked")
    return 0


DISPLAY = {"add": _display_add, "list": _display_list, "revoke": _display_revoke}


# -- audit ---------------------------------------------------------------------------------------

def run_audit(args: argparse.Namespace) -> int:
    """``audit``: the entries matching the filters, newest first, as a table."""
    from auth.audit import ACTIONS_ZH

    if args.action and args.action not in ACTIONS_ZH:
        return fail(f"unknown action {args.action!r}; one of {', '.join(ACTIONS_ZH)}")
    if not 1 <= args.limit <= 100_000:
        return fail("--limit must be 1..100000")
    start = dt.datetime.combine(args.since, dt.time()) if args.since else None
    # The host operator reads every entry, including failed logins (which carry no scope).
    rows = auth_store().audit_rows(action=args.action, username=args.user, ok=False if args.failed else None,
                                   start=start, limit=args.limit)
    if not rows:
        print("no audit entries")
        return 0
    table = [(_when_s(r["at"]), r["username"] or "-", f"{ACTIONS_ZH.get(r['action'], r['action'])} ({r['action']})",
              "成功" if r["ok"] else "拒绝/失败", r["target"] or "-", r["region"] or "-", r["ip"] or "-",
              (r["detail"] or "").replace("\n", " ")[:120]) for r in rows]
    print(format_table(("时间", "用户", "操作", "结果", "对象", "区域", "IP", "详情"), table))
    return 0


def _when_s(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
