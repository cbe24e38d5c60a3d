"""双随机一公开 plans on both engines (etl/random_checks.py, queries/random_checks.py): a plan
drawn from the demo data's pool is the hash lottery redone by hand with pandas and hashlib
over the entities read back; two inspectors of the department's roster per firm, never one
sent to the same firm within the avoidance period; results entered, the newest counting;
and the figures (completion, overdue, problem rate by credit class) equal to pandas over the
items read back. Refusals name their reason and write nothing."""
from __future__ import annotations

import datetime as dt
import hashlib
import math

import pandas as pd
import pytest

from domain.errors import InvalidParameter, ScopeViolation
from etl.random_checks import ItemNotFound, PlanRefused, PlanSpec, draw_plan, record_result
from queries import random_checks as q
from store.executor import run
from store.filters import RegionScope
from supervision.double_random import NotEnoughInspectors, pool_fingerprint
from tests.oracle_random import asof_rows, random_figures
from tests.randomkit import random_db, stored_items  # noqa: F401 - the fixture

TOWN = "441900003"
CITY = RegionScope("4419")
RATIOS = {"A": 0.03, "B": 0.05, "C": 0.1, "D": 1.0}
NOW = dt.datetime(2026, 11, 20, 10, 0, 0)


def _dept(db, region: str) -> str:
    df = run(db, "t_random_dept", "SELECT dept_id FROM departments WHERE region_code = %(r)s "
             "AND kind = 'market_regulator'", {"r": region})
    return str(df["dept_id"].iloc[0])


def _spec(db, city: bool = False, **kw) -> PlanSpec:
    """A plan of the town; ``city``: drawn by the city bureau (another roster: the town office's
    inspectors are not used up by avoidance over the many plans of one test session)."""
    base = dict(name="2026年第四季度日常监督检查", dept_id=_dept(db, "4419" if city else TOWN), region=TOWN,
                start=dt.date(2026, 11, 1), end=dt.date(2026, 12, 31))
    return PlanSpec(**{**base, **kw})


def _items(db, plan_id: str) -> pd.DataFrame:
    """The plan's rows read back as stored (every version), newest version per firm."""
    df = run(db, "t_random_items", "SELECT plan_id, credit_code, credit_class, rank, grid_code, inspector_1, "
             "inspector_2, due_date, toString(result) AS result, result_at, version FROM random_items "
             "WHERE plan_id = %(p)s", {"p": plan_id})
    return df.sort_values("version").groupby("credit_code").tail(1).set_index("credit_code")


