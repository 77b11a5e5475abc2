"""The logging SDK: runs, metrics, summaries, statuses, the current run, bad values."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import labbook
from labbook.errors import BadInput, MetricValueError, NotebookNotFound
from labbook.service.notebook import Notebook


def read(project: Path, ref: int):
    with Notebook.open(project) as nb:
        return nb.get_run(ref)


def test_logged_points_come_back_exactly(project: Path) -> None:
    with labbook.init(config={"lr": 3e-4, "model": {"depth": 4}}, name="a", tags=["t1"]) as run:
        for i in range(1000):
            run.log({"loss": 1 / (i + 1), "acc": i / 1000}, step=i)
    rec = read(project, run.id)
    assert rec.status == "finished" and rec.name == "a" and rec.tags == ("t1",)
    assert rec.params == {"lr": 3e-4, "model.depth": 4}
    with Notebook.open(project) as nb:
        s = nb.series(rec, "loss")
    assert s.steps.tolist() == list(range(1000))
    assert s.values.tolist() == [1 / (i + 1) for i in range(1000)]
    m = rec.metrics["loss"]
    assert (m.count, m.last, m.min, m.max) == (1000, 1 / 1000, 1 / 1000, 1.0)


def test_nan_and_infinities_are_kept_and_do_not_crash(project: Path) -> None:
    with labbook.init() as run:
        run.log({"x": 1.0})
        run.log({"x": math.nan})
        run.log({"x": math.inf})
        run.log({"x": -math.inf})
    rec = read(project, run.id)
    with Notebook.open(project) as nb:
        values = nb.series(rec, "x").values
    assert values[0] == 1.0 and math.isnan(values[1]) and values[2] == math.inf and values[3] == -math.inf
    m = rec.metrics["x"]
    assert (m.count, m.nan_count, m.min, m.max, m.last) == (4, 1, -math.inf, math.inf, -math.inf)


def test_steps_default_to_one_past_the_last(project: Path) -> None:
    with labbook.init() as run:
        run.log({"a": 1})
        run.log({"a": 2})
        run.log({"a": 3}, step=10)
        run.log({"a": 4})
    with Notebook.open(project) as nb:
        assert nb.series(nb.get_run(run.id), "a").steps.tolist() == [0, 1, 10, 11]


def test_numpy_scalars_and_bools_are_numbers(project: Path) -> None:
    with labbook.init() as run:
        run.log({"a": np.float32(0.5), "b": np.int64(3), "c": True, "d": np.array(2.0)}, step=np.int64(7))
    m = read(project, run.id).metrics
    assert (m["a"].last, m["b"].last, m["c"].last, m["d"].last, m["a"].last_step) == (0.5, 3, 1, 2, 7)


@pytest.mark.parametrize("value", ["0.3", None, [1, 2], {"a": 1}, np.ones(3), 1 + 2j])
def test_non_numeric_values_get_a_clear_error_and_the_run_goes_on(project: Path, value) -> None:
    with labbook.init() as run:
        run.log({"ok": 1.0})
        with pytest.raises(MetricValueError, match="metric 'bad'"):
            run.log({"bad": value})
        run.log({"ok": 2.0})
    assert read(project, run.id).metrics["ok"].count == 2


NUMPY_DTYPES = [
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "bool",
]  # fmt: skip


def test_numpy_scalars_of_every_numeric_dtype_are_numbers(
    project: Path, recwarn: pytest.WarningsRecorder
) -> None:
    """Scalars, 0-d arrays and one-element arrays, as metrics computed with numpy come out."""
    with labbook.init() as run:
        for i, dtype in enumerate(NUMPY_DTYPES):
            one = np.ones((), dtype=dtype)
            run.log({f"{dtype}.scalar": one[()], f"{dtype}.0d": one, f"{dtype}.1": one.reshape(1)}, step=i)
    assert not recwarn.list
    m = read(project, run.id).metrics
    assert len(m) == 3 * len(NUMPY_DTYPES)
    assert {(k, v.count, v.last) for k, v in m.items()} == {(k, 1, 1.0) for k in m}


def test_torch_tensors_of_every_numeric_dtype_are_numbers(
    project: Path, recwarn: pytest.WarningsRecorder
) -> None:
    torch = pytest.importorskip("torch")
    dtypes = [
        torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.uint16, torch.uint32,
        torch.uint64, torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.bool,
    ]  # fmt: skip
    with labbook.init() as run:
        for dtype in dtypes:
            name = str(dtype).removeprefix("torch.")
            run.log({f"{name}.0d": torch.tensor(1, dtype=dtype), f"{name}.1": torch.ones(1, dtype=dtype)})
    assert not recwarn.list
    m = read(project, run.id).metrics
    assert len(m) == 2 * len(dtypes) and {v.last for v in m.values()} == {1.0}


def test_a_tensor_that_requires_grad_is_logged_without_a_warning(project: Path) -> None:
    """torch warns once per process when such a tensor becomes a float, so a fresh process
    shows it: with warnings as errors the run finishes, and the warning is still unspent."""
    pytest.importorskip("torch")
    _script(
        project,
        """
        import warnings
        import torch
        import labbook

        w = torch.tensor(2.0, requires_grad=True)
        loss, acc = w * 0.25, (w * 0.5).reshape(1)
        with labbook.init() as run:
            run.log({"loss": loss, "acc": acc}, step=3)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            float(loss)
        assert len(caught) == 1 and "requires_grad" in str(caught[0].message)
        """,
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error", "script.py"], cwd=project, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr
    rec = read(project, 1)
    with Notebook.open(project) as nb:
        assert nb.series(rec, "loss").values.tolist() == [0.5]
        assert nb.series(rec, "acc").steps.tolist() == [3]
    assert rec.status == "finished" and rec.metrics["acc"].last == 1.0


def test_a_tensor_of_many_elements_is_refused_naming_the_key_and_shape(project: Path) -> None:
    torch = pytest.importorskip("torch")
    with labbook.init() as run:
        with pytest.raises(MetricValueError, match=r"metric 'loss' got Tensor of shape \(4, 2\)"):
            run.log({"ok": 1.0, "loss": torch.ones(4, 2, requires_grad=True)})
        with pytest.raises(MetricValueError, match=r"metric 'empty' got ndarray of shape \(0,\)"):
            run.log({"empty": np.ones(0)})
        run.log({"ok": 2.0})
    m = read(project, run.id).metrics
    assert set(m) == {"ok"} and m["ok"].count == 1 and m["ok"].last == 2.0


def test_a_call_with_one_bad_value_logs_none_of_its_values(project: Path) -> None:
    """Nothing half-written: the good values beside a bad one are not kept, nor is the step used."""
    with labbook.init() as run:
        run.log({"a": 1.0, "b": 1.0})
        with pytest.raises(MetricValueError, match="metric 'bad'"):
            run.log({"a": 2.0, "new": 5.0, "bad": "text", "c": 3.0})
        with pytest.raises(MetricValueError, match="metric name"):
            run.log({"b": 2.0, "": 1.0})
        run.log({"a": 3.0, "b": 3.0})
    rec = read(project, run.id)
    assert set(rec.metrics) == {"a", "b"}
    with Notebook.open(project) as nb:
        a, b = nb.series(rec, "a"), nb.series(rec, "b")
    assert a.values.tolist() == [1.0, 3.0] and a.steps.tolist() == [0, 1]
    assert b.values.tolist() == [1.0, 3.0] and b.steps.tolist() == [0, 1]


@pytest.mark.parametrize(("data", "step"), [({"": 1.0}, None), ({3: 1.0}, None), ({"a": 1.0}, "five")])
def test_bad_names_and_steps_are_refused(project: Path, data, step) -> None:
    with labbook.init() as run, pytest.raises(MetricValueError):
        run.log(data, step=step)


def test_exception_in_with_block_marks_failed(project: Path) -> None:
    with pytest.raises(ZeroDivisionError), labbook.init() as run:
        run.log({"a": 1})
        1 / 0  # noqa: B018
    assert read(project, run.id).status == "failed"


def test_summary_holds_metric_summaries_and_user_values(project: Path) -> None:
    with labbook.init() as run:
        run.log({"loss": 2.0})
        run.log({"loss": 1.0})
        run.summary["best_acc"] = 0.93
        run.summary["model"] = "resnet"
        assert run.summary["loss"]["min"] == 1.0 and run.summary["loss"]["count"] == 2
        assert run.summary["best_acc"] == 0.93
        assert set(run.summary) == {"loss", "best_acc", "model"}
    rec = read(project, run.id)
    assert rec.summary == {"best_acc": 0.93, "model": "resnet"}


def test_params_logged_after_init_join_the_run_and_bad_ones_write_nothing(project: Path) -> None:
    """Frameworks learn their hyperparameters after the run starts; they are params like any other."""
    with labbook.init(config={"lr": 0.1}) as run:
        run.log_params({"optim": {"lr": 1e-3, "betas": [0.9, 0.99]}, "lr": 0.2})
        with pytest.raises(BadInput, match="name"):
            run.log_params({"ok": 1, "bad\ud800": 2})
        with pytest.raises(BadInput, match="mapping"):
            run.log_params([("a", 1)])  # type: ignore[arg-type]
    rec = read(project, run.id)
    assert rec.params == {"lr": 0.2, "optim.lr": 1e-3, "optim.betas": [0.9, 0.99]}


def test_module_level_log_writes_to_the_current_run(project: Path) -> None:
    with pytest.raises(BadInput, match=r"labbook\.init"):
        labbook.log({"a": 1})
    outer = labbook.init(name="outer")
    labbook.log({"a": 1})
    with labbook.init(name="inner") as inner:
        labbook.log({"b": 1})
        assert labbook.current() is inner
    labbook.log({"a": 2})
    outer.finish()
    assert read(project, outer.id).metrics["a"].count == 2
    assert set(read(project, inner.id).metrics) == {"b"}


def test_init_without_a_notebook_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotebookNotFound, match="lab init"):
        labbook.init()


def test_capture_is_recorded_for_standalone_runs(project: Path) -> None:
    with labbook.init() as run:
        pass
    cap = read(project, run.id).capture
    assert cap["python"]["version"] == sys.version.split()[0]
    assert cap["git"]["repo"] is None
    assert "numpy==" in Notebook.open(project).blob(cap["packages"])


def _script(project: Path, body: str) -> Path:
    path = project / "script.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_a_script_that_exits_normally_is_finished(project: Path) -> None:
    _script(
        project,
        """
        import labbook
        run = labbook.init(name="plain")
        for i in range(100):
            run.log({"x": i})
    """,
    )
    subprocess.run([sys.executable, "script.py"], cwd=project, check=True)
    rec = read(project, 1)
    assert rec.status == "finished" and rec.metrics["x"].count == 100 and rec.source == "sdk"


def test_a_script_that_dies_of_an_exception_is_failed(project: Path) -> None:
    _script(
        project,
        """
        import labbook
        run = labbook.init()
        labbook.log({"x": 1})
        raise RuntimeError("boom")
    """,
    )
    proc = subprocess.run([sys.executable, "script.py"], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 1 and "RuntimeError: boom" in proc.stderr
    rec = read(project, 1)
    assert rec.status == "failed" and rec.metrics["x"].count == 1


def test_standalone_runs_sample_system_metrics(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABBOOK_SYSTEM_INTERVAL", "0.2")
    import time

    with labbook.init() as run:
        end = time.time() + 1.5
        while time.time() < end:
            run.log({"x": 1.0})
    m = read(project, run.id).metrics
    assert m["sys/cpu_percent"].count >= 1 and m["sys/rss_mb"].min > 10
    assert m["x"].count > 100  # the user's own step counter is untouched by the samples


PRINTER = textwrap.dedent("""
    import labbook
    run = labbook.init()  # the environment is captured in a background thread from here
    for i in range(20000):
        print("line", i)
    run.finish()
""")


def test_what_the_script_prints_while_the_environment_is_captured_reaches_stdout(project: Path) -> None:
    (project / "printer.py").write_text(PRINTER)
    proc = subprocess.run(
        [sys.executable, "printer.py"], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.splitlines() == [f"line {i}" for i in range(20000)]
    with Notebook.open(project) as nb:
        assert nb.store.runs.get_run(1).capture.get("packages")  # and the capture itself worked
