"""What the reading and planning commands cost on a large library.

Builds a 5,000-entry BibTeX file (accents, unquoted month macros, a tenth of the entries
duplicates of others by DOI, arXiv id in another version, or title) and the same library
as CSL-JSON, then times, as subprocesses of the installed ``lab`` (wall time, median of
several runs after an untimed warm-up where the command does not write):

- ``lab papers import`` of each file into a new notebook, and again into the same one
  (everything merges); in-process, bibtexparser's own parse apart from the rest;
- ``lab papers ls`` (every paper), ``lab papers ls --week``, ``lab today``;
- ``lab problems match`` over 20 problems with 5 linked hypotheses and 5 notes each;
- ``lab plan`` with 50 open tasks.

    python benchmarks/bench_papers.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import _common as bench

N_ENTRIES = 5_000
REPEATS = 5
WORDS = tuple(
    [
        "scaling",
        "attention",
        "sparse",
        "gradient",
        "descent",
        "learning",
        "rate",
        "warmup",
        "transformer",
        "diffusion",
        "kernel",
        "retrieval",
        "agent",
        "benchmark",
        "contamination",
        "reward",
        "policy",
        "optimisation",
        "preconditioning",
        "curvature",
        "tokenizer",
        "mixture",
        "expert",
        "distillation",
        "quantization",
        "memory",
        "efficient",
        "robust",
        "calibration",
    ]
)
SURNAMES = ["Müller", "Schölkopf", "Bottou", "Nocedal", "García", "Zhang", "Łukasz", "Ng", "Dvořák", "Smith"]
LATEX = {"ü": '{\\"u}', "ö": '{\\"o}', "é": "{\\'e}", "í": "{\\'i}", "ř": "{\\v r}", "Ł": "{\\L}"}
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def library(n: int, seed: int = 0) -> list[dict]:
    """``n`` entries; one in ten repeats an earlier one under another identifier."""
    rng = random.Random(seed)
    out: list[dict] = []
    for i in range(n):
        if i > 20 and i % 10 == 0:
            twin = dict(out[rng.randrange(len(out))])
            how = i % 3
            if how == 0 and twin.get("doi"):
                twin["doi"] = twin["doi"].upper()
            elif how == 1 and twin.get("arxiv"):
                twin["arxiv"] = twin["arxiv"] + f"v{rng.randint(1, 4)}"
            else:
                twin["title"] = twin["title"].lower() + "."
            twin["key"] = f"dup{i}"
            out.append(twin)
            continue
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))).capitalize() + f" {i}"
        out.append(
            {
                "key": f"paper{i}",
                "title": title,
                "authors": [f"{rng.choice(SURNAMES)}, A{j}." for j in range(rng.randint(1, 6))],
                "year": rng.randint(1990, 2026),
                "month": rng.choice(MONTHS),
                "venue": rng.choice(["NeurIPS", "ICML", "ICLR", "JMLR", "arXiv"]),
                "doi": f"10.{rng.randint(1000, 9999)}/x.{i}" if rng.random() < 0.6 else None,
                "arxiv": f"{rng.randint(15, 26)}{rng.randint(1, 12):02d}.{i:05d}"
                if rng.random() < 0.5
                else None,
                "abstract": " ".join(rng.choice(WORDS) for _ in range(120)),
            }
        )
    return out


def latex(text: str) -> str:
    return "".join(LATEX.get(ch, ch) for ch in text)


def to_bib(entries: list[dict]) -> str:
    parts = []
    for e in entries:
        fields = [
            f"  title = {{{e['title']}}}",
            f"  author = {{{latex(' and '.join(e['authors']))}}}",
            f"  year = {e['year']}",
            f"  month = {e['month']}",
            f"  journal = {{{e['venue']}}}",
            f"  abstract = {{{e['abstract']}}}",
        ]
        if e["doi"]:
            fields.append(f"  doi = {{{e['doi']}}}")
        if e["arxiv"]:
            fields.append(f"  eprint = {{{e['arxiv']}}},\n  archiveprefix = {{arXiv}}")
        parts.append(f"@article{{{e['key']},\n" + ",\n".join(fields) + "\n}\n")
    return "\n".join(parts)


def to_csl(entries: list[dict]) -> str:
    items = []
    for e in entries:
        item = {
            "id": e["key"],
            "type": "article-journal",
            "title": e["title"],
            "author": [{"family": a.split(", ")[0], "given": a.split(", ")[1]} for a in e["authors"]],
            "issued": {"date-parts": [[e["year"]]]},
            "container-title": e["venue"],
            "abstract": e["abstract"],
        }
        if e["doi"]:
            item["DOI"] = e["doi"]
        if e["arxiv"]:
            item["URL"] = f"https://arxiv.org/abs/{e['arxiv']}"
        items.append(item)
    return json.dumps(items)


def lab(project: Path, *args: str, repeats: int = REPEATS, warm_up: bool = True) -> tuple[float, str]:
    argv = [*bench.lab_command(), "--dir", str(project), *args]
    times, proc = bench.wall_times(argv, repeats, warm_up, check=True, timeout=600)
    return bench.median(times), proc.stdout


def in_process(bib: str, path: Path) -> tuple[float, float]:
    """bibtexparser with its stock LaTeX decoding (every value through pylatexenc), and labbook's
    whole import (parse decoding only values that hold LaTeX, dedupe, one transaction)."""
    import bibtexparser
    from bibtexparser import middlewares as mw

    from labbook.service.notebook import Notebook

    t0 = bench.now()
    bibtexparser.parse_string(
        bib,
        append_middleware=[mw.LatexDecodingMiddleware(), mw.MonthIntMiddleware(True), mw.SeparateCoAuthors()],
    )
    parse_s = bench.now() - t0
    project = bench.new_notebook(path)
    with Notebook.open(project) as nb:
        t0 = bench.now()
        nb.papers.import_file(path.parent / "library.bib")
        total = bench.now() - t0
    return parse_s, total


def seed_direction(project: Path) -> None:
    from labbook.service.notebook import Notebook

    rng = random.Random(1)
    with Notebook.open(project) as nb:
        for q in range(20):
            words = " ".join(rng.choice(WORDS) for _ in range(6))
            problem, _ = nb.problems.add(
                f"Problem {q}: {words}", " ".join(rng.choice(WORDS) for _ in range(20)), words
            )
            for _ in range(5):
                hyp = nb.hypotheses.add(" ".join(rng.choice(WORDS) for _ in range(12)), problem.ref)
                nb.journal.note(" ".join(rng.choice(WORDS) for _ in range(30)), hyp=hyp.ref)
        for t in range(50):
            nb.plan.add(f"task {t}", rng.uniform(0.2, 0.95), rng.uniform(0.5, 20))
        for paper in nb.papers.list()[:12]:
            nb.papers.triage(paper.ref, "skim", "other", "no")


def main() -> None:
    bench.quiet_environment()
    bench.header(f"papers, problems, plan and today over a library of {N_ENTRIES:,} entries")
    entries = library(N_ENTRIES)
    rows = []
    with bench.temp_dir("papers") as tmp:
        (tmp / "library.bib").write_text(to_bib(entries))
        (tmp / "zotero.json").write_text(to_csl(entries))
        size = (tmp / "library.bib").stat().st_size
        bench.progress(f"wrote {N_ENTRIES:,} entries ({size / 1e6:.1f} MB of BibTeX)")
        parse_s, whole_s = in_process((tmp / "library.bib").read_text(), tmp / "inproc")
        rows.append(
            [
                "bibtexparser.parse_string, stock LatexDecodingMiddleware (in process)",
                bench.fmt_time(parse_s),
                "",
            ]
        )
        rows.append(["Papers.import_file, whole import (in process)", bench.fmt_time(whole_s), ""])
        project = bench.new_notebook(tmp / "nb")
        t, out = lab(project, "papers", "import", str(tmp / "library.bib"), repeats=1, warm_up=False)
        rows.append(["lab papers import library.bib (new notebook)", bench.fmt_time(t), out.splitlines()[0]])
        t, out = lab(project, "papers", "import", str(tmp / "library.bib"), repeats=1, warm_up=False)
        rows.append(
            ["lab papers import library.bib again (all merge)", bench.fmt_time(t), out.splitlines()[0]]
        )
        csl = bench.new_notebook(tmp / "csl")
        t, out = lab(csl, "papers", "import", str(tmp / "zotero.json"), repeats=1, warm_up=False)
        rows.append(["lab papers import zotero.json (new notebook)", bench.fmt_time(t), out.splitlines()[0]])
        bench.progress("seeding problems, hypotheses, notes and tasks")
        seed_direction(project)
        for args in (
            ["papers", "ls"],
            ["papers", "ls", "--week"],
            ["papers", "ls", "--json"],
            ["today"],
            ["problems", "ls"],
            ["problems", "match", "a sparse attention kernel for long-context retrieval"],
            ["plan"],
            ["--help"],
        ):
            bench.progress(f"lab {' '.join(args)}")
            # match writes a record each time; no warm-up keeps the count honest, the median absorbs it
            t, out = lab(project, *args, warm_up=args[0] != "problems" or args[1] != "match")
            rows.append([f"lab {' '.join(args)}", bench.fmt_time(t), f"{len(out.splitlines())} lines"])
    bench.print_table(
        f"wall time, median of {REPEATS} (imports: once)",
        ["what", "time", "result"],
        rows,
        notes=[
            f"{N_ENTRIES:,} entries, one in ten a duplicate of another by DOI case, arXiv version or title",
            "20 problems x 5 linked hypotheses x 1 note; 50 open tasks; 12 papers triaged this week",
        ],
    )


if __name__ == "__main__":
    main()
