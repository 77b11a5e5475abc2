"""Importers of MLflow and W&B history, over stores and run files the real tools wrote.

The sources are made once per module by the tools themselves, in subprocesses started side by side
(MLflow and wandb are slow to start, and wandb runs a service process): MLflow with a SQLite
database and with an ``mlruns/`` folder, W&B in offline mode. W&B points are checked against what
wandb's own reader (``wandb leet inspect --json``, wandb-core) says the same files hold.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from labbook.errors import BadInput
from labbook.records.imports import ImportedRun, ImportedSeries, Skipped

from .conftest import wait_for

T0 = 1_700_000_000_000  # ms: every MLflow time is known exactly
# Points of one metric: in the database more than MLflow's metric-history page (25,000), read back
# through OFFSET queries; fewer in mlruns/, whose store lists all points per page (and logs slowly).
POINTS = {"sqlite": 26_000, "file": 2_500}
BLOB = "x" * 70_000  # a config value bigger than two 32 KiB blocks: its record is cut into chunks

MLFLOW_WRITER = textwrap.dedent(
    """
    import math, sys
    from pathlib import Path
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    T0 = int(sys.argv[2])

    def fill(client, place, big_points):
        place.mkdir(parents=True)
        vision = client.create_experiment("vision", artifact_location=(place / "vision").as_uri())
        nlp = client.create_experiment("nlp", artifact_location=(place / "nlp").as_uri())
        old = client.create_experiment("old", artifact_location=(place / "old").as_uri())
        tags = {"team": "ml", "baseline": "", "mlflow.source.git.commit": "abc123",
                "mlflow.note.content": "first try", "mlflow.source.name": "train.py"}
        big = client.create_run(vision, start_time=T0, tags=tags, run_name="big").info.run_id
        params = {"lr": "0.001", "seed": "7", "amp": "True", "layers": "[64, 64]", "zip": "007", "eps": "1e-08"}
        client.log_batch(big, params=[Param(k, v) for k, v in params.items()])
        for start in range(0, big_points, 1000):
            points = range(start, min(start + 1000, big_points))
            client.log_batch(big, metrics=[Metric("loss", 1 / (i + 1), T0 + i, i) for i in points])
        client.log_batch(big, metrics=[Metric("acc", i / 300, T0 + 10 * i, 2 * i) for i in range(300)])
        odd = [math.nan, math.inf, -math.inf, 1.5]
        client.log_batch(big, metrics=[Metric("odd", v, T0 + i, i) for i, v in enumerate(odd)])
        (place / "weights.txt").write_text("w")
        (place / "notes.md").write_text("n")
        client.log_artifact(big, str(place / "weights.txt"), "model/final")
        client.log_artifact(big, str(place / "notes.md"))
        client.set_terminated(big, "FINISHED", end_time=T0 + 60_000)
        broken = client.create_run(nlp, start_time=T0 + 1000, run_name="broken").info.run_id
        client.log_param(broken, "lr", "0.1")
        client.log_metric(broken, "loss", 2.0, T0 + 1500, 0)
        client.set_terminated(broken, "FAILED", end_time=T0 + 2000)
        client.create_run(nlp, start_time=T0 + 3000, run_name="live")
        stopped = client.create_run(nlp, start_time=T0 + 4000, run_name="stopped").info.run_id
        client.set_terminated(stopped, "KILLED", end_time=T0 + 4500)
        trashed = client.create_run(vision, start_time=T0 + 5000, run_name="trashed").info.run_id
        client.set_terminated(trashed, "FINISHED", end_time=T0 + 5500)
        client.delete_run(trashed)
        ghost = client.create_run(old, start_time=T0 + 6000, run_name="ghost").info.run_id
        client.set_terminated(ghost, "FINISHED", end_time=T0 + 6500)
        client.delete_experiment(old)

    root = Path(sys.argv[1])
    fill(MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}"), root / "sqlite-artifacts", int(sys.argv[3]))
    fill(MlflowClient(tracking_uri=(root / "mlruns").as_uri()), root / "file-artifacts", int(sys.argv[4]))
    """
)

WANDB_WRITER = textwrap.dedent(
    """
    import json, math, sys, time
    import wandb

    kind, blob = sys.argv[1], "x" * int(sys.argv[2])
    settings = wandb.Settings(x_stats_sampling_interval=0.1, console="off" if kind == "bad" else "auto")
    if kind == "good":
        run = wandb.init(project="proj", name="good-run", group="g1", tags=["base", "seed0"], notes="first try",
                         config={"lr": 0.01, "model": {"depth": 4, "act": "relu"}, "blob": blob}, settings=settings)
        run.config.update({"late": 5})
        for i in range(300):
            row = {"train/loss": 1 / (i + 1), "acc": i / 300, "nested": {"x": i, "flag": i % 2 == 0}}
            if i == 5:
                row["train/loss"] = math.nan
            if i % 100 == 0:
                row["phase"] = "warm"
                row["hist"] = wandb.Histogram([1, 2, 3])
                print(f"step {i}", flush=True)
            run.log(row, step=2 * i)
        run.summary["best"] = 0.9
        print("done", flush=True)
        run.finish()
    else:
        run = wandb.init(project="proj", name="bad-run", settings=settings)
        for i in range(3):
            run.log({"loss": 10.0 - i})
        sys.exit(3)
    """
)


@dataclass
class Sources:
    root: Path
    sqlite: str
    mlruns: Path
    wandb: Path  # the wandb/ folder

    def run_folder(self, name: str) -> Path:
        """The W&B run folder whose run has this display name."""
        for folder in sorted(self.wandb.glob("offline-run-*")):
            if name in _read_records_text(folder):
                return folder
        raise AssertionError(f"no W&B run folder for {name}")


def _read_records_text(folder: Path) -> str:
    return next(folder.glob("run-*.wandb")).read_bytes().decode("latin-1")


def _start(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _finish(proc: subprocess.Popen[bytes], log: Path, expect: int) -> None:
    """Wait for a writer and every process it started (wandb's service): kill them all if they hang."""
    try:
        code = proc.wait(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"{proc.args} hung: {log.read_text(errors='replace')[-2000:]}") from None
    finally:
        try:
            wait_for(lambda: not _group_alive(proc.pid), timeout=60, label="the writer's helpers to exit")
        finally:
            if _group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
    assert code == expect, f"{proc.args} exited {code}: {log.read_text(errors='replace')[-2000:]}"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _tool_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MLFLOW_ALLOW_FILE_STORE="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_DIR=str(root),
        WANDB_CONFIG_DIR=str(root / "wandb-config"),
        WANDB_CACHE_DIR=str(root / "wandb-cache"),
        WANDB_DATA_DIR=str(root / "wandb-data"),
    )
    return env


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    """Both tools write their sources at once; each writer (and what it started) must end in time."""
    root = tmp_path_factory.mktemp("sources")
    env = _tool_env(root)
    scripts = {"mlflow": MLFLOW_WRITER, "wandb": WANDB_WRITER}
    for name, text in scripts.items():
        (root / f"write_{name}.py").write_text(text)
    py = sys.executable
    jobs = [
        ([py, "write_mlflow.py", str(root), str(T0), str(POINTS["sqlite"]), str(POINTS["file"])], 0),
        ([py, "write_wandb.py", "good", str(len(BLOB))], 0),
        ([py, "write_wandb.py", "bad", "0"], 3),
    ]
    started = [
        (_start(argv, env, root, root / f"writer-{n}.log"), n, code) for n, (argv, code) in enumerate(jobs)
    ]
    failures = []
    for proc, n, code in started:  # every writer is waited for (or killed), even after one failed
        try:
            _finish(proc, root / f"writer-{n}.log", code)
        except AssertionError as err:
            failures.append(str(err))
    assert not failures, "\n".join(failures)
    return Sources(root, f"sqlite:///{root / 'mlflow.db'}", root / "mlruns", root / "wandb")


