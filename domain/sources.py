"""The input formats of each data source (docs/ingest.md is generated from here).

A source is one kind of record sent by one kind of department: registrations,
changes, cancellations, licences, penalties, complaints, inspections, sampling
results, list entries and exits, task feedback and patrol clues. Each field has a canonical English key, the Chinese
header departments use, accepted aliases, a kind (how it is checked) and a
length limit. Headers are matched after dropping spaces, brackets with their
content (units such as “（万元）”) and case, so ``注册资本（万元）``,
``注册资本`` and ``capital`` name the same column.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from domain.codes import ENTITY_TYPES

#: GB/T 4754-2017 sections (门类).
INDUSTRY_SECTIONS = tuple("ABCDEFGHIJKLMNOPQRST")


@dataclass(frozen=True)
class Field:
    """One input column."""

    key: str
    zh: str
    kind: str  # text | id | credit_code | grid | datetime | enum | money | coord | task_id
    required: bool = True
    max_len: int = 200
    choices: Mapping[str, str] = field(default_factory=dict)  # accepted text → canonical value
    aliases: tuple[str, ...] = ()
    doc: str = ""

    def names(self) -> tuple[str, ...]:
        return (self.key, self.zh, *self.aliases)


@dataclass(frozen=True)
class Source:
    """One data source: its fields and the field that identifies a record."""

    id: str
    zh: str
    key: str
    fields: tuple[Field, ...]
    doc: str
    entity_ref: bool = True  # rows refer to a registered entity by credit code
    scheduled: bool = True   # sent on a schedule (flagged late when silent); False: sent when something is found

    def field(self, key: str) -> Field:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)


def _choices(pairs: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """canonical → accepted spellings, to accepted spelling (case-folded) → canonical."""
    out: dict[str, str] = {}
    for canonical, spellings in pairs.items():
        for s in (canonical, *spellings):
            out[s.casefold()] = canonical
    return out


ENTITY_TYPE_CHOICES = _choices({"enterprise": ("企业", "公司", "1"), "individual": ("个体工商户", "个体", "2"),
                                "cooperative": ("农民专业合作社", "合作社", "3")})
assert set(ENTITY_TYPE_CHOICES.values()) == set(ENTITY_TYPES)
INDUSTRY_CHOICES = _choices({s: () for s in INDUSTRY_SECTIONS})
CHANGE_ITEMS = _choices({"address": ("住所", "经营场所", "住所变更"), "scope": ("经营范围", "经营范围变更"),
                         "name": ("名称", "名称变更"), "legal_rep": ("法定代表人", "负责人", "经营者"),
                         "capital": ("注册资本", "出资额"), "other": ("其他",)})
CANCEL_KINDS = _choices({"cancellation": ("注销",), "revocation": ("吊销", "吊销营业执照")})
PASS_FAIL = _choices({"pass": ("合格", "通过", "未发现问题", "正常", "1"),
                      "fail": ("不合格", "不通过", "发现问题", "异常", "0")})
YES_NO = _choices({"1": ("是", "有", "true", "y"), "0": ("否", "无", "false", "n")})
COMPLAINT_CHANNELS = _choices({"12315": ("12315平台", "全国12315平台"), "hotline": ("热线", "12345", "电话"),
                               "letter": ("来信", "信件"), "visit": ("来访",), "other": ("其他",)})
FEEDBACK_STATUSES = _choices({"inspecting": ("核查中", "派发网格员"), "notice": ("限期整改", "责令整改"),
                              "joint": ("村居联合处置",), "town": ("镇街处置",),
                              "transferred": ("部门办理", "移送部门"), "closed": ("办结", "完成")})
UNLICENSED_KINDS = _choices({"unlicensed": ("无照经营", "未办理营业执照"), "unpermitted": ("无证经营", "未取得许可证"),
                             "both": ("无证无照经营", "无照无证经营")})
#: The Chinese name of each kind of unlicensed business (the task's detail starts with it).
UNLICENSED_ZH = {"unlicensed": "无照经营", "unpermitted": "无证经营", "both": "无证无照经营"}
CREDIT_LISTS = _choices({"abnormal": ("经营异常名录", "异常名录", "经营异常"),
                        "dishonest": ("严重违法失信名单", "严重违法失信企业名单", "严重违法失信主体名单", "失信名单")})
#: The Chinese name of each list (an event's detail; the 联合惩戒 sync reads it).
CREDIT_LISTS_ZH = {"abnormal": "经营异常名录", "dishonest": "严重违法失信名单"}
LIST_ACTIONS = _choices({"entry": ("列入",), "exit": ("移出",)})
ACTOR_KIND_CHOICES = _choices({"grid_worker": ("网格员",), "village": ("村居", "村（社区）"),
                               "town_office": ("镇街", "镇街综治办"), "department": ("部门", "职能部门")})

CREDIT = Field("credit_code", "统一社会信用代码", "credit_code", max_len=18 * 3,
               aliases=("信用代码", "uscc"), doc="18 位，GB 32100-2015 校验")
DEPT = Field("dept_id", "部门编码", "text", required=False, max_len=32, aliases=("办理部门",),
             doc="作出决定或办理的部门编码，可空")


def _time(zh: str, *aliases: str) -> Field:
    return Field("event_time", zh, "datetime", aliases=aliases,
                 doc="YYYY-MM-DD[ HH:MM[:SS]]、YYYY/MM/DD、YYYYMMDD 或 YYYY年M月D日；不得晚于当前时间")


SOURCES: dict[str, Source] = {s.id: s for s in (
    Source("registration", "设立登记", "credit_code", (
        CREDIT,
        Field("name", "名称", "text", max_len=100, aliases=("主体名称", "企业名称")),
        Field("entity_type", "主体类型", "enum", choices=ENTITY_TYPE_CHOICES, doc="企业 / 个体工商户 / 农民专业合作社"),
        Field("industry", "行业门类", "enum", choices=INDUSTRY_CHOICES, doc="GB/T 4754-2017 门类字母 A–T"),
        Field("grid_code", "网格编码", "grid", max_len=15, doc="15 位网格编码（村居 12 位 + 3 位）"),
        _time("成立日期", "登记日期", "reg_date"),
        Field("legal_rep", "法定代表人", "text", max_len=50, aliases=("经营者", "负责人")),
        Field("owner_id", "经营者身份证号", "text", required=False, max_len=18,
              doc="个体工商户经营者身份证号，可空；页面按权限脱敏"),
        Field("capital", "注册资本（万元）", "money", required=False, aliases=("注册资本",), doc="万元，可空"),
        Field("lon", "经度", "coord", required=False, doc="WGS-84，可空（空则取所在村居内的示意点）"),
        Field("lat", "纬度", "coord", required=False),
    ), "登记机关推送的新设立市场主体；导入即向所在网格推送“新设登记核查”任务。", entity_ref=False),
    Source("change", "变更登记", "record_id", (
        Field("record_id", "变更记录编号", "id", max_len=40, aliases=("记录编号",)),
        CREDIT,
        _time("变更日期", "核准日期"),
        Field("change_item", "变更事项", "enum", choices=CHANGE_ITEMS,
              doc="住所 / 经营范围 / 名称 / 法定代表人 / 注册资本 / 其他"),
        Field("new_value", "变更后内容", "text", required=False, max_len=500),
        Field("new_grid_code", "变更后网格编码", "grid", required=False, max_len=15,
              doc="变更事项为住所时必填"),
    ), "变更登记；住所、经营范围变更推送“变更登记核查”任务，住所变更同时更新主体所在网格。"),
    Source("cancellation", "注销吊销", "credit_code", (
        CREDIT,
        _time("注销日期", "吊销日期", "核准日期"),
        Field("kind", "类型", "enum", choices=CANCEL_KINDS, doc="注销 / 吊销"),
        Field("reason", "原因", "text", required=False, max_len=200),
    ), "注销、吊销营业执照；主体状态随之更新。"),
    Source("licence", "行政许可", "licence_no", (
        Field("licence_no", "许可证编号", "id", max_len=40, aliases=("许可编号",)),
        CREDIT,
        _time("许可决定日期", "决定日期"),
        Field("licence_item", "许可事项", "text", max_len=100),
        DEPT,
    ), "行政许可决定；推送“信息公示”任务。"),
    Source("penalty", "行政处罚", "decision_no", (
        Field("decision_no", "处罚决定书文号", "id", max_len=60, aliases=("决定书文号", "文号")),
        CREDIT,
        _time("处罚决定日期", "决定日期"),
        Field("amount", "罚没金额（元）", "money", aliases=("罚没金额", "罚款金额")),
        Field("violation", "违法行为", "text", max_len=200, aliases=("违法事实",)),
        DEPT,
    ), "行政处罚决定；推送“信息公示”任务。"),
    Source("complaint", "投诉举报", "complaint_no", (
        Field("complaint_no", "投诉举报编号", "id", max_len=40, aliases=("登记编号",)),
        CREDIT,
        _time("受理时间", "登记时间"),
        Field("channel", "渠道", "enum", choices=COMPLAINT_CHANNELS, required=False,
              doc="12315 / 热线 / 来信 / 来访 / 其他，可空"),
        Field("content", "内容摘要", "text", max_len=500, aliases=("诉求内容",)),
    ), "投诉举报（12315 等渠道）。"),
    Source("inspection", "监督检查", "record_id", (
        Field("record_id", "检查记录编号", "id", max_len=40, aliases=("记录编号",)),
        CREDIT,
        _time("检查时间", "检查日期"),
        Field("result", "检查结果", "enum", choices=PASS_FAIL, doc="未发现问题 / 发现问题（合格 / 不合格）"),
        Field("inspector", "检查人员", "text", required=False, max_len=50),
        Field("note", "检查情况", "text", required=False, max_len=500),
    ), "日常监督检查、“双随机”抽查记录；发现问题即生成“线索移送”任务。"),
    Source("sampling", "抽样检验", "sample_no", (
        Field("sample_no", "抽样单编号", "id", max_len=40),
        CREDIT,
        _time("抽样日期",),
        Field("batch_no", "批次号", "id", max_len=40, aliases=("生产批号", "批号"),
              doc="产品批次号：同一批次在任一环节不合格，经手该批次的主体都被预警"),
        Field("product", "样品名称", "text", max_len=100),
        Field("result", "检验结论", "enum", choices=PASS_FAIL, doc="合格 / 不合格"),
    ), "食品等产品抽样检验结果（含批次号，用于溯源预警）。"),
    Source("credit_list", "名录列入与移出", "record_id", (
        Field("record_id", "决定书文号", "id", max_len=60, aliases=("列入决定书文号", "移出决定书文号", "文号")),
        CREDIT,
        _time("决定日期", "列入日期", "移出日期", "作出决定日期"),
        Field("list", "名录类型", "enum", choices=CREDIT_LISTS, aliases=("名录",),
              doc="经营异常名录 / 严重违法失信名单"),
        Field("action", "列入或移出", "enum", choices=LIST_ACTIONS, aliases=("类别", "决定类别"), doc="列入 / 移出"),
        Field("reason", "列入（移出）事由", "text", required=False, max_len=200,
              aliases=("事由", "原因", "移出事由")),
        DEPT,
    ), "登记机关列入、移出经营异常名录或严重违法失信名单的决定；主体的名录标记随之更新，"
       "列入严重违法失信名单即按合作备忘录发起联合惩戒（历史数据除外），移出即信用修复。只能移出已列入该名录的主体；"
       "早于该主体该名录已导入的最近一次决定的记录按历史记载，不改变名录标记。"),
    Source("task_feedback", "任务反馈", "feedback_id", (
        Field("feedback_id", "反馈编号", "id", max_len=40),
        Field("task_id", "任务编号", "task_id", max_len=24),
        _time("反馈时间", "办理时间"),
        Field("status", "处置结果", "enum", choices=FEEDBACK_STATUSES,
              doc="核查中 / 限期整改 / 村居联合处置 / 镇街处置 / 部门办理 / 办结（须为任务当前环节允许的下一环节）"),
        Field("actor", "办理人", "text", max_len=50),
        Field("actor_kind", "办理人类型", "enum", choices=ACTOR_KIND_CHOICES, doc="网格员 / 村居 / 镇街 / 部门"),
        Field("note", "处置说明", "text", required=False, max_len=500),
        Field("problem_found", "是否发现问题", "enum", choices=YES_NO, required=False, doc="是 / 否，可空"),
        Field("dept_id", "移送部门编码", "text", required=False, max_len=32,
              doc="转部门办理时的承办部门编码，可空（空则为属地市场监管部门）"),
    ), "网格员、村居、镇街和职能部门对督办任务的办理反馈，按任务流转规则推进环节。", entity_ref=False),
    Source("patrol_clue", "巡查线索", "clue_id", (
        Field("clue_id", "线索编号", "id", max_len=40),
        Field("grid_code", "网格编码", "grid", max_len=15, doc="发现线索的网格，15 位网格编码"),
        _time("发现时间", "上报时间"),
        Field("kind", "线索类型", "enum", choices=UNLICENSED_KINDS, doc="无照经营 / 无证经营 / 无证无照经营"),
        Field("name", "经营者或店招名称", "text", max_len=100, aliases=("店招名称", "经营者", "名称")),
        Field("address", "经营地址", "text", max_len=200, aliases=("地址", "经营场所")),
        Field("reporter", "上报人", "text", max_len=50, aliases=("网格员",)),
        Field("note", "线索说明", "text", required=False, max_len=500, aliases=("现场情况",)),
    ), "网格员巡查发现的无证无照经营线索（经营者尚未登记、没有信用代码）；导入即向所在镇街推送“线索移送”任务。"
       "按发现报送，不计迟报。", entity_ref=False, scheduled=False),
)}

_STRIP = re.compile(r"[\s_\-]+|[（(][^）)]*[）)]")


def header_key(name: str) -> str:
    """Normalised header text: no spaces, underscores, hyphens, bracketed units; case-folded."""
    return _STRIP.sub("", name).casefold()


def column_map(source: Source, header: list[str]) -> tuple[dict[str, str], list[str]]:
    """Field key → the file's header name for it, and the header names that match no field."""
    wanted: dict[str, str] = {}
    for f in source.fields:
        for n in f.names():
            wanted.setdefault(header_key(n), f.key)
    found: dict[str, str] = {}
    extra: list[str] = []
    for name in header:
        key = wanted.get(header_key(name))
        if key is None or key in found:
            extra.append(name)
        else:
            found[key] = name
    return found, extra


def get_source(source_id: str) -> Source:
    try:
        return SOURCES[source_id]
    except KeyError:
        from domain.ingest_errors import UnknownSource

        raise UnknownSource(source_id, SOURCES) from None
