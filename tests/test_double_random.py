"""双随机一公开's draw (supervision/double_random.py): the counts per credit-risk class, the
reproducibility anyone can check, the spared firms, and two inspectors per firm with
avoidance and an even load — each checked against a plain computation."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import pytest

from domain import uscc
from domain.errors import InvalidParameter
from settings import ConfigError
from supervision.double_random import (NotEnoughInspectors, assign_inspectors, draw_count, draw_firms,
                                       pool_fingerprint, ratios_from_env)

SIZES = {"A": 900, "B": 410, "C": 133, "D": 17}


@pytest.fixture(scope="module")
def pool() -> pd.DataFrame:
    rng = np.random.default_rng(29)
    n = sum(SIZES.values())
    codes = uscc.generate(rng, ["441900"] * n, ["enterprise"] * n)
    classes = [c for c, k in SIZES.items() for _ in range(k)]
    return pd.DataFrame({"credit_code": codes, "credit_class": classes})


def test_ratios_setting():
    assert ratios_from_env({}) == {"A": 0.03, "B": 0.05, "C": 0.10, "D": 1.0}
    assert ratios_from_env({"JINJIAN_RANDOM_RATIOS": "A=1.5, D=50"}) == {"A": 0.015, "B": 0.05, "C": 0.10, "D": 0.5}
    for bad in ("A=120", "E=5", "A=x", "A"):
        with pytest.raises(ConfigError) as err:
            ratios_from_env({"JINJIAN_RANDOM_RATIOS": bad})
        assert "JINJIAN_RANDOM_RATIOS" in str(err.value)


def test_counts_per_class_are_the_ratio_rounded_up(pool):
    ratios = ratios_from_env({})
    draw = draw_firms(pool, ratios, seed=20261207)
    got = draw.firms.groupby("credit_class").size().reindex(list(SIZES), fill_value=0).to_dict()
    want = {c: min(n, math.ceil(n * ratios[c] - 1e-9)) for c, n in SIZES.items()}
    assert got == want == {"A": 27, "B": 21, "C": 14, "D": 17}  # D: every firm (100 %)
    assert draw.pool == SIZES and draw.firms["credit_code"].is_unique
    assert [draw_count(n, r) for n, r in ((0, 0.5), (10, 0), (10, 0.01), (10, 0.3), (3, 1.0))] == [0, 0, 1, 3, 3]


def test_the_draw_is_a_hash_lottery_anyone_can_redo(pool):
    ratios = ratios_from_env({})
    draw = draw_firms(pool, ratios, seed=7)
    # Redone by hand: each firm's sha256("seed:code"), the lowest ranks of each class.
    ranked = pool.assign(rank=[hashlib.sha256(f"7:{c}".encode()).hexdigest() for c in pool["credit_code"]])
    want = set()
    for cls, part in ranked.groupby("credit_class"):
        k = math.ceil(len(part) * ratios[cls] - 1e-9)
        want |= set(part.sort_values("rank")["credit_code"].head(k))
    assert set(draw.firms["credit_code"]) == want
    # The pool's order does not matter; the seed does; the fingerprint names the pool.
    shuffled = draw_firms(pool.sample(frac=1, random_state=3), ratios, seed=7)
    assert shuffled.firms["credit_code"].tolist() == draw.firms["credit_code"].tolist()
    assert shuffled.fingerprint == draw.fingerprint == pool_fingerprint(reversed(pool["credit_code"].tolist()))
    other = draw_firms(pool, ratios, seed=8)
    assert set(other.firms["credit_code"]) != want
    assert draw_firms(pool.iloc[1:], ratios, seed=7).fingerprint != draw.fingerprint
    # A firm listed twice counts once.
    assert draw_firms(pd.concat([pool, pool.head(50)]), ratios, seed=7).firms.equals(draw.firms)


def test_spared_firms_are_never_drawn(pool):
    ratios = {"A": 1.0, "B": 1.0, "C": 1.0, "D": 1.0}
    spared = set(pool["credit_code"].iloc[::3])
    draw = draw_firms(pool, ratios, seed=1, spared=spared)
    assert not spared & set(draw.firms["credit_code"]) and len(draw.firms) == len(pool) - len(spared)
    assert draw.fingerprint == pool_fingerprint(set(pool["credit_code"]) - spared)


def test_bad_pools_and_seeds_are_refused(pool):
    bad = pool.head(3).assign(credit_class=["A", "E", "B"])
    with pytest.raises(InvalidParameter) as err:
        draw_firms(bad, ratios_from_env({}), seed=1)
    assert "A、B、C、D" in err.value.user_message
    with pytest.raises(InvalidParameter):
        draw_firms(pool, ratios_from_env({}), seed=-1)


def test_two_inspectors_per_firm_with_avoidance_and_an_even_load(pool):
    firms = draw_firms(pool, ratios_from_env({}), seed=11).firms["credit_code"].tolist()
    roster = pd.DataFrame({"inspector_id": [f"ZF{i:03d}" for i in range(12)]})
    recent = pd.DataFrame({"credit_code": [firms[0], firms[0], firms[5]], "inspector_id": ["ZF000", "ZF001", "ZF007"]})
    out = assign_inspectors(firms, roster, seed=11, recent=recent)
    assert out["credit_code"].tolist() == firms
    assert (out["inspector_1"] != out["inspector_2"]).all()
    pairs = set(zip(recent["credit_code"], recent["inspector_id"]))
    sent = {(c, s) for c, a, b in out.itertuples(index=False) for s in (a, b)}
    assert not pairs & sent  # nobody inspects the same firm again within the period
    load = pd.concat([out["inspector_1"], out["inspector_2"]]).value_counts().reindex(roster["inspector_id"],
                                                                                       fill_value=0)
    assert load.sum() == 2 * len(firms) and load.max() - load.min() <= 1
    assert assign_inspectors(firms, roster.iloc[::-1], seed=11, recent=recent).equals(out)  # reproducible
    assert not assign_inspectors(firms, roster, seed=12, recent=recent).equals(out)


def test_too_few_inspectors_names_the_firm(pool):
    code = pool["credit_code"].iloc[0]
    roster = pd.DataFrame({"inspector_id": ["ZF1", "ZF2", "ZF3"]})
    recent = pd.DataFrame({"credit_code": [code, code], "inspector_id": ["ZF1", "ZF3"]})
    with pytest.raises(NotEnoughInspectors) as err:
        assign_inspectors([code], roster, seed=1, recent=recent)
    assert code in err.value.user_message and "不足 2 名" in err.value.user_message
