"""What ``lab run`` reads from unchanged code: TensorBoard event files and ``--parse`` lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from labbook.service.notebook import Notebook

from .conftest import lab, lab_proc

PY = sys.executable

TBX_SCRIPT = """
import os, signal, sys
from tensorboardX import SummaryWriter
import numpy as np
w = SummaryWriter(sys.argv[1])
for i in range(int(sys.argv[2])):
    w.add_scalar("Loss/train", 1.0 / (i + 1), i)
    if i % 10 == 0:
        w.add_scalar("Loss/test", 2.0 / (i + 1), i)
        w.add_histogram("weights", np.arange(5.0), i)
w.flush()
if sys.argv[3] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
w.close()
"""


def script(project: Path, body: str, name: str = "train.py") -> Path:
    path = project / name
    path.write_text(textwrap.dedent(body))
    return path


def record(project: Path, ref: int = 1):
    with Notebook.open(project) as nb:
        run = nb.get_run(ref)
        return run, {k: nb.series(run, k) for k in run.metrics}


def expected(n: int, every: int = 1, scale: float = 1.0) -> tuple[list[int], np.ndarray]:
    steps = list(range(0, n, every))
    return steps, np.array([scale / (i + 1) for i in steps], dtype=np.float32).astype(np.float64)


def test_scalars_of_event_files_the_command_writes_become_metrics(project: Path) -> None:
    """Every point with its step, float32 as TensorBoard stores it; histograms counted, not stored."""
    script(project, TBX_SCRIPT)
    proc = lab_proc("run", "--", PY, "train.py", "logs/exp", "300", "live", cwd=project)
    assert proc.returncode == 0, proc.stderr
    run, series = record(project)
    assert run.status == "finished" and set(run.metrics) == {"Loss/train", "Loss/test"}
    steps, values = expected(300)
    assert series["Loss/train"].steps.tolist() == steps
    assert series["Loss/train"].values.tolist() == values.tolist()
    steps, values = expected(300, every=10, scale=2.0)
    assert (
        series["Loss/test"].steps.tolist() == steps and series["Loss/test"].values.tolist() == values.tolist()
    )
    followed = run.capture["tensorboard"]
    assert followed["points"] == 330 and followed["files"][0]["not stored"] == {"histograms": {"weights": 30}}
    shown = lab("--dir", str(project), "show", "1").output
    assert "330 points from 1 event file(s)" in shown and "histograms not stored: weights (30)" in shown


def tensorboard_reads(folder: Path, tag: str) -> list[tuple[int, float]]:
    """What TensorBoard's own loader finds in the event files: the ground truth."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    points = []
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for v in event.summary.value:
                if v.tag == tag:
                    points.append((event.step, float(tensor_util.make_ndarray(v.tensor))))
    return points


def test_a_killed_command_keeps_what_reached_the_disk(project: Path) -> None:
    script(project, TBX_SCRIPT)
    proc = lab_proc("run", "--", PY, "train.py", "logs", "400", "die", cwd=project)
    assert proc.returncode == 128 + 9
    run, series = record(project)
    assert run.status == "crashed"
    on_disk = tensorboard_reads(project / "logs", "Loss/train")
    assert len(on_disk) > 100
    got = series["Loss/train"]
    assert list(zip(got.steps.tolist(), got.values.tolist(), strict=True)) == on_disk


def test_event_files_older_than_the_run_are_not_its_own(project: Path) -> None:
    script(project, TBX_SCRIPT)
    assert lab_proc("run", "--", PY, "train.py", "logs", "50", "live", cwd=project).returncode == 0
    assert lab_proc("run", "--", PY, "train.py", "logs", "20", "live", cwd=project).returncode == 0
    second, _ = record(project, 2)
    assert second.metrics["Loss/train"].count == 20 and len(second.capture["tensorboard"]["files"]) == 1


