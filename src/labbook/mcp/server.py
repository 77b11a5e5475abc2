"""The MCP server: labbook's tools and resources for an agent, over stdio.

Each tool is the service call its ``lab`` command makes and the ``views/`` shape its
``--json`` prints, cut to a bounded size (``bounds``); its arguments are typed, so the
schema an agent reads names what is required. A tool opens the notebook for its own
call (tools run on worker threads, and a SQLite connection belongs to one), and every
error crosses ``boundary``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, ImageContent, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from labbook import __version__
from labbook.errors import BadInput
from labbook.mcp import boundary
from labbook.mcp.bounds import bounded, clip
from labbook.mcp.launches import Launches, Request, agent_tag
from labbook.service.forecast import Forecast
from labbook.service.notebook import Notebook
from labbook.tracking.sync import send_research_now
from labbook.views import research as research_views
from labbook.views import runs as run_views
from labbook.views.journal import hits_list, note_dict
from labbook.views.tables import json_text

INSTRUCTIONS = """\
labbook is a research notebook that keeps the research loop honest: guess, run, look, update.
Write a hypothesis (add_hypothesis) and a prediction (predict) BEFORE launching runs: a prediction
made after a linked run has results is stored late and is not scored. Launch with run (it returns
at once with the run id), wait with wait_run, then compare, plot and note what you saw. Everything
you write is recorded under your agent name. Errors come back as one line saying what to change."""

Ref = Annotated[int | str, Field(description="A run: its short id (12), its name, or a prefix of its uid.")]
Hyp = Annotated[str, Field(description="A hypothesis: H3 (or 3).")]
Text = Annotated[str, Field(min_length=1, max_length=10_000)]
Where = Annotated[
    str | None,
    Field(description="A filter in lab ls's language, e.g. \"status == 'finished' and acc.max > 0.9\"."),
]
Side = Annotated[
    str,
    Field(description="Run ids (3,4,5), a variant (lr=1e-3), a tag, a run name, or a where expression."),
]
Op = Literal[">", ">=", "<", "<=", "==", "!="]
Limit = Annotated[int, Field(ge=1, le=100)]

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)


class Lab:
    """The tools of one server: a notebook, the agent it speaks for, and the runs it started."""

    def __init__(self, root: Path, agent: str, cwd: Path) -> None:
        self.root, self.agent = root, agent
        self.launches = Launches(root, agent, cwd)

    def open(self) -> Notebook:
        return Notebook.open(self.root)

    # -- runs ----------------------------------------------------------------------
    def list_runs(self, where: Where = None, sort: str | None = None, limit: Limit = 20) -> dict[str, Any]:
        """List runs, newest first (sort: comma-separated keys, '-' for descending, e.g. -acc.max).

        Each run comes with its status, params, tags and metric summaries (last/min/max/mean), never its series.
        """
        with self.open() as nb:
            runs, total = nb.list_runs(where=where, sort=sort, limit=limit)
        return bounded({"runs": run_views.runs_list(runs), "shown": len(runs), "total": total})

    def show_run(self, run: Ref) -> dict[str, Any]:
        """Everything recorded about one run: command, config, git, environment, metrics, files (long parts cut)."""
        return bounded(self._run_detail(run))

    def _run_detail(self, run: int | str) -> dict[str, Any]:
        from labbook.service.detail import detail

        with self.open() as nb:
            d = detail(nb, run)
        return run_views.run_detail(d.run, d.patch, d.packages, d.files, d.damage, d.rerun, d.artifacts)

    def run(
        self,
        command: Annotated[
            list[str], Field(min_length=1, description="The argv, e.g. ['python', 'train.py'].")
        ],
        config: Annotated[str | None, Field(description="A YAML config file (lab run -c).")] = None,
        overrides: Annotated[
            tuple[str, ...], Field(description="Dotted overrides; a comma sweeps: ['lr=1e-3', 'seed=0,1,2'].")
        ] = (),
        hypothesis: Annotated[str | None, Field(description="The hypothesis the runs test (H3).")] = None,
        tags: tuple[str, ...] = (),
        name: str | None = None,
        parallel: Annotated[int, Field(ge=1, le=64, description="How many runs of a sweep at once.")] = 1,
    ) -> dict[str, Any]:
        """Launch a recorded run (or a sweep) as `lab run` does, and return at once with its id.

        The command's stdout lines that are JSON objects of numbers become metrics; {key} in the command is
        filled from the config. Runs are tagged agent:<your name>. Wait for them with wait_run.
        """
        if hypothesis is not None:
            with self.open() as nb:
                nb.hypotheses.get(hypothesis)  # refused here, with its line, before anything starts
        request = Request(list(command), config, tuple(overrides), hypothesis, tuple(tags), name, parallel)
        started = self.launches.start(request)
        return {
            "runs": started.runs,
            "sweep": started.sweep,
            "expected": started.expected,
            "tags": [agent_tag(self.agent), *tags],
            "wait": f"wait_run(run={started.sweep or started.runs[0]!r})",
        }

    async def wait_run(
        self,
        run: Annotated[int | str, Field(description="A run (id, name) or the sweep id that run returned.")],
        timeout: Annotated[float, Field(ge=0, le=600, description="Seconds to wait at most.")] = 60,
    ) -> dict[str, Any]:
        """Wait until a run (or every run of a sweep) has ended, or the timeout passes; returns each run's status.

        The runs themselves: list_runs (where "sweep == 'ID'" for a sweep) or show_run.
        """
        deadline = anyio.current_time() + timeout
        while True:
            ended, runs, sweep = await anyio.to_thread.run_sync(self.launches.ended, str(run))
            if ended or anyio.current_time() >= deadline:
                break
            await anyio.sleep(0.2)
        states = [{"id": r.id, "status": r.status, "exit_code": r.exit_code, "lost": r.lost} for r in runs]
        return bounded({"ended": ended, "sweep": sweep, "runs": states})

    def compare(
        self,
        a: Side,
        b: Side,
        metric: Annotated[
            str | None, Field(description="The metric to test (default: every shared one).")
        ] = None,
        where: Where = None,
        paired: Annotated[bool, Field(description="Pair A's and B's runs by seed.")] = False,
    ) -> dict[str, Any]:
        """Compare A with B as `lab compare` does: config, code and environment diffs, each metric's test and its verdict."""
        from labbook.service.compare.report import compare
        from labbook.service.compare.words import verdict
        from labbook.views.compare import report_dict

        with self.open() as nb:
            report = compare(nb, a, b, metrics=[metric] if metric else None, where=where, paired=paired)
        primary = next((m for m in report.metrics if m.metric == report.primary), None)
        out = report_dict(report)
        out["verdict"] = verdict(primary) if primary is not None else None
        return bounded(out)

    def plot(
        self,
        metric: str,
        runs: Annotated[
            list[str] | None, Field(description="Sides to draw (ids, variants, tags, names); default: all.")
        ] = None,
    ) -> list[ImageContent | TextContent]:
        """Plot a metric as `lab plot` does: one line per variant (mean of its seeds) with a 95% CI band, as a PNG."""
        from labbook.service.curves import default_path, gather
        from labbook.service.settings import noise_of
        from labbook.views.compare import curves_dict
        from labbook.views.plots import variant_plot

        with self.open() as nb:
            noise, _ = noise_of(nb.settings, None)  # the notebook's noise keys, else seed
            curves, side = gather(nb, metric, refs=runs or None, noise=noise)
            path = default_path(nb, metric)
        title = f"{metric}: mean of each variant's runs, 95% CI band (Student t)"
        try:
            variant_plot(curves, metric, path, "step", False, title)
        except OSError as err:
            raise BadInput(f"cannot write {path}: {err.strerror or err}") from None
        png = base64.b64encode(path.read_bytes()).decode()
        lines = json_text(clip(curves_dict(path, metric, "step", curves, side)))
        return [
            ImageContent(type="image", data=png, mime_type="image/png"),
            TextContent(type="text", text=lines),
        ]

    # -- research --------------------------------------------------------------------
    def add_hypothesis(
        self,
        text: Annotated[Text, Field(description="What you expect, and why.")],
        problem: Annotated[
            str | None, Field(description="The problem it bears on: Q3, or its title.")
        ] = None,
        tags: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Record a hypothesis (as `lab hyp add`); then predict before any run."""
        with self.open() as nb:
            h = nb.hypotheses.add(text, problem, tuple(tags))
        return self._sent(research_views.new_hypothesis_dict(h))

    def predict(
        self,
        hypothesis: Annotated[str | None, Field(description="The hypothesis (H3) it is about.")],
        text: Annotated[Text, Field(description="What you expect, in a sentence.")],
        p: Annotated[
            float | None, Field(description="Probability it comes true (a yes/no prediction).")
        ] = None,
        low: Annotated[float | None, Field(description="Lower end of a central interval.")] = None,
        high: Annotated[float | None, Field(description="Upper end of a central interval.")] = None,
        level: Annotated[float, Field(description="Probability the interval holds the value.")] = 0.8,
        metric: Annotated[
            str | None, Field(description="A metric of the hypothesis's runs that settles it.")
        ] = None,
        op: Annotated[Op | None, Field(description="With value: how the reduced metric compares.")] = None,
        value: float | None = None,
        where: Where = None,
        diff: Annotated[
            tuple[str, str] | None,
            Field(description="About reduced(A) - reduced(B): two sides, as compare takes."),
        ] = None,
        agg: Literal["last", "min", "max", "mean"] = "last",
        reduce: Literal["mean", "median", "min", "max"] = "mean",
        min_runs: Annotated[int, Field(ge=1, description="Finished runs needed before it resolves.")] = 1,
        due: Annotated[str | None, Field(description="When to come back to it (YYYY-MM-DD).")] = None,
    ) -> dict[str, Any]:
        """Write down a prediction before any result exists (as `lab predict`); tied to a metric, it resolves itself.

        Made after a linked run has logged results, it is stored LATE: kept, but not scored.
        """
        forecast = Forecast(
            p=p, op=op, value=value, low=low, high=high, level=level, metric=metric,
            agg=agg, reduce=reduce, min_runs=min_runs, where=where, diff=diff,
        )  # fmt: skip
        with self.open() as nb:
            pred = nb.hypotheses.predict(hypothesis, text, forecast, due=due)
        out = research_views.prediction_dict(pred)
        if pred.late:
            out["warning"] = (
                "This prediction is LATE: a linked run has already logged results, so it is kept but not scored."
            )
        return self._sent(out)

    def resolve(
        self,
        prediction: Annotated[str | None, Field(description="A prediction to resolve: P3.")] = None,
        hypothesis: Annotated[str | None, Field(description="Or a hypothesis to close: H1.")] = None,
        outcome: Annotated[
            Literal["true", "false", "ambiguous", "supported", "refuted", "inconclusive"] | None,
            Field(
                description="A prediction: true, false or ambiguous. A hypothesis: supported, refuted, inconclusive."
            ),
        ] = None,
        value: Annotated[
            float | None, Field(description="The number that came out (interval predictions).")
        ] = None,
        belief: Annotated[
            str | None, Field(description="What you believe now (closing a hypothesis).")
        ] = None,
    ) -> dict[str, Any]:
        """Record how a prediction or a hypothesis ended (as `lab resolve`); resolutions are final."""
        if (prediction is None) == (hypothesis is None):
            raise BadInput(
                "name a prediction (prediction='P3') or a hypothesis (hypothesis='H1'), one of them"
            )
        with self.open() as nb:
            if hypothesis is not None:
                if outcome is None:
                    raise BadInput("close a hypothesis with outcome supported, refuted or inconclusive")
                out = research_views.hypothesis_dict(nb.hypotheses.resolve(hypothesis, outcome, belief))
            else:
                out = research_views.prediction_dict(
                    nb.hypotheses.resolve_prediction(prediction or "", outcome, value)
                )
        return self._sent(out)

    def due(self) -> dict[str, Any]:
        """Predictions waiting to be resolved: past their due date, or whose runs have finished."""
        with self.open() as nb:
            return bounded({"due": research_views.due_list(nb.hypotheses.due())})

    def calibration(
        self,
        agent: Annotated[
            str | None, Field(description="Whose predictions: an author's name (default: yours).")
        ] = None,
        include_late: bool = False,
    ) -> dict[str, Any]:
        """Score one forecaster's resolved predictions (as `lab calibration --author`): Brier, log score, coverage."""
        from labbook.service.calibration import Filters, report

        author = agent or self.agent
        with self.open() as nb:
            rep = report(nb, Filters(include_late=include_late, author=author))
        return bounded(dict(research_views.calibration_dict(rep, None), author=author))

    # -- journal ---------------------------------------------------------------------
    def note(
        self,
        text: Text,
        run: Annotated[int | str | None, Field(description="The run it is about.")] = None,
        hypothesis: Annotated[str | None, Field(description="The hypothesis it is about.")] = None,
        against: Annotated[
            str | None, Field(description="Record it as evidence AGAINST this hypothesis.")
        ] = None,
    ) -> dict[str, Any]:
        """Write a note in the journal (as `lab note`), about a run or a hypothesis, or as evidence against one."""
        with self.open() as nb:
            n = nb.journal.note(text, hyp=hypothesis, run=run, against=against)
        return bounded(dict(note_dict(n), hypothesis=n.hyp_id))

    def search(self, query: Annotated[str, Field(min_length=1)], limit: Limit = 20) -> dict[str, Any]:
        """Full-text search over hypotheses, predictions, notes, runs, papers, problems and ideas (best first)."""
        with self.open() as nb:
            return bounded({"hits": hits_list(nb.journal.search(query, limit))})

    def today(self) -> dict[str, Any]:
        """One screen of what needs attention: predictions due, hypotheses to resolve, papers, failures, the plan."""
        from labbook.service.today import agenda
        from labbook.views.problems import agenda_dict

        with self.open() as nb:
            return bounded(agenda_dict(agenda(nb)))

    # -- resources -------------------------------------------------------------------
    def run_resource(self, id: str) -> str:
        return json_text(clip(self._run_detail(id)))

    def hypothesis_resource(self, ref: str) -> str:
        with self.open() as nb:
            d = nb.hypotheses.dossier(ref)
            piles = nb.failures.hypothesis_piles(d.hypothesis.id)
        return json_text(clip(research_views.dossier_dict(d, piles)))

    def today_resource(self) -> str:
        return json_text(self.today())

    def _sent(self, out: dict[str, Any]) -> dict[str, Any]:
        """A research write's reply, after its records went to the team server, if one is set."""
        warning = send_research_now(self.root)
        if warning:
            out["sync_warning"] = warning
        return bounded(out)


class Server(MCPServer[Any]):
    """The SDK's server, with arguments its schema refuses said in one line (``boundary.invalid``)."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as err:
            cause = err.__cause__
            if isinstance(err, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(boundary.invalid(name, cause)) from cause


READS = ("list_runs", "show_run", "wait_run", "compare", "due", "calibration", "search", "today")
WRITES = ("run", "plot", "add_hypothesis", "predict", "resolve", "note")


def build(root: Path, agent: str, cwd: Path) -> Server:
    """The server for notebook ``root``, speaking for ``agent``; runs start in ``cwd``."""
    lab = Lab(root, agent, cwd)
    server = Server("labbook", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")
    for name in (*READS, *WRITES):
        server.add_tool(boundary.tool(getattr(lab, name)), annotations=READ if name in READS else WRITE)
    for uri, fn, what in (
        (
            "lab://run/{id}",
            lab.run_resource,
            "Everything recorded about a run (lab show --json, long parts cut).",
        ),
        (
            "lab://hypothesis/{ref}",
            lab.hypothesis_resource,
            "A hypothesis with its predictions, runs and notes.",
        ),
        ("lab://today", lab.today_resource, "Today's agenda (lab today --json)."),
    ):
        server.resource(uri, description=what, mime_type="application/json")(boundary.resource(fn))
    return server
