"""A large CSV or JSON-lines file read as parts, one at a time: bounded memory however large
the file (issue 20: a province's history arrives as files of several GB).

A part is at most about ``part_bytes`` of the file, cut after a line break that ends a record:
for CSV, one where the quote characters read so far pair up (a quoted field may hold line
breaks); JSON lines cannot hold one. A CSV part carries the file's header line(s) in front of
its own lines. Each part is loaded as its own batch (``Ingestor.ingest_bytes`` with
``line_offset``), so its records keep their line numbers in the file — in the rejection report,
the quarantine and every message — and a run that is killed resumes at the first part not
loaded (each part at most once, by its bytes and place).

Line breaks are counted as the readers count them: ``\\n``, ``\\r\\n`` and a lone ``\\r`` (CSV);
``\\n`` (JSON lines). Neither byte occurs inside a multi-byte UTF-8 or GB18030 character, nor
does the quote character, so the cut is found in the raw bytes without decoding.

A file whose quoting is broken (an odd number of quote characters) cannot be cut at a record
boundary after the break: it is then cut at the last line break of a part, and the reader reports
the records the cut split as unparsable — every line still reaches exactly one part, nothing is
lost.
"""
from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "Part", "parts"]

#: The formats read in parts (an XLSX workbook is read whole).
FORMATS = ("csv", "jsonl")
#: How many earlier line breaks a CSV cut tries before it gives up on pairing quotes.
_QUOTE_TRIES = 10_000


@dataclass(frozen=True)
class Part:
    """One part of a file: bytes to load as a batch and where they sit in the file."""

    number: int        #: 1, 2, …
    data: bytes        #: CSV: the file's header line(s), then this part's lines; JSON lines: its lines
    line_offset: int   #: add to a line number in ``data`` to get the line number in the file
    first_line: int    #: the file's line number of the part's first line
    last_line: int     #: … and of its last line
    end: int           #: the file offset after the part (progress)


def _breaks(data: bytes, fmt: str) -> int:
    if fmt == "jsonl":
        return data.count(b"\n")
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _cut(buf: bytes, fmt: str) -> int:
    """The end of the last whole record in ``buf`` (just after a ``\\n``), 0 if there is none."""
    pos = buf.rfind(b"\n")
    if pos < 0 or fmt == "jsonl":
        return pos + 1
    quotes = buf.count(b'"', 0, pos + 1)
    last = pos
    for _ in range(_QUOTE_TRIES):
        if quotes % 2 == 0:
            return pos + 1
        prev = buf.rfind(b"\n", 0, pos)
        if prev < 0:
            break
        quotes -= buf.count(b'"', prev + 1, pos + 1)
        pos = prev
    logger.warning("parts: quotes do not pair up before byte %d of a part: cut at a line break", last)
    return last + 1


def _header(f: BinaryIO, block: int) -> bytes:
    """The CSV file's leading blank lines and header record (quote pairs respected)."""
    buf = b""
    while True:
        chunk = f.read(block)
        buf += chunk
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            head = buf[:end + 1]
            if head.removeprefix(codecs.BOM_UTF8).strip() and head.count(b'"') % 2 == 0:
                f.seek(len(head))
                return head
            start = end + 1
        if not chunk:
            f.seek(len(buf))
            return buf  # no line break after the header: the whole file is its header


def parts(path: str | Path, fmt: str, part_bytes: int) -> Iterator[Part]:
    """The parts of the file ``path`` in format ``fmt`` ('csv' | 'jsonl'), in file order."""
    if fmt not in FORMATS:
        raise ValueError(f"{fmt} files are read whole")
    with open(path, "rb") as f:
        head = _header(f, part_bytes) if fmt == "csv" else b""
        head_lines = _breaks(head, fmt)
        line = head_lines + 1  # the file's line number of the next part's first line
        buf, number = b"", 0
        while True:
            chunk = f.read(part_bytes)
            buf += chunk
            cut = _cut(buf, fmt) if chunk else len(buf)
            if cut == 0 and chunk:
                continue  # no record ends in what was read: read more
            body, buf = buf[:cut], buf[cut:]
            if body.strip():
                number += 1
                lines = _breaks(body, fmt) + (0 if body.endswith((b"\n", b"\r")) else 1)
                yield Part(number, head + body, line - head_lines - 1, line, line + lines - 1, f.tell() - len(buf))
                line += lines
            else:
                line += _breaks(body, fmt)
            if not chunk:
                return
