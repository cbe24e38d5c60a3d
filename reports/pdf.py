"""PDF export: headless Chromium (Playwright driving Debian's ``/usr/bin/chromium``,
no ``playwright install``) prints the report route to A4.

:class:`PdfRenderer` keeps one browser warm. Playwright's sync API is bound to the
thread that started it, so the renderer owns one worker thread: callers from any
thread submit a job and wait for its result (thread-safe). The browser is launched
lazily on the first job and relaunched when it has died. Each job loads the URL in a
fresh page, waits for ``#report-ready[data-ready="1"]`` (set by the page only once
every chart and table is in place), then prints with a header and the footer
"第 N 页 / 共 M 页". Text stays vector and selectable; fonts are embedded.
"""
from __future__ import annotations

import logging
from pathlib import Path
import os
import queue
import shutil
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from html import escape
from typing import Any, Callable, TypeVar

from domain.errors import JinjianError, QueryFailed
from store import lifecycle

from auth.render import redact  # never log a render ticket

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--font-render-hinting=none"]
READY = '#report-ready[data-ready="1"], #report-ready[data-ready="error"], #report-ready[data-ready="timeout"]'
MARGIN = {"top": "18mm", "bottom": "16mm", "left": "14mm", "right": "14mm"}
_HF_STYLE = ("font-family:'Noto Sans CJK SC','WenQuanYi Zen Hei',sans-serif;font-size:8px;color:#555;"
             "width:100%;margin:0 14mm;")


class PdfError(QueryFailed):
    """The PDF could not be made (no browser, page error, timeout). A server-side
    failure (HTTP 500) like QueryFailed, whose subclass it is so that every direct
    JinjianError subclass keeps its API error code (tests/test_api.py)."""

    user_message = "PDF 生成失败，已记录日志"


@dataclass(frozen=True)
class PdfOptions:
    header_left: str = "金监 · 智慧监管平台"
    header_right: str = ""
    timeout_s: float = 60.0


def chromium_path() -> str:
    """The browser executable (JINJIAN_CHROMIUM) — a clear error when missing."""
    path = os.environ.get("JINJIAN_CHROMIUM", "").strip() or DEFAULT_CHROMIUM
    found = shutil.which(path) if not os.path.isabs(path) else (path if os.access(path, os.X_OK) else None)
    if not found:
        raise PdfError(f"Chromium not found at {path!r}: install Debian's chromium "
                       "(scripts/install_debian_deps.sh) or set JINJIAN_CHROMIUM to the browser's path",
                       user_message="PDF 导出组件（浏览器）未安装，暂时无法导出 PDF，请联系系统管理员")
    return found


def header_template(opts: PdfOptions) -> str:
    return (f'<div style="{_HF_STYLE}display:flex;justify-content:space-between;border-bottom:0.5px solid #bbb;'
            f'padding-bottom:2px"><span>{escape(opts.header_left)}</span><span>{escape(opts.header_right)}</span></div>')


FOOTER = (f'<div style="{_HF_STYLE}text-align:center">第 <span class="pageNumber"></span> 页 / '
          f'共 <span class="totalPages"></span> 页</div>')