def test_a_drawn_plan_is_the_lottery_redone_by_hand(random_db):
    db = random_db
    plan_id = draw_plan(db, _spec(db, industries=("F", "H")), CITY, by="tester", seed=424242, ratios=RATIOS, now=NOW)
    ents = run(db, "t_random_ents", "SELECT credit_code, toString(credit_grade) AS g, industry, grid_code, reg_date, "
               "toString(status) AS status, status_date FROM entities")
    day = pd.Timestamp(NOW.date())
    alive = (ents["reg_date"] <= day) & ((ents["status"] == "active") | (ents["status_date"] > day))
    pool = ents[alive & ents["grid_code"].str.startswith(TOWN) & ents["industry"].isin(["F", "H"])]
    # 无事不扰: class A, on no list, no penalty, complaint or failed inspection within a year: spared.
    flags = run(db, "t_random_flags", "SELECT credit_code, abnormal, dishonest FROM entities").set_index("credit_code")
    evs = run(db, "t_random_evs", "SELECT credit_code, toString(event_type) AS t, toString(result) AS r, event_date "
              "FROM events WHERE event_date > %(lo)s AND event_date <= %(hi)s",
              {"lo": NOW.date() - dt.timedelta(days=365), "hi": NOW.date()})
    bad = set(evs.loc[evs["t"].isin(["penalty", "complaint"]) | ((evs["t"] == "inspection") & (evs["r"] == "fail")),
                      "credit_code"])
    spared = set(pool.loc[(pool["g"] == "A") & (flags.loc[pool["credit_code"], "abnormal"].to_numpy() == 0)
                          & (flags.loc[pool["credit_code"], "dishonest"].to_numpy() == 0)
                          & ~pool["credit_code"].isin(bad), "credit_code"])
    assert spared and len(spared) < (pool["g"] == "A").sum()
    pool = pool[~pool["credit_code"].isin(spared)]
    assert len(pool) > 50
    want = set()
    for cls, part in pool.groupby("g"):
        ranks = part.assign(r=[hashlib.sha256(f"424242:{c}".encode()).hexdigest() for c in part["credit_code"]])
        want |= set(ranks.sort_values("r")["credit_code"].head(math.ceil(len(part) * RATIOS[cls] - 1e-9)))
    items = _items(db, plan_id)
    assert set(items.index) == want
    p = q.plan(db, plan_id, CITY)
    assert p["fingerprint"] == hashlib.sha256("\n".join(sorted(pool["credit_code"])).encode()).hexdigest()
    assert p["fingerprint"] == pool_fingerprint(pool["credit_code"])
    assert p["pool"] == ",".join(f"{c}={int((pool['g'] == c).sum())}" for c in "ABCD")
    assert int(p["seed"]) == 424242 and p["drawn"] == len(want) and p["done"] == 0 and p["spared"] == len(spared)
    assert p["ratios"] == "A=3,B=5,C=10,D=100" and p["dept_name"].endswith("市场监督管理所")
    # Two distinct inspectors of the department's roster per firm, load even within one.
    roster = set(run(db, "t_random_roster", "SELECT inspector_id FROM inspectors WHERE dept_id = %(d)s",
                     {"d": _dept(db, TOWN)})["inspector_id"])
    assert len(roster) >= 2
    assert (items["inspector_1"] != items["inspector_2"]).all()
    assert set(items["inspector_1"]) | set(items["inspector_2"]) <= roster
    load = pd.concat([items["inspector_1"], items["inspector_2"]]).value_counts()
    assert load.max() - load.min() <= 1
    assert (items["due_date"] == pd.Timestamp("2026-12-31")).all() and (items["result"] == "pending").all()
    assert all(items["grid_code"].str.startswith(TOWN))
    # Shown with the names of firm and inspectors, in rank order.
    shown = q.items(db, plan_id, CITY)
    assert list(shown["rank"]) == sorted(items["rank"])
    names = run(db, "t_random_names", "SELECT credit_code, name FROM entities WHERE credit_code IN %(c)s",
                {"c": list(items.index)}).set_index("credit_code")["name"]
    assert (shown.set_index("credit_code")["entity_name"] == names.reindex(shown["credit_code"])).all()
    # A second plan of the same firms avoids the inspectors sent by the first.
    again = draw_plan(db, _spec(db, industries=("F", "H")), CITY, by="tester", seed=424242, ratios=RATIOS, now=NOW)
    second = _items(db, again)
    assert set(second.index) == want
    for code, row in second.iterrows():
        assert {row["inspector_1"], row["inspector_2"]}.isdisjoint(
            {items.loc[code, "inspector_1"], items.loc[code, "inspector_2"]}), code


def test_results_and_figures_equal_pandas(random_db):
    db = random_db
    plan_id = draw_plan(db, _spec(db, end=dt.date(2026, 11, 30), listed="unlisted"), CITY, by="tester", seed=99,
                        ratios={"A": 0.2, "B": 0.2, "C": 0.5, "D": 1.0}, now=NOW)
    codes = list(_items(db, plan_id).index)
    assert len(codes) >= 8
    scope = RegionScope(TOWN)
    outcomes = ["clean", "problem", "absent", "problem", "clean"]
    for i, (code, result) in enumerate(zip(codes, outcomes)):
        record_result(db, plan_id, code, result, scope, by="town_sup", when=NOW + dt.timedelta(days=i))
    record_result(db, plan_id, codes[0], "problem", scope, by="town_sup", note="复查发现问题",
                  when=NOW + dt.timedelta(days=6))  # a correction: the newest counts
    items = _items(db, plan_id)
    assert items.loc[codes[0], "result"] == "problem"
    # Figures of the town on three days against pandas over every item of the database read back.
    read = stored_items(db)
    for day in (dt.date(2026, 9, 15), dt.date(2026, 11, 22), dt.date(2026, 11, 25), dt.date(2026, 11, 26),
                dt.date(2026, 11, 30), dt.date(2026, 12, 5)):
        assert q.figures(db, TOWN, day) == random_figures(read, TOWN, day), day
        rates = q.class_rates(db, TOWN, day).set_index("credit_class")
        every = asof_rows(read, day)
        every = every[every["grid_code"].str.startswith(TOWN)]
        for cls in "ABCD":
            part = every[(every["credit_class"] == cls) & (every["result"] != "pending")]
            assert rates.loc[cls, "checked"] == len(part)
            assert rates.loc[cls, "problems"] == int((part["result"] == "problem").sum())
    # A correction does not change a past day, and keeps the inspection's date.
    assert q.figures(db, TOWN, dt.date(2026, 11, 26))["problems"] == q.figures(db, TOWN, dt.date(2026, 11, 25))[
        "problems"] + 1
    assert items.loc[codes[0], "result_at"] == pd.Timestamp(NOW)
    assert q.figures(db, TOWN, dt.date(2026, 12, 5))["overdue"] >= len(codes) - 5
    # The plan's own counts on the list.
    p = q.plan(db, plan_id, scope)
    assert (p["drawn"], p["done"], p["problems"]) == (len(codes), 5, 3)


