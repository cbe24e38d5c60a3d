"""Report settings (JINJIAN_REPORT_DIR, JINJIAN_REPORT_SCHEDULES, …), validated
with one-line :class:`settings.ConfigError` messages that name the setting."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from settings import ConfigError, Settings, _SPECS, parse_flag
from store.metastore import metadata_url

from queries.report_periods import KINDS


@dataclass(frozen=True)
class ScheduleSpec:
    kind: str
    region: str
    time_of_day: str  # HH:MM, local time

    def __str__(self) -> str:
        return f"{self.kind}@{self.region}@{self.time_of_day}"


def parse_time(raw: str, name: str) -> str:
    hh, sep, mm = raw.strip().partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and 0 <= int(hh) < 24 and 0 <= int(mm) < 60):
        raise ConfigError(f"{name} has time {raw!r}; expected HH:MM (00:00–23:59)")
    return f"{int(hh):02d}:{mm}"


def parse_schedules(raw: str, name: str = "JINJIAN_REPORT_SCHEDULES") -> tuple[ScheduleSpec, ...]:
    """'weekly@4419@08:00,monthly@44@07:30' → specs (period kind @ region code @ time of day)."""
    out = []
    for item in (s.strip() for s in raw.split(",")):
        if not item:
            continue
        parts = item.split("@")
        if len(parts) != 3:
            raise ConfigError(f"{name} has {item!r}; expected kind@region@HH:MM, e.g. weekly@4419@08:00")
        kind, region, time_of_day = (p.strip() for p in parts)
        if kind not in KINDS:
            raise ConfigError(f"{name} has period {kind!r}; expected one of {', '.join(KINDS)}")
        if not region.isdigit() or len(region) not in (2, 4, 6, 9, 12, 15):
            raise ConfigError(f"{name} has region {region!r}, not a region code")
        out.append(ScheduleSpec(kind, region, parse_time(time_of_day, name)))
    return tuple(out)


@dataclass(frozen=True)
class ReportSettings:
    report_dir: Path
    metadata_url: str
    chromium: str
    schedules: tuple[ScheduleSpec, ...]
    scheduler: bool
    timeout: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ReportSettings":
        env = os.environ if env is None else env
        base = Settings.from_env(env)

        def get(name: str) -> str:
            return env.get(name, _SPECS[name].default).strip()

        report_dir = Path(get("JINJIAN_REPORT_DIR") or base.data_dir / "reports").expanduser()
        url = metadata_url(env)
        scheduler = parse_flag(get("JINJIAN_REPORT_SCHEDULER"), "JINJIAN_REPORT_SCHEDULER")
        raw_timeout = get("JINJIAN_REPORT_TIMEOUT")
        if not raw_timeout.isdigit() or not 5 <= int(raw_timeout) <= 3600:
            raise ConfigError(f"JINJIAN_REPORT_TIMEOUT={raw_timeout!r} must be whole seconds in 5..3600")
        return cls(report_dir=report_dir, metadata_url=url, chromium=get("JINJIAN_CHROMIUM"),
                   schedules=parse_schedules(get("JINJIAN_REPORT_SCHEDULES")),
                   scheduler=scheduler, timeout=int(raw_timeout))
