"""The metadata store (JINJIAN_METADATA_URL): one SQLAlchemy engine per URL, shared
by every module that keeps tables there (report schedules and runs, ingestion tokens).
SQLite file by default, any SQLAlchemy URL (PostgreSQL) otherwise."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine as SAEngine

_engines: dict[str, SAEngine] = {}
_created: set[tuple[str, int]] = set()
_lock = threading.Lock()


def engine_for(url: str, metadata: MetaData) -> SAEngine:
    """The engine of ``url`` with ``metadata``'s tables created (once per process)."""
    with _lock:
        eng = _engines.get(url)
        if eng is None:
            if url.startswith("sqlite:///"):
                Path(url[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}} if url.startswith("sqlite") else {}
            eng = create_engine(url, **kwargs)
            _engines[url] = eng
        if (url, id(metadata)) not in _created:
            metadata.create_all(eng)
            _created.add((url, id(metadata)))
        return eng


def secret_hash(secret: str) -> str:
    """What the store keeps of a token (ingestion tokens, wall display tokens): its SHA-256."""
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()


def open_store(url: str, metadata: MetaData, what: str) -> SAEngine:
    """:func:`engine_for`, with a failure to open the store as DatabaseUnavailable whose
    message names ``what`` (e.g. 报告归档库) and the setting."""
    from sqlalchemy.exc import SQLAlchemyError

    from domain.errors import DatabaseUnavailable

    try:
        return engine_for(url, metadata)
    except (SQLAlchemyError, OSError) as exc:
        raise DatabaseUnavailable(f"metadata store {url!r}: {exc}".splitlines()[0],
                                  user_message=f"{what}无法打开，请联系系统管理员") from None


def dispose_all() -> None:
    """Close every engine (tests, shutdown)."""
    with _lock:
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()
        _created.clear()


def metadata_url(env: Mapping[str, str] | None = None) -> str:
    """JINJIAN_METADATA_URL, or the SQLite file in JINJIAN_DATA_DIR; ConfigError when it is
    not a database URL."""
    from settings import ConfigError, Settings, _SPECS

    env = os.environ if env is None else env
    url = env.get("JINJIAN_METADATA_URL", _SPECS["JINJIAN_METADATA_URL"].default).strip()
    url = url or f"sqlite:///{Settings.from_env(env).data_dir / 'metadata.sqlite'}"
    if "://" not in url:
        raise ConfigError(f"JINJIAN_METADATA_URL={url!r} is not a database URL (e.g. sqlite:///path)")
    return url
