"""Stare at the outputs: per-example results, failure samples, review, piles, diff and tail.

A run's examples (one row per scored example, any fields) come from ``run.log_examples``
or an imported file. A *sample* is a named, seeded draw of failures to read one by one;
each reviewed example goes into one or more named *piles*. Pile shares carry Wilson
intervals and are scaled to the whole failure population, so "the biggest pile" is a
statement with error bars. A diff of two runs on the same example ids counts fixes and
breaks, tests the change (McNemar), and shows which pile of a reviewed sample shrank.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labbook.core.example_sets import build_set
from labbook.core.exquery import example_field, parse_example_where
from labbook.core.failstats import allocate, mcnemar, robust_z, wilson
from labbook.core.query import Compare, ExampleField, Expr
from labbook.errors import BadInput, NotFound
from labbook.records.examples import (
    DiffReport,
    ImportReport,
    ItemRow,
    NewSample,
    PileChange,
    PileLink,
    PileReport,
    PileStat,
    SampleResult,
    SampleRow,
    TailReport,
    TailRow,
)

if TYPE_CHECKING:
    from labbook.records.research import Hypothesis
    from labbook.records.runs import RunRecord
    from labbook.service.notebook import Notebook

DEFAULT_SPLIT = "eval"
_NAME = re.compile(r"[^\W][\w.+\-]{0,63}")
_LEN = re.compile(r"len\((.+)\)")


def check_name(name: str, what: str) -> str:
    """Pile and sample names are short words: they are typed, completed and written as S:PILE."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise BadInput(
            f"{what} name {name!r} is not allowed: use up to 64 letters, digits, '-', '_', '.' or '+', "
            "starting with a letter or digit"
        )
    return name


def preview(data: dict[str, Any] | None, width: int = 60) -> str:
    """The first of output / prediction / input that is text, on one line."""
    if not data:
        return ""
    for key in ("output", "prediction", "pred", "response", "input", "text"):
        value = data.get(key)
        if value is not None:
            text = " ".join(str(value).split())
            return text if len(text) <= width else text[: width - 1] + "…"
    return ""


