"""Planning a launch: a config and its overrides become the jobs to run, their files written.

Everything that can be wrong with a sweep (a bad override, a grid too large, a
placeholder no config fills) is found here, before any run exists; the config files of
the jobs are written only once the plan holds. Adapters (``lab run``, ``lab ablate``, a
server) plan the same way and never write into the files area themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labbook.core.config import (
    apply,
    dump,
    expand,
    load,
    parse_override,
    smoke_overrides,
    substitute,
    without_smoke,
)
from labbook.errors import BadInput, ConfigError
from labbook.launch.local import resolve_command
from labbook.launch.sweep import Job, new_sweep_id, prepare
from labbook.service.notebook import Notebook


@dataclass(frozen=True)
class RunPlan:
    """What ``lab run`` was asked for, checked: one combination or a grid of them."""

    argv: list[str]
    texts: list[list[str]]  # each combination's overrides, as typed
    configs: list[dict[str, Any]]  # each combination's resolved config; [] without a config
    smoke_config: dict[str, Any] | None  # the first combination with its smoke section applied
    pass_overrides: bool
    config_file: str | None

    @property
    def single(self) -> bool:
        return len(self.texts) == 1


def plan_runs(
    argv: list[str],
    overrides: list[str],
    config_file: str | None,
    *,
    smoke: bool = False,
    smoke_first: bool = False,
    pass_overrides: bool = False,
    max_runs: int = 100,
) -> RunPlan:
    """Expand the overrides over the config; refuse before anything is written if any part is wrong."""
    resolve_command(argv)
    parsed = [parse_override(o) for o in overrides]
    base = load(config_file) if config_file else ({} if parsed or smoke else None)
    if base is None and (smoke_first or pass_overrides):
        raise ConfigError("--smoke-first and --pass-overrides need a config (-c) or overrides")
    grid = expand(parsed) if base is not None else [[]]
    if len(grid) > max_runs:
        raise BadInput(
            f"this sweep expands to {len(grid)} runs, more than --max-runs {max_runs}; "
            "raise --max-runs if you mean it"
        )
    smokes = smoke_overrides(base) if base is not None and (smoke or smoke_first) else []
    configs = []
    smoke_config = None
    if base is not None:
        clean = without_smoke(base)
        configs = [apply(clean, combo + (smokes if smoke else [])) for combo in grid]
        smoke_config = apply(clean, grid[0] + smokes) if smoke_first else None
    check_placeholders(argv, configs)
    texts = [[o.text for o in combo] for combo in grid]
    return RunPlan(list(argv), texts, configs, smoke_config, pass_overrides, config_file)


def check_placeholders(argv: list[str], configs: list[dict[str, Any]]) -> None:
    """Every ``{key}`` of the command filled by every config, so no sweep fails halfway."""
    for config in configs:
        substitute(argv, config, Path("config.yaml"))


def child_options(
    source: str | None,
    name: str | None = None,
    tags: tuple[str, ...] = (),
    note: str | None = None,
    hypothesis: str | None = None,
) -> list[str]:
    """The ``lab run`` options that give a child run what its parent was asked to record."""
    out = ["--source-config", source] if source else []
    if name:
        out += ["-n", name]
    for tag in tags:
        out += ["-t", tag]
    if note:
        out += ["--note", note]
    if hypothesis:
        out += ["-H", hypothesis]
    return out


def source_of(config_file: str | None) -> str | None:
    """The config file as each run records it: absolute, so it still names the file from a node."""
    return str(Path(config_file).resolve()) if config_file else None


@dataclass(frozen=True)
class Labels:
    """What the user asked every run of a launch to record: its name, tags, note and hypothesis."""

    name: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    hypothesis: str | None = None
    capture: tuple[str, ...] = ()  # lab run options saying what else to read (--parse, --logdir)


@dataclass
class Batch:
    """Runs to launch together: their jobs (config files written) and what each run records."""

    jobs: list[Job]
    configs: list[dict[str, Any] | None]
    sweep_id: str | None  # the sweep the runs belong to; None for a single run
    names: list[str | None]
    tags: tuple[str, ...] = ()
    note: str | None = None
    hypothesis: str | None = None
    source: str | None = None  # the config file each run was made from
    capture: tuple[str, ...] = ()  # passed on to every child lab run


def write_batch(notebook: Notebook, plan: RunPlan, labels: Labels) -> Batch:
    """The plan's combinations as jobs, each config in ``sweeps/<id>/<i>.yaml``; a sweep numbers its names."""
    folder = new_sweep_id()
    if plan.configs:
        jobs = prepare(notebook, folder, plan.configs, plan.texts, plan.argv, plan.pass_overrides)
    else:
        jobs = [Job(0, [], None, list(plan.argv))]
    many = len(jobs) > 1
    name = labels.name
    return Batch(
        jobs,
        list(plan.configs) or [None],
        folder if many else None,
        [f"{name}-{j.index}" if name and many else name for j in jobs],
        labels.tags,
        labels.note,
        labels.hypothesis,
        source_of(plan.config_file),
        labels.capture,
    )


def write_sweep(
    notebook: Notebook,
    configs: list[dict[str, Any]],
    texts: list[list[str]],
    argv: list[str],
    names: list[str | None],
    *,
    tags: tuple[str, ...] = (),
    config_file: str | None = None,
) -> Batch:
    """Configs made elsewhere (an ablation's design) as one sweep, their files written."""
    sweep_id = new_sweep_id()
    jobs = prepare(notebook, sweep_id, configs, texts, argv, False)
    return Batch(jobs, list(configs), sweep_id, names, tags, source=source_of(config_file))


def smoke_job(notebook: Notebook, plan: RunPlan, labels: Labels) -> Job:
    """The one smoke run ``--smoke-first`` starts before the sweep: the first combination, smoke applied."""
    assert plan.smoke_config is not None
    path = dump(plan.smoke_config, notebook.root / "sweeps" / f"smoke-{new_sweep_id()}.yaml")
    texts = plan.texts[0]
    return Job(
        0,
        texts,
        path,
        plan.argv + texts if plan.pass_overrides else list(plan.argv),
        options=child_options(
            source_of(plan.config_file),
            f"{labels.name}-smoke" if labels.name else None,
            (*labels.tags, "smoke"),
            labels.note,
            labels.hypothesis,
        )
        + list(labels.capture),
    )
