"""``lab demo`` runs a real experiment end to end, and its numbers come from those runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from labbook.service.notebook import Notebook

from .conftest import lab, lab_proc


def test_demo_runs_both_variants_and_shows_them(tmp_path: Path) -> None:
    result = lab("demo", "--dir", str(tmp_path / "d"), "--seeds", "2")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("$ lab run -c config.yaml ") == 2 and "--parallel 2" in out  # a seed sweep per variant
    assert "$ lab ls" in out and "$ lab show 4" in out
    with Notebook.open(tmp_path / "d") as nb:
        runs, total = nb.list_runs(limit=0)
        runs = [nb.get_run(r.id) for r in runs]  # with their capture
    assert total == 4 and all(r.status == "finished" for r in runs)
    acc = {r.name: r.metrics["val_acc"].last for r in runs}
    final = {r.name: r.metrics["final_val_acc"].last for r in runs}  # from the stdout JSON line
    assert acc == final
    assert min(acc["scaled-s0"], acc["scaled-s1"]) > max(acc["plain-s0"], acc["plain-s1"])
    for r in runs:  # what `lab ls` printed is what the runs recorded
        assert f"{r.metrics['val_acc'].last:.4g}" in out
        assert r.capture["git"]["commit"] and not r.capture["git"]["dirty"]
        assert r.capture["config_file"] == str((tmp_path / "d" / "config.yaml").resolve())
        assert r.capture["overrides"] == [
            f"scale={str(r.params['scale']).lower()}",
            f"seed={r.params['seed']}",
        ]
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=tmp_path / "d", capture_output=True, text=True
    ).stdout
    assert status == "?? report/\n"  # only the write-up the demo exports at the end
    listed = json.loads(lab_proc("--dir", str(tmp_path / "d"), "ls", "--json").stdout)
    assert [r["params"]["scale"] for r in listed] == [False, False, True, True]
    assert len({r["sweep"] for r in listed}) == 2 and all(r["sweep"] for r in listed)


def test_demo_predicts_first_and_scores_from_its_runs(tmp_path: Path) -> None:
    result = lab("demo", "--dir", str(tmp_path / "d"), "--seeds", "2")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("predict:") < out.index("$ lab run -c")  # beliefs are written down first
    with Notebook.open(tmp_path / "d") as nb:
        book = nb.hypotheses
        preds = book.predictions()
        runs = {r.id: r for r in nb.list_runs(limit=0)[0]}
        for p in preds:
            assert not p.late and p.resolution is not None and p.resolution.how == "auto"
            if p.scope:  # the difference of the two variants, from both hypotheses' runs
                a, b = p.resolution.detail["a"], p.resolution.detail["b"]
                sides = [[runs[i] for (i,) in side["runs"]] for side in (a, b)]
                assert [r.params["scale"] for r in sides[0] + sides[1]] == [True, True, False, False]
                means = [sum(r.metrics["val_acc"].last for r in side) / 2 for side in sides]
                assert p.resolution.value == means[0] - means[1]
                continue
            used = [runs[i] for i in p.resolution.detail["runs"]]
            assert len(used) == 2 and all(r.hyp_id == p.hyp_id for r in used)
            mean = sum(r.metrics["val_acc"].last for r in used) / 2
            assert p.resolution.value == mean
        assert sum(1 for p in preds if p.scope) == 1
        scaled = book.get("H1")
        assert scaled.outcome == "supported" and f"{preds[0].resolution.value:.3f}" in scaled.belief
    assert "$ lab calibration" in out and "4 scored of 4 predictions" in out
    # the two variants are compared, the verdict computed from the runs it made, and plotted,
    # before the predictions are scored
    tail = out[
        out.index("$ lab compare scale=true scale=false --metric val_acc") : out.index("$ lab calibration")
    ]
    with Notebook.open(tmp_path / "d") as nb:
        runs = nb.list_runs(limit=0)[0]
    scaled = [r.metrics["val_acc"].last for r in runs if r.params["scale"]]
    plain = [r.metrics["val_acc"].last for r in runs if not r.params["scale"]]
    diff = sum(scaled) / 2 - sum(plain) / 2
    assert f"val_acc: A is better (higher) by {diff:.3g} (95% CI " in tail and "n = 2 vs 2)" in tail
    scaled_ids = ", ".join(str(r.id) for r in sorted(runs, key=lambda r: r.id) if r.params["scale"])
    assert "$ lab plot val_acc" in tail and f"scale=true (n=2): runs {scaled_ids}" in tail
    (figure,) = [Path(line) for line in tail.splitlines() if line.endswith(".png")]
    assert figure.parent == tmp_path / "d" / ".labbook" / "figures" and figure.is_file()
    assert out.startswith("$ lab problems add 'optimisation on badly scaled inputs'")
    with Notebook.open(tmp_path / "d") as nb:
        (problem,) = nb.problems.list()
        assert problem.hyp_ids == (1, 2) and problem.workable
        assert [t.ref for t in nb.plan.schedule().tasks] == ["T2", "T1"]
    today = out[out.index("$ lab today") : out.index("The notebook is in")]  # the agenda closes the demo
    assert "predictions due (0)" in today and "failure review (0)\n  no sample waiting for review" in today
    assert today.rstrip().endswith("2 open, all succeed with p=0.63, expected 3.2 h before the first failure")
    hints = out[out.index("Explore it:") :]  # the hints to explore further close it
    assert " hyp ls\n" in hints and hints.rstrip().endswith(
        f"ui --dir {tmp_path / 'd'}  (needs pip install 'labbook[web]')"
    )
    report = (tmp_path / "d" / "report" / "H1.md").read_text()
    assert report.startswith("# H1: With standardised features")
    assert (tmp_path / "d" / "report" / "H1_files" / "val_acc.png").exists()
