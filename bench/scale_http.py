"""HTTP side of ``bench/scale.py``: the app served on loopback, Dash callback requests
built from a page's layout, and the load client (a separate process) that plays many
wall screens."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

from tests.pagekit import callback_outputs


class AppServer:
    """The app's Flask server on a loopback port in a thread (werkzeug, threaded)."""

    def __init__(self) -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        from app import create_app

        class Quiet(WSGIRequestHandler):
            def log_request(self, *a: Any, **k: Any) -> None:
                pass

        self.app = create_app()
        self.httpd = make_server("127.0.0.1", 0, self.app.server, threaded=True, request_handler=Quiet)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="bench-http", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def callback_name(self, output: str) -> str:
        cb = self.app.callback_map.get(output) or {}
        fn = cb.get("callback")
        if fn is None:
            return output[:40]
        inner = getattr(fn, "__wrapped__", fn)
        return f"{inner.__module__.split('.')[-1]}.{inner.__name__}"


def payload(dep: dict[str, Any], values: dict[str, Any], changed: str | None = None) -> dict[str, Any]:
    """A /_dash-update-component body for ``dep`` with 'id.prop' → value."""
    def fill(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in items]

    inputs = fill(dep["inputs"])
    first = f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"
    return {"output": dep["output"], "outputs": callback_outputs(dep["output"]), "inputs": inputs,
            "state": fill(dep["state"]), "changedPropIds": [changed or first]}


