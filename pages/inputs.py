"""What a callback receives, checked before use (docs/security.md, "Bad input").

A Dash callback gets whatever is posted to ``/_dash-update-component``: its page's
controls send strings, dates, numbers and lists of the expected shape, a forged request
anything JSON can hold. Each function here takes one raw value and returns it as the
callback expects it, coerced where that is harmless (None → the default), or raises
:class:`BadInput` — an ``InvalidParameter`` with a Chinese ``user_message``. A callback
then does what it does for its own bad input: shows that message where it shows its
errors, or keeps every output (:func:`keep_on_bad_input` → ``PreventUpdate``).

The same helpers read URL parameters for ``layout()`` (:func:`param`: a repeated key
arrives as a list and is ignored, so the page falls back to its default).

The app's callback error handler (``auth/callback_errors.py``) stays as the net for what
no check foresaw; ``tests/test_callback_fuzz.py`` fails if any fuzzed input reaches it.
This module only helps the page modules next to it; it declares no page.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import re
from typing import Any, Callable, Collection, TypeVar

from dash.exceptions import PreventUpdate

from domain.errors import InvalidParameter
from domain.regions import InvalidRegionCode
from store.filters import check_region_code, parse_date

F = TypeVar("F", bound=Callable[..., Any])

#: Longest free text a callback takes (the page's inputs cap themselves far lower).
MAX_TEXT = 1000
#: Dates outside this range are refused: no data is there, and date arithmetic near year 1 or 9999 overflows.
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
#: Largest whole number a callback takes (ids, counters, clicks): exact in a browser.
MAX_INT = 2**53


class BadInput(InvalidParameter):
    """A callback input of the wrong type, shape or value."""

    user_message = "请求内容格式不正确，请刷新页面后重试"


def _shown(value: Any) -> str:
    """A refused value as a message may quote it: short, one line."""
    s = value if isinstance(value, str) else type(value).__name__
    return s.replace("\n", " ")[:40]


def keep_on_bad_input(fn: F) -> F:
    """For a callback with no message of its own for bad input: a :class:`BadInput`
    keeps every output (``PreventUpdate``, no log line)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BadInput:
            raise PreventUpdate from None
    return wrapper  # type: ignore[return-value]


# ----------------------------------------------------------------------------- scalars
def param(value: Any) -> str | None:
    """A URL query parameter for ``layout()``: the string, or None (absent or repeated)."""
    return value if isinstance(value, str) else None


def text(value: Any, default: str = "", *, strip: bool = True, limit: int = MAX_TEXT) -> str:
    """A text input: None → ``default``; a string (stripped unless ``strip=False``) of at
    most ``limit`` characters; anything else is refused."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadInput(f"expected text, got {type(value).__name__}", user_message="输入内容格式不正确")
    if len(value) > limit:
        raise BadInput(f"text of {len(value)} characters", user_message=f"输入内容过长（最多 {limit} 字）")
    return value.strip() if strip else value


def optional_text(value: Any) -> str | None:
    """A text input where '' means "none": the stripped string, or None."""
    return text(value) or None


def region(value: Any, default: str = "") -> str:
    """A region code input: None → ``default``; '' (the whole country) or 2/4/6/9/12/15
    digits. The message is the one of a malformed code (the pages' 404 panels know it)."""
    if value is not None and (not isinstance(value, str) or len(value) > 64):
        raise BadInput(f"region code {_shown(value)!r}", user_message=InvalidRegionCode(_shown(value)).user_message)
    code = default if value is None else value.strip()
    try:
        return check_region_code(code)
    except InvalidParameter as exc:
        raise BadInput(exc.detail, user_message=exc.user_message) from None


def choice(value: Any, allowed: Collection[str], default: str | None = None) -> str | None:
    """One of ``allowed`` (None / '' → ``default``); anything else is refused."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and value in allowed:
        return value
    raise BadInput(f"{_shown(value)!r} not in {sorted(allowed)[:8]}", user_message=f"选项不正确：{_shown(value)}")


def day(value: Any) -> dt.date:
    """A date input ('2026-11-20' or an ISO date-time): a real calendar date within
    FIRST_DAY … LAST_DAY; missing or anything else is refused."""
    if value is not None and (not isinstance(value, str) or len(value) > 40):
        raise BadInput(f"date {_shown(value)!r}", user_message=f"日期格式不正确：{_shown(value)}")
    try:
        d = parse_date(text(value))
    except InvalidParameter as exc:
        raise BadInput(exc.detail, user_message=exc.user_message) from None
    if not FIRST_DAY <= d <= LAST_DAY:
        raise BadInput(f"date {d} out of range", user_message=f"日期超出范围：{d.isoformat()}")
    return d


def optional_day(value: Any) -> dt.date | None:
    """:func:`day`, with None / '' → None."""
    return None if value is None or value == "" else day(value)


def integer(value: Any, default: int | None = None, *, lo: int = -MAX_INT, hi: int = MAX_INT) -> int | None:
    """A whole number between ``lo`` and ``hi``: an int, an integral float or ASCII digits
    (None / '' → ``default``); booleans, fractions, inf, NaN and other text are refused."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,16}\s*", value):
        value = int(value)
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadInput(f"not a whole number in [{lo}, {hi}]: {_shown(value)!r}", user_message="请输入有效的整数")
    return value


