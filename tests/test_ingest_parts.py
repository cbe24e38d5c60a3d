"""Issue 20: a large file read in parts (etl.ingest.parts) gives exactly the records of the
whole file — same line numbers, fields, raw text and unparsable records — and loses no line,
even when its quoting is broken; loaded through the bulk loader, every part is a batch."""
from __future__ import annotations

import io
import json
import random

import pytest

from etl.ingest.bulk import load_all
from etl.ingest.parts import parts
from etl.ingest.readers import read_bytes
from tests.ingestkit import check_batch, ingest_db_fixture, report_rows, to_csv  # noqa: F401 - check_batch: kit

env = ingest_db_fixture("parts")


def _records(table) -> tuple[list, list]:
    rows = [(r.row_no, r.values, r.raw) for r in table.rows]
    return rows, [(p.row_no, p.reason, p.raw) for p in table.problems]


def _read_in_parts(path, fmt: str, size: int) -> tuple[list, list, list]:
    rows, problems, found = [], [], list(parts(path, fmt, size))
    for p in found:
        r, q = _records(read_bytes(p.data, fmt, line_offset=p.line_offset))
        rows += r
        problems += q
    return rows, problems, found


def _csv_text(rng: random.Random, n: int) -> str:
    lines = ["\n", "编号,名称,备注\n"]
    for i in range(n):
        kind = rng.random()
        if kind < 0.15:
            lines.append(f'{i},"多行\n名称{i}","含,逗号"\n')  # a record over two lines
        elif kind < 0.2:
            lines.append("\n" if kind < 0.17 else ",,\n")  # blank, and an empty formatted row
        elif kind < 0.25:
            lines.append(f"{i},字段太少\n")
        elif kind < 0.3:
            lines.append(f'{i},"引""号",x\r\n')
        else:
            lines.append(f"{i}, 名称{i} ,备注\n")
    return "".join(lines)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
@pytest.mark.parametrize("size", [40, 97, 1000])
def test_csv_parts_read_as_the_whole_file(tmp_path, encoding: str, size: int):
    text = _csv_text(random.Random(size), 300)
    path = tmp_path / "big.csv"
    path.write_bytes(text.encode(encoding))
    whole = _records(read_bytes(path.read_bytes(), "csv"))
    rows, problems, found = _read_in_parts(path, "csv", size)
    assert (rows, problems) == whole
    assert len(found) > 1 and [p.number for p in found] == list(range(1, len(found) + 1))
    assert all(a.last_line < b.first_line for a, b in zip(found, found[1:]))
    assert found[-1].end == path.stat().st_size
    assert whole[1] and any("\n" in raw for _, _, raw in whole[0])  # problems and multi-line records occurred


TRICKY = [  # (found in review) each read in parts of a few bytes must give the whole file's records
    b"\xe3\x80\x80\nid,name\n1,a\n2,b\n3,c\n4,d\n",          # a U+3000-only line above the header
    b"\x1c\nid,name\n1,a\n2,b\n3,c\n4,d\n",                  # a separator character only: blank to str.strip
    b"\xc2\xa0\nid,name\n1,a\n2,b\n3,c\n4,d\n",              # a no-break space only
    b"id,name\r1,a\r2,b\r3,c\r4,d\r",                         # lone carriage returns
    b"id,name\r1,a\r2,b\n3,c\n4,d\n",                         # mixed line ends
    b"\xef\xbb\xbf\nid,name\n1,a\n2,b\n3,c\n4,d\n",            # a BOM, then a blank line
    b"\r\n\r\nid,name\r\n1,a\r\n2,b\r\n3,c\r\n4,d",            # no final line break
    b'id,name\n1,"a\nb"\n2,b\n3,"c\r\nd"\n4,d\n',              # quoted line breaks
    b'id,name\n1,a"b\n2,b\n3,c\n4,d\n',                        # a literal quote inside a field
    b'id,na"me\n1,a\n2,b\n3,c\n4,d\n',                         # … and in the header
    b'id,n\n1,"a\nb"',                                           # a last quoted line break, no final break
    b'id,n\n1,x"y\n2,"p\nq"\n3,z\n',                            # a literal quote, then a quoted line break
]


