"""Live-display queries against an independent pandas computation, both engines."""
from __future__ import annotations

import datetime as dt

import pytest

from queries.events import recent_events
from store.filters import Filter
from tests.conftest import DEMO_END

#: No bound, recent bounds (enough events after them for the city, not for a town), bounds after
#: every event (the next wider search finds them, or only the whole log): the answer is the same.
SINCE = [None, DEMO_END - dt.timedelta(days=7), DEMO_END - dt.timedelta(days=1), DEMO_END + dt.timedelta(days=1),
         DEMO_END + dt.timedelta(days=40)]


@pytest.mark.parametrize("since", SINCE)
def test_recent_events_equal_pandas(demo_db, demo_data, since):
    town = demo_data.entities["grid_code"].str[:9].value_counts().index[3]
    names = demo_data.entities.set_index("credit_code")["name"]
    for region in (town, "4419"):
        got = recent_events(demo_db, Filter(region=region), limit=15, since=since)
        ev = demo_data.events[demo_data.events["grid_code"].str.startswith(region)]
        exp = ev.sort_values(["event_time", "event_id"], ascending=False).head(15)
        assert got["event_id"].tolist() == exp["event_id"].tolist()
        assert got["name"].tolist() == names.loc[exp["credit_code"]].tolist()
        assert got["event_type"].tolist() == exp["event_type"].tolist()
