"""Notebook settings that comparisons assume: noise keys, the default metric, goals, --detect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import labbook
from labbook.service.notebook import Notebook

from .conftest import lab

A = [0.81, 0.83, 0.80, 0.84, 0.82]
B = [0.74, 0.77, 0.75, 0.73, 0.76]


def ok(*args: str) -> str:
    result = lab(*args)
    assert result.exit_code == 0, result.output
    return result.output


def sweep(per_run_dir: bool = True) -> None:
    """Two configurations × five seeds, each run with its own work_dir (a per-run path)."""
    for seed, (a, b) in enumerate(zip(A, B, strict=True)):
        for lr, acc in ((1e-3, a), (3e-4, b)):
            config = {"lr": lr, "seed": seed}
            if per_run_dir:
                config["work_dir"] = f"out/lr{lr}-s{seed}"
            with labbook.init(config=config) as run:
                run.log({"val_acc": acc, "val_loss": 1 - acc}, step=0)


def compare(*extra: str) -> dict:
    return json.loads(ok("compare", "lr=1e-3", "lr=3e-4", "--json", *extra))


def test_noise_keys_setting_stops_per_run_paths_splitting_variants(project: Path) -> None:
    sweep()
    rows = json.loads(ok("ls", "--group-by", "variant", "--json"))
    assert len(rows["groups"]) == 10  # each work_dir makes its own "variant" of one run
    assert ok("settings", "set", "noise", "seed,work_dir") == 'noise = ["seed", "work_dir"]\n'
    result = lab("ls", "--group-by", "variant", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert sorted(len(v["runs"]) for v in rows["groups"]) == [5, 5]
    assert "noise keys seed, work_dir (lab settings)" in result.stderr
    report = compare("--metric", "val_acc")
    assert report["settings_used"] == ["noise keys seed, work_dir"]
    assert report["config"] == [{"key": "lr", "a": [0.001], "b": [0.0003]}]  # work_dir is not a difference
    told = compare("--metric", "val_acc", "--noise", "seed")
    assert told["settings_used"] == [] and {c["key"] for c in told["config"]} == {"lr", "work_dir"}


def test_default_metric_and_goal_come_from_settings_and_are_named(project: Path) -> None:
    sweep(per_run_dir=False)
    assert {m["metric"] for m in compare()["metrics"]} == {"val_acc", "val_loss"}
    ok("settings", "set", "metric", "val_loss")
    ok("settings", "set", "goal", "val_loss", "max")  # deliberately odd, so the guess would differ
    report = compare()
    assert [m["metric"] for m in report["metrics"]] == ["val_loss"]
    assert report["settings_used"] == ["metric val_loss", "val_loss: higher is better"]
    (m,) = report["metrics"]
    assert m["goal"] == "max"
    text = ok("compare", "lr=1e-3", "lr=3e-4")
    assert "settings: metric val_loss; val_loss: higher is better (lab settings ls)" in text
    assert compare("--goal", "min")["metrics"][0]["goal"] == "min"  # the option wins, unsaid
    ok("settings", "unset", "goal", "val_loss")
    assert compare()["metrics"][0]["goal"] == "min"  # back to the name's guess


def test_detect_setting_sizes_the_seeds_needed_estimate(project: Path) -> None:
    sweep(per_run_dir=False)
    unsaid = compare("--metric", "val_acc")["metrics"][0]
    ok("settings", "set", "detect", "val_acc", "0.001")
    report = compare("--metric", "val_acc")
    assert report["settings_used"] == ["val_acc: detect 0.001"]
    told = compare("--metric", "val_acc", "--detect", "0.001")
    assert told["settings_used"] == []
    (m,), (t,) = report["metrics"], told["metrics"]
    assert m == t  # the setting does exactly what the option does
    assert m != unsaid


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "noise", " , "], "give the noise keys"),
        (["set", "metric", "a", "b"], "give one metric"),
        (["set", "goal", "val_loss", "lowest"], "give a metric and min or max"),
        (["set", "detect", "val_acc", "0"], "the smallest difference that matters"),
        (["set", "detect", "val_acc", "tiny"], "the smallest difference that matters"),
        (["get", "colour"], "no setting called 'colour'; settings: "),
        (["get", "goal", "val_loss"], "goal.val_loss is not set"),
    ],
)
def test_bad_settings_say_what_to_write_and_store_nothing(
    project: Path, args: list[str], message: str
) -> None:
    result = lab("settings", *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    with Notebook.open(project) as nb:
        assert nb.settings.all() == {}


def test_unknown_key_lists_every_setting(project: Path) -> None:
    result = lab("settings", "get", "colour")
    listed = result.output.split("settings: ", 1)[1].strip().split(", ")
    assert {"noise", "metric", "goal", "detect", "parse"} <= set(listed)
