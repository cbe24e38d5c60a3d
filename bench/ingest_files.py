"""File and small-batch sections of ``bench/ingest.py``: ``Ingestor.ingest_file`` on
generated CSV files and simulator-style 5-record batches, each in a child process on
a fresh copy of the data set, timed phase by phase (:class:`Probe`) and statement by
statement; and the printing of both."""
from __future__ import annotations

import cProfile
import io
import pstats
import re
import statistics
import time
from collections import defaultdict
from typing import Any, Callable

from bench.ingest_data import ROOT, jsonl, load_avg
from bench.stats import pct


# ---------------------------------------------------------------------------- timing the phases (child)
PHASES = ("read", "check", "grids", "lookups", "transform", "quarantine", "stage", "publish")


class Probe:
    """Wraps the ingestion steps and the engine's methods to time them (this process only)."""

    def __init__(self, db: Any) -> None:
        from etl.ingest import batch, lookups, readers, transform

        self.t: dict[str, float] = defaultdict(float)
        self.sql: list[tuple[str, float]] = []
        self._saved: list[tuple[Any, str, Any]] = []
        for mod, attr, label in ((readers, "read_bytes", "read"), (batch, "check_fields", "check"),
                                 (lookups, "known_grids", "grids"), (lookups, "check_loaded", "lookups"),
                                 (transform, "build", "transform"), (batch.Ingestor, "_quarantine", "quarantine"),
                                 (batch.Ingestor, "_stage", "stage"), (batch.Ingestor, "_publish", "publish")):
            self._saved.append((mod, attr, getattr(mod, attr)))
            setattr(mod, attr, self._timed(getattr(mod, attr), label))
        for meth in ("query", "command", "insert"):
            setattr(db, meth, self._sql(getattr(db, meth), meth))
        self._saved += [(db, meth, None) for meth in ("query", "command", "insert")]

    def remove(self) -> None:
        """Put the original functions back (the profile should not see the wrappers)."""
        for obj, attr, orig in reversed(self._saved):
            if orig is None:
                delattr(obj, attr)  # the instance attribute: the class's method shows through again
            else:
                setattr(obj, attr, orig)
        self._saved.clear()

    def _timed(self, fn: Callable, label: str) -> Callable:
        def wrapper(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.t[label] += time.perf_counter() - t
        return wrapper

    def _sql(self, fn: Callable, meth: str) -> Callable:
        def wrapper(arg: Any, *rest: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(arg, *rest)
            finally:
                self.sql.append((_sql_label(meth, arg), time.perf_counter() - t))
        return wrapper

    def reset(self) -> None:
        self.t.clear()
        self.sql.clear()


def _sql_label(meth: str, arg: str) -> str:
    if meth == "insert":
        return f"insert {arg}"
    text = " ".join(arg.split())
    m = re.match(r"(SELECT|INSERT INTO|ALTER TABLE)\s+(\S+)", text)
    if not m:
        return text[:40]
    if m[1] == "SELECT":
        tables = re.findall(r"\bFROM\s+(\w+(?:\.\w+)?)", text)
        return "select " + (tables[0] if tables else "?")
    if m[1] == "ALTER TABLE":
        return f"alter {m[2]} " + ("drop partition" if "DROP PARTITION" in text else "delete")
    return f"insert…select {m[2]}"


#: The tables a file's rows land in (the raw baseline writes the same rows into them).
LANDING = ("events", "entities", "tasks", "task_events", "ingest_keys")


def load_file(path: str, source: str, scope: str, warm: dict[str, bytes], dump: str = "") -> dict[str, Any]:
    """(child) Load one file on this process's fresh database; time its phases. ``dump``: a
    folder to write the rows the file put in each table (Parquet) for :func:`raw_insert`."""
    from etl.ingest.batch import Ingestor
    from store.db import get_db

    db = get_db()
    ing = Ingestor(db)
    for src, body in warm.items():  # first-use costs (imports, calendars, boundaries) out of the figures
        ing.ingest_bytes(src, body, file_name=f"warm-{src}.jsonl", fmt="jsonl", scope=scope)
    probe = Probe(db)
    res = ing.ingest_file(path, source, scope=scope)
    probe.remove()  # (the dump's statements are not the load's)
    if dump:
        from store.executor import run

        for table in LANDING:
            df = run(db, "bench_dump", f"SELECT * FROM {table} WHERE batch_id = %(b)s", {"b": res.batch_id})
            if not df.empty:
                df.to_parquet(f"{dump}/{table}.parquet")
    return {"rows_in": res.rows_in, "loaded": res.rows_loaded, "rejected": res.rows_rejected,
            "seconds": res.seconds, "phases": dict(probe.t), "sql": len(probe.sql),
            "sql_s": sum(s for _, s in probe.sql), "state": res.state, "message": res.message}


def raw_insert(dump: str) -> dict[str, Any]:
    """(child) The raw baseline: the rows a file put in each table (``dump``), inserted into
    the same tables of a fresh copy of the data set as they are — one columnar insert per
    table (``Engine.insert``: ``INSERT … SELECT FROM Python(df)``), every materialized view
    feeding — timed. No reading, checking or look-ups: what the engine itself needs."""
    from pathlib import Path

    import pandas as pd

    from store.db import get_db

    db = get_db()
    frames = {t: pd.read_parquet(f) for t in LANDING if (f := Path(dump) / f"{t}.parquet").exists()}
    t0 = time.perf_counter()
    for table, df in frames.items():
        db.insert(table, df)
    return {"seconds": time.perf_counter() - t0, "rows": {t: len(df) for t, df in frames.items()}}


def small_batches(root: str, per_source: int, batch_rows: int) -> dict[str, Any]:
    """(child) Simulator-style batches (``batch_rows`` JSON lines each) per source, timed and profiled."""
    from etl.ingest.batch import Ingestor
    from etl.ingest.simulator import Simulator
    from store.db import get_db

    db = get_db()
    ing = Ingestor(db)
    sim = Simulator(ing, root, rate=2, seed=11)
    sim.step(40)  # warm: first-use costs, and the simulator's pools
    by_source: dict[str, list[dict]] = defaultdict(list)
    while min((len(by_source[s]) for s in ("registration", "inspection", "complaint", "task_feedback")),
              default=0) < batch_rows * (per_source + 1):
        for src, recs in sim.records(400).items():
            by_source[src].extend(recs)
    probe = Probe(db)
    out: dict[str, Any] = {"sources": {}}
    for src in ("registration", "inspection", "complaint", "task_feedback"):
        recs = by_source[src]
        times, sqls, sql_s, phases = [], [], [], defaultdict(list)
        for i in range(per_source):
            body = jsonl(recs[i * batch_rows:(i + 1) * batch_rows])
            probe.reset()
            res = ing.ingest_bytes(src, body, file_name=f"simulator-{src}.jsonl", fmt="jsonl", unit="bench",
                                   scope=root)
            times.append(res.seconds)
            sqls.append(len(probe.sql))
            sql_s.append(sum(s for _, s in probe.sql))
            for k in PHASES:
                phases[k].append(probe.t.get(k, 0.0))
        out["sources"][src] = {"times": times, "sql": statistics.median(sqls), "sql_s": statistics.median(sql_s),
                               "phases": {k: statistics.median(v) for k, v in phases.items()},
                               "loaded": res.rows_loaded, "rows": res.rows_in}
    # One registration batch statement by statement, then a cProfile of another.
    recs = by_source["registration"]
    probe.reset()
    ing.ingest_bytes("registration", jsonl(recs[-2 * batch_rows:-batch_rows]), file_name="simulator-registration.jsonl",
                     fmt="jsonl", unit="bench", scope=root)
    out["statements"] = list(probe.sql)
    probe.remove()
    prof = cProfile.Profile()
    body = jsonl(recs[-batch_rows:])
    prof.enable()
    ing.ingest_bytes("registration", body, file_name="simulator-registration.jsonl", fmt="jsonl", unit="bench",
                     scope=root)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(22)
    out["profile"] = buf.getvalue()
    return out


# ---------------------------------------------------------------------------- printing
def print_files(results: list[tuple[str, dict]]) -> None:
    print("file ingestion (Ingestor.ingest_file, CSV UTF-8 with Chinese headers, scope = root, each on a fresh "
          f"copy of the data set; seconds per phase; {load_avg()}):")
    head = "  ".join(f"{k:>6s}" for k in ("read", "check", "lookup", "transf", "quar", "stage", "publ", "other",
                                         "in SQL"))
    print(f"  {'file':28s} {'rows':>8s} {'loaded':>8s} {'rejected':>8s} {'seconds':>8s} {'rows/s':>8s} "
          f"{'raw/s':>8s} {'ratio':>6s} | {head}")
    for label, r in results:
        ph = r["phases"]
        cols = [ph.get("read", 0), ph.get("check", 0), ph.get("grids", 0) + ph.get("lookups", 0),
                ph.get("transform", 0), ph.get("quarantine", 0), ph.get("stage", 0), ph.get("publish", 0)]
        cols.append(max(0.0, r["seconds"] - sum(cols)))
        cols.append(r["sql_s"])
        print(f"  {label:28s} {r['rows_in']:8,} {r['loaded']:8,} {r['rejected']:8,} {r['seconds']:8.2f} "
              f"{r['rows_in'] / r['seconds']:8,.0f} {raw_rate(r):8,.0f} {raw_ratio(r):6.0%} | "
              + "  ".join(f"{c:6.2f}" for c in cols)
              + (f"  [{r['state']}: {r['message']}]" if r["state"] != "loaded" else ""))
    print("  (check = field checks incl. credit-code and date parsing; lookup = grid list + checks against loaded "
          "data; publish = INSERT…SELECT from stage + batch record + DROP PARTITION; other = archive write, "
          "batch state; in SQL = of all phases, the time inside chDB calls, {n} statements)".format(
        n="/".join(str(r["sql"]) for _, r in results)))
    print("  (raw/s = the file's rows over the time the engine takes to insert the rows the file put into "
          "events, entities, tasks, task events and keys, as they are, into a fresh copy with every view "
          "feeding (raw_insert); ratio = rows/s ÷ raw/s)")


def raw_rate(r: dict[str, Any]) -> float:
    """The file's rows per second of the raw baseline (NaN when it was not measured)."""
    raw = r.get("raw")
    return r["rows_in"] / raw["seconds"] if raw and raw["seconds"] > 0 else float("nan")


def raw_ratio(r: dict[str, Any]) -> float:
    return (r["rows_in"] / r["seconds"]) / raw_rate(r)


def print_small(r: dict[str, Any], batch_rows: int) -> None:
    print(f"small batches ({batch_rows} JSON lines each, as the live simulator sends them; ms per batch, "
          f"medians of the phases; {load_avg()}):")
    for src, s in r["sources"].items():
        ph = s["phases"]
        parts = "  ".join(f"{k} {1000 * ph[k]:.0f}" for k in PHASES if ph.get(k, 0) >= 0.0005)
        t = s["times"]
        print(f"  {src:13s} n={len(t):3d}  p50 {1000 * statistics.median(t):5.0f} ms  p95 {1000 * pct(t, 0.95):5.0f} ms"
              f" | {s['sql']:.0f} SQL statements, {1000 * s['sql_s']:.0f} ms in chDB | {parts}")
    stm = r["statements"]
    total = sum(s for _, s in stm)
    grouped: dict[str, list[float]] = defaultdict(list)
    for label, secs in stm:
        grouped[label].append(secs)
    print(f"  one registration batch, statement by statement ({len(stm)} statements, {1000 * total:.0f} ms):")
    for label, xs in sorted(grouped.items(), key=lambda kv: -sum(kv[1])):
        print(f"    {len(xs):2d} × {label:42s} {1000 * sum(xs):6.1f} ms")
    print("  cProfile of one registration batch (top cumulative):")
    text = r["profile"].replace(str(ROOT) + "/", "")
    text = re.sub(r"\S*/site-packages/", "", text)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    for ln in lines[start:]:
        print("    " + ln[:150])
