"""``python -m etl load PATH… --source S``: one file, many files or whole folders in one
run — a province's history as well as a feed that was down for a week.

- Folders are walked for CSV, XLSX and JSON-lines files; files load in name order (name
  history files by date and they load in time order).
- One progress bar for the run: rows, rows/s and an ETA from the bytes still to read.
- At most once per file: a file is a batch identified by its bytes (docs/ingest.md), so
  running the same command again skips what is loaded ("已导入，跳过").
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
from typing import Any, Callable, Iterable

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
        return (f"{self.files} files: {self.loaded} loaded, {self.skipped} already loaded (skipped), "
                f"{self.failed} failed; rows in {self.rows_in:,}, loaded {self.rows_loaded:,}, rejected "
                f"{self.rows_rejected:,}; {self.seconds:.1f} s, {rate:,.0f} rows/s")


def load_all(ing: Any, files: list[Path], source: str, *, unit: str = "", scope: str = "", history: bool = False,
             progress: Callable[..., Any] | None = None, out: Any = sys.stdout) -> RunTotals:
    """Load ``files`` one batch each through ``ing`` (an :class:`etl.ingest.batch.Ingestor`)."""
    from tqdm import tqdm

    from etl.ingest.raw import FileRejected

    sizes = [f.stat().st_size for f in files]
    total_bytes, done_bytes = sum(sizes), 0
    totals = RunTotals(files=len(files))
    t0 = time.perf_counter()
    bar = (progress or tqdm)(desc="导入", unit="行", disable=None, file=sys.stderr, dynamic_ncols=True)
    try:
        for f, size in zip(files, sizes):
            bar.set_postfix_str(f.name[-40:])
            try:
                res = ing.ingest_file(f, source, unit=unit, scope=scope, tick=bar.update, history=history)
            except (FileRejected, OSError) as exc:
                totals.failed += 1
                print(f"{f}: error: {getattr(exc, 'user_message', exc)}", file=out)
                continue
            done_bytes += size
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
            line = f"{f.name}: {note} (batch {res.batch_id[:12]})"
            totals.lines.append(line)
            print(line, file=out)
            if res.report and not res.already:
                print(f"  rejection report: {res.report}", file=out)
    finally:
        bar.close()
    totals.seconds = time.perf_counter() - t0
    logger.info("bulk load of %d files: %s", len(files), totals.summary())
    return totals
