"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

Layout of the 18 characters::

    9 1 350100 M000100Y4 3
    | | |      |         `- 18     check character (GB 32100, mod 31)
    | | |      `----------- 9-17   organisation code (GB 11714: 8 chars + own mod-11 check)
    | | `------------------ 3-8    admin division code of the registration authority
    | `-------------------- 2      entity type (机构类别), meaning depends on position 1
    `---------------------- 1      registration authority (登记管理部门)

``stdnum.cn.uscc`` verifies only the length, the alphabet and the final check
character (and wrongly requires positions 1-8 to be digits, rejecting the
legitimate authorities A, N and Y). :func:`validate` adds the authority/type
table, the division digits and the GB 11714 check character, and names the
failed rule in a Chinese message for the user.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np
from stdnum.cn import uscc as _stdnum_uscc

#: The 31 characters allowed (no I, O, Z, S, V); a character's value is its index.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: GB 32100 weights of positions 1-17.
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: GB 11714 weights of the 8 organisation-code body characters.
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

#: Registration authority -> (name, {entity type code: name}), GB 32100-2015 appendix.
AUTHORITIES: dict[str, tuple[str, dict[str, str]]] = {
    "1": ("机构编制", {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"}),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": ("司法行政", {"1": "律师执业机构", "2": "公证处", "3": "基层法律服务所", "4": "司法鉴定机构",
                   "5": "仲裁委员会", "9": "其他"}),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": ("旅游", {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"}),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": ("农业", {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"}),
    "Y": ("其他", {"1": "其他"}),
}

#: Entity kinds that :func:`generate` knows -> authority + type characters.
ENTITY_PREFIXES: dict[str, str] = {"enterprise": "91", "individual": "92", "cooperative": "93"}
# Share of generated codes with a legacy all-digit organisation code; the rest
# get a post-2015 "MA" code, as issued to new registrations (e.g. 92340602MA2PBMEM24).
_LEGACY_SHARE: dict[str, float] = {"enterprise": 0.3, "individual": 0.02, "cooperative": 0.1}

_INDEX = {char: i for i, char in enumerate(ALPHABET)}
_ALPHABET_BYTES = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
_GB11714_VALUES = np.array([int(char, 36) for char in ALPHABET], dtype=np.int64)  # A=10 … Y=34
_W31 = np.array(WEIGHTS, dtype=np.int64)
_W11 = np.array(ORG_WEIGHTS, dtype=np.int64)
_X = _INDEX["X"]
_M, _A = _INDEX["M"], _INDEX["A"]


class InvalidCreditCode(ValueError):
    """A code that is not a valid unified social credit code.

    Attributes:
        user_message: Chinese message naming the failed rule, fit to show users.
        reason: stable machine tag: "empty", "length", "character", "category",
            "division", "org_check" or "check".
        code: the normalised input.
    """

    def __init__(self, user_message: str, *, reason: str, code: str = "") -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.reason = reason
        self.code = code


def normalise(code: str) -> str:
    """Full-width to ASCII (NFKC), drop whitespace and hyphens, upper-case."""
    text = unicodedata.normalize("NFKC", code)
    return "".join(text.split()).replace("-", "").upper()


def org_check_char(body8: str) -> str:
    """GB 11714 check character of an 8-character organisation-code body."""
    total = sum(int(char, 36) * w for char, w in zip(body8, ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def check_char(first17: str) -> str:
    """GB 32100 check character (position 18) of the first 17 characters."""
    first17 = normalise(first17)
    if len(first17) != 17 or any(char not in _INDEX for char in first17):
        raise InvalidCreditCode(
            "统一社会信用代码前17位应为17个合法字符", reason="length" if len(first17) != 17 else "character",
            code=first17,
        )
    return _stdnum_uscc.calc_check_digit(first17)


def validate(code: str) -> str:
    """Return the normalised code, or raise :class:`InvalidCreditCode` naming the first failed rule.

    Rules, in order: length 18; characters from :data:`ALPHABET`; a known
    authority/type pair; positions 3-8 six digits; GB 11714 check of positions
    9-17; GB 32100 check character.
    """
    if not isinstance(code, str) or not normalise(code):
        raise InvalidCreditCode("统一社会信用代码不能为空", reason="empty")
    code = normalise(code)
    if len(code) != 18:
        raise InvalidCreditCode(
            f"统一社会信用代码长度错误：应为18位，实为{len(code)}位", reason="length", code=code
        )
    for position, char in enumerate(code, start=1):
        if char not in _INDEX:
            raise InvalidCreditCode(
                f"统一社会信用代码第{position}位含非法字符“{char}”：只能使用数字和除I、O、Z、S、V以外的大写字母",
                reason="character", code=code,
            )
    authority = AUTHORITIES.get(code[0])
    if authority is None:
        raise InvalidCreditCode(
            f"统一社会信用代码第1位登记管理部门代码“{code[0]}”不存在", reason="category", code=code
        )
    if code[1] not in authority[1]:
        raise InvalidCreditCode(
            f"统一社会信用代码第2位机构类别代码“{code[1]}”不属于登记管理部门“{authority[0]}”",
            reason="category", code=code,
        )
    if not code[2:8].isdigit():
        raise InvalidCreditCode(
            "统一社会信用代码第3–8位登记管理机关行政区划码应为6位数字", reason="division", code=code
        )
    if org_check_char(code[8:16]) != code[16]:
        raise InvalidCreditCode(
            "统一社会信用代码第9–17位组织机构代码校验位错误", reason="org_check", code=code
        )
    if _stdnum_uscc.calc_check_digit(code[:17]) != code[17]:
        raise InvalidCreditCode("统一社会信用代码校验位错误", reason="check", code=code)
    return code


def is_valid(code: str) -> bool:
    """True if :func:`validate` accepts ``code``."""
    try:
        validate(code)
    except InvalidCreditCode:
        return False
    return True


def generate(
    rng: np.random.Generator, division_codes: Sequence[str], entity_types: Sequence[str]
) -> list[str]:
    """One valid, distinct code per row: ``division_codes[i]`` (6 digits) and
    ``entity_types[i]`` (a key of :data:`ENTITY_PREFIXES`).

    Deterministic for a given ``rng`` state; codes are unique within one call
    (duplicates are redrawn), not across calls. Vectorised: 300,000 codes take
    well under a second.
    """
    n = len(division_codes)
    if len(entity_types) != n:
        raise ValueError(f"{n} division codes but {len(entity_types)} entity types")
    if n == 0:
        return []
    kinds = list(ENTITY_PREFIXES)
    kind_names, kind_idx = np.unique(np.asarray(entity_types, dtype=str), return_inverse=True)
    unknown = sorted(set(kind_names.tolist()) - set(kinds))
    if unknown:
        raise ValueError(f"unknown entity types {unknown}; expected one of {kinds}")
    kind_idx = np.array([kinds.index(k) for k in kind_names.tolist()], dtype=np.int64)[kind_idx]
    divisions = _division_digits(division_codes)

    prefixes = np.array([[_INDEX[c] for c in ENTITY_PREFIXES[k]] for k in kinds], dtype=np.int64)
    legacy_share = np.array([_LEGACY_SHARE[k] for k in kinds])[kind_idx]
    head = np.concatenate([prefixes[kind_idx], divisions], axis=1)  # (n, 8)
    head_key = kind_idx * 1_000_000 + divisions @ (10 ** np.arange(5, -1, -1))

    body = _draw_bodies(rng, legacy_share)
    redraw = _duplicate_rows(head_key, body)
    while redraw.size:
        body[redraw] = _draw_bodies(rng, legacy_share[redraw])
        redraw = _duplicate_rows(head_key, body)
    return _assemble(head, body)


def _division_digits(division_codes: Sequence[str]) -> np.ndarray:
    """(n, 6) int array of the digits; ValueError unless every code is 6 ASCII digits."""
    codes = np.asarray(division_codes, dtype=str)
    if codes.ndim != 1 or (np.char.str_len(codes) != 6).any():
        raise ValueError("every division code must be 6 digits")
    try:
        raw = codes.astype("S6").view(np.uint8).reshape(len(codes), 6).astype(np.int64) - ord("0")
    except UnicodeEncodeError:
        raise ValueError("every division code must be 6 digits") from None
    if ((raw < 0) | (raw > 9)).any():
        raise ValueError("every division code must be 6 digits")
    return raw


def _draw_bodies(rng: np.random.Generator, legacy_share: np.ndarray) -> np.ndarray:
    """(m, 8) alphabet indices: all digits (legacy) or "MA" + 6 alphabet chars."""
    m = len(legacy_share)
    legacy = rng.random(m) < legacy_share
    digits = rng.integers(0, 10, size=(m, 8))
    modern = rng.integers(0, len(ALPHABET), size=(m, 8))
    modern[:, 0], modern[:, 1] = _M, _A
    return np.where(legacy[:, None], digits, modern)


def _duplicate_rows(head_key: np.ndarray, body: np.ndarray) -> np.ndarray:
    """Rows whose (prefix, body) repeats an earlier row."""
    body_key = body @ (len(ALPHABET) ** np.arange(7, -1, -1, dtype=np.int64))  # < 31**8 < 2**40
    key = head_key * len(ALPHABET) ** 8 + body_key  # < 3e6 * 31**8 < 2**63
    _, first = np.unique(key, return_index=True)
    duplicate = np.ones(len(key), dtype=bool)
    duplicate[first] = False
    return np.flatnonzero(duplicate)


def _assemble(head: np.ndarray, body: np.ndarray) -> list[str]:
    """Append both check characters and render the (n, 18) index matrix as strings."""
    org_total = _GB11714_VALUES[body] @ _W11
    org_check = 11 - org_total % 11
    org_check = np.where(org_check == 10, _X, np.where(org_check == 11, 0, org_check))
    first17 = np.concatenate([head, body, org_check[:, None]], axis=1)
    check = (31 - (first17 @ _W31) % 31) % 31
    chars = _ALPHABET_BYTES[np.concatenate([first17, check[:, None]], axis=1)]
    return np.ascontiguousarray(chars).view("S18").ravel().astype("U18").tolist()


_FAST = r"[0-9A-HJ-NP-RTUWXY]{18}"
_PAIRS = np.array(sorted(_INDEX[a] * 31 + _INDEX[t] for a, (_n, types) in AUTHORITIES.items() for t in types))
_LOOKUP = np.full(128, -1, dtype=np.int64)
_LOOKUP[_ALPHABET_BYTES] = np.arange(len(ALPHABET))


def validate_many(codes: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """:func:`validate` over a column: (normalised code or None, Chinese message or '')
    for each code. Codes already in canonical form (18 allowed characters) are checked
    with array arithmetic; every other code, and every code that fails, goes through
    :func:`validate` itself, so results and messages are exactly the scalar ones."""
    import pandas as pd

    s = pd.Series(list(codes), dtype=object)
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    fast = s.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool).copy()
    if fast.any():
        fast[fast] = s[fast].str.fullmatch(_FAST).fillna(False).to_numpy(dtype=bool)
    idx = np.flatnonzero(fast)
    if len(idx):
        chars = np.frombuffer("".join(s.iloc[idx]).encode("ascii"), dtype=np.uint8).reshape(len(idx), 18)
        values = _LOOKUP[chars]
        pair = np.isin(values[:, 0] * 31 + values[:, 1], _PAIRS)
        division = ((chars[:, 2:8] >= ord("0")) & (chars[:, 2:8] <= ord("9"))).all(axis=1)
        org = 11 - (_GB11714_VALUES[values[:, 8:16]] @ _W11) % 11
        org = np.where(org == 10, _X, np.where(org == 11, 0, org))
        org_ok = values[:, 16] == org
        check = (31 - (values[:, :17] @ _W31) % 31) % 31
        ok[idx] = pair & division & org_ok & (values[:, 17] == check)
    values_in = s.tolist()
    out: list[str | None] = [v if k else None for v, k in zip(values_in, ok.tolist())]
    messages = [""] * n
    for i in np.flatnonzero(~ok).tolist():
        try:
            out[i] = validate(values_in[i])
        except InvalidCreditCode as exc:
            messages[i] = exc.user_message
    return out, messages