@pytest.fixture(autouse=True)
def _quiet_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)


def _split(items: list[ImportedRun | Skipped]) -> tuple[dict[str, ImportedRun], list[Skipped]]:
    runs = {r.name or r.source_id: r for r in items if isinstance(r, ImportedRun)}
    return runs, [s for s in items if isinstance(s, Skipped)]


def _series(run: ImportedRun) -> dict[str, ImportedSeries]:
    return {s.key: s for s in run.series}


def _points(series: ImportedSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.asarray(series.steps), np.asarray(series.times), np.asarray(series.values)


# -- MLflow ---------------------------------------------------------------------------------


def _mlflow_source(sources: Sources, store: str) -> str:
    return sources.sqlite if store == "sqlite" else str(sources.mlruns)


@pytest.mark.parametrize("store", ["sqlite", "file"])
def test_mlflow_every_point_param_tag_and_status_comes_over(sources: Sources, store: str) -> None:
    from labbook.importers import mlflow

    source = _mlflow_source(sources, store)
    before = _digest(sources.root / "mlflow.db") if store == "sqlite" else _tree(sources.mlruns)
    lines: list[str] = []
    runs, skipped = _split(list(mlflow.read(source, lines.append)))

    assert list(runs) == ["big", "broken", "live", "stopped"]  # oldest first
    big = runs["big"]
    assert (big.source, big.origin, big.status) == ("mlflow", source, "finished")
    assert len(big.source_id) == 32 and big.source_id != runs["broken"].source_id
    assert (big.started_at, big.ended_at) == (T0 / 1000, T0 / 1000 + 60)
    assert big.params == {
        "lr": 0.001,
        "seed": 7,
        "amp": True,
        "layers": "[64, 64]",
        "zip": "007",
        "eps": 1e-08,
    }
    assert big.tags == ("experiment=vision", "baseline", "team=ml")
    assert big.details["experiment"] == "vision" and big.details["git_commit"] == "abc123"
    assert (big.details["notes"], big.details["program"]) == ("first try", "train.py")
    assert sorted(big.artifacts) == ["model/final/weights.txt", "notes.md"]

    series = _series(big)
    assert sorted(series) == ["acc", "loss", "odd"]
    steps, times, values = _points(series["loss"])
    n = POINTS[store]
    assert steps.tolist() == list(range(n))  # every page of MLflow's history, not the first 25,000
    assert values.tolist() == [1 / (i + 1) for i in range(n)]
    np.testing.assert_allclose(times, (T0 + np.arange(n)) / 1000, rtol=0, atol=1e-6)
    steps, times, values = _points(series["acc"])
    assert steps.tolist() == [2 * i for i in range(300)] and values.tolist() == [i / 300 for i in range(300)]
    np.testing.assert_allclose(times, (T0 + 10 * np.arange(300)) / 1000, rtol=0, atol=1e-6)
    odd = _points(series["odd"])[2]
    assert math.isnan(odd[0]) and odd[1:].tolist() == [math.inf, -math.inf, 1.5]

    broken, live, stopped = runs["broken"], runs["live"], runs["stopped"]
    assert (broken.status, live.status, stopped.status) == ("failed", "running", "killed")
    assert live.details["mlflow_status"] == "RUNNING" and live.ended_at is None
    assert broken.tags == ("experiment=nlp",) and broken.params == {"lr": 0.1}
    assert _points(_series(broken)["loss"])[1].tolist() == [(T0 + 1500) / 1000]

    reasons = {s.item.split(" (")[-1].rstrip(")"): s.reason for s in skipped}
    assert set(reasons) == {"trashed", "ghost"}
    assert "restore it" in reasons["trashed"] and "experiment 'old' is deleted" in reasons["ghost"]

    assert (
        lines and lines[0] == "mlflow: run 1 of 6" and all(line.startswith("mlflow: run ") for line in lines)
    )
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ
    after = _digest(sources.root / "mlflow.db") if store == "sqlite" else _tree(sources.mlruns)
    assert after == before  # reading wrote nothing


def test_mlflow_file_store_by_path_uri_or_the_folder_holding_it(sources: Sources) -> None:
    from labbook.importers.mlflow import tracking_uri

    uri = sources.mlruns.resolve().as_uri()
    assert tracking_uri(str(sources.mlruns)) == tracking_uri(uri) == uri
    assert tracking_uri(str(sources.root)) == uri  # the project folder holding mlruns/
    assert (
        tracking_uri(str(sources.root / "mlflow.db")) == f"sqlite:///{(sources.root / 'mlflow.db').resolve()}"
    )


def test_mlflow_missing_database_is_refused_and_not_created(tmp_path: Path) -> None:
    from labbook.importers import mlflow

    missing = tmp_path / "nowhere" / "mlflow.db"
    with pytest.raises(BadInput, match=r"no MLflow database at .*check the path") as err:
        mlflow.read(f"sqlite:///{missing}")
    assert "\n" not in str(err.value)
    assert not missing.exists() and not missing.parent.exists()


def test_mlflow_folder_without_runs_is_refused_and_left_empty(tmp_path: Path) -> None:
    from labbook.importers import mlflow

    with pytest.raises(BadInput, match="no MLflow data in"):
        mlflow.read(str(tmp_path))
    with pytest.raises(BadInput, match="does not exist"):
        mlflow.read(str(tmp_path / "mlruns"))
    assert list(tmp_path.iterdir()) == []


def test_mlflow_database_of_another_kind_is_refused_untouched(tmp_path: Path) -> None:
    from labbook.importers import mlflow

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    before = _digest(other)
    with pytest.raises(BadInput, match="holds no MLflow data"):
        mlflow.read(f"sqlite:///{other}")
    with pytest.raises(BadInput, match="holds no MLflow data"):
        mlflow.read(str(other))  # a plain path to a database file is read as one
    assert _digest(other) == before


def test_mlflow_database_mlflow_would_migrate_is_refused_untouched(sources: Sources, tmp_path: Path) -> None:
    """MLflow upgrades an older database in place when it opens it; an import must not."""
    from labbook.importers import mlflow

    old = tmp_path / "old.db"
    shutil.copy(sources.root / "mlflow.db", old)
    with sqlite3.connect(old) as db:
        db.execute("UPDATE alembic_version SET version_num = '0584bdc529eb'")
    before = _digest(old)
    with pytest.raises(BadInput, match=r"schema 0584bdc529eb.*mlflow db upgrade"):
        mlflow.read(f"sqlite:///{old}")
    assert _digest(old) == before


def test_mlflow_param_text_becomes_numbers_only_when_it_is_one() -> None:
    from labbook.importers.mlflow import metric_value, param_value

    assert [param_value(t) for t in ["3", "-2", "0.5", ".5", "1e-3", "1E5", "True", "False"]] == [
        3, -2, 0.5, 0.5, 0.001, 100000.0, True, False,
    ]  # fmt: skip
    assert [param_value(t) for t in ["007", "1_000", "nan", "inf", "0x10", "true", "", "None", "1.2.3"]] == [
        "007", "1_000", "nan", "inf", "0x10", "true", "", "None", "1.2.3",
    ]  # fmt: skip
    assert metric_value(sys.float_info.max) == math.inf and metric_value(-sys.float_info.max) == -math.inf
    assert metric_value(1e308) == 1e308


# -- W&B ------------------------------------------------------------------------------------


def _wandb_read(source: str | Path, lines: list[str] | None = None) -> list[ImportedRun | Skipped]:
    from labbook.importers import wandb

    return list(wandb.read(source, lines.append if lines is not None else None))


def _oracle(log: Path) -> dict[str, list[tuple[int, float, float]]]:
    """Every numeric point in a .wandb file as wandb-core's own reader prints it, keyed as W&B names them."""
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("wandb")), "leet", "inspect", "--json", str(log)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_tool_env(log.parent.parent / "leet"),  # wandb's CLI may leave logs in its WANDB_DIR
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    samples = 0
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if record["type"] == "history":
            item = record["history"]["item"]
            media = {k.removesuffix("._type") for k in item if k.endswith("._type")}
            for key, value in item.items():
                if key.startswith("_") or any(key.startswith(f"{m}.") for m in media):
                    continue
                if isinstance(value, int | float) or value in ("NaN", "Infinity", "-Infinity"):
                    out[key].append((item["_step"], item["_timestamp"], float(value)))
        elif record["type"] == "stats":
            at = _rfc3339(record["stats"]["timestamp"])
            for key, value in record["stats"]["item"].items():
                out[f"sys/{key}"].append((samples, at, float(value)))
            samples += 1
    return out


