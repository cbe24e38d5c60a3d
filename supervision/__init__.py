"""Supervision rules: task lifecycle and deadlines (rules), risk scoring (risk) and
which department a task goes to (routing)."""
from __future__ import annotations


def check_settings(env=None) -> None:  # noqa: ANN001 - a mapping, default os.environ
    """Validate the task and risk settings (the task limits, warning days and risk weights) at start-up:
    a bad value raises ConfigError naming the setting, before anything is served."""
    from supervision.risk import RiskRules
    from supervision.rules import TaskRules

    TaskRules.from_env(env)
    RiskRules.from_env(env)
