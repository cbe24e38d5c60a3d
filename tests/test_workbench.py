"""The grid workbench (网格员工作台) through its routes, on both engines: a task from push to
close through every work role, each step a task event written by ingestion; at most one
event per idempotency key (a double tap, a retry); photos checked before anything is
saved; scope probes for every new route; and the task figures afterwards equal to pandas
over the task events read back from the database."""
from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import io
import struct
import uuid
import zlib

import pandas as pd
import pytest
from dash import no_update

from auth.admin import check_work_binding
from domain.errors import InvalidParameter
from indicators.catalogue import CATALOGUE
from indicators.periods import period_to_date
from queries.indicator_values import compute
from queries.tasks import efficiency
from queries.work import WorkScope, entities_in, my_tasks
from store.executor import run
from store.filters import Filter
from supervision.rules import TaskRules
from tests.authkit import logged_in
from tests.oracle import ORACLES
from tests.test_tasks_queries import _oracle_efficiency
from tests.workkit import TOWN, work_env  # noqa: F401 - the fixture

TASK_INDICATORS = [i for i in CATALOGUE.values() if i.id in ORACLES and {
    m.source for m in (i.numerator, i.denominator) if m is not None} <= {"task_events", "task_asof", "tasks"}]


def png(width: int = 4, extra: int = 0) -> bytes:
    """A real PNG image (``extra`` bytes of text chunk make it as large as wanted)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\x80\x20\x20" * width for _ in range(width))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, width, 8, 2, 0, 0, 0))
            + (chunk(b"tEXt", b"c\x00" + b"x" * extra) if extra else b"") + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def act(client, task_id: str, action: str, outcome: str, key: str | None = None, photos=(), **form):
    data = {"action": action, "outcome": outcome, "key": key or uuid.uuid4().hex, **form}
    if photos:
        data["photo"] = [(io.BytesIO(b), name) for name, b in photos]
    return client.post(f"/api/v1/work/tasks/{task_id}/actions", data=data, content_type="multipart/form-data",
                       headers={"Origin": "http://localhost"})


def test_work_roles_are_bound_to_their_level():
    assert check_work_binding("grid_worker", "441900003001", ["441900003001001", "441900003001002"]) == [
        "441900003001001", "441900003001002"]
    assert check_work_binding("viewer", "4419") == []
    for role, scope, grids, says in (
            ("grid_worker", "441900003", [], "网格员须绑定到村（社区）或网格"),
            ("village_dispatcher", "441900003001001", [], "社区调度员须绑定到村（社区）"),
            ("town_handler", "4419", [], "镇街处置人员须绑定到镇街"),
            ("grid_worker", "441900003001", ["441900003002001"], "不在所属村（社区）内"),
            ("viewer", "4419", ["441900003001001"], "只有网格员可以绑定网格")):
        with pytest.raises(InvalidParameter) as err:
            check_work_binding(role, scope, grids)
        assert says in err.value.user_message


def test_task_from_push_to_close_through_every_role(work_env):
    env = work_env
    task = env.push_registration()
    gw, disp, town = (logged_in(env.server, u) for u in ("gw", "disp", "town"))
    # 我的任务: the dispatcher sees it waiting to be dispatched, the worker not yet.
    def listed(user: str) -> pd.DataFrame:
        u = env.store.get_user(user)
        ws = WorkScope(u.scope, env.store.grids(user), u.role)
        return my_tasks(env.db, ws, dt.date.today(), TaskRules.from_env()).set_index("task_id")
    assert listed("disp").loc[task, "status"] == "pending" and task not in listed("gw").index
    flow = [(disp, "dispatch", "inspecting", {}), (gw, "check", "notice", {"photos": [("a.png", png()), ("b.png", png(6))],
                                                                          "lat": "23.02", "lon": "113.75"}),
            (gw, "recheck", "joint", {}), (disp, "joint", "town", {}), (town, "return", "joint", {}),
            (disp, "joint", "town", {}), (town, "handle", "closed", {"note": "已责令停业整改，办结"})]
    for client, action, outcome, extra in flow:
        photos = extra.pop("photos", ())
        resp = act(client, task, action, outcome, photos=photos, **extra)
        assert resp.status_code == 200, (action, resp.get_json())
        body = resp.get_json()
        assert body["status"] == outcome and not body["already"] and len(body["photos"]) == len(photos)
        if action == "dispatch":  # now the worker's: due in the inspection limit, not the dispatcher's
            mine = listed("gw").loc[task]
            assert mine["status"] == "inspecting" and 1 <= mine["days_left"] <= 10 and mine["entity_name"]
            assert task not in listed("disp").index and task not in listed("gw_other").index
    steps = env.steps(task)
    assert list(zip(steps["from_status"], steps["status"])) == [
        ("none", "pending"), ("pending", "inspecting"), ("inspecting", "notice"), ("notice", "joint"),
        ("joint", "town"), ("town", "joint"), ("joint", "town"), ("town", "closed")]
    assert list(steps["actor"][1:]) == ["disp", "gw", "gw", "disp", "town", "disp", "town"]
    assert list(steps["actor_kind"][1:]) == ["village", "grid_worker", "grid_worker", "village", "town_office",
                                             "village", "town_office"]
    assert steps["note"].iloc[-1] == "已责令停业整改，办结"
    # The photos are stored with the task and served to its workers only.
    from etl.work_actions import task_actions

    kept = [a for a in task_actions(task) if a["photos"]]
    assert len(kept) == 1 and kept[0]["lat"] == pytest.approx(23.02)
    photo = gw.get(f"/api/v1/work/tasks/{task}/photos/{kept[0]['photos'][0]}")
    assert photo.status_code == 200 and photo.mimetype == "image/png" and photo.data == png()
    # A closed task takes no more steps.
    late = act(town, task, "handle", "closed")
    assert late.status_code == 409 and "已由他人办理" in late.get_json()["error"]["message"]
    # The task figures now equal pandas over the task events read back from the database.
    today = dt.date.today()
    data = env.frames()
    for grain in ("day", "month"):
        period = period_to_date(today, grain)
        got = compute(env.db, TASK_INDICATORS, Filter(region=TOWN), period).set_index("indicator_id")["value"]
        for ind in TASK_INDICATORS:
            want = ORACLES[ind.id](data, TOWN, period.start, period.end)
            assert got[ind.id] == pytest.approx(want, nan_ok=True), (ind.id, grain)
    month = period_to_date(today, "month")
    eff = efficiency(env.db, Filter(region="4419"), month, "town", TaskRules.from_env()).set_index("unit")
    exp = _oracle_efficiency(data, "4419", month, "town").set_index("unit")
    assert int(eff.loc[TOWN, "closed"]) == int(exp.loc[TOWN, "closed"]) >= 1
    assert int(eff.loc[TOWN, "ontime"]) == int(exp.loc[TOWN, "ontime"])


def test_one_event_per_key_even_when_sent_twice_at_once(work_env):
    env = work_env
    task = env.push_registration()
    disp = logged_in(env.server, "disp")
    key = uuid.uuid4().hex
    with cf.ThreadPoolExecutor(2) as pool:  # a double tap: two requests with the same key at once
        answers = list(pool.map(lambda _: act(disp, task, "dispatch", "inspecting", key=key,
                                              recorded_at=dt.datetime.now().isoformat(timespec="seconds")), range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(a.get_json()["already"] for a in answers) == [False, True]
    again = act(disp, task, "dispatch", "inspecting", key=key)  # a retry later: the first outcome
    assert again.status_code == 200 and again.get_json()["already"] is True
    assert list(env.steps(task)["status"]) == ["pending", "inspecting"]


def test_an_action_shows_at_once_on_the_api_and_wakes_the_wall(work_env):
    """An action is published when its request returns: the API's figures have it at once,
    and the data version moves, so every wall redraws at its next live check
    (JINJIAN_WALL_LIVE_SECONDS, 1 s; docs/workbench.md: within 2 s)."""
    from pages.home import live_version
    from store.versions import data_version

    env = work_env
    task = env.push_registration()
    viewer, disp, gw = (logged_in(env.server, u) for u in ("viewer", "disp", "gw"))
    url = f"/api/v1/indicators/tasks_open/values?region={TOWN}&date={dt.date.today()}&grain=day"
    before = viewer.get(url).get_json()["items"][0]["value"]
    version = data_version(env.db, max_age=0)
    assert live_version(1, version, version) is no_update  # nothing new yet
    for client, action, outcome in ((disp, "dispatch", "inspecting"), (gw, "check", "closed")):
        assert act(client, task, action, outcome).status_code == 200
    assert viewer.get(url).get_json()["items"][0]["value"] == before - 1
    newer = data_version(env.db)  # no waiting for the version's cache: the action's process forgot it
    assert newer > version and live_version(2, version, version) == newer


def test_reassign_gives_the_task_to_another_worker_of_the_village(work_env):
    """改派: the dispatcher gives a task at the first check to the village's other grid worker.
    It keeps its stage and deadline (no task event); from then on only the assignee lists it
    and may record its steps; a worker of another village, a closed task, the wrong role and
    a double tap are handled; the reassignment is audited."""
    env = work_env
    task = env.push_registration()
    gw, gw2, disp = (logged_in(env.server, u) for u in ("gw", "gw2", "disp"))

    def listed(user: str, stage: str | None = None) -> pd.DataFrame:
        from etl.work_assign import scope_for

        u = env.store.get_user(user)
        ws = scope_for(u.scope, env.store.grids(user), u.role, user)
        return my_tasks(env.db, ws, dt.date.today(), TaskRules.from_env(), stage).set_index("task_id")

    assert act(disp, task, "dispatch", "inspecting").status_code == 200
    before = env.steps(task)
    due = listed("gw").loc[task, "due_date"]
    assert task in listed("gw").index and task not in listed("gw2").index
    assert task not in listed("disp").index and task in listed("disp", "inspecting").index  # found to 改派
    # Only the dispatcher, only to a worker of the village.
    for client, who in ((gw, "gw2"), (disp, "gw_other"), (disp, "nobody")):
        resp = act(client, task, "reassign", who)
        assert resp.status_code == 400, resp.get_json()
    key = uuid.uuid4().hex
    resp = act(disp, task, "reassign", "gw2", key=key)
    body = resp.get_json()
    assert resp.status_code == 200 and body["status"] == "inspecting" and "已改派给gw2" in body["message"]
    again = act(disp, task, "reassign", "gw2", key=key)  # a double tap: recorded once
    assert again.status_code == 200 and again.get_json()["already"] is True
    # The task moved to gw2 with its stage and deadline; no task event was written.
    assert env.steps(task).equals(before)
    assert task not in listed("gw").index and listed("gw2").loc[task, "due_date"] == due
    for who in ("gw", "gw2"):  # a quick correction: the newest reassignment wins
        assert act(disp, task, "reassign", who).status_code == 200
    assert task not in listed("gw").index and task in listed("gw2").index
    assert act(gw, task, "check", "closed").status_code == 404  # no longer theirs
    resp = act(gw2, task, "check", "closed")
    assert resp.status_code == 200 and resp.get_json()["status"] == "closed"
    assert list(env.steps(task)["actor"])[-1] == "gw2"
    assert act(disp, task, "reassign", "gw").status_code == 409  # closed: nothing to give
    audit = env.store.audit_rows(action="work_reassign")
    assert len(audit) == 3 and {a["target"] for a in audit} == {task} and {a["username"] for a in audit} == {"disp"}


def test_bad_photos_save_nothing(work_env, monkeypatch):
    from etl.work_photos import photo_dir

    env = work_env
    task = env.push_registration()
    disp, gw = logged_in(env.server, "disp"), logged_in(env.server, "gw")
    assert act(disp, task, "dispatch", "inspecting").status_code == 200
    monkeypatch.setenv("JINJIAN_WORK_PHOTO_KB", "64")
    cases = [([("ok.png", png()), ("note.jpg", b"this is not an image")], "第 2 张照片（note.jpg）不是 JPG、PNG 或 WebP 图片"),
             ([("big.png", png(extra=80 * 1024))], "超过 64 KB"),
             ([("p.png", png())] * 6, "照片最多 5 张"),
             ([("empty.png", b"")], "是空文件")]
    for photos, says in cases:
        key = uuid.uuid4().hex
        resp = act(gw, task, "check", "notice", key=key, photos=photos)
        assert resp.status_code == 400 and says in resp.get_json()["error"]["message"], resp.get_json()
        assert not list(photo_dir(task).glob(f"{key}*"))
    assert list(env.steps(task)["status"]) == ["pending", "inspecting"]  # nothing half-saved
    ok = act(gw, task, "check", "closed", photos=[("ok.png", png())])
    assert ok.status_code == 200 and ok.get_json()["status"] == "closed"


def test_scope_probes(work_env):
    env = work_env
    task = env.push_registration()
    other, gw, viewer, disp = (logged_in(env.server, u) for u in ("gw_other", "gw", "viewer", "disp"))
    n_audit = len(env.store.audit_rows(ok=False))
    # Another village's worker: the task does not exist for them (404), audited as a probe.
    resp = act(other, task, "check", "notice")
    assert resp.status_code in (400, 404)
    assert act(disp, task, "dispatch", "inspecting").status_code == 200
    resp = act(other, task, "check", "notice")
    assert resp.status_code == 404 and "不在您的网格内" in resp.get_json()["error"]["message"]
    assert other.get(f"/api/v1/work/tasks/{task}/photos/x-1.png").status_code == 404
    # The wrong role for the step: refused with a message, nothing recorded.
    resp = act(gw, task, "dispatch", "inspecting")
    assert resp.status_code == 400 and "您的角色不能办理该事项" in resp.get_json()["error"]["message"]
    # Work roles see nothing of the dashboards; other roles cannot act.
    assert gw.get("/tasks").status_code == 403
    assert gw.get("/api/v1/indicators").status_code == 403
    assert gw.get("/").status_code == 302 and gw.get("/").headers["Location"].endswith("/work")
    assert viewer.get("/work").status_code == 403
    assert act(viewer, task, "check", "notice").status_code == 403
    assert gw.get("/work").status_code == 200
    denied = env.store.audit_rows(ok=False)
    assert len(denied) - n_audit >= 5
    assert {"scope_denied", "perm_denied"} <= {r["action"] for r in denied}
    assert list(env.steps(task)["status"]) == ["pending", "inspecting"]
    # Malformed input: clear 4xx, never a 500.
    for task_id, form in ((task, {"action": "check", "outcome": "closed", "key": "short"}),
                          ("T' OR 1=1", {"action": "check", "outcome": "closed", "key": uuid.uuid4().hex}),
                          (task, {"action": "check", "outcome": "closed", "key": uuid.uuid4().hex, "lat": "north"}),
                          (task, {"action": "check", "outcome": "closed", "key": uuid.uuid4().hex,
                                  "recorded_at": "yesterday"})):
        resp = gw.post(f"/api/v1/work/tasks/{task_id}/actions", data=form, headers={"Origin": "http://localhost"})
        assert 400 <= resp.status_code < 500, (form, resp.status_code)


def test_clue_from_patrol_goes_to_the_town(work_env):
    env = work_env
    gw, disp, town = (logged_in(env.server, u) for u in ("gw", "disp", "town"))

    ws = WorkScope(env.village, tuple(env.grids), "grid_worker")
    first = run(env.db, "t_clue_entity", "SELECT credit_code, name FROM entities WHERE grid_code IN %(g)s "
                "AND status = 'active' ORDER BY credit_code LIMIT 1", {"g": env.grids}).iloc[0]
    found = entities_in(env.db, ws, first["name"][1:4])  # the worker finds it by part of its name
    assert first["credit_code"] in set(found["credit_code"]) and found["grid_code"].isin(env.grids).all()
    ent = first
    key = uuid.uuid4().hex

    def report(client, code: str, k: str = key, kind: str = "超范围经营"):
        return client.post("/api/v1/work/clues", data={"credit_code": code, "outcome": kind, "key": k,
                                                       "note": "店内销售未登记的预包装食品", "lat": "23.03", "lon": "113.76",
                                                       "photo": [(io.BytesIO(png()), "shop.png")]},
                           content_type="multipart/form-data", headers={"Origin": "http://localhost"})
    resp = report(gw, ent["credit_code"])
    assert resp.status_code == 200, resp.get_json()
    task = resp.get_json()["task_id"]
    assert resp.get_json()["status"] == "town" and len(resp.get_json()["photos"]) == 1
    steps = env.steps(task)
    assert list(steps["status"]) == ["town"] and steps["actor_kind"].iloc[0] == "grid_worker"
    again = report(gw, ent["credit_code"])
    assert again.get_json()["already"] is True and again.get_json()["task_id"] == task
    town_ws = WorkScope(TOWN, (), "town_handler")
    listed = my_tasks(env.db, town_ws, dt.date.today(), TaskRules.from_env()).set_index("task_id")
    assert listed.loc[task, "task_type"] == "clue" and listed.loc[task, "status"] == "town"
    resp = act(town, task, "forward", "transferred")
    assert resp.status_code == 200 and resp.get_json()["status"] == "transferred"
    assert act(town, task, "handle", "closed").status_code in (400, 409)  # not a clue's step
    # Not theirs: a business outside the worker's grids; not a grid worker; an unknown kind.
    outside = run(env.db, "t_clue_outside", "SELECT credit_code FROM entities WHERE grid_code LIKE '4419%%' "
                  "AND grid_code NOT IN %(g)s AND status = 'active' LIMIT 1", {"g": env.grids})["credit_code"].iloc[0]
    resp = report(gw, outside, uuid.uuid4().hex)
    assert resp.status_code == 404 and "不在您的网格内" in resp.get_json()["error"]["message"]
    assert report(disp, ent["credit_code"], uuid.uuid4().hex).status_code == 400
    resp = report(gw, ent["credit_code"], uuid.uuid4().hex, kind="随便")
    assert resp.status_code == 400 and "线索类型" in resp.get_json()["error"]["message"]


def test_unlicensed_business_found_on_patrol_goes_to_the_town(work_env):
    """无证照经营线索: a business with no registration (no credit code) reported from patrol
    becomes a 巡查线索 batch and a 线索移送 task of the town that names the business; the
    town can act on it; bad input gets its own message and writes nothing."""
    env = work_env
    gw, disp, town = (logged_in(env.server, u) for u in ("gw", "disp", "town"))
    key = uuid.uuid4().hex

    def report(client, k: str = key, **over):
        data = {"outcome": "无照经营", "key": k, "name": "阿强烧烤摊", "address": "东城街道同沙路口夜市 12 号",
                "grid_code": env.grids[1], "note": "夜间占道经营，未见营业执照", "lat": "23.01", "lon": "113.77",
                "photo": [(io.BytesIO(png()), "stall.png")], **over}
        return client.post("/api/v1/work/clues", data=data, content_type="multipart/form-data",
                           headers={"Origin": "http://localhost"})
    before = int(run(env.db, "t_unl_batches", "SELECT count() AS n FROM ingest_batches "
                     "WHERE source = 'patrol_clue'")["n"].iloc[0])
    resp = report(gw)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    task = body["task_id"]
    assert body["status"] == "town" and len(body["photos"]) == 1 and body["already"] is False
    row = run(env.db, "t_unl_task", "SELECT toString(task_type) AS task_type, credit_code, grid_code, detail, "
              "toString(status) AS status FROM tasks WHERE task_id = %(t)s", {"t": task}).iloc[0]
    assert (row["task_type"], row["credit_code"], row["grid_code"], row["status"]) == ("clue", "", env.grids[1], "town")
    assert row["detail"] == "无照经营：阿强烧烤摊（东城街道同沙路口夜市 12 号）。夜间占道经营，未见营业执照"
    steps = env.steps(task)
    assert list(steps["status"]) == ["town"] and steps["actor"].iloc[0] == "gw"
    assert steps["actor_kind"].iloc[0] == "grid_worker"
    # A retry with the same key records nothing new.
    again = report(gw).get_json()
    assert again["already"] is True and again["task_id"] == task and len(env.steps(task)) == 1
    assert int(run(env.db, "t_unl_batches2", "SELECT count() AS n FROM ingest_batches WHERE source = 'patrol_clue' "
                   "AND state = 'loaded'")["n"].iloc[0]) == before + 1
    # The town sees it in 我的任务 with the business's name, and can hand it on.
    listed = my_tasks(env.db, WorkScope(TOWN, (), "town_handler"), dt.date.today(),
                      TaskRules.from_env()).set_index("task_id")
    assert listed.loc[task, "task_type"] == "clue" and listed.loc[task, "credit_code"] == ""
    page = town.get(f"/work/task?id={task}")
    assert page.status_code == 200
    resp = act(town, task, "forward", "transferred")
    assert resp.status_code == 200 and resp.get_json()["status"] == "transferred"
    # A grid not the worker's: answered as unknown, and audited as a probe.
    n_denied = len(env.store.audit_rows(ok=False))
    resp = report(gw, uuid.uuid4().hex, grid_code="441900003002001")
    assert resp.status_code == 404 and "请选择您负责的网格" in resp.get_json()["error"]["message"]
    assert len(env.store.audit_rows(ok=False)) == n_denied + 1
    # Bad input: a malformed grid, no name, no address, an unknown kind, the wrong role.
    for over, says in (({"grid_code": "x"}, "请选择您负责的网格"),
                       ({"address": " "}, "请填写经营地址"),
                       ({"outcome": "随便"}, "请选择线索类型"),
                       ({"name": "店" * 101}, "请填写经营者或店招名称")):
        n = len(run(env.db, "t_unl_n", "SELECT task_id FROM tasks WHERE credit_code = ''"))
        resp = report(gw, uuid.uuid4().hex, **over)
        assert resp.status_code == 400 and says in resp.get_json()["error"]["message"], (over, resp.get_json())
        assert len(run(env.db, "t_unl_n2", "SELECT task_id FROM tasks WHERE credit_code = ''")) == n
    assert report(disp, uuid.uuid4().hex).status_code == 400
