"""The app shell: pages register, layouts do no database work, the home page
shows the query layer's numbers in a real browser."""
from __future__ import annotations

import datetime as dt

import dash
import pytest

from components.format import format_cn
from queries import db as dbmod
from queries.engine import Engine


class ExplodingEngine(Engine):
    name = "exploding"

    def __init__(self) -> None:
        super().__init__("x")

    def query(self, sql):  # pragma: no cover - must not be reached
        raise AssertionError(f"layout ran a query: {sql}")

    command = insert = query


def test_layouts_make_no_database_calls(monkeypatch):
    from app import create_app

    create_app()
    monkeypatch.setattr(dbmod, "_engine", ExplodingEngine())
    assert dash.page_registry
    for page in dash.page_registry.values():
        layout = page["layout"]
        tree = layout() if callable(layout) else layout
        assert tree is not None


def test_home_data_matches_pandas(demo_db, demo_data):
    from queries.overview import home_data

    today = dt.date(2026, 11, 20)
    data = home_data(demo_db, "4419", today)
    ent = demo_data.entities
    active = ent[ent["status"] == "active"]
    assert int(data["by_type"].sum()) == len(active)
    table = data["table"].set_index("child_code")
    exp = active.groupby(active["grid_code"].str[:9]).size()
    assert (table["active"].reindex(exp.index) == exp).all()
    assert table["all"].sum() == len(ent)
    ev = demo_data.events
    month = ev[(ev["event_date"] >= "2026-11-01") & (ev["event_date"] <= "2026-11-20")]
    assert int(data["flow"]["registered"].sum()) == (month["event_type"] == "registration").sum()


@pytest.mark.browser
def test_home_page_in_browser(dash_duo, monkeypatch, demo_db, demo_data):
    from app import create_app

    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    dbmod.set_db(demo_db)
    try:
        app = create_app()
        dash_duo.start_server(app)
        dash_duo.wait_for_contains_text("#home-region-name", "东莞市", timeout=30)
        active = int((demo_data.entities["status"] == "active").sum())
        dash_duo.wait_for_text_to_equal("#home-card-total-value", format_cn(active), timeout=30)
        value = dash_duo.find_element("#home-card-total-value")
        assert value.get_attribute("data-value") == f"{active:,}"
        dash_duo.wait_for_element(".ag-row", timeout=20)
        assert "下级区域市场主体" in dash_duo.find_element(".home-body").text
        logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
        assert logs == []
    finally:
        dbmod.set_db(None)
