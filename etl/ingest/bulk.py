"""``python -m etl load PATH… --source S``: one file, many files or whole folders in one
run — a province's history as well as a feed that was down for a week.

- Folders are walked for CSV, XLSX and JSON-lines files; files load in name order (name
  history files by date and they load in time order).
- One progress bar for the run: rows, rows/s and an ETA from the bytes still to read.
- At most once per file: a file is a batch identified by its bytes (docs/ingest.md), so
  running the same command again skips what is loaded ("已导入，跳过").
- A CSV or JSON-lines file larger than a part (``JINJIAN_INGEST_PART_MB``) is read in parts
  (:mod:`etl.ingest.parts`), one batch each, so memory stays bounded however large the file;
  its records keep their line numbers in the file, and a killed run resumes at the first part
  not loaded.
- Resumable: kill the run at any point and run it again — the files that finished stay
  loaded, a batch cut off mid-way is finished or undone from its archived input by the
  ingestor's recovery before anything else, and the rest continue.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

logger = logging.getLogger(__name__)

SUFFIXES = (".csv", ".xlsx", ".jsonl", ".ndjson", ".json")


class PathProblem(ValueError):
    """A named path that is neither a data file nor a folder holding some."""


def collect(paths: Iterable[Path]) -> list[Path]:
    """The data files named by ``paths`` (folders walked), each once, in name order per
    argument; a missing path or a folder without data files is an error."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted((f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES
                            and not f.name.startswith(".")), key=lambda f: str(f.relative_to(p)))
            if not found:
                raise PathProblem(f"{p}: no CSV, XLSX or JSON-lines files in this folder")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise PathProblem(f"{p}: no such file or folder")
    seen: set[Path] = set()
    return [f for f in out if not (f.resolve() in seen or seen.add(f.resolve()))]


@dataclass
class RunTotals:
    files: int = 0
    batches: int = 0
    loaded: int = 0
    skipped: int = 0
    failed: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.rows_in / self.seconds if self.seconds > 0 else 0.0
        parts = f" in {self.batches} batches" if self.batches != self.files else ""
        return (f"{self.files} files{parts}: {self.loaded} loaded, {self.skipped} already loaded (skipped), "
                f"{self.failed} failed; rows in {self.rows_in:,}, loaded {self.rows_loaded:,}, rejected "
                f"{self.rows_rejected:,}; {self.seconds:.1f} s, {rate:,.0f} rows/s")


@dataclass(frozen=True)
class Piece:
    """One batch of a run: a whole file, or a part of a large one."""

    path: Path
    label: str          #: the file's name, with the part's lines for a part
    end: int            #: bytes of the file read once this batch is done
    part: Any = None    #: the :class:`etl.ingest.parts.Part`, or None for a whole file
    fmt: str = ""       #: a part's format (a whole file's comes from its name)
    error: str = ""     #: the file could not be read on (the rest of the run goes on)


def pieces(files: list[Path], part_bytes: int) -> Iterator[Piece]:
    """The batches of a run, in order: every file whole, except CSV and JSON-lines files
    larger than ``part_bytes``, read in parts (only the current part is in memory)."""
    from etl.ingest.parts import FORMATS, parts
    from etl.ingest.readers import detect_format

    for f in files:
        try:
            size = f.stat().st_size
        except OSError as exc:  # gone since the run began: this file fails, the run goes on
            yield Piece(f, f.name, 0, error=str(exc))
            continue
        fmt = _format(f, detect_format)
        if part_bytes <= 0 or size <= part_bytes or fmt not in FORMATS:
            yield Piece(f, f.name, size)
            continue
        found = False
        try:
            for p in parts(f, fmt, part_bytes):
                found = True
                yield Piece(f, f"{f.name}（第 {p.first_line:,}–{p.last_line:,} 行）", p.end, p, fmt)
        except OSError as exc:  # unreadable from some point on: this file fails, the run goes on
            yield Piece(f, f.name, size, error=str(exc))
            continue
        if not found:  # no header record found in its first parts, or nothing after it: read whole
            yield Piece(f, f.name, size)


def _format(f: Path, detect: Callable[[str], str]) -> str:
    from etl.ingest.raw import FileRejected

    try:
        return detect(f.name)
    except FileRejected:  # not a data file's name: loading it says why
        return ""


def load_all(ing: Any, files: list[Path], source: str, *, unit: str = "", scope: str = "", history: bool = False,
             progress: Callable[..., Any] | None = None, out: Any = sys.stdout, part_bytes: int = 0) -> RunTotals:
    """Load ``files`` through ``ing`` (an :class:`etl.ingest.batch.Ingestor`): one batch per
    file, or per part of a file larger than ``part_bytes`` (0: every file whole)."""
    from tqdm import tqdm

    from etl.ingest.raw import FileRejected

    sizes = {f: f.stat().st_size for f in files}
    total_bytes, done_bytes, file_done = sum(sizes.values()), 0, 0
    totals = RunTotals(files=len(files))
    t0 = time.perf_counter()
    bar = (progress or tqdm)(desc="导入", unit="行", disable=None, file=sys.stderr, dynamic_ncols=True)
    try:
        current: Path | None = None
        for piece in pieces(files, part_bytes):
            f = piece.path
            if f != current:
                current, file_done = f, 0
            bar.set_postfix_str(piece.label[-40:])
            totals.batches += 1
            try:
                if piece.error:
                    raise OSError(piece.error)
                if piece.part is None:
                    res = ing.ingest_file(f, source, unit=unit, scope=scope, tick=bar.update, history=history)
                else:
                    res = ing.ingest_bytes(source, piece.part.data, file_name=piece.label, fmt=piece.fmt, unit=unit,
                                           scope=scope, tick=bar.update, history=history,
                                           line_offset=piece.part.line_offset)
            except (FileRejected, OSError) as exc:
                totals.failed += 1
                print(f"{piece.label}: error: {getattr(exc, 'user_message', exc)}", file=out)
                continue
            done_bytes += piece.end - file_done
            file_done = piece.end
            if res.already:
                totals.skipped += 1
                bar.update(res.rows_in)
            elif res.state == "loaded":
                totals.loaded += 1
            else:
                totals.failed += 1
            totals.rows_in += res.rows_in
            totals.rows_loaded += res.rows_loaded
            totals.rows_rejected += res.rows_rejected
            if done_bytes and totals.rows_in:  # the ETA: rows still to come, at this file mix's rows per byte
                bar.total = totals.rows_in + int((total_bytes - done_bytes) * totals.rows_in / done_bytes)
                bar.refresh()
            note = "已导入，跳过" if res.already else res.summary()
            line = f"{piece.label}: {note} (batch {res.batch_id[:12]})"
            totals.lines.append(line)
            print(line, file=out)
            if res.report and not res.already:
                print(f"  rejection report: {res.report}", file=out)
    finally:
        bar.close()
    totals.seconds = time.perf_counter() - t0
    logger.info("bulk load of %d files: %s", len(files), totals.summary())
    return totals