def test_items_of_a_draw_that_stopped_before_its_plan_count_nowhere(random_db):
    """Items are written before their plan: rows whose plan was never stored (a draw killed in
    between) are in no figure, list or look-up; the plan's own read is one plan."""
    db = random_db
    plan_id = draw_plan(db, _spec(db, city=True), CITY, by="tester", seed=7, ratios=RATIOS, now=NOW)
    day = NOW.date()
    before = q.figures(db, TOWN, day), q.class_rates(db, TOWN, day), q.plans(db, CITY)
    rows = run(db, "t_random_copy", "SELECT * FROM random_items WHERE plan_id = %(p)s", {"p": plan_id})
    orphan = rows.assign(plan_id="orphan-" + plan_id, result="problem", result_at=pd.Timestamp(NOW))
    db.insert("random_items", orphan)
    assert q.figures(db, TOWN, day) == before[0] and before[0]["drawn"] > 0
    pd.testing.assert_frame_equal(q.class_rates(db, TOWN, day), before[1])
    pd.testing.assert_frame_equal(q.plans(db, CITY), before[2])
    assert q.items(db, "orphan-" + plan_id, CITY).empty and q.plan(db, "orphan-" + plan_id, CITY) is None
    one = q.plan(db, plan_id, CITY)
    assert one == before[2].set_index("plan_id").loc[plan_id].to_dict() | {"plan_id": plan_id}
    code = str(rows["credit_code"].iloc[0])
    assert q.items(db, plan_id, CITY, code)["credit_code"].tolist() == [code]
    with pytest.raises(ItemNotFound):
        record_result(db, "orphan-" + plan_id, code, "clean", CITY, by="tester")


def test_refusals_name_their_reason_and_write_nothing(random_db):
    db = random_db
    before = len(run(db, "t_random_count", "SELECT plan_id FROM random_plans"))
    town = RegionScope(TOWN)
    cases = [
        (dict(name=" "), "计划名称"),
        (dict(end=dt.date(2026, 10, 1)), "检查期限"),
        (dict(start=dt.date(2026, 1, 1), end=dt.date(2027, 6, 1)), "不超过一年"),
        (dict(industries=("Z",)), "行业门类"),
        (dict(entity_types=("shop",)), "主体类型"),
        (dict(listed="bogus"), "名录条件"),
        (dict(dept_id=_dept(db, "441900004")), "检查部门"),
        (dict(region="44"), "地市或以下"),
    ]
    for kw, says in cases:
        with pytest.raises(PlanRefused) as err:
            draw_plan(db, _spec(db, **kw), CITY, by="t", seed=1, ratios=RATIOS, now=NOW)
        assert says in err.value.user_message, (kw, err.value.user_message)
    with pytest.raises(ScopeViolation):
        draw_plan(db, _spec(db, region="441900004"), town, by="t", seed=1, ratios=RATIOS, now=NOW)
    with pytest.raises(PlanRefused) as err:  # a filter no firm passes
        draw_plan(db, _spec(db, industries=("T",), entity_types=("cooperative",)), CITY, by="t", seed=1,
                  ratios=RATIOS, now=NOW)
    assert "没有符合条件" in err.value.user_message
    assert len(run(db, "t_random_count", "SELECT plan_id FROM random_plans")) == before  # nothing written
    # A licensing department of three inspectors: after one plan, the same firms cannot get two
    # inspectors not sent to them before; the second draw stops, naming the firm, and writes nothing.
    lic = run(db, "t_random_lic", "SELECT dept_id FROM inspectors WHERE dept_id IN (SELECT dept_id FROM departments "
              "WHERE kind = 'licensing') GROUP BY dept_id HAVING count() = 3 ORDER BY dept_id LIMIT 1")["dept_id"].iloc[0]
    small = dict(dept_id=str(lic), entity_types=("cooperative",))
    draw_plan(db, _spec(db, **small), CITY, by="t", seed=1, ratios=RATIOS, now=NOW)
    before = len(run(db, "t_random_count", "SELECT plan_id FROM random_plans"))
    with pytest.raises(NotEnoughInspectors) as err:
        draw_plan(db, _spec(db, **small), CITY, by="t", seed=2, ratios=RATIOS, now=NOW)
    assert "可派检查人员不足 2 名" in err.value.user_message and "需回避 2 名" in err.value.user_message
    assert len(run(db, "t_random_count", "SELECT plan_id FROM random_plans")) == before
    plan_id = draw_plan(db, _spec(db, city=True), CITY, by="t", seed=5, ratios=RATIOS, now=NOW)
    code = str(_items(db, plan_id).index[0])
    with pytest.raises(InvalidParameter):
        record_result(db, plan_id, code, "pending", town, by="t")
    with pytest.raises(InvalidParameter):
        record_result(db, plan_id, code, "clean", town, by="t", note="长" * 201)
    with pytest.raises(ItemNotFound):
        record_result(db, plan_id, code, "clean", RegionScope("441900004"), by="t")
    with pytest.raises(ItemNotFound):
        record_result(db, "SJ-none", code, "clean", town, by="t")
    assert (_items(db, plan_id)["result"] == "pending").all()



