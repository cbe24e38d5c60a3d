"""A file's records as raw text (:class:`RawTable`), never losing one, and what every
format's reader shares: the whole-file refusal (:class:`FileRejected`), text decoding
(:func:`decode`), the size limit (:func:`too_large`) and header checks (:func:`columns`).
The readers themselves: :mod:`etl.ingest.readers` (entry points), ``csv_reader``,
``cell_readers`` (XLSX, JSONL) and :mod:`etl.reference.geofiles`.
"""
from __future__ import annotations

import codecs
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.ingest_errors import IngestError

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_BYTES", "FileRejected", "RawRow", "RawTable", "RowProblem", "columns", "decode", "too_large"]

DEFAULT_MAX_BYTES = 200 * 1024 * 1024


# --------------------------------------------------------------------------- data types

@dataclass(frozen=True)
class RawRow:
    """One parsed record: header name → stripped cell text ('' when empty)."""

    row_no: int  #: CSV: physical line where the record starts; XLSX: sheet row; JSONL: line
    values: dict[str, str]
    raw: str  #: the record as written (CSV line(s) without the final newline; XLSX cells joined by tab)


@dataclass(frozen=True)
class RowProblem:
    """A record that could not be split into fields; ``reason`` is Chinese."""

    row_no: int
    reason: str
    raw: str


class RawTable:
    """A whole file: header, parsed rows and unparseable records, both in file order.

    Held either as :class:`RawRow` objects (XLSX, JSONL, geodata) or column-wise
    (:meth:`from_columns`, CSV: one list of texts per header name, no object per record);
    :attr:`rows` builds the objects on first use, :meth:`column` the columns."""

    def __init__(self, fmt: str, encoding: str, header: list[str], rows: list[RawRow] | None,
                 problems: list[RowProblem]) -> None:
        self.fmt = fmt  #: 'csv' | 'xlsx' | 'jsonl' | 'geojson' | 'shp'
        self.encoding = encoding  #: 'utf-8' or 'gb18030'
        self.header = header
        self.problems = problems
        self._rows = rows
        self._columns: dict[str, list[str]] | None = None
        self._row_nos: list[int] = [r.row_no for r in rows] if rows is not None else []
        self._raws: list[str] = []

    @classmethod
    def from_columns(cls, fmt: str, encoding: str, header: list[str], columns: dict[str, list[str]],
                     row_nos: list[int], raws: list[str], problems: list[RowProblem]) -> RawTable:
        """A table held column-wise: ``columns[name][i]`` is the text of record ``row_nos[i]``."""
        table = cls(fmt, encoding, header, None, problems)
        table._columns, table._row_nos, table._raws = columns, row_nos, raws
        return table

    @property
    def rows(self) -> list[RawRow]:
        """The parsed records as :class:`RawRow` objects, in file order."""
        if self._rows is None:
            cols = self._columns or {}
            self._rows = [RawRow(n, {name: cols[name][i] for name in self.header}, self._raws[i])
                          for i, n in enumerate(self._row_nos)]
        return self._rows

    @property
    def n_rows(self) -> int:
        """Number of parsed records."""
        return len(self._row_nos)

    @property
    def row_numbers(self) -> list[int]:
        """The parsed records' row numbers, in file order."""
        return self._row_nos

    def column(self, name: str) -> list[str]:
        """The texts of column ``name`` ('' where a record lacks it), in file order."""
        if self._columns is not None:
            return self._columns.get(name) or [""] * len(self._row_nos)
        return [r.values.get(name, "") for r in self.rows]

    def records(self, row_nos: Sequence[int]) -> dict[int, RawRow]:
        """The parsed records with these row numbers (those that exist), by row number."""
        if self._rows is not None:
            wanted = set(row_nos)
            return {r.row_no: r for r in self._rows if r.row_no in wanted}
        at = {n: i for i, n in enumerate(self._row_nos)}
        cols = self._columns or {}
        return {n: RawRow(n, {name: cols[name][at[n]] for name in self.header}, self._raws[at[n]])
                for n in row_nos if n in at}

    def raw_texts(self, row_nos: Sequence[int]) -> dict[int, str]:
        """The record as written (parsed or not) of each of these row numbers that exists."""
        return {n: r.raw for n, r in self.records(row_nos).items()} | {
            p.row_no: p.raw for p in self.problems}

    @property
    def rows_in(self) -> int:
        """Number of records in the file (parsed + unparseable)."""
        return self.n_rows + len(self.problems)


