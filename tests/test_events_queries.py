"""Live-display queries against an independent pandas computation, both engines."""
from __future__ import annotations

import pandas as pd

from queries.events import latest_event_time, recent_events
from queries.filters import Filter


def test_recent_events_equal_pandas(demo_db, demo_data):
    town = demo_data.entities["grid_code"].str[:9].value_counts().index[3]
    got = recent_events(demo_db, Filter(region=town), limit=15)
    ev = demo_data.events[demo_data.events["grid_code"].str.startswith(town)]
    exp = ev.sort_values(["event_time", "event_id"], ascending=False).head(15)
    assert got["event_id"].tolist() == exp["event_id"].tolist()
    names = demo_data.entities.set_index("credit_code")["name"]
    assert got["name"].tolist() == names.loc[exp["credit_code"]].tolist()
    assert got["event_type"].tolist() == exp["event_type"].tolist()


def test_latest_event_time(demo_db, demo_data):
    assert pd.Timestamp(latest_event_time(demo_db, Filter(region="4419"))) == demo_data.events["event_time"].max()
    assert latest_event_time(demo_db, Filter(region="4401")) is None  # no data outside Dongguan
