"""Configs: a YAML file, Hydra-style overrides, sweeps, and placeholders in a command.

    lr=3e-4              set a key that exists (a typo is an error, not a new key)
    model.depth=4        dotted keys reach into nested mappings
    +new.key=1           add a key that does not exist yet
    ++key=1              set it whether or not it exists
    ~key                 delete a key (``~key=VALUE`` only if it has that value)
    tags=[a,b]           a list; name='two words' a quoted string
    seed=0,1,2           a sweep: several values, one run each
    seed='range(5)'      a sweep over range(5) (also range(a, b) and range(a, b, step))

Several sweeps make a grid, the first varying slowest. Values are read as numbers when
they look like numbers (``3e-4`` included, which YAML itself would keep as text), as
``true``/``false``/``null``, as YAML for ``[...]`` and ``{...}``, else as text. A
config's ``smoke:`` section holds overrides for a cheap version of the run (``--smoke``).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labbook.errors import ConfigError

SMOKE = "smoke"
_KEY = re.compile(r"[A-Za-z_][\w\-]*(\.[A-Za-z_0-9][\w\-]*)*")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w\-]*(?:\.[\w\-]+)*)\}")
_RANGE = re.compile(r"range\(\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?(?:,\s*(-?\d+)\s*)?\)")


@dataclass(frozen=True)
class Override:
    op: str  # set / add / force / delete
    key: str
    values: tuple[Any, ...]  # several: a sweep
    text: str  # as the user wrote it

    @property
    def is_sweep(self) -> bool:
        return len(self.values) > 1


def load(path: str | Path) -> dict[str, Any]:
    """Read a YAML config; a syntax error names the file, line and column."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: {err.problem or err.context}; fix the YAML there") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of keys to values at the top, not a {type(data).__name__}"
        )
    return data


def _split_top(text: str) -> list[str]:
    """Split on commas outside quotes and brackets."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quote or depth:
        raise ConfigError(f"unbalanced quotes or brackets in {text!r}")
    parts.append(text[start:])
    return parts


def parse_value(text: str) -> Any:
    """One value as a user types it after ``=``."""
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    for kind in (int, float):
        try:
            return kind(s)
        except ValueError:
            pass
    lowered = s.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", "~"):
        return None
    if s and s[0] in "[{":
        import yaml  # only here: plain numbers and words need no YAML parser (12 ms to import)

        try:
            return yaml.safe_load(s)
        except yaml.YAMLError:
            raise ConfigError(f"cannot read {s!r} as a list or mapping") from None
    return s


def _values(text: str) -> tuple[Any, ...]:
    s = text.strip()
    unquoted = s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"" else s
    m = _RANGE.fullmatch(unquoted.strip())
    if m:
        args = [int(g) for g in m.groups() if g is not None]
        values = tuple(range(*args))
        if not values:
            raise ConfigError(f"{s} is empty; nothing to sweep over")
        return values
    if unquoted.strip().startswith("range("):
        raise ConfigError(f"{s!r}: write range(N), range(A, B) or range(A, B, STEP) with whole numbers")
    parts = _split_top(s)
    if len(parts) > 1 and any(not p.strip() for p in parts):
        raise ConfigError(f"{s!r} has an empty value between commas")
    return tuple(parse_value(p) for p in parts)


def parse_override(text: str) -> Override:
    """``[+|++|~]key[=value]`` → an Override, or a ConfigError saying what is wrong."""
    raw = text.strip()
    op = "set"
    body = raw
    if raw.startswith("++"):
        op, body = "force", raw[2:]
    elif raw.startswith("+"):
        op, body = "add", raw[1:]
    elif raw.startswith("~"):
        op, body = "delete", raw[1:]
    key, eq, value = body.partition("=")
    key = key.strip()
    if not _KEY.fullmatch(key):
        raise ConfigError(f"{text!r} is not an override; write key=value (or +key=value, ~key)")
    if op == "delete":
        return Override(op, key, (parse_value(value),) if eq else (), raw)
    if not eq:
        raise ConfigError(f"{text!r} has no value; write {key}=VALUE")
    try:
        return Override(op, key, _values(value), raw)
    except ConfigError as err:
        raise ConfigError(f"in {raw!r}: {err}") from None


def _walk(config: dict[str, Any], key: str, create: bool) -> tuple[dict[str, Any], str] | None:
    node: Any = config
    *parents, last = key.split(".")
    for i, part in enumerate(parents):
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(parents[:i])} is not a mapping, so {key} cannot be set")
        if part not in node:
            if not create:
                return None
            node[part] = {}
        node = node[part]
    if not isinstance(node, dict):
        raise ConfigError(f"{'.'.join(parents)} is not a mapping, so {key} cannot be set")
    return node, last


def apply(config: dict[str, Any], overrides: list[Override]) -> dict[str, Any]:
    """A copy of ``config`` with single-valued overrides applied."""
    out = copy.deepcopy(config)
    for o in overrides:
        if o.is_sweep:
            raise ConfigError(f"{o.text} is a sweep; expand it first")
        found = _walk(out, o.key, create=o.op in ("add", "force"))
        if o.op == "delete":
            if found is None or found[1] not in found[0]:
                raise ConfigError(f"cannot delete {o.key}: it is not in the config")
            parent, last = found
            if o.values and parent[last] != o.values[0]:
                raise ConfigError(f"cannot delete {o.key}={o.values[0]!r}: its value is {parent[last]!r}")
            del parent[last]
            continue
        if found is None or (o.op == "set" and found[1] not in found[0]):
            raise ConfigError(f"{o.key} is not in the config; check the spelling, or add it with +{o.text}")
        parent, last = found
        if o.op == "add" and last in parent:
            raise ConfigError(f"{o.key} is already in the config; set it with {o.text[1:]} (or ++ to force)")
        parent[last] = o.values[0]
    return out


def expand(overrides: list[Override]) -> list[list[Override]]:
    """The grid of a sweep: one list of single-valued overrides per run, first key slowest."""
    prefix = {"set": "", "add": "+", "force": "++", "delete": "~"}
    choices = [
        [Override(o.op, o.key, (v,), f"{prefix[o.op]}{o.key}={v}") for v in o.values] if o.is_sweep else [o]
        for o in overrides
    ]
    return [list(combo) for combo in itertools.product(*choices)]


def smoke_overrides(config: dict[str, Any]) -> list[Override]:
    """The config's ``smoke:`` section as overrides (nested keys flattened)."""
    section = config.get(SMOKE)
    if section is None:
        raise ConfigError("--smoke needs a 'smoke:' section in the config, e.g. smoke: {steps: 20}")
    if not isinstance(section, dict):
        raise ConfigError("the config's 'smoke:' section must be a mapping of keys to values")
    from labbook.core.config import flatten

    return [Override("force", k, (v,), f"++{k}={v}") for k, v in flatten(section).items()]


