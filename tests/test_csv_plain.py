"""Issue 20: a CSV file without quotes is split line by line (``str.split``) instead of by the
csv module; both ways must give the same table (header, row numbers, fields, raw text, unparsable
records, whole-file refusals) on every input, including the corpus of bad files."""
from __future__ import annotations

import random

import pytest

from etl.ingest import csv_reader
from etl.ingest.raw import FileRejected, RawTable


def _outcome(table_or_error: RawTable | FileRejected) -> tuple:
    if isinstance(table_or_error, FileRejected):
        return ("rejected", table_or_error.code, table_or_error.user_message)
    t = table_or_error
    return (t.fmt, t.encoding, t.header, t.row_numbers, {h: t.column(h) for h in t.header},
            [(r.row_no, r.values, r.raw) for r in t.rows], [(p.row_no, p.reason, p.raw) for p in t.problems])


def _read(data: bytes, plain: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    with monkeypatch.context() as m:
        if not plain:
            m.setattr(csv_reader, "_plain_lines", lambda text: None)
        try:
            return _outcome(csv_reader.read_csv(data))
        except FileRejected as exc:
            return _outcome(exc)


def read_both(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple, tuple]:
    """The outcome of reading ``data`` line by line (when it qualifies) and by the csv module."""
    return _read(data, True, monkeypatch), _read(data, False, monkeypatch)


CASES = {
    "simple": "a,b,c\n1,2,3\n4,5,6\n",
    "crlf, no final newline": "a,b,c\r\n1,2,3\r\n4,5,6",
    "blank and whitespace lines": "\n  \na,b\n\n1,2\n \t \n3,4\n\n",
    "empty formatted rows": "a,b,c\n,,\n1,2,3\n, ,\n,,,,\n",
    "wrong field counts": "a,b,c\n1,2\n1,2,3,4\n5,6,7\n",
    "trailing comma, unnamed column": "a,b,\n1,2,\n3,4,\n",
    "unnamed column with data": "a,,c\n1,2,3\n",
    "duplicate header": "a,b,a\n1,2,3\n",
    "spaces stripped": " a , b \n 1 ,\u30002\u3000\n",
    "unicode line separator in a field": "a,b\n1,x\u2028y\n2,z\x85w\n",
    "lone carriage return (not plain)": "a,b\r1,2\r3,4\r",
    "header only": "a,b,c\n",
    "utf-8 bom": "\ufeffa,b\n1,2\n",
    "gbk": "名称,地址\n某某商行,广州市\n",
}


@pytest.mark.parametrize("name", list(CASES))
def test_plain_lines_equal_the_csv_module(name: str, monkeypatch: pytest.MonkeyPatch):
    text = CASES[name]
    data = text.encode("gb18030") if name == "gbk" else text.encode()
    fast, slow = read_both(data, monkeypatch)
    assert fast == slow
    if name == "wrong field counts":
        assert [p[0] for p in fast[-1]] == [2, 3]  # the two records, on their own lines, nothing lost


def test_random_files_read_alike(monkeypatch: pytest.MonkeyPatch):
    """600 random quote-free files over the characters that matter to splitting."""
    rng = random.Random(20)
    alphabet = ["a", "b", "中", ",", ",", " ", "\t", "\u3000", "\n", "\r\n", "\r", "\u2028", "1"]
    plain_seen = 0
    for _ in range(600):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        data = ("h1,h2,h3\n" + text).encode() if rng.random() < 0.7 else text.encode()
        fast, slow = read_both(data, monkeypatch)
        assert fast == slow, repr(data)
        plain_seen += csv_reader._plain_lines(data.decode()) is not None
    assert plain_seen > 100  # the fast path was really taken


def test_uniform_files_read_alike(monkeypatch: pytest.MonkeyPatch):
    """Files whose every line has the header's field count (read as whole columns) — with
    spaces, Unicode spaces, empty fields and CRLF — read exactly as by the csv module."""
    rng = random.Random(7)
    cells = ["", " ", "a", "中文", " x ", "\u3000名\u3000", "1.5", "\t", "2024-01-02"]
    for _ in range(300):
        width = rng.randint(1, 5)
        header = ",".join(f"列{j}" for j in range(width))
        lines = [",".join(rng.choice(cells) for _ in range(width)) for _ in range(rng.randint(0, 8))]
        lines = [ln if ln.replace(",", "").strip() else "x" + ln for ln in lines]  # no blank-only records here
        end = rng.choice(["\n", "\r\n"])
        text = rng.choice(["", "\n", " \n"]) + header + end + end.join(lines) + rng.choice(["", end])
        fast, slow = read_both(text.encode(), monkeypatch)
        assert fast == slow, repr(text)
    for text in ("a,b\n1,2\n\n3,4\n", "a,,c\n1,2,3\n", "a,b\n1,2\n,\n"):  # not uniform: record by record
        assert csv_reader._split_uniform(text.split("\n")[:-1]) is None
        fast, slow = read_both(text.encode(), monkeypatch)
        assert fast == slow
