"""Entity list and entity profile: the queries behind ``/api/v1/entities``.

Pure functions: a typed filter in, DataFrames out, every SQL text through
:func:`store.executor.run`. Every query is limited to the filter's region
(which :class:`store.filters.Filter` has already checked against its scope)
by ``grid_code LIKE``; every value is bound; the only identifiers are the
column lists below. ``owner_id`` (an individual's ID-card number) and an individual owner's
name leave this module unmasked only for roles allowed personal data (``pii``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from domain.codes import ENTITY_STATUSES, ENTITY_TYPES
from store.engine import Engine
from domain.errors import InvalidParameter
from store.executor import run
from store.sql import ident
from store.filters import Filter

logger = logging.getLogger(__name__)

#: GB/T 4754-2017 sections (门类) A–T.
INDUSTRY_SECTIONS = tuple("ABCDEFGHIJKLMNOPQRST")
MAX_PAGE_SIZE = 500
MAX_NAME_QUERY = 50
#: How many of an entity's events / tasks a profile holds (newest first).
PROFILE_ROWS = 200

LIST_COLUMNS = ["credit_code", "name", "entity_type", "industry", "grid_code", "reg_date", "status",
                "credit_grade", "abnormal", "dishonest"]
_LIST_SELECT = """credit_code, name, toString(entity_type) AS entity_type, industry, grid_code,
       reg_date, toString(status) AS status, toString(credit_grade) AS credit_grade,
       abnormal, dishonest"""
_PROFILE_SELECT = _LIST_SELECT + """, status_date, legal_rep, owner_id, capital, lon, lat"""
_EVENT_SELECT = """event_id, event_time, event_date, toString(event_type) AS event_type, detail,
       toString(result) AS result, amount, batch_no, dept_id, source"""
_TASK_SELECT = """task_id, toString(task_type) AS task_type, dept_id, created_at, due_date,
       toString(status) AS status, closed_at, problem_found"""


def _allowed(value: str | None, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        raise InvalidParameter(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}",
                               user_message=f"参数不正确：{what} 不支持 {value!r}")


@dataclass(frozen=True)
class EntityFilter:
    """Which entities to list: the region (within its scope) plus optional
    equality filters and a substring of the name."""

    base: Filter
    entity_type: str | None = None
    status: str | None = None
    industry: str | None = None
    name_contains: str | None = None

    def __post_init__(self) -> None:
        _allowed(self.entity_type, ENTITY_TYPES, "entity_type")
        _allowed(self.status, ENTITY_STATUSES, "status")
        _allowed(self.industry, INDUSTRY_SECTIONS, "industry")
        if self.name_contains is not None and len(self.name_contains) > MAX_NAME_QUERY:
            raise InvalidParameter(f"name query longer than {MAX_NAME_QUERY} characters",
                                   user_message=f"名称关键词不能超过 {MAX_NAME_QUERY} 个字符")

    def where(self) -> tuple[str, dict[str, object]]:
        """The WHERE clause (bound placeholders only) and its parameters."""
        parts = ["grid_code LIKE %(like)s"]
        params: dict[str, object] = {"like": self.base.like}
        for col in ("entity_type", "status", "industry"):
            value = getattr(self, col)
            if value is not None:
                parts.append(f"{col} = %({col})s")
                params[col] = value
        if self.name_contains:
            parts.append("positionUTF8(name, %(q)s) > 0")
            params["q"] = self.name_contains
        return " AND ".join(parts), params


@dataclass(frozen=True)
class EntityPage:
    total: int
    page: int
    page_size: int
    rows: pd.DataFrame  # LIST_COLUMNS, ordered by credit_code

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def check_page(page: int, page_size: int) -> None:
    if page < 1:
        raise InvalidParameter(f"page {page} < 1", user_message="页码必须从 1 开始")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidParameter(f"page_size {page_size} not in 1..{MAX_PAGE_SIZE}",
                               user_message=f"每页条数应在 1–{MAX_PAGE_SIZE} 之间")


def entity_count(db: Engine, flt: EntityFilter) -> int:
    where, params = flt.where()
    df = run(db, "entity_list_count", f"SELECT count() AS n FROM entities WHERE {where}", params)
    return int(df["n"].iloc[0])


def entity_list(db: Engine, flt: EntityFilter, page: int = 1, page_size: int = 50) -> EntityPage:
    """One page of the entities matching ``flt``, ordered by credit code.

    A page past the last one comes back with no rows (callers decide whether
    that is an error); ``total`` counts every match.
    """
    check_page(page, page_size)
    total = entity_count(db, flt)
    offset = (page - 1) * page_size
    if offset >= total:
        rows = pd.DataFrame({c: pd.Series(dtype=object) for c in LIST_COLUMNS})
        return EntityPage(total, page, page_size, rows)
    where, params = flt.where()
    rows = run(db, "entity_list_page", f"""
        SELECT {_LIST_SELECT}
        FROM entities WHERE {where}
        ORDER BY credit_code
        LIMIT %(offset)s, %(limit)s""", {**params, "offset": offset, "limit": page_size})
    return EntityPage(total, page, page_size, rows[LIST_COLUMNS].reset_index(drop=True))


def mask_id(value: str) -> str:
    """An ID number as first 6 + ``********`` + last 4 ('' stays '')."""
    if not value:
        return ""
    if len(value) <= 10:
        return "*" * 8
    return f"{value[:6]}********{value[-4:]}"


def mask_name(value: str) -> str:
    """A person's name as its first character + one ``*`` per further character."""
    value = value.strip()
    return value[:1] + "*" * (len(value) - 1) if value else ""


