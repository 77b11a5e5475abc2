"""The integrations stay out of the way: ``import labbook`` never loads a framework, and a missing
framework says what to install. Each framework's own tests are in ``test_integrations_*.py``."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

FRAMEWORKS = ("torch", "lightning", "pytorch_lightning", "transformers", "keras")


def test_import_labbook_loads_no_framework() -> None:
    code = (
        "import sys, labbook, labbook.integrations\n"
        "labbook.init, labbook.current\n"
        f"print([m for m in {FRAMEWORKS!r} if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [
        ("lightning", "lightning.pytorch.loggers.logger", "lightning"),
        ("pytorch_lightning", "pytorch_lightning.loggers.logger", "lightning"),
        ("hf", "transformers", "hf"),
        ("keras", "keras", "keras"),
    ],
)
def test_a_missing_framework_says_what_to_install(
    module: str, framework: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, framework, None)  # what Python does for a package that is not there
    monkeypatch.delitem(sys.modules, f"labbook.integrations.{module}", raising=False)
    with pytest.raises(ImportError, match=rf"pip install 'labbook\[{extra}\]'"):
        importlib.import_module(f"labbook.integrations.{module}")
