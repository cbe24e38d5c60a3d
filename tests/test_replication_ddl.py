"""store.replication: which engine each table gets on a cluster with replicas (no server)."""
from __future__ import annotations

import pytest

from store.replication import replicated
from store.schema import STAGED_TABLES, TABLES, _stage_ddl


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_gets_its_replicated_twin(name: str) -> None:
    ddl = TABLES[name]
    engine = ddl[ddl.index("ENGINE = ") + 9:].split()[0]
    out = replicated(ddl, "jj")
    family, args = engine.split("(")[0], engine[engine.index("(") + 1:-1] if "(" in engine else ""
    want = f"ENGINE = Replicated{family}('/clickhouse/tables/all/jj/{name}', '{{shard}}-{{replica}}'"
    assert want + (f", {args})" if args else ")") in out
    assert out.replace(out[out.index("ENGINE"):out.index(")", out.index("ENGINE")) + 1], "") == \
        ddl.replace(ddl[ddl.index("ENGINE"):ddl.index("ENGINE") + 9 + len(engine)], "")  # nothing else changes


def test_a_shards_table_is_replicated_within_the_shard() -> None:
    ddl = TABLES["entities"].replace("IF NOT EXISTS entities ", "IF NOT EXISTS entities_local ")
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/jj/entities_local', '{replica}') ORDER BY" \
        in replicated(ddl, "jj")
    rollup = "CREATE TABLE rollup_events_city_local ENGINE = SummingMergeTree PARTITION BY toYYYYMM(d) ORDER BY (a)"
    assert replicated(rollup, "jj") == ("CREATE TABLE rollup_events_city_local ENGINE = ReplicatedSummingMergeTree("
                                        "'/clickhouse/tables/{shard}/jj/rollup_events_city_local', '{replica}') "
                                        "PARTITION BY toYYYYMM(d) ORDER BY (a)")


@pytest.mark.parametrize("ddl", [_stage_ddl(n) for n in STAGED_TABLES]
                         + ["CREATE TABLE IF NOT EXISTS ref_stage_ab12_regions AS regions ENGINE = MergeTree "
                            "ORDER BY tuple()", "CREATE TABLE lookup_keys_ab12 (k String) ENGINE = Memory",
                            "CREATE TABLE IF NOT EXISTS events AS events_local ENGINE = Distributed(c, jj, events_local, "
                            "cityHash64(credit_code))"])
def test_scratch_and_distributed_tables_stay_as_they_are(ddl: str) -> None:
    assert replicated(ddl, "jj") == ddl


def test_only_create_table_is_rewritten() -> None:
    with pytest.raises(ValueError):
        replicated("ALTER TABLE entities ADD COLUMN x UInt8", "jj")
