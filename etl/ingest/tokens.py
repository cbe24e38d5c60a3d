"""Per-source ingestion tokens in the metadata store (JINJIAN_METADATA_URL).

A token lets one source unit post one source's records to
``POST /api/v1/ingest/<source>``; it is bound to the unit's region, and rows
outside that region are rejected. Only the SHA-256 of a token is stored; the
token itself is shown once, when it is created (``python -m etl token add``).
"""
from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert, select, update

from domain.sources import get_source
from store.metastore import engine_for, secret_hash

logger = logging.getLogger(__name__)

metadata = MetaData()
tokens = Table(
    "ingest_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("unit", String(100), nullable=False),
    Column("region", String(15), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    source: str
    unit: str
    region: str
    active: bool


_hash = secret_hash


class TokenStore:
    def __init__(self, url: str) -> None:
        self.engine = engine_for(url, metadata)

    def add(self, source: str, unit: str, region: str) -> tuple[int, str]:
        """Create a token; returns (id, token). The token is not stored and cannot be shown again."""
        get_source(source)
        if region and not (region.isdigit() and len(region) in (2, 4, 6, 9, 12)):
            raise ValueError(f"region {region!r} is not a region code")
        token = f"jj_{source}_{secrets.token_urlsafe(24)}"
        with self.engine.begin() as conn:
            res = conn.execute(insert(tokens).values(source=source, unit=unit, region=region, token_hash=_hash(token),
                                                     created_at=dt.datetime.now().replace(microsecond=0)))
            return int(res.inserted_primary_key[0]), token

    def revoke(self, token_id: int) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(update(tokens).where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                               .values(revoked_at=dt.datetime.now().replace(microsecond=0)))
            return res.rowcount > 0

    def check(self, token: str) -> TokenInfo | None:
        """The active token's binding, or None (unknown or revoked)."""
        digest = _hash(token)
        with self.engine.connect() as conn:
            row = conn.execute(select(tokens).where(tokens.c.token_hash == digest)).mappings().first()
        if row is None or row["revoked_at"] is not None or not hmac.compare_digest(row["token_hash"], digest):
            return None
        return TokenInfo(row["id"], row["source"], row["unit"], row["region"], True)

    def list(self) -> list[TokenInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tokens).order_by(tokens.c.id)).mappings().all()
        return [TokenInfo(r["id"], r["source"], r["unit"], r["region"], r["revoked_at"] is None) for r in rows]
