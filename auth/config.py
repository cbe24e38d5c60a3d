"""Access-control settings (JINJIAN_AUTH, JINJIAN_SECRET_KEY, JINJIAN_SECURE_COOKIES, JINJIAN_SESSION_HOURS,
JINJIAN_SESSION_MAX_HOURS,
JINJIAN_LOGIN_MAX_FAILURES, JINJIAN_LOGIN_LOCK_MINUTES), validated with one-line ConfigError messages."""
from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from settings import ConfigError, Settings, _SPECS, parse_flag, parse_number

logger = logging.getLogger(__name__)


def auth_enabled(env: Mapping[str, str] | None = None) -> bool:
    """JINJIAN_AUTH alone (read on every request: no other setting is parsed)."""
    env = os.environ if env is None else env
    return parse_flag(env.get("JINJIAN_AUTH", _SPECS["JINJIAN_AUTH"].default).strip(), "JINJIAN_AUTH")


@dataclass(frozen=True)
class AuthSettings:
    enabled: bool
    secret_file: Path
    secret_key: str
    secure_cookies: bool
    session_hours: float
    max_failures: int
    lock_minutes: float
    metadata_url: str
    session_max_hours: float = 24.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "AuthSettings":
        from store.metastore import metadata_url

        env = os.environ if env is None else env
        base = Settings.from_env(env)

        def get(name: str) -> str:
            return env.get(name, _SPECS[name].default).strip()

        key = get("JINJIAN_SECRET_KEY")
        if key and len(key) < 32:
            raise ConfigError("JINJIAN_SECRET_KEY must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return cls(
            enabled=auth_enabled(env),
            secret_file=base.data_dir / "secret_key",
            secret_key=key,
            secure_cookies=parse_flag(get("JINJIAN_SECURE_COOKIES"), "JINJIAN_SECURE_COOKIES"),
            session_hours=parse_number(get("JINJIAN_SESSION_HOURS"), "JINJIAN_SESSION_HOURS", 0.1, 24 * 30),
            max_failures=int(parse_number(get("JINJIAN_LOGIN_MAX_FAILURES"), "JINJIAN_LOGIN_MAX_FAILURES", 1, 100)),
            lock_minutes=parse_number(get("JINJIAN_LOGIN_LOCK_MINUTES"), "JINJIAN_LOGIN_LOCK_MINUTES", 0.1, 1440),
            metadata_url=metadata_url(env),
            session_max_hours=parse_number(get("JINJIAN_SESSION_MAX_HOURS"), "JINJIAN_SESSION_MAX_HOURS", 0.1, 24 * 30),
        )

    def signing_key(self) -> str:
        """JINJIAN_SECRET_KEY, else a random key kept in <data dir>/secret_key (mode 0600),
        so sessions survive a restart and every worker on the host signs alike."""
        if self.secret_key:
            return self.secret_key
        path = self.secret_file
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            logger.warning("JINJIAN_SECRET_KEY is not set: generated %s", path)
        return path.read_text().strip()