class FileRejected(IngestError):
    """The whole file cannot be read. ``user_message`` (Chinese), ``detail`` (English), ``code``.

    Codes: ``empty``, ``encoding``, ``binary``, ``no_header``, ``duplicate_header``,
    ``blank_header``, ``xlsx``, ``format``, ``too_large``.
    """

    code = "file_rejected"

    def __init__(self, code: str, user_message: str, detail: str = "") -> None:
        super().__init__(user_message, detail)
        self.code = code


def too_large(size: int, max_bytes: int) -> FileRejected:
    """FileRejected('too_large') for a file of ``size`` bytes over the limit ``max_bytes``."""
    mb = 1024 * 1024
    return FileRejected("too_large", f"文件过大（{size / mb:.1f} MB），上限为 {max_bytes / mb:.0f} MB，请拆分后分批提交",
                        f"file has {size} bytes, limit {max_bytes}")


# --------------------------------------------------------------------------- text decoding

def decode(data: bytes, *, allow_gb18030: bool) -> tuple[str, str]:
    """(text, encoding) of ``data``: UTF-8 (BOM stripped), else GB18030 when allowed."""
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise FileRejected("binary", "文件包含空字节（NUL），不是文本文件：可能是二进制文件或 UTF-16 编码，"
                           "请另存为 UTF-8 编码后重新提交", f"NUL byte at offset {offset}: not a text file")
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if bom else data
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(codecs.BOM_UTF8) if bom else 0)
        text = None
        if allow_gb18030 and not bom:  # a BOM says UTF-8: a bad byte after it is damage, not GBK
            try:
                text, encoding = body.decode("gb18030"), "gb18030"
            except UnicodeDecodeError:
                text = None
        if text is None:
            accepted = "UTF-8 或 GB18030（GBK）" if allow_gb18030 else "UTF-8"
            raise FileRejected("encoding", f"文件编码无法识别：不是 {accepted} 编码（第 {offset + 1} 个字节起无法解码），"
                               "请另存为 UTF-8 编码后重新提交",
                               f"not {'UTF-8 or GB18030' if allow_gb18030 else 'UTF-8'}: "
                               f"first bad byte under UTF-8 at offset {offset}") from None
    if not text.strip():
        raise FileRejected("empty", "文件为空，没有任何内容", "file is whitespace only")
    return text, encoding


# --------------------------------------------------------------------------- header checks

def columns(names: Sequence[str], data_rows: Sequence[Sequence[str]], *,
             label: Any = lambda j: f"第 {j + 1} 列") -> list[tuple[int, str]]:
    """(index, name) of the usable columns. Rejects duplicate names and unnamed columns with
    data; an unnamed column without data (e.g. a trailing comma, a formatted empty column) is
    ignored."""
    if not any(names):
        raise FileRejected("no_header", "文件没有表头行（第一行非空行中没有列名）", "header row has no names")
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if not name:
            continue
        if name in seen:
            raise FileRejected("duplicate_header",
                               f"表头列名重复：“{name}”同时出现在{label(seen[name])}和{label(j)}，请修改列名后重新提交",
                               f"duplicate header {name!r} in columns {seen[name] + 1} and {j + 1}")
        seen[name] = j
    for j, name in enumerate(names):
        if not name and any(j < len(r) and r[j].strip() for r in data_rows):
            raise FileRejected("blank_header", f"{label(j)}有数据但表头为空，请补全列名后重新提交",
                               f"column {j + 1} has data but no header name")
    for j in range(len(names), max((len(r) for r in data_rows), default=0)):
        if any(j < len(r) and r[j].strip() for r in data_rows):  # only possible for XLSX
            raise FileRejected("blank_header", f"{label(j)}有数据但表头为空，请补全列名后重新提交",
                               f"column {j + 1} has data but no header name")
    return [(j, name) for j, name in enumerate(names) if name]
