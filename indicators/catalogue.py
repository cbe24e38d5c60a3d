"""The indicator catalogue (指标体系). Adding an indicator = one entry here plus
its oracle in ``tests/oracle.py``; no page code.

SQL conditions used below (bound placeholders only):
- ALIVE: registered on or before the period end and not cancelled/revoked by then;
- CLOSED: a task closed within the period (the ``tasks`` table: current state);
- task_asof: every task's state at the end of the period end (its last task event
  on or before then, ``queries.tasks.TASK_ASOF``); OPEN = not closed then; the
  deadline is the one in force then. Warning buckets (``supervision.rules``)
  compare that deadline with bounds computed from the working-day calendar;
- task_events: the transitions dated within the period (``from_status`` is the
  stage a transition ends, ``stage_due`` its deadline, ``stage_wd`` its working days);
- ingest_quality: the ingestion batches whose current state is ``loaded`` and that
  were received within the period, one row per batch (``queries.quality.INGEST_QUALITY``;
  docs/quality.md). A batch counts for the regions its sending unit's region scope lies
  in; a batch sent without a scope counts for the jurisdiction root (JINJIAN_ROOT_REGION).
"""
from __future__ import annotations

from indicators.model import Indicator, Measure, Thresholds

ALIVE = ("reg_date <= %(end)s AND (status = 'active' OR "
         "ifNull(status_date, toDate('2100-01-01')) > %(end)s)")
CLOSED = ("ifNull(toDate(closed_at), toDate('1970-01-02')) >= %(start)s AND "
          "ifNull(toDate(closed_at), toDate('2100-01-01')) <= %(end)s")
CREATED = "toDate(created_at) >= %(start)s AND toDate(created_at) <= %(end)s"
SECONDARY = "industry IN ('B', 'C', 'D', 'E')"
TERTIARY = "industry NOT IN ('A', 'B', 'C', 'D', 'E')"


def ent(cond: str = "1") -> Measure:
    """Entities alive at the period end that meet ``cond`` (list flags and credit
    grades are the entity's latest state)."""
    return Measure("entities", f"countIf({ALIVE} AND {cond})")


def ev(event_type: str, cond: str = "1") -> Measure:
    """Events of ``event_type`` dated within the period that meet ``cond``."""
    return Measure("events", f"countIf(event_type = '{event_type}' AND {cond})")


def task(cond: str) -> Measure:
    """Rows of the current-state ``tasks`` table that meet ``cond``."""
    return Measure("tasks", f"countIf({cond})")


def asof(cond: str = "1") -> Measure:
    """Tasks open at the period end (state as of then) that meet ``cond``."""
    return Measure("task_asof", f"countIf(status != 'closed' AND {cond})")


def step(cond: str) -> Measure:
    """Task transitions dated within the period that meet ``cond``."""
    return Measure("task_events", f"countIf({cond})")


def risk(cond: str = "1") -> Measure:
    """Entities alive at the period end, scored (``queries.risk.ENTITY_RISK``), that meet ``cond``."""
    return Measure("entity_risk", f"countIf({cond})")


OPEN = asof()
OVERDUE = asof("due_date < %(end)s")
ON_TIME_STEP = "event_date <= stage_due"


WORKERS = Measure("grid_workers", "count()")
RECORDS_IN = Measure("ingest_quality", "sum(records_in)")
STOCK = ent()


def _i(id_: str, zh: str, en: str, cat: str, unit: str, kind: str, num: Measure, dzh: str, den: str,
       **kw: object) -> Indicator:
    return Indicator(id=id_, name_zh=zh, name_en=en, category=cat, unit=unit, kind=kind,  # type: ignore[arg-type]
                     numerator=num, definition_zh=dzh, definition_en=den, **kw)  # type: ignore[arg-type]


def _pct(dec: int = 1) -> dict[str, object]:
    return {"scale": 100.0, "decimals": dec}