def counter(value: Any) -> int:
    """A counter kept in a store (n_clicks, change stamps): a non-negative int, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_INT else 0


def number(value: Any, default: float, *, lo: float, hi: float) -> float:
    """A finite number between ``lo`` and ``hi`` (None → ``default``)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise BadInput(f"not a number in [{lo}, {hi}]: {_shown(value)!r}", user_message="请求内容格式不正确")
    return float(value)


def ascii_token(value: Any) -> str:
    """A secret echoed by the page (the CSRF token): the string when it is ASCII text,
    else '' (which the check then refuses as a wrong token)."""
    return value if isinstance(value, str) and value.isascii() and len(value) <= 200 else ""


# ----------------------------------------------------------------------------- structures
def mapping(value: Any) -> dict[str, Any]:
    """A JSON object input (a store, a click): None → {}; anything else but an object is refused."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(f"expected an object, got {type(value).__name__}")
    return value


def records(value: Any) -> list[dict[str, Any]]:
    """Grid rows (rowData, selectedRows): None → []; a list of objects, else refused."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise BadInput(f"expected a list of rows, got {type(value).__name__}")
    return value


def first_row(value: Any) -> dict[str, Any] | None:
    """The first selected grid row (selectedRows), or None."""
    rows = records(value)
    return rows[0] if rows else None


def texts(value: Any) -> list[str]:
    """A multi-select value: None → []; a list of strings, else refused."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= MAX_TEXT for v in value):
        raise BadInput(f"expected a list of text, got {type(value).__name__}")
    return value


def field(obj: dict[str, Any], key: str) -> str:
    """A text or whole-number field of a row or click (codes, ids): as text; missing → ''."""
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value, limit=200)


def clicked_code(feature: Any) -> str:
    """The ``properties.code`` of a clicked map feature (dash-leaflet clickData), or ''."""
    return field(mapping(mapping(feature).get("properties")), "code")


def clicked_point(click: Any, key: str = "customdata") -> Any:
    """``key`` of the first clicked point of a plotly figure (clickData), or None."""
    points = mapping(click).get("points")
    if points is None or points == []:
        return None
    if not isinstance(points, list) or not isinstance(points[0], dict):
        raise BadInput(f"clickData points of type {type(points).__name__}")
    return points[0].get(key)


def export_name(params: Any) -> str:
    """The file name in a grid's csvExportParams ('' when there is none)."""
    return text(mapping(params).get("fileName"), limit=200)
