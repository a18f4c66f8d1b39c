"""The spend report in a real headless Chromium, opened from disk: charts drawn, no page errors, every
feature named, nothing fetched from the network, the table toggle works; a screenshot is saved."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.demo import generate_demo, write_demo_chargeback
from pipelines.report import write_report
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
)


def find_chromium() -> str | None:
    """$CHROMIUM when set, else the first Chromium or Chrome on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


class Page:
    """One tab of a headless Chromium driven over the DevTools protocol (a websocket, no other dependency)."""

    def __init__(self, binary: str, profile: Path, timeout: float = 60.0):
        from websockets.sync.client import connect

        self.timeout = timeout
        self.events: list[dict] = []
        self._next_id = 0
        profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"chromium did not start: {self.process.stderr.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as response:
            targets = json.loads(response.read())
        page = next(t for t in targets if t["type"] == "page")
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout)

    def send(self, method: str, **params) -> dict:
        self._next_id += 1
        request_id = self._next_id
        self.socket.send(json.dumps({"id": request_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == request_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + self.timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "id" not in message:
                self.events.append(message)
                if message.get("method") == method:
                    return message

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def errors(self) -> list[str]:
        """Uncaught exceptions, console errors and browser log errors seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails'].get('exception', {}).get('description') or params['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console.{params['type']}: {[a.get('value', a.get('description')) for a in params.get('args', [])]}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return found

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, width: int = 1280) -> Path:
        """The whole page, top to bottom, as PNG."""
        height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        socket = getattr(self, "socket", None)
        if socket is not None:
            socket.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


CHART_SHAPES = """
Array.from(document.querySelectorAll('svg.chart')).map(function (svg) {
  var box = svg.getBoundingClientRect();
  return {kind: svg.getAttribute('data-chart'), width: box.width, height: box.height,
          marks: svg.querySelectorAll('rect, path, circle').length,
          drawn: Array.from(svg.querySelectorAll('rect, path, circle')).filter(function (m) {
            var b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0; }).length};
})
"""


def inspect_report(binary: str, report: Path, profile: Path, screenshot: Path) -> dict:
    """Open the report from disk; return what the test asserts on."""
    page = Page(binary, profile)
    try:
        page.open(report.resolve().as_uri())
        found = {
            "charts": page.evaluate(CHART_SHAPES),
            "canvases": page.evaluate("document.querySelectorAll('canvas').length"),
            "text": page.evaluate("document.body.innerText"),
            "tables": page.evaluate("document.querySelectorAll('details.data').length"),
            "charts_without_table": page.evaluate(
                "Array.from(document.querySelectorAll('section')).filter(function (s) {"
                " return s.querySelector('svg.chart') && !s.querySelector('details.data'); }).map(function (s) { return s.id; })"
            ),
        }
        found["opened_by_toggle"] = page.evaluate(
            "document.getElementById('toggle-tables').click(); document.querySelectorAll('details.data[open]').length"
        )
        page.evaluate("document.getElementById('toggle-tables').click(); 0")
        found["screenshot"] = page.screenshot(screenshot)
        found["errors"] = page.errors()
        found["requests"] = page.requested_urls()
    finally:
        page.close()
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, list[str]]:
    """A report over four days of the demo's data run through the real pipeline (gateway logs, outcomes for the
    experiments, a self-hosted cluster with capacity, power and compare_with, overhead bills, grid carbon intensity),
    with budgets, and the demo's chargeback.yaml (written from the first run's requests) run again for statements."""
    home = Home.at(tmp_path_factory.mktemp("browser") / "home").ensure()
    generate_demo(home, end=dt.date(2026, 10, 23), days=4, requests_per_day=120, seed=11, progress=lambda _: None)
    (home.root / "budgets.yaml").write_text("features:\n  code_assist: 2.00\n  support_chat: 50\nsegments:\n  enterprise: 10\n")
    run_pipeline(home, progress=lambda _: None)
    write_demo_chargeback(home)
    run_pipeline(home, progress=lambda _: None)
    import duckdb

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        features = [r[0] for r in con.execute("select distinct feature from core.request_costs order by 1").fetchall()]
    return write_report(home), features


def test_report_renders_in_headless_chromium(report, tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (install the Debian package `chromium`, or set $CHROMIUM); .ci/run installs it")
    path, features = report
    found = inspect_report(binary, path, tmp_path / "profile", tmp_path / "report.png")
    print(f"\nscreenshot: {found['screenshot']}")

    assert found["errors"] == []
    assert [url for url in found["requests"] if not url.startswith("file://")] == []
    charts = found["charts"]
    assert len(charts) + found["canvases"] >= 8
    assert {c["kind"] for c in charts} >= {"line", "bar", "stacked-bar"}
    assert all(c["width"] > 200 and c["height"] > 50 and c["marks"] > 0 and c["drawn"] > 0 for c in charts), charts
    assert len(features) == 6
    for feature in features:
        assert feature in found["text"], feature
    assert "Built " in found["text"] and "Data: event dates 2026-10-20 to 2026-10-23" in found["text"]
    assert found["charts_without_table"] == []
    assert found["opened_by_toggle"] == found["tables"] > 0
    image = found["screenshot"].read_bytes()
    assert image[:8] == b"\x89PNG\r\n\x1a\n" and len(image) > 50_000


SECTION_CHARTS = """
(function (id) {
  var section = document.getElementById(id);
  return {text: section.innerText, charts: Array.from(section.querySelectorAll('svg.chart')).map(function (svg) {
    var box = svg.getBoundingClientRect();
    return {kind: svg.getAttribute('data-chart'), width: box.width, height: box.height,
            points: Array.from(svg.querySelectorAll('circle.point')).filter(function (m) {
              var b = m.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length,
            names: Array.from(svg.querySelectorAll('text')).map(function (t) { return t.textContent; }),
            titles: Array.from(svg.querySelectorAll('circle.point > title')).map(function (t) { return t.textContent; })};
  })};
})
"""


def test_experiment_and_latency_sections_draw_and_name_every_variant_and_model(report, tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (install the Debian package `chromium`, or set $CHROMIUM); .ci/run installs it")
    path, _ = report
    import duckdb

    with duckdb.connect(str(path.parent.parent / "warehouse.duckdb"), read_only=True) as con:
        variants = con.execute("select experiment, feature, variant, is_control from marts.experiment_results").fetchall()
        models = con.execute(
            "select feature, provider || '/' || model from marts.latency_cost group by all "
            "having sum(unpriced_requests) < sum(requests) and count(p95_latency_ms) > 0"  # no latency logged: not drawn
        ).fetchall()
    assert {v[2] for v in variants} >= {"control", "treatment", "gpt-4o-mini"} and models
    page = Page(binary, tmp_path / "profile")
    try:
        page.open(path.resolve().as_uri())
        experiments = page.evaluate(SECTION_CHARTS + "('experiments')")
        latency = page.evaluate(SECTION_CHARTS + "('latency-cost')")
        assert page.errors() == []
    finally:
        page.close()
    # one interval chart per metric, each with a drawn point for the planted experiment and a row per compared variant
    assert [c["kind"] for c in experiments["charts"]] == ["interval"] * 3
    compared = [v for v in variants if not v[3]]
    for chart in experiments["charts"]:
        assert chart["width"] > 200 and chart["height"] > 50 and chart["points"] > 0, chart
        labels = " ".join(chart["names"])
        for experiment, feature, variant, _ in compared:
            assert f"{experiment} · {feature} · {variant}"[:20] in labels, (experiment, feature, variant)
    for experiment, feature, variant, _ in variants:  # the table names every variant, controls included
        assert experiment in experiments["text"] and variant in experiments["text"]
    # one scatter per feature, each model a drawn point named on the chart, one marked the best
    features = {feature for feature, _ in models}
    assert len(latency["charts"]) == len(features) and {c["kind"] for c in latency["charts"]} == {"scatter"}
    shown = {title.split(": ")[0] for chart in latency["charts"] for title in chart["titles"]}  # each point's hover title
    assert shown == {model for _, model in models}
    assert sum(chart["points"] for chart in latency["charts"]) == len(models)
    assert latency["text"].count("the cheapest model at an outcome rate and p95") >= 1


def _rows_of(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


SECTION_TABLES = """
(function (id) {
  var section = document.getElementById(id);
  section.querySelectorAll('details.data').forEach(function (d) { d.open = true; });
  return {text: section.innerText,
          charts: Array.from(section.querySelectorAll('svg.chart')).map(function (svg) {
            var box = svg.getBoundingClientRect();
            return {kind: svg.getAttribute('data-chart'), width: box.width, height: box.height,
                    drawn: Array.from(svg.querySelectorAll('rect, path, circle')).filter(function (m) {
                      var b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0; }).length,
                    legend: Array.from(svg.querySelectorAll('text.legend')).map(function (t) { return t.textContent; }),
                    marks: Array.from(svg.querySelectorAll('.curve, .api-line, .breakeven, .actual')).map(function (m) {
                      return m.getAttribute('class'); })};
          }),
          tables: Array.from(section.querySelectorAll('details.data table')).map(function (table) {
            return Array.from(table.querySelectorAll('tbody tr')).map(function (tr) {
              return Array.from(tr.cells).map(function (td) { return td.innerText; }); });
          })};
})
"""


def test_full_cost_self_hosted_and_energy_sections_draw_with_their_tables(report, tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (install the Debian package `chromium`, or set $CHROMIUM); .ci/run installs it")
    path, _ = report
    import duckdb

    with duckdb.connect(str(path.parent.parent / "warehouse.duckdb"), read_only=True) as con:
        full_cost = {r[0] for r in _rows_of(con, "select distinct feature from marts.full_cost")}
        compared = _rows_of(con, "select cluster, compare_provider || '/' || compare_model, breakeven_utilization "
                                 "from marts.self_host_breakeven where month = '2026-10'")
        energy = {r[0] for r in _rows_of(con, "select distinct feature from marts.energy_carbon")}
    assert {"idle_capacity", "unallocated_overhead"} <= full_cost and compared and "idle_capacity" in energy
    page = Page(binary, tmp_path / "profile")
    try:
        page.open(path.resolve().as_uri())
        sections = {anchor: page.evaluate(SECTION_TABLES + f"('{anchor}')") for anchor in ("full-cost", "self-hosted", "energy")}
        assert page.errors() == []
    finally:
        page.close()
    for anchor, found in sections.items():
        assert found["charts"] and found["tables"], anchor
        for chart in found["charts"]:
            assert chart["width"] > 200 and chart["height"] > 50 and chart["drawn"] > 0, (anchor, chart)

    full = sections["full-cost"]
    assert [c["kind"] for c in full["charts"]] == ["stacked-bar"]
    assert {"inference (API)", "self-hosted", "idle capacity", "egress", "engineering"} <= set(full["charts"][0]["legend"])
    assert {row[0] for row in full["tables"][0]} == full_cost | {"total"}
    assert "full cost" in full["text"] and "inference-only" in full["text"]

    hosted = sections["self-hosted"]
    clusters = {cluster for cluster, _, _ in compared}
    assert [c["kind"] for c in hosted["charts"]] == ["breakeven"] * len(clusters)
    marks = [mark for chart in hosted["charts"] for mark in chart["marks"]]
    assert marks.count("curve") == len(clusters) and marks.count("api-line") == len(compared) and "actual" in marks
    assert marks.count("breakeven") == sum(1 for *_, breakeven in compared if breakeven is not None)
    assert sorted(row[0] for table in hosted["tables"] for row in table) == sorted(model for _, model, _ in compared)
    if any(breakeven is None for *_, breakeven in compared):
        assert "API cheaper even at 100%" in hosted["text"]

    shown = sections["energy"]
    assert [c["kind"] for c in shown["charts"]] == ["bar"]
    assert {row[0] for row in shown["tables"][0]} == energy | {"total"}
    assert "unknown, not zero" in shown["text"] and "pricing/energy.yaml" in shown["text"]


def test_chargeback_section_shows_every_payer_of_the_demo(report, tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (install the Debian package `chromium`, or set $CHROMIUM); .ci/run installs it")
    path, _ = report
    import duckdb

    with duckdb.connect(str(path.parent.parent / "warehouse.duckdb"), read_only=True) as con:
        statements = _rows_of(con, "select payer, status, currency, charge, blocked_reason from marts.chargeback_statements "
                                   "where period = '2026-10' order by payer")
    assert len(statements) >= 4 and {currency for _, _, currency, _, _ in statements} == {"USD", "EUR"}
    page = Page(binary, tmp_path / "profile")
    try:
        page.open(path.resolve().as_uri())
        found = page.evaluate(SECTION_TABLES + "('chargeback')")
        nav = page.evaluate("Array.from(document.querySelectorAll('nav a')).map(function (a) { return a.textContent; })")
        box = page.evaluate("(function () { var b = document.getElementById('chargeback').getBoundingClientRect();"
                            " return {width: b.width, height: b.height}; })()")
        assert page.errors() == []
    finally:
        page.close()
    assert "Chargeback" in nav and box["width"] > 600 and box["height"] > 300
    text = found["text"]
    assert "Statements of 2026-10 (the latest period with requests or a charge)" in text and "every one can be issued" in text
    (table,) = found["tables"]  # one period of demo data: no earlier periods
    assert [row[0] for row in table] == [payer for payer, *_ in statements]
    for (payer, status, currency, charge, blocked), row in zip(statements, table, strict=True):
        assert row[1] == status == "draft" and blocked is None, payer
        assert row[10] == f"{charge.quantize(Decimal('0.01')):,} {currency}", payer
        assert payer in text
