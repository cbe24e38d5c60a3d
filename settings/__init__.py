"""Settings read from ``JINJIAN_*`` environment variables.

Every setting is declared once in :data:`SETTINGS` with its default and a
description; ``docs/settings.md`` documents each one and a test checks that the
two agree. Bad values raise :class:`ConfigError` with a one-line message.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parents[1]  # the project folder (this package sits in it)


class ConfigError(Exception):
    """A setting is missing or malformed. ``str(err)`` is a one-line message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


@dataclass(frozen=True)
class SettingSpec:
    name: str
    default: str
    description: str


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("JINJIAN_DATA_DIR", str(ROOT / "data"),
                "Directory of the embedded chDB database and other local data."),
    SettingSpec("JINJIAN_CLICKHOUSE_URL", "",
                "ClickHouse server URL (clickhouse://user:password@host:9000/db). "
                "Empty: use embedded chDB under JINJIAN_DATA_DIR."),
    SettingSpec("JINJIAN_QUERY_TIMEOUT", "30",
                "Time limit of one query in seconds (max_execution_time)."),
    SettingSpec("JINJIAN_CONNECT_TIMEOUT", "3",
                "Seconds to wait for a ClickHouse server connection."),
    SettingSpec("JINJIAN_CHDB_SESSIONS", "4",
                "Number of parallel embedded chDB sessions (queries beyond this wait)."),
    SettingSpec("JINJIAN_HOST", "127.0.0.1", "Address the web app listens on."),
    SettingSpec("JINJIAN_PORT", "8050", "Port the web app listens on."),
    SettingSpec("JINJIAN_ROOT_REGION", "44",
                "Region code of the deployment's jurisdiction (set but empty: the whole country); "
                "no user sees beyond it."),
    SettingSpec("JINJIAN_DEBUG", "0", "1 enables Dash debug mode (never on a wall display)."),
    SettingSpec("JINJIAN_LOG_LEVEL", "INFO", "Logging level (DEBUG, INFO, WARNING, ERROR)."),
    SettingSpec("JINJIAN_THREADS", "16",
                "Request threads of the production server (waitress, one process; 1–256). JINJIAN_DEBUG=1 serves "
                "with Flask's development server instead."),
    SettingSpec("JINJIAN_LOG_REPEAT_SECONDS", "600",
                "A warning or error with the same text as one written less than this many seconds ago is held "
                "back and counted; the next one after that says how many were held back (0: write every line)."),
    SettingSpec("JINJIAN_SHUTDOWN_SECONDS", "30",
                "On SIGTERM/SIGINT the app stops its background work (a batch being loaded, a report being "
                "built) and waits this long for it before closing the database and exiting."),
    SettingSpec("JINJIAN_WORK_PHOTO_KB", "2048",
                "Largest photo the grid workbench accepts with an on-site check, in KB (64..51200). The phone's "
                "browser shrinks photos to 1600 px before sending, so 2 MB is ample."),
    SettingSpec("JINJIAN_MAX_BODY_KB", "4096",
                "Largest request body in kilobytes outside the ingestion API (Dash callbacks, login, admin forms); "
                "larger bodies, chunked or not, are refused with 413 before they are read."),
    SettingSpec("JINJIAN_FRAME_ANCESTORS", "",
                "Space-separated origins (https://portal.example) allowed to show the app in a frame, e.g. a wall "
                "portal; empty: no page can be framed (frame-ancestors 'none', X-Frame-Options DENY)."),
    SettingSpec("JINJIAN_TILE_URL", "",
                "Map tile URL template on the intranet (http(s)://.../{z}/{x}/{y}.png). "
                "Empty: region maps draw boundaries on a plain dark background."),
    SettingSpec("JINJIAN_WALL_REFRESH_SECONDS", "5", "Command wall refresh interval in seconds."),
    SettingSpec("JINJIAN_WALL_PLAYLIST", "",
                "Comma-separated region codes the wall rotates through (e.g. 44,4401,4403,4419). "
                "Empty: the root region and then each of its children."),
    SettingSpec("JINJIAN_WALL_ROTATE_SECONDS", "0",
                "Seconds each playlist view stays on the wall; 0 turns rotation off."),
    SettingSpec("JINJIAN_STALE_MINUTES", "1440",
                "The wall warns that data is stale when the newest event is older than this."),
    SettingSpec("JINJIAN_HOLIDAY_FILE", "",
                "CSV of statutory holidays and make-up workdays for years chinese-calendar does not "
                "cover (format: docs/workdays.md). Empty: such years count Monday–Friday, with a notice."),
    SettingSpec("JINJIAN_TASK_LIMITS",
                "inspection=10,recheck=10,joint=5,town=5,department=10,clue_forward=2,disclosure=7",
                "Working-day limit of each task stage (names: inspection, recheck, joint, town, department, "
                "clue_forward, disclosure); names left out keep their default. Applies to stages that start "
                "after a change."),
    SettingSpec("JINJIAN_TASK_PUSH_MINUTES", "60",
                "Push limit in minutes: a registration, change, decision or failed inspection reaches its "
                "village (社区) within this time of the record's own time (登记后1小时内推送) — 推送及时率."),
    SettingSpec("JINJIAN_TASK_REMIND_DAYS", "2",
                "Open tasks due within this many working days are flagged 提醒 (blue)."),
    SettingSpec("JINJIAN_RISK_WEIGHTS",
                "complaints=15,penalties=15,abnormal=10,dishonest=20,failed_batches=10,failed_inspections=5,"
                "overdue_verifications=5,credit=10,industry=10",
                "Maximum points of each risk factor (docs/risk.md); factors left out keep their default."),
    SettingSpec("JINJIAN_RISK_GRADES", "15,30,50", "Entity risk score thresholds of yellow, orange and red."),
    SettingSpec("JINJIAN_RANDOM_RATIOS", "A=3,B=5,C=10,D=100",
                "双随机 sampling ratio in % of each credit-risk class (docs/double_random.md)."),
    SettingSpec("JINJIAN_INSPECT_WINDOW_DAYS", "30",
                "涉企检查: a firm inspected by two or more departments within this many days is flagged 多头检查."),
    SettingSpec("JINJIAN_INSPECT_MAX_PER_YEAR", "2",
                "涉企检查: a firm inspected more often than this within 365 days is flagged 频繁检查."),
    SettingSpec("JINJIAN_RISK_AREA_GRADES", "0.5,1,2",
                "High-risk (red + orange) share thresholds in % that grade grids and regions yellow, orange, red."),
    SettingSpec("JINJIAN_TASK_OVERDUE_BUCKETS", "5,10",
                "Overdue warning grades in working days: 1..a yellow, a+1..b orange, over b red (escalated)."),
    SettingSpec("JINJIAN_CHROMIUM", "/usr/bin/chromium",
                "Chromium executable that prints report PDFs (Playwright drives it; no browser download)."),
    SettingSpec("JINJIAN_REPORT_DIR", "",
                "Directory of the report archive (PDF and Excel files). Empty: <JINJIAN_DATA_DIR>/reports."),
    SettingSpec("JINJIAN_METADATA_URL", "",
                "SQLAlchemy URL of the metadata store (report schedules and runs). "
                "Empty: sqlite:///<JINJIAN_DATA_DIR>/metadata.sqlite."),
    SettingSpec("JINJIAN_REPORT_SCHEDULES", "",
                "Scheduled reports, comma-separated kind@region@HH:MM (kind: daily, weekly, monthly, quarterly), "
                "e.g. weekly@4419@08:00,monthly@44@07:30. Each files the last complete period after that time."),
    SettingSpec("JINJIAN_REPORT_SCHEDULER", "1",
                "1 runs due report schedules in the web app (a background thread, checked every minute); "
                "0 leaves it to cron and `python -m reports run-due`."),
    SettingSpec("JINJIAN_REPORT_TIMEOUT", "60",
                "Seconds a PDF export waits for the report page to be ready."),
    SettingSpec("JINJIAN_INGEST_DIR", "",
                "Ingestion folders (inbox/, processing/, done/, rejected/, archive/, reports/; docs/ingest.md). "
                "Empty: <JINJIAN_DATA_DIR>/ingest."),
    SettingSpec("JINJIAN_INGEST_MAX_MB", "200", "Largest file or API body accepted for ingestion, in MB."),
    SettingSpec("JINJIAN_INGEST_PART_MB", "16", "Bulk loads (python -m etl load) read a CSV or JSON-lines file "
                "larger than this, in MB, in parts of about this size, one batch each (bounded memory)."),
    SettingSpec("JINJIAN_INBOX", "1",
                "1 watches the inbox folder inside the web app (the process that owns embedded data); "
                "0 leaves it to `python -m etl inbox --watch` (server mode)."),
    SettingSpec("JINJIAN_INBOX_POLL_SECONDS", "2", "How often the inbox folder is scanned for new files."),
    SettingSpec("JINJIAN_SIMULATOR", "0",
                "1 runs the live event simulator in the web app (make run turns it on; keep 0 in production)."),
    SettingSpec("JINJIAN_SIMULATOR_RATE", "2", "Simulated events per second (0.01–1000)."),
    SettingSpec("JINJIAN_SOURCE_LATE_HOURS",
                "registration=24,change=48,cancellation=48,licence=72,penalty=168,complaint=24,inspection=72,"
                "sampling=168,credit_list=168,task_feedback=24",
                "A source is flagged late on the data-quality page when its newest batch is older than this "
                "many hours; sources left out keep their default."),
    SettingSpec("JINJIAN_INGEST_CRASH_AT", "",
                "Testing only: stage or publish makes the loader exit abruptly at that point of a batch, "
                "to prove that a retry leaves no duplicates and no loss. Keep empty."),
    SettingSpec("JINJIAN_WALL_LIVE_SECONDS", "1",
                "The wall checks for newly loaded data this often and redraws at once when there is some."),
    SettingSpec("JINJIAN_CACHE_SECONDS", "",
                "Time-to-live in seconds of the shared cache of screen queries (aggregates only; keyed by query, "
                "parameters, the viewer's region scope and the data version). Empty: the wall refresh interval "
                "(JINJIAN_WALL_REFRESH_SECONDS); 0 turns the cache off."),
    SettingSpec("JINJIAN_CACHE_URL", "",
                "Where the shared cache lives. Empty: in each app process's memory; redis://host:6379/0: a Redis "
                "server shared by every worker (needed when gunicorn runs several workers)."),
    SettingSpec("JINJIAN_VIEW_CACHE_SECONDS", "300",
                "How long whole screen views (the wall's refresh outputs) are shared by every screen showing them. "
                "Keyed by the data version, so a loaded batch is shown at once; this only bounds how long changes "
                "that bypass ingestion take to appear. 0: views are not shared (queries still are)."),
    SettingSpec("JINJIAN_ROLLUPS", "1",
                "1 answers indicator queries from the pre-aggregated rollup tables where an indicator allows it; "
                "0 reads the raw tables only (for comparison and benchmarks)."),
    SettingSpec("JINJIAN_RISK_SNAPSHOT_SECONDS", "300",
                "Risk scores of every entity are computed ahead for today (a background refresher; screens read "
                "the newest snapshot of the day, showing its time; docs/risk.md) and rebuilt at most this often "
                "when data was loaded. 0: always computed live."),
    SettingSpec("JINJIAN_MAP_PREPARE", "1",
                "1 builds the region maps of the jurisdiction root and its children in a background thread when "
                "the app serves its first request (boundaries are static; a province's first map takes about a "
                "second); 0 builds each map when first viewed."),
    SettingSpec("JINJIAN_CLICKHOUSE_CLUSTER", "",
                "Name of a ClickHouse cluster (remote_servers) in server mode: fact tables become Distributed "
                "tables over <table>_local on every shard, sharded by credit code. Empty: one server."),
    SettingSpec("JINJIAN_CLICKHOUSE_ALT_HOSTS", "",
                "Other ClickHouse servers the app connects to when the one in JINJIAN_CLICKHOUSE_URL is down, "
                "as host:port,host:port (on a cluster with replicas: the other servers; every one holds the "
                "Distributed tables and a replica of the dimension tables). Empty: that server only."),
    SettingSpec("JINJIAN_AUTH", "1",
                "1 requires a login (or a display-token link for walls) and enforces each user's region scope; "
                "0 is for development on one machine only: every visitor is an administrator of the jurisdiction."),
    SettingSpec("JINJIAN_SECRET_KEY", "",
                "Key that signs session cookies (at least 32 characters; the same on every worker). "
                "Empty: a random key generated once in <JINJIAN_DATA_DIR>/secret_key."),
    SettingSpec("JINJIAN_SECURE_COOKIES", "0",
                "1 marks the session cookie Secure (send it over HTTPS only); set it when the app is served by HTTPS."),
    SettingSpec("JINJIAN_SESSION_HOURS", "12",
                "A session ends after this many hours without a request (walls keep theirs alive by refreshing)."),
    SettingSpec("JINJIAN_SESSION_MAX_HOURS", "24",
                "A signed-in user's session ends this many hours after the login, however active (absolute limit); "
                "wall display sessions are not affected."),
    SettingSpec("JINJIAN_LOGIN_MAX_FAILURES", "5",
                "Failed logins for one user name (4× that from one address) before logins are locked."),
    SettingSpec("JINJIAN_LOGIN_LOCK_MINUTES", "15",
                "Window in which failed logins are counted, and how long a lock lasts."),
)
_SPECS = {s.name: s for s in SETTINGS}


FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def parse_flag(raw: str, name: str) -> bool:
    """1/0, true/false, yes/no, on/off → bool; anything else is a ConfigError naming the setting."""
    if raw.strip().lower() not in FLAGS:
        raise ConfigError(f"{name}={raw!r} must be 1 or 0")
    return FLAGS[raw.strip().lower()]


def parse_number(raw: str, name: str, lo: float, hi: float) -> float:
    """A number within [lo, hi], or a ConfigError naming the setting."""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={raw!r} is out of range {lo:g}..{hi:g}")
    return value


def setting_number(name: str, lo: float, hi: float, env: Mapping[str, str] | None = None) -> float:
    """The declared setting ``name`` (its default when unset) as a number within [lo, hi]."""
    env = os.environ if env is None else env
    return parse_number(env.get(name, _SPECS[name].default).strip(), name, lo, hi)


def _int(env: Mapping[str, str], name: str, lo: int, hi: int) -> int:
    raw = env.get(name, _SPECS[name].default).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={value} is out of range {lo}..{hi}")
    return value


def _playlist(raw: str) -> tuple[str, ...]:
    codes = tuple(c.strip() for c in raw.split(",") if c.strip())
    for code in codes:
        if not code.isdigit() or len(code) not in (2, 4, 6, 9, 12, 15):
            raise ConfigError(f"JINJIAN_WALL_PLAYLIST has {code!r}, not a region code")
    return codes


