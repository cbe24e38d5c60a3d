"""A database of its own per engine for the 双随机 tests (tests/test_random_plans.py,
tests/test_page_random.py, the publication row of tests/test_route_roles.py): drawing plans
and entering results writes rows, and the shared demo database must keep exactly the demo's
rows (the indicator and wall oracles read the demo frames)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_test_engine  # at import: a later first import would move JINJIAN_DATA_DIR
from tests.ingestkit import load_demo

_DBS: dict[str, Any] = {}


def random_engine(kind: str, request: Any, demo_data: Any) -> Any:
    """The demo data loaded into database ``test_random`` of engine ``kind`` (once per session)."""
    if kind not in _DBS:
        db = make_test_engine(kind, request, "test_random")
        load_demo(db, demo_data)
        _DBS[kind] = db
    return _DBS[kind]


@pytest.fixture
def random_db(request, demo_db, demo_data):
    """The engine of ``demo_db``'s kind holding a copy of the demo data, free to write to."""
    return random_engine(demo_db.name, request, demo_data)


@pytest.fixture
def random_app(monkeypatch, random_db):
    """``random_db`` as the app's database, jurisdiction Dongguan (4419)."""
    from store import db as dbmod

    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    dbmod.set_db(random_db)
    yield random_db
    dbmod.set_db(None)


def stored_items(db: Any) -> Any:
    """Every row of ``random_items`` read back, less those of a draw whose plan was never stored
    (items are written first): the rows the oracles of tests/oracle_random.py take, filtered
    in pandas against the plans read back."""
    from store.executor import run

    items = run(db, "t_random_items_all", "SELECT * FROM random_items")
    plans = run(db, "t_random_plan_ids", "SELECT DISTINCT plan_id FROM random_plans")
    return items[items["plan_id"].isin(set(plans["plan_id"]))]