def _rfc3339(text: str) -> float:
    whole, _, fraction = text.removesuffix("Z").partition(".")
    return datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp() + float(f"0.{fraction or 0}")


def _assert_same_points(run: ImportedRun, oracle: dict[str, list[tuple[int, float, float]]]) -> None:
    series = _series(run)
    assert sorted(series) == sorted(oracle)
    for key, points in oracle.items():
        steps, times, values = _points(series[key])
        assert steps.tolist() == [p[0] for p in points], key
        np.testing.assert_allclose(times, [p[1] for p in points], rtol=0, atol=1e-3, err_msg=key)
        np.testing.assert_array_equal(values, [p[2] for p in points], err_msg=key)  # NaN equals NaN here


def test_wandb_offline_run_comes_over_whole(sources: Sources) -> None:
    folder = sources.run_folder("good-run")
    lines: list[str] = []
    runs, skipped = _split(_wandb_read(sources.wandb, lines))
    assert sorted(runs) == ["bad-run", "good-run"]
    good = runs["good-run"]
    assert (good.source, good.status, good.origin) == ("wandb", "finished", str(folder.resolve()))
    assert folder.name.endswith(f"-{good.source_id}") and len(good.source_id) == 8
    assert good.params == {"lr": 0.01, "model.depth": 4, "model.act": "relu", "blob": BLOB, "late": 5}
    assert good.tags == ("base", "seed0", "project=proj", "group=g1")
    assert good.details["notes"] == "first try" and good.details["exit_code"] == 0
    assert good.summary["best"] == 0.9 and good.summary["acc"] == 299 / 300
    assert (
        good.summary["nested.x"] == 299
        and "hist" not in good.summary
        and not any(k[0] == "_" for k in good.summary)
    )
    assert good.output is not None and "step 0\n" in good.output and good.output.rstrip().endswith("done")
    assert good.started_at is not None and good.ended_at is not None and good.started_at < good.ended_at

    series = _series(good)
    steps, times, values = _points(series["train/loss"])
    assert steps.tolist() == [2 * i for i in range(300)]
    expected = [1 / (i + 1) for i in range(300)]
    expected[5] = math.nan
    np.testing.assert_array_equal(values, expected)
    assert good.started_at <= times[0] and np.all(np.diff(times) >= 0) and times[-1] <= good.ended_at
    assert _points(series["nested.flag"])[2].tolist() == [float(i % 2 == 0) for i in range(300)]
    assert any(k.startswith("sys/") for k in series)
    _assert_same_points(good, _oracle(next(folder.glob("*.wandb"))))

    (media,) = [s for s in skipped if s.item.startswith(f"wandb run {good.source_id}")]
    assert media.item.endswith("history: hist, phase") and "6 values stay in W&B" in media.reason
    assert lines and lines[0] == "wandb: run 1 of 2"


