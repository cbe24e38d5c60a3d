"""The live event simulator: realistic department records at a steady rate, sent
through the same ingestion path as the API (JSON lines → validation → batch).

Each second it draws a Poisson number of events (JINJIAN_SIMULATOR_RATE per
second on average): new registrations in grids that already have entities (each
pushes a verification task at once), inspections, complaints, sampling results
with batch numbers, licences, penalties, feedback moving open tasks along their
lifecycle, and now and then a change or cancellation. On in ``make run``; off by
default (JINJIAN_SIMULATOR=0) so a production deployment never invents data.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import Counter

import numpy as np
import pandas as pd

from etl import demo_names as V
from domain import uscc
from etl.ingest.batch import BatchResult, Ingestor
from store.executor import run
from supervision.rules import allowed_next

logger = logging.getLogger(__name__)

#: Share of each source among simulated events.
MIX = {"registration": 0.27, "inspection": 0.2, "complaint": 0.14, "sampling": 0.08, "licence": 0.07,
       "penalty": 0.05, "task_feedback": 0.13, "change": 0.03, "cancellation": 0.02, "credit_list": 0.01}
POOL_SIZE = 3000
POOL_SECONDS = 120.0
ACTOR = {"inspecting": "grid_worker", "notice": "grid_worker", "joint": "grid_worker", "town": "village",
         "transferred": "town_office", "closed": "department"}
UNIT = "实时模拟器"


class Simulator:
    def __init__(self, ingestor: Ingestor, root: str, rate: float, seed: int | None = None) -> None:
        self.ing, self.root, self.rate = ingestor, root, rate
        self.rng = np.random.default_rng(seed)
        self._pool_at = -1e9
        self.entities = pd.DataFrame()
        self.tasks: dict[str, tuple[str, str]] = {}
        self.sent: Counter[str] = Counter()
        self._serial = 0

    # ------------------------------------------------------------------ pools of real rows
    def _refresh(self) -> None:
        db, like = self.ing.db, self.root + "%"
        self.entities = run(db, "sim_entities", """
            SELECT credit_code, grid_code, industry, reg_date FROM entities
            WHERE grid_code LIKE %(like)s AND status = 'active' ORDER BY cityHash64(credit_code, %(salt)s)
            LIMIT %(n)s""", {"like": like, "n": POOL_SIZE, "salt": int(self.rng.integers(1 << 30))})
        tasks = run(db, "sim_tasks", """
            SELECT task_id, toString(any(task_type)) AS task_type, toString(argMax(status, event_time)) AS status
            FROM task_events WHERE grid_code LIKE %(like)s AND event_date >= today() - 60
            GROUP BY task_id HAVING status != 'closed' LIMIT %(n)s""", {"like": like, "n": POOL_SIZE})
        self.tasks = {r.task_id: (r.task_type, r.status) for r in tasks.itertuples(index=False)}
        self._pool_at = time.monotonic()

    # ------------------------------------------------------------------ records
    def _next_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{dt.datetime.now():%Y%m%d%H%M%S}{self._serial:06d}{int(self.rng.integers(1000)):03d}"

    def records(self, n: int) -> dict[str, list[dict]]:
        """``n`` events grouped by source (JSON-ready dicts with the sources' keys)."""
        if time.monotonic() - self._pool_at > POOL_SECONDS or self.entities.empty:
            self._refresh()
        out: dict[str, list[dict]] = {}
        if self.entities.empty:
            return out
        now = dt.datetime.now().replace(microsecond=0)
        stamp = now.strftime("%Y-%m-%d %H:%M:%S")
        rng = self.rng
        for source in rng.choice(list(MIX), size=n, p=list(MIX.values())):
            ent = self.entities.iloc[int(rng.integers(len(self.entities)))]
            rec: dict | None = None
            if source == "registration":
                etype = str(rng.choice(["enterprise", "individual", "cooperative"], p=[0.35, 0.63, 0.02]))
                industry = str(rng.choice(list(V.INDUSTRIES)))
                code = uscc.generate(rng, [ent.grid_code[:6]], [etype])[0]
                rec = {"credit_code": code, "name": self._name(industry, etype), "entity_type": etype,
                       "industry": industry, "grid_code": ent.grid_code, "event_time": stamp,
                       "legal_rep": str(rng.choice(V.SURNAMES)) + "".join(rng.choice(V.GIVEN, 2)),
                       "capital": round(float(rng.lognormal(3, 1.2)), 2)}
            elif source == "task_feedback":
                rec = self._feedback(stamp)
            elif source == "change":
                rec = {"record_id": self._next_id("BG"), "credit_code": ent.credit_code, "event_time": stamp,
                       "change_item": "scope", "new_value": "增加经营项目"}
            elif source == "cancellation":
                rec = {"credit_code": ent.credit_code, "event_time": stamp, "kind": "注销", "reason": "决议解散"}
                self.entities = self.entities[self.entities["credit_code"] != ent.credit_code]
            else:
                rec = self._event(str(source), ent.credit_code, stamp)
            if rec is not None:
                out.setdefault(str(source), []).append(rec)
        return out

    def _name(self, industry: str, etype: str) -> str:
        words = V.INDUSTRY_WORDS.get(industry) or ["商贸"]
        brand = "".join(self.rng.choice(V.BRAND_CHARS, 2))
        suffix = {"enterprise": "有限公司", "individual": "店", "cooperative": "专业合作社"}[etype]
        return f"{brand}{self.rng.choice(words)}{suffix}"

    def _event(self, source: str, code: str, stamp: str) -> dict:
        rng = self.rng
        if source == "inspection":
            return {"record_id": self._next_id("JC"), "credit_code": code, "event_time": stamp,
                    "result": "发现问题" if rng.random() < 0.08 else "未发现问题", "inspector": "网格员"}
        if source == "complaint":
            return {"complaint_no": self._next_id("TS"), "credit_code": code, "event_time": stamp, "channel": "12315",
                    "content": str(rng.choice(V.COMPLAINT_KINDS[0]))}
        if source == "sampling":
            return {"sample_no": self._next_id("CY"), "credit_code": code, "event_time": stamp,
                    "batch_no": f"PC{int(rng.integers(1, 400)):05d}", "product": "食品",
                    "result": "不合格" if rng.random() < 0.04 else "合格"}
        if source == "credit_list":  # listings only (an exit needs the entity listed); 1 in 10 serious
            return {"record_id": self._next_id("LR"), "credit_code": code, "event_time": stamp,
                    "list": "严重违法失信名单" if rng.random() < 0.1 else "经营异常名录", "action": "列入",
                    "reason": "通过登记的住所或者经营场所无法联系"}
        if source == "licence":
            return {"licence_no": self._next_id("XK"), "credit_code": code, "event_time": stamp,
                    "licence_item": "食品经营许可"}
        return {"decision_no": self._next_id("CF"), "credit_code": code, "event_time": stamp,
                "amount": int(rng.integers(1, 50)) * 1000, "violation": str(rng.choice(V.PENALTY_KINDS))}

    def _feedback(self, stamp: str) -> dict | None:
        if not self.tasks:
            return None
        task_id = str(self.rng.choice(list(self.tasks)))
        ttype, status = self.tasks[task_id]
        nxt = allowed_next(ttype, status)
        if not nxt:
            self.tasks.pop(task_id)
            return None
        new = str(self.rng.choice(nxt, p=None if len(nxt) == 1 else [0.8] + [0.2 / (len(nxt) - 1)] * (len(nxt) - 1)))
        if new == "closed":
            self.tasks.pop(task_id)
        else:
            self.tasks[task_id] = (ttype, new)
        return {"feedback_id": self._next_id("FK"), "task_id": task_id, "event_time": stamp, "status": new,
                "actor": "模拟办理人", "actor_kind": ACTOR[new]}

    # ------------------------------------------------------------------ sending
    def step(self, n: int | None = None) -> list[BatchResult]:
        """Send one second's worth of events (or ``n``) through the ingestion path."""
        n = int(self.rng.poisson(self.rate)) if n is None else n
        results = []
        for source, recs in self.records(n).items():
            body = "\n".join(json.dumps(r, ensure_ascii=False) for r in recs).encode()
            res = self.ing.ingest_bytes(source, body, file_name=f"simulator-{source}.jsonl", fmt="jsonl", unit=UNIT,
                                        scope=self.root)
            self.sent[source] += res.rows_loaded
            results.append(res)
        return results

    def run(self, stop: threading.Event) -> None:
        logger.info("live simulator: %.2f events/s in region %s", self.rate, self.root)
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001 - keep simulating; the error is logged
                logger.exception("simulator step failed")
                self._pool_at = -1e9
            next_at += 1.0
            stop.wait(max(0.0, next_at - time.monotonic()))
