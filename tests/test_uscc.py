"""Tests for domain/uscc.py (GB 32100-2015 unified social credit codes)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from stdnum.cn import uscc as stdnum_uscc

from domain import uscc

# Real codes published online, taken from python-stdnum's tests/test_cn_uscc.doctest
# (plus 91350100M000100Y43): state/public bodies, enterprises, individual businesses.
REAL_CODES = """
121200004013590816 91110000600037341L 91110000710926094P 91120224064012553U
911522010783710635 91152201078371135X 911522010783762860 9115220107837757XE
9115220107837941X1 91310000631696382C 91310000797046224D 913101127033980359
91310115MA1K3BTP2B 9131012056010553X5 91320214745555318W 913205056082348768
913304007429141869 91340600MA2PBM9HXD 91340600MA2PBMA74B 91340603MA2UJXXCXF
913505007821784439 91371082775260043P 914112810713741814 91420684MA4927PJ7B
91440300568520498A 9144030071526726XG 9144060573144633XL 91442000696462712R
91620100719023721L 9162010555628132X1 9162010558590643X0 9162010567592034XQ
91620105L015101280 91620105MA71T4YW8Q 91620105MA73NBBLXE 92340602MA2PBMEM24
92340602MA2PEL8AXA 92340603MA2PBN17X5 92340603MA2PEP42XF 92340621MA2PBKRXXG
92340621MA2UK3PJXE 92340604MA2UK2B104 92340603MA2UK2ECXU 91350100M000100Y43
""".split()

KINDS = ("enterprise", "individual", "cooperative")


def _inputs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    divisions = [f"{d:06d}" for d in rng.integers(110000, 660000, size=n)]
    kinds = [KINDS[k] for k in rng.choice(3, size=n, p=[0.55, 0.4, 0.05])]
    return divisions, kinds


@pytest.fixture(scope="module")
def generated() -> tuple[list[str], list[str], list[str]]:
    divisions, kinds = _inputs(10_000)
    return uscc.generate(np.random.default_rng(42), divisions, kinds), divisions, kinds


def _with_checks(first16: str) -> str:
    """Complete a 16-char prefix with the GB 11714 and GB 32100 check characters."""
    first17 = first16 + uscc.org_check_char(first16[8:])
    return first17 + uscc.check_char(first17)


# -- validation ---------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert uscc.validate(code) == code
    assert uscc.is_valid(code)
    assert uscc.check_char(code[:17]) == code[17]
    assert uscc.org_check_char(code[8:16]) == code[16]


def test_letter_authorities_are_accepted_unlike_stdnum() -> None:
    for prefix in ("N2", "A1", "Y1"):
        code = _with_checks(prefix + "330106" + "MA2PBM9H")
        assert uscc.validate(code) == code
        assert not stdnum_uscc.is_valid(code)  # stdnum demands digits in positions 1-8


def test_normalises_case_whitespace_and_full_width() -> None:
    assert uscc.validate("  91350100m000100y43\n") == "91350100M000100Y43"
    assert uscc.validate("91 350100 M000100Y4 3") == "91350100M000100Y43"
    assert uscc.validate("\u3000９１３５０１００Ｍ０００１００Ｙ４３") == "91350100M000100Y43"
    assert uscc.is_valid("9135-0100-m000100y43")


@pytest.mark.parametrize(
    ("code", "reason", "fragment"),
    [
        ("", "empty", "不能为空"),
        ("   ", "empty", "不能为空"),
        ("91350100M000100Y4", "length", "应为18位，实为17位"),
        ("91350100M000100Y433", "length", "实为19位"),
        ("91350100M000I00Y43", "character", "第13位含非法字符“I”"),
        ("91350100M0001O0Y43", "character", "非法字符“O”"),
        ("91350100M000100Y4?", "character", "第18位"),
        ("B1350100M000100Y43", "category", "登记管理部门代码“B”不存在"),
        ("94350100M000100Y43", "category", "机构类别代码“4”不属于登记管理部门“工商”"),
        ("913501A0M000100Y43", "division", "行政区划码应为6位数字"),
        ("91350100M000100Y53", "org_check", "组织机构代码校验位错误"),
        ("91350100M000100Y44", "check", "统一社会信用代码校验位错误"),
    ],
)
def test_errors_name_the_reason(code: str, reason: str, fragment: str) -> None:
    with pytest.raises(uscc.InvalidCreditCode) as info:
        uscc.validate(code)
    assert info.value.reason == reason
    assert fragment in info.value.user_message
    assert str(info.value) == info.value.user_message
    assert isinstance(info.value, ValueError)
    assert not uscc.is_valid(code)


def test_check_char_matches_stdnum_and_rejects_bad_input() -> None:
    for code in REAL_CODES:
        assert uscc.check_char(code[:17]) == stdnum_uscc.calc_check_digit(code[:17])
    with pytest.raises(uscc.InvalidCreditCode):
        uscc.check_char("9135")
    with pytest.raises(uscc.InvalidCreditCode):
        uscc.check_char("91350100M000100YO")


def test_any_single_character_change_is_rejected(generated: tuple[list[str], list[str], list[str]]) -> None:
    codes = generated[0][:40] + REAL_CODES[:10]
    for code in codes:
        for position in range(18):
            for char in uscc.ALPHABET:
                if char == code[position]:
                    continue
                mutated = code[:position] + char + code[position + 1:]
                assert not uscc.is_valid(mutated), (code, mutated)


# -- generation -----------------------------------------------------------------


def test_generated_codes_are_valid_and_match_inputs(generated: tuple[list[str], list[str], list[str]]) -> None:
    codes, divisions, kinds = generated
    assert len(codes) == 10_000
    assert len(set(codes)) == len(codes)
    for code, division, kind in zip(codes, divisions, kinds):
        assert uscc.validate(code) == code
        assert stdnum_uscc.is_valid(code)
        assert code[:2] == uscc.ENTITY_PREFIXES[kind]
        assert code[2:8] == division
    modern = sum(code[8:10] == "MA" for code in codes)
    legacy = sum(code[8:16].isdigit() for code in codes)
    assert modern + legacy == len(codes) and modern > legacy > 0


def test_generation_is_deterministic(generated: tuple[list[str], list[str], list[str]]) -> None:
    codes, divisions, kinds = generated
    assert uscc.generate(np.random.default_rng(42), divisions, kinds) == codes
    assert uscc.generate(np.random.default_rng(43), divisions, kinds) != codes


def test_duplicates_are_redrawn() -> None:
    codes = uscc.generate(np.random.default_rng(0), ["441900"] * 50_000, ["cooperative"] * 50_000)
    assert len(set(codes)) == 50_000


def test_generate_rejects_bad_input() -> None:
    rng = np.random.default_rng(0)
    assert uscc.generate(rng, [], []) == []
    with pytest.raises(ValueError, match="entity types"):
        uscc.generate(rng, ["110101"], [])
    with pytest.raises(ValueError, match="unknown entity types"):
        uscc.generate(rng, ["110101"], ["company"])
    for bad in ("11010", "1101011", "11O101", "１１０１０１"):
        with pytest.raises(ValueError, match="6 digits"):
            uscc.generate(rng, [bad], ["enterprise"])


def test_generating_300k_is_fast() -> None:
    divisions, kinds = _inputs(300_000, seed=1)
    started = time.perf_counter()
    codes = uscc.generate(np.random.default_rng(7), divisions, kinds)
    assert time.perf_counter() - started < 5.0
    assert len(set(codes)) == 300_000