@pytest.mark.parametrize("data", TRICKY)
@pytest.mark.parametrize("size", [5, 6, 11])  # (twice a part holds the longest record)
def test_tricky_files_read_alike_in_parts(tmp_path, data: bytes, size: int):
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    rows, problems, found = _read_in_parts(path, "csv", size)
    assert (rows, problems) == _records(read_bytes(data, "csv")) and found


def test_jsonl_parts_read_as_the_whole_file(tmp_path):
    lines = [json.dumps({"编号": i, "名称": f"主体{i}"}, ensure_ascii=False) if i % 9 else "{坏的 JSON"
             for i in range(200)]
    path = tmp_path / "big.jsonl"
    path.write_bytes(("\n".join(lines[:100]) + "\n\n" + "\r\n".join(lines[100:])).encode())
    whole = _records(read_bytes(path.read_bytes(), "jsonl"))
    rows, problems, found = _read_in_parts(path, "jsonl", 300)
    assert (rows, problems) == whole and len(found) > 5 and problems


def test_broken_quoting_loses_no_line(tmp_path):
    """An opening quote never closed: the cut cannot pair quotes after it, falls back to line
    breaks, and every line of the file is still read exactly once."""
    body = [f"{i},名称{i},备注\n" for i in range(400)]
    body[50] = '50,"名称50,备注\n'
    path = tmp_path / "broken.csv"
    path.write_bytes(("编号,名称,备注\n" + "".join(body)).encode())
    found = list(parts(path, "csv", 200))
    head = "编号,名称,备注\n".encode()
    assert all(p.data.startswith(head) for p in found)
    assert b"".join(p.data[len(head):] for p in found) == "".join(body).encode()
    tables = [read_bytes(p.data, "csv", line_offset=p.line_offset) for p in found]
    seen = sorted(n for t in tables for n in [*t.row_numbers, *(p.row_no for p in t.problems)])
    assert seen[0] == 2 and seen[-1] == 401 and len(seen) == len(set(seen))  # each record in one part only


def test_bulk_load_in_parts(env, tmp_path):
    """Registrations through ``load_all`` in parts of 1.5 KB: each part one batch, the file's
    line numbers in the quarantine and the rejection reports, nothing lost, at most once."""
    rows = env.registration(60)
    bad = (4, 31, 57)
    for i in bad:
        rows[i]["成立日期"] = "二〇二四年"
    path = tmp_path / "登记-大文件.csv"
    path.write_bytes(to_csv(rows))
    out = io.StringIO()
    totals = load_all(env.ingestor(), [path], "registration", part_bytes=1500, out=out)
    assert totals.batches > 2 and totals.loaded == totals.batches and totals.failed == 0, out.getvalue()
    assert (totals.rows_in, totals.rows_loaded, totals.rows_rejected) == (60, 57, 3)
    ids = [line.rsplit("(batch ", 1)[1][:12] for line in out.getvalue().splitlines() if "(batch " in line]
    assert len(ids) == totals.batches
    from store.executor import run

    q = run(env.db, "t_parts_q", "SELECT row_no, reason_code FROM quarantine WHERE substring(batch_id, 1, 12) IN "
            "%(ids)s ORDER BY row_no", {"ids": tuple(ids)})
    assert [(int(r), c) for r, c in zip(q["row_no"], q["reason_code"])] == [(i + 2, "bad_date") for i in bad]
    reports = sorted(env.ingest_dir.glob("reports/registration/*.csv"))
    assert sorted(n for p in reports for n in report_rows(p)) == [i + 2 for i in bad]
    n = run(env.db, "t_parts_n", "SELECT count() AS n FROM entities WHERE credit_code IN %(c)s",
            {"c": tuple(r["统一社会信用代码"] for r in rows)})["n"].iloc[0]
    assert int(n) == 57
    again = load_all(env.ingestor(), [path], "registration", part_bytes=1500, out=io.StringIO())
    assert (again.skipped, again.loaded, again.rows_in) == (totals.batches, 0, 60)
