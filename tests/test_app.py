"""The app shell: pages register, layouts do no database work, the home page
shows the query layer's numbers in a real browser."""
from __future__ import annotations

import datetime as dt

import dash
import pandas as pd
import pytest

from components.format import format_cn
from store import db as dbmod
from store.engine import Engine


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
