"""Exceptions of the ingestion path, each with a Chinese message for the source unit."""
from __future__ import annotations

from typing import Iterable


class IngestError(Exception):
    """Base: ``user_message`` (Chinese, shown to the department), ``code`` (machine tag)."""

    code = "ingest_error"

    def __init__(self, user_message: str, detail: str = "") -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message
        self.detail = detail or user_message


class UnknownSource(IngestError):
    code = "unknown_source"

    def __init__(self, source: str, known: Iterable[str]) -> None:
        known = list(known)
        super().__init__(f"未知的数据来源“{source}”，可用：{'、'.join(known)}",
                         f"unknown source {source!r}; known: {', '.join(known)}")


class BatchInProgress(IngestError):
    code = "batch_in_progress"

    def __init__(self, batch_id: str) -> None:
        super().__init__(f"批次 {batch_id[:12]} 正在导入，请稍后重试", f"batch {batch_id} is being loaded")
