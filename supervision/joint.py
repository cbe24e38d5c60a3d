"""联合惩戒 (joint punishment, issue 29 item 2; docs/joint.md): the initiating department names a
dishonest entity and shares it, under a memorandum (合作备忘录), with the participating
departments, which apply their measures when the entity comes to them and report back what
they did (发起响应、信息推送、执行反馈); credit repair (信用修复) closes the case.

Pure: the memorandum catalogue and the feedback deadline; the writes are in
:mod:`etl.joint`, the reads in :mod:`queries.joint`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from domain.workdays import add_workdays


@dataclass(frozen=True)
class Memorandum:
    """One memorandum: who initiates, which kinds of department take part, the measures they
    apply, and the working days they have to report back."""

    id: str
    name: str
    basis: str
    list_flag: str                       # the entity list a case's entity must be on (entities column)
    participants: tuple[str, ...]        # department kinds (domain.codes.DEPT_KINDS)
    measures: tuple[str, ...]
    feedback_days: int


MEMORANDA: dict[str, Memorandum] = {m.id: m for m in (
    Memorandum("dishonest", "严重违法失信主体联合惩戒", "《关于对严重违法失信企业实施联合惩戒的合作备忘录》",
               "dishonest", ("licensing", "other"),
               ("限制参与政府采购、工程招投标", "从严审核行政许可，限制取得政府补贴性资金", "不予授予荣誉称号，取消评优评先资格",
                "限制担任其他企业的法定代表人、董事、监事、高级管理人员"), 5),
    Memorandum("abnormal", "经营异常名录主体信用约束", "《企业信息公示暂行条例》第十八条",
               "abnormal", ("licensing",),
               ("列为重点监管对象，提高双随机抽查比例", "办理行政许可时作为审慎审查的参考"), 10),
)}
#: A case's state as shown.
CASE_STATES_ZH = {"open": "惩戒中", "repaired": "已信用修复"}


def feedback_due(opened: dt.date, days: int) -> dt.date:
    """The day a participating department must have reported back: ``days`` working days after
    the case opened (the task rules' working-day calendar, domain.workdays)."""
    return dt.date.fromisoformat(str(add_workdays(np.array([opened], dtype="datetime64[D]"), days)[0]))


__all__ = ["CASE_STATES_ZH", "MEMORANDA", "Memorandum", "feedback_due"]