INDICATORS: list[Indicator] = [
    # ---------------------------------------------------------------- 主体登记
    _i("entity_stock", "市场主体总量", "Market entities", "registration", "户", "stock", STOCK,
       "期末存续的市场主体户数（登记日期不晚于期末，且期末未注销、未吊销）。",
       "Entities alive at the period end: reg_date <= end and (status active or status_date > end)."),
    _i("enterprise_stock", "企业数量", "Enterprises", "registration", "户", "stock",
       ent("entity_type = 'enterprise'"), "期末存续的企业户数。",
       "Alive entities at the period end with entity_type enterprise."),
    _i("individual_stock", "个体工商户数量", "Individual businesses", "registration", "户", "stock",
       ent("entity_type = 'individual'"), "期末存续的个体工商户户数。",
       "Alive entities at the period end with entity_type individual."),
    _i("cooperative_stock", "农民专业合作社数量", "Farmers' cooperatives", "registration", "户", "stock",
       ent("entity_type = 'cooperative'"), "期末存续的农民专业合作社户数。",
       "Alive entities at the period end with entity_type cooperative."),
    _i("enterprise_share", "企业占比", "Share of enterprises", "registration", "%", "stock",
       ent("entity_type = 'enterprise'"), "期末存续企业占市场主体总量的比例。",
       "Alive enterprises / alive entities at the period end × 100.", denominator=STOCK, **_pct()),
    _i("secondary_stock", "第二产业主体", "Entities in the secondary sector", "registration", "户", "stock",
       ent(SECONDARY), "期末存续、行业门类为 B–E（采矿、制造、电力燃气水、建筑）的市场主体。",
       "Alive entities at the period end with industry section in B, C, D, E."),
    _i("tertiary_stock", "第三产业主体", "Entities in the tertiary sector", "registration", "户", "stock",
       ent(TERTIARY), "期末存续、行业门类为 F–T 的市场主体。",
       "Alive entities at the period end with industry section not in A, B, C, D, E."),
    _i("retail_stock", "批发和零售业主体", "Wholesale and retail entities", "registration", "户", "stock",
       ent("industry = 'F'"), "期末存续、行业门类 F（批发和零售业）的市场主体。",
       "Alive entities at the period end with industry F."),
    _i("catering_stock", "住宿和餐饮业主体", "Accommodation and catering entities", "registration", "户",
       "stock", ent("industry = 'H'"), "期末存续、行业门类 H（住宿和餐饮业）的市场主体。",
       "Alive entities at the period end with industry H."),
    _i("registered_capital", "企业注册资本", "Registered capital of enterprises", "registration", "万元",
       "stock", Measure("entities", f"sumIf(capital, {ALIVE} AND entity_type = 'enterprise')"),
       "期末存续企业的注册资本合计（万元）。",
       "Sum of capital (10k yuan) of alive enterprises at the period end.", decimals=2),
    _i("new_registrations", "新设立市场主体", "New registrations", "registration", "户", "flow",
       ev("registration"), "期内新设立登记的市场主体户数。",
       "Events of type registration dated within the period."),
    _i("new_enterprises", "新设立企业", "New enterprises", "registration", "户", "flow",
       ev("registration", "entity_type = 'enterprise'"), "期内新设立的企业户数。",
       "Registration events within the period whose entity_type is enterprise."),
    _i("new_individuals", "新设立个体工商户", "New individual businesses", "registration", "户", "flow",
       ev("registration", "entity_type = 'individual'"), "期内新设立的个体工商户户数。",
       "Registration events within the period whose entity_type is individual."),
    _i("cancellations", "注销市场主体", "Cancellations", "registration", "户", "flow",
       ev("cancellation"), "期内注销登记的市场主体户数。", "Cancellation events within the period."),
    _i("revocations", "吊销营业执照", "Revocations", "registration", "户", "flow",
       ev("revocation"), "期内被吊销营业执照的市场主体户数。", "Revocation events within the period."),
    _i("net_growth", "净增市场主体", "Net growth", "registration", "户", "flow",
       Measure("events", "countIf(event_type = 'registration') - countIf(event_type = 'cancellation')"
                         " - countIf(event_type = 'revocation')"),
       "期内新设立户数减去注销、吊销户数。",
       "Registration events minus cancellation and revocation events within the period."),
    _i("exit_ratio", "退出比", "Exits per registration", "registration", "%", "flow",
       Measure("events", "countIf(event_type IN ('cancellation', 'revocation'))"),
       "期内注销与吊销户数之和占新设立户数的比例。",
       "(Cancellation + revocation events) / registration events within the period × 100.",
       denominator=ev("registration"), thresholds=Thresholds("higher_worse", 40, 60, 80, 100), **_pct()),
    _i("changes", "变更登记", "Registration changes", "registration", "件", "flow", ev("change"),
       "期内变更登记件数。", "Change events within the period."),
    _i("address_changes", "住所变更", "Address changes", "registration", "件", "flow",
       ev("change", "detail = 'address'"), "期内住所（经营场所）变更登记件数。",
       "Change events within the period with detail address."),
    # ---------------------------------------------------------------- 信用监管
    _i("abnormal_listed", "经营异常名录在册", "On the abnormal-operation list", "credit", "户", "current",
       ent("abnormal = 1"), "存续且当前列入经营异常名录的市场主体户数（名录状态为最新状态）。",
       "Alive entities at the period end whose abnormal flag is 1 (latest list state)."),
    _i("abnormal_rate", "经营异常名录占比", "Abnormal-operation list rate", "credit", "%", "current",
       ent("abnormal = 1"), "经营异常名录在册户数占存续市场主体的比例。",
       "Alive entities with abnormal = 1 / alive entities, at the period end, × 100.", denominator=STOCK,
       thresholds=Thresholds("higher_worse", 3, 4, 5, 8), **_pct(2)),
    _i("dishonest_listed", "严重违法失信名单在册", "On the serious-dishonesty list", "credit", "户",
       "current", ent("dishonest = 1"), "存续且当前列入严重违法失信名单的市场主体户数。",
       "Alive entities at the period end whose dishonest flag is 1."),
    _i("dishonest_rate", "严重违法失信占比", "Serious-dishonesty rate", "credit", "‰", "current",
       ent("dishonest = 1"), "严重违法失信名单在册户数占存续市场主体的千分比。",
       "Alive entities with dishonest = 1 / alive entities, at the period end, × 1000.", denominator=STOCK,
       scale=1000.0, decimals=2, thresholds=Thresholds("higher_worse", 2, 3, 5, 8)),
    _i("list_entries", "列入名录", "List entries", "credit", "户次", "flow", ev("list_entry"),
       "期内列入经营异常名录或严重违法失信名单的户次。", "list_entry events within the period."),
    _i("list_exits", "移出名录", "List exits", "credit", "户次", "flow", ev("list_exit"),
       "期内移出名录的户次。", "list_exit events within the period."),
    _i("grade_a_share", "A级信用主体占比", "Share of credit grade A", "credit", "%", "current",
       ent("credit_grade = 'A'"), "存续市场主体中信用等级为 A 的比例。",
       "Alive entities with credit_grade A / alive entities, at the period end, × 100.",
       denominator=STOCK, thresholds=Thresholds("higher_better", 70, 65, 60, 50), **_pct()),
    _i("grade_cd_count", "C/D级信用主体", "Entities graded C or D", "credit", "户", "current",
       ent("credit_grade IN ('C', 'D')"), "存续市场主体中信用等级为 C 或 D 的户数。",
       "Alive entities at the period end with credit_grade C or D."),
    _i("grade_cd_share", "C/D级信用主体占比", "Share of credit grades C and D", "credit", "%", "current",
       ent("credit_grade IN ('C', 'D')"), "存续市场主体中信用等级为 C 或 D 的比例。",
       "Alive entities with credit_grade C or D / alive entities, at the period end, × 100.",
       denominator=STOCK, thresholds=Thresholds("higher_worse", 8, 10, 12, 15), **_pct()),
    # ---------------------------------------------------------------- 投诉举报
    _i("complaints", "投诉举报", "Complaints", "complaints", "件", "flow", ev("complaint"),
       "期内受理的投诉举报件数。", "Complaint events within the period."),
    _i("food_complaints", "食品安全投诉", "Food-safety complaints", "complaints", "件", "flow",
       ev("complaint", "detail = '食品安全'"), "期内食品安全类投诉举报件数。",
       "Complaint events within the period with detail 食品安全."),
    _i("price_complaints", "价格收费投诉", "Price complaints", "complaints", "件", "flow",
       ev("complaint", "detail = '价格收费'"), "期内价格收费类投诉举报件数。",
       "Complaint events within the period with detail 价格收费."),
    _i("complaint_rate", "万户投诉量", "Complaints per 10,000 entities", "complaints", "件/万户", "flow",
       ev("complaint"), "期内投诉举报件数与期末存续市场主体（万户）之比。",
       "Complaint events within the period / alive entities at the period end × 10000.",
       denominator=STOCK, scale=10000.0, decimals=1),
    # ---------------------------------------------------------------- 执法办案
    _i("penalties", "行政处罚案件", "Administrative penalties", "enforcement", "件", "flow", ev("penalty"),
       "期内作出的行政处罚决定件数。", "Penalty events within the period."),
    _i("penalty_amount", "罚没金额", "Penalty amount", "enforcement", "万元", "flow",
       Measure("events", "sumIf(amount, event_type = 'penalty') / 10000"),
       "期内行政处罚罚没金额合计（万元）。", "Sum of amount of penalty events within the period / 10000.",
       decimals=2),
    _i("unlicensed_penalties", "无照经营处罚", "Penalties for unlicensed operation", "enforcement", "件",
       "flow", ev("penalty", "detail = '无照经营'"), "期内因无照经营作出的行政处罚件数。",
       "Penalty events within the period with detail 无照经营."),
    _i("licences", "行政许可", "Administrative licences", "enforcement", "件", "flow", ev("licence"),
       "期内作出的行政许可决定件数。", "Licence events within the period."),
    _i("food_licences", "食品经营许可", "Food business licences", "enforcement", "件", "flow",
       ev("licence", "detail = '食品经营许可'"), "期内作出的食品经营许可件数。",
       "Licence events within the period with detail 食品经营许可."),
    # ---------------------------------------------------------------- 抽查检验
    _i("inspections", "检查户次", "Inspections", "inspection", "户次", "flow", ev("inspection"),
       "期内开展的监督检查户次。", "Inspection events within the period."),
    _i("inspection_fail_rate", "检查问题发现率", "Inspections finding problems", "inspection", "%", "flow",
       ev("inspection", "result = 'fail'"), "期内检查发现问题的户次占检查户次的比例。",
       "Inspection events with result fail / inspection events, within the period, × 100.",
       denominator=ev("inspection"), thresholds=Thresholds("higher_worse", 5, 8, 10, 15), **_pct()),
    _i("samplings", "抽检批次", "Sampling tests", "inspection", "批次", "flow", ev("sampling"),
       "期内抽样检验的批次数（按检验记录计）。", "Sampling events within the period."),
    _i("sampling_pass_rate", "抽检合格率", "Sampling pass rate", "inspection", "%", "flow",
       ev("sampling", "result = 'pass'"), "期内抽检合格的批次占抽检批次的比例。",
       "Sampling events with result pass / sampling events, within the period, × 100.",
       denominator=ev("sampling"), thresholds=Thresholds("higher_better", 98, 97, 95, 90), **_pct(2)),
    _i("failed_batches", "不合格产品批次", "Failed product batches", "inspection", "批", "flow",
       Measure("events", "uniqExactIf(batch_no, event_type = 'sampling' AND result = 'fail')"),
       "期内抽检不合格的不同产品批号数。",
       "Distinct batch_no of sampling events with result fail within the period."),
    # ---------------------------------------------------------------- 监管任务
    _i("tasks_created", "推送任务", "Tasks pushed", "tasks", "件", "flow", task(CREATED),
       "期内系统自动推送的监管任务件数（核查、公示）。", "Tasks whose created_at date is within the period."),
    _i("tasks_open", "在办任务", "Open tasks", "tasks", "件", "stock", OPEN,
       "期末已推送且尚未办结的任务件数。",
       "Tasks whose state at the period end (last task event on or before it) is not closed."),
    _i("tasks_due_soon", "临期任务（提醒）", "Tasks due soon", "tasks", "件", "stock",
       asof("due_date >= %(asof)s AND due_date <= %(soon_until)s"),
       "期末在办且在提醒天数（JINJIAN_TASK_REMIND_DAYS，默认2个工作日）内到期的任务件数。",
       "Open tasks at the period end whose deadline in force is on or after the period end and at most "
       "JINJIAN_TASK_REMIND_DAYS (default 2) working days after it.",
       thresholds=Thresholds("higher_worse", 1, 50, 100, 200)),
    _i("tasks_overdue", "逾期任务", "Overdue tasks", "tasks", "件", "stock", OVERDUE,
       "期末尚未办结且已超过当前环节办理期限的任务件数。",
       "Open tasks at the period end whose deadline in force is before the period end."),
    _i("overdue_mild", "逾期任务（黄色）", "Overdue tasks, yellow", "tasks", "件", "stock",
       asof("due_date < %(end)s AND due_date >= %(mild_from)s"),
       "逾期不超过第一档工作日数（JINJIAN_TASK_OVERDUE_BUCKETS，默认1–5个工作日）的在办任务件数。",
       "Overdue tasks at the period end, at most the first JINJIAN_TASK_OVERDUE_BUCKETS bound (default 5) "
       "working days late (working days in (deadline, period end], at least 1)."),
    _i("overdue_moderate", "逾期任务（橙色）", "Overdue tasks, orange", "tasks", "件", "stock",
       asof("due_date < %(mild_from)s AND due_date >= %(moderate_from)s"),
       "逾期超过第一档、不超过第二档工作日数（默认6–10个工作日）的在办任务件数。",
       "Overdue tasks at the period end more than the first and at most the second "
       "JINJIAN_TASK_OVERDUE_BUCKETS bound (default 6–10) working days late."),
    _i("overdue_severe", "逾期任务（红色，升级督办）", "Overdue tasks, red (escalated)", "tasks", "件", "stock",
       asof("due_date < %(moderate_from)s"),
       "逾期超过第二档工作日数（默认10个工作日）、需升级督办的在办任务件数。",
       "Overdue tasks at the period end more than the second JINJIAN_TASK_OVERDUE_BUCKETS bound "
       "(default 10) working days late.", thresholds=Thresholds("higher_worse", 1, 5, 20, 50)),
    _i("overdue_rate", "任务逾期率", "Overdue share of open tasks", "tasks", "%", "stock", OVERDUE,
       "逾期任务占在办任务的比例。", "Overdue tasks / open tasks at the period end × 100.", denominator=OPEN,
       thresholds=Thresholds("higher_worse", 5, 10, 20, 30), **_pct()),
    _i("tasks_closed", "办结任务", "Tasks closed", "tasks", "件", "flow", task(CLOSED),
       "期内办结的任务件数。", "Tasks whose closed_at date is within the period."),
    _i("ontime_rate", "按期办结率", "Closed on time", "tasks", "%", "flow",
       task(f"{CLOSED} AND late_stages = 0"), "期内办结任务中各环节均在办理期限内完成的比例。",
       "Tasks closed within the period with late_stages = 0 (no stage ended after its deadline) / tasks "
       "closed within the period × 100.",
       denominator=task(CLOSED), thresholds=Thresholds("higher_better", 95, 90, 85, 75), **_pct()),
    _i("step_ontime_rate", "环节按期率", "Stages ended on time", "tasks", "%", "flow",
       step(f"from_status NOT IN ('none', 'pending') AND {ON_TIME_STEP}"),
       "期内完成的办理环节（首次核查、复查、联合处置、镇街处置、部门反馈、公示）中在时限内完成的比例。",
       "Task transitions within the period that end a timed stage (from_status not none/pending, plus "
       "disclosure publications) with event_date <= stage_due / such transitions × 100.",
       denominator=step("from_status NOT IN ('none', 'pending')"),
       thresholds=Thresholds("higher_better", 95, 90, 85, 75), **_pct()),
    _i("inspection_days", "首次核查平均用时", "Working days to first inspection", "tasks", "工作日", "flow",
       Measure("task_events", "sumIf(stage_wd, from_status = 'inspecting')"),
       "期内完成首次实地核查的任务，从派发到核查完成的平均工作日数（时限10个工作日）。",
       "Mean stage_wd of transitions from inspecting within the period.",
       denominator=step("from_status = 'inspecting'"), decimals=1,
       thresholds=Thresholds("higher_worse", 6, 8, 9, 10)),
    _i("inspection_ontime_rate", "首次核查按期率", "First inspections on time", "tasks", "%", "flow",
       step(f"from_status = 'inspecting' AND {ON_TIME_STEP}"),
       "期内完成的首次实地核查中在10个工作日内完成的比例。",
       "Transitions from inspecting within the period with event_date <= stage_due / transitions from "
       "inspecting within the period × 100.", denominator=step("from_status = 'inspecting'"),
       thresholds=Thresholds("higher_better", 95, 90, 85, 75), **_pct()),
    _i("recheck_pass_rate", "复查整改率", "Rechecks rectified", "tasks", "%", "flow",
       step("from_status = 'notice' AND status = 'closed'"),
       "期内完成的复查中已整改到位（办结）的比例；其余转村（社区）联合处置。",
       "Transitions from notice to closed within the period / transitions from notice within the period × 100.",
       denominator=step("from_status = 'notice'"), thresholds=Thresholds("higher_better", 90, 80, 70, 60),
       **_pct()),
    _i("tasks_transferred", "推送职能部门", "Pushed to departments", "tasks", "件", "flow",
       step("status = 'transferred'"),
       "期内经村（社区）、镇街处置未果或线索转办，推送至职能部门的任务件数。",
       "Transitions to transferred within the period."),
    _i("clue_feedback_rate", "线索按期反馈率", "Clue feedback on time", "tasks", "%", "flow",
       step(f"task_type = 'clue' AND from_status = 'transferred' AND {ON_TIME_STEP}"),
       "期内职能部门反馈的移送线索中在反馈时限内反馈的比例。",
       "Clue transitions from transferred (department feedback) within the period with event_date <= "
       "stage_due / clue transitions from transferred within the period × 100.",
       denominator=step("task_type = 'clue' AND from_status = 'transferred'"),
       thresholds=Thresholds("higher_better", 95, 90, 80, 70), **_pct()),
    _i("disclosure_ontime_rate", "信息按期公示率", "Disclosures on time", "tasks", "%", "flow",
       step(f"task_type = 'disclosure' AND status = 'closed' AND {ON_TIME_STEP}"),
       "期内公示的行政许可、行政处罚信息中在公示时限（默认7个工作日）内公示的比例。",
       "Disclosure transitions to closed within the period with event_date <= stage_due / disclosure "
       "transitions to closed within the period × 100.",
       denominator=step("task_type = 'disclosure' AND status = 'closed'"),
       thresholds=Thresholds("higher_better", 98, 95, 90, 80), **_pct()),
    _i("problem_rate", "核查发现问题率", "Verifications finding problems", "tasks", "%", "flow",
       task(f"{CREATED} AND problem_found = 1 AND task_type IN ('verify_registration', 'verify_change')"),
       "期内推送的核查任务中发现问题（住所不符、无照经营等）的比例。",
       "Verification tasks created within the period with problem_found = 1 / verification tasks created "
       "within the period × 100.",
       denominator=task(f"{CREATED} AND task_type IN ('verify_registration', 'verify_change')"), **_pct()),
    # ---------------------------------------------------------------- 风险预警
    _i("risk_red", "红色预警主体", "Red-grade entities", "risk", "户", "stock", risk("grade = 'red'"),
       "期末存续主体中风险评分达到红色阈值（默认50分）的户数，评分方法见风险预警说明。",
       "Alive entities at the period end whose risk score (docs/risk.md) is at least the red threshold.",
       thresholds=Thresholds("higher_worse", 1, 10, 50, 100)),
    _i("risk_orange", "橙色预警主体", "Orange-grade entities", "risk", "户", "stock", risk("grade = 'orange'"),
       "期末存续主体中风险评分处于橙色区间（默认30–50分）的户数。",
       "Alive entities at the period end whose risk score is in the orange band."),
    _i("risk_yellow", "黄色预警主体", "Yellow-grade entities", "risk", "户", "stock", risk("grade = 'yellow'"),
       "期末存续主体中风险评分处于黄色区间（默认15–30分）的户数。",
       "Alive entities at the period end whose risk score is in the yellow band."),
    _i("high_risk_share", "高风险主体占比", "High-risk share", "risk", "%", "stock",
       risk("grade IN ('red', 'orange')"), "期末红色、橙色预警主体占存续主体的比例。",
       "Red or orange entities / alive entities at the period end × 100.", denominator=risk(),
       thresholds=Thresholds("higher_worse", 0.5, 1, 2, 5), **_pct(2)),
    _i("avg_risk_score", "平均风险评分", "Average risk score", "risk", "分", "stock",
       # Summed in hundredths as integers: a float sum's last bits depend on thread order.
       Measure("entity_risk", "sum(toInt64(round(score * 100)))"), "期末存续主体风险评分的平均值（满分100）。",
       "Mean risk score of alive entities at the period end.", denominator=risk(), decimals=2, scale=0.01),
    _i("batch_linked_entities", "追溯联动预警主体", "Entities warned by batch linkage", "risk", "户", "stock",
       risk("failed_batches > 0"),
       "期末存续主体中经营过近365天内在任何地区抽检不合格产品批次的户数（追溯联动）。",
       "Alive entities at the period end that handled a batch which failed sampling anywhere in the 365 days "
       "up to the period end."),
    _i("warning_events", "新增预警事项", "New warning events", "risk", "件", "flow",
       Measure("events", "countIf(event_type IN ('complaint', 'penalty', 'list_entry') OR "
                         "(event_type IN ('inspection', 'sampling') AND result = 'fail'))"),
       "期内新增的投诉举报、行政处罚、列入名录、检查不合格和抽检不合格事项件数。",
       "Events within the period that are complaints, penalties, list entries, or failed inspections or samplings."),
    # ---------------------------------------------------------------- 效能监察
    _i("grid_workers", "网格员", "Grid workers", "efficiency", "人", "current", WORKERS,
       "当前在册的网格员人数。", "Rows of grid_workers."),
    _i("load_per_worker", "人均监管主体", "Entities per grid worker", "efficiency", "户/人", "stock", STOCK,
       "期末存续市场主体户数与网格员人数之比（监管负荷）。", "Alive entities at the period end / grid workers.",
       denominator=WORKERS, decimals=1, thresholds=Thresholds("higher_worse", 300, 500, 800, 1200)),
    _i("open_tasks_per_worker", "人均在办任务", "Open tasks per grid worker", "efficiency", "件/人", "stock",
       OPEN, "期末在办任务件数与网格员人数之比。", "Open tasks at the period end / grid workers.",
       denominator=WORKERS, decimals=2),
    _i("avg_days_to_close", "平均办结时长", "Average days to close", "efficiency", "天", "flow",
       Measure("tasks", f"sumIf(dateDiff('day', toDate(created_at), toDate(closed_at)), {CLOSED})"),
       "期内办结任务从推送到办结的平均自然日数。",
       "Mean over tasks closed within the period of (closed_at date − created_at date) in days.",
       denominator=task(CLOSED), decimals=1, thresholds=Thresholds("higher_worse", 12, 14, 18, 25)),
    # ---------------------------------------------------------------- 数据质量
    _i("missing_coordinates", "缺少坐标主体", "Entities without coordinates", "data_quality", "户", "current",
       ent("lon = 0 AND lat = 0"), "存续市场主体中缺少经纬度坐标的户数。",
       "Alive entities at the period end with lon = 0 and lat = 0."),
    _i("missing_owner_id_rate", "个体户经营者身份缺失率", "Individual businesses without owner ID",
       "data_quality", "%", "current", ent("entity_type = 'individual' AND owner_id = ''"),
       "存续个体工商户中缺少经营者身份证件号码的比例。",
       "Alive individual businesses with empty owner_id / alive individual businesses, at the period end, × 100.",
       denominator=ent("entity_type = 'individual'"), thresholds=Thresholds("higher_worse", 1, 2, 5, 10),
       **_pct(2)),
    _i("data_records_in", "数据接收条数", "Records received", "data_quality", "条", "flow", RECORDS_IN,
       "期内接收并完成导入的批次所含记录条数（导入条数 + 退回条数），批次按接收时间计入期内。",
       "Sum of rows_in of the ingestion batches received within the period whose current state is loaded."),
    _i("data_records_rejected", "数据退回条数", "Records rejected", "data_quality", "条", "flow",
       Measure("ingest_quality", "sum(records_rejected)"),
       "期内接收的批次中校验不通过、退回报送单位的记录条数。",
       "Sum of rows_rejected of the loaded ingestion batches received within the period."),
    _i("data_accuracy_rate", "数据准确率", "Records accepted", "data_quality", "%", "flow",
       Measure("ingest_quality", "sum(records_loaded)"),
       "期内接收的记录中通过校验、成功导入的比例（导入条数 ÷ 接收条数）。",
       "Sum of rows_loaded / sum of rows_in of the loaded ingestion batches received within the period × 100.",
       denominator=RECORDS_IN, thresholds=Thresholds("higher_better", 99, 98, 95, 90), **_pct(2)),
    _i("data_timeliness_rate", "报送及时率", "Batches sent on time", "data_quality", "%", "flow",
       Measure("ingest_quality", "countIf(timely)"),
       "期内接收且至少导入一条记录的批次中，最新一条记录的业务时间距接收时间不超过24小时的批次比例。",
       "Loaded ingestion batches received within the period with rows_loaded > 0 and received_at − data_to "
       "<= 24 hours / loaded batches received within the period with rows_loaded > 0 × 100.",
       denominator=Measure("ingest_quality", "countIf(has_data)"),
       thresholds=Thresholds("higher_better", 95, 90, 80, 70), **_pct()),
    _i("data_completeness_rate", "数据完整率", "Records complete", "data_quality", "%", "flow",
       Measure("ingest_quality", "sum(records_complete)"),
       "期内接收的记录中必填项齐全（无“必填字段为空”“缺少必填列”问题）的比例。",
       "(Sum of rows_in − distinct rejected records with reason_code required or missing_column) / sum of "
       "rows_in, over the loaded ingestion batches received within the period, × 100.",
       denominator=RECORDS_IN, thresholds=Thresholds("higher_better", 99, 98, 95, 90), **_pct(2)),
]

CATALOGUE: dict[str, Indicator] = {}
for _ind in INDICATORS:
    if _ind.id in CATALOGUE:
        raise ValueError(f"duplicate indicator id {_ind.id}")
    CATALOGUE[_ind.id] = _ind


def get_indicator(indicator_id: str) -> Indicator:
    from queries.errors import InvalidParameter

    try:
        return CATALOGUE[indicator_id]
    except KeyError:
        raise InvalidParameter(f"unknown indicator {indicator_id!r}",
                               user_message=f"未知指标：{indicator_id}") from None
