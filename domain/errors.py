"""The project's own exceptions. Each carries a Chinese ``user_message`` for the
screen and an English ``detail`` for logs and the command line."""
from __future__ import annotations


class JinjianError(Exception):
    """Base class. ``user_message`` is safe to show to a user."""

    user_message = "系统内部错误，请稍后重试"
    http_status = 500

    def __init__(self, detail: str = "", user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        self.detail = detail or self.user_message
        if user_message is not None:
            self.user_message = user_message


class DatabaseUnavailable(JinjianError):
    user_message = "数据库暂时无法连接，正在自动重试"
    http_status = 503


class QueryTimeout(JinjianError):
    user_message = "查询超时，请缩小范围后重试"
    http_status = 504


class QueryFailed(JinjianError):
    user_message = "查询执行失败，已记录日志"
    http_status = 500


class ConfigurationProblem(JinjianError):
    """A setting or file the operator provides is wrong (task rules, the holiday file …).
    ``detail`` names it for the log; ``user_message`` says what is wrong and who fixes it."""

    user_message = "系统配置有误，请联系系统管理员"
    http_status = 503


class InvalidParameter(JinjianError):
    user_message = "请求参数不正确"
    http_status = 400


class RegionNotFound(JinjianError):
    user_message = "未找到该行政区划"
    http_status = 404


class ScopeViolation(JinjianError):
    user_message = "无权查看该区域的数据"
    http_status = 403
