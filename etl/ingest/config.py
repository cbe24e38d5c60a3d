"""Ingestion settings (JINJIAN_INGEST_*, JINJIAN_INBOX*, JINJIAN_SIMULATOR*,
JINJIAN_SOURCE_LATE_HOURS), validated with one-line ConfigError messages."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from settings import ConfigError, Settings, _SPECS, parse_flag, parse_named_numbers, parse_number

CRASH_POINTS = ("", "stage", "publish")


@dataclass(frozen=True)
class IngestSettings:
    ingest_dir: Path
    max_bytes: int
    inbox: bool
    poll_seconds: float
    simulator: bool
    simulator_rate: float
    late_hours: Mapping[str, float]
    crash_at: str = ""
    part_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "IngestSettings":
        from domain.sources import SOURCES

        env = os.environ if env is None else env
        base = Settings.from_env(env)

        def get(name: str) -> str:
            return env.get(name, _SPECS[name].default).strip()

        late = parse_named_numbers(_SPECS["JINJIAN_SOURCE_LATE_HOURS"].default, "JINJIAN_SOURCE_LATE_HOURS",
                                   tuple(SOURCES), 1, 24 * 366)
        late.update(parse_named_numbers(get("JINJIAN_SOURCE_LATE_HOURS"), "JINJIAN_SOURCE_LATE_HOURS",
                                        tuple(SOURCES), 1, 24 * 366))
        crash = get("JINJIAN_INGEST_CRASH_AT")
        if crash not in CRASH_POINTS:
            raise ConfigError(f"JINJIAN_INGEST_CRASH_AT={crash!r} must be empty, stage or publish")
        return cls(
            ingest_dir=Path(get("JINJIAN_INGEST_DIR") or base.data_dir / "ingest").expanduser(),
            max_bytes=int(parse_number(get("JINJIAN_INGEST_MAX_MB"), "JINJIAN_INGEST_MAX_MB", 1, 4096) * 1024 * 1024),
            inbox=parse_flag(get("JINJIAN_INBOX"), "JINJIAN_INBOX"),
            poll_seconds=parse_number(get("JINJIAN_INBOX_POLL_SECONDS"), "JINJIAN_INBOX_POLL_SECONDS", 0.2, 3600),
            simulator=parse_flag(get("JINJIAN_SIMULATOR"), "JINJIAN_SIMULATOR"),
            simulator_rate=parse_number(get("JINJIAN_SIMULATOR_RATE"), "JINJIAN_SIMULATOR_RATE", 0.01, 1000),
            late_hours=late, crash_at=crash,
            part_bytes=int(parse_number(get("JINJIAN_INGEST_PART_MB"), "JINJIAN_INGEST_PART_MB", 0.001, 4096)
                           * 1024 * 1024))
