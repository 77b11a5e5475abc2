"""Starting ``lab mcp``: what a person can get wrong is said at once, before the SDK loads.

The notebook and the agent's name are checked first (a second of importing the SDK
would otherwise come before the one line saying there is no notebook), then the server
is built and served over stdio until the client closes it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from labbook.errors import BadInput
from labbook.launch import settle_jobs
from labbook.service.notebook import register_job_settler
from labbook.service.place import locate


def serve(directory: str | None, agent: str) -> None:
    """Serve the notebook at (or above) ``directory`` for ``agent`` until the client closes stdin."""
    if not re.fullmatch(r"[\w.@-]+", agent):
        raise BadInput(f"--agent {agent!r}: give one word (letters, digits, . _ - @), e.g. --agent claude")
    root = locate(directory)
    try:
        from labbook.mcp.server import build
    except ImportError as err:
        raise BadInput(
            f"lab mcp needs the MCP SDK ({err.name} is missing): pip install 'labbook[mcp]'"
        ) from None
    register_job_settler(settle_jobs)
    os.environ["LABBOOK_USER"] = agent  # the service's author of every prediction, note and hypothesis
    build(root, agent, runs_cwd(root)).run("stdio")


def runs_cwd(root: Path) -> Path:
    """Where launched runs start: here when here is inside the project, else the project's top."""
    here = Path.cwd().resolve()
    return here if here.is_relative_to(root.parent) else root.parent
