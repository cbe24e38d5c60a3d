"""One log line per cause: a warning or error repeated by every request (a wall refreshing
each second against a database that is down, a bad setting met by every page) is written
the first time, then counted; the next time it occurs after ``window`` seconds it is
written again with how often it was held back. Installed on the process's log handlers by
:func:`settings.configure_logging` (``JINJIAN_LOG_REPEAT_SECONDS``; 0 = every line)."""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

MAX_CAUSES = 2000


class RepeatFilter(logging.Filter):
    """Holds back WARNING and above whose text was written less than ``window`` s ago."""

    def __init__(self, window: float, clock=time.monotonic) -> None:  # noqa: ANN001 - a clock function
        super().__init__()
        self.window, self.clock = window, clock
        self._seen: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()  # cause → [written at, held]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.window <= 0 or record.levelno < logging.WARNING or record.exc_info:
            return True
        key = (record.name, record.levelno, record.getMessage())
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.window:
                seen[1] += 1
                return False
            held = int(seen[1]) if seen else 0
            self._seen[key] = [now, 0]
            self._seen.move_to_end(key)
            while len(self._seen) > MAX_CAUSES:
                self._seen.popitem(last=False)
        if held:
            record.msg = f"{record.getMessage()} (held back {held} times in the last {self.window:g} s)"
            record.args = ()
        return True
