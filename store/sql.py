"""The one chokepoint through which every SQL text runs.

- parameters are always bound: SQL texts use ``%(name)s`` placeholders and values
  are escaped by clickhouse-driver's escaper (the same rendering for chDB and the
  server, so one SQL text serves both); a literal percent sign is written ``%%``;
- identifiers never come from parameters: callers pick them from allow-lists
  with :func:`ident`;
- every query and command has a name, is timed and logged (name / engine / ms / rows);
- driver errors arrive here already mapped to :mod:`domain.errors`.

Screen queries go through :func:`store.executor.run`, which puts the shared cache in
front of :func:`run_text`; DDL and background work use :func:`execute`.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal
from typing import Any, Iterable, Mapping

import pandas as pd

from store.engine import Engine
from domain.errors import InvalidParameter, JinjianError, QueryFailed

logger = logging.getLogger(__name__)

_SCALARS = (str, int, float, bool, Decimal, dt.date)


class _Context:
    """The minimal context clickhouse-driver's escaper needs (no server round trip)."""

    server_info = None
    client_settings = {"server_side_params": False, "strings_as_bytes": False,
                       "strings_encoding": "utf-8"}
    settings: dict[str, Any] = {}


def _prepare(value: Any, key: str) -> Any:
    if isinstance(value, dt.datetime):  # the escaper wants a server time zone for datetimes
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        if not items:
            raise QueryFailed(f"parameter {key!r} is an empty list (IN () is not valid SQL)")
        return tuple(_prepare(v, key) for v in items)
    raise QueryFailed(f"parameter {key!r} has unsupported type {type(value).__name__}")


def render(sql: str, params: Mapping[str, Any] | None = None) -> str:
    """Return ``sql`` with every ``%(name)s`` replaced by the escaped value."""
    from clickhouse_driver.util.escape import escape_params

    prepared = {k: _prepare(v, k) for k, v in (params or {}).items()}
    escaped = escape_params(prepared, _Context())
    try:
        return sql % escaped
    except KeyError as exc:
        raise QueryFailed(f"SQL placeholder {exc} has no parameter") from None
    except (TypeError, ValueError) as exc:
        raise QueryFailed(f"SQL text is not a valid template: {exc}") from None


def typed_array(name: str, n: int, fn: str = "toDate") -> str:
    """``[fn(%(name_0)s), …]`` for ``n`` parameters ``name_k``: an array of typed constants, so
    a lambda over it compares dates with dates instead of parsing a string for every row
    (a fifth of a stock query's time at 10 M, docs/scale.md). ``fn`` is ours, never input."""
    return "[" + ", ".join(f"{fn}(%({name}_{k})s)" for k in range(n)) + "]"


def ident(name: str, allowed: Iterable[str], what: str = "identifier") -> str:
    """Return ``name`` if it is one of ``allowed``; otherwise raise InvalidParameter."""
    allowed = tuple(allowed)
    if name not in allowed:
        raise InvalidParameter(f"unknown {what} {name!r}; allowed: {', '.join(allowed)}",
                               user_message=f"参数不正确：{what} 不支持 {name!r}")
    return name


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Same dtypes whichever engine answered: int64 (float64 when it holds NULLs),
    float64, datetime64[ns], str."""
    for col in df.columns:
        s = df[col]
        kind = s.dtype.kind
        if kind in "iu":
            df[col] = s.astype("float64") if s.hasnans else s.astype("int64")
        elif kind == "f":
            df[col] = s.astype("float64")
        elif kind == "M":
            df[col] = s.astype("datetime64[ns]")
        elif kind == "b":
            df[col] = s.astype("int64")
    return df


def run_text(db: Engine, name: str, text: str) -> pd.DataFrame:
    start = time.perf_counter()
    try:
        df = db.query(text)
    except JinjianError as exc:
        ms = (time.perf_counter() - start) * 1000
        logger.warning("query %s engine=%s ms=%.1f failed: %s", name, db.name, ms, exc.detail)
        raise
    ms = (time.perf_counter() - start) * 1000
    logger.info("query %s engine=%s ms=%.1f rows=%d", name, db.name, ms, len(df))
    logger.debug("query %s sql=%s", name, " ".join(text.split()))
    return _normalise(df)


def execute(db: Engine, name: str, sql: str, params: Mapping[str, Any] | None = None, bulk: bool = False) -> None:
    """Execute a named statement that returns no rows (DDL), logged like :func:`run`;
    ``bulk``: background work that may run for minutes (:meth:`Engine.bulk`)."""
    text = render(sql, params)
    start = time.perf_counter()
    (db.bulk if bulk else db.command)(text)
    logger.info("command %s engine=%s ms=%.1f", name, db.name, (time.perf_counter() - start) * 1000)
