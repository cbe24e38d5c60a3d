"""``python -m etl users | display | audit``: accounts, wall-screen tokens and the audit
log from the host's command line (the parsers and dispatch; the commands are in
``auth.cli_users`` and ``auth.cli_display_audit``, their shared helpers in ``auth.cli_common``).

The command line acts as the operator of the host (``Actor(None)``, audited as user
``cli``): any role, any scope inside the jurisdiction (JINJIAN_ROOT_REGION). Every
change goes through :mod:`auth.admin`, so the same rules and the same audit entries
apply as on the /admin page. Errors are one line on stderr with exit status 2.

``users demo`` creates the documented demo accounts (see ``auth.cli_users.DEMO_USERS``)
and a wall token for Dongguan, skipping whatever exists already.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
from typing import Iterator

from auth.cli_common import fail
from auth.cli_display_audit import DISPLAY, run_audit
from auth.cli_users import DEMO_PASSWORD, USERS
from settings import Settings

COMMANDS = ("users", "display", "audit")


# -- the command line ---------------------------------------------------------------------------

def add_commands(sub: argparse._SubParsersAction) -> None:
    from auth.roles import ROLES

    roles = ", ".join(f"{k} ({r.zh})" for k, r in ROLES.items())

    def password_options(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--password-stdin", action="store_true",
                       help="read the password from standard input (one line; asks twice on a terminal)")
        g.add_argument("--password", metavar="P",
                       help="the password (visible in the process list and shell history; prefer --password-stdin)")

    u = sub.add_parser("users", help="user accounts: add, list, set, disable, enable, passwd, demo")
    us = u.add_subparsers(dest="users_cmd", required=True)
    p = us.add_parser("add", help="create a user (without a password: a random one is generated and shown once)")
    p.add_argument("username")
    p.add_argument("--role", required=True, help=f"one of {roles}")
    p.add_argument("--scope", required=True, metavar="CODE", help="region code the user may see (e.g. 4419)")
    p.add_argument("--display-name", default="", help="name shown in the app (default: the user name)")
    p.add_argument("--grids", default="", metavar="G1,G2",
                   help="grid_worker only: the grids (15-digit codes) of the village in --scope they work")
    password_options(p)
    p = us.add_parser("list", help="list users")
    p.add_argument("--scope", default="", metavar="CODE", help="only users whose scope lies inside CODE")
    p = us.add_parser("set", help="change a user's role, scope or display name")
    p.add_argument("username")
    p.add_argument("--role", help=f"one of {roles}")
    p.add_argument("--scope", metavar="CODE")
    p.add_argument("--display-name")
    us.add_parser("disable", help="disable a user (ends their sessions)").add_argument("username")
    us.add_parser("enable", help="enable a disabled user").add_argument("username")
    p = us.add_parser("passwd", help="set a user's password (without one: a random one is generated and shown once)")
    p.add_argument("username")
    password_options(p)
    us.add_parser("demo", help=f"create the demo accounts (password {DEMO_PASSWORD}) and wall link; idempotent")

    d = sub.add_parser("display", help="wall-screen display tokens: add, list, revoke")
    ds = d.add_subparsers(dest="display_cmd", required=True)
    p = ds.add_parser("add", help="create a display token; its /wall/ link is shown once")
    p.add_argument("--name", required=True, help="name of the screen (e.g. 东莞指挥中心大屏)")
    p.add_argument("--region", required=True, metavar="CODE", help="region the screen shows")
    p.add_argument("--playlist", default="", metavar="CODES",
                   help="comma-separated region codes inside CODE the wall rotates through (e.g. 4419,441900003)")
    ds.add_parser("list", help="list display tokens")
    ds.add_parser("revoke", help="revoke a display token").add_argument("id", type=int)

    a = sub.add_parser("audit", help="print the audit log, newest first")
    a.add_argument("--action", default="", help="only this action (e.g. login_failed, user_create)")
    a.add_argument("--user", default="", help="only entries of this user name")
    a.add_argument("--failed", action="store_true", help="only refused / failed entries")
    a.add_argument("--since", type=dt.date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                   help="only entries from this day on")
    a.add_argument("--limit", type=int, default=50, metavar="N", help="at most N entries (default 50)")


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from auth.roles import ROLES, UnknownRole
    from domain.errors import JinjianError

    try:
        with _as_cli(settings):
            if args.cmd == "users":
                return USERS[args.users_cmd](args, settings)
            if args.cmd == "display":
                return DISPLAY[args.display_cmd](args, settings)
            return run_audit(args)
    except UnknownRole as exc:
        valid = ", ".join(f"{k} {r.zh}" for k, r in ROLES.items())
        return fail(f"{exc.user_message}（可选：{valid}）")
    except JinjianError as exc:
        extra = f" ({exc.detail})" if exc.http_status >= 500 and exc.detail != exc.user_message else ""
        return fail(f"{exc.user_message}{extra}")
    except ValueError as exc:  # DuplicateUser, InvalidRegionCode, … carry a user_message
        return fail(getattr(exc, "user_message", None) or str(exc))
    except SQLAlchemyError as exc:
        return fail(f"metadata store (JINJIAN_METADATA_URL): {exc}".splitlines()[0])
    except OSError as exc:
        return fail(str(exc))


@contextlib.contextmanager
def _as_cli(settings: Settings) -> Iterator[None]:
    """Bind the principal ``cli`` (an administrator of the jurisdiction) while a command
    runs, so that audit entries written by :mod:`auth.admin` name the command line
    rather than the anonymous ``system`` principal."""
    import flask

    from auth.current import Principal
    from auth.roles import ROLES

    app = flask.Flask("jinjian.cli")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": ""}):
        flask.g.principal = Principal("system", "cli", "admin", settings.root_region, ROLES["admin"].perms)
        yield
