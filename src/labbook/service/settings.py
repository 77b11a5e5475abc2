"""Notebook settings (``lab settings``): what a user would otherwise repeat on every command.

A setting is a family and, for some families, a name: ``parse.NAME`` holds a ``--parse``
pattern saved for reuse (``lab run --parse NAME``). Each family checks its value before
anything is stored, with the same check the command using it would make.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labbook.core import sizes
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
            raise self._missing(key)
        return value

    def unset(self, key: str) -> None:
        if not self.store.settings.unset_setting(key):
            raise self._missing(key)

    def _missing(self, key: str) -> Exception:
        """An unknown key names the keys there are; a known one that is unset says so."""
        if key not in FAMILIES and key.split(".", 1)[0] not in FAMILIES:
            return BadInput(f"no setting called {key!r}; settings: {', '.join(sorted(FAMILIES))}")
        return NotFound(f"{key} is not set; lab settings ls lists what is")

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


# -- artifacts and source snapshots (lab run --artifact, --snapshot; lab artifacts) --------

ARTIFACT_LIMIT = "artifact.limit"
SNAPSHOT = "snapshot"
SNAPSHOT_LIMIT = "snapshot.limit"
SNAPSHOT_FILE_LIMIT = "snapshot.file-limit"
#: What a size setting is when unset: a checkpoint fits, a dataset copied by mistake does not;
#: a snapshot holds source files, not the data and models lying about a repository.
SIZE_DEFAULTS = {ARTIFACT_LIMIT: 10 * 2**30, SNAPSHOT_LIMIT: 10 * 2**20, SNAPSHOT_FILE_LIMIT: 2**20}
_ON = {
    "on": True,
    "true": True,
    "yes": True,
    "1": True,
    "off": False,
    "false": False,
    "no": False,
    "0": False,
}


def parse_size(text: str) -> int:
    """``10MB``, ``1.5GB``, ``512k`` or a number of bytes (``core.sizes``); BadInput otherwise."""
    n = sizes.parse_size(text)
    if n is None:
        raise BadInput(f"{text!r} is not a size; write it like 500KB, 10MB or 2GB")
    return n


def _size_setting(key: str) -> Callable[[list[str]], tuple[str, Any]]:
    def check(values: list[str]) -> tuple[str, Any]:
        if len(values) != 1:
            raise BadInput(f"give one size: lab settings set {key} 10MB")
        if parse_size(values[0]) <= 0:
            raise BadInput(f"{key} must be more than 0 bytes")
        return key, values[0].strip().replace(" ", "")

    return check


def _snapshot_setting(values: list[str]) -> tuple[str, Any]:
    if len(values) != 1 or values[0].strip().lower() not in _ON:
        raise BadInput("give on or off: lab settings set snapshot on")
    return SNAPSHOT, _ON[values[0].strip().lower()]


FAMILIES.update(
    {
        ARTIFACT_LIMIT: (
            _size_setting(ARTIFACT_LIMIT),
            "the largest file kept as an artifact (default 10GB)",
        ),
        SNAPSHOT: (
            _snapshot_setting,
            "on: every lab run keeps the repository's untracked files (--snapshot)",
        ),
        SNAPSHOT_LIMIT: (
            _size_setting(SNAPSHOT_LIMIT),
            "the most a run's source snapshot holds (default 10MB)",
        ),
        SNAPSHOT_FILE_LIMIT: (
            _size_setting(SNAPSHOT_FILE_LIMIT),
            "the largest untracked file a snapshot keeps (default 1MB)",
        ),
    }
)


def size_limit(settings: Settings, key: str) -> int:
    """A size setting in bytes, its default when unset."""
    value = settings.store.settings.get_setting(key)
    if value is None:
        return SIZE_DEFAULTS[key]
    try:
        return parse_size(str(value))
    except BadInput:
        raise BadInput(f"setting {key} = {value!r} is not a size; lab settings set {key} 10MB") from None


def snapshot_by_default(settings: Settings) -> bool:
    """Whether ``lab run`` snapshots untracked files without being told (``lab settings set snapshot on``)."""
    return settings.store.settings.get_setting(SNAPSHOT) is True


# -- what comparisons assume (lab compare, lab plot, lab ls --group-by, predictions) -----

NOISE_KEYS = "noise"
NOISE_DEFAULT = ("seed",)  # what comparisons fold over unless told (also service/compare/variants.NOISE)
METRIC = "metric"
GOAL = "goal"
DETECT = "detect"


def _noise_setting(values: list[str]) -> tuple[str, Any]:
    keys = [k.strip() for v in values for k in v.split(",") if k.strip()]
    if not keys:
        raise BadInput("give the noise keys: lab settings set noise seed,work_dir")
    return NOISE_KEYS, list(dict.fromkeys(keys))


def _metric_setting(values: list[str]) -> tuple[str, Any]:
    if len(values) != 1 or not values[0].strip():
        raise BadInput("give one metric: lab settings set metric val_acc")
    return METRIC, values[0].strip()


def _goal_setting(values: list[str]) -> tuple[str, Any]:
    if len(values) != 2 or values[1] not in ("min", "max"):
        raise BadInput("give a metric and min or max: lab settings set goal val_loss min")
    return f"{GOAL}.{values[0].strip()}", values[1]


def _detect_setting(values: list[str]) -> tuple[str, Any]:
    try:
        d = float(values[1]) if len(values) == 2 else math.nan
    except ValueError:
        d = math.nan
    if not d > 0 or math.isinf(d):
        raise BadInput(
            "give a metric and the smallest difference that matters: lab settings set detect val_acc 0.01"
        )
    return f"{DETECT}.{values[0].strip()}", d


FAMILIES.update(
    {
        NOISE_KEYS: (_noise_setting, "parameters that are noise, not configuration (default: seed)"),
        METRIC: (_metric_setting, "the metric lab compare uses when none is given"),
        GOAL: (_goal_setting, "whether lower (min) or higher (max) is better for a metric"),
        DETECT: (_detect_setting, "the smallest difference of a metric that matters (seeds needed)"),
    }
)


@dataclass(frozen=True)
class Defaults:
    """What the settings say a comparison should assume when its command is not told."""

    noise: tuple[str, ...] | None
    metric: str | None
    goals: dict[str, str]
    detect: dict[str, float]


def defaults(settings: Settings) -> Defaults:
    values = settings.store.settings.settings()

    def family(name: str) -> dict[str, Any]:
        return {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(f"{name}.")}

    noise = values.get(NOISE_KEYS)
    return Defaults(
        tuple(noise) if isinstance(noise, list) else None,
        values.get(METRIC) if isinstance(values.get(METRIC), str) else None,
        {k: v for k, v in family(GOAL).items() if v in ("min", "max")},
        {k: float(v) for k, v in family(DETECT).items() if isinstance(v, int | float)},
    )


def noise_of(settings: Settings, given: tuple[str, ...] | None) -> tuple[tuple[str, ...], bool]:
    """(the noise keys, whether the setting chose them): ``given`` first, then the setting, then ``seed``."""
    if given is not None:
        return given, False
    found = defaults(settings).noise
    return (found, True) if found else (NOISE_DEFAULT, False)


def goal_of(settings: Settings, metric: str, given: str | None) -> tuple[str | None, bool]:
    """(min/max or None for the name's guess, whether the setting chose it)."""
    if given is not None:
        return given, False
    found = defaults(settings).goals.get(metric)
    return found, found is not None
