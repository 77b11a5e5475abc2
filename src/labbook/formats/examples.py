"""Reading per-example results: JSONL, CSV and Parquet files, and rows handed to the SDK.

Every row becomes (example id, correct, JSON text). A row that cannot be taken is
skipped with its line number and the reason (bad JSON, no id, duplicate id, ...); the
caller reports them. The JSON is stored as SQLite's JSON functions read it: NaN becomes
null and an infinity ``±9e999`` (which SQLite and Python both read back as infinity).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labbook.errors import BadInput

FORMATS = ("jsonl", "csv", "parquet")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_TRUE = {"true", "yes", "1", "t", "y"}
_FALSE = {"false", "no", "0", "f", "n"}
_INF = "\x00labbook-inf\x00"
_NINF = "\x00labbook-ninf\x00"


class Skip(Exception):
    """A row that cannot be taken; the message is the reason shown to the user."""


@dataclass
class Parsed:
    rows: list[tuple[str, int | None, str]] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _plain(value: Any) -> Any:
    """numpy scalars (``np.bool_``, ``np.int64``, ...) as the Python values they hold."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "shape", None) == () else value


def _default(value: Any) -> Any:
    plain = _plain(value)
    if plain is not value:
        return plain
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def parse_correct(value: Any) -> int | None:
    """``correct`` as 1/0: booleans, 0/1, and words like true/false/yes/no; absent is None."""
    value = _plain(value)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return int(value.strip().lower() in _TRUE)
    raise Skip(f"'correct' is {value!r}; use true/false or 1/0")


def example_id(row: dict[str, Any], id_field: str) -> str:
    if id_field not in row or row[id_field] is None or row[id_field] == "":
        raise Skip(f"no {id_field!r} field")
    value = _plain(row[id_field])
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Skip(f"the id must be a string or an integer, not {type(value).__name__}")
    return str(value)


def _finite(value: Any) -> Any:
    value = _plain(value)
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (_INF if value > 0 else _NINF)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(row: dict[str, Any]) -> str:
    """JSON text SQLite can read, whatever floats the row holds."""
    try:
        return json.dumps(row, ensure_ascii=False, allow_nan=False, default=_default)
    except ValueError:
        text = json.dumps(_finite(row), ensure_ascii=False, allow_nan=False, default=_default)
        return text.replace(json.dumps(_INF), "9e999").replace(json.dumps(_NINF), "-9e999")


_ABSENT: Any = object()
_FAST_CORRECT = (bool, type(None), object)


class _Collector:
    """Takes rows in order, skipping duplicates and rows without an id."""

    def __init__(self, id_field: str) -> None:
        self.id_field = id_field
        self.out = Parsed()
        self.first_line: dict[str, int] = {}

    def take(self, line: int, row: Any, text: str | None = None) -> None:
        # The common row (a dict, a string id, a boolean or absent 'correct', a new id) takes
        # the fast path; anything else goes through the checks that explain what is wrong.
        ex_id = row.get(self.id_field) if type(row) is dict else None
        correct: Any = row.get("correct", _ABSENT) if ex_id is not None else None
        if (
            type(ex_id) is not str
            or not ex_id
            or correct.__class__ not in _FAST_CORRECT
            or ex_id in self.first_line
        ):
            try:
                if not isinstance(row, dict):
                    raise Skip(f"not an object but {type(row).__name__}")
                ex_id = example_id(row, self.id_field)
                correct = parse_correct(row.get("correct"))
                if ex_id in self.first_line:
                    raise Skip(f"duplicate id {ex_id!r} (first on line {self.first_line[ex_id]})")
            except Skip as why:
                self.out.skipped.append((line, str(why)))
                return
        else:
            correct = None if correct is _ABSENT or correct is None else int(bool(correct))  # a bool here
        self.first_line[ex_id] = line
        self.out.rows.append((ex_id, correct, text if text is not None else dumps(row)))
        self.out.fields.update(row)


