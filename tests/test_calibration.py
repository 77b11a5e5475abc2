"""``lab calibration`` end to end, its numbers checked against scikit-learn on the same forecasts."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from labbook.core.scoring import CLIP

from .conftest import lab


def make_forecasts(n: int, seed: int = 0) -> tuple[list[float], list[int]]:
    rng = random.Random(seed)
    ps = [round(rng.random(), 2) for _ in range(n)]
    ys = [int(rng.random() < p) for p in ps]
    for i, (p, y) in enumerate(zip(ps, ys, strict=True)):
        lab("predict", "H1", f"forecast {i}", "-p", str(p))
        lab("resolve", f"P{i + 1}", "true" if y else "false")
    return ps, ys


def report() -> dict:
    result = lab("calibration", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_scores_match_scikit_learn(project: Path) -> None:
    lab("hyp", "add", "h", "--tag", "t")
    ps, ys = make_forecasts(40)
    rep = report()
    b = rep["binary"]
    assert b["n"] == 40
    assert b["brier"] == pytest.approx(brier_score_loss(ys, ps))
    clipped = np.clip(ps, CLIP, 1 - CLIP)
    assert b["log_score"] == pytest.approx(log_loss(ys, clipped, labels=[0, 1]))
    assert sum(x["count"] for x in rep["bins"]) == 40
    assert b["reliability"] - b["resolution"] + b["uncertainty"] == pytest.approx(b["brier"], abs=0.02)


def test_late_revised_ambiguous_and_open_are_left_out(project: Path) -> None:
    lab("hyp", "add", "h")
    lab("predict", "H1", "kept", "-p", "0.8")
    lab("resolve", "P1", "true")
    lab("predict", "H1", "revised away", "-p", "0.9")
    lab("predict", "--revise", "P2", "-p", "0.2")  # P3
    lab("resolve", "P3", "false")
    lab("predict", "H1", "ambiguous", "-p", "0.5")  # P4
    lab("resolve", "P4", "ambiguous")
    lab("predict", "H1", "still open", "-p", "0.5")  # P5
    import labbook

    with labbook.init(hypothesis="H1") as run:
        run.log({"acc": 1.0})
    lab("predict", "H1", "late", "-p", "0.99")  # P6
    lab("resolve", "P6", "true")
    rep = report()
    assert rep["binary"]["n"] == 2  # P1 and P3
    assert rep["binary"]["brier"] == pytest.approx(((0.8 - 1) ** 2 + (0.2 - 0) ** 2) / 2)
    counts = {k: rep[k] for k in ("considered", "unresolved", "late_excluded", "ambiguous", "superseded")}
    assert counts == {"considered": 6, "unresolved": 1, "late_excluded": 1, "ambiguous": 1, "superseded": 1}
    with_late = json.loads(lab("calibration", "--json", "--include-late").output)
    assert with_late["binary"]["n"] == 3
    text = lab("calibration").output
    assert "1 late prediction left out" in text and "Brier 0.040" in text


def _score(lo: float, hi: float, x: float, alpha: float = 0.2) -> float:
    return (hi - lo) + 2 / alpha * max(lo - x, 0) + 2 / alpha * max(x - hi, 0)


def test_interval_coverage_and_score(project: Path) -> None:
    lab("hyp", "add", "h")
    intervals = [(0.0, 1.0, 0.5), (0.0, 1.0, 2.0), (10, 20, 15), (10, 20, 5)]
    for i, (lo, hi, x) in enumerate(intervals):
        lab("predict", "H1", f"n{i}", "--low", str(lo), "--high", str(hi), "--level", "0.8")
        lab("resolve", f"P{i + 1}", "--value", str(x))
    n = report()["numeric"]
    assert n["coverage"] == 0.5 and n["expected_coverage"] == pytest.approx(0.8)
    assert n["interval_score"] is None  # no metric named: their units are unknown, never averaged raw
    want = np.mean([_score(lo, hi, x) / (hi - lo) for lo, hi, x in intervals])
    assert n["interval_score_scaled"] == pytest.approx(want)


def test_interval_scores_are_reported_per_metric_not_averaged_across_units(project: Path) -> None:
    lab("hyp", "add", "h")
    intervals = [("acc", 0.8, 0.9, 0.85), ("acc", 0.8, 0.9, 0.95), ("tokens_per_s", 1000, 2000, 3000)]
    for i, (metric, lo, hi, x) in enumerate(intervals):
        lab(
            "predict",
            "H1",
            f"n{i}",
            "--low",
            str(lo),
            "--high",
            str(hi),
            "--level",
            "0.8",
            "--metric",
            metric,
        )
        lab("resolve", f"P{i + 1}", "--value", str(x))
    n = report()["numeric"]
    by = {m["metric"]: m for m in n["by_metric"]}
    assert by["acc"]["n"] == 2 and by["acc"]["interval_score"] == pytest.approx(
        np.mean([_score(*iv[1:]) for iv in intervals[:2]])
    )
    assert by["tokens_per_s"]["interval_score"] == pytest.approx(_score(1000, 2000, 3000))
    assert n["interval_score"] is None
    text = lab("calibration").output
    assert "acc: n=2" in text and "(in tokens_per_s's units)" in text


def test_bins_list_their_predictions_and_the_diagram_is_written(project: Path, tmp_path: Path) -> None:
    lab("hyp", "add", "h")
    for i, p in enumerate((0.65, 0.61, 0.3, 0.7)):
        lab("predict", "H1", f"f{i}", "-p", str(p))
        lab("resolve", f"P{i + 1}", "true")
    listing = lab("calibration", "--bin", "0.6-0.7").output.splitlines()
    assert listing == ["P1  p=0.65  true   f0", "P2  p=0.61  true   f1"]
    assert lab("calibration", "--bin", "0.0-0.1").output.startswith("no scored yes/no predictions")
    png = tmp_path / "out" / "rel.png"
    assert lab("calibration", "-o", str(png)).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_slices_by_tag_and_filters(project: Path) -> None:
    lab("hyp", "add", "a", "--tag", "opt")
    lab("hyp", "add", "b", "--tag", "data")
    lab("predict", "H1", "x", "-p", "0.9")
    lab("resolve", "P1", "true")
    lab("predict", "H2", "y", "-p", "0.9")
    lab("resolve", "P2", "false")
    rep = report()
    tags = {row["tag"]: row["brier"] for row in rep["slices"]["tag"]}
    assert tags == {"data": pytest.approx(0.81), "opt": pytest.approx(0.01)}
    only = json.loads(lab("calibration", "--json", "--tag", "opt").output)
    assert only["binary"]["n"] == 1 and only["binary"]["brier"] == pytest.approx(0.01)
    assert json.loads(lab("calibration", "--json", "--since", "1d").output)["binary"]["n"] == 2
    assert json.loads(lab("calibration", "--json", "--since", "2999-01-01").output)["binary"] is None


def test_nothing_to_score_says_so(project: Path) -> None:
    out = lab("calibration").output
    assert out.startswith("0 scored of 0 predictions") and "nothing to score yet" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "lately"], "error: --since 'lately': write a span like 30d, 12w, 6m, 1y or a date like"),
        (["--bin", "0.7-0.6"], "error: --bin '0.7-0.6': the range must lie in [0, 1] with low < high"),
        (["--bin", "high"], "error: --bin 'high': write a probability range like 0.6-0.7"),
        (["--kind", "weird"], "error: --kind must be binary, numeric, point, paper, lab or fatebook"),
    ],
)
def test_bad_options(project: Path, args: list[str], message: str) -> None:
    result = lab("calibration", *args)
    assert result.exit_code == 2 and result.output.startswith(message) and result.output.count("\n") == 1
