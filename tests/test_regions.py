"""The vendored region tree (domain/vendor/regions/regions.csv.gz) and domain.regions."""

from __future__ import annotations


import pytest

from domain import regions
from domain.regions import (
    LEVEL_LENGTHS,
    InvalidRegionCode,
    ancestors,
    children_codes,
    level_of,
    load_region_table,
    parent_code,
    pass_through_codes,
    validate_code,
)


@pytest.fixture(scope="module")
def table():
    return load_region_table()


def test_counts_per_level_match_source(table):
    counts = table["level"].value_counts().sort_index().to_dict()
    assert counts == {1: 31, 2: 342, 3: 2978, 4: 41352, 5: 620573}


def test_columns_and_types(table):
    assert list(table.columns) == ["code", "name", "level", "parent"]
    assert str(table["level"].dtype) == "int8"
    assert table.loc[table["level"] == 1, "parent"].eq("").all()
    assert table["name"].str.len().gt(0).all()


def test_codes_unique_sorted_and_lengths(table):
    assert table["code"].is_unique
    assert table["code"].is_monotonic_increasing
    lengths = table["code"].str.len()
    for level in range(1, 6):
        assert lengths[table["level"] == level].eq(LEVEL_LENGTHS[level]).all()
    assert table["code"].str.fullmatch(r"\d+").all()


def test_every_parent_exists_and_is_prefix(table):
    child = table[table["level"] > 1]
    codes = set(table["code"].tolist())
    assert all(p in codes for p in child["parent"].tolist())
    assert all(c.startswith(p) for c, p in zip(child["code"].tolist(), child["parent"].tolist()))
    assert all(parent_code(c) == p for c, p in zip(child["code"].tolist(), child["parent"].tolist()))


def test_the_vendored_table_is_read_once():
    regions._full_table.cache_clear()  # a cold read of the vendored file, then cache hits
    regions._sorted_codes.cache_clear()
    first = load_region_table()
    load_region_table()
    info = regions._full_table.cache_info()
    assert (info.misses, info.hits) == (1, 1) and len(first) > 40_000


def test_subtree_guangdong():
    gd = load_region_table("44")
    assert gd["code"].iloc[0] == "44"
    assert gd["code"].str.startswith("44").all()
    assert gd["level"].value_counts().sort_index().tolist() == [1, 21, 124, 1757, 26842]


def test_dongguan_pseudo_county():
    assert children_codes("4419") == ["441900"]
    dg = load_region_table("441900")
    assert (dg["level"] == 4).sum() == 36
    assert (dg["level"] == 5).sum() == 609


def test_zhongshan_pseudo_county():
    assert children_codes("4420") == ["442000"]
    zs = load_region_table("442000")
    assert (zs["level"] == 4).sum() > 0 and (zs["level"] == 5).sum() > 0


def test_pass_through_codes(table):
    pt = pass_through_codes(table)
    assert {"441900", "442000", "1101"} <= pt
    assert "4419" not in pt and "44" not in pt and "441900003" not in pt
    # within a subtree, only nodes whose parent is in the frame are judged
    assert pass_through_codes(load_region_table("4419")) == {"441900"}
    assert pass_through_codes(load_region_table("441900")) == set()


@pytest.mark.parametrize("bad", ["44a9", "441", "", "4419 ", "１１", "4419001234567890", None])
def test_validate_code_rejects(bad):
    with pytest.raises(InvalidRegionCode) as err:
        validate_code(bad)
    assert "区划代码格式不正确" in err.value.user_message
    assert isinstance(err.value, ValueError)


def test_validate_and_structure():
    assert validate_code("4419") == "4419"
    assert level_of("44") == 1 and level_of("441900003") == 4 and level_of("441900003001123") == 6
    assert parent_code("44") == "" and parent_code("4419") == "44"
    assert parent_code("441900003001123") == "441900003001"
    assert ancestors("441900003001") == ["44", "4419", "441900", "441900003"]
    assert ancestors("44") == []
