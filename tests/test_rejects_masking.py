"""Rejection reports and personal data (issue 28 item 1): a report holds records as the
department sent them; a role without ``pii`` gets a copy with ID-card numbers, mobile
numbers and the names of individual owners masked, in the same format (CSV in its
encoding, XLSX, JSON lines); the stored file never changes. The route by role: viewer
refused (no export), leader and administrator masked, supervisor (pii) full; every
download audited; another region's batch answers as an unknown one."""
from __future__ import annotations

import io
import json

import pytest

from domain.sources import SOURCES
from etl.ingest.masking import mask_text, masked_report
from etl.ingest.raw import RawRow, RawTable
from etl.ingest.rejects import write_rejects

REG = SOURCES["registration"]
ID = "44190019850315123X"      # a valid GB 11643 check character
ID2 = "440103199001011236"
PHONE = "13812345678"
HEADER = ["统一社会信用代码", "名称", "主体类型", "法定代表人", "经营者身份证号", "备注"]


def _id_ok(text: str) -> bool:
    w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(c) * k for c, k in zip(text[:17], w)) % 11] == text[17]


def test_free_text_masks_ids_and_phones_but_not_codes():
    assert _id_ok(ID) and _id_ok(ID2)
    assert mask_text(f"投诉人电话{PHONE}，身份证{ID}。") == "投诉人电话138****5678，身份证441900********123X。"
    grid, credit = "441900003001001", "91441900MA4UJ5RT6Y"
    bad_check = ID[:17] + "1"  # not an ID number (check character wrong): left alone
    assert mask_text(f"{grid} {credit} {bad_check} 2026-11-05 金额138123456789") == \
        f"{grid} {credit} {bad_check} 2026-11-05 金额138123456789"


def _table(fmt: str) -> RawTable:
    rows = [RawRow(2, dict(zip(HEADER, ["bad", "某某小吃店", "个体工商户", "王小明", ID, f"电话{PHONE}"])), "r2"),
            RawRow(3, dict(zip(HEADER, ["bad", "某某有限公司", "企业", "李大伟", "", ""])), "r3")]
    if fmt == "jsonl":
        rows = [RawRow(r.row_no, r.values, json.dumps(r.values, ensure_ascii=False)) for r in rows]
    return RawTable(fmt, "gb18030" if fmt == "csv" else "utf-8", HEADER, rows, [])


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_each_format_masked_in_its_own_format(fmt, tmp_path):
    path = write_rejects(_table(fmt), {2: [("统一社会信用代码", "长度错误")], 3: [("统一社会信用代码", "长度错误")]},
                         tmp_path / f"r.{fmt}")
    before = path.read_bytes()
    data = masked_report(path, REG)
    assert path.read_bytes() == before  # the stored report is never changed
    if fmt == "csv":
        text = data.decode("gb18030")  # the input's encoding kept
        assert ID not in text and PHONE not in text and "王小明" not in text
        assert "441900********123X" in text and "王**" in text and "138****5678" in text
        assert "李大伟" in text  # an enterprise's legal representative is public
        assert text.splitlines()[0].split(",")[:3] == ["行号", "问题字段", "问题原因"]
    elif fmt == "xlsx":
        from openpyxl import load_workbook

        ws = load_workbook(io.BytesIO(data)).active
        cells = {str(c.value) for row in ws.iter_rows() for c in row if c.value is not None}
        assert "441900********123X" in cells and "王**" in cells and "李大伟" in cells and ID not in cells
        assert f"电话138****5678" in cells
    else:
        objs = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        assert objs[0]["经营者身份证号"] == "441900********123X" and objs[0]["法定代表人"] == "王**"
        assert objs[0]["_row"] == 2 and objs[1]["法定代表人"] == "李大伟"
