"""Small helpers shared by the benchmarks: quantiles, the machine, Markdown tables."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def pct(xs: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``xs``."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A pipe table with aligned columns (numbers right-aligned)."""
    cells = [[str(h) for h in headers]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    width = [max(3, max(len(r[i]) for r in cells)) for i in range(len(headers))]
    num = [all(_numeric(r[i]) for r in cells[1:] if r[i]) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(r, width, num)) + " |"

    sep = "| " + " | ".join(("-" * (w - 1) + ":") if n else "-" * w for w, n in zip(width, num)) + " |"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def _numeric(s: str) -> bool:
    s = s.replace(",", "").replace("×", "").replace("%", "").replace(" ms", "").replace(" s", "")
    s = s.replace("MB", "").replace(">", "").strip()
    try:
        float(s)
        return True
    except ValueError:
        return s in ("n/a", "-", "")


def ms(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


def machine() -> str:
    """Cores, CPU model, memory and Python of this machine."""
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GB"
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem} RAM, Python {platform.python_version()}"
