"""The words of ``lab compare A B``: sides, diffs, each metric's statistics, the verdict, warnings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labbook.views import tables as render

if TYPE_CHECKING:
    from labbook.records.artifacts import ArtifactDiff


def report_text(r: Any) -> str:
    """``lab compare``'s report in words; the web's compare page shows the same text."""
    from labbook.service.compare.variants import short

    out = []
    for name, s in (("A", r.a), ("B", r.b)):
        left = f"; left out {s.excluded_text()}" if s.excluded else ""
        out.append(
            f"{name}: {s.spec}  ({len(s.runs)} run{'s' if len(s.runs) != 1 else ''}: {render.ids_text([x.id for x in s.runs])}{left})"
        )
    if r.settings_used:
        out.append(f"settings: {'; '.join(r.settings_used)} (lab settings ls)")
    out.append("")
    out.append("config (keys that differ)")
    if r.config:
        rows = [[k, ", ".join(map(short, va)), ", ".join(map(short, vb))] for k, va, vb in r.config]
        out.append(render.indent(render.plain_table(["key", "A", "B"], rows, set())))
    else:
        out.append("  same configuration (apart from the noise keys)")
    out.append("")
    out += _code_text(r.code)
    out.append("")
    out += _environment_text(r.environment)
    out.append("")
    out += _artifacts_text(r.artifacts)
    out += _metrics_text(r)
    out += _examples_text(r.examples)
    out.append("")
    out += _verdict_text(r)
    if r.warnings:
        out.append("")
        out.append("warnings")
        out += [f"  ! {w}" for w in r.warnings]
    return "\n".join(out)


def _code_text(code: dict[str, Any]) -> list[str]:
    out = ["code"]

    def commits(c: dict[str, int]) -> str:
        return ", ".join(f"{k} ({v} run{'s' if v != 1 else ''})" for k, v in c.items())

    if set(code["a_commits"]) | set(code["b_commits"]) == {"none"}:
        out.append("  commit: none captured (not in a git repository)")
    elif code["same_commits"]:
        out.append(f"  commit: the same on both sides, {', '.join(code['a_commits'])}")
    else:
        out.append(f"  commit: A {commits(code['a_commits'])}; B {commits(code['b_commits'])}")
    if code["same_patches"]:
        out.append("  uncommitted changes: the same on both sides")
    else:
        lines = code["patch_diff"].splitlines()
        out.append(
            f"  uncommitted changes differ ({len(lines)}-line diff of the patches; --json has them whole):"
        )
        out += ["    " + line for line in lines[:40]]
        if len(lines) > 40:
            out.append(f"    ... {len(lines) - 40} more lines")
    return out


def _environment_text(env: dict[str, Any]) -> list[str]:
    out = ["environment"]
    if env["packages"]:
        shown = [f"{n} {'/'.join(va)} vs {'/'.join(vb)}" for n, va, vb in env["packages"][:12]]
        more = f" and {len(env['packages']) - 12} more" if len(env["packages"]) > 12 else ""
        out.append(f"  packages that differ: {', '.join(shown)}{more}")
    else:
        out.append("  packages: same versions")
    for key in ("python", "host", "gpu"):
        va, vb, differ = env[key]
        out.append(
            f"  {key}: " + (f"A {', '.join(va)}; B {', '.join(vb)}" if differ else f"{', '.join(va)} on both")
        )
    return out


def _artifacts_text(artifacts: tuple[ArtifactDiff, ArtifactDiff] | None) -> list[str]:
    """The artifacts that differ by name, outputs and snapshot files apart; nothing when no run kept any."""
    from labbook.views.artifacts import diff_words

    if artifacts is None or not any(d.differs or d.same for d in artifacts):
        return []
    out = ["artifacts"]
    for label, d in zip(("outputs", "snapshot files"), artifacts, strict=True):
        if d.differs or d.same:
            out.append(f"  {label}: {diff_words(d) if d.differs else f'all {d.same} the same'}")
    return [*out, ""]


def _shaped(s: Any) -> str:
    """A side's CI, marked † when its shape puts the CI's coverage in doubt."""
    return render.ci_text(s) + (" †" if s.shape_note else "")


def _shape_lines(label: str, s: Any, prefix: str = "  ") -> list[str]:
    """The note beside a doubtful CI, with the distribution-free median interval."""
    from labbook.service.compare.words import num

    if not s.shape_note:
        return []
    return [
        f"{prefix}† {label}: {s.shape_note}; median {num(s.median, 4)} "
        f"[{num(s.median_low, 4)}, {num(s.median_high, 4)}] (order statistics: covers "
        f"{100 * s.median_level:.4g}% whatever the shape)"
    ]


def _metrics_text(r: Any) -> list[str]:
    from labbook.service.compare.words import num, pvalue

    agg = r.metrics[0].agg
    family = len(r.metrics) > 1
    out = [f"metrics ({agg} value per run: mean ± half-width [95% CI], sd = standard deviation)"]
    rows = []
    for m in r.metrics:
        c = m.comparison
        row = [m.metric + (" ↓" if m.lower_better else "")]
        row += [c.role] if family else []
        row += [
            _shaped(c.a),
            _shaped(c.b),
            f"{num(c.diff, 4)} [{num(c.low, 3)}, {num(c.high, 3)}]",
            c.test.split(" (")[0],
            pvalue(c.p).removeprefix("= "),
        ]
        row += [pvalue(c.p_adjusted).removeprefix("= ")] if family else []
        row += [num(c.superiority, 2), num(c.effect, 2)]
        rows.append(row)
    head = ["metric", *(["role"] if family else []), "A", "B", "A − B [95% CI]", "test", "p"]
    head += [*(["p adj."] if family else []), "P(A beats B)", "g"]
    right = set(range(len(head) - (4 if family else 3), len(head)))
    out.append(render.indent(render.plain_table(head, rows, right)))
    methods = sorted(
        {x.method for m in r.metrics for x in (m.comparison.a, m.comparison.b) if x.method != "none"}
    )
    tests = sorted({m.comparison.test for m in r.metrics})
    out.append(
        f"  CI of each mean: {' / '.join(methods) or 'none'}; of the difference: "
        f"{', '.join(sorted({m.comparison.ci_method for m in r.metrics}))}. Tests: {'; '.join(tests)}."
    )
    if family:
        k = len(r.metrics) - 1
        them = (
            "the other metric is secondary: its p adj. is at least the primary's p, and it counts"
            if k == 1
            else f"the other {k} are secondary: p adj. is Holm's over them, at least the primary's p, and they count"
        )
        out.append(
            f"  primary: {r.metrics[0].metric} (the first --metric, else the first by name), tested at 0.05; "
            f"{them} only when the primary shows a difference."
        )
    lower = "↓ lower is better. " if any(m.lower_better for m in r.metrics) else ""
    out.append(
        f"  {lower}P(A beats B): chance a random run of A beats one of B by the goal"
        f"{' (the lower wins for ↓)' if lower else ''}. g: Hedges' g."
    )
    for m in r.metrics:
        for name, s in (("A", m.comparison.a), ("B", m.comparison.b)):
            out += _shape_lines(f"{m.metric}, {name}", s)
    return out


def _shared_notes(
    notes_by: list[tuple[str, list[str]]],
) -> tuple[dict[str, list[str]], list[tuple[str, list[str]]]]:
    """Notes said of one item only, by item; and those said of several, once with their items."""
    who: dict[str, list[str]] = {}
    for item, notes in notes_by:
        for note in notes:
            who.setdefault(note, []).append(item)
    own = {item: [n for n in notes if len(who[n]) == 1] for item, notes in notes_by}
    shared = [(note, items) for note, items in who.items() if len(items) > 1]
    return own, shared


def _verdict_text(r: Any) -> list[str]:
    from labbook.service.compare.words import verdict

    out = ["verdict"]
    own, shared = _shared_notes([(m.metric, m.comparison.notes) for m in r.metrics])
    for m in r.metrics:
        out.append(f"  {m.metric}: {verdict(m)}")
        out += [f"    ({note})" for note in own[m.metric]]
    for note, items in shared:
        out.append(f"  ({', '.join(items)}: {note})")
    if r.examples is not None:
        out.append(f"  examples: {_examples_verdict(r.examples)}")
    return out


def _examples_text(e: Any) -> list[str]:
    """The per-example paired comparison, when both sides scored the same examples."""
    from labbook.service.compare.words import num, pvalue

    if e is None:
        return []
    out = ["", f"examples ({e.split}: {e.n} ids scored by every run of both sides, paired)"]
    out.append(
        f"  accuracy A {num(e.acc_a, 4)}, B {num(e.acc_b, 4)}: A − B = {num(e.diff, 4)} "
        f"[{num(e.low, 3)}, {num(e.high, 3)}], {e.test} p {pvalue(e.p)}"
    )
    if e.a_only is not None:
        out.append(
            f"  right in A only: {e.a_only}, right in B only: {e.b_only} (lab failures diff shows them)"
        )
    else:
        out.append(
            "  each example's accuracy averaged over a side's runs; the examples are the units, so this says "
            "the runs differ on these examples, not that new seeds would"
        )
    return out


def _examples_verdict(e: Any) -> str:
    from labbook.service.compare.words import num, pvalue

    if e.p < 0.05 and (e.low > 0 or e.high < 0):
        better, low, high = ("A", e.low, e.high) if e.diff > 0 else ("B", -e.high, -e.low)
        return (
            f"{better} is more accurate by {num(abs(e.diff), 3)} (95% CI {num(low, 3)} to {num(high, 3)}, "
            f"p {pvalue(e.p)}, {e.n} paired examples)"
        )
    return f"no detectable difference in accuracy over {e.n} paired examples (p {pvalue(e.p)})"


def groups_text(
    rows: list[Any], side: Any, warnings: list[str], key: str, metric: str, agg: str
) -> list[str]:
    from labbook.service.compare.variants import short
    from labbook.service.compare.words import num, pvalue

    table = []
    for row in rows:
        c = row.comparison
        table.append(
            [
                f"{key}={short(row.value)}",
                str(row.summary.n),
                _shaped(row.summary),
                "baseline" if c is None else f"{num(c.diff, 4)} [{num(c.low, 3)}, {num(c.high, 3)}]",
                "" if c is None else pvalue(c.p).removeprefix("= "),
                "" if row.p_holm is None else pvalue(row.p_holm).removeprefix("= "),
                "" if c is None else {"none": "no detectable difference"}.get(row.verdict, row.verdict),
            ]
        )
    out = [f"{metric} ({agg} value per run) by {key}, each against the baseline"]
    if side.excluded:
        out.append(f"left out: {side.excluded_text()} runs")
    out.append(
        render.plain_table(
            ["group", "n", "mean ± [95% CI] sd", "diff vs baseline [95% CI]", "p", "p (Holm)", "verdict"],
            table,
            {1, 4, 5},
        )
    )
    out.append("p (Holm): adjusted for the number of comparisons; the verdict uses it.")
    for row in rows:
        out += _shape_lines(f"{key}={short(row.value)}", row.summary, prefix="")
    labelled = [(f"{key}={short(row.value)}", row) for row in rows if row.comparison is not None]
    own, shared = _shared_notes([(label, row.comparison.notes) for label, row in labelled])
    for label, row in labelled:
        said = ([row.comparison.conflict] if row.comparison.conflict else []) + own[label]
        out += [f"{label}: {note}" for note in said]
    for note, items in shared:
        out.append(f"{', '.join(items)}: {note}")
    out += [f"! {w}" for w in warnings]
    return out
