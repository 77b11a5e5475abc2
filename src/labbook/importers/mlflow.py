"""Reading MLflow's history (a tracking database or an ``mlruns/`` folder) into imported runs.

Everything is read through MLflow's own client, so the installed MLflow decides what a store holds.
The choices:

- Every run of every experiment, deleted experiments included, is listed, oldest first. A deleted
  run (in MLflow's trash until ``mlflow gc``) becomes a ``Skipped``: the user threw it away, and
  restoring it in MLflow brings it back on the next import.
- FINISHED, FAILED and KILLED map one to one. RUNNING and SCHEDULED stay ``running``: MLflow cannot
  tell a live run from a dead one, so neither can we; importing again later brings the final status.
- Every point of every metric: the client's ``get_metric_history`` pages through the store (25,000
  points a page) until the last. MLflow's databases keep ±inf as ±DBL_MAX (SQL has no infinity):
  those come back as ±inf; NaN is kept.
- Params are text in MLflow; integers, decimals and True/False become numbers and bools, so that
  ``--where 'params.lr < 0.01'`` compares them.
- User tags become ``key=value`` (``key`` alone when the value is empty), the experiment becomes
  ``experiment=<name>``, ``mlflow.runName`` is the name and the other ``mlflow.*`` tags go to details.
- Artifacts are listed by name, never copied.
- Reading never writes. MLflow's SQL store creates a database that does not exist and migrates one
  written by another MLflow version when it opens it, and its file store is refused unless allowed;
  so a missing database is refused before MLflow sees it, so is one it would migrate, and the file
  store is allowed only while it is read.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from labbook.errors import BadInput
from labbook.importers._common import Series, missing, quiet
from labbook.records.imports import ImportedRun, ImportedSeries, Skipped
from labbook.records.runs import CRASHED, FAILED, FINISHED, KILLED, RUNNING

SOURCE = "mlflow"
PAGE = 1000  # experiments or runs asked for at once

STATUSES = {
    "FINISHED": FINISHED,
    "FAILED": FAILED,
    "KILLED": KILLED,
    "RUNNING": RUNNING,
    "SCHEDULED": RUNNING,
}

# mlflow.* tags worth a name of their own in details; the rest are kept under "mlflow_tags".
SYSTEM_TAGS = {
    "mlflow.user": "user",
    "mlflow.source.name": "program",
    "mlflow.source.type": "source_type",
    "mlflow.source.git.commit": "git_commit",
    "mlflow.source.git.branch": "git_branch",
    "mlflow.source.git.repoURL": "git_repo",
    "mlflow.parentRunId": "parent_run",
    "mlflow.note.content": "notes",
}

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+")
_ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"


def read(source: str, progress: Callable[[str], None] | None = None) -> Iterator[ImportedRun | Skipped]:
    """Every run in the MLflow store at ``source`` (a tracking URI, or the path of an ``mlruns/`` folder)."""
    _require_mlflow()
    uri = tracking_uri(source)
    with _file_store_allowed(uri):
        client, experiments = _open(uri, source)
    return _runs(client, experiments, uri, source, progress or quiet)


def tracking_uri(source: str) -> str:
    """The URI MLflow is given, once ``source`` is known to hold MLflow data it can read without writing."""
    if _SCHEME.match(source) and not Path(source).exists():
        scheme = source.split(":", 1)[0].lower()
        if scheme == "file":
            return _file_store(Path(unquote(urlparse(source).path)), source)
        if scheme == "sqlite":
            _sqlite_file(source)
        if scheme.split("+")[0] in ("sqlite", "postgresql", "mysql", "mssql"):
            _check_database(source)
        return source
    path = Path(source).expanduser()
    if path.is_file() and _is_sqlite(path):
        uri = f"sqlite:///{path.resolve()}"
        _check_database(uri, source)
        return uri
    return _file_store(path, source)


def _require_mlflow() -> None:
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise missing("MLflow", "mlflow") from None


def _sqlite_file(uri: str) -> None:
    """MLflow creates a database that is not there: one that is not there must be a mistake."""
    name = unquote(uri.split("?", 1)[0].removeprefix("sqlite:").removeprefix("///"))
    if name in ("", ":memory:", "//"):
        raise BadInput(f"{uri} names no database file: give its path, as in sqlite:///mlflow.db")
    if not Path(name).is_file():
        raise BadInput(
            f"no MLflow database at {Path(name).resolve()} (from {uri}): check the path"
            " (sqlite:///relative/path.db, sqlite:////absolute/path.db)"
        )


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _check_database(uri: str, given: str | None = None) -> None:
    """Refuse a database MLflow would initialise or migrate on opening: reading must leave it as it was."""
    try:
        import sqlalchemy
        from mlflow.store.db import utils
        from mlflow.version import VERSION
    except ImportError:  # mlflow-skinny talks to tracking servers only
        raise BadInput(
            "reading an MLflow database needs the full mlflow package, not mlflow-skinny: pip install 'labbook[mlflow]'"
        ) from None

    given = given or uri
    try:
        engine = utils.create_sqlalchemy_engine(uri)
    except (ImportError, sqlalchemy.exc.SQLAlchemyError) as err:  # no driver for it, or not a URI it knows
        raise BadInput(f"cannot open {given}: {_first_line(err)}") from None
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
        if not {"experiments", "runs"} <= tables:
            raise BadInput(f"{given} holds no MLflow data (no experiments or runs tables): check the URI")
        found, head = utils._get_schema_version(engine), utils._get_latest_schema_revision()
        if found != head or not utils._all_tables_exist(engine):
            raise BadInput(
                f"{given} has MLflow schema {found or '(none)'}, and MLflow {VERSION} would migrate it to {head} on opening:"
                f" import it with the MLflow that wrote it, or back it up and run `mlflow db upgrade {uri}` first"
            )
    except sqlalchemy.exc.SQLAlchemyError as err:
        raise BadInput(f"cannot read {given}: {_first_line(err)}") from None
    finally:
        engine.dispose()


def _file_store(path: Path, given: str) -> str:
    if not path.exists():
        raise BadInput(
            f"{given} does not exist: give an mlruns/ folder, or a tracking URI such as sqlite:///mlflow.db"
        )
    for root in (path, path / "mlruns"):
        if _has_experiments(root):
            return root.resolve().as_uri()
    hint = (
        f"; for the database beside it, give sqlite:///{path / 'mlflow.db'}"
        if (path / "mlflow.db").is_file()
        else ""
    )
    raise BadInput(
        f"no MLflow data in {given}: an mlruns/ folder holds a folder per experiment, each with a meta.yaml{hint}"
    )


def _has_experiments(root: Path) -> bool:
    return root.is_dir() and any((child / "meta.yaml").is_file() for child in root.iterdir())


@contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    """MLflow 3 opens an ``mlruns/`` folder only when allowed (it wants them migrated); reading one is the point."""
    if not uri.startswith("file:"):
        yield
        return
    before = os.environ.get(_ALLOW_FILE_STORE)
    os.environ[_ALLOW_FILE_STORE] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_ALLOW_FILE_STORE, None)
        else:
            os.environ[_ALLOW_FILE_STORE] = before


def _open(uri: str, given: str) -> tuple[Any, list[Any]]:
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=uri)
        experiments = _pages(lambda token: client.search_experiments(ViewType.ALL, PAGE, page_token=token))
    except MlflowException as err:
        raise BadInput(f"cannot read {given}: {_first_line(err)}") from None
    return client, experiments


def _pages(fetch: Callable[[str | None], Any]) -> list[Any]:
    """Every item of a paged MLflow listing."""
    items: list[Any] = []
    token = None
    while True:
        page = fetch(token)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _runs(
    client: Any, experiments: list[Any], uri: str, origin: str, progress: Callable[[str], None]
) -> Iterator[ImportedRun | Skipped]:
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    with _file_store_allowed(uri):
        by_id = {e.experiment_id: e for e in experiments}
        if not by_id:
            return
        listed = _pages(
            lambda token: client.search_runs(
                list(by_id), run_view_type=ViewType.ALL, max_results=PAGE, page_token=token
            )
        )
        listed.sort(key=lambda r: (r.info.start_time or 0, r.info.run_id))
        for number, run in enumerate(listed, 1):
            where = f"mlflow: run {number} of {len(listed)}"
            progress(where)
            experiment = by_id[run.info.experiment_id]
            gone = _deleted(run, experiment)
            if gone:
                yield Skipped(_label(run), gone)
                continue
            try:
                imported, skipped = _run(client, run, experiment, origin, progress, where)
            except MlflowException as err:
                yield Skipped(_label(run), f"MLflow could not read it: {_first_line(err)}")
                continue
            yield imported
            yield from skipped


def _deleted(run: Any, experiment: Any) -> str | None:
    if experiment.lifecycle_stage == "deleted":
        return f"its experiment {experiment.name!r} is deleted in MLflow: restore the experiment there to import it"
    if run.info.lifecycle_stage == "deleted":
        return "deleted in MLflow: restore it there (mlflow runs restore --run-id ...) to import it"
    return None


def _run(
    client: Any, run: Any, experiment: Any, origin: str, progress: Callable[[str], None], where: str
) -> tuple[ImportedRun, list[Skipped]]:
    info, data = run.info, run.data
    tags, system = _tags(data.tags)
    details: dict[str, Any] = {"experiment": experiment.name, "experiment_id": experiment.experiment_id}
    details.update({SYSTEM_TAGS[k]: v for k, v in system.items() if k in SYSTEM_TAGS})
    rest = {k: v for k, v in system.items() if k not in SYSTEM_TAGS and k != "mlflow.runName"}
    if rest:
        details["mlflow_tags"] = rest
    if info.status not in ("FINISHED", "FAILED", "KILLED"):
        details["mlflow_status"] = info.status
    details["artifact_uri"] = info.artifact_uri
    keys = sorted(data.metrics)
    series = []
    for number, key in enumerate(keys, 1):
        progress(f"{where}, metric {number} of {len(keys)}")
        series.append(_series(client, info.run_id, key))
    skipped: list[Skipped] = []
    try:
        artifacts = _artifacts(client, info.run_id)
    except Exception as err:  # a remote artifact store (S3, GCS ...) can fail in any way its client likes
        artifacts = []
        skipped.append(Skipped(f"{_label(run)} artifacts", f"not listed: {_first_line(err)}"))
    imported = ImportedRun(
        source=SOURCE,
        source_id=info.run_id,
        origin=origin,
        name=system.get("mlflow.runName") or info.run_name or None,
        status=STATUSES.get(info.status, CRASHED),
        started_at=_seconds(info.start_time),
        ended_at=_seconds(info.end_time),
        params={k: param_value(v) for k, v in data.params.items()},
        tags=(f"experiment={experiment.name}", *tags),
        series=series,
        artifacts=artifacts,
        details=details,
    )
    return imported, skipped


def _tags(tags: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """User tags as labbook tags (``key=value``, or ``key`` alone), and MLflow's own ``mlflow.*`` tags."""
    user = [f"{k}={v}" if v else k for k, v in sorted(tags.items()) if not k.startswith("mlflow.")]
    return user, {k: v for k, v in tags.items() if k.startswith("mlflow.")}


def _series(client: Any, run_id: str, key: str) -> ImportedSeries:
    series = Series(key)
    for point in client.get_metric_history(run_id, key):
        series.add(int(point.step or 0), point.timestamp / 1000, metric_value(point.value))
    return series.done()


def metric_value(value: float) -> float:
    """A logged value as it was: MLflow's SQL store writes ±inf as ±DBL_MAX."""
    if value == sys.float_info.max:
        return float("inf")
    if value == -sys.float_info.max:
        return float("-inf")
    return float(value)


def param_value(text: str) -> Any:
    """MLflow keeps params as text: numbers and bools become themselves again, anything else stays text."""
    if _INT.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    if text in ("True", "False"):
        return text == "True"
    return text


def _artifacts(client: Any, run_id: str, path: str | None = None) -> list[str]:
    names: list[str] = []
    for entry in client.list_artifacts(run_id, path):
        if entry.is_dir:
            names.extend(_artifacts(client, run_id, entry.path))
        else:
            names.append(str(entry.path))
    return names


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _label(run: Any) -> str:
    name = run.info.run_name
    return f"mlflow run {run.info.run_id}" + (f" ({name})" if name else "")


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "message", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__