def parse_named_numbers(raw: str, name: str, allowed: tuple[str, ...], lo: float, hi: float,
                        whole: bool = True) -> dict[str, float]:
    """'a=1,b=2' → {'a': 1, 'b': 2} for names in ``allowed``; values within [lo, hi]
    (whole numbers when ``whole``). Errors are ConfigErrors naming the setting."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            raise ConfigError(f"{name}: {part!r} is not name=value with name in {', '.join(allowed)}")
        try:
            number = int(value) if whole else float(value)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise ConfigError(f"{name}: {key}={value.strip()!r} is not {kind}") from None
        if not lo <= number <= hi:
            raise ConfigError(f"{name}: {key}={number} is out of range {lo:g}..{hi:g}")
        out[key] = number
    return out


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    clickhouse_url: str
    query_timeout: int
    connect_timeout: int
    chdb_sessions: int
    host: str
    port: int
    root_region: str
    debug: bool
    log_level: str
    tile_url: str = ""
    wall_refresh_seconds: int = 5
    wall_playlist: tuple[str, ...] = ()
    wall_rotate_seconds: int = 0
    stale_minutes: int = 1440
    wall_live_seconds: int = 1
    clickhouse_cluster: str = ""
    clickhouse_alt_hosts: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, _SPECS[name].default).strip()

        root = get("JINJIAN_ROOT_REGION")
        if root and (not root.isdigit() or len(root) not in (2, 4, 6, 9, 12)):
            raise ConfigError(f"JINJIAN_ROOT_REGION={root!r} is not a region code (2/4/6/9/12 digits, or empty: "
                              "the whole country)")
        level = get("JINJIAN_LOG_LEVEL").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"JINJIAN_LOG_LEVEL={level!r} is not one of DEBUG, INFO, WARNING, ERROR")
        url = get("JINJIAN_CLICKHOUSE_URL")
        if url and not url.startswith(("clickhouse://", "clickhouses://")):
            raise ConfigError(f"JINJIAN_CLICKHOUSE_URL={url!r} must start with clickhouse://")
        cluster = get("JINJIAN_CLICKHOUSE_CLUSTER")
        if cluster and (not url or not cluster.replace("_", "").isalnum()):
            raise ConfigError(f"JINJIAN_CLICKHOUSE_CLUSTER={cluster!r} must be a cluster name (letters, digits, _) "
                              "and needs JINJIAN_CLICKHOUSE_URL")
        alt = ",".join(h.strip() for h in get("JINJIAN_CLICKHOUSE_ALT_HOSTS").split(",") if h.strip())
        if alt and (not url or not all(h.rpartition(":")[0] and h.rpartition(":")[2].isdigit()
                                       for h in alt.split(","))):
            raise ConfigError(f"JINJIAN_CLICKHOUSE_ALT_HOSTS={alt!r} must be host:port,host:port "
                              "and needs JINJIAN_CLICKHOUSE_URL")
        tiles = get("JINJIAN_TILE_URL")
        if tiles and not (tiles.startswith(("http://", "https://"))
                          and all(p in tiles for p in ("{z}", "{x}", "{y}"))):
            raise ConfigError(f"JINJIAN_TILE_URL={tiles!r} must start with http:// or https:// "
                              "and contain {z}, {x} and {y}")
        return cls(
            data_dir=Path(get("JINJIAN_DATA_DIR")).expanduser(),
            clickhouse_url=url,
            clickhouse_cluster=cluster,
            clickhouse_alt_hosts=alt,
            query_timeout=_int(env, "JINJIAN_QUERY_TIMEOUT", 1, 3600),
            connect_timeout=_int(env, "JINJIAN_CONNECT_TIMEOUT", 1, 120),
            chdb_sessions=_int(env, "JINJIAN_CHDB_SESSIONS", 1, 64),
            host=get("JINJIAN_HOST"),
            port=_int(env, "JINJIAN_PORT", 1, 65535),
            root_region=root,
            debug=get("JINJIAN_DEBUG") in ("1", "true", "yes"),
            log_level=level,
            tile_url=tiles,
            wall_refresh_seconds=_int(env, "JINJIAN_WALL_REFRESH_SECONDS", 1, 3600),
            wall_playlist=_playlist(get("JINJIAN_WALL_PLAYLIST")),
            wall_rotate_seconds=_int(env, "JINJIAN_WALL_ROTATE_SECONDS", 0, 86400),
            stale_minutes=_int(env, "JINJIAN_STALE_MINUTES", 1, 525600),
            wall_live_seconds=_int(env, "JINJIAN_WALL_LIVE_SECONDS", 1, 3600),
        )


def configure_logging(level: str = "INFO") -> None:
    """Log lines with time, level and module; a warning repeated by every request is written
    once per cause (:mod:`settings.logrepeat`). clickhouse-driver's own connection
    warnings (with tracebacks) are muted: our engine logs one line instead."""
    import logging

    from settings.logrepeat import RepeatFilter

    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)
    window = setting_number("JINJIAN_LOG_REPEAT_SECONDS", 0, 86400)
    for handler in logging.getLogger().handlers:  # the process's own log (not a test runner's capture)
        if type(handler) in (logging.StreamHandler, logging.FileHandler) and \
                not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter(window))