def test_api_equals_pandas(flask_server, random_db, monkeypatch):
    """``GET /api/v1/random/plans``: the figures and class rates of a town on a day equal pandas
    over the items read back; the plans listed are those covering the town or inside it."""
    from store import db as dbmod

    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    db = random_db
    dbmod.set_db(db)
    plan_id = draw_plan(db, _spec(db, city=True, end=dt.date(2026, 11, 25)), CITY, by="api", seed=31, ratios=RATIOS,
                        now=NOW)
    code = str(_items(db, plan_id).index[0])
    record_result(db, plan_id, code, "problem", RegionScope(TOWN), by="api", when=NOW)
    client = flask_server.test_client()
    day = dt.date(2026, 11, 28)
    resp = client.get(f"/api/v1/random/plans?region={TOWN}&date={day}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    body = resp.get_json()
    every = asof_rows(stored_items(db), day)
    end = pd.Timestamp(day)
    every = every[every["grid_code"].str.startswith(TOWN)]
    done = every["result"] != "pending"
    problems = done & (every["result"] == "problem")
    f = body["figures"]
    assert (f["drawn"], f["done"], f["problems"]) == (len(every), int(done.sum()), int(problems.sum()))
    assert f["overdue"] == int((~done & (every["due_date"] < end)).sum()) > 0
    assert f["completion_rate"] == round(100 * done.sum() / len(every), 2)
    assert f["problem_rate"] == round(100 * problems.sum() / done.sum(), 2)
    for row in body["classes"]:
        part = every[every["credit_class"] == row["credit_class"]]
        pd_done = done[part.index]
        assert row["checked"] == int(pd_done.sum()) and row["problems"] == int(problems[part.index].sum())
    listed = {p["plan_id"]: p for p in body["plans"]}
    assert plan_id in listed and listed[plan_id]["period_to"] == "2026-11-25"
    assert listed[plan_id]["seed"] == 31 and len(listed[plan_id]["fingerprint"]) == 64
    assert all(p["region_code"].startswith(TOWN) or TOWN.startswith(p["region_code"]) for p in body["plans"])
    assert client.get("/api/v1/random/plans?region=4419x").status_code == 400
    assert client.get(f"/api/v1/random/plans?region={TOWN}&date=2026-13-01").status_code == 400
    dbmod.set_db(None)


def test_report_section_equals_pandas(demo_db, demo_data):
    """七、双随机抽查 of a monthly and a weekly report: the class table and the sentence by pandas
    over the demo's plans at the period end."""
    from queries.report_data import build_report

    for kind, day, region in (("monthly", "2026-11-20", "4419"), ("weekly", "2026-08-12", TOWN)):
        d = build_report(demo_db, region, kind, day, RegionScope("44"), today=dt.date(2026, 12, 7))
        end = pd.Timestamp(d.period.end)
        items = asof_rows(demo_data.random_items, d.period.end)
        items = items[items["grid_code"].str.startswith(region)]
        done = items["result"] != "pending"
        for cls, row in zip("ABCD", d.random.itertuples(index=False)):
            part = done & (items["credit_class"] == cls)
            problems = int((part & (items["result"] == "problem")).sum())
            assert (row[0], row[1], row[2]) == (f"{cls}类", int(part.sum()), problems), (kind, cls)
            assert row[3] == ("—" if not part.any() else f"{100 * problems / part.sum():.1f}")
        overdue = int((~done & (items["due_date"] < end)).sum())
        assert d.random_note == (f"截至期末，双随机抽查共抽取 {len(items):,} 户，已检查 {int(done.sum()):,} 户"
                                 f"（完成率 {100 * done.sum() / len(items):.1f}%），逾期未检查 {overdue:,} 户，"
                                 f"发现问题 {int((done & (items['result'] == 'problem')).sum()):,} 户。"), kind
        assert len(items) > 0


def test_discipline_flags_and_spared_equal_pandas(demo_db, demo_data):
    """涉企检查 on the demo data: 多头检查, 频繁检查 and the 无事不扰 list by pandas (tests/oracle_random.py)."""
    from queries.discipline import flagged, spared_codes
    from supervision.discipline import InspectionRules
    from tests.oracle_random import _firm_flags, spared

    rules = InspectionRules.from_env({})
    for region, day in (("4419", dt.date(2026, 11, 20)), ("4419", dt.date(2026, 10, 15)), (TOWN, dt.date(2026, 11, 20))):
        want = _firm_flags(demo_data, region, day)
        got = flagged(demo_db, region, day, rules).set_index("credit_code")
        assert set(got.index[got["multi"]]) == set(want.index[want["depts"] >= 2]), (region, day)
        assert set(got.index[got["frequent"]]) == set(want.index[want["times"] > rules.max_per_year]), (region, day)
        assert (got["times_year"] == want.loc[got.index, "times"]).all()
        assert spared_codes(demo_db, region, day, rules) == set(spared(demo_data, region, day)["credit_code"])
    multi = flagged(demo_db, "4419", dt.date(2026, 11, 20), rules)
    assert multi["multi"].any() and multi["frequent"].any()
    row = multi[multi["multi"]].iloc[0]
    assert "、" in row["departments"] and row["name"]
    with pytest.raises(Exception) as err:
        InspectionRules.from_env({"JINJIAN_INSPECT_WINDOW_DAYS": "0"})
    assert "JINJIAN_INSPECT_WINDOW_DAYS" in str(err.value)


def test_a_record_without_department_is_no_second_department(random_db):
    """多头检查 counts departments: an inspection record without one (部门可空) adds none."""
    from queries.discipline import flagged
    from supervision.discipline import InspectionRules

    db = random_db
    day = dt.date(2026, 12, 20)
    quiet = run(db, "t_disc_quiet", """
        SELECT credit_code FROM entities WHERE grid_code LIKE %(p)s AND status = 'active'
          AND credit_code NOT IN (SELECT credit_code FROM events WHERE event_type = 'inspection'
                                  AND event_date > %(lo)s)
          AND credit_code NOT IN (SELECT credit_code FROM random_items)
          AND credit_code IN (SELECT credit_code FROM events)
        ORDER BY credit_code LIMIT 1""", {"p": TOWN + "%", "lo": day - dt.timedelta(days=400)})["credit_code"].iloc[0]
    ev = run(db, "t_disc_event", "SELECT * FROM events WHERE credit_code = %(c)s LIMIT 1", {"c": quiet})

    def inspect(dept: str, n: int) -> None:
        when = pd.Timestamp(day) - pd.Timedelta(days=n)
        db.insert("events", ev.assign(event_id=ev["event_id"] + 2 * 10 ** 12 + n, event_type="inspection",
                                      result="pass", dept_id=dept, event_time=when, event_date=when.normalize()))

    rules = InspectionRules.from_env({})
    inspect(f"{TOWN}-01", 3)
    inspect("", 2)
    got = flagged(db, TOWN, day, rules).set_index("credit_code")
    assert quiet not in got.index  # two records, one department: neither 多头 nor 频繁 (limit 2)
    inspect("4419-02", 1)
    got = flagged(db, TOWN, day, rules).set_index("credit_code")
    assert got.loc[quiet, "multi"] and got.loc[quiet, "depts_window"] == 2 and got.loc[quiet, "frequent"]
    assert got.loc[quiet, "times_year"] == 3
