"""The code base stays ruff-clean: a lint failure fails the suite, not just a pre-commit hook."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    proc = subprocess.run([ruff, "check", "--quiet", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_layers_hold() -> None:
    """Adapters → launch / tracking / views → service → store → core / formats / records → errors.

    Checked on every import, at module level or inside functions (import-linter's layers
    contract in ``.importlinter``): a lower layer that reaches up fails the suite.
    """
    linter = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run(
        [linter, "--config", str(ROOT / ".importlinter")], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kept, 0 broken" in proc.stdout
