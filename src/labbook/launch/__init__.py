"""Launchers: how a run's command is started (here, in a local pool, on Slurm)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


def settle_jobs(notebook: Notebook) -> None:
    """Settle runs whose cluster job ended without them; Slurm is imported only when some are queued."""
    from labbook.launch.slurm import settle_unfinished

    settle_unfinished(notebook)
