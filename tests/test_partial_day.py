"""环比 and 同比 of a period that ends today compare like with like: today until now against
the previous period (and a year ago) until the same time of day — on both engines, each flow
indicator against its pandas oracle over the rows dated up to that moment."""
from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pandas as pd
import pytest

from indicators.catalogue import INDICATORS
from indicators.periods import Period, period_to_date, previous_period, year_ago
from queries.indicator_values import compute_with_comparisons
from store.filters import Filter
from tests.conftest import DEMO_END, DEMO_ROOT
from tests.oracle import ORACLES

NOW = dt.datetime.combine(DEMO_END, dt.time(11, 5))  # "now": DEMO_END at 11:05
#: Flow indicators over the event logs (events, task_events) and over the tasks' push and
#: closing times (the tasks table): the ones a time of day cuts.
FLOWS = [i for i in INDICATORS if i.comparable and i.kind == "flow" and i.id in ORACLES
         and {m.source for m in (i.numerator, i.denominator) if m is not None} <= {"events", "task_events", "tasks"}]


def _until(data, moment: dt.datetime):
    """The data set as it stood at ``moment``: event-log rows after it removed, tasks pushed
    after it not there yet, and tasks closed after it still open."""
    ts = pd.Timestamp(moment)
    tasks = data.tasks[pd.to_datetime(data.tasks["created_at"]) <= ts].copy()
    tasks.loc[pd.to_datetime(tasks["closed_at"]) > ts, "closed_at"] = pd.NaT
    return dataclasses.replace(data, events=data.events[data.events["event_time"] <= ts],
                               task_events=data.task_events[data.task_events["event_time"] <= ts], tasks=tasks)


def test_periods_ending_today_are_compared_until_now():
    day = period_to_date(NOW.date(), "day")
    assert previous_period(day, "day", NOW) == Period(DEMO_END - dt.timedelta(days=1),
                                                      DEMO_END - dt.timedelta(days=1), dt.time(11, 5))
    assert year_ago(day, NOW).until == dt.time(11, 5)
    month = period_to_date(NOW.date(), "month")
    assert previous_period(month, "month", NOW) == Period(dt.date(2026, 10, 1), dt.date(2026, 10, 20), dt.time(11, 5))
    # A period that has ended compares whole days; so does a stretch cut at the previous period's end.
    assert previous_period(day, "day", NOW + dt.timedelta(days=1)).until is None
    assert previous_period(Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31)), "month",
                           dt.datetime(2026, 3, 31, 11, 5)) == Period(dt.date(2026, 2, 1), dt.date(2026, 2, 28))


@pytest.mark.parametrize("grain", ["day", "month"])
def test_comparison_until_the_same_time_equals_oracle(demo_db, demo_data, grain):
    assert len(FLOWS) >= 8 and {"tasks_created", "tasks_closed", "avg_days_to_close"} <= {i.id for i in FLOWS}
    period = period_to_date(NOW.date(), grain)
    got = compute_with_comparisons(demo_db, FLOWS, Filter(region=DEMO_ROOT), period, grain,
                                   now=NOW).set_index("indicator_id")
    prev, ago = previous_period(period, grain, NOW), year_ago(period, NOW)
    at_prev = _until(demo_data, dt.datetime.combine(prev.end, NOW.time()))
    at_ago = _until(demo_data, dt.datetime.combine(ago.end, NOW.time()))
    changed = 0
    for ind in FLOWS:
        want_prev = float(ORACLES[ind.id](at_prev, DEMO_ROOT, prev.start, prev.end))
        want_ago = float(ORACLES[ind.id](at_ago, DEMO_ROOT, ago.start, ago.end))
        whole_prev = float(ORACLES[ind.id](demo_data, DEMO_ROOT, prev.start, prev.end))
        row = got.loc[ind.id]
        for label, have, want in (("prev", row["prev_value"], want_prev), ("yoy", row["yoy_value"], want_ago)):
            if math.isnan(want):
                assert math.isnan(have), (ind.id, label)
            else:
                assert have == pytest.approx(want, rel=1e-9, abs=1e-9), (ind.id, label, have, want)
        changed += not (want_prev == pytest.approx(whole_prev) or (math.isnan(want_prev) and math.isnan(whole_prev)))
    # The afternoon of the previous day matters: the cut changes several indicators.
    assert changed >= 3, changed
    new = got.loc["new_registrations"]
    assert new["mom"] == pytest.approx((new["value"] - new["prev_value"]) / new["prev_value"])