def rows_from_sdk(rows: Iterable[Any], id_field: str = "id") -> Parsed:
    """Rows passed to ``run.log_examples``, numbered from 1."""
    collect = _Collector(id_field)
    for i, row in enumerate(rows, 1):
        collect.take(i, row)
    return collect.out


def detect_format(path: Path, given: str | None) -> str:
    if given is not None:
        return given
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise BadInput(
            f"cannot tell the format of {path.name}; name it .jsonl, .csv or .parquet, or pass --format"
        )
    return fmt


def read_file(path: Path, id_field: str = "id", fmt: str | None = None) -> Parsed:
    """Parse a whole file; raises BadInput when it cannot be read at all."""
    kind = detect_format(path, fmt)
    if not path.exists():
        raise BadInput(f"no file {path}")
    if not path.is_file():
        raise BadInput(f"{path} is not a file")
    try:
        if kind == "jsonl":
            return _read_jsonl(path, id_field)
        if kind == "csv":
            return _read_csv(path, id_field)
        return _read_parquet(path, id_field)
    except OSError as err:
        raise BadInput(f"cannot read {path}: {err.strerror or err}") from None


def _read_json_array(path: Path, id_field: str) -> Parsed:
    """A .json file holding one array of objects; rows are numbered from 1."""
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as err:
        raise BadInput(f"{path} is not valid JSON: {str(err).splitlines()[0]}") from None
    if not isinstance(data, list):
        raise BadInput(f"{path} holds one JSON {type(data).__name__}; give an array of objects or JSON lines")
    collect = _Collector(id_field)
    for i, row in enumerate(data, 1):
        collect.take(i, row)
    return collect.out


def _read_jsonl(path: Path, id_field: str) -> Parsed:
    collect = _Collector(id_field)
    loads = json.loads
    with path.open("rb") as fh:
        if path.suffix.lower() == ".json" and fh.read(64).lstrip().startswith(b"["):
            return _read_json_array(path, id_field)
        fh.seek(0)
        for line_no, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                collect.out.skipped.append((line_no, "not UTF-8 text"))
                continue
            try:
                row = loads(text)
            except ValueError as err:
                collect.out.skipped.append((line_no, f"bad JSON: {str(err).split(':')[0]}"))
                continue
            # The line itself is stored when SQLite can read it as it is (the common case).
            plain = "NaN" not in text and "Infinity" not in text
            collect.take(line_no, row, text if plain else None)
    return collect.out


def _number(text: str) -> Any:
    """CSV cells are text: numbers and true/false become values, an empty cell null."""
    if text == "":
        return None
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value


def _read_csv(path: Path, id_field: str) -> Parsed:
    collect = _Collector(id_field)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                return collect.out
            width = len(header)
            for cells in reader:
                line = reader.line_num
                if not cells or all(c == "" for c in cells):
                    continue
                if len(cells) != width:
                    collect.out.skipped.append((line, f"{len(cells)} cells where the header has {width}"))
                    continue
                collect.take(line, {h: _number(c) for h, c in zip(header, cells, strict=True)})
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text; save it as UTF-8 CSV") from None
    except csv.Error as err:
        raise BadInput(f"{path} is not readable CSV: {err}") from None
    return collect.out


def _read_parquet(path: Path, id_field: str) -> Parsed:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise BadInput("reading Parquet needs pyarrow: pip install 'labbook[parquet]'") from None
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises its own error types for broken files
        raise BadInput(f"{path} is not a readable Parquet file: {str(err).splitlines()[0]}") from None
    collect = _Collector(id_field)
    for i, row in enumerate(_batches(table), 1):
        collect.take(i, row)
    return collect.out


def _batches(table: Any) -> Iterator[dict[str, Any]]:
    for batch in table.to_batches(max_chunksize=65536):
        yield from batch.to_pylist()
