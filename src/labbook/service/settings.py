"""Notebook settings (``lab settings``): what a user would otherwise repeat on every command.

A setting is a family and, for some families, a name: ``parse.NAME`` holds a ``--parse``
pattern saved for reuse (``lab run --parse NAME``). Each family checks its value before
anything is stored, with the same check the command using it would make.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labbook.core.lineparse import LinePattern, compile_pattern
from labbook.errors import BadInput, NotFound

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

PARSE = "parse"


def _parse_setting(values: list[str]) -> tuple[str, Any]:
    if len(values) != 2 or not values[0].strip():
        raise BadInput("give a name and a pattern: lab settings set parse NAME REGEX")
    name, text = values[0].strip(), values[1]
    if "." in name:
        raise BadInput(f"a pattern name cannot hold '.': {name!r}")
    compile_pattern(text)
    return f"{PARSE}.{name}", text


#: family → (how to check its values and name its key, what it is for)
FAMILIES: dict[str, tuple[Callable[[list[str]], tuple[str, Any]], str]] = {
    PARSE: (_parse_setting, "a --parse pattern for lab run, saved under a name"),
}


class Settings:
    """The settings part of the notebook service (``notebook.settings``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.store = notebook.store

    def set(self, family: str, values: list[str]) -> tuple[str, Any]:
        """Check and store a setting; returns its key and value."""
        found = FAMILIES.get(family)
        if found is None:
            raise BadInput(f"no setting called {family!r}; settings: {', '.join(sorted(FAMILIES))}")
        key, value = found[0](values)
        self.store.settings.set_setting(key, value)
        return key, value

    def get(self, key: str) -> Any:
        value = self.store.settings.get_setting(key)
        if value is None:
            raise NotFound(f"no setting {key!r}; lab settings ls lists them")
        return value

    def unset(self, key: str) -> None:
        if not self.store.settings.unset_setting(key):
            raise NotFound(f"no setting {key!r}; lab settings ls lists them")

    def all(self) -> dict[str, Any]:
        return self.store.settings.settings()

    def patterns(self, refs: list[str]) -> list[LinePattern]:
        """``--parse`` values as patterns: a saved name, or a regular expression itself."""
        saved = self.store.settings.settings(f"{PARSE}.") if refs else {}
        out = []
        for ref in refs:
            text = saved.get(f"{PARSE}.{ref}")
            if text is None and ref.isidentifier() and "(?P<" not in ref:
                names = ", ".join(k.split(".", 1)[1] for k in saved) or "none yet"
                raise BadInput(
                    f"--parse {ref!r} is neither a saved pattern (saved: {names}) nor a regex with named groups"
                )
            out.append(compile_pattern(text if text is not None else ref))
        return out
