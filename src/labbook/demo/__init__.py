"""``lab demo``: a real small experiment, run through ``lab run`` in a throwaway notebook.

Two variants of logistic regression (raw and standardised features), several seeds
each. Before any run, each variant gets a hypothesis and predictions tied to its
metric; the runs resolve them. Every number the demo prints comes from the runs it has
just made.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from labbook.errors import BadInput
from labbook.launch.sweep import SweepResult
from labbook.service.forecast import Forecast
from labbook.service.notebook import Notebook

SCRIPT = Path(__file__).with_name("experiment.py")
CONFIG = """\
# logistic regression on generated data; lab demo sweeps seed and scale
seed: 0
scale: false
lr: 0.5
steps: 400
"""


def _git(directory: Path, *args: str) -> None:
    ident = ["-c", "user.name=labbook demo", "-c", "user.email=demo@labbook.invalid"]
    subprocess.run(["git", *ident, *args], cwd=directory, capture_output=True, check=False)


def prepare(directory: Path | None) -> tuple[Path, Notebook]:
    """A project holding the experiment and a notebook, committed to git when git exists."""
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="labbook-demo-"))
    directory = directory.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "experiment.py"
    fresh = not target.exists()
    if fresh:
        shutil.copyfile(SCRIPT, target)
        (directory / "config.yaml").write_text(CONFIG)
    use_git = fresh and shutil.which("git") is not None
    if use_git:
        _git(directory, "init", "-q")
    notebook, _, _ = Notebook.init(directory)  # adds .labbook/ to .gitignore in a repository
    if use_git:
        _git(directory, "add", "experiment.py", "config.yaml", ".gitignore")
        _git(directory, "commit", "-q", "-m", "demo experiment")
    return directory, notebook


#: What the demo believes before it runs anything: (variant, hypothesis, predictions).
BELIEFS = {
    "scaled": (
        "With standardised features one learning rate suits every weight, so gradient descent "
        "reaches validation accuracy above 0.85",
        [
            (
                "mean val_acc over the seeds ends above 0.85",
                Forecast(p=0.7, metric="val_acc", op=">", value=0.85),
            ),
            (
                "mean val_acc lands in [0.84, 0.90]",
                Forecast(low=0.84, high=0.90, level=0.8, point=0.87, metric="val_acc"),
            ),
            (
                "standardising adds at least 10 points of val_acc over raw features",
                Forecast(p=0.75, metric="val_acc", diff=("scale=true", "scale=false"), op=">=", value=0.1),
            ),
        ],
    ),
    "plain": (
        "On raw features spanning four orders of magnitude, the same learning rate overshoots on the "
        "large ones and accuracy stays below 0.75",
        [
            (
                "mean val_acc over the seeds stays below 0.75",
                Forecast(p=0.6, metric="val_acc", op="<", value=0.75),
            )
        ],
    ),
}


#: The problem both hypotheses bear on; they name it by title, which links them to it.
PROBLEM = (
    "optimisation on badly scaled inputs",
    "features on wildly different scales make one learning rate wrong for most weights",
    "standardise the inputs and compare against raw features over several seeds",
)


def problem_command() -> list[str]:
    """The ``lab problems add`` a user would type for the demo's problem (shown by the demo)."""
    title, why, attack = PROBLEM
    return ["lab", "problems", "add", title, "--why", why, "--attack", attack]


def add_problem(notebook: Notebook) -> str:
    """Put the demo's problem on the list before any hypothesis; returns its ref."""
    problem, _ = notebook.problems.add(*PROBLEM)
    return problem.ref


def _record_beliefs(notebook: Notebook, seeds: int) -> dict[str, str]:
    """Write the hypotheses and predictions down before any run exists; returns variant → H ref."""
    refs = {}
    for variant, (text, predictions) in BELIEFS.items():
        hyp = notebook.hypotheses.add(text, problem=PROBLEM[0], tags=("demo",))
        for words, forecast in predictions:
            notebook.hypotheses.predict(hyp.ref, words, replace(forecast, min_runs=seeds))
        refs[variant] = hyp.ref
    return refs


def sweep_command(variant: str, hyp: str, seeds: int, parallel: int) -> list[str]:
    """The ``lab run`` a user would type for one variant's seed sweep (shown by the demo)."""
    seed_values = ",".join(str(s) for s in range(seeds))
    return [
        "lab",
        "run",
        "-c",
        "config.yaml",
        f"scale={'true' if variant == 'scaled' else 'false'}",
        f"seed={seed_values}",
        "--parallel",
        str(parallel),
        "-n",
        variant,
        "-t",
        "demo",
        "-t",
        variant,
        "-H",
        hyp,
        "--",
        "python",
        "experiment.py",
    ]


