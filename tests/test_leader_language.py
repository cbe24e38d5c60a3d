"""A leader's screen names no setting, file or Python name (issue 30 item 3, the static
half): every Chinese text in the code — what pages, components, reports and indicator
definitions show — and every ``user_message`` anywhere is free of ``JINJIAN_`` setting
names, Python file names and Python identifiers of the settings. Technical detail goes to
the log (an exception's ``detail``) and the admin's documentation, never to the screen.
A configuration problem is shown as what is wrong and who fixes it (系统管理员)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
TECHNICAL = re.compile(r"JINJIAN_[A-Z_]+|\b\w+\.py\b|\b(?:os\.environ|settings\.[a-z_]+)\b")
#: Folders whose code can put text on a screen, a report or an API answer.
FOLDERS = ("pages", "components", "reports", "queries", "indicators", "supervision", "domain", "etl", "auth", "api",
           "store")
#: Texts for operators and developers, not for a leader's screen: command-line tools (their
#: own output names the settings to change), generated documentation, the OpenAPI document.
OPERATORS = ("__main__.py", "cli.py", "cli_common.py", "cli_users.py", "cli_display_audit.py", "docs.py",
             "readiness.py", "openapi.py")
LOG_CALLS = {"debug", "info", "warning", "error", "exception", "critical", "print"}


def _skipped(tree: ast.AST) -> set[int]:
    """ids of docstrings and of the arguments of log calls (the log is for operators)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body \
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            out.add(id(node.body[0].value))
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in LOG_CALLS:
                out |= {id(n) for arg in node.args for n in ast.walk(arg)}
    return out


def _strings(tree: ast.AST, skip: set[int] = frozenset()):
    parts: set[int] = set()  # the constant pieces of an f-string, read with it
    for node in ast.walk(tree):
        if id(node) in skip or id(node) in parts:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            parts |= {id(v) for v in node.values}
            yield node.lineno, "".join(v.value for v in node.values if isinstance(v, ast.Constant))


def _user_messages(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "user_message":
            yield from _strings(node.value)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and (t.id == "user_message" or t.id.endswith("_MESSAGE")) for t in targets) \
                    and node.value is not None:
                yield from _strings(node.value)


def test_no_setting_or_file_name_in_what_a_leader_reads():
    found = []
    files = [p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py")) if p.name not in OPERATORS]
    assert len(files) > 100
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _skipped(tree)
        shown = [(n, s) for n, s in _strings(tree, skip) if CJK.search(s)] + list(_user_messages(tree))
        for line, text in shown:
            if TECHNICAL.search(text):
                found.append(f"{path.relative_to(ROOT)}:{line}: {text[:100]!r}")
    assert not found, "technical names in texts a leader reads:\n" + "\n".join(found)


def test_the_check_catches_a_setting_name():
    tree = ast.parse('"""模块说明 JINJIAN_X"""\nx = f"工作日历文件（JINJIAN_HOLIDAY_FILE）有误"\n'
                     'logger.info("日志 JINJIAN_Y")\nraise E("d", user_message="see app.py")')
    skip = _skipped(tree)
    texts = [s for _, s in _strings(tree, skip) if CJK.search(s)] + [s for _, s in _user_messages(tree)]
    assert texts == ["工作日历文件（JINJIAN_HOLIDAY_FILE）有误", "see app.py"]
    assert all(TECHNICAL.search(t) for t in texts)
