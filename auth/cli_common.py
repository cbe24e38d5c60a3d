"""Helpers shared by the ``python -m etl users | display | audit`` commands (``auth.cli``):
the principal and store a command works with, region checks and labels, one-line errors and
plain-text tables that stay aligned with Chinese text."""
from __future__ import annotations

import datetime as dt
import sys
import unicodedata
from typing import Any, Sequence

from settings import Settings

__all__ = ["auth_store", "base_url", "cli_actor", "fail", "format_table", "known_region", "region_label", "when"]


def fail(message: str) -> int:
    """Print ``error: message`` on stderr; returns the exit status of a refused command (2)."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def cli_actor():  # noqa: ANN202 - auth.admin.Actor
    """The host operator (``Actor(None)``): any role, any scope inside the jurisdiction."""
    from auth.admin import Actor

    return Actor(None)


def auth_store():  # noqa: ANN202 - auth.store.AuthStore
    """The metadata store (JINJIAN_METADATA_URL) the commands read and change."""
    from auth import audit

    return audit.store()


def known_region(code: str) -> str:
    """A region code that exists in the region tree (grid codes: their village must)."""
    from auth.admin import check_region_exists

    return check_region_exists(code)


def region_label(code: str) -> str:
    """``code name`` (e.g. ``4419 东莞市``); the code alone when it has no name; ``全国`` for ''."""
    from domain.regions import region_name

    try:
        name = region_name(code[:12]) if code else "全国"
    except ValueError:
        name = None
    return f"{code} {name}" if name else (code or "全国")


def when(value: dt.datetime | None, empty: str = "-") -> str:
    """``YYYY-MM-DD HH:MM``, or ``empty`` for None."""
    return value.strftime("%Y-%m-%d %H:%M") if value else empty


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns that stay aligned with Chinese (double-width) text."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def base_url(settings: Settings) -> str:
    """The app's address on this host (a wildcard listen address shown as 127.0.0.1)."""
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{settings.port}"