def mask_personal(row: dict[str, object], pii: bool) -> dict[str, object]:
    """An entity row as a viewer sees it: an individual business owner's name and ID
    number masked unless ``pii`` (the role may see personal data); an enterprise's
    legal representative is public (公示) and is shown."""
    out = dict(row)
    if pii:
        return out
    out["owner_id"] = mask_id(str(out.get("owner_id") or ""))
    if out.get("entity_type") == "individual":
        out["legal_rep"] = mask_name(str(out.get("legal_rep") or ""))
    return out


@dataclass(frozen=True)
class EntityProfile:
    entity: dict[str, object]  # one row of the entities table, personal data masked unless pii
    events: pd.DataFrame       # newest first, at most PROFILE_ROWS
    events_total: int
    tasks: pd.DataFrame        # newest first, at most PROFILE_ROWS
    tasks_total: int


def entity_grid(db: Engine, credit_code: str) -> str | None:
    """The grid of entity ``credit_code`` anywhere in the country, or None. Used only to
    decide access (a profile outside the viewer's scope is refused, not looked up)."""
    found = run(db, "entity_grid", "SELECT grid_code FROM entities WHERE credit_code = %(code)s LIMIT 1",
                {"code": credit_code})
    return None if found.empty else str(found["grid_code"].iloc[0])


def entity_profile(db: Engine, flt: Filter, credit_code: str, pii: bool = False) -> EntityProfile | None:
    """The entity ``credit_code`` inside ``flt.region`` with its latest events and
    tasks, or None when there is no such entity in the region. Personal data of an
    individual business is masked unless ``pii`` (see :func:`mask_personal`)."""
    params = {"like": flt.like, "code": credit_code, "limit": PROFILE_ROWS}
    ent = run(db, "entity_profile", f"""
        SELECT {_PROFILE_SELECT} FROM entities
        WHERE grid_code LIKE %(like)s AND credit_code = %(code)s
        ORDER BY grid_code LIMIT 1""", params)
    if ent.empty:
        return None
    row = mask_personal(ent.iloc[0].to_dict(), pii)
    events = run(db, "entity_events", f"""
        SELECT {_EVENT_SELECT} FROM events
        WHERE grid_code LIKE %(like)s AND credit_code = %(code)s
        ORDER BY event_time DESC, event_id DESC
        LIMIT %(limit)s""", params)
    tasks = run(db, "entity_tasks", f"""
        SELECT {_TASK_SELECT} FROM tasks
        WHERE grid_code LIKE %(like)s AND credit_code = %(code)s
        ORDER BY created_at DESC, task_id DESC
        LIMIT %(limit)s""", params)
    # Count only when the newest PROFILE_ROWS did not hold everything.
    n_events = len(events) if len(events) < PROFILE_ROWS else _count(db, "events", params)
    n_tasks = len(tasks) if len(tasks) < PROFILE_ROWS else _count(db, "tasks", params)
    return EntityProfile(row, events.reset_index(drop=True), n_events, tasks.reset_index(drop=True), n_tasks)


def _count(db: Engine, table: str, params: dict[str, object]) -> int:
    table = ident(table, ("events", "tasks"), "table")
    df = run(db, f"entity_{table}_count",
             f"SELECT count() AS n FROM {table} WHERE grid_code LIKE %(like)s AND credit_code = %(code)s",
             params)
    return int(df["n"].iloc[0])


__all__ = ["EntityFilter", "EntityPage", "EntityProfile", "entity_list", "entity_count", "entity_profile",
           "mask_id", "mask_name", "mask_personal", "entity_grid", "check_page", "INDUSTRY_SECTIONS", "MAX_PAGE_SIZE", "PROFILE_ROWS", "LIST_COLUMNS"]
