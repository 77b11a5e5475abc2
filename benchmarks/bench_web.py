"""How long ``lab ui`` makes a person wait, measured in headless Chromium, beside MLflow's UI.

Dashboards are where trackers break at scale: MLflow's runs page took minutes for 500
runs (mlflow#1517), Aim errs past ~1,000 runs (aim#1897). labbook's targets, on a
2-core machine: the runs page of a 10,000-run notebook drawn in ≤ 1 s and a filter or
sort round trip ≤ 300 ms; a chart of 100 runs × 100k points of one metric, its data
from the server in ≤ 300 ms and drawn in ≤ 1 s; the compare page within 100 ms of
``lab compare`` itself. ``lab ui`` runs as a real process; the browser is Debian's
Chromium driven by Playwright; every figure is a median of cold page loads (a new
browser context each). MLflow's runs page holds the same 1,000 runs (its own UI, its
own server), measured the same way when MLflow is in the peer venv.

    python benchmarks/bench_web.py
"""

from __future__ import annotations

import re
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _common as bench

N_RUNS = 10_000
CHART_RUNS = 100
CHART_POINTS = 100_000
REPEATS = 5
CHROMIUM = bench.CHROMIUM
ARGS = bench.CHROMIUM_ARGS


@contextmanager
def served(project: Path) -> Iterator[str]:
    """``lab ui --port 0`` on the notebook, as a user starts it; yields its URL."""
    proc = subprocess.Popen(
        [*bench.lab_command(), "ui", "--port", "0", "--dir", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=bench.child_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"lab ui did not start: {line!r}")
    try:
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def build_chart_notebook(project: Path) -> float:
    """100 ended runs × 100k points of ``loss`` (10 variants × 10 seeds), written as the recorder writes."""
    import numpy as np

    from labbook.formats.series import encode_block
    from labbook.records.runs import BatchSummary
    from labbook.service.notebook import Notebook
    from labbook.store.series.write import SeriesWriter

    t0 = bench.now()
    rng = np.random.default_rng(0)
    nb, _, _ = Notebook.init(project)
    with nb:
        for i in range(CHART_RUNS):
            run = nb.start_run(params={"lr": 10.0 ** -(i % 10), "seed": i // 10}, source="sdk")
            folder = nb.run_dir(run) / "metrics"
            folder.mkdir(parents=True, exist_ok=True)
            writer = SeriesWriter(folder / "bench.lbm")
            steps = np.arange(CHART_POINTS, dtype=np.int64)
            values = np.exp(-steps / (CHART_POINTS / 3)) * (1 + 0.1 * (i % 10)) + 0.05 * rng.standard_normal(
                CHART_POINTS
            )
            times = ((t0 + steps * 0.01) * 1000).astype(np.int64)
            for a in range(0, CHART_POINTS, 10_000):
                writer.append(
                    [
                        encode_block(
                            "loss", steps[a : a + 10_000], times[a : a + 10_000], values[a : a + 10_000]
                        )
                    ]
                )
            writer.close()
            summary = BatchSummary(
                "loss",
                CHART_POINTS,
                0,
                float(values[-1]),
                CHART_POINTS - 1,
                float(values.min()),
                float(values.max()),
                float(values.sum()),
            )
            nb.store.runs.merge_metrics(run.id, [summary])
            nb.end_run(run.id, "finished", 0)
    return bench.now() - t0


def fetch_time(url: str) -> tuple[float, int]:
    t0 = bench.now()
    with urllib.request.urlopen(url, timeout=600) as r:
        body = r.read()
    return bench.now() - t0, len(body)


def page_load(browser: Any, url: str, ready: str) -> float:
    """A cold load in a new context: from navigation until ``ready`` (a JS condition) holds."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(600_000)
    page.goto(url, wait_until="commit")
    page.wait_for_function(ready)
    elapsed = page.evaluate("performance.now()") / 1000  # since navigation start
    context.close()
    return float(elapsed)


def round_trip(browser: Any, url: str, action: str) -> float:
    """After the page is up: ``action`` (JS) starts an htmx request; until its swap has settled."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(600_000)
    page.goto(url, wait_until="load")
    ms = page.evaluate(
        "async () => { const t = performance.now();"
        " const done = new Promise(r => document.body.addEventListener('htmx:afterSettle', r, {once: true}));"
        f" {action}; await done; return performance.now() - t; }}"
    )
    context.close()
    return float(ms) / 1000


def chart_load(browser: Any, url: str) -> tuple[float, float, float]:
    """(until drawn, data received, parse and draw): the chart's fetch is timed by the browser."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(
        "document.addEventListener('lab:drawn', () => { window.__drawn = performance.now(); }, true)"
    )
    page = context.new_page()
    page.set_default_timeout(600_000)
    page.goto(url, wait_until="commit")
    page.wait_for_function("window.__drawn !== undefined")
    drawn, fetched = page.evaluate(
        "[window.__drawn, performance.getEntriesByType('resource').filter(e => e.name.includes('/api/curves'))"
        ".map(e => e.responseEnd).pop()]"
    )
    context.close()
    return drawn / 1000, fetched / 1000, (drawn - fetched) / 1000


def runs_rows(browser: Any, url: str) -> list[list[str]]:
    table = "document.querySelectorAll('table.runs tbody tr').length > 0"
    cases = [
        (
            "runs page, 10,000 runs (first 50 rows drawn)",
            lambda: page_load(browser, f"{url}/runs", table),
            1.0,
        ),
        (
            "filter round trip (--where acc.max > 0.5, sorted)",
            lambda: round_trip(
                browser,
                f"{url}/runs",
                "document.querySelector('input[name=where]').value = 'acc.max > 0.5'; document.querySelector('input[name=sort]').value = '-acc.max'; document.getElementById('runs-filter').requestSubmit()",
            ),
            0.3,
        ),
        (
            "sort round trip (click a header)",
            lambda: round_trip(
                browser, f"{url}/runs", "document.querySelector('table.runs thead th:nth-child(3) a').click()"
            ),
            0.3,
        ),
        (
            "next page round trip",
            lambda: round_trip(browser, f"{url}/runs", "document.querySelector('a[rel=next]').click()"),
            0.3,
        ),
    ]
    rows = []
    for label, fn, target in cases:
        bench.progress(label)
        times = [fn() for _ in range(REPEATS)]
        rows.append(
            [
                label,
                bench.fmt_time(bench.median(times)),
                bench.against(bench.median(times), target, bench.fmt_time),
            ]
        )
    return rows


def add_variants(project: Path) -> None:
    """bench_compare's workload: 2 variants × 5 seeds, 1M points per metric, among the 10,000."""
    from bench_compare import COMPARE_POINTS, SEEDS, add_run
    from labbook.service.notebook import Notebook

    with Notebook.open(project) as nb:
        for variant, (lr, level) in enumerate(((1e-3, 0.02), (3e-4, 0.0))):
            for seed in range(SEEDS):
                add_run(nb, {"lr": lr, "seed": seed, "depth": 4}, COMPARE_POINTS, level, 100 * variant + seed)


def compare_rows(browser: Any, url: str, project: Path) -> list[list[str]]:
    lab = [*bench.lab_command(), "--dir", str(project), "compare", "lr=1e-3", "lr=3e-4"]
    times, proc = bench.wall_times(lab)
    cli = bench.median(times)
    ready = "document.querySelector('#verdicts .sentence') !== null"
    page = [page_load(browser, f"{url}/compare?a=lr%3D1e-3&b=lr%3D3e-4", ready) for _ in range(REPEATS)]
    extra = "" if proc.returncode == 0 else f"lab compare exit {proc.returncode}"
    return [
        ["lab compare lr=1e-3 lr=3e-4 (the command, for reference)", bench.fmt_time(cli), extra],
        [
            "compare page, the same sides",
            bench.fmt_time(bench.median(page)),
            bench.against(bench.median(page), cli + 0.1, bench.fmt_time),
        ],
    ]


def chart_rows(browser: Any, url: str) -> list[list[str]]:
    rows = []
    for label, query in (
        ("100 runs, each its own line", "metric=loss&group=run&all=1"),
        ("10 variants × 10 seeds, mean and CI band", "metric=loss&group=variant&all=1"),
    ):
        api = f"{url}/api/curves?{query}&width=1000"
        cold, size = fetch_time(api)
        warm = bench.median([fetch_time(api)[0] for _ in range(REPEATS)])
        rows.append([f"{label}: data, first ever request", bench.fmt_time(cold), "", bench.fmt_bytes(size)])
        rows.append([f"{label}: data", bench.fmt_time(warm), bench.against(warm, 0.3, bench.fmt_time), ""])
        loads = [chart_load(browser, f"{url}/charts?{query}") for _ in range(REPEATS)]
        rows.append(
            [
                f"{label}: page until drawn",
                bench.fmt_time(bench.median([x[0] for x in loads])),
                bench.against(bench.median([x[0] for x in loads]), 1.0, bench.fmt_time),
                "",
            ]
        )
        rows.append(
            [
                f"{label}: parse and draw in the browser",
                bench.fmt_time(bench.median([x[2] for x in loads])),
                bench.against(bench.median([x[2] for x in loads]), 1.0, bench.fmt_time),
                "",
            ]
        )
    return rows


def mlflow_rows() -> list[list[str]]:
    from web_peers import mlflow_runs_page

    bench.progress("MLflow's UI with 1,000 runs")
    got = mlflow_runs_page(1000, REPEATS)
    if "error" in got:
        return [["MLflow UI runs page, 1,000 runs", str(got["error"]), ""]]
    return [
        [
            f"MLflow {got.get('version', '')} UI runs page, 1,000 runs ({got.get('rows_shown', '?')} rows drawn)",
            bench.fmt_time(float(got["first_rows_s"])),
            str(got.get("note", "")),
        ]
    ]


def labbook_1000_rows(browser: Any) -> list[list[str]]:
    """The same 1,000 runs MLflow is given, in labbook's runs page."""
    from bench_cli import build_notebook

    with bench.temp_dir("web-1k") as root:
        project = root / "p"
        build_notebook(project, 1000)
        with served(project) as url:
            times = [
                page_load(
                    browser, f"{url}/runs", "document.querySelectorAll('table.runs tbody tr').length > 0"
                )
                for _ in range(REPEATS)
            ]
    return [
        ["labbook runs page, the same 1,000 runs (50 rows drawn)", bench.fmt_time(bench.median(times)), ""]
    ]


def main() -> None:
    from playwright.sync_api import sync_playwright

    from bench_cli import build_notebook

    bench.quiet_environment()
    bench.header("lab ui in headless Chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        with bench.temp_dir("web") as root:
            project = root / "runs10k"
            bench.progress(f"building {N_RUNS:,} runs")
            build_notebook(project, N_RUNS)
            add_variants(project)
            with served(project) as url:
                rows = runs_rows(browser, url)
                compare = compare_rows(browser, url, project)
            bench.print_table(
                f"Runs page, {N_RUNS:,} runs (median of {REPEATS} cold loads)",
                ["what", "time", "target"],
                rows,
            )
            bench.print_table(
                "Compare page: 5 vs 5 runs, 1M points per metric (bench_compare's workload)",
                ["what", "time", "target"],
                compare,
            )
            charts = root / "charts"
            bench.progress(f"building {CHART_RUNS} runs × {CHART_POINTS:,} points")
            build_chart_notebook(charts)
            with served(charts) as url:
                crows = chart_rows(browser, url)
            bench.print_table(
                f"A chart of {CHART_RUNS} runs × {CHART_POINTS:,} points of one metric, 1,000 px wide",
                ["what", "time", "target", "size"],
                crows,
                [
                    "first ever request: builds each run's overview (kept beside its series); later ones read them",
                    "variants are pooled from every point (exact mean and band), so they read the whole series each time",
                ],
            )
        peers = labbook_1000_rows(browser)
        browser.close()
    peers += mlflow_rows()  # its own Playwright session: one cannot be opened inside another
    bench.print_table("Runs page beside MLflow's, 1,000 runs", ["what", "time", "note"], peers)


if __name__ == "__main__":
    main()
