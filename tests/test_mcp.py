"""``lab mcp``: a real MCP client (the ``mcp`` SDK's) talking over stdio to ``lab mcp`` in a real notebook.

One server session carries the agent's whole loop: hypothesis, prediction, a sweep of
seeds launched and waited for, the prediction resolving itself, compare, plot, a late
prediction, notes, and bad arguments that come back as tool errors while the server lives
on. ``lab calibration --author`` then scores the agent and a person separately. Every
wait is on a state (a run ended), never on a sleep.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult, ImageContent, TextContent, TextResourceContents

from .conftest import lab, write_script

EMIT = """\
import json, sys
seed, wide = int(sys.argv[1]), int(sys.argv[2])
for step in range(5):
    print(json.dumps({"acc": 0.5 + 0.1 * wide + 0.01 * seed + 0.001 * step}))
"""


class Agent:
    """A client session that keeps a transcript of its calls (docs/mcp.md shows one)."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.transcript: list[str] = []

    async def call(self, tool: str, **arguments: Any) -> CallToolResult:
        result = await self.session.call_tool(tool, arguments)
        said = [c.text if isinstance(c, TextContent) else f"<{c.type}>" for c in result.content]
        self.transcript.append(f"→ {tool}({json.dumps(arguments)})\n← " + "\n".join(said))
        return result

    async def ok(self, tool: str, **arguments: Any) -> Any:
        """The reply of a call that must succeed, as data."""
        result = await self.call(tool, **arguments)
        assert not result.is_error, result.content
        first = result.content[0]
        assert isinstance(first, TextContent)
        return json.loads(first.text)

    async def refused(self, tool: str, **arguments: Any) -> str:
        """The one line of a call that must come back as a tool error."""
        result = await self.call(tool, **arguments)
        assert result.is_error, result.content
        (only,) = result.content
        assert isinstance(only, TextContent) and "\n" not in only.text
        return only.text

    async def read(self, uri: str) -> Any:
        (content,) = (await self.session.read_resource(uri)).contents
        assert isinstance(content, TextResourceContents) and content.mime_type == "application/json"
        return json.loads(content.text)