class Failures:
    """The failure-analysis part of the notebook service (``notebook.failures``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook
        self.store = notebook.store

    # -- examples --------------------------------------------------------------
    def _write(self, run: RunRecord, split: str, parsed: Any, source: str) -> ImportReport:
        split = check_name(split, "split")
        if not parsed.rows:
            reasons = "; ".join(f"line {n}: {why}" for n, why in parsed.skipped[:3])
            detail = f" ({len(parsed.skipped)} skipped: {reasons})" if parsed.skipped else ""
            raise BadInput(f"{source} holds no examples to import{detail}")
        new, replaced = self.store.failures.write_examples(
            run.id, split, parsed.rows, parsed.fields, build_set
        )
        total = self.store.failures.example_count(run.id, split)
        return ImportReport(run.id, split, len(parsed.rows), new, replaced, total, parsed.skipped)

    def log_examples(self, run_id: int, rows: Any, split: str = DEFAULT_SPLIT) -> ImportReport:
        """Rows from the SDK: all taken or, if any is unusable, none (the message names it)."""
        from labbook.formats.examples import rows_from_sdk

        if isinstance(rows, dict) or not hasattr(rows, "__iter__"):
            raise BadInput("log_examples takes a list of dicts, each with an 'id'")
        parsed = rows_from_sdk(rows)
        if parsed.skipped:
            n, why = parsed.skipped[0]
            more = f" (and {len(parsed.skipped) - 1} more)" if len(parsed.skipped) > 1 else ""
            raise BadInput(f"example {n} of the rows: {why}{more}; nothing was logged")
        return self._write(self.nb._get(run_id), split, parsed, "log_examples")

    def import_file(
        self,
        run_ref: str | int,
        path: Path,
        split: str = DEFAULT_SPLIT,
        id_field: str = "id",
        fmt: str | None = None,
    ) -> ImportReport:
        """Import a JSONL / CSV / Parquet file in one transaction; re-importing replaces by id."""
        from labbook.formats.examples import detect_format, read_file

        run = self.nb.get_run(run_ref)
        check_name(split, "split")
        report = self._write(run, split, read_file(path, id_field, fmt), str(path))
        if detect_format(path, fmt) == "parquet":
            report.unit = "row"
        self.store.failures.example_set(run.id, report.split, build_set)  # so the first diff is quick
        return report

    def splits(self, run_ref: str | int) -> dict[str, int]:
        return self.store.failures.example_splits(self.nb.get_run(run_ref).id)

    def _fields(self, run: RunRecord, split: str) -> frozenset[str]:
        known = self.store.failures.example_fields(run.id, split)
        if not known:
            splits = self.store.failures.example_splits(run.id)
            if splits:
                shown = ", ".join(f"{s} ({n})" for s, n in splits.items())
                raise BadInput(f"run {run.id} has no examples in split {split!r}; its splits: {shown}")
            raise BadInput(
                f"run {run.id} has no examples; log them with run.log_examples(rows) "
                f"or lab failures import {run.id} FILE"
            )
        return known

    # -- samples ---------------------------------------------------------------
    def sample(
        self,
        run_ref: str | int,
        n: int = 100,
        where: str | None = None,
        stratify: str | None = None,
        seed: int = 0,
        name: str | None = None,
        split: str = DEFAULT_SPLIT,
    ) -> SampleResult:
        """A named, reproducible draw of ``n`` failures (``correct`` false, or ``where``)."""
        import numpy as np

        if n < 1:
            raise BadInput("-n must be at least 1")
        if seed < 0:
            raise BadInput("--seed must be 0 or more")
        run = self.nb.get_run(run_ref)
        known = self._fields(run, split)
        if name is not None:
            name = check_name(name, "sample")
        else:
            taken = self.store.failures.sample_names()
            base = f"r{run.id}-{split}"
            name = next(f"{base}-{i}" for i in range(1, len(taken) + 2) if f"{base}-{i}" not in taken)
        if where:
            cond: Expr = parse_example_where(where, known)
        else:
            if "correct" not in known:
                raise BadInput(
                    f"the examples of run {run.id} have no 'correct' field; say which are failures with --where"
                )
            cond = Compare(ExampleField("correct"), "=", False)
        stratum = example_field(stratify, known) if stratify else None
        rows = self.store.failures.select_examples(run.id, split, cond, stratum)
        if not rows:
            what = (
                f"--where {where!r} matches no example"
                if where
                else "no example is a failure (correct false)"
            )
            raise BadInput(f"{what} of run {run.id} in split {split!r}")
        rng = np.random.default_rng(seed)
        if stratify:
            strata: dict[Any, list[int]] = {}
            for i, row in enumerate(rows):
                strata.setdefault(row[1], []).append(i)
            keys = sorted(strata, key=lambda k: (k is None, str(k)))
            quotas = allocate([len(strata[k]) for k in keys], n)
            chosen: list[int] = []
            for k, q in zip(keys, quotas, strict=True):
                members = strata[k]
                chosen += [members[j] for j in rng.choice(len(members), size=q, replace=False)]
            picks = [chosen[j] for j in rng.permutation(len(chosen))]
        else:
            picks = [int(j) for j in rng.choice(len(rows), size=min(n, len(rows)), replace=False)]
        ex_ids = [rows[j][0] for j in picks]
        new = NewSample(name, run.id, split, ex_ids, where, stratify, seed, n, len(rows))
        sample_id = self.store.failures.create_sample(new)
        return SampleResult(self.store.failures.sample_by_id(sample_id), len(rows))  # type: ignore[arg-type]

    def get(self, name: str) -> SampleRow:
        found = self.store.failures.get_sample(name.strip())
        if found is None:
            known = [s.name for s in self.store.failures.list_samples()]
            hint = (
                f" (samples: {', '.join(known[-8:])})" if known else "; make one with lab failures sample RUN"
            )
            raise NotFound(f"no sample named {name!r}{hint}")
        return found

    def samples(self, run_ref: str | int | None = None) -> list[SampleRow]:
        run_id = self.nb.get_run(run_ref).id if run_ref is not None else None
        return self.store.failures.list_samples(run_id)

    def items(self, name: str, pile: str | None = None) -> list[ItemRow]:
        sample = self.get(name)
        if pile is not None and pile not in self.store.failures.pile_counts(sample.id)[0]:
            raise NotFound(
                f"sample {sample.name} has no pile {pile!r}; lab failures piles {sample.name} lists them"
            )
        return self.store.failures.sample_items(sample, pile)

    def pile_names(self) -> list[str]:
        """Every pile name used in this notebook (what review completes)."""
        return self.store.failures.pile_names()

    # -- review and tags -------------------------------------------------------
    def _member(self, sample: SampleRow, ex_id: str) -> None:
        if not self.store.failures.examples_in_sample(sample.id, [ex_id]):
            raise NotFound(
                f"example {ex_id!r} is not in sample {sample.name}; lab failures show {sample.name} lists them"
            )

    def tag(
        self, name: str, ex_id: str, piles: list[str], note: str | None = None, replace: bool = False
    ) -> list[str]:
        """Put an example of a sample into piles (and note it); saved in one write."""
        sample = self.get(name)
        clean = list(dict.fromkeys(check_name(p, "pile") for p in piles))
        if not clean and note is None and not replace:
            raise BadInput("name at least one pile (or give --note)")
        self._member(sample, ex_id)
        self.store.failures.set_answer(sample.id, ex_id, clean, note, "review" if replace else "tag", replace)
        return clean

    def move(self, sample: SampleRow, position: int) -> None:
        """Remember where the reviewer is, so reopening resumes there."""
        self.store.failures.set_cursor(sample.id, max(0, min(position, sample.size)))

    def rule(self, name: str, pile: str, where: str) -> tuple[int, int]:
        """Put every example of the sample matching ``where`` into ``pile``: (matched, newly added)."""
        sample = self.get(name)
        pile = check_name(pile, "pile")
        if not where or not where.strip():
            raise BadInput("a rule needs --where EXPR, e.g. --where \"output == ''\"")
        run = self.nb._get(sample.run_id)
        ids = self.store.failures.sample_matches(
            sample, parse_example_where(where, self._fields(run, sample.split))
        )
        if not ids:
            raise BadInput(f"--where {where!r} matches no example of sample {sample.name}; nothing was added")
        return len(ids), self.store.failures.add_to_pile(sample.id, ids, pile, "rule")

    # -- piles -----------------------------------------------------------------
    def piles(self, name: str) -> PileReport:
        sample = self.get(name)
        counts, reviewed = self.store.failures.pile_counts(sample.id)
        stats = []
        for pile, count in counts.items():
            low, high = wilson(count, reviewed)
            share = count / reviewed if reviewed else 0.0
            pop = sample.population
            stats.append(PileStat(pile, count, share, low, high, share * pop, low * pop, high * pop))
        stats.sort(key=lambda s: (-s.count, s.pile))
        return PileReport(sample, reviewed, sample.size - reviewed, stats)

    # -- diff ------------------------------------------------------------------
    def diff(
        self, run_a: str | int, run_b: str | int, split: str = DEFAULT_SPLIT, sample: str | None = None
    ) -> DiffReport:
        """Fixes and breaks on the ids both runs scored, McNemar's test, and how A's piles fared in B."""
        import numpy as np

        a, b = self.nb.get_run(run_a), self.nb.get_run(run_b)
        if a.id == b.id:
            raise BadInput("diff needs two different runs")
        self._fields(a, split)
        self._fields(b, split)
        keys_a, out_a = self._outcomes(a.id, split)
        keys_b, out_b = self._outcomes(b.id, split)
        _, ia, ib = np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)
        xa, xb = out_a[ia], out_b[ib]
        known = (xa >= 0) & (xb >= 0)
        xa, xb = xa[known], xb[known]
        fixed = int(np.count_nonzero((xa == 0) & (xb == 1)))
        broken = int(np.count_nonzero((xa == 1) & (xb == 0)))
        right = int(np.count_nonzero((xa == 1) & (xb == 1)))
        wrong = int(np.count_nonzero((xa == 0) & (xb == 0)))
        if not ia.size:
            raise BadInput(
                f"runs {a.id} and {b.id} share no example id in split {split!r}; nothing to compare"
            )
        report = DiffReport(
            a.id,
            b.id,
            split,
            int(known.sum()),
            int(keys_a.size - ia.size),
            int(keys_b.size - ib.size),
            int(ia.size - known.sum()),
            fixed,
            broken,
            right,
            wrong,
            mcnemar(fixed, broken),
        )
        chosen = self._diff_sample(a, split, sample)
        if chosen is None:
            return report
        members = self.store.failures.pile_members(chosen.id)
        ids = sorted({i for group in members.values() for i in group})
        in_b = self.store.failures.examples_by_id(b.id, split, ids)
        changes = []
        for pile, group in members.items():
            outcomes = [in_b[i][0] if i in in_b else None for i in group]
            changes.append(
                PileChange(
                    pile,
                    len(group),
                    sum(1 for o in outcomes if o == 1),
                    sum(1 for o in outcomes if o == 0),
                    sum(1 for o in outcomes if o is None),
                )
            )
        changes.sort(key=lambda c: (-c.in_a, c.pile))
        _, reviewed = self.store.failures.pile_counts(chosen.id)
        return replace(report, sample=chosen.name, sample_reviewed=reviewed, piles=changes)

    def _outcomes(self, run_id: int, split: str) -> tuple[Any, Any]:
        import numpy as np

        keys, outcomes = self.store.failures.example_set(run_id, split, build_set)
        return np.frombuffer(keys, dtype=np.uint64), np.frombuffer(outcomes, dtype=np.int8)

    def outcomes(self, run: RunRecord, split: str = DEFAULT_SPLIT) -> tuple[Any, Any] | None:
        """A run's example id keys (sorted) and whether each was right (1, 0; -1 unknown).

        None when the run has no examples in ``split`` with a ``correct`` field: nothing to pair.
        """
        if "correct" not in self.store.failures.example_fields(run.id, split):
            return None
        return self._outcomes(run.id, split)

    def _diff_sample(self, a: RunRecord, split: str, name: str | None) -> SampleRow | None:
        if name is not None:
            chosen = self.get(name)
            if chosen.run_id != a.id or chosen.split != split:
                raise BadInput(
                    f"sample {chosen.name} is of run {chosen.run_id} ({chosen.split}), not of run {a.id} ({split})"
                )
            return chosen
        reviewed = [
            s
            for s in self.store.failures.list_samples(a.id)
            if s.split == split and self.store.failures.pile_counts(s.id)[1]
        ]
        return reviewed[-1] if reviewed else None

    # -- tail ------------------------------------------------------------------
    def tail(self, run_ref: str | int, by: str, n: int = 20, split: str = DEFAULT_SPLIT) -> TailReport:
        """The examples furthest from the median of a numeric field (or ``len(FIELD)``), by robust z."""
        import numpy as np

        if n < 1:
            raise BadInput("-n must be at least 1")
        run = self.nb.get_run(run_ref)
        known = self._fields(run, split)
        m = _LEN.fullmatch(by.strip())
        name = m.group(1).strip() if m else by.strip()
        if name in ("id", "split"):
            raise BadInput(f"--by needs a numeric field; {name!r} is not one (try len({name}))")
        field = example_field(name, known)
        rows = self.store.failures.field_values(run.id, split, field, "text" if m else "number")
        total = self.store.failures.example_count(run.id, split)
        if not rows:
            kind = "text" if m else "numeric"
            raise BadInput(
                f"no example of run {run.id} has a {kind} {name!r}; --by needs a number or len(TEXT_FIELD)"
            )
        values = np.array([float(r[1]) for r in rows])
        finite = np.isfinite(values)
        z = np.full(values.shape, np.inf)
        z[finite] = robust_z(values[finite])
        z[~finite] = np.sign(values[~finite]) * np.inf
        order = np.argsort(-np.abs(z), kind="stable")[:n]
        chosen = [rows[int(i)][0] for i in order]
        data = self.store.failures.examples_by_id(run.id, split, chosen)
        out = []
        for i in order:
            ex_id = rows[int(i)][0]
            correct, raw = data.get(ex_id, (None, None))
            out.append(
                TailRow(
                    ex_id, float(values[i]), float(z[i]), correct, preview(json.loads(raw) if raw else None)
                )
            )
        median = float(np.median(values[finite])) if finite.any() else float("nan")
        return TailReport(run.id, split, by.strip(), len(rows), total - len(rows), median, out)

    # -- hypotheses from piles -----------------------------------------------
    def pile_ref(self, ref: str) -> tuple[SampleRow, str, int, int]:
        """``SAMPLE:PILE`` (or ``SAMPLE`` for its biggest pile) → (sample, pile, count, reviewed)."""
        name, _, pile = ref.strip().rpartition(":") if ":" in ref else (ref.strip(), "", "")
        sample = self.get(name)
        counts, reviewed = self.store.failures.pile_counts(sample.id)
        if not counts:
            raise BadInput(
                f"sample {sample.name} has no piles yet; review it with lab failures review {sample.name}"
            )
        if not pile:
            pile = min(counts, key=lambda p: (-counts[p], p))
        if pile not in counts:
            raise NotFound(
                f"sample {sample.name} has no pile {pile!r} (its piles: {', '.join(sorted(counts))})"
            )
        return sample, pile, counts[pile], reviewed

    def start_hypothesis(
        self, ref: str, text: str, problem: str | None = None, tags: tuple[str, ...] = ()
    ) -> tuple[Hypothesis, PileLink]:
        """A hypothesis about why a pile's examples fail, linked to that pile."""
        sample, pile, count, reviewed = self.pile_ref(ref)
        hyp = self.nb.hypotheses.add(text, problem, tags, pile=(sample.id, pile, count, reviewed))
        return hyp, PileLink(sample.name, pile, count, reviewed)

    def hypothesis_piles(self, hyp_id: int) -> list[PileLink]:
        return self.store.failures.hypothesis_piles(hyp_id)