def test_runs_of_a_parallel_sweep_in_one_folder_keep_their_own_points(project: Path) -> None:
    """Both write event files below the same working directory at the same time."""
    script(
        project,
        """
        import os, sys, time
        from pathlib import Path
        from tensorboardX import SummaryWriter
        from labbook.service.notebook import Notebook
        from labbook.formats.tfevents import EventReader
        w = SummaryWriter(f"logs/seed{sys.argv[1]}")
        w.add_scalar("value", float(sys.argv[1]), 0)
        deadline = time.monotonic() + 120
        path = next(Path(f"logs/seed{sys.argv[1]}").glob("events.out.tfevents.*"))
        while not EventReader(path).read():  # tensorboardX writes from a thread of its own
            assert time.monotonic() < deadline
            w.flush()
            time.sleep(0.05)
        with Notebook.open() as nb:  # lab run has read the file: its writer was seen holding it
            deadline = time.monotonic() + 120
            while "value" not in nb.get_run(os.environ["LABBOOK_RUN_ID"]).metrics:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        for i in range(1, 40):
            w.add_scalar("value", float(sys.argv[1]), i)
        w.close()
        """,
    )
    proc = lab_proc("run", "+seed=1,2", "--parallel", "2", "--", PY, "train.py", "{seed}", cwd=project)
    assert proc.returncode == 0, proc.stderr
    with Notebook.open(project) as nb:
        runs = nb.list_runs()[0]
        for run in runs:
            values = nb.series(run, "value").values
            assert len(values) == 40 and set(values.tolist()) == {float(run.params["seed"])}


def test_a_second_folder_of_event_files_gets_its_path_as_prefix(project: Path) -> None:
    """Keras writes train/ and validation/ with the same tags: two metrics, never one mixed."""
    script(
        project,
        """
        from tensorboardX import SummaryWriter
        train, val = SummaryWriter("logs/train"), SummaryWriter("logs/validation")
        for epoch in range(5):
            train.add_scalar("epoch_loss", 1.0 + epoch, epoch)
            val.add_scalar("epoch_loss", 10.0 + epoch, epoch)
        train.close(); val.close()
        """,
    )
    assert lab_proc("run", "--", PY, "train.py", cwd=project).returncode == 0
    _, series = record(project)
    assert series["epoch_loss"].values.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert series["validation/epoch_loss"].values.tolist() == [10.0, 11.0, 12.0, 13.0, 14.0]


