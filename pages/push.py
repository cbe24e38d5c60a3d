"""推送时效 tables of /tasks (per child region, month to date) and /quality (per data
source, over the chosen dates), for the section that
``components.push_views.create_push_section`` draws. The pages declare the callbacks
(a page module is executed again for every app, so its callbacks register with each);
these functions do the work."""
from __future__ import annotations

import logging
from typing import Any

from dash import no_update

from auth import scope_root
from components.push_views import build_push_rows, push_note
from domain.errors import InvalidParameter, JinjianError
from indicators.periods import Period, period_to_date
from pages import inputs
from queries.push import push_timeliness, unit_names
from queries.regions import region_node
from settings import ConfigError
from store.db import get_db
from store.filters import Filter, RegionScope, check_region_code
from supervision.rules import TaskRules

logger = logging.getLogger(__name__)

RULES_MESSAGE = "任务督办规则配置不正确（推送时限等设置），请联系系统管理员"


def _table(code: str | None, period: Period, by: str) -> tuple[list[dict[str, Any]], str]:
    root = scope_root()
    code = inputs.text(code, limit=64) or root
    check_region_code(code)
    flt = Filter(region=code, scope=RegionScope(root))
    try:
        rules = TaskRules.from_env()
    except ConfigError as exc:
        raise InvalidParameter(f"task rules: {exc}", user_message=RULES_MESSAGE) from None
    db = get_db()
    node = region_node(db, flt.region, flt.scope)
    total = push_timeliness(db, flt, period, "total", rules)
    per = push_timeliness(db, flt, period, by, rules)
    return build_push_rows(per, unit_names(node, by)), push_note(total, period.start, period.end, rules.push_minutes)


def tasks_push(code: str | None, date: str | None) -> tuple[Any, str]:
    """推送时效 per child region, month to date."""
    try:
        return _table(code, period_to_date(inputs.day(date), "month"), "region")
    except JinjianError as exc:
        logger.warning("tasks push timeliness failed: %s", exc.detail)
        return no_update, exc.user_message


def quality_push(_n: int | None, code: str | None, start: str | None, end: str | None) -> tuple[Any, str]:
    """推送时效 per data source over the chosen dates: which source delivered late."""
    try:
        first, last = inputs.day(start), inputs.day(end)
        return _table(code, Period(*sorted((first, last))), "source")
    except JinjianError as exc:
        logger.warning("quality push timeliness failed: %s", exc.detail)
        return no_update, exc.user_message