def run_demo(
    directory: Path | None = None,
    seeds: int = 3,
    parallel: int = 2,
    announce: Callable[[list[str]], None] | None = None,
    report: Callable[[SweepResult], None] | None = None,
) -> tuple[Notebook, list[int], dict[str, str]]:
    """Record beliefs, then sweep the seeds of each variant from ``config.yaml``, ``parallel`` at a time.

    Returns the notebook, the run ids, and the hypothesis of each variant. The
    metric-tied predictions resolve themselves as the last seed of each variant finishes.
    """
    from labbook.core.config import apply, expand, load, parse_override
    from labbook.launch.sweep import new_sweep_id, run_sweep
    from labbook.launch.sweep import prepare as prepare_jobs

    project, notebook = prepare(directory)
    add_problem(notebook)
    hyps = _record_beliefs(notebook, seeds)
    base = load(project / "config.yaml")
    ids = []
    for variant in BELIEFS:
        command = sweep_command(variant, hyps[variant], seeds, parallel)
        if announce is not None:
            announce(command)
        overrides = [parse_override(o) for o in command[4:6]]
        grid = expand(overrides)
        sweep_id = new_sweep_id()
        jobs = prepare_jobs(
            notebook,
            sweep_id,
            [apply(base, combo) for combo in grid],
            [[o.text for o in combo] for combo in grid],
            [sys.executable, "experiment.py"],
            False,
        )
        for job in jobs:
            job.options = [
                "--source-config",
                str(project / "config.yaml"),
                "-n",
                f"{variant}-s{job.index}",
                "-t",
                "demo",
                "-t",
                variant,
                "-H",
                hyps[variant],
                "--note",
                f"logistic regression, {variant} features, seed {job.index}",
            ]
        result = run_sweep(notebook, jobs, sweep_id, parallel, fail_fast=False, cwd=project)
        if report is not None:
            report(result)
        ids += [j.run_id for j in jobs if j.run_id is not None]
    return notebook, sorted(ids), hyps


def close_hypotheses(notebook: Notebook, hyps: dict[str, str]) -> None:
    """Resolve each hypothesis from its own predictions, with the numbers as the belief."""
    book = notebook.hypotheses
    for variant, ref in hyps.items():
        preds = book.predictions(book.get(ref))
        tied = [p for p in preds if p.kind == "binary" and p.resolution is not None]
        if not tied:
            continue
        p = tied[0]
        resolution = p.resolution
        assert resolution is not None and resolution.detail is not None  # a resolved prediction's evidence
        outcome = "supported" if resolution.outcome == "true" else "refuted"
        belief = f"{variant} runs averaged val_acc {resolution.value:.3f} over {len(resolution.detail['runs'])} seeds"
        book.resolve(ref, outcome, belief)


#: What the demo plans next, once scaling is known to matter: (task, p, hours).
NEXT_STEPS = [
    ("standardise the features of the real dataset and rerun the comparison", 0.7, 3.0),
    ("check which real features span several orders of magnitude", 0.9, 0.5),
]


def plan_next(notebook: Notebook, hyp: str) -> list[list[str]]:
    """Plan the next steps on the first hypothesis; returns the commands a user would type."""
    commands = []
    for text, p, hours in NEXT_STEPS:
        notebook.plan.add(text, p, hours, hyp)
        commands.append(["lab", "plan", "add", text, "-p", f"{p:g}", "--hours", f"{hours:g}", "--hyp", hyp])
    return commands


#: How the demo sorts failures without a human: a failure the true model makes too is noise
#: in the label (no model can fix it); the rest are near the boundary or confidently wrong.
PILE_RULES = [
    ("label-noise", "bayes_correct == false"),
    ("near-boundary", "bayes_correct == true and score > 0.3 and score < 0.7"),
    ("confidently-wrong", "bayes_correct == true and (score <= 0.3 or score >= 0.7)"),
]


def failure_piles(notebook: Notebook, run: str, n: int = 40, say: Callable[[str], None] = print) -> str:
    """Sample ``n`` failures of ``run`` (a run name) and fill piles by rule; returns the sample's name."""
    import shlex

    name = f"{run}-failures"
    say("$ " + shlex.join(["lab", "failures", "sample", run, "-n", str(n), "--name", name]))
    drawn = notebook.failures.sample(run, n=n, name=name)
    say(f"Sample {name}: {drawn.sample.size} of {drawn.available} failures of run {drawn.sample.run_id}")
    for pile, where in PILE_RULES:
        say("$ " + shlex.join(["lab", "failures", "rule", name, pile, "--where", where]))
        try:
            matched, _ = notebook.failures.rule(name, pile, where)
        except BadInput:  # no failure of this kind in the sample
            matched = 0
        say(f"{pile}: {matched} examples match")
    return name