def test_logdir_follows_a_folder_outside_the_working_directory(project: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    script(project, TBX_SCRIPT)
    args = ["run", "--logdir", str(elsewhere), "--", PY, "train.py", str(elsewhere / "x"), "15", "live"]
    assert lab_proc(*args, cwd=project).returncode == 0
    run, _ = record(project)
    assert run.metrics["Loss/train"].count == 15


def test_no_tensorboard_leaves_event_files_alone(project: Path) -> None:
    script(project, TBX_SCRIPT)
    assert (
        lab_proc(
            "run", "--no-tensorboard", "--", PY, "train.py", "logs", "15", "live", cwd=project
        ).returncode
        == 0
    )
    run, _ = record(project)
    assert run.metrics == {} and "tensorboard" not in run.capture


def test_torch_utils_tensorboard_as_makemore_uses_it(project: Path) -> None:
    script(
        project,
        """
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(log_dir="out")
        for step in range(0, 50, 10):
            writer.add_scalar("Loss/train", 3.0 - step / 100, step)
            writer.add_scalar("Loss/test", 3.5 - step / 100, step)
            writer.flush()
        """,
    )
    assert lab_proc("run", "--", PY, "train.py", cwd=project, timeout=300).returncode == 0
    _, series = record(project)
    assert series["Loss/test"].steps.tolist() == [0, 10, 20, 30, 40]
    assert series["Loss/train"].values.tolist() == pytest.approx([3.0, 2.9, 2.8, 2.7, 2.6], rel=1e-6)
    assert lab_proc("run", "--", PY, "train.py", cwd=project, timeout=300).returncode == 0
    compared = lab("--dir", str(project), "compare", "1", "2", "--metric", "Loss/test")
    assert compared.exit_code == 0 and "Loss/test" in compared.output, compared.output


# -- --parse ------------------------------------------------------------------

PRINTS = r"""
import subprocess
import sys
for i in range(5):
    print(f"step {i} | loss {1 / (i + 1):.4f} | acc {i / 10:.2f}", flush=True)
    print(f"epoch {i} val_loss={2 / (i + 1):.3f}", file=sys.stderr, flush=True)
sys.stderr.write("".join(f"\r{k}/3 it [lr {k / 100:.2f}]" for k in range(1, 4)) + "\n")
print("step 9 | loss nan-ish | acc 0.99")
"""


def test_parse_turns_matching_lines_of_both_streams_into_metrics(project: Path) -> None:
    script(project, PRINTS)
    proc = lab_proc(
        "run",
        "--parse", r"step (?P<step>\d+) \| loss (?P<train__loss>\S+) \| acc (?P<acc>[0-9.]+)",
        "--parse", r"val_loss=(?P<val__loss>[0-9.]+)",
        "--parse", r"\[lr (?P<lr>[0-9.]+)\]",
        "--", PY, "train.py",
        cwd=project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "step 0 | loss 1.0000" in proc.stdout  # the output itself is untouched
    _, series = record(project)
    assert series["train/loss"].steps.tolist() == [0, 1, 2, 3, 4]
    assert series["train/loss"].values.tolist() == [1.0, 0.5, 0.3333, 0.25, 0.2]
    assert series["acc"].steps.tolist() == [0, 1, 2, 3, 4, 9]  # "nan-ish" is not a number: loss left out
    assert series["val/loss"].values.tolist() == [2.0, 1.0, 0.667, 0.5, 0.4]
    assert series["lr"].values.tolist() == [0.01, 0.02, 0.03]  # each \r redraw of a progress bar


def test_a_saved_pattern_is_used_by_name(project: Path) -> None:
    saved = lab(
        "--dir",
        str(project),
        "settings",
        "set",
        "parse",
        "steploss",
        r"step (?P<step>\d+) \| loss (?P<loss>\S+)",
    )
    assert saved.exit_code == 0 and saved.output.startswith("parse.steploss = ")
    assert (
        lab("--dir", str(project), "settings", "get", "parse", "steploss")
        .output.strip()
        .startswith("step (?P<step>")
    )
    script(project, PRINTS)
    assert lab_proc("run", "--parse", "steploss", "--", PY, "train.py", cwd=project).returncode == 0
    run, _ = record(project)
    assert run.metrics["loss"].count == 5
    assert lab("--dir", str(project), "settings", "unset", "parse", "steploss").exit_code == 0
    assert lab("--dir", str(project), "settings", "ls").output.startswith("no settings yet")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"loss [0-9.]+", "has no named groups"),
        (r"step (?P<step>\d+)", "has only a step group"),
        (r"loss (?P<val/loss>[0-9.]+)", "bad character in group name"),
        (r"loss (?P<loss>[0-9.]+", "is not a valid regular expression"),
        ("nosuchname", "is neither a saved pattern"),
    ],
)
def test_bad_parse_patterns_are_one_line_exit_2_and_no_run(project: Path, pattern: str, message: str) -> None:
    proc = lab_proc("run", "--parse", pattern, "--", PY, "-c", "pass", cwd=project)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    with Notebook.open(project) as nb:
        assert nb.list_runs()[1] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "parse", "onlyname"], "give a name and a pattern"),
        (["set", "parse", "x", "no groups"], "has no named groups"),
        (["set", "colour", "x"], "no setting called 'colour'; settings: "),
        (["get", "parse", "missing"], "parse.missing is not set"),
        (["unset", "parse", "missing"], "parse.missing is not set"),
    ],
)
def test_bad_settings_are_one_line_exit_2_and_store_nothing(
    project: Path, args: list[str], message: str
) -> None:
    result = lab("--dir", str(project), "settings", *args)
    assert result.exit_code == 2 and message in result.output, result.output
    with Notebook.open(project) as nb:
        assert nb.settings.all() == {}


