"""Rollups (store/rollups.py): the rollup tables equal pandas totals of the raw rows,
the stocks they give equal the raw definitions at several ends, every indicator
answered from a rollup equals the same indicator over the raw tables, and the
measures a rollup cannot answer keep reading the raw tables."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from store.rollup_tables import create_rollups, reconcile, verify
from store.rollups import FAMILIES, LEVELS, family_for, level_for, rewrite
from indicators.catalogue import CATALOGUE
from queries.indicator_plan import plan as _plan
from queries.indicator_values import compute
from indicators.periods import Period, period_to_date
from store.executor import run
from store.sql import execute
from store.filters import Filter
from tests.conftest import DEMO_END
from tests.rollupkit import mismatches, stock_mismatches

ROLLED = [i for i in CATALOGUE.values()
          if any(m is not None and family_for(m.source) for m in (i.numerator, i.denominator))]


def test_rewrite_keeps_meaning_or_declines() -> None:
    stock = CATALOGUE["entity_stock"].numerator.expr
    assert rewrite("entities", stock) == "sumIf(d, 1 AND 1)"
    capital = next(i for i in CATALOGUE.values() if "sumIf(capital" in i.numerator.expr).numerator.expr
    assert rewrite("entities", capital) == "round(sumIf(capital, 1 AND entity_type = 'enterprise'), 6)"
    assert rewrite("entities", CATALOGUE["abnormal_rate"].numerator.expr) == "sumIf(d, 1 AND abnormal = 1)"
    assert rewrite("events", "countIf(event_type = 'penalty')") == "sumIf(n, event_type = 'penalty')"
    assert rewrite("events", "sumIf(amount, event_type = 'penalty') / 10000") == \
        "sumIf(amount, event_type = 'penalty') / 10000"
    assert rewrite("events", "countIf(event_type IN ('cancellation', 'revocation'))") == \
        "sumIf(n, event_type IN ('cancellation', 'revocation'))"
    assert rewrite("task_asof", CATALOGUE["overdue_mild"].numerator.expr) == \
        "sumIf(d, status != 'closed' AND due_date < %(end)s AND due_date >= %(mild_from)s)"
    for expr in ("uniqExactIf(batch_no, event_type = 'sampling')",  # distinct count: not additive
                 "avg(amount)", "max(event_date)",                    # not additive
                 "countIf(source = 'x')",                             # a column the rollup does not keep
                 "countIf(event_type = 'registration' AND credit_code = '1')",
                 "countIf(industry = 'F')"):                          # events keep no industry
        assert rewrite("events", expr) is None, expr
    assert rewrite("entities", "countIf(lon = 0)") is None
    assert rewrite("entities", "countIf(abnormal = 1)") is None  # not a count of entities alive at the end
    assert rewrite("task_asof", "countIf(dept_id = '4419-01')") is None
    assert rewrite("tasks", "countIf(1)") is None


def test_level_for() -> None:
    assert level_for("", 2) == "city" and level_for("44", 4) == "city"
    assert level_for("4419", 6) == "county" and level_for("441900", 9) == "town"
    assert level_for("441900003", None) == "town"
    assert level_for("441900003", 12) is None and level_for("441900003001", 15) is None


def test_rollup_tables_equal_pandas_totals(demo_db) -> None:
    assert mismatches(demo_db) == []
    assert set(verify(demo_db).values()) == {0}


def test_stocks_equal_the_raw_definitions(demo_db) -> None:
    ends = [DEMO_END, DEMO_END - dt.timedelta(days=40), dt.date(2025, 6, 30), DEMO_END - dt.timedelta(days=700)]
    assert stock_mismatches(demo_db, ends) == []


def test_what_screens_read_is_smaller_than_raw(demo_db) -> None:
    """Flows read the day tables; stocks read the totals (and only the changes after
    the end from the day tables, which hold one row per change at most). Sizes as merges
    leave them: one row per key, none whose sums are all zero."""
    def size(f, table: str, with_date: bool) -> int:
        key = ", ".join(f.key(with_date))
        having = " OR ".join(f"sum({s}) != 0" for s in f.sums)
        return int(run(demo_db, "t", f"SELECT count() AS n FROM (SELECT {key} FROM {table} GROUP BY {key} "
                       f"HAVING {having})")["n"].iloc[0])

    for f in FAMILIES.values():
        raw = int(run(demo_db, "t", f"SELECT count() AS n FROM {f.source}")["n"].iloc[0])
        for level in LEVELS:
            day = size(f, f.table(level), True)
            if f.stock:
                assert 0 < size(f, f.total(level), False) < raw / 5, (f.total(level), raw)
                assert 0 < day <= 2 * raw
            else:
                assert 0 < day < raw, (f.table(level), raw)


def _regions(db) -> list[str]:
    """The jurisdiction, its county, a town, a village and a grid of the demo data (each
    rollup level and the raw fallback)."""
    grid = str(run(db, "t", "SELECT min(grid_code) AS g FROM events WHERE grid_code LIKE '4419%%'")["g"].iloc[0])
    return ["4419", grid[:6], grid[:9], grid[:12], grid]


PERIODS = [period_to_date(DEMO_END, "day"), period_to_date(DEMO_END, "month"),
           period_to_date(DEMO_END, "year"), Period(dt.date(2025, 4, 1), dt.date(2025, 6, 30)),
           Period(dt.date(2019, 1, 1), dt.date(2019, 12, 31))]


@pytest.mark.parametrize("by_child", [False, True])
def test_every_rolled_indicator_equals_raw(demo_db, monkeypatch, by_child) -> None:
    """All indicators with a rollup-backed measure, at five depths and five periods:
    the values with JINJIAN_ROLLUPS=1 equal those with JINJIAN_ROLLUPS=0."""
    compared = 0
    for region in _regions(demo_db):
        for period in PERIODS:
            flt = Filter(region=region)
            monkeypatch.setenv("JINJIAN_ROLLUPS", "1")
            fast = compute(demo_db, ROLLED, flt, period, by_child=by_child)
            monkeypatch.setenv("JINJIAN_ROLLUPS", "0")
            slow = compute(demo_db, ROLLED, flt, period, by_child=by_child)
            pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-9,
                                          obj=f"{region} {period} by_child={by_child}")
            compared += int(fast["numerator"].notna().sum())
    assert compared > len(ROLLED) * 8


def test_rollups_are_really_used() -> None:
    used = {f.measure_source: 0 for f in FAMILIES.values()}
    for ind in ROLLED:
        for m in (ind.numerator, ind.denominator):
            if m is not None and family_for(m.source):
                used[m.source] += any(q.name.startswith("indicators_rollup_") for q in _plan(m.source, [m], "town"))
    assert used["events"] >= 25 and used["entities"] >= 20 and used["task_asof"] >= 6, used
    assert [q.name for q in _plan("events", [CATALOGUE["failed_batches"].numerator], "town")] == ["indicators_events"]
    assert [q.name for q in _plan("events", [CATALOGUE["new_registrations"].numerator], None)] == \
        ["indicators_events"]
    stock = _plan("task_asof", [CATALOGUE["tasks_overdue"].numerator], "city")
    assert [q.name for q in stock] == ["indicators_rollup_tasks_city"]
    assert "rollup_tasks_city_total" in stock[0].from_item and "day > %(end)s" in stock[0].from_item


def test_reconcile_of_a_consistent_rollup_inserts_nothing(demo_db) -> None:
    grids = run(demo_db, "t", "SELECT DISTINCT grid_code FROM entities WHERE grid_code LIKE '441900003%%'")
    for table in ("events", "entities", "task_events"):
        assert reconcile(demo_db, table, grids["grid_code"]) == 0
    assert set(LEVELS) == {"city", "county", "town"}


@pytest.fixture(params=["chdb", "server"])
def scratch_db(request, demo_data):
    """A database of its own holding the fact tables of the fixed data set."""
    from etl.load import load_tables
    from store.schema import drop_data_tables, init_schema
    from tests.conftest import make_test_engine

    db = make_test_engine(request.param, request, "test_rollup_rebuild")
    drop_data_tables(db)
    init_schema(db)
    load_tables(db, {t: f for t, f in demo_data.tables().items() if t in ("entities", "events", "task_events")})
    return db


def _table_names(db) -> set[str]:
    return set(run(db, "t", "SELECT name FROM system.tables WHERE database = %(d)s", {"d": db.database})["name"])


def test_create_rollups_is_idempotent_and_rebuilds_what_changed(scratch_db) -> None:
    """A second init builds nothing; a rollup table with other columns (an older version)
    and a table of a retired design are replaced, and the rebuilt rollup is exact again."""
    db = scratch_db
    assert create_rollups(db) == []
    execute(db, "t", "DROP TABLE mv_rollup_events_city")
    execute(db, "t", "DROP TABLE rollup_events_city")
    execute(db, "t", "CREATE TABLE rollup_events_city (event_date Date, grid_code String, n Int64) "
            "ENGINE = SummingMergeTree ORDER BY (event_date, grid_code)")
    execute(db, "t", "CREATE TABLE rollup_events_grid (event_date Date, n Int64) ENGINE = SummingMergeTree "
            "ORDER BY event_date")
    assert create_rollups(db) == ["events"]
    names = _table_names(db)
    assert "rollup_events_grid" not in names and "mv_rollup_events_city" in names
    # Same columns, another sorting key (an older version): rebuilt too.
    execute(db, "t", "DROP TABLE mv_rollup_tasks_town")
    execute(db, "t", "DROP TABLE rollup_tasks_town")
    execute(db, "t", "CREATE TABLE rollup_tasks_town ENGINE = SummingMergeTree ORDER BY (grid_code, day) "
            "AS SELECT * FROM rollup_tasks_county WHERE 0")
    assert create_rollups(db) == ["tasks"]
    assert mismatches(db) == []


def test_a_failed_backfill_leaves_the_family_to_be_built_again(scratch_db, monkeypatch) -> None:
    """A backfill that fails (say at the server's memory limit) drops the family's
    half-filled tables, so the next init builds it instead of taking it as current."""
    import store.rollup_tables as rollups
    from domain.errors import QueryFailed

    db = scratch_db
    real = rollups.execute

    def failing(engine, name, sql, *args, **kwargs):
        if name == "backfill_rollup_tasks_county":
            raise QueryFailed("Memory limit (for query) exceeded")
        return real(engine, name, sql, *args, **kwargs)

    execute(db, "t", "DROP TABLE rollup_tasks_town")  # makes the family out of date
    monkeypatch.setattr(rollups, "execute", failing)
    with pytest.raises(QueryFailed):
        create_rollups(db)
    names = _table_names(db)
    assert not {t for t in FAMILIES["tasks"].tables()} & names
    assert "rollup_entities_town" in names  # other families untouched
    monkeypatch.setattr(rollups, "execute", real)
    assert create_rollups(db) == ["tasks"]
    assert mismatches(db) == []


def test_batch_index_holds_every_sampling_record(scratch_db) -> None:
    """sampling_batches and sampling_regions equal the sampling rows of events,
    sampling_failures the failed ones; init keeps a current index and rebuilds one made without its small granules."""
    from store import batch_index

    db = scratch_db
    want = run(db, "t", "SELECT batch_no, credit_code, event_id FROM events WHERE event_type = 'sampling' "
               "ORDER BY event_id")
    have = run(db, "t", "SELECT batch_no, credit_code, event_id FROM sampling_batches ORDER BY event_id")
    assert len(want) > 100 and want.equals(have)
    assert batch_index.create(db) == []
    execute(db, "t", "DROP TABLE mv_sampling_batches")
    execute(db, "t", "DROP TABLE sampling_batches")
    execute(db, "t", "CREATE TABLE sampling_batches ENGINE = MergeTree ORDER BY batch_no AS "
            "SELECT batch_no, grid_code, credit_code, event_date, event_id, result, batch_id FROM events WHERE 0")
    execute(db, "t", "CREATE MATERIALIZED VIEW mv_sampling_batches TO sampling_batches AS SELECT batch_no, "
            "grid_code, credit_code, event_date, event_id, result, batch_id FROM events WHERE event_type = 'sampling'")
    assert batch_index.create(db) == ["sampling_batches"]
    fails = run(db, "t", "SELECT batch_no, event_id FROM events WHERE event_type = 'sampling' AND result = 'fail' "
                "ORDER BY event_id")
    assert len(fails) > 10 and fails.equals(run(db, "t", "SELECT batch_no, event_id FROM sampling_failures "
                                                "ORDER BY event_id"))
    by_region = run(db, "t", "SELECT batch_no, credit_code, event_id FROM sampling_regions ORDER BY event_id")
    assert by_region.equals(want)
    assert run(db, "t", "SELECT batch_no, credit_code, event_id FROM sampling_batches ORDER BY event_id").equals(want)


def test_check_finds_each_difference_chunk_by_chunk_and_repair_ends_them(scratch_db) -> None:
    """``python -m etl rollups --check`` compares region chunks (bounded memory at any
    scale): rows slipped into one level's table are found in that table only, whatever the
    chunk size; ``--repair`` adds the differences back and the tables equal pandas again."""
    db = scratch_db
    town = run(db, "t", "SELECT any(grid_code) AS g FROM rollup_events_town")["g"].iloc[0]
    bad = pd.DataFrame({"event_date": [DEMO_END, DEMO_END], "grid_code": [town[:6], town[:6]],
                        "event_type": ["penalty", "inspection"], "entity_type": ["enterprise"] * 2,
                        "detail": ["x", "y"], "result": ["none", "pass"], "n": [3, 1], "amount": [5.0, 0.0]})
    db.insert("rollup_events_county", bad)
    total = run(db, "t", "SELECT * FROM rollup_tasks_town_total LIMIT 1")
    db.insert("rollup_tasks_town_total", total.assign(d=total["d"] + 7))
    expected = {t: 0 for t in (f for fam in FAMILIES.values() for f in fam.tables())}
    expected.update({"rollup_events_county": 2, "rollup_tasks_town_total": 1})
    from store.rollup_tables import _verify_chunks

    assert len(_verify_chunks(db, FAMILIES["events"], "rollup_events_county", 400)) > 3  # many chunks, months apart
    assert verify(db, chunk_rows=400) == expected
    assert verify(db) == expected
    assert verify(db, chunk_rows=400, repair=True) == expected
    assert set(verify(db).values()) == {0}
    assert mismatches(db) == []