def _collect(node: Any, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and isinstance(props.get("id"), str):
            for k, v in props.items():
                if k not in ("children", "id"):
                    out.setdefault(f"{props['id']}.{k}", v)
            out.setdefault(f"{props['id']}.__present__", True)
        for v in node.values():
            _collect(v, out)
    elif isinstance(node, list):
        for v in node:
            _collect(v, out)


#: page → (URL for a region, the store that carries the region in the layout)
PAGES: dict[str, tuple[Callable[[str], tuple[str, str]], str]] = {
    "wall /": (lambda r: ("/", f"?region={r}"), "wall-region.data"),
    "drill /region": (lambda r: (f"/region/{r}", ""), "region-code.data"),
    "risk /risk": (lambda r: ("/risk", f"?region={r}"), "risk-region.data"),
}


class Harness:
    def __init__(self, srv: AppServer) -> None:
        import requests

        self.srv = srv
        self.http = requests
        self.deps = requests.get(srv.url + "/_dash-dependencies", timeout=30).json()
        self.router = next(d for d in self.deps if "_pages_content.children" in d["output"])

    def post(self, body: dict[str, Any], timeout: float = 300) -> tuple[float, int, Any]:
        t = time.perf_counter()
        resp = self.http.post(self.srv.url + "/_dash-update-component", json=body, timeout=timeout)
        elapsed = 1000 * (time.perf_counter() - t)
        data = None
        if resp.status_code == 200:
            try:
                data = resp.json()
            except ValueError:
                data = None
        return elapsed, resp.status_code, data

    def layout_values(self, path: str, search: str) -> dict[str, Any]:
        values = {"_pages_location.pathname": path, "_pages_location.search": search}
        _, status, data = self.post(payload(self.router, values))
        if status != 200:
            raise RuntimeError(f"page {path}{search}: HTTP {status}")
        out: dict[str, Any] = {}
        _collect(data, out)
        return out

    def page_deps(self, layout: dict[str, Any]) -> list[dict[str, Any]]:
        """Server-side callbacks whose inputs and states are all in the page."""
        present = {k.rsplit(".", 1)[0] for k in layout if k.endswith(".__present__")}
        out = []
        for d in self.deps:
            if d.get("clientside_function") or d is self.router:
                continue
            ids = {str(i["id"]) for i in d["inputs"] + d["state"]}
            if ids and ids <= present:
                out.append(d)
        return out


def trigger(dep: dict[str, Any], values: dict[str, Any], child: str | None) -> str | None:
    """The input a user action fires for a prevent_initial_call callback (a map
    click on a child, a button press), with its value set in ``values``."""
    if not dep.get("prevent_initial_call"):
        return None
    for i in dep["inputs"]:
        key = f"{i['id']}.{i['property']}"
        if i["property"] == "clickData" and child:
            values[key] = {"type": "Feature", "properties": {"code": child}}
            return key
        if i["property"] == "n_clicks":
            values[key] = 1
            return key
    return None


def response_error(data: Any) -> str | None:
    """A visible error banner in a callback's response, if any."""
    resp = (data or {}).get("response") if isinstance(data, dict) else None
    if not isinstance(resp, dict):
        return None
    for cid, props in resp.items():
        if "banner" in cid and isinstance(props, dict):
            cls = props.get("className")
            if isinstance(cls, str) and "hidden" not in cls.split():
                text = props.get("children")
                return f"{cid}: {str(text)[:120]}"
    return None


def load_bodies(h: Harness, regions: list[str], live: bool) -> dict[str, dict[str, Any]]:
    """Per region: the wall's refresh callbacks' bodies (and the live-version one)."""
    layout = h.layout_values("/", f"?region={regions[0]}")
    deps = h.page_deps(layout)
    out: dict[str, dict[str, Any]] = {}
    for r in regions:
        values = dict(layout)
        values["wall-region.data"] = r
        bodies = {}
        for dep in deps:
            trig = [f"{i['id']}.{i['property']}" for i in dep["inputs"]]
            name = h.srv.callback_name(dep["output"])
            if "wall-refresh.n_intervals" in trig:
                v = dict(values)
                v["wall-refresh.n_intervals"] = 1
                bodies[name] = payload(dep, v, "wall-refresh.n_intervals")
            elif live and "wall-live.n_intervals" in trig:
                v = dict(values)
                v["wall-live.n_intervals"] = 1
                bodies[name] = payload(dep, v, "wall-live.n_intervals")
        out[r] = bodies
    return out


def run_load_client(spec_path: Path) -> None:
    """(Subprocess) ``screens`` walls, each firing its refresh callbacks every
    ``interval`` s (the callbacks of one tick concurrently, as the browser does);
    a callback still running at its next tick fires as soon as it returns."""
    import requests

    spec = json.loads(spec_path.read_text())
    url = spec["url"] + "/_dash-update-component"
    t0 = time.monotonic() + 1.0
    stop = t0 + spec["seconds"]
    results: list[list[Any]] = []
    late = [0]
    lock = threading.Lock()

    def worker(screen: int, name: str, body: dict[str, Any], every: float) -> None:
        body = json.loads(json.dumps(body))
        sess = requests.Session()
        n = 0
        next_t = t0 + (screen / spec["screens"]) * spec["interval"]
        while next_t < stop:
            now = time.monotonic()
            if now < next_t:
                time.sleep(next_t - now)
            elif now - next_t > 1.0:
                with lock:
                    late[0] += 1
            n += 1
            for i in body["inputs"]:
                if i["property"] == "n_intervals":
                    i["value"] = n
            start = time.monotonic()
            status, err = 0, ""
            try:
                resp = sess.post(url, json=body, timeout=60)
                status = resp.status_code
                if status == 200:
                    data = resp.json()
                    e = response_error(data)
                    err = e or ""
                    sig = ((data.get("response") or {}).get("wall-map-sig") or {}).get("data")
                    if sig is not None:
                        for s in body["state"]:
                            if s["id"] == "wall-map-sig":
                                s["value"] = sig
                elif status != 204:
                    err = f"HTTP {status}"
            except Exception as exc:  # noqa: BLE001
                err = type(exc).__name__
            elapsed = 1000 * (time.monotonic() - start)
            with lock:
                results.append([name, elapsed, status, err, start - t0])
            next_t += every
            if time.monotonic() > next_t + every:  # fell more than a whole period behind
                next_t = time.monotonic()

    threads = []
    for s in range(spec["screens"]):
        bodies = spec["bodies"][s % len(spec["bodies"])]
        for name, body in bodies.items():
            every = 1.0 if "live" in name else spec["interval"]
            th = threading.Thread(target=worker, args=(s, name, body, every), daemon=True)
            th.start()
            threads.append(th)
    for th in threads:
        th.join(timeout=spec["seconds"] + 120)
    print(json.dumps({"results": results, "late": late[0], "threads": len(threads)}))

