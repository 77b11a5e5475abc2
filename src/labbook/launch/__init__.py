"""Launchers: how a run's command is started (here, in a local pool, on Slurm, on Ray)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


def settle_jobs(notebook: Notebook) -> None:
    """Settle runs whose cluster job ended without them; these modules load only when some are queued.

    Neither imports its cluster's client here: Slurm asks ``sacct``, Ray only whether the
    driver still lives.
    """
    from labbook.launch import ray, slurm

    slurm.settle_unfinished(notebook)
    ray.settle_unfinished(notebook)
