"""A warning met by every request is logged once per cause (issue #30, item 6)."""
from __future__ import annotations

import io
import logging
import subprocess
import sys

from settings import ROOT
from settings.logrepeat import RepeatFilter


def _logger(window: float, clock):  # noqa: ANN001
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RepeatFilter(window, clock))
    log = logging.getLogger(f"test.repeat.{id(out)}")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return log, out


def test_a_repeated_warning_is_one_line_per_window():
    now = [0.0]
    log, out = _logger(600, lambda: now[0])
    for _ in range(1587):  # the cachelib warnings of one session
        log.warning("cache timeout %s is not a whole number", 2.5)
        now[0] += 0.1
    log.warning("database unreachable")  # another cause: written
    log.info("batch loaded")  # below WARNING: always written
    log.info("batch loaded")
    now[0] = 10_000.0
    log.warning("cache timeout %s is not a whole number", 2.5)
    lines = out.getvalue().splitlines()
    assert lines[:4] == ["cache timeout 2.5 is not a whole number", "database unreachable", "batch loaded",
                         "batch loaded"]
    # 1587 in 158.7 s: the first written, the rest held back and counted when the window ends.
    assert lines[4] == "cache timeout 2.5 is not a whole number (held back 1586 times in the last 600 s)"
    assert len(lines) == 5


def test_zero_writes_every_line():
    log, out = _logger(0, lambda: 0.0)
    for _ in range(3):
        log.warning("same")
    assert out.getvalue().splitlines() == ["same"] * 3


def test_the_app_process_installs_it():
    code = ("import logging; from settings import configure_logging; configure_logging('INFO'); "
            "[logging.getLogger('x').warning('again') for _ in range(50)]")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("again") == 1, out.stderr