class PdfRenderer:
    """One warm headless Chromium, shared by every thread of the process."""

    def __init__(self, executable: str | None = None) -> None:
        self._executable = executable
        self._jobs: queue.Queue[tuple[str, PdfOptions, Callable[[Any], Any], str, Future] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.launches = 0

    # -- public
    def render(self, url: str, opts: PdfOptions | None = None) -> bytes:
        """Print ``url`` to PDF bytes (blocks until done)."""
        opts = opts or PdfOptions()

        def pdf(page: Any) -> bytes:
            return page.pdf(format="A4", print_background=True, display_header_footer=True,
                            header_template=header_template(opts), footer_template=FOOTER, margin=MARGIN,
                            prefer_css_page_size=False)

        return self._submit(url, opts, pdf, "print")

    def render_html(self, document: str, opts: PdfOptions | None = None) -> bytes:
        """Print a complete HTML document (with its ready marker ``#report-ready``) to PDF bytes.
        It is written to a private temporary file and loaded from there (a ``data:`` URL is
        limited to 2 MB, a city's publication list is larger), so it needs no route and no
        render ticket."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="jinjian-pdf-") as tmp:
            page = Path(tmp) / "document.html"
            page.write_text(document, encoding="utf-8")
            return self.render(page.as_uri(), opts)

    def inspect(self, url: str, action: Callable[[Any], T], opts: PdfOptions | None = None) -> T:
        """``action(page)`` on the report at ``url`` once it is ready, as a screen shows it
        (the same warm browser, on the renderer's thread: Playwright's sync API is bound to
        it). What the page reads back — its tables, a download — is checked against the PDF
        and the Excel file (tests/test_report_agreement.py). ``action`` must not ask this
        renderer for a PDF: its jobs run one after another."""
        return self._submit(url, opts or PdfOptions(), action, "screen")

    def _submit(self, url: str, opts: PdfOptions, action: Callable[[Any], Any], media: str) -> Any:
        exe = self._executable or chromium_path()
        self._executable = exe
        fut: Future = Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._worker, name="report-pdf", daemon=True)
                self._thread.start()
            self._jobs.put((url, opts, action, media, fut))
        return fut.result(timeout=opts.timeout_s + 60)

    def close(self) -> None:
        """Stop the worker and its browser."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None and thread.is_alive():
                self._jobs.put(None)
        if thread is not None:
            thread.join(timeout=30)

    # -- worker thread
    def _fail_queued(self, err: Exception) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=0.5)
            except queue.Empty:
                return
            if job is not None and job[-1].set_running_or_notify_cancel():
                job[-1].set_exception(err)

    def _worker(self) -> None:
        try:
            from playwright.sync_api import sync_playwright

            pw = sync_playwright().start()
        except Exception as exc:  # noqa: BLE001 - the package or its driver is missing / broken
            logger.error("playwright unavailable: %s", exc)
            self._fail_queued(PdfError(f"Playwright cannot start ({type(exc).__name__}: {exc}); "
                                       "pip install -r requirements.txt",
                                       user_message="PDF 导出组件不可用，请联系系统管理员"))
            return
        browser = context = None
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                url, opts, action, media, fut = job
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    if browser is None or not browser.is_connected():
                        browser = self._launch(pw)
                        context = self._context(browser)
                    try:
                        fut.set_result(self._run(context, url, opts, action, media))
                    except PdfError:
                        raise
                    except Exception as exc:  # a dead browser: relaunch once and retry
                        if browser.is_connected():
                            raise
                        logger.warning("chromium died (%s); relaunching", exc)
                        browser = self._launch(pw)
                        context = self._context(browser)
                        fut.set_result(self._run(context, url, opts, action, media))
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    fut.set_exception(exc if isinstance(exc, JinjianError)
                                      else PdfError(f"printing {url} failed: {type(exc).__name__}: {exc}"))
        finally:
            try:
                if browser is not None and browser.is_connected():
                    browser.close()
            finally:
                pw.stop()

    def _launch(self, pw: Any) -> Any:
        t0 = time.monotonic()
        try:
            browser = pw.chromium.launch(executable_path=self._executable, headless=True,
                                         args=FLAGS)
        except Exception as exc:
            raise PdfError(f"cannot start Chromium {self._executable!r} (JINJIAN_CHROMIUM): {exc}".splitlines()[0],
                           user_message="PDF 导出组件（浏览器）无法启动，暂时无法导出 PDF，请联系系统管理员") from None
        self.launches += 1
        logger.info("chromium %s launched in %.2f s", browser.version, time.monotonic() - t0)
        return browser

    @staticmethod
    def _context(browser: Any) -> Any:
        """One context for every job: the app's fingerprinted scripts stay in its
        HTTP and code caches, so a warm page load skips fetching and compiling them."""
        context = browser.new_context(viewport={"width": 1100, "height": 1400}, locale="zh-CN")
        return context

    def _run(self, context: Any, url: str, opts: PdfOptions, action: Callable[[Any], Any], media: str) -> Any:
        """Load ``url`` in a fresh page, wait for its ready marker, return ``action(page)``."""
        t0 = time.monotonic()
        page = context.new_page()
        try:
            page.emulate_media(media=media)
            page.goto(url, wait_until="domcontentloaded", timeout=opts.timeout_s * 1000)
            t_loaded = time.monotonic()
            try:
                marker = page.wait_for_selector(READY, state="attached", timeout=opts.timeout_s * 1000)
            except Exception:
                raise PdfError(f"report at {url} not ready after {opts.timeout_s:.0f} s",
                               user_message="报告页面加载超时，PDF 未生成") from None
            t_ready = time.monotonic()
            state = marker.get_attribute("data-ready") if marker else None
            if state != "1":
                message = page.text_content("#report-error") if page.query_selector("#report-error") else None
                from queries.report_periods import ReportError

                raise ReportError(f"report page says: {message or state}", user_message=message or "报告生成失败")
            out = action(page)
        finally:
            page.close()
        logger.info("%s %s: %s in %.2f s (load %.2f, ready %.2f, %s %.2f)", "pdf" if media == "print" else "page",
                    "a local document" if url.startswith("file:") else redact(url), f"{len(out)} bytes" if isinstance(out, bytes) else "done", time.monotonic() - t0,
                    t_loaded - t0, t_ready - t_loaded, "print" if media == "print" else "read", time.monotonic() - t_ready)
        return out


_shared: PdfRenderer | None = None
_shared_lock = threading.Lock()


def shared_renderer() -> PdfRenderer:
    """The process's renderer (created on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PdfRenderer()
            lifecycle.on_close(_shared.close)  # the browser ends with the process, not orphaned
        return _shared