def without_smoke(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != SMOKE}


def lookup(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def substitute(argv: list[str], config: dict[str, Any], config_path: Path | None) -> list[str]:
    """Fill ``{a.b}`` (a config value) and ``{config}`` (the resolved file) in each argument."""

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "config":
            if config_path is None:
                raise ConfigError("{config} needs a config file (-c)")
            return str(config_path)
        try:
            value = lookup(config, name)
        except KeyError:
            raise ConfigError(
                f"placeholder {{{name}}} names no config key; keys: {', '.join(_keys(config))}"
            ) from None
        if isinstance(value, bool):
            return "true" if value else "false"
        return "null" if value is None else str(value)

    return [_PLACEHOLDER.sub(fill, arg) for arg in argv]


def _keys(config: dict[str, Any]) -> list[str]:
    from labbook.core.config import flatten

    return sorted(flatten(config))[:12]


def dump(config: dict[str, Any], path: Path) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"depth": 4}}`` → ``{"model.depth": 4}``; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _same(given: Any, logged: Any) -> bool:
    if given == logged or str(given) == str(logged):
        return True
    try:
        return float(given) == float(logged)
    except (TypeError, ValueError):
        return False


def unreached(config: dict[str, Any], argv: list[str], logged: Mapping[str, Any]) -> list[str]:
    """Config values the program logged otherwise, where no ``{key}`` placeholder passed them on.

    A program that parses its own flags ignores ``lab run lr=0.1`` unless a placeholder
    hands the value over; its logged params then disagree, and the run's params would
    otherwise keep the program's value with no word about the override that went nowhere.
    """
    passed = {m.group(1) for arg in argv for m in _PLACEHOLDER.finditer(arg)}
    out = []
    for key, given in flatten(config).items():
        if key in passed or key not in logged or _same(given, logged[key]):
            continue
        out.append(
            f"{key}={given!r} never reached the program, which logged {key}={logged[key]!r}; "
            f"pass it with a {{{key}}} placeholder in the command, or read $LABBOOK_CONFIG"
        )
    return out