def serve(project: Path, log: Path, scenario: Callable[[Agent], Awaitable[None]]) -> None:
    """Run ``scenario`` against ``lab --dir PROJECT mcp --agent claude`` in one session."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "labbook", "--dir", str(project), "mcp", "--agent", "claude"],
        env=dict(os.environ),
        cwd=str(project),
    )

    async def main() -> None:
        with log.open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as s:
                await s.initialize()
                await scenario(Agent(s))

    try:
        anyio.run(main)
    except BaseExceptionGroup as group:  # the task groups' wrapping: fail on what failed
        failure: BaseException = group
        while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
            failure = failure.exceptions[0]
        raise failure from None
    finally:
        print(log.read_text())  # the server's own log, shown when the test fails


async def check_schemas(agent: Agent) -> None:
    tools = {t.name: t.input_schema for t in (await agent.session.list_tools()).tools}
    assert set(tools) == {
        "list_runs", "show_run", "compare", "plot", "add_hypothesis", "predict", "run", "wait_run",
        "note", "resolve", "due", "today", "search", "calibration",
    }  # fmt: skip
    required = {name: set(schema.get("required", [])) for name, schema in tools.items()}
    assert required["show_run"] == {"run"} and required["compare"] == {"a", "b"}
    assert required["predict"] == {"hypothesis", "text"} and required["plot"] == {"metric"}
    assert required["run"] == {"command"} and required["wait_run"] == {"run"}
    assert required["add_hypothesis"] == required["note"] == {"text"} and required["search"] == {"query"}
    assert not required["list_runs"] | required["due"] | required["today"] | required["resolve"]
    props = {name: schema["properties"] for name, schema in tools.items()}
    assert props["run"]["command"]["type"] == "array" and props["run"]["command"]["items"] == {
        "type": "string"
    }
    assert props["list_runs"]["limit"]["type"] == "integer" and props["list_runs"]["limit"]["maximum"] == 100
    assert props["predict"]["p"]["anyOf"][0] == {"type": "number"}
    assert set(props["predict"]["op"]["anyOf"][0]["enum"]) == {">", ">=", "<", "<=", "==", "!="}
    assert props["wait_run"]["timeout"]["type"] == "number"
    assert {"type": "integer"} in props["show_run"]["run"]["anyOf"]
    templates = (await agent.session.list_resource_templates()).resource_templates
    assert {t.uri_template for t in templates} == {"lab://run/{id}", "lab://hypothesis/{ref}"}
    assert [str(r.uri) for r in (await agent.session.list_resources()).resources] == ["lab://today"]


def test_an_agent_runs_the_loop_over_mcp(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_script(project, "emit.py", EMIT)
    seen: dict[str, Any] = {}

    async def before_any_run(agent: Agent) -> None:
        await check_schemas(agent)
        h = await agent.ok("add_hypothesis", text="a wider model reaches a higher accuracy")
        assert (h["ref"], h["author"]) == ("H1", "claude")
        p = await agent.ok(
            "predict", hypothesis="H1", text="acc ends above 0.5 on average",
            p=0.8, metric="acc", op=">", value=0.5, min_runs=4,
        )  # fmt: skip
        assert (p["ref"], p["author"], p["late"]) == ("P1", "claude", False) and "warning" not in p
        seen["transcript"] = agent.transcript

    async def the_runs(agent: Agent) -> None:
        # Bad arguments: one line each, the CLI's, and the server answers the next call.
        seen["unknown run"] = await agent.refused("show_run", run=99)
        seen["bad where"] = await agent.refused("list_runs", where="acc >>> 3")
        seen["bad command"] = await agent.refused("run", command=["no-such-program-xyz"])
        seen["bad hypothesis"] = await agent.refused("run", command=["python", "emit.py"], hypothesis="H9")
        assert await agent.refused("list_runs", limit=1000) == (
            "error: list_runs: limit: Input should be less than or equal to 100"
        )
        assert await agent.refused("show_run") == "error: show_run: run: Field required"
        assert (await agent.ok("list_runs"))["runs"] == []

        launched = await agent.ok(
            "run", command=[sys.executable, "emit.py", "{seed}", "{wide}"],
            overrides=["+seed=0,1", "+wide=0,1"], hypothesis="H1", parallel=2,
        )  # fmt: skip
        assert launched["sweep"] and launched["runs"] and launched["expected"] == 4
        assert launched["tags"] == ["agent:claude"]
        waited = await agent.ok("wait_run", run=launched["sweep"], timeout=120)
        assert waited["ended"] and [r["status"] for r in waited["runs"]] == ["finished"] * 4
        mine = await agent.ok("list_runs", where="'agent:claude' in tags", sort="id")
        assert mine["total"] == 4 and all(r["hypothesis"] == 1 for r in mine["runs"])

        # The prediction resolved itself when the last run ended.
        dossier = await agent.read("lab://hypothesis/H1")
        (p1,) = [p for p in dossier["predictions"] if p["ref"] == "P1"]
        assert p1["resolution"]["outcome"] == "true" and p1["resolution"]["how"] == "auto"

        report = await agent.ok("compare", a="wide=1", b="wide=0", metric="acc")
        assert report["metrics"][0]["metric"] == "acc" and report["a"]["runs"] and report["b"]["runs"]
        assert report["verdict"] == report["metrics"][0]["sentence"]
        assert report["verdict"].startswith("A is better")
        plotted = await agent.call("plot", metric="acc", runs=["wide=1", "wide=0"])
        assert not plotted.is_error
        image, lines = plotted.content
        assert isinstance(image, ImageContent) and image.mime_type == "image/png"
        assert base64.b64decode(image.data).startswith(b"\x89PNG\r\n\x1a\n")
        assert isinstance(lines, TextContent) and len(json.loads(lines.text)["lines"]) == 2

        late = await agent.ok("predict", hypothesis="H1", text="wide wins by more than 0.05", p=0.9)
        assert late["late"] is True and "LATE" in late["warning"]

        run1 = await agent.ok("show_run", run=1)
        assert run1["status"] == "finished" and "agent:claude" in run1["tags"]
        assert (await agent.read("lab://run/1"))["id"] == 1
        note = await agent.ok("note", text="wide=1 is ahead by 0.1 in both seeds", hypothesis="H1")
        against = await agent.ok("note", text="only 2 seeds per arm", against="H1", run=1)
        assert (note["author"], against["against"], against["run"]) == ("claude", True, 1)
        hits = await agent.ok("search", query="seeds")
        assert any(h["kind"] == "note" for h in hits["hits"])
        assert (await agent.ok("calibration"))["binary"]["n"] == 1
        assert "due" in (await agent.read("lab://today")) and "due" in await agent.ok("today")
        assert isinstance((await agent.ok("due"))["due"], list)
        closed = await agent.ok("resolve", hypothesis="H1", outcome="supported", belief="width matters here")
        assert closed["outcome"] == "supported"
        seen["transcript"] += agent.transcript

    serve(project, tmp_path / "server-1.log", before_any_run)
    with monkeypatch.context() as person:
        person.setenv("LABBOOK_USER", "ada")
        assert lab("predict", "H1", "the wide arm wins", "-p", "0.6").exit_code == 0
    serve(project, tmp_path / "server-2.log", the_runs)
    (tmp_path / "transcript.txt").write_text("\n\n".join(seen["transcript"]) + "\n")

    # The agent's errors are the lines the CLI prints for the same mistakes.
    assert seen["unknown run"] == lab("show", "99").stderr.strip()
    assert seen["bad where"] == lab("ls", "--where", "acc >>> 3").stderr.strip()
    assert seen["bad command"] == lab("run", "--", "no-such-program-xyz").stderr.strip()
    assert seen["bad hypothesis"].startswith("error: no hypothesis H9")

    # Every write is attributed; calibration scores each author on their own.
    assert lab("resolve", "P2", "true").exit_code == 0
    agent_score = json.loads(lab("calibration", "--author", "claude", "--json").stdout)
    assert (agent_score["considered"], agent_score["late_excluded"], agent_score["binary"]["n"]) == (2, 1, 1)
    ada = json.loads(lab("calibration", "--author", "ada", "--json").stdout)
    assert (ada["considered"], ada["binary"]["n"], ada["binary"]["mean_forecast"]) == (1, 1, 0.6)
    everyone = json.loads(lab("calibration", "--json").stdout)
    assert everyone["considered"] == 3 and everyone["binary"]["n"] == 2


def test_lab_mcp_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    """Before the SDK loads: one line, exit 2."""
    nowhere = lab("mcp", "--dir", str(tmp_path / "none"))
    assert nowhere.exit_code == 2 and nowhere.stderr.startswith("error: no notebook at ")
    assert len(nowhere.stderr.strip().splitlines()) == 1
    assert lab("init", str(tmp_path)).exit_code == 0
    badly = lab("mcp", "--dir", str(tmp_path), "--agent", "two words")
    assert badly.exit_code == 2
    assert (
        badly.stderr
        == "error: --agent 'two words': give one word (letters, digits, . _ - @), e.g. --agent claude\n"
    )


def test_replies_are_bounded_and_strict_json() -> None:
    from labbook.mcp.bounds import clip

    out = clip(
        {"patch": "x" * 5000, "packages": list(range(120)), "acc": float("nan"), "m": dict.fromkeys("ab")}
    )
    assert out["patch"] == "x" * 2000 + "… [3,000 more characters cut]"
    assert out["packages"][:50] == list(range(50)) and out["packages"][50:] == ["… [70 more cut]"]
    assert out["acc"] == "NaN" and out["m"] == {"a": None, "b": None}
    assert clip({str(i): i for i in range(60)})["…"] == "[10 more keys cut]"


def test_an_unexpected_failure_is_one_line_too() -> None:
    from labbook.mcp import boundary

    def broken() -> None:
        raise ZeroDivisionError("division by zero")

    result = boundary.tool(broken)()
    assert result.is_error and result.content[0].text == "internal error: ZeroDivisionError: division by zero"
