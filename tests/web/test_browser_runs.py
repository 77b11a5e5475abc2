"""The runs, run, charts and compare pages in a real Chromium, clicked through as a user would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import cli_json, shot


def test_filter_the_runs_table_and_see_errors_inline(page: Any) -> None:
    page.goto("/runs")
    expect(page.locator("#runs-count")).to_contain_text("of 7 runs")
    page.fill("input[name=where]", "lr == 0.1 and acc.max > 0.805")
    page.click("#runs-filter button[type=submit]")
    expect(page.locator("#runs-count")).to_contain_text("of 2 runs")
    assert "where=lr" in page.url  # the filter is in the URL: the link reproduces the screen
    names = page.locator("table.runs tbody tr td:nth-child(3)").all_inner_texts()
    assert sorted(names) == ["fast-0", "fast-1"]
    shot(page, "runs")
    page.fill("input[name=where]", "acc.max >")
    page.click("#runs-filter button[type=submit]")
    expect(page.locator("#filter-error")).to_have_text("the query 'acc.max >' ends too early")
    page.goto("/runs?sort=-acc.max&columns=id,name,acc.max")
    cells = page.locator("table.runs tbody tr td:nth-child(4)").all_inner_texts()
    values = [float(c) for c in cells if c]
    assert values == sorted(values, reverse=True) and len(values) == 6


def test_sort_by_a_header_and_group_by_variant(page: Any) -> None:
    page.goto("/runs?columns=id,name,acc.max")
    page.click("table.runs thead th:nth-child(4) a")  # acc.max: descending first
    expect(page.locator("table.runs thead th:nth-child(4)")).to_contain_text("▼")
    first = page.locator("table.runs tbody tr:first-child td:nth-child(3)").inner_text()
    assert first == "fast-1"  # 0.83, the best run
    page.goto("/runs?group=variant&columns=acc.last")
    rows = page.locator("table.variants tbody tr")
    expect(rows).to_have_count(3)
    groups = {
        g["label"]: g for g in cli_json("ls", "--group-by", "variant", "--columns", "acc.last")["groups"]
    }
    assert (
        "lr=0.1" in rows.nth(0).inner_text()
        and f"{groups['lr=0.1']['acc.last']['mean']:.4g}" in rows.nth(0).inner_text()
    )


def test_open_a_run_and_see_its_capture_metrics_and_output(page: Any) -> None:
    page.goto("/runs")
    page.click("table.runs a:text-is('fast-0')")
    expect(page.locator("h1")).to_contain_text("fast-0")
    page.wait_for_function("document.querySelectorAll('#run-charts .chart[data-drawn=\"1\"]').length == 2")
    points = page.eval_on_selector_all("#run-charts .chart", "els => els.map(e => Number(e.dataset.points))")
    assert points == [50, 50]  # acc and loss, every point (they fit in the width)
    expect(page.locator("#tail")).to_have_attribute("data-loaded", "1")
    expect(page.locator("dl.facts").first).to_contain_text("uid")
    shot(page, "run")


def test_plot_two_variants_with_their_bands(page: Any) -> None:
    page.goto("/charts?metric=acc")
    chart = page.locator(".chart[data-metric=acc]")
    expect(chart).to_have_attribute("data-drawn", "1")
    legend = chart.locator(".u-legend").inner_text()
    assert "lr=0.1 (n=3)" in legend and "lr=0.01 (n=3)" in legend
    page.check("input[name=log_y]")
    page.select_option("select[name=smooth]", "ema:0.9")
    page.click("#charts-form button[type=submit]")
    expect(page.locator(".chart[data-metric=acc]")).to_have_attribute("data-drawn", "1")
    assert "smooth=ema%3A0.9" in page.url and "log_y=1" in page.url
    shot(page, "charts")


def test_select_runs_and_compare_them_reading_the_verdict(page: Any) -> None:
    page.goto("/runs?where=lr > 0")
    for box in page.locator("table.runs input.pick").all():
        box.check()
    expect(page.locator("#selected-count")).to_have_text("6 runs selected")
    assert "sel=" in page.url
    page.click("#compare-selected")
    expect(page.locator("#verdicts .metric-verdict").first).to_be_visible()
    a, b = page.input_value("input[name=a]"), page.input_value("input[name=b]")
    assert a == "1,3,5" and b == "2,4,6"  # the selection split into its two variants, oldest first
    expected = cli_json("compare", a, b)
    sentences = page.locator("#verdicts .sentence").all_inner_texts()
    assert sentences == [m["sentence"] for m in expected["metrics"]]  # lab compare's words
    assert "config (keys that differ)" in page.locator("#compare-text").text_content()
    shot(page, "compare")
    page.click("text=show all")
    expect(page.locator("#config-diff")).to_contain_text("seed")


def test_a_running_run_updates_in_the_table_and_its_output_follows(page: Any, filled: Any) -> None:
    """No reload: the runs table refreshes while a run runs, and the run page tails its output."""
    from labbook.service.notebook import Notebook

    with Notebook.open(filled) as nb:
        run = nb.start_run(name="live-one")  # owned by this process, which is alive: running
        out = nb.output_path(run)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("epoch 1\n")
        page.goto("/runs")
        row = page.locator("table.runs tr", has_text="live-one")
        expect(row.locator("td.status-running")).to_be_visible()
        page.goto(f"/runs/{run.id}")
        expect(page.locator("#tail")).to_have_text("epoch 1\n")
        with out.open("a") as fh:
            fh.write("epoch 2\n")
        expect(page.locator("#tail")).to_have_text("epoch 1\nepoch 2\n")  # followed, not reloaded
        page.goto("/runs")
        expect(row.locator("td.status-running")).to_be_visible()
        nb.end_run(run.id, "finished", 0)
        expect(row.locator("td.status-finished")).to_be_visible()  # the table refreshed itself


def test_every_page_works_offline_loading_nothing_from_another_host(page: Any) -> None:
    """The dashboard works offline: every script, style and request stays on this server."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    for path in (
        "/runs",
        "/runs/1",
        "/charts",
        "/compare?a=lr%3D0.1&b=lr%3D0.01",
        "/hypotheses/H1",
        "/calibration",
        "/journal",
        "/today",
        "/papers",
        "/failures",
        "/failures/errs",
        "/search?q=plateau",
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    base = page.url.split("/", 3)[:3]
    assert seen and all(u.split("/", 3)[:3] == base for u in seen), [
        u for u in seen if u.split("/", 3)[:3] != base
    ]


