"""Figures, drawn with matplotlib (imported only when a figure is asked for)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labbook.core.scoring import Bin
    from labbook.service.curves import Curve


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reliability_diagram(bins: list[Bin], path: Path, title: str) -> Path:
    """Observed frequency against forecast per bin, with each bin's 95% interval and count.

    The interval is drawn for every bin so that thin bins look as uncertain as they are.
    """
    plt = _pyplot()
    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(5.5, 6.5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True
    )
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    filled = [b for b in bins if b.count]
    xs = [b.mean_forecast for b in filled]
    ys = [b.observed for b in filled]
    lower = [b.observed - b.ci_low for b in filled]  # type: ignore[operator]
    upper = [b.ci_high - b.observed for b in filled]  # type: ignore[operator]
    ax.errorbar(
        xs,
        ys,
        yerr=[lower, upper],
        fmt="o",
        color="C0",
        ecolor="C0",
        capsize=3,
        label="observed frequency (95% interval)",
    )
    for b, x, y in zip(filled, xs, ys, strict=True):
        ax.annotate(f"n={b.count}", (x, y), textcoords="offset points", xytext=(6, -10), fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("how often it came true")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    centers = [(b.lo + b.hi) / 2 for b in bins]
    hist.bar(centers, [b.count for b in bins], width=[(b.hi - b.lo) * 0.9 for b in bins], color="0.5")
    hist.set_xlabel("forecast probability")
    hist.set_ylabel("forecasts")
    hist.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def metric_plot(series: dict[str, tuple[list[float], list[float]]], metric: str, path: Path) -> Path:
    """One line per run of ``metric`` against step (written to ``path``)."""
    return _save(metric_figure(series, metric), path)


def metric_figure(series: dict[str, tuple[list[float], list[float]]], metric: str) -> Any:
    """The figure of ``metric_plot``; a run with a single point is a marker, not an invisible line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, (steps, values) in series.items():
        if len(values) == 1:
            ax.plot(steps, values, marker="o", linestyle="none", label=label)
        else:
            ax.plot(steps, values, linewidth=1.2, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    if len(series) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def variant_plot(
    curves: list[Curve], metric: str, path: Path, x_label: str = "step", log_y: bool = False, title: str = ""
) -> Path:
    """One line per variant (the mean over its seeds) with its 95% CI band (written to ``path``)."""
    return _save(variant_figure(curves, metric, x_label, log_y, title), path)


def variant_figure(
    curves: list[Curve], metric: str, x_label: str = "step", log_y: bool = False, title: str = ""
) -> Any:
    """The figure of ``variant_plot``.

    Curves are reduced to each pixel bucket's minimum and maximum before drawing (the
    band to its outer envelope), so a million points draw as fast as a thousand and a
    spike still shows. A curve of one point (a metric logged once per run) is a marker,
    with an error bar for its CI, since a line needs two points to show at all.
    """
    from labbook.service.curves import reduce_band, reduce_for_drawing

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, c in enumerate(curves):
        colour = f"C{i % 10}"
        x, y = reduce_for_drawing(c.x, c.mean)
        if len(x) == 1:
            _marker(ax, c, x, y, colour)
            continue
        ax.plot(x, y, linewidth=1.3, color=colour, label=c.label)
        if c.low is not None and c.high is not None:
            bx, lo, hi = reduce_band(c.x, c.low, c.high)
            ax.fill_between(bx, lo, hi, color=colour, alpha=0.2, linewidth=0)
    ax.set_xlabel(x_label)
    ax.set_ylabel(metric)
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def _marker(ax: Any, c: Curve, x: Any, y: Any, colour: str) -> None:
    """One point: a marker, with an error bar when the point has a CI."""
    i = int((c.x == x[0]).argmax())
    low = None if c.low is None else float(c.low[i])
    high = None if c.high is None else float(c.high[i])
    if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
        yerr = [[y[0] - low], [high - y[0]]]
        ax.errorbar(x, y, yerr=yerr, fmt="o", color=colour, capsize=4, label=c.label)
    else:
        ax.plot(x, y, marker="o", linestyle="none", color=colour, label=c.label)


def _save(fig: Any, path: Path, dpi: int = 110) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    finally:
        _pyplot().close(fig)
    return path
