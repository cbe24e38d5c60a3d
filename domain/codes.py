"""Enumerations shared by the schema (ClickHouse Enum8 columns), the input formats and
the rules: names → the numbers stored."""
from __future__ import annotations

ENTITY_TYPES = {"enterprise": 1, "individual": 2, "cooperative": 3}
ENTITY_STATUSES = {"active": 1, "cancelled": 2, "revoked": 3}
CREDIT_GRADES = {"A": 1, "B": 2, "C": 3, "D": 4}
EVENT_TYPES = {
    "registration": 1, "change": 2, "cancellation": 3, "revocation": 4, "licence": 5,
    "penalty": 6, "complaint": 7, "inspection": 8, "sampling": 9, "list_entry": 10, "list_exit": 11,
}
RESULTS = {"none": 0, "pass": 1, "fail": 2}
#: Result of one firm of a 双随机 draw (抽查结果, as published): not yet inspected, no problem
#: found, problem found, not found at its registered address.
RANDOM_RESULTS = {"pending": 0, "clean": 1, "problem": 2, "absent": 3}
RANDOM_RESULTS_ZH = {"pending": "待检查", "clean": "未发现问题", "problem": "发现问题",
                     "absent": "通过登记的住所（经营场所）无法联系"}
TASK_TYPES = {"verify_registration": 1, "verify_change": 2, "clue": 3, "disclosure": 4}
TASK_STATUSES = {
    "pending": 1, "inspecting": 2, "notice": 3, "joint": 5, "transferred": 6, "closed": 7, "town": 8,
}
#: ``from_status`` of a task's first event (its creation).
TASK_FROM_STATUSES = {"none": 0, **TASK_STATUSES}
ACTOR_KINDS = {"system": 1, "grid_worker": 2, "village": 3, "town_office": 4, "department": 5}
#: State of an ingestion batch: ``staged`` = validated rows written to the stage
#: tables, ``loaded`` = published, ``failed`` = nothing loaded (file unreadable).
BATCH_STATES = {"received": 1, "staged": 2, "loaded": 3, "failed": 4}
DEPT_KINDS = {"market_regulator": 1, "licensing": 2, "town_office": 3, "other": 4}