# -- untracked files ------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True)


def _files(folder: Path, n: int, suffix: str = ".py") -> None:
    for i in range(n):
        sub = folder / f"pkg{i // 100}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"m{i}{suffix}").write_text("")


@pytest.fixture
def repo_with_venv(project: Path) -> Path:
    """A repository holding an unignored virtualenv of thousands of files beside real untracked files."""
    _git(project, "init", "-q", "-b", "main")
    (project / ".gitignore").write_text("*.log\n")
    script(project, "print('hi')\n")
    _git(project, "add", ".gitignore", "train.py")
    _git(project, "commit", "-q", "-m", "first")
    venv = project / ".venv"
    _files(venv / "lib" / "python3.11" / "site-packages", 5000)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    _files(project / "data", 450, ".csv")  # untracked, not an environment: counted and listed in part
    (project / "notes.txt").write_text("")
    (project / "debug.log").write_text("")  # ignored by .gitignore
    return project


def test_capture_counts_untracked_files_by_gitignore_and_sets_a_virtualenv_aside(
    repo_with_venv: Path,
) -> None:
    from labbook.tracking.capture import MAX_UNTRACKED

    first = lab_proc("run", "--", PY, "train.py", cwd=repo_with_venv)
    assert first.returncode == 0, first.stderr
    hints = [line for line in first.stderr.splitlines() if ".gitignore" in line]
    assert hints == [
        f"labbook: .venv/ in {repo_with_venv} looks like a Python environment that git does not ignore; "
        "add .venv/ to .gitignore (runs leave it out of their untracked files)"
    ]
    git = record(repo_with_venv)[0].capture["git"]
    assert git["untracked_count"] == 451 and git["untracked_envs"] == [".venv/"]
    assert len(git["untracked"]) == MAX_UNTRACKED and git["untracked"][0].startswith("data/pkg0/")
    assert not any(p.startswith(".venv") or p.endswith(".log") for p in git["untracked"])
    # the hint is said once for this environment, not on every run
    second = lab_proc("run", "--", PY, "train.py", cwd=repo_with_venv)
    assert second.returncode == 0 and ".gitignore" not in second.stderr
    shown = lab("--dir", str(repo_with_venv), "show", "2")
    assert shown.exit_code == 0, shown.output
    assert "451 untracked files; untracked environment .venv/" in shown.output
    assert "data/pkg0/m0.csv, data/pkg0/m1.csv" in shown.output
    assert f"(first 5 of 451 shown; --json lists {MAX_UNTRACKED})" in shown.output


def test_an_environment_deeper_in_an_untracked_directory_is_set_aside_too(project: Path) -> None:
    from labbook.tracking.capture import git_state

    _git(project, "init", "-q", "-b", "main")
    nested = project / "envs" / "py311"
    _files(nested / "lib", 300)
    (nested / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (project / "envs" / "README").write_text("")
    (project / "notes.txt").write_text("")
    git = git_state(str(project / "envs"))
    assert git["untracked"] == ["envs/README", "notes.txt"] and git["untracked_count"] == 2
    assert git["untracked_envs"] == ["envs/py311/"] and git["repo"] == str(project)


def test_a_few_untracked_files_are_all_shown(project: Path) -> None:
    _git(project, "init", "-q", "-b", "main")
    script(project, "print('hi')\n")
    (project / "notes.txt").write_text("")
    assert lab_proc("run", "-q", "--", PY, "train.py", cwd=project).returncode == 0
    git = record(project)[0].capture["git"]
    assert git["untracked"] == ["notes.txt", "train.py"] and git["untracked_count"] == 2
    assert "untracked_envs" not in git
    shown = lab("--dir", str(project), "show", "1").output
    assert "2 untracked files" in shown and "notes.txt, train.py\n" in shown and "first" not in shown
