"""The inbox: a watched folder where departments drop files.

Layout under JINJIAN_INGEST_DIR (docs/ingest.md)::

    inbox/<source>/[<region code>/]<file>     drop files here (write to *.part, then rename)
    processing/<source>/…                     being loaded (left here by a crash: loaded again at start)
    done/<source>/<YYYYMMDD>/<file>           loaded (possibly with some rows rejected)
    rejected/<source>/<YYYYMMDD>/<file>       not loadable as a whole (empty, unreadable encoding …)
    rejected/<source>/<YYYYMMDD>/<stem>_退回记录.<ext>   the rejected rows, returned to the source unit

A file in ``inbox/<source>/<region>/`` is checked against that region (rows
outside it are rejected), one directly in ``inbox/<source>/`` against none.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Iterator

from etl.ingest.batch import BatchResult, Ingestor
from domain.ingest_errors import IngestError
from etl.ingest.raw import FileRejected
from domain.sources import SOURCES

logger = logging.getLogger(__name__)

SKIP_SUFFIXES = (".part", ".tmp", ".crdownload", ".swp")
SETTLE_SECONDS = 1.0  # a file must be unchanged this long before it is picked up
UNIT = "收件箱"


class Inbox:
    def __init__(self, ingestor: Ingestor, root: Path | None = None) -> None:
        self.ingestor = ingestor
        self.root = Path(root or ingestor.cfg.ingest_dir)
        for source in SOURCES:
            (self.root / "inbox" / source).mkdir(parents=True, exist_ok=True)

    def _waiting(self, folder: str, settle: float) -> Iterator[tuple[str, str, Path]]:
        now = time.time()
        for source in SOURCES:
            base = self.root / folder / source
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*")):
                if not path.is_file() or path.name.startswith((".", "~$")) or path.suffix.lower() in SKIP_SUFFIXES:
                    continue
                if now - path.stat().st_mtime < settle:
                    continue
                rel = path.relative_to(base).parts
                region = rel[0] if len(rel) == 2 and rel[0].isdigit() else ""
                yield source, region, path

    def scan_once(self, stop: threading.Event | None = None) -> list[tuple[Path, BatchResult]]:
        """Load every settled file: first those an interrupted run left in processing/
        (until ``stop`` is set: the file being loaded finishes, the next waits)."""
        out = []
        for folder, settle in (("processing", 0.0), ("inbox", SETTLE_SECONDS)):
            for source, region, path in list(self._waiting(folder, settle)):
                if stop is not None and stop.is_set():
                    return out
                try:
                    out.append((path, self._process(source, region, path, folder)))
                except Exception:  # noqa: BLE001 - one bad file must not hold up the others
                    logger.exception("inbox %s/%s: loading failed; it stays in processing/ and is retried",
                                     source, path.name)
        return out

    def _process(self, source: str, region: str, path: Path, folder: str) -> BatchResult:
        sub = Path(source, region) if region else Path(source)
        work = self.root / "processing" / sub / path.name
        if folder == "inbox":
            work.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, work)
        try:
            res = self.ingestor.ingest_file(work, source, unit=UNIT, scope=region)
        except (FileRejected, IngestError) as exc:
            res = BatchResult("", source, "failed", message=exc.user_message)
        day = dt.date.today().strftime("%Y%m%d")
        dest_dir = self.root / ("done" if res.state == "loaded" else "rejected") / source / day
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = _free_name(dest_dir / path.name)
        shutil.move(str(work), dest)
        if res.report is not None:
            back = self.root / "rejected" / source / day / f"{path.stem}_退回记录{res.report.suffix}"
            back.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(res.report, _free_name(back))
        logger.info("inbox %s/%s: %s → %s", source, path.name, res.summary(), dest.parent)
        return res

    def watch(self, stop: threading.Event | None = None, poll: float | None = None) -> None:
        """Scan until ``stop`` is set; errors are logged, never fatal."""
        stop = stop or threading.Event()
        poll = poll or self.ingestor.cfg.poll_seconds
        logger.info("watching inbox %s every %.1f s", self.root / "inbox", poll)
        while not stop.is_set():
            try:
                self.scan_once(stop)
            except Exception:  # noqa: BLE001 - a watcher on a wall server must keep running
                logger.exception("inbox scan failed")
            stop.wait(poll)


def _free_name(path: Path) -> Path:
    """``path``, or ``stem-2.ext``, ``stem-3.ext`` … when it exists."""
    n, out = 1, path
    while out.exists():
        n += 1
        out = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return out
