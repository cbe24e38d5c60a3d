"""Every indicator's SQL agrees with an independent pandas oracle (tests/oracle.py).

On both engines (embedded chDB and a ClickHouse 18.16 server) holding the fixed
Dongguan data set, for the whole country, Dongguan and one town, over several
periods, and per child (the 36 towns of Dongguan) for one period. ``compute`` is
called once per (engine, region, period) for all indicators and cached; each
indicator is then compared separately so a failure names it.
"""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from domain.regions import load_region_table
from indicators.catalogue import INDICATORS
from queries.indicator_values import compute
from indicators.periods import Period
from store.filters import Filter
from tests.conftest import DEMO_END, DEMO_ROOT
from tests.oracle import ORACLES, events_in, oracle_by_child, oracle_value

IDS = [ind.id for ind in INDICATORS]
TOWN = "441900110"  # 常平镇
REGIONS = {"national": "", "dongguan": DEMO_ROOT, "town": TOWN}
ACTIVE_DAY = dt.date(2026, 11, 18)  # a Wednesday: registrations, events and tasks
PERIODS = {
    "month_to_date": Period(DEMO_END.replace(day=1), DEMO_END),
    "past_quarter": Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)),
    "active_day": Period(ACTIVE_DAY, ACTIVE_DAY),
    "quiet_month": Period(dt.date(2000, 1, 1), dt.date(2000, 1, 31)),  # stocks only, no flows
    "before_data": Period(dt.date(1980, 1, 1), dt.date(1980, 1, 31)),  # nothing at all
    "whole_history": Period(dt.date(1970, 1, 1), DEMO_END),
}
CHILD_PERIOD = "past_quarter"
#: Data-quality defects the demo generator never creates (every entity has
#: coordinates, every individual business an owner ID): these stay 0.
DEMO_NEVER_PRODUCES = {"missing_coordinates", "missing_owner_id_rate"}

_COMPUTED: dict[tuple[int, str, str, bool], pd.DataFrame] = {}
_ORACLE: dict[tuple[str, str, str], float] = {}


def _computed(db, region: str, period_name: str, by_child: bool = False) -> pd.DataFrame:
    """compute() for all indicators, indexed by (indicator_id, region_code); cached."""
    key = (id(db), region, period_name, by_child)
    if key not in _COMPUTED:
        out = compute(db, INDICATORS, Filter(region=region), PERIODS[period_name], by_child=by_child)
        _COMPUTED[key] = out.set_index(["indicator_id", "region_code"])
    return _COMPUTED[key]


def _oracle(data, indicator_id: str, region: str, period_name: str) -> float:
    key = (indicator_id, region, period_name)
    if key not in _ORACLE:
        p = PERIODS[period_name]
        _ORACLE[key] = oracle_value(data, indicator_id, region, p.start, p.end)
    return _ORACLE[key]


def same(a: float, b: float) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# ------------------------------------------------------------------ coverage


def test_every_indicator_has_an_oracle():
    missing = [i for i in IDS if i not in ORACLES]
    assert not missing, f"indicators without an oracle in tests/oracle.py: {missing}"


def test_no_oracle_for_unknown_indicators():
    unknown = sorted(set(ORACLES) - set(IDS))
    assert not unknown, f"oracles for indicators that are not in the catalogue: {unknown}"


# ------------------------------------------------------------------ the cases exercise something


def test_cases_cover_activity(demo_data):
    day = PERIODS["active_day"]
    assert len(events_in(demo_data, DEMO_ROOT, day.start, day.end, "registration")) > 0
    assert _oracle(demo_data, "tasks_created", DEMO_ROOT, "active_day") > 0
    assert _oracle(demo_data, "tasks_closed", DEMO_ROOT, "active_day") > 0
    assert _oracle(demo_data, "entity_stock", TOWN, "month_to_date") > 0
    quiet = PERIODS["quiet_month"]
    assert len(events_in(demo_data, "", quiet.start, quiet.end)) == 0
    assert _oracle(demo_data, "entity_stock", DEMO_ROOT, "quiet_month") > 0
    first = min(demo_data.entities["reg_date"].min(), demo_data.events["event_date"].min(),
                demo_data.tasks["created_at"].min())
    assert first.date() > PERIODS["before_data"].end


#: Data-quality indicators read ingestion batches; the generated demo has none.
DEMO_HAS_NO_BATCHES = {"data_records_in", "data_records_rejected", "data_accuracy_rate", "data_timeliness_rate",
                       "data_completeness_rate"}


@pytest.mark.parametrize("indicator_id", IDS)
def test_oracle_is_not_trivial(demo_data, indicator_id):
    """Over the whole history of Dongguan every indicator is a real number, and
    nonzero unless the demo data cannot produce it."""
    value = _oracle(demo_data, indicator_id, DEMO_ROOT, "whole_history")
    if indicator_id in DEMO_HAS_NO_BATCHES:  # tested with real batches in tests/test_quality.py
        assert value == 0 or math.isnan(value)
        return
    assert not math.isnan(value)
    if indicator_id not in DEMO_NEVER_PRODUCES:
        assert value != 0


@pytest.mark.parametrize("indicator_id", IDS)
def test_no_data_gives_zero_or_nan(demo_data, indicator_id):
    """Before any data: counts 0, ratios NaN (per-worker ratios 0: workers are current)."""
    value = _oracle(demo_data, indicator_id, DEMO_ROOT, "before_data")
    if indicator_id == "grid_workers":
        assert value > 0
    else:
        assert value == 0 or math.isnan(value)


# ------------------------------------------------------------------ SQL == oracle


@pytest.mark.parametrize("period_name", list(PERIODS))
@pytest.mark.parametrize("region_name", list(REGIONS))
@pytest.mark.parametrize("indicator_id", IDS)
def test_value_matches_oracle(demo_db, demo_data, indicator_id, region_name, period_name):
    region = REGIONS[region_name]
    row = _computed(demo_db, region, period_name).loc[(indicator_id, region)]
    expected = _oracle(demo_data, indicator_id, region, period_name)
    assert same(row["value"], expected), (
        f"{indicator_id} {region_name} {PERIODS[period_name]}: SQL {row['value']!r} "
        f"(numerator {row['numerator']!r}, denominator {row['denominator']!r}) != oracle {expected!r}")


def test_children_are_the_towns(demo_db):
    towns = load_region_table(DEMO_ROOT).query("level == 4")["code"].tolist()
    got = _computed(demo_db, DEMO_ROOT, CHILD_PERIOD, by_child=True)
    assert len(towns) == 36
    assert sorted(got.index.get_level_values("region_code").unique()) == sorted(towns)


@pytest.mark.parametrize("indicator_id", IDS)
def test_by_child_matches_oracle(demo_db, demo_data, indicator_id):
    table = _computed(demo_db, DEMO_ROOT, CHILD_PERIOD, by_child=True).loc[indicator_id]
    p = PERIODS[CHILD_PERIOD]
    expected = oracle_by_child(demo_data, indicator_id, list(table.index), p.start, p.end)
    wrong = {code: (table.loc[code, "value"], want) for code, want in expected.items()
             if not same(table.loc[code, "value"], want)}
    assert len(table) == 36
    assert not wrong, f"{indicator_id}: (SQL, oracle) per town that differ: {wrong}"