def test_wandb_run_that_exits_non_zero_failed(sources: Sources) -> None:
    folder = sources.run_folder("bad-run")
    (bad,) = [r for r in _wandb_read(folder) if isinstance(r, ImportedRun)]
    assert (bad.status, bad.details["exit_code"], bad.name) == ("failed", 3, "bad-run")
    assert _points(_series(bad)["loss"])[2].tolist() == [10.0, 9.0, 8.0]
    assert _points(_series(bad)["loss"])[0].tolist() == [0, 1, 2]
    assert bad.output is None  # console capture was off, and there is no output.log


def test_wandb_console_falls_back_to_output_log(sources: Sources, tmp_path: Path) -> None:
    copy = tmp_path / "wandb" / sources.run_folder("bad-run").name
    shutil.copytree(sources.run_folder("bad-run"), copy)
    (copy / "files").mkdir(exist_ok=True)
    (copy / "files" / "output.log").write_text("epoch 1\nboom\n")
    (bad,) = [r for r in _wandb_read(tmp_path) if isinstance(r, ImportedRun)]
    assert bad.output == "epoch 1\nboom\n"


def test_wandb_source_may_be_the_folder_holding_wandb_a_run_folder_or_its_file(sources: Sources) -> None:
    def ids(source: Path) -> list[str]:
        return sorted(r.source_id for r in _wandb_read(source) if isinstance(r, ImportedRun))

    both = ids(sources.wandb)
    assert len(both) == 2 and ids(sources.root) == both  # latest-run (a link) is not read twice
    folder = sources.run_folder("good-run")
    assert ids(folder) == ids(next(folder.glob("*.wandb"))) == [folder.name.rsplit("-", 1)[1]]


