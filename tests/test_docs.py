"""The documentation, checked against the real ``lab`` command.

- Every command and subcommand has a section in a hand-written page of docs/ (a heading
  that names it, like ``## `lab hyp add` ``), and every long option of every command is
  named in one of its sections.
- docs/cli.md, generated with cog from every command's ``--help``, is up to date.
- Every ``lab ...`` command line in a ``sh`` or ``console`` block of README.md and docs/
  parses against the real click command; one that shows a usage error shows that error.
- A ``console`` block preceded by ``<!-- test-output: NAME -->`` is run in a fresh notebook
  (the blocks of one NAME on one page share it, in order) and its output must match.
- ``mkdocs build --strict`` succeeds, with every page in the nav and every link and anchor
  resolved.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

import labbook.cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
GENERATED = DOCS / "cli.md"
PAGES = sorted(DOCS.glob("*.md"))
HAND_WRITTEN = [page for page in PAGES if page != GENERATED]

#: The click group behind the ``lab`` entry point (``labbook.cli:main``).
LAB: click.Group = labbook.cli.main if isinstance(labbook.cli.main, click.Group) else labbook.cli.cli


# --- the commands -----------------------------------------------------------------------


def _walk(group: click.Group, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group, info_name=path[-1])
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"{' '.join(path)} lists {name} but cannot load it"
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _walk(command, (*path, name))


COMMANDS: dict[tuple[str, ...], click.Command] = {("lab",): LAB, **dict(_walk(LAB, ("lab",)))}


def long_options(command: click.Command) -> list[str]:
    """The long options a user can see (hidden ones are internal plumbing)."""
    return [
        opt
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("--")
    ]


def parse(argv: list[str]) -> None:
    """Parse ``lab ARGV`` as click would, down to the subcommand, without running anything."""
    try:
        ctx = LAB.make_context("lab", list(argv))
        command: click.Command = LAB
        while isinstance(command, click.Group):
            protected = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
            rest = [*protected, *ctx.args]
            if not rest:
                break
            name, sub, rest = command.resolve_command(ctx, rest)
            assert name is not None and sub is not None
            ctx = sub.make_context(name, rest, parent=ctx)
            command = sub
    except click.exceptions.Exit:  # --help, --version
        pass


# --- the markdown -----------------------------------------------------------------------

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w-]*)")
MARKER = re.compile(r"^\s*<!--\s*test-output:\s*(?P<name>[\w-]+)\s*-->\s*$")
HEADING = re.compile(r"^(?P<level>#{1,6})\s+(?P<text>.+?)\s*$")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    lines: list[str]
    session: str | None = None


@dataclass
class Section:
    page: Path
    heading: str
    text: str = ""


def closes(line: str, fence: str) -> bool:
    """Whether LINE closes a block opened with FENCE: the same character, at least as many, alone."""
    bare = line.strip()
    return len(bare) >= len(fence) and set(bare) == {fence[0]}


def read_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page (also those indented inside list items)."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, start = len(m["indent"]), m["fence"], i
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(previous)
        body: list[str] = []
        i += 1
        while i < len(lines) and not closes(lines[i], fence):
            body.append(lines[i][indent:])
            i += 1
        blocks.append(Block(page, start + 1, m["lang"], body, marker["name"] if marker else None))
        i += 1
    return blocks


def read_sections(page: Path) -> list[Section]:
    """Each heading with its text up to the next heading of the same or a higher level."""
    open_sections: list[tuple[int, Section]] = []
    sections: list[Section] = []
    fence = ""  # the fence of the code block we are in, if any
    for line in page.read_text(encoding="utf-8").splitlines():
        if fence:
            fence = "" if closes(line, fence) else fence
            heading = None
        elif opening := FENCE.match(line):
            fence, heading = opening["fence"], None
        else:
            heading = HEADING.match(line)
        if heading:
            level = len(heading["level"])
            open_sections = [(lv, s) for lv, s in open_sections if lv < level]
            section = Section(page, heading["text"])
            sections.append(section)
            open_sections.append((level, section))
        for _, section in open_sections:
            section.text += line + "\n"
    return sections


SECTIONS = [section for page in HAND_WRITTEN for section in read_sections(page)]


def names(heading: str, path: tuple[str, ...]) -> bool:
    """Whether a heading names the command: ``lab hyp add`` (or, for ``lab`` itself, ``lab --dir``)."""
    if len(path) == 1:
        return re.search(r"\blab --", heading) is not None
    return re.search(rf"\blab {re.escape(' '.join(path[1:]))}(?![\w-])", heading) is not None


def sections_of(path: tuple[str, ...]) -> list[Section]:
    return [section for section in SECTIONS if names(section.heading, path)]


# --- command lines in code blocks -------------------------------------------------------


@dataclass
class CommandLine:
    page: Path
    line: int
    text: str
    output: list[str] = field(default_factory=list)


def command_lines(block: Block) -> list[CommandLine]:
    """The commands of a sh block (every line) or a console block (``$ `` lines, with their output)."""
    found: list[CommandLine] = []
    continued = False
    for offset, raw in enumerate(block.lines, start=1):
        if continued:
            found[-1].text = found[-1].text[:-1] + " " + raw.strip()
        elif block.lang == "console" and raw.startswith("$ "):
            found.append(CommandLine(block.page, block.line + offset, raw[2:].strip()))
        elif block.lang == "console":
            if found:
                found[-1].output.append(raw)
            continue
        elif raw.strip() and not raw.lstrip().startswith("#"):
            found.append(CommandLine(block.page, block.line + offset, raw.strip()))
        else:
            continue
        continued = found[-1].text.endswith("\\")
    return found


def shell_commands(line: str) -> list[list[str]]:
    """Split a shell line at ``&&``, ``||``, ``;`` and ``|`` (outside quotes) into argument lists.

    Redirections and comments are dropped.
    """
    segments: list[str] = []
    current, quote, redirect, i = "", "", False, 0
    while i < len(line):
        c = line[i]
        if quote:
            current += c if not redirect else ""
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
            current += c if not redirect else ""
        elif c == "\\" and i + 1 < len(line):
            current += line[i : i + 2] if not redirect else ""
            i += 1
        elif line.startswith(("&&", "||"), i) or c in ";|":
            segments.append(current)
            current, redirect = "", False
            i += 1 if c in "&|" and line[i : i + 2] in ("&&", "||") else 0
        elif c == "#" and (not current or current[-1].isspace()):
            break
        elif c in "<>":
            current, redirect = re.sub(r"\s\d$", "", current), True
        elif not redirect:
            current += c
        i += 1
    segments.append(current)
    return [shlex.split(segment) for segment in segments if segment.strip()]


def lab_argv(words: list[str]) -> list[str] | None:
    """The arguments after ``lab`` (or ``.venv/bin/lab``), past any ``VAR=value`` prefix."""
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        words = words[1:]
    if words and (words[0] in ("lab", "labbook") or words[0].endswith(("/lab", "/labbook"))):
        return words[1:]
    return None


BLOCKS = [block for page in [README, *PAGES] for block in read_blocks(page)]
LAB_LINES = [
    (cl, argv)
    for block in BLOCKS
    if block.lang in ("sh", "console")
    for cl in command_lines(block)
    for words in shell_commands(cl.text)
    if (argv := lab_argv(words)) is not None
]


def where(page: Path, line: int) -> str:
    return f"{page.relative_to(ROOT)}:{line}"


# --- every command and option is documented ---------------------------------------------


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_command_has_a_section(path: tuple[str, ...]) -> None:
    assert sections_of(path), (
        f"no heading in docs/ names `{' '.join(path)}`: give it a section in the page of its area "
        f"(docs/cli.md is generated and does not count)"
    )


@pytest.mark.parametrize(
    ("path", "option"),
    [(path, option) for path, command in COMMANDS.items() for option in long_options(command)],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else value,
)
def test_option_is_documented(path: tuple[str, ...], option: str) -> None:
    sections = sections_of(path)
    assert sections, f"`{' '.join(path)}` has no section in docs/"
    pattern = re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])")
    assert any(pattern.search(s.text) for s in sections), (
        f"{option} of `{' '.join(path)}` is not named in its sections: "
        + "; ".join(f"{s.page.relative_to(ROOT)} '{s.heading}'" for s in sections)
    )


def test_every_command_is_counted() -> None:
    """The walk sees the whole CLI: groups and their subcommands, not just the top level."""
    assert ("lab", "run") in COMMANDS and ("lab", "failures", "diff") in COMMANDS
    assert len(COMMANDS) > 60
    assert sum(len(long_options(c)) for c in COMMANDS.values()) > 180


# --- the generated CLI reference --------------------------------------------------------


def test_cli_reference_is_up_to_date() -> None:
    from cogapp import Cog

    status = Cog().main(["cog", "--check", "--diff", "--verbosity=0", str(GENERATED)])
    assert status == 0, "docs/cli.md is out of date: regenerate it with `cog -r docs/cli.md`"


def test_cli_reference_has_every_command() -> None:
    text = GENERATED.read_text(encoding="utf-8")
    for path in COMMANDS:
        assert re.search(rf"^#+ {re.escape(' '.join(path))}$", text, re.M), f"docs/cli.md lacks {path}"


# --- every documented command line parses -----------------------------------------------


@pytest.fixture(scope="module")
def files_need_not_exist() -> Iterator[None]:
    """Documented paths (``library.bib``) are examples: parse them without looking for the files."""
    with pytest.MonkeyPatch.context() as mp:
        for command in COMMANDS.values():
            for param in command.params:
                if isinstance(param.type, click.Path) and param.type.exists:
                    mp.setattr(param.type, "exists", False)
        yield


@pytest.mark.usefixtures("files_need_not_exist")
@pytest.mark.parametrize(
    ("cl", "argv"), LAB_LINES, ids=[where(cl.page, cl.line) + " " + " ".join(a[:2]) for cl, a in LAB_LINES]
)
def test_command_line_parses(cl: CommandLine, argv: list[str]) -> None:
    shown = cl.output[0] if cl.output else ""
    try:
        parse(argv)
    except click.UsageError as err:
        message = err.format_message().rstrip(".")
        assert shown.startswith("error:") and message in shown, (
            f"{where(cl.page, cl.line)}: `{cl.text}` does not parse: {message}"
        )


def test_command_lines_are_found() -> None:
    pages = {cl.page for cl, _ in LAB_LINES}
    assert README in pages and len(pages) >= 10
    assert len(LAB_LINES) > 120


# --- documented output ------------------------------------------------------------------

SESSIONS: dict[tuple[Path, str], list[Block]] = {}
for _block in BLOCKS:
    if _block.session:
        SESSIONS.setdefault((_block.page, _block.session), []).append(_block)


def _run_session(blocks: list[Block], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "proj" / "work"
    work.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    monkeypatch.chdir(work)
    runner = CliRunner()
    env = {"LABBOOK_USER": "ana", "LABBOOK_DIR": None, "LABBOOK_DEBUG": None, "COLUMNS": None}
    lines = [cl for block in blocks for cl in command_lines(block)]
    first = shell_commands(lines[0].text)
    if [lab_argv(words) for words in first] != [["init"]]:
        assert runner.invoke(LAB, ["init"], env=env, prog_name="lab").exit_code == 0
    exit_code = 0
    for cl in lines:
        expected = "\n".join(line.rstrip() for line in cl.output).rstrip()
        if cl.text == "echo $?":
            assert expected == str(exit_code), f"{where(cl.page, cl.line)}: exit code {exit_code}"
            continue
        commands = shell_commands(cl.text)
        argv = lab_argv(commands[0]) if len(commands) == 1 else None
        assert argv is not None, f"{where(cl.page, cl.line)}: a checked block holds only `lab ...` lines"
        result = runner.invoke(LAB, argv, env=env, prog_name="lab", catch_exceptions=False)
        exit_code = result.exit_code
        actual = "\n".join(line.rstrip() for line in result.output.splitlines()).rstrip()
        actual = actual.replace(str(tmp_path.resolve()), "/tmp").replace(str(tmp_path), "/tmp")
        assert actual == expected, f"{where(cl.page, cl.line)}: `{cl.text}` printed\n{actual}"
        wanted = 2 if expected.startswith("error:") else 0
        assert exit_code == wanted, f"{where(cl.page, cl.line)}: `{cl.text}` exited {exit_code}"


@pytest.mark.parametrize(
    "key", list(SESSIONS), ids=[f"{page.relative_to(ROOT)}:{name}" for page, name in SESSIONS]
)
def test_documented_output(key: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run_session(SESSIONS[key], tmp_path, monkeypatch)


def test_documented_outputs_are_found() -> None:
    pages = {page for page, _ in SESSIONS}
    commands = [cl for blocks in SESSIONS.values() for block in blocks for cl in command_lines(block)]
    assert len(pages) >= 5 and len(commands) >= 30
    assert all(block.lang == "console" for blocks in SESSIONS.values() for block in blocks)


# --- the site and the README ------------------------------------------------------------


def _nav_pages(nav: list) -> Iterator[str]:
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            yield from _nav_pages(value)
        else:
            yield value


def test_nav_lists_every_page() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["theme"]["name"] == "material"
    assert sorted(_nav_pages(config["nav"])) == sorted(page.name for page in PAGES)


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    command = ["build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)]
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", *command],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "cli" / "index.html").is_file() and (site / "promises" / "index.html").is_file()


def test_readme_links_resolve() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not re.match(r"^[a-z]+:", link)]
    assert {"docs/promises.md", "docs/cli.md", "docs/index.md"} <= set(local)
    for link in local:
        assert (ROOT / link).exists(), f"README.md links to {link}, which does not exist"


def test_readme_quickstart_is_what_ci_runs() -> None:
    quickstart = README.read_text(encoding="utf-8").split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", quickstart, re.S)
    assert len(blocks) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert blocks[1] in ci, "the second Quickstart command is what .ci/run runs: keep them the same"
