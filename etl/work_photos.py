"""Photos of on-site checks (网格员工作台): checked before anything is saved, then stored with
the task under ``<JINJIAN_DATA_DIR>/work_photos/<task_id>/``.

A photo is accepted when its bytes are a JPEG, PNG or WebP image (the first bytes, not the
file name, decide) and it is at most ``JINJIAN_WORK_PHOTO_KB``; at most
:data:`MAX_PHOTOS` per action. A request with one bad photo saves none of them.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from domain.errors import InvalidParameter

logger = logging.getLogger(__name__)

MAX_PHOTOS = 5
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


@dataclass(frozen=True)
class Photo:
    name: str    # the file name the phone gave (shown in messages only)
    data: bytes


def photo_limit_kb(env: dict[str, str] | None = None) -> int:
    """JINJIAN_WORK_PHOTO_KB: the largest photo accepted, in KB (64..51200, default 2048)."""
    from settings import setting_number

    return int(setting_number("JINJIAN_WORK_PHOTO_KB", 64, 51200, env))


def kind_of(data: bytes) -> str | None:
    """'jpg', 'png' or 'webp' by the image's first bytes; None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_photos(photos: list[Photo], limit_kb: int) -> list[str]:
    """The extension of each photo, or InvalidParameter naming the first bad one (nothing saved)."""
    if len(photos) > MAX_PHOTOS:
        raise InvalidParameter(f"{len(photos)} photos", user_message=f"照片最多 {MAX_PHOTOS} 张，本次选了 {len(photos)} 张")
    kinds = []
    for i, p in enumerate(photos, 1):
        label = f"第 {i} 张照片（{p.name[:40]}）" if p.name else f"第 {i} 张照片"
        if not p.data:
            raise InvalidParameter(f"photo {i} empty", user_message=f"{label}是空文件")
        if len(p.data) > limit_kb * 1024:
            raise InvalidParameter(f"photo {i} {len(p.data)} bytes > {limit_kb} KB",
                                   user_message=f"{label}超过 {limit_kb // 1024 if limit_kb >= 1024 else limit_kb}"
                                                f"{' MB' if limit_kb >= 1024 else ' KB'}，请压缩后重试")
        kind = kind_of(p.data)
        if kind is None:
            raise InvalidParameter(f"photo {i} not an image", user_message=f"{label}不是 JPG、PNG 或 WebP 图片")
        kinds.append(kind)
    return kinds


def photo_dir(task_id: str) -> Path:
    from settings import Settings

    return Settings.from_env().data_dir / "work_photos" / task_id


def save_photos(task_id: str, key: str, photos: list[Photo], kinds: list[str]) -> list[str]:
    """Write the checked photos (each atomically); their stored names, ``<key>-<n>.<ext>``."""
    folder = photo_dir(task_id)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, (p, kind) in enumerate(zip(photos, kinds), 1):
        name = f"{key}-{i}.{kind}"
        tmp = folder / f".{name}.part"
        tmp.write_bytes(p.data)
        os.replace(tmp, folder / name)
        names.append(name)
    return names


def remove_photos(task_id: str, names: list[str]) -> None:
    """Undo :func:`save_photos` (the action was not recorded)."""
    for name in names:
        try:
            (photo_dir(task_id) / name).unlink()
        except FileNotFoundError:
            pass


def photo_path(task_id: str, name: str) -> Path | None:
    """The stored photo ``name`` of ``task_id``, or None (names are checked: no paths)."""
    if not _NAME.match(name or "") or name.startswith("."):
        return None
    path = photo_dir(task_id) / name
    return path if path.is_file() else None