def test_wandb_cut_off_file_gives_everything_before_the_cut(sources: Sources, tmp_path: Path) -> None:
    full_folder = sources.run_folder("good-run")
    (full,) = [r for r in _wandb_read(full_folder) if isinstance(r, ImportedRun)]
    copy = tmp_path / full_folder.name
    shutil.copytree(full_folder, copy)
    log = next(copy.glob("*.wandb"))
    size = log.stat().st_size
    assert size > 3 * 32 * 1024  # several blocks, and the big config record spans some
    with open(log, "r+b") as fh:
        fh.truncate(size // 2 + 3)  # mid-block, mid-record

    items = _wandb_read(copy)
    (cut,) = [r for r in items if isinstance(r, ImportedRun)]
    (skip,) = [s for s in items if isinstance(s, Skipped) and s.item == str(log)]
    assert cut.source_id == full.source_id and cut.status == "crashed"  # the exit record was lost
    assert "cut off at byte" in skip.reason and "intact records were imported" in skip.reason
    assert cut.details["damage"] == skip.reason
    assert cut.params == full.params  # the first, chunked record is whole
    _assert_same_points(cut, _oracle(log))
    loss, whole = _points(_series(cut)["train/loss"]), _points(_series(full)["train/loss"])
    assert 0 < len(loss[0]) < len(whole[0])
    assert loss[0].tolist() == whole[0][: len(loss[0])].tolist()
    assert cut.ended_at is not None and full.ended_at is not None and cut.ended_at < full.ended_at


def test_wandb_damaged_block_is_skipped_and_reading_goes_on(sources: Sources, tmp_path: Path) -> None:
    full_folder = sources.run_folder("good-run")
    (full,) = [r for r in _wandb_read(full_folder) if isinstance(r, ImportedRun)]
    copy = tmp_path / full_folder.name
    shutil.copytree(full_folder, copy)
    log = next(copy.glob("*.wandb"))
    data = bytearray(log.read_bytes())
    at = 3 * 32 * 1024 + 5000
    data[at : at + 8] = bytes(b ^ 0xFF for b in data[at : at + 8])
    log.write_bytes(bytes(data))

    items = _wandb_read(copy)
    (run,) = [r for r in items if isinstance(r, ImportedRun)]
    (skip,) = [s for s in items if isinstance(s, Skipped) and s.item == str(log)]
    assert run.status == "finished"  # the exit record, after the damage, was read
    assert "damaged bytes in 1 place (checksums" in skip.reason and "cut off" not in skip.reason
    steps, whole = _points(_series(run)["train/loss"])[0], _points(_series(full)["train/loss"])[0]
    assert 0 < len(steps) < len(whole) and set(steps.tolist()) < set(whole.tolist())
    gap = sorted(set(whole.tolist()) - set(steps.tolist()))
    assert gap == list(range(gap[0], gap[-1] + 2, 2))  # one stretch of rows, the damaged block's


def test_wandb_file_that_is_not_one_is_skipped(sources: Sources, tmp_path: Path) -> None:
    folder = tmp_path / "wandb" / "offline-run-20200101_000000-garbage1"
    folder.mkdir(parents=True)
    (folder / "run-garbage1.wandb").write_bytes(np.random.default_rng(0).bytes(5000))
    empty = tmp_path / "wandb" / "run-20200101_000001-nofile1"
    empty.mkdir()
    shutil.copytree(sources.run_folder("bad-run"), tmp_path / "wandb" / sources.run_folder("bad-run").name)

    runs, skipped = _split(_wandb_read(tmp_path / "wandb"))
    assert list(runs) == ["bad-run"]
    reasons = {Path(s.item).name: s.reason for s in skipped}
    assert "not a W&B run file" in reasons["run-garbage1.wandb"]
    assert "no run-*.wandb file" in reasons["run-20200101_000001-nofile1"]


def test_wandb_folder_without_runs_is_refused(tmp_path: Path) -> None:
    from labbook.importers import wandb

    with pytest.raises(BadInput, match="no W&B runs in") as err:
        wandb.read(tmp_path)
    assert "\n" not in str(err.value)
    with pytest.raises(BadInput, match="does not exist"):
        wandb.read(tmp_path / "wandb")


# -- both -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("module", "extra"), [("mlflow", "mlflow"), ("wandb", "wandb")])
def test_missing_tool_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str, extra: str
) -> None:
    import importlib

    reader = importlib.import_module(f"labbook.importers.{module}")
    for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # what `import mlflow` meets when it is not installed
    with pytest.raises(BadInput, match=rf"pip install 'labbook\[{extra}\]'"):
        reader.read(str(tmp_path))


