"""``lab ablate``: leave-one-out and factorial runs through the sweep machinery, then attribution."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sp

from labbook.service.notebook import Notebook

from .conftest import lab, lab_proc

PY = sys.executable
CONFIG = """\
seed: 0
aug:
  enabled: true
warmup:
  enabled: true
dropout:
  enabled: true
lr: 0.1
"""
# aug adds 0.2, warmup 0.05, dropout nothing; the seed adds a little noise
TRAIN = textwrap.dedent("""
    import json, random
    import labbook
    cfg = labbook.config()
    noise = random.Random(cfg["seed"]).gauss(0, 0.01)
    acc = 0.5 + 0.2 * cfg["aug"]["enabled"] + 0.05 * cfg["warmup"]["enabled"] + noise
    print(json.dumps({"val_acc": acc}))
""")


@pytest.fixture
def ablation_project(project: Path) -> Path:
    (project / "config.yaml").write_text(CONFIG)
    (project / "train.py").write_text(TRAIN)
    return project


def sweep_runs(project: Path) -> list:
    with Notebook.open(project) as nb:
        return nb.list_runs(limit=0)[0]


def test_leave_one_out_ranks_components_and_names_the_carrier(ablation_project: Path) -> None:
    proc = lab_proc(
        "ablate", "-c", "config.yaml", "--components", "aug.enabled,warmup.enabled,dropout.enabled",
        "-m", "val_acc", "--seeds", "3", "-p", "2", "--json", "--", PY, "train.py",
        cwd=ablation_project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "4 configurations (leave-one-out) × 3 seeds = 12 runs, 2 at a time on local" in proc.stderr
    out = json.loads(proc.stdout)
    runs = sweep_runs(ablation_project)
    assert len(runs) == 12 and {r.sweep_id for r in runs} == {out["sweep"]}
    assert all(r.status == "finished" and "ablation" in r.tags for r in runs)
    by_cell: dict[str, list[float]] = {}
    for r in runs:
        off = [c for c in ("aug.enabled", "warmup.enabled", "dropout.enabled") if r.params[c] is False]
        by_cell.setdefault("full" if not off else off[0], []).append(r.metrics["val_acc"].last)
    assert [e["component"] for e in out["effects"]] == ["aug.enabled", "warmup.enabled", "dropout.enabled"]
    for e in out["effects"]:
        ref = sp.ttest_ind(by_cell["full"], by_cell[e["component"]], equal_var=False)
        ci = ref.confidence_interval()
        assert e["contribution"] == pytest.approx(np.mean(by_cell["full"]) - np.mean(by_cell[e["component"]]))
        assert (e["ci_low"], e["ci_high"]) == pytest.approx((ci.low, ci.high))
        assert e["p"] == pytest.approx(ref.pvalue)
    assert out["carrier"] == "aug.enabled"
    assert out["verdict"].startswith("aug.enabled carries the result: it adds 0.2")
    assert "warmup.enabled also helps detectably" in out["verdict"]
    names = {r.name for r in runs}
    assert {"full-s0", "no-aug.enabled-s2", "no-dropout.enabled-s1"} <= names
    # the same analysis again from the runs alone, without running anything
    again = lab_proc(
        "ablate", "--report", out["sweep"], "--components", "aug.enabled,warmup.enabled,dropout.enabled",
        "-m", "val_acc", "--json", cwd=ablation_project,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == out and len(sweep_runs(ablation_project)) == 12
    # the sweep plots like any other: a line per configuration, the legend naming the components
    plotted = lab("plot", "val_acc", "--sweep", out["sweep"])
    assert plotted.exit_code == 0, plotted.output
    assert plotted.output.startswith("4 lines from 12 runs (12 points)")
    assert "  aug.enabled=false dropout.enabled=true warmup.enabled=true (n=3): runs" in plotted.output


def test_factorial_main_effects_are_a_least_squares_fit(ablation_project: Path) -> None:
    result = lab(
        "ablate", "-c", "config.yaml", "--components", "aug.enabled,warmup.enabled", "--factorial",
        "-m", "val_acc", "--seeds", "2", "-p", "2", "--", PY, "train.py",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    runs = sweep_runs(ablation_project)
    assert len(runs) == 8
    x = np.array([[1.0, r.params["aug.enabled"], r.params["warmup.enabled"]] for r in runs])
    y = np.array([r.metrics["val_acc"].last for r in runs])
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    assert f"aug.enabled               {beta[1]:.4g}" in result.output
    assert "main effect (least squares)" in result.output
    assert "none                     2" in result.output  # every combination ran, the empty one too
    assert "aug.enabled carries the result" in result.output


def test_lower_is_better_metrics_count_a_drop_as_help(ablation_project: Path) -> None:
    (ablation_project / "train.py").write_text(TRAIN.replace('"val_acc": acc', '"val_loss": 1 - acc'))
    result = lab(
        "ablate", "-c", "config.yaml", "--components", "aug.enabled", "-m", "val_loss", "--seeds", "2",
        "--", PY, "train.py",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "lower is better" in result.output and "aug.enabled carries the result: it adds 0.2" in result.output
    )


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--components", "nope.enabled"], "component nope.enabled is not in the config"),
        (["--components", "lr"], "component lr is 0.1 in the config; a component must be true or false"),
        (["--components", "aug.enabled,aug.enabled"], "names a key twice"),
        (["--components", "aug.enabled,,x"], "--components takes comma-separated config keys"),
        (
            ["--components", "aug.enabled,warmup.enabled,dropout.enabled,a,b", "--factorial"],
            "component a is not in the config",
        ),
        (["--components", "aug.enabled", "--launcher", "k8s"], "'k8s' is not one of 'local', 'slurm', 'ray'"),
        (["--components", "aug.enabled", "--slurm-time", "5"], "--slurm-time needs --launcher slurm"),
        (["--components", "aug.enabled", "--seeds", "50", "--max-runs", "10"], "this ablation is 100 runs"),
    ],
)
def test_bad_ablations_stop_before_any_run(ablation_project: Path, args: list[str], expected: str) -> None:
    result = lab("ablate", "-c", "config.yaml", "-m", "val_acc", *args, "--", PY, "train.py")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output
    assert sweep_runs(ablation_project) == []


def test_too_many_components_for_a_factorial(ablation_project: Path) -> None:
    cfg = CONFIG + "".join(f"c{i}: true\n" for i in range(5))
    (ablation_project / "config.yaml").write_text(cfg)
    comps = ",".join(f"c{i}" for i in range(5))
    result = lab(
        "ablate", "-c", "config.yaml", "--components", comps, "--factorial", "-m", "x", "--", PY, "train.py"
    )
    assert result.exit_code == 2 and "--factorial with 5 components is 32 configurations" in result.output


def test_ablate_needs_a_command(ablation_project: Path) -> None:
    result = lab("ablate", "-c", "config.yaml", "--components", "aug.enabled", "-m", "val_acc")
    assert result.exit_code == 2 and "give the command after --" in result.output


def test_a_single_seed_gives_effects_without_intervals_and_says_so(ablation_project: Path) -> None:
    proc = lab_proc(
        "ablate", "-c", "config.yaml", "--components", "aug.enabled", "-m", "val_acc", "--seeds", "1",
        "--json", "--", PY, "train.py", cwd=ablation_project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    (effect,) = out["effects"]
    assert effect["contribution"] == pytest.approx(0.2) and effect["ci_low"] == "NaN"
    assert out["carrier"] is None
    assert (
        out["verdict"] == "no component's effect can be judged with 1 seed per configuration; run more seeds"
    )


def test_the_ablation_runs_as_slurm_jobs_with_the_slurm_launcher(
    ablation_project: Path, slurm: object
) -> None:
    proc = lab_proc(
        "ablate", "-c", "config.yaml", "--components", "aug.enabled", "-m", "val_acc", "--seeds", "2",
        "--launcher", "slurm", "--slurm-time", "5", "--slurm-cpus", "1", "-p", "2", "--json", "--", PY, "train.py",
        cwd=ablation_project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "lab: submitted runs 1-4 to Slurm as jobs" in proc.stderr
    out = json.loads(proc.stdout)
    with Notebook.open(ablation_project) as nb:
        runs = [nb.get_run(r.id) for r in nb.list_runs(limit=0)[0]]
    assert len(runs) == 4 and all(r.status == "finished" and r.source == "slurm" for r in runs)
    assert all(r.sweep_id == out["sweep"] and "ablation" in r.tags for r in runs)
    assert {r.name for r in runs} == {"full-s0", "full-s1", "no-aug.enabled-s0", "no-aug.enabled-s1"}
    assert out["carrier"] == "aug.enabled" and out["effects"][0]["contribution"] == pytest.approx(
        0.2, abs=0.03
    )


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--report", "abc'; x"], '--report "abc\'; x" is not a sweep id'),
        (["--report", "0123456789"], "no run of sweep '0123456789' in this notebook"),
        (["--report", "0123456789", "-c", "config.yaml"], "--report analyses runs already made"),
        (["-c", "config.yaml", "--detach"], "--detach needs --launcher slurm"),
        ([], "give the config with -c CONFIG (or --report SWEEP"),
    ],
)
def test_bad_reports_and_detaches_are_one_line(
    ablation_project: Path, args: list[str], expected: str
) -> None:
    result = lab("ablate", "--components", "aug.enabled", "-m", "val_acc", *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output
    assert sweep_runs(ablation_project) == []


def test_a_detached_ablation_on_slurm_is_analysed_later(ablation_project: Path, slurm: object) -> None:
    proc = lab_proc(
        "ablate", "-c", "config.yaml", "--components", "aug.enabled", "-m", "val_acc", "--seeds", "2",
        "--launcher", "slurm", "--detach", "--", PY, "train.py", cwd=ablation_project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    hint = proc.stderr.strip().splitlines()[-1]
    assert hint.startswith("lab: detached; when the jobs are done: lab ablate --report ")
    sweep = hint.split("--report ")[1].split()[0]
    deadline = time.time() + 60
    while time.time() < deadline and not all(r.status == "finished" for r in sweep_runs(ablation_project)):
        time.sleep(0.5)
    report = lab_proc(
        "ablate",
        "--report",
        sweep,
        "--components",
        "aug.enabled",
        "-m",
        "val_acc",
        "--json",
        cwd=ablation_project,
    )
    assert report.returncode == 0, report.stderr
    out = json.loads(report.stdout)
    assert out["sweep"] == sweep and out["carrier"] == "aug.enabled"
    assert out["effects"][0]["contribution"] == pytest.approx(0.2, abs=0.03)
