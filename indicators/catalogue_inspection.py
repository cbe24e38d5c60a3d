"""The catalogue's 双随机抽查, 涉企检查 and 联合惩戒 indicators (issue 29; docs/double_random.md,
docs/joint.md): random inspections drawn, done, overdue and their problem rates per credit-risk
class; firms inspected, flagged for 多头检查 or 频繁检查, and spared (无事不扰); joint-punishment
cases in force and their departments' feedback."""
from __future__ import annotations

from indicators.measures import (J_DONE, J_DUE, J_OPEN, R_DONE, R_DRAWN, R_OVERDUE, SPARED, STOCK, ent, firms, joint,
                                 rnd)
from indicators.model import Indicator, Thresholds, indicator as _i, pct as _pct

INSPECTION_INDICATORS: list[Indicator] = [
    # 双随机抽查
    _i("random_drawn", "双随机抽查户数", "Firms drawn for random inspection", "inspection", "户", "stock",
       rnd(R_DRAWN), "截至期末双随机抽查计划抽取的检查对象户数。",
       "Items of 双随机 plans as the records stood at the end (newest row entered by then)."),
    _i("random_done", "双随机已检查户数", "Randomly drawn firms inspected", "inspection", "户", "stock",
       rnd(R_DONE), "截至期末已录入抽查结果的检查对象户数。",
       "Drawn items whose result entered by the end is not pending."),
    _i("random_completion", "双随机抽查完成率", "Random inspections completed", "inspection", "%", "stock",
       rnd(R_DONE), "截至期末已检查户数占抽查户数的比例。", "random_done / random_drawn × 100.",
       denominator=rnd(R_DRAWN), thresholds=Thresholds("higher_better", 90, 80, 70, 60), **_pct()),
    _i("random_overdue", "双随机逾期未检查户数", "Random inspections overdue", "inspection", "户", "stock",
       rnd(R_OVERDUE), "截至期末检查期限已过仍未录入结果的检查对象户数。",
       "Drawn items with due_date < end and no result entered by the end.",
       thresholds=Thresholds("higher_worse", 1, 5, 10, 20)),
    _i("random_problem_rate", "双随机问题发现率", "Random inspections finding problems", "inspection", "%", "stock",
       rnd(f"{R_DONE} AND result = 'problem'"), "截至期末已检查户中发现问题的比例。",
       "Done items with result problem / done items × 100.", denominator=rnd(R_DONE), **_pct()),
    *[_i(f"random_problem_rate_{c.lower()}", f"{c}类主体问题发现率", f"Problems found in class {c} firms",
         "inspection", "%", "stock", rnd(f"{R_DONE} AND result = 'problem' AND credit_class = '{c}'"),
         f"截至期末信用风险分类为{c}类的已检查户中发现问题的比例（检验分类是否预示风险）。",
         f"Done items of credit_class {c} with result problem / done items of class {c} × 100.",
         denominator=rnd(f"{R_DONE} AND credit_class = '{c}'"), **_pct()) for c in "ABCD"],
    _i("random_absent_rate", "双随机查无下落率", "Random inspections: not found at address", "inspection", "%",
       "stock", rnd(f"{R_DONE} AND result = 'absent'"),
       "截至期末已检查户中通过登记的住所（经营场所）无法联系的比例。",
       "Done items with result absent / done items × 100.", denominator=rnd(R_DONE), **_pct()),
    # 涉企检查 (supervision/discipline.py)
    _i("inspected_firms", "年内受检主体数", "Firms inspected in the year", "inspection", "户", "stock", firms(),
       "期末前365天内接受过现场检查（部门检查或双随机抽查）的市场主体户数。",
       "Firms with an inspection event or a done 双随机 item within the 365 days up to end."),
    _i("multi_dept_inspected", "多头检查主体数", "Firms inspected by several departments", "inspection", "户",
       "stock", firms("depts_window >= 2"),
       "检查时限（默认30天）内被两个及以上不同部门检查的市场主体户数。",
       "Firms inspected by >= 2 distinct departments within the window (days) up to end.",
       thresholds=Thresholds("higher_worse", 1, 5, 10, 20)),
    _i("frequent_inspected", "频繁检查主体数", "Firms inspected too often", "inspection", "户", "stock",
       firms("times_year > %(max_year)s"),
       "期末前365天内被检查次数超过年度上限（默认2次，由系统管理员设定）的市场主体户数。",
       "Firms with more than max_per_year inspections within the 365 days up to end.",
       thresholds=Thresholds("higher_worse", 1, 5, 10, 20)),
    _i("spared_firms", "无事不扰主体数", "Firms spared from random inspection", "inspection", "户", "stock",
       ent(SPARED), "期末存续、信用风险分类为A类、未列入经营异常名录和严重违法失信名单，且一年内无处罚、投诉和检查不合格的"
       "市场主体户数（不列入双随机抽查）。",
       "Alive class-A firms on no list with no penalty, complaint or failed inspection within 365 days up to end."),
    _i("spared_share", "无事不扰主体占比", "Share of firms spared", "inspection", "%", "stock", ent(SPARED),
       "无事不扰主体数占期末市场主体总量的比例。", "spared_firms / entity_stock × 100.",
       denominator=STOCK, **_pct()),
    # 联合惩戒 (supervision/joint.py)
    _i("joint_cases_open", "联合惩戒在办案件", "Joint punishment cases in force", "credit", "件", "stock",
       joint("joint_cases", J_OPEN), "期末已发起且尚未信用修复的联合惩戒案件数。",
       "Cases with opened_at date <= end, not closed (credit repair) by end."),
    _i("joint_feedback_ontime_rate", "联合惩戒按期反馈率", "Joint punishment feedback on time", "credit", "%", "stock",
       joint("joint_actions", f"{J_DUE} AND {J_DONE} AND toDate(done_at) <= due_date"),
       "截至期末已到反馈期限的参与部门中，在期限内反馈执行情况的比例。",
       "Actions due by end reported back by their due_date / actions due by end × 100.",
       denominator=joint("joint_actions", J_DUE), thresholds=Thresholds("higher_better", 95, 90, 80, 70), **_pct()),
    _i("joint_feedback_overdue", "联合惩戒逾期未反馈", "Joint punishment feedback overdue", "credit", "件", "stock",
       joint("joint_actions", f"due_date < %(end)s AND NOT ({J_DONE})"),
       "截至期末已过反馈期限仍未反馈执行情况的参与部门数（件）。",
       "Actions opened by end with due_date < end and no feedback dated by end.",
       thresholds=Thresholds("higher_worse", 1, 5, 10, 20)),
]