def test_each_run_its_own_line_and_a_drag_zooms_with_a_finer_fetch(page: Any) -> None:
    page.goto("/charts?metric=acc&group=run&runs=fast-0,slow-0,fast-1")
    chart = page.locator(".chart[data-metric=acc]")
    expect(chart).to_have_attribute("data-drawn", "1")
    assert chart.get_attribute("data-points") == "150"  # three runs × 50 points, each line its own x
    legend = chart.locator(".u-legend").inner_text()
    assert all(name in legend for name in ("fast-0", "slow-0", "fast-1"))
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/api/curves" in r.url else None)
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    expect(chart.locator(".chart-note").first).to_contain_text("Zoomed to step")
    expect(chart).to_have_attribute("data-drawn", "1")
    assert fetched and "start=" in fetched[-1] and "end=" in fetched[-1]
    zoomed = int(chart.get_attribute("data-points") or 0)
    assert 0 < zoomed < 150  # only the selected steps (and one either side), fetched again
    chart.locator(".u-over").dblclick()
    expect(chart).to_have_attribute("data-points", "150")  # back to the whole range


@contextmanager
def _other_site(html: str) -> Iterator[str]:
    """A page served from ``localhost``, which the browser counts as another site than 127.0.0.1."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_login_link_opened_from_another_site_opens_the_dashboard(browser: Any, filled: Any) -> None:
    """Off the loopback: no token, no page; the printed link, clicked in another site's page, logs in."""
    from labbook.service.notebook import Notebook
    from tests.web.conftest import Served

    nb = Notebook.open(filled)
    served = Served(nb, host="0.0.0.0")  # listens on the loopback, but is set up as if reachable
    try:
        token = served.settings.token
        assert token
        context = browser.new_context()
        context.set_default_timeout(60_000)
        page = context.new_page()
        assert page.goto(f"{served.url}/runs").status == 401
        with _other_site(
            f'<a id="link" href="{served.url}/login?token={token}">open the dashboard</a>'
        ) as elsewhere:
            page.goto(elsewhere)  # http://localhost:PORT: another site than 127.0.0.1
            page.click("#link")
        expect(page.locator("#runs-count")).to_contain_text("of 7 runs")
        context.close()
    finally:
        served.stop()
        nb.close()
