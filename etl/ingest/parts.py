"""A large CSV or JSON-lines file read as parts, one at a time: bounded memory however large
the file (issue 20: a province's history arrives as files of several GB).

A part is about ``part_bytes`` of the file, cut after a line break that ends a record. For CSV
that is a line break outside a quoted field, found as the csv module reads quotes: a quote
opens a quoted field only at the start of a field, ``""`` inside one is a literal quote, and a
quote elsewhere is a literal character. JSON lines end at every ``\\n``. A CSV part carries the
file's header record in front of its own lines. Each part is loaded as its own batch
(``Ingestor.ingest_bytes`` with ``line_offset``), so its records keep their line numbers in the
file — in the rejection report, the quarantine and every message — and a run that is killed
resumes at the first part not loaded (each part at most once, by its bytes and place).

Line breaks are those of the readers: ``\\n``, ``\\r\\n`` and a lone ``\\r`` (CSV); ``\\n`` (JSON
lines). None of these bytes, nor the quote or the comma, occurs inside a multi-byte UTF-8 or
GB18030 character, so the cut is found in the raw bytes without decoding.

A quoted field left open (broken quoting) would hold the rest of the file: when no record ends
within twice the part size, the part is cut at its last line break instead, and the reader
reports the record the cut splits as unparsable — every line still reaches exactly one part.
(A single line longer than that is read on to its end; the batch is then refused as too large.)
"""
from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "Part", "parts", "record_ends"]

#: The formats read in parts (an XLSX workbook is read whole).
FORMATS = ("csv", "jsonl")
_QUOTE, _LF, _CR = 0x22, 0x0A, 0x0D
_FIELD_START = b",\r\n"
_VISIBLE = re.compile(rb"[\x21-\x7e]")


@dataclass(frozen=True)
class Part:
    """One part of a file: bytes to load as a batch and where they sit in the file."""

    number: int        #: 1, 2, …
    data: bytes        #: CSV: the file's header record, then this part's lines; JSON lines: its lines
    line_offset: int   #: add to a line number in ``data`` to get the line number in the file
    first_line: int    #: the file's line number of the part's first line
    last_line: int     #: … and of its last line
    end: int           #: the file offset after the part (progress)


def _breaks(data: bytes, fmt: str) -> int:
    if fmt == "jsonl":
        return data.count(b"\n")
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def record_ends(buf: bytes) -> Iterator[int]:
    """The offsets just after each CSV line break in ``buf`` that ends a record, in order;
    ``buf`` starts at a record's start. Stops where the rest is unknown: inside a quoted field
    to the end, a last quote that may be doubled, or a last ``\\r`` that may precede a ``\\n``."""
    n, i, quoted = len(buf), 0, False
    has_cr = b"\r" in buf
    while i < n:
        if quoted:
            q = buf.find(b'"', i)
            if q < 0 or q + 1 >= n:
                return
            if buf[q + 1] == _QUOTE:
                i = q + 2
            else:
                quoted, i = False, q + 1
            continue
        q = buf.find(b'"', i)
        seg = n if q < 0 else q
        while True:  # the line breaks before the next quote
            lf = buf.find(b"\n", i, seg)
            cr = buf.find(b"\r", i, seg) if has_cr else -1
            if cr >= 0 and (lf < 0 or cr < lf):
                if cr + 1 >= n:
                    return
                i = cr + 2 if buf[cr + 1] == _LF else cr + 1
            elif lf >= 0:
                i = lf + 1
            else:
                break
            yield i
        if q < 0:
            return
        quoted = q == 0 or buf[q - 1] in _FIELD_START  # a quote opens a field only at its start
        i = q + 1


def _last_break(buf: bytes, fmt: str) -> int:
    """The offset after the last line break in ``buf`` (0 if none), record or not."""
    lf = buf.rfind(b"\n") + 1
    if fmt == "jsonl":
        return lf
    cr = buf.rfind(b"\r", 0, len(buf) - 1) + 1  # (a last \r may precede a \n still unread)
    return max(lf, cr)


def _cut(buf: bytes, fmt: str) -> int:
    """The end of the last whole record in ``buf``, 0 if none ends there."""
    if fmt == "jsonl" or (b'"' not in buf and buf.count(b"\r") == buf.count(b"\r\n")):
        return buf.rfind(b"\n") + 1  # no quote, no lone \r: every \n ends a record
    last = 0
    for last in record_ends(buf):
        pass
    return last


def _blank(line: bytes) -> bool:
    """As the readers see it: nothing but white space (after a byte-order mark)."""
    body = line.removeprefix(codecs.BOM_UTF8).strip()
    if not body or _VISIBLE.search(body):
        return not body  # (a visible ASCII character: not blank, without decoding a whole part)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("gb18030", errors="replace")
    return not text.strip()


def _header(f: BinaryIO, block: int) -> bytes:
    """The CSV file's leading blank lines and header record; b"" if no record ends in the
    first ``2 * block`` bytes, or 1 MiB (then the file is read whole)."""
    buf = f.read(max(2 * block, 1 << 20))
    start = 0
    for end in record_ends(buf):
        if not _blank(buf[start:end]):
            f.seek(end)
            return buf[:end]
        start = end
    return b""


def parts(path: str | Path, fmt: str, part_bytes: int) -> Iterator[Part]:
    """The parts of the file ``path`` in format ``fmt`` ('csv' | 'jsonl'), in file order;
    none when a CSV file's header does not end early (:func:`_header`)."""
    if fmt not in FORMATS:
        raise ValueError(f"{fmt} files are read whole")
    with open(path, "rb") as f:
        head = _header(f, part_bytes) if fmt == "csv" else b""
        if fmt == "csv" and not head:
            return
        head_lines = _breaks(head, fmt)
        line = head_lines + 1  # the file's line number of the next part's first line
        buf, number = b"", 0
        while True:
            chunk = f.read(part_bytes)
            buf += chunk
            cut = _cut(buf, fmt) if chunk else len(buf)
            if cut == 0 and chunk:
                cut = _last_break(buf, fmt) if len(buf) >= 2 * part_bytes else 0
                if cut == 0:
                    continue  # no record (or, past twice the part size, no line) ends in what was read: read more
                logger.warning("parts of %s: no record ends in %d bytes after line %d (a quote left open?): "
                               "cut at a line break", Path(path).name, len(buf), line)
            body, buf = buf[:cut], buf[cut:]
            if not _blank(body):
                number += 1
                lines = _breaks(body, fmt) + (0 if body.endswith((b"\n", b"\r")) else 1)
                yield Part(number, head + body, line - head_lines - 1, line, line + lines - 1, f.tell() - len(buf))
                line += lines
            else:
                line += _breaks(body, fmt)
            if not chunk:
                return
