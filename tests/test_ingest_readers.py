"""etl.ingest.readers and etl.ingest.rejects: every record read or reported, none lost."""
from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from openpyxl import Workbook, load_workbook

from etl.ingest.raw import FileRejected, RawTable
from etl.ingest.readers import detect_format, read_bytes, read_file
from etl.ingest.rejects import REPORT_COLUMNS, write_rejects

HEADER = "统一社会信用代码,企业名称,登记日期"


def _write(tmp_path, name: str, data: bytes | str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


# --------------------------------------------------------------------------- formats and encodings

def test_detect_format():
    assert detect_format("a.CSV") == "csv"
    assert detect_format("a.txt") == "csv"
    assert detect_format("dir/b.xlsx") == "xlsx"
    assert detect_format("c.ndjson") == detect_format("c.json") == detect_format("c.jsonl") == "jsonl"
    with pytest.raises(FileRejected) as exc:
        detect_format("d.xls")
    assert exc.value.code == "format" and ".xls" in exc.value.user_message


def test_utf8_csv(tmp_path):
    path = _write(tmp_path, "a.csv", f"{HEADER}\n 91440300MA5XXXX, 深圳某公司 ,2024-01-02\n")
    t = read_file(path)
    assert (t.fmt, t.encoding) == ("csv", "utf-8")
    assert t.header == ["统一社会信用代码", "企业名称", "登记日期"]
    assert t.rows[0].row_no == 2
    assert t.rows[0].values == {"统一社会信用代码": "91440300MA5XXXX", "企业名称": "深圳某公司", "登记日期": "2024-01-02"}
    assert t.rows[0].raw == " 91440300MA5XXXX, 深圳某公司 ,2024-01-02"


def test_utf8_bom_csv(tmp_path):
    path = _write(tmp_path, "a.csv", b"\xef\xbb\xbf" + f"{HEADER}\r\nX1,甲,2024-01-02\r\n".encode())
    t = read_file(path)
    assert t.encoding == "utf-8"
    assert t.header[0] == "统一社会信用代码"  # BOM not part of the first name
    assert t.rows[0].values["企业名称"] == "甲" and t.rows[0].raw == "X1,甲,2024-01-02"


@pytest.mark.parametrize("codec", ["gbk", "gb18030"])
def test_gbk_csv(tmp_path, codec):
    path = _write(tmp_path, "a.csv", f"{HEADER}\nX1,广州市天河区某某商行,2024-01-02\n", codec)
    t = read_file(path)
    assert t.encoding == "gb18030"
    assert t.header == ["统一社会信用代码", "企业名称", "登记日期"]
    assert t.rows[0].values["企业名称"] == "广州市天河区某某商行"


def test_undecodable_csv(tmp_path):
    path = _write(tmp_path, "a.csv", b"a,b\n1,\xff\xfe\xff\n")
    with pytest.raises(FileRejected) as exc:
        read_file(path)
    assert exc.value.code == "encoding"
    assert "offset 6" in exc.value.detail and "第 7 个字节" in exc.value.user_message


def test_jsonl_must_be_utf8(tmp_path):
    path = _write(tmp_path, "a.jsonl", '{"名称": "某某"}\n', "gbk")
    with pytest.raises(FileRejected) as exc:
        read_file(path)
    assert exc.value.code == "encoding"


def test_nul_bytes_binary(tmp_path):
    path = _write(tmp_path, "a.csv", "a,b\n1,2\n".encode("utf-16-le"))
    with pytest.raises(FileRejected) as exc:
        read_file(path)
    assert exc.value.code == "binary"


@pytest.mark.parametrize("data", [b"", b"  \r\n\t\n", b"\xef\xbb\xbf", "\u3000\n".encode()])
@pytest.mark.parametrize("name", ["a.csv", "a.jsonl", "a.xlsx"])
def test_empty(tmp_path, data, name):
    path = _write(tmp_path, name, data)
    if name == "a.xlsx" and data.startswith("\u3000".encode()):
        with pytest.raises(FileRejected) as exc:  # not whitespace bytes: simply not an XLSX
            read_file(path)
        assert exc.value.code == "xlsx"
        return
    with pytest.raises(FileRejected) as exc:
        read_file(path)
    assert exc.value.code == "empty"


def test_too_large(tmp_path):
    path = _write(tmp_path, "a.csv", f"{HEADER}\n" + "X,甲,2024-01-01\n" * 100)
    with pytest.raises(FileRejected) as exc:
        read_file(path, max_bytes=1000)
    assert exc.value.code == "too_large"
    with pytest.raises(FileRejected) as exc:
        read_bytes(path.read_bytes(), "csv", max_bytes=1000)
    assert exc.value.code == "too_large"
    assert read_file(path, max_bytes=10_000).rows_in == 100


# --------------------------------------------------------------------------- CSV structure

def test_header_only(tmp_path):
    t = read_file(_write(tmp_path, "a.csv", f"{HEADER}\n"))
    assert t.header == HEADER.split(",") and t.rows == [] and t.problems == [] and t.rows_in == 0


def test_field_count_mismatch(tmp_path):
    text = f"{HEADER}\nA,甲,2024-01-01\nB,乙\nC,丙,2024-01-03,多余,再多\nD,丁,2024-01-04\n"
    t = read_file(_write(tmp_path, "a.csv", text))
    assert [r.row_no for r in t.rows] == [2, 5]
    assert [(p.row_no, p.reason, p.raw) for p in t.problems] == [
        (3, "字段数与表头不符：应为 3 个，实为 2 个", "B,乙"),
        (4, "字段数与表头不符：应为 3 个，实为 5 个", "C,丙,2024-01-03,多余,再多"),
    ]
    assert t.rows_in == 4


def test_broken_quote_in_the_middle(tmp_path):
    lines = [HEADER] + [f"X{i},企业{i},2024-01-{i:02d}" for i in range(1, 11)]
    lines[5] = 'X5,"企业5,2024-01-05'  # unterminated quote on physical line 6
    t = read_file(_write(tmp_path, "a.csv", "\n".join(lines) + "\n"))
    assert t.rows_in == 10
    assert [(p.row_no, p.reason, p.raw) for p in t.problems] == [(6, "引号不匹配（第 6 行）", 'X5,"企业5,2024-01-05')]
    assert [r.row_no for r in t.rows] == [2, 3, 4, 5, 7, 8, 9, 10, 11]
    assert [r.values["企业名称"] for r in t.rows] == [f"企业{i}" for i in (1, 2, 3, 4, 6, 7, 8, 9, 10)]


def test_broken_quote_closed_by_a_later_quote(tmp_path):
    text = (f"{HEADER}\nA,甲,2024-01-01\nB,\"乙,2024-01-02\nC,丙,2024-01-03\n"
            "D,\"有,逗号\",2024-01-04\nE,戊,2024-01-05\n")
    t = read_file(_write(tmp_path, "a.csv", text))
    assert [p.row_no for p in t.problems] == [3]
    assert [(r.row_no, r.values["企业名称"]) for r in t.rows] == [(2, "甲"), (4, "丙"), (5, "有,逗号"), (6, "戊")]
    assert t.rows_in == 5


def test_broken_quote_on_last_line_without_newline(tmp_path):
    t = read_file(_write(tmp_path, "a.csv", f'{HEADER}\nA,甲,2024-01-01\nB,"乙,2024-01-02'))
    assert [(p.row_no, p.reason) for p in t.problems] == [(3, "引号不匹配（第 3 行）")]
    assert len(t.rows) == 1


def test_quoted_newline_and_comma(tmp_path):
    text = f'{HEADER}\nA,"广州市,天河区\n某某路1号",2024-01-01\nB,乙,2024-01-02\n'
    t = read_file(_write(tmp_path, "a.csv", text))
    assert t.problems == []
    assert [r.row_no for r in t.rows] == [2, 4]
    assert t.rows[0].values["企业名称"] == "广州市,天河区\n某某路1号"
    assert t.rows[0].raw == 'A,"广州市,天河区\n某某路1号",2024-01-01'


def test_escaped_quotes_and_stray_quote(tmp_path):
    text = f'{HEADER}\nA,"某某""名称""",2024-01-01\nB,某"某,2024-01-02\nC,"某某"公司,2024-01-03\n'
    t = read_file(_write(tmp_path, "a.csv", text))
    assert t.problems == []
    assert [r.values["企业名称"] for r in t.rows] == ['某某"名称"', '某"某', "某某公司"]


def test_broken_quote_in_header(tmp_path):
    with pytest.raises(FileRejected) as exc:
        read_file(_write(tmp_path, "a.csv", '代码,"名称,日期\n1,2,3\n'))
    assert exc.value.code == "no_header" and "第 1 行" in exc.value.user_message


def test_huge_field_read_intact(tmp_path):
    big = "长" * (5 * 1024 * 1024)
    t = read_file(_write(tmp_path, "a.csv", f'{HEADER}\nA,"{big}",2024-01-01\nB,{big},x\nC,乙,2024-01-02\n'))
    assert t.problems == []
    assert len(t.rows) == 3
    assert t.rows[0].values["企业名称"] == big and t.rows[1].values["企业名称"] == big
    assert t.rows[2].row_no == 4


def test_duplicate_header(tmp_path):
    with pytest.raises(FileRejected) as exc:
        read_file(_write(tmp_path, "a.csv", "名称,代码, 名称 \n1,2,3\n"))
    assert exc.value.code == "duplicate_header" and "名称" in exc.value.user_message


def test_blank_header(tmp_path):
    with pytest.raises(FileRejected) as exc:
        read_file(_write(tmp_path, "a.csv", "名称,,代码\n甲,有数据,1\n"))
    assert exc.value.code == "blank_header" and "第 2 列" in exc.value.user_message
    # a trailing comma on every line: unnamed column without data is ignored
    t = read_file(_write(tmp_path, "b.csv", "名称,代码,\n甲,1,\n"))
    assert t.header == ["名称", "代码"] and t.rows[0].values == {"名称": "甲", "代码": "1"}


def test_blank_lines_skipped(tmp_path):
    text = f"\n{HEADER}\n\nA,甲,2024-01-01\n   \n\r\nB,乙,2024-01-02\n\n"
    t = read_file(_write(tmp_path, "a.csv", text))
    assert t.header == HEADER.split(",")
    assert [r.row_no for r in t.rows] == [4, 7] and t.rows_in == 2


# --------------------------------------------------------------------------- XLSX

def _xlsx(tmp_path, build, name="a.xlsx"):
    wb = Workbook()
    build(wb.active)
    path = tmp_path / name
    wb.save(path)
    return path


def test_xlsx_one_row_header(tmp_path):
    def build(ws):
        ws.append(["代码", "名称", "登记日期", "注册资本", "数量", "时间", "是否"])
        ws.append(["X1", " 甲 ", dt.datetime(2024, 3, 5), 12.0, 7, dt.datetime(2024, 3, 5, 8, 30), True])
        ws.append([None] * 7)  # fully empty row: skipped
        ws.append(["X2", "乙", dt.date(2023, 12, 31), 3.5, None, None, False])
    t = read_file(_xlsx(tmp_path, build))
    assert (t.fmt, t.encoding) == ("xlsx", "utf-8")
    assert t.header == ["代码", "名称", "登记日期", "注册资本", "数量", "时间", "是否"]
    assert [r.row_no for r in t.rows] == [2, 4]
    assert t.rows[0].values == {"代码": "X1", "名称": "甲", "登记日期": "2024-03-05", "注册资本": "12",
                                "数量": "7", "时间": "2024-03-05 08:30:00", "是否": "1"}
    assert t.rows[1].values["注册资本"] == "3.5" and t.rows[1].values["数量"] == ""
    assert t.rows[1].values["登记日期"] == "2023-12-31" and t.rows[1].values["是否"] == "0"
    assert t.rows[0].raw.split("\t")[:2] == ["X1", " 甲 "]


def test_xlsx_two_row_merged_header(tmp_path):
    def build(ws):
        ws["A1"] = "序号"
        ws.merge_cells("A1:A2")  # vertical merge over both header rows
        ws["B1"] = "主体信息"
        ws.merge_cells("B1:C1")  # group title over two columns
        ws["B2"], ws["C2"] = "代码", "名称"
        ws["D1"] = "检查结果"
        ws.merge_cells("D1:E1")
        ws["D2"], ws["E2"] = "是否发现问题", "检查日期"
        ws.append([1, "X1", "甲", "是", dt.datetime(2024, 5, 6)])
        ws.append([2, "X2", "乙", "否", dt.datetime(2024, 5, 7)])
    t = read_file(_xlsx(tmp_path, build))
    assert t.header == ["序号", "代码", "名称", "是否发现问题", "检查日期"]
    assert [r.row_no for r in t.rows] == [3, 4]
    assert t.rows[0].values == {"序号": "1", "代码": "X1", "名称": "甲", "是否发现问题": "是", "检查日期": "2024-05-06"}


def test_xlsx_header_problems(tmp_path):
    def dup(ws):
        ws.append(["名称", "名称"])
        ws.append(["甲", "乙"])

    def blank(ws):
        ws.append(["名称", None])
        ws.append(["甲", "乙"])

    with pytest.raises(FileRejected) as exc:
        read_file(_xlsx(tmp_path, dup, "dup.xlsx"))
    assert exc.value.code == "duplicate_header"
    with pytest.raises(FileRejected) as exc:
        read_file(_xlsx(tmp_path, blank, "blank.xlsx"))
    assert exc.value.code == "blank_header" and "第 B 列" in exc.value.user_message
    with pytest.raises(FileRejected) as exc:
        read_file(_xlsx(tmp_path, lambda ws: None, "empty.xlsx"))
    assert exc.value.code == "no_header"


def test_xlsx_header_only(tmp_path):
    t = read_file(_xlsx(tmp_path, lambda ws: ws.append(["代码", "名称"])))
    assert t.header == ["代码", "名称"] and t.rows_in == 0


def test_not_an_xlsx(tmp_path):
    with pytest.raises(FileRejected) as exc:
        read_file(_write(tmp_path, "a.xlsx", "代码,名称\n1,2\n"))
    assert exc.value.code == "xlsx"


# --------------------------------------------------------------------------- JSONL

def test_jsonl(tmp_path):
    lines = [
        '{"代码": " X1 ", "资本": 12.0, "人数": 7, "比例": 0.25, "注销": false, "备注": null}',
        '{"代码": "X2", "坏": ',
        "",
        "[1, 2]",
        '{"代码": "X3", "标签": ["a", "乙"], "新列": {"k": 1}}',
    ]
    t = read_file(_write(tmp_path, "a.jsonl", "\ufeff" + "\r\n".join(lines) + "\r\n"))
    assert (t.fmt, t.encoding) == ("jsonl", "utf-8")
    assert t.header == ["代码", "资本", "人数", "比例", "注销", "备注", "标签", "新列"]
    assert [r.row_no for r in t.rows] == [1, 5]
    assert t.rows[0].values == {"代码": "X1", "资本": "12", "人数": "7", "比例": "0.25", "注销": "0", "备注": "",
                                "标签": "", "新列": ""}
    assert t.rows[1].values["标签"] == '["a", "乙"]' and t.rows[1].values["新列"] == '{"k": 1}'
    assert [(p.row_no, p.raw) for p in t.problems] == [(2, '{"代码": "X2", "坏": '), (4, "[1, 2]")]
    assert t.problems[0].reason.startswith("JSON 格式错误")
    assert t.problems[1].reason == "JSON 行不是对象"
    assert t.rows_in == 4


# --------------------------------------------------------------------------- rejection reports

def _csv_table(tmp_path, encoding: str) -> RawTable:
    text = f"{HEADER}\nA,甲,2024-01-01\nB,\"乙,2024-01-02\nC,丙,bad\nD,丁,2024-01-04\n"
    return read_file(_write(tmp_path, "in.csv", text, encoding))


@pytest.mark.parametrize("encoding, expect", [("utf-8", "utf-8-sig"), ("gbk", "gb18030")])
def test_rejects_csv(tmp_path, encoding, expect):
    table = _csv_table(tmp_path, encoding)
    assert [p.row_no for p in table.problems] == [3]
    out = write_rejects(table, {4: [("登记日期", "日期格式不正确"), ("企业名称", "名称含非法字符")]},
                        tmp_path / "out" / "rejects.csv")
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == (expect == "utf-8-sig")
    if expect == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    rows = list(csv.reader(raw.decode(expect).splitlines()))
    assert rows[0] == [*REPORT_COLUMNS, *HEADER.split(",")]
    assert rows[1] == ["3", "", "引号不匹配（第 3 行）", 'B,"乙,2024-01-02', "", ""]
    assert rows[2] == ["4", "登记日期、企业名称", "日期格式不正确；名称含非法字符", "C", "丙", "bad"]
    assert len(rows) == 3


def test_rejects_xlsx(tmp_path):
    def build(ws):
        ws.append(["代码", "名称"])
        ws.append(["X1", "甲"])
        ws.append(["X2", "=HYPERLINK(\"x\")"])
        ws["B3"].data_type = "s"  # text that looks like a formula
    table = read_file(_xlsx(tmp_path, build))
    out = write_rejects(table, {3: [("名称", "含公式"), ("", "整行重复")], 2: [("代码", "代码无效")]},
                        tmp_path / "r.xlsx")
    wb = load_workbook(out)
    ws = wb.worksheets[0]
    assert ws.title == "退回记录" and ws.freeze_panes == "A2" and ws["A1"].font.bold
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    assert values[0] == [*REPORT_COLUMNS, "代码", "名称"]
    assert values[1] == [2, "代码", "代码无效", "X1", "甲"]
    assert values[2] == [3, "名称", "含公式；整行重复", "X2", "=HYPERLINK(\"x\")"]
    assert ws["E3"].data_type == "s"  # kept as text, not turned into a formula


def test_rejects_jsonl(tmp_path):
    lines = ['{"代码": "X1", "资本": 1.5}', "not json", '{"代码": "X3"}']
    table = read_file(_write(tmp_path, "in.jsonl", "\n".join(lines) + "\n"))
    out = write_rejects(table, {1: [("资本", "超出范围")], 2: [("", table.problems[0].reason)]},
                        tmp_path / "r.jsonl")
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert got[0] == {"代码": "X1", "资本": 1.5, "_row": 1, "_fields": ["资本"], "_reasons": ["超出范围"]}
    assert got[1]["_raw"] == "not json" and got[1]["_row"] == 2
    assert got[1]["_reasons"] == [table.problems[0].reason]  # included automatically, listed once
    assert len(got) == 2


def test_jsonl_nested_too_deep_is_one_rejected_line(tmp_path):
    deep = '{"a": ' + "[" * 5000 + "]" * 5000 + "}"
    table = read_file(_write(tmp_path, "in.jsonl", f'{deep}\n{{"代码": "X2"}}\n'))
    assert [r.row_no for r in table.rows] == [2]
    assert [(p.row_no, p.reason) for p in table.problems] == [(1, "JSON 嵌套层数过多")]
    out = write_rejects(table, {}, tmp_path / "r.jsonl")
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(g["_row"], g["_raw"], g["_reasons"]) for g in got] == [(1, deep, ["JSON 嵌套层数过多"])]


def test_rejects_xlsx_long_cell_and_unknown_row(tmp_path):
    big = "长" * 100_000
    table = read_file(_write(tmp_path, "in.csv", f"名称,备注\n甲,{big}\n"))
    out = write_rejects(table, {2: [("备注", "字段过长")], 99: [("", "行号不存在")]}, tmp_path / "r.xlsx")
    # the report keeps the source's format: a CSV source gets a CSV report whatever the name
    rows = list(csv.reader(out.read_bytes().decode("utf-8-sig").splitlines()))
    assert rows[1][3:] == ["甲", big] and rows[2][:3] == ["99", "", "行号不存在"]
    xtable = RawTable("xlsx", "utf-8", ["名称", "备注"], table.rows, [])
    out = write_rejects(xtable, {2: [("备注", "字段过长")]}, tmp_path / "x.xlsx")
    cell = load_workbook(out).worksheets[0]["E2"].value
    assert len(cell) == 32767 and cell.endswith("（已截断）") and cell.startswith("长长")