def _digest(path: Path) -> bytes:
    import hashlib

    return hashlib.sha256(path.read_bytes()).digest()


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


# -- lab import, end to end --------------------------------------------------------


@pytest.mark.parametrize("kind", ["mlflow-sqlite", "mlflow-file", "wandb"])
def test_lab_import_writes_every_run_and_updates_them_in_place(
    sources: Sources, project: Path, kind: str
) -> None:
    """What the reader yields is what the notebook holds; importing again adds nothing."""
    from labbook.importers import mlflow, wandb
    from labbook.service.notebook import Notebook

    from .conftest import lab

    tool, _, store = kind.partition("-")
    source = _mlflow_source(sources, store) if tool == "mlflow" else str(sources.wandb)
    expected, _ = _split(list((mlflow if tool == "mlflow" else wandb).read(source)))
    first = lab("import", tool, source, "-q", "--tag", "imported")
    assert first.exit_code == 0, first.output
    assert (
        f"imported {len(expected)} run" in first.output
        and f"({len(expected)} new, 0 updated)" in first.output
    )
    with Notebook.open(project) as nb:
        runs = {r.uid: nb.get_run(r.id) for r in nb.list_runs()[0]}
        assert len(runs) == len(expected)
        for want in expected.values():
            got = next(r for r in runs.values() if r.capture["import"]["id"] == want.source_id)
            assert (got.name, got.status, got.source) == (want.name, want.status, tool)
            assert set(got.tags) == {*want.tags, "imported"}
            for s in want.series:
                stored = nb.series(got, s.key)
                assert stored.steps.tolist() == list(s.steps)
                np.testing.assert_array_equal(stored.values, np.asarray(s.values))
    again = lab("import", tool, source, "-q")
    assert again.exit_code == 0 and f"(0 new, {len(expected)} updated)" in again.output
    with Notebook.open(project) as nb:
        assert sorted(r.id for r in nb.list_runs()[0]) == sorted(r.id for r in runs.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mlflow", "sqlite:///nowhere/mlflow.db"], "no MLflow database"),
        (["wandb", "nowhere"], "nowhere"),
    ],
)
def test_lab_import_of_a_missing_source_is_one_line_exit_2(
    project: Path, args: list[str], message: str
) -> None:
    from .conftest import lab

    result = lab("import", *args, "-q")
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, (
        result.output
    )
