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
    """Adapters → launch / tracking / views → service → store → core / formats / records → errors,
    and inside the store: postgres → sqlite → the shared SQL repositories.

    Checked on every import, at module level or inside functions (import-linter's layers
    contract in ``.importlinter``): a lower layer that reaches up fails the suite.
    """
    linter = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run(
        [linter, "--config", str(ROOT / ".importlinter")], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_mypy_strict_passes_on_the_package() -> None:
    proc = _mypy()  # [tool.mypy] in pyproject.toml: strict, over src/labbook
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_user_code_type_checks_against_the_sdk(tmp_path: Path) -> None:
    """``import labbook; labbook.init(...)`` passes mypy --strict: the SDK's names are explicit re-exports."""
    script = tmp_path / "train.py"
    script.write_text(
        "import labbook\n\n"
        "def main() -> None:\n"
        "    with labbook.init(config={'lr': 0.1}, tags=['baseline']) as run:\n"
        "        run.log({'loss': 0.5}, step=0)\n"
        "        labbook.log({'acc': 0.9})\n"
        "        run.summary['best'] = 0.9\n"
        "    cfg: dict[str, object] = labbook.config()\n"
        "    print(cfg, labbook.current(), labbook.LabbookError)\n"
    )
    proc = _mypy("--strict", "--config-file", "/dev/null", str(script))
    assert proc.returncode == 0, proc.stdout + proc.stderr
