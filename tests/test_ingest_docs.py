"""docs/ingest.md is generated from the source definitions; every rejection code
used in the code is documented; the demo generator follows the task lifecycle
that task feedback ingestion enforces."""
from __future__ import annotations

import re

from etl.ingest.docs import END_MARK, REASON_CODES, render
from domain.sources import SOURCES, column_map
from settings import ROOT
from supervision.rules import TRANSITIONS, allowed_next


def test_docs_current():
    doc = (ROOT / "docs" / "ingest.md").read_text(encoding="utf-8")
    generated = render()
    assert doc.startswith(generated.split(END_MARK)[0]), "run: python -m etl.ingest.docs > docs/ingest.md"
    for s in SOURCES.values():
        assert f"### `{s.id}` — {s.zh}" in doc


def test_every_reason_code_documented():
    used: set[str] = set()
    for name in ("validate.py", "lookups.py"):
        text = (ROOT / "etl" / "ingest" / name).read_text(encoding="utf-8")
        used |= set(re.findall(r'Problem\([^,]*?,\s*[^,]*?,\s*"([a-z_]+)"', text))
        used |= set(re.findall(r'return None, "([a-z_]+)"', text))
        # the column checks: a code beside its Chinese reason, or assigned to a column of codes
        # (or beside the function that writes its reason for the failing cells)
        used |= set(re.findall(r'"([a-z_]+)",\s*(?:f?"[^"]*[\u4e00-\u9fff]|reason|head|lambda x: (?:f?"[^"]*[\u4e00-\u9fff]|head))',
                               text))
        used |= set(re.findall(r'codes\[[^\]]+\](?:, \w+\[[^\]]+\])? = "([a-z_]+)"', text))
        used |= set(re.findall(r'pd\.Series\("([a-z_]+)"', text))
        used |= set(re.findall(r'texts == "", "([a-z_]+)"', text))
    assert {"credit_code", "future_date", "duplicate", "bad_transition", "unparsable", "bad_grid", "unknown_grid",
            "bad_enum", "bad_number", "bad_id", "too_long", "required", "missing_column", "bad_date"} <= used
    assert used - set(REASON_CODES) == set()


def test_headers_match_chinese_english_and_aliases():
    src = SOURCES["registration"]
    found, extra = column_map(src, ["统一社会信用代码", "name", "主体 类型", "行业门类", "网格编码", "登记日期",
                                    "经营者", "注册资本(万元)", "备注"])
    assert found["credit_code"] == "统一社会信用代码" and found["name"] == "name"
    assert found["entity_type"] == "主体 类型" and found["event_time"] == "登记日期"
    assert found["legal_rep"] == "经营者" and found["capital"] == "注册资本(万元)"
    assert extra == ["备注"]


def test_demo_follows_the_lifecycle(demo_data):
    te = demo_data.task_events
    moves = te[te["from_status"] != "none"][["task_type", "from_status", "status"]].drop_duplicates()
    bad = [tuple(r) for r in moves.itertuples(index=False) if r.status not in allowed_next(r.task_type, r.from_status)]
    assert not bad, f"demo transitions outside supervision.rules.TRANSITIONS: {bad}"
    # and every allowed transition occurs in the demo (the table is not wider than the lifecycle)
    seen = {(("verify" if t.startswith("verify") else t), f, s) for t, f, s in moves.itertuples(index=False)}
    assert {(fam, frm, to) for (fam, frm), tos in TRANSITIONS.items() for to in tos} == seen


def test_ingest_settings_name_the_bad_setting():
    import pytest

    from etl.ingest.config import IngestSettings
    from settings import ConfigError

    cfg = IngestSettings.from_env({"JINJIAN_SOURCE_LATE_HOURS": "penalty=24", "JINJIAN_SIMULATOR": "on"})
    assert cfg.late_hours["penalty"] == 24 and cfg.late_hours["registration"] == 24 and cfg.simulator
    for env, text in (({"JINJIAN_INBOX": "maybe"}, "JINJIAN_INBOX='maybe' must be 1 or 0"),
                      ({"JINJIAN_SIMULATOR_RATE": "0"}, "JINJIAN_SIMULATOR_RATE='0' is out of range"),
                      ({"JINJIAN_INGEST_MAX_MB": "lots"}, "JINJIAN_INGEST_MAX_MB='lots' is not a number"),
                      ({"JINJIAN_SOURCE_LATE_HOURS": "fax=3"}, "JINJIAN_SOURCE_LATE_HOURS"),
                      ({"JINJIAN_INGEST_CRASH_AT": "later"}, "JINJIAN_INGEST_CRASH_AT")):
        with pytest.raises(ConfigError, match=text.replace("(", r"\(")):
            IngestSettings.from_env(env)
