"""The app shell: pages register, layouts do no database work, the home page
shows the query layer's numbers in a real browser."""
from __future__ import annotations

import datetime as dt

import dash
import pandas as pd
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
    end = pd.Timestamp(today)
    alive = ent[(ent["reg_date"] <= end) & ((ent["status"] == "active") | (ent["status_date"] > end))]
    cards = data["cards"]["value"]
    assert cards["entity_stock"] == len(alive)
    assert cards["enterprise_stock"] == (alive["entity_type"] == "enterprise").sum()
    table = data["table"].set_index("child_code")
    exp = alive.groupby(alive["grid_code"].str[:9]).size()
    assert len(table) == 36 and (table["entity_stock"].reindex(exp.index) == exp).all()
    ev = demo_data.events
    month = ev[(ev["event_date"] >= "2026-11-01") & (ev["event_date"] <= "2026-11-20")]
    assert cards["new_registrations"] == (month["event_type"] == "registration").sum()
    assert cards["cancellations"] == (month["event_type"] == "cancellation").sum()
    prev = ev[(ev["event_date"] >= "2026-10-01") & (ev["event_date"] <= "2026-10-20")]
    n_prev = (prev["event_type"] == "registration").sum()
    assert data["cards"].loc["new_registrations", "mom"] == pytest.approx(
        (cards["new_registrations"] - n_prev) / n_prev)


@pytest.mark.browser
def test_home_page_in_browser(dash_duo, monkeypatch, demo_db, demo_data):
    from app import create_app

    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    dbmod.set_db(demo_db)
    try:
        app = create_app()
        dash_duo.start_server(app)
        dash_duo.wait_for_contains_text("#home-region-name", "东莞市", timeout=30)
        ent = demo_data.entities
        today = pd.Timestamp(dt.date.today())
        alive = int(((ent["reg_date"] <= today) & ((ent["status"] == "active")
                                                    | (ent["status_date"] > today))).sum())
        dash_duo.wait_for_text_to_equal("#home-card-total-value", format_cn(alive), timeout=30)
        value = dash_duo.find_element("#home-card-total-value")
        assert value.get_attribute("data-value") == f"{alive:,}"
        dash_duo.wait_for_element(".ag-row", timeout=20)
        assert "下级区域市场主体" in dash_duo.find_element(".home-body").text
        logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
        assert logs == []
    finally:
        dbmod.set_db(None)
