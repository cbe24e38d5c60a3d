"""名录列入与移出 through ingestion, on both engines (issue 29 item 2): a decision sets the
entity's list flag (the last one in time per list, within a batch too), is an event of the
list, and an exit of an entity not on that list is refused with its reason; a listing on the
serious-dishonesty list opens the 联合惩戒 case at once, timed from the decision (not from the
file's arrival), an exit repairs it, a history load opens none; every catalogue indicator
equals pandas over the rows read back."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from domain.workdays import add_workdays
from etl.joint import AUTO_BY
from indicators.catalogue import INDICATORS
from indicators.periods import Period
from queries.indicator_values import compute
from store.executor import run
from store.filters import Filter
from tests.ingestkit import IngestEnv, check_batch, ingest_db_fixture, to_csv
from tests.oracle import oracle_value
from tests.replicakit import close as _close, frames

env = ingest_db_fixture("lists")
EPOCH = pd.Timestamp("1970-01-01")


def _clean(env: IngestEnv, n: int) -> list[str]:
    """``n`` active entities on neither list that no other test used."""
    out = []
    while len(out) < n:
        code = env.entity().credit_code
        flags = run(env.db, "t_flags", "SELECT abnormal + dishonest AS f FROM entities WHERE credit_code = %(c)s",
                    {"c": code})
        if int(flags["f"].iloc[0]) == 0:
            out.append(code)
    return out


def _entities(env: IngestEnv, codes: list[str]) -> pd.DataFrame:
    return run(env.db, "t_list_entities", "SELECT credit_code, abnormal, dishonest FROM entities "
               "WHERE credit_code IN %(c)s", {"c": codes}).set_index("credit_code")


def _cases(env: IngestEnv, code: str) -> pd.DataFrame:
    c = run(env.db, "t_list_cases", "SELECT * FROM joint_cases WHERE credit_code = %(c)s", {"c": code})
    return c.sort_values("version").groupby("case_id").tail(1)


def test_decisions_set_flags_open_and_repair_cases(env: IngestEnv) -> None:
    a, b, c, d = _clean(env, 4)
    now = dt.datetime.now().replace(microsecond=0)
    listed_at = (now - dt.timedelta(days=2)).replace(hour=10, minute=0, second=0)
    rows = [env.event("credit_list", a, when=listed_at, list="严重违法失信名单"),
            env.event("credit_list", b, when=now - dt.timedelta(hours=1)),
            env.event("credit_list", c, when=now - dt.timedelta(hours=1), action="移出"),
            env.event("credit_list", d, when=now - dt.timedelta(hours=3)),
            env.event("credit_list", d, when=now - dt.timedelta(hours=2), action="移出")]
    res = env.load("credit_list", to_csv(rows), "名录列入移出-1.csv")
    check_batch(env, res, rows_in=5)
    assert [(p.field, p.code, p.reason) for p in res.problems] == [
        ("列入或移出", "bad_state", "该主体未列入经营异常名录，不能移出")]
    ents = _entities(env, [a, b, c, d])
    assert len(ents) == 4  # one row each: the new version replaced the old
    assert {k: (int(r.abnormal), int(r.dishonest)) for k, r in ents.iterrows()} == {
        a: (0, 1), b: (1, 0), c: (0, 0), d: (0, 0)}
    ev = run(env.db, "t_list_events", "SELECT credit_code, toString(event_type) AS t, detail FROM events "
             "WHERE batch_id = %(b)s ORDER BY credit_code, event_time", {"b": res.batch_id})
    assert sorted(zip(ev["credit_code"], ev["t"], ev["detail"])) == sorted([
        (a, "list_entry", "严重违法失信名单"), (b, "list_entry", "经营异常名录"),
        (d, "list_entry", "经营异常名录"), (d, "list_exit", "经营异常名录")])
    # the case, at once, from the decision's time
    cases = _cases(env, a)
    assert len(cases) == 1 and res.warnings == ["已按合作备忘录发起联合惩戒案件 1 件"]
    case = cases.iloc[0]
    assert (case["memo_id"], case["opened_by"], pd.Timestamp(case["opened_at"])) == (
        "dishonest", AUTO_BY, pd.Timestamp(listed_at))
    due = run(env.db, "t_list_due", "SELECT DISTINCT due_date FROM joint_actions WHERE case_id = %(c)s",
              {"c": case["case_id"]})
    day = pd.to_datetime([listed_at.date()]).to_numpy().astype("datetime64[D]")
    assert list(due["due_date"]) == [pd.Timestamp(add_workdays(day, 5)[0])]  # 5 working days from the listing
    assert all(_cases(env, x).empty for x in (b, c, d))
    # the same file again: nothing new
    again = env.load("credit_list", to_csv(rows), "名录列入移出-1.csv")
    assert again.already and len(_cases(env, a)) == 1
    # off the list: the case is repaired at the exit's time
    out_at = now - dt.timedelta(minutes=30)
    res = env.load("credit_list", to_csv([env.event("credit_list", a, when=out_at, list="严重违法失信名单",
                                                                action="移出")]), "名录列入移出-2.csv")
    check_batch(env, res, rows_in=1)
    assert res.warnings == ["已信用修复联合惩戒案件 1 件（移出严重违法失信名单）"]
    case = _cases(env, a).iloc[0]
    assert pd.Timestamp(case["closed_at"]) == pd.Timestamp(out_at) and case["closed_by"] == AUTO_BY
    assert int(_entities(env, [a]).loc[a, "dishonest"]) == 0
    # every indicator of the month, at the city and at a's town, equals pandas over the rows read back
    data, today = frames(env.db), dt.date.today()
    period = Period(today.replace(day=1), today)
    town = str(run(env.db, "t_town", "SELECT grid_code FROM entities WHERE credit_code = %(c)s",
                   {"c": a})["grid_code"].iloc[0])[:9]
    for region in ("4419", town):
        got = compute(env.db, INDICATORS, Filter(region=region), period).set_index("indicator_id")["value"]
        want = {i.id: oracle_value(data, i.id, region, period.start, period.end) for i in INDICATORS}
        wrong = {k: (got[k], v) for k, v in want.items() if not _close(got[k], v)}
        assert wrong == {}, (region, wrong)


def test_a_history_load_opens_no_case(env: IngestEnv) -> None:
    [e] = _clean(env, 1)
    res = env.load("credit_list", to_csv([env.event("credit_list", e, when=dt.datetime.now() - dt.timedelta(hours=5),
                                                    list="严重违法失信名单")]),
                   "名录列入移出-历史.csv", history=True)
    check_batch(env, res, rows_in=1)
    assert res.rows_loaded == 1
    assert int(_entities(env, [e]).loc[e, "dishonest"]) == 1 and res.warnings == [] and _cases(env, e).empty



def test_the_simulators_list_decisions_load(env: IngestEnv) -> None:
    """make run's live simulator sends list decisions too (1 in 100 of its events): they load."""
    from etl.ingest.simulator import MIX, Simulator
    from tests.ingestkit import to_jsonl

    assert abs(sum(MIX.values()) - 1) < 1e-9 and MIX["credit_list"] > 0
    sim = Simulator(env.ingestor(), "4419", rate=1.0, seed=7)
    stamp = (dt.datetime.now() - dt.timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    recs = [sim._event("credit_list", code, stamp) for code in _clean(env, 3)]
    res = env.load("credit_list", to_jsonl(recs), "模拟-名录.jsonl")
    check_batch(env, res, rows_in=3)
    assert res.rows_loaded == 3


def test_a_failed_hook_is_done_when_the_file_is_sent_again(env: IngestEnv, monkeypatch) -> None:
    """The batch stays loaded when opening the case fails, says so, and the same file sent
    again opens it (once)."""
    import etl.joint as joint

    [e] = _clean(env, 1)
    data = to_csv([env.event("credit_list", e, when=dt.datetime.now() - dt.timedelta(hours=4), list="严重违法失信名单")])
    real = joint.open_for_batch

    def broken(*a, **k):
        raise RuntimeError("lost in the middle")

    monkeypatch.setattr(joint, "open_for_batch", broken)
    res = env.load("credit_list", data, "名录列入移出-3.csv")
    check_batch(env, res, rows_in=1)
    assert res.warnings == ["联合惩戒案件未能自动发起或修复，请重新报送本批次或在联合惩戒页处理"] and _cases(env, e).empty
    monkeypatch.setattr(joint, "open_for_batch", real)
    again = env.load("credit_list", data, "名录列入移出-3.csv")
    assert again.already and again.warnings == ["已按合作备忘录发起联合惩戒案件 1 件"] and len(_cases(env, e)) == 1
    assert env.load("credit_list", data, "名录列入移出-3.csv").warnings == [] and len(_cases(env, e)) == 1


def test_an_exit_in_a_history_load_repairs_the_case_not_before_it_opened(env: IngestEnv) -> None:
    """Listed by a history load (no case), given a case by the sync button, then an exit dated
    before that arrives in a history load: the case closes, at its opening, not before."""
    from etl.joint import sync_dishonest
    from store.filters import RegionScope

    [e] = _clean(env, 1)
    now = dt.datetime.now().replace(microsecond=0)
    env.load("credit_list", to_csv([env.event("credit_list", e, when=now - dt.timedelta(days=3),
                                              list="严重违法失信名单")]), "名录列入移出-4.csv", history=True)
    assert _cases(env, e).empty
    grid = str(_grid(env, e))
    sync_dishonest(env.db, RegionScope(grid[:9]), "t", now)
    case = _cases(env, e).iloc[0]
    res = env.load("credit_list", to_csv([env.event("credit_list", e, when=now - dt.timedelta(days=2),
                                                    list="严重违法失信名单", action="移出")]),
                   "名录列入移出-5.csv", history=True)
    assert res.rows_loaded == 1 and res.warnings == ["已信用修复联合惩戒案件 1 件（移出严重违法失信名单）"]
    case = _cases(env, e).iloc[0]
    assert pd.Timestamp(case["closed_at"]) == pd.Timestamp(case["opened_at"]) == pd.Timestamp(now)
    assert int(_entities(env, [e]).loc[e, "dishonest"]) == 0


def test_a_decision_older_than_a_loaded_one_is_history(env: IngestEnv) -> None:
    """Feeds out of order: a decision older than the newest loaded one on that list is loaded
    as an event but changes neither the flag nor the case; its actions are entered at the load."""
    [e] = _clean(env, 1)
    listed_at = dt.datetime.now().replace(microsecond=0) - dt.timedelta(hours=6)
    env.load("credit_list", to_csv([env.event("credit_list", e, when=listed_at, list="严重违法失信名单")]),
             "名录列入移出-6.csv")
    case = _cases(env, e).iloc[0]
    actions = run(env.db, "t_list_actions", "SELECT entered_at FROM joint_actions WHERE case_id = %(c)s",
                  {"c": case["case_id"]})
    assert (actions["entered_at"] > pd.Timestamp(listed_at) + pd.Timedelta(hours=5)).all()  # entered at the load
    res = env.load("credit_list", to_csv([env.event("credit_list", e, when=listed_at - dt.timedelta(days=1),
                                                    list="严重违法失信名单", action="移出")]), "名录列入移出-7.csv")
    check_batch(env, res, rows_in=1)
    assert res.rows_loaded == 1 and res.warnings == []
    assert int(_entities(env, [e]).loc[e, "dishonest"]) == 1
    assert pd.Timestamp(_cases(env, e).iloc[0]["closed_at"]) == EPOCH  # still in force


def _grid(env: IngestEnv, code: str) -> str:
    return run(env.db, "t_grid", "SELECT grid_code FROM entities WHERE credit_code = %(c)s", {"c": code})["grid_code"].iloc[0]
