"""Per-example results, failure samples and piles.

Examples live in one table keyed by (run, split, example id), the user's fields as a
JSON text column; an import is one transaction. Samples keep their members in review
order; a pile membership is a row (sample, example, pile) with where it came from.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from labbook.core.query import ExampleField, Expr
from labbook.records.examples import ExampleRow, ItemRow, NewSample, PileLink, PileRow, SampleRow, SetBuilder
from labbook.store.sql.db import Database

_SAMPLE = (
    "s.id, s.name, s.run_id, s.split, s.where_expr, s.stratify, s.seed, s.requested, s.population,"
    " s.cursor, s.created_at, (SELECT count(*) FROM sample_items i WHERE i.sample_id = s.id)"
)


class SqlFailures:
    """``FailuresStore`` over a ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- examples --------------------------------------------------------------
    def write_examples(
        self, run_id: int, split: str, rows: list[ExampleRow], fields: Iterable[str], build: SetBuilder
    ) -> tuple[int, int]:
        """Insert or replace rows (ex_id, correct, JSON) in one transaction; (new, replaced).

        When the rows are all the (run, split) holds, its id/outcome arrays are built from
        them at once; otherwise they are dropped, to be rebuilt from the table when needed.
        """
        count = "SELECT count(*) FROM examples WHERE run_id = ? AND split = ?"
        # the store's bulk-load settings hold for this one transaction
        with self.db.dialect.bulk(self.db), self.db.tx() as c:
            (before,) = c.execute(count, (run_id, split)).fetchone()
            c.executemany(
                "INSERT INTO examples (run_id, split, ex_id, correct, data) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, split, ex_id) DO UPDATE SET correct = excluded.correct,"
                " data = excluded.data",
                ((run_id, split, ex_id, correct, data) for ex_id, correct, data in rows),
            )
            (after,) = c.execute(count, (run_id, split)).fetchone()
            c.executemany(
                "INSERT INTO example_fields (run_id, split, field) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(run_id, split, f) for f in fields],
            )
            if after == len(rows):
                keys, outcomes = build(rows)
                c.execute(
                    "INSERT INTO example_sets (run_id, split, n, keys, outcomes) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (run_id, split) DO UPDATE SET n = excluded.n, keys = excluded.keys,"
                    " outcomes = excluded.outcomes",
                    (run_id, split, after, keys, outcomes),
                )
            else:
                c.execute("DELETE FROM example_sets WHERE run_id = ? AND split = ?", (run_id, split))
        new = after - before
        return new, len(rows) - new

    def example_rows(self, run_id: int, split: str, after: str | None, limit: int) -> list[ExampleRow]:
        """A page of a split's rows in id order, from past ``after``: what travels to another notebook."""
        rows = self.db.read(
            "SELECT ex_id, correct, data FROM examples WHERE run_id = ? AND split = ? AND ex_id > ?"
            " ORDER BY ex_id LIMIT ?",
            (run_id, split, after or "", limit),
        )
        return [(str(ex_id), correct, str(data)) for ex_id, correct, data in rows]

    def example_split_list(self) -> list[tuple[int, str]]:
        """(run id, split) of every split holding per-example results, in run order."""
        return [(int(r), str(s)) for r, s in self.db.read(
            "SELECT DISTINCT run_id, split FROM example_fields ORDER BY run_id, split"
        )]  # fmt: skip

    def example_splits(self, run_id: int) -> dict[str, int]:
        splits = [
            r[0]
            for r in self.db.read("SELECT DISTINCT split FROM example_fields WHERE run_id = ?", (run_id,))
        ]
        return {s: self.example_count(run_id, s) for s in sorted(splits)}

    def example_count(self, run_id: int, split: str) -> int:
        rows = self.db.read("SELECT count(*) FROM examples WHERE run_id = ? AND split = ?", (run_id, split))
        return int(rows[0][0])

    def example_fields(self, run_id: int, split: str) -> frozenset[str]:
        rows = self.db.read(
            "SELECT field FROM example_fields WHERE run_id = ? AND split = ?", (run_id, split)
        )
        return frozenset(r[0] for r in rows)

    def select_examples(
        self, run_id: int, split: str, where: Expr, stratify: ExampleField | None = None
    ) -> list[tuple[Any, ...]]:
        """(ex_id[, stratum]) of the matching examples, in id order (the unique index's order)."""
        compiler = self.db.dialect.compiler()
        cond, cond_params = compiler.where_sql(where)
        extra, extra_params = compiler.stratum_sql(stratify) if stratify else ("", [])
        cols = "e.ex_id" + (f", {extra}" if extra else "")
        return self.db.read(
            f"SELECT {cols} FROM examples e WHERE e.run_id = ? AND e.split = ? AND ({cond}) ORDER BY e.ex_id",
            [*extra_params, run_id, split, *cond_params],
        )

    def field_values(
        self, run_id: int, split: str, field: ExampleField, kind: str
    ) -> list[tuple[str, float]]:
        """(ex_id, number) for every example whose field is a number, or (kind "text") a text's length."""
        sql, params = self.db.dialect.compiler().field_values_sql(field, kind)
        return self.db.read(sql, [*params, run_id, split])

    def examples_by_id(self, run_id: int, split: str, ids: list[str]) -> dict[str, tuple[int | None, str]]:
        out: dict[str, tuple[int | None, str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for ex_id, correct, data in self.db.read(
                f"SELECT ex_id, correct, data FROM examples WHERE run_id = ? AND split = ? AND ex_id IN ({marks})",
                [run_id, split, *chunk],
            ):
                out[ex_id] = (correct, data)
        return out

    def example_set(
        self, run_id: int, split: str, build: Callable[[list[tuple[str, int | None]]], Any]
    ) -> Any:
        """The cached (keys, outcomes) arrays of a (run, split), built by ``build`` when stale."""
        rows = self.db.read(
            "SELECT keys, outcomes FROM example_sets WHERE run_id = ? AND split = ?", (run_id, split)
        )
        if rows:
            return rows[0]
        with self.db.tx() as c:
            outcomes = c.execute(
                "SELECT ex_id, correct FROM examples WHERE run_id = ? AND split = ?", (run_id, split)
            ).fetchall()
            keys, values = build(outcomes)
            c.execute(
                "INSERT INTO example_sets (run_id, split, n, keys, outcomes) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, split) DO UPDATE SET n = excluded.n, keys = excluded.keys,"
                " outcomes = excluded.outcomes",
                (run_id, split, len(outcomes), keys, values),
            )
        return keys, values

    # -- samples ---------------------------------------------------------------
    def create_sample(self, sample: NewSample) -> int:
        s = sample
        with self.db.tx() as c:
            if c.execute("SELECT 1 FROM samples WHERE name = ?", (s.name,)).fetchone():
                from labbook.errors import BadInput

                raise BadInput(f"a sample named {s.name!r} exists already; choose another --name")
            (sample_id,) = c.execute(
                "INSERT INTO samples (name, run_id, split, where_expr, stratify, seed, requested, population,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    s.name,
                    s.run_id,
                    s.split,
                    s.where,
                    s.stratify,
                    s.seed,
                    s.requested,
                    s.population,
                    time.time() if s.created_at is None else s.created_at,
                ),
            ).fetchone()
            c.executemany(
                "INSERT INTO sample_items (sample_id, position, ex_id) VALUES (?, ?, ?)",
                [(sample_id, i, ex_id) for i, ex_id in enumerate(s.ex_ids)],
            )
        return int(sample_id)

    def get_sample(self, name: str) -> SampleRow | None:
        rows = self.db.read(f"SELECT {_SAMPLE} FROM samples s WHERE s.name = ?", (name,))
        return SampleRow(*rows[0]) if rows else None

    def sample_by_id(self, sample_id: int) -> SampleRow | None:
        rows = self.db.read(f"SELECT {_SAMPLE} FROM samples s WHERE s.id = ?", (sample_id,))
        return SampleRow(*rows[0]) if rows else None

    def list_samples(self, run_id: int | None = None) -> list[SampleRow]:
        where, params = ("WHERE s.run_id = ?", (run_id,)) if run_id is not None else ("", ())
        return [
            SampleRow(*r)
            for r in self.db.read(f"SELECT {_SAMPLE} FROM samples s {where} ORDER BY s.id", params)
        ]

    def sample_names(self) -> set[str]:
        return {r[0] for r in self.db.read("SELECT name FROM samples")}

    def sample_items(self, sample: SampleRow, pile: str | None = None) -> list[ItemRow]:
        piles: dict[str, list[str]] = {}
        for ex_id, name in self.db.read(
            "SELECT ex_id, pile FROM pile_members WHERE sample_id = ? ORDER BY created_at, pile", (sample.id,)
        ):
            piles.setdefault(ex_id, []).append(name)
        rows = self.db.read(
            "SELECT i.position, i.ex_id, i.note, e.correct, e.data FROM sample_items i"
            " LEFT JOIN examples e ON e.run_id = ? AND e.split = ? AND e.ex_id = i.ex_id"
            " WHERE i.sample_id = ? ORDER BY i.position",
            (sample.run_id, sample.split, sample.id),
        )
        out = []
        for position, ex_id, note, correct, data in rows:
            mine = tuple(piles.get(ex_id, ()))
            if pile is not None and pile not in mine:
                continue
            out.append(ItemRow(position, ex_id, note, mine, correct, json.loads(data) if data else None))
        return out

    def examples_in_sample(self, sample_id: int, ex_ids: list[str]) -> list[str]:
        marks = ",".join("?" * len(ex_ids))
        return [
            r[0]
            for r in self.db.read(
                f"SELECT ex_id FROM sample_items WHERE sample_id = ? AND ex_id IN ({marks})",
                [sample_id, *ex_ids],
            )
        ]

    def sample_matches(self, sample: SampleRow, where: Expr) -> list[str]:
        """The sample's examples that satisfy a --where over their fields."""
        cond, params = self.db.dialect.compiler().where_sql(where)
        rows = self.db.read(
            "SELECT e.ex_id FROM sample_items i JOIN examples e ON e.run_id = ? AND e.split = ? AND e.ex_id = i.ex_id"
            f" WHERE i.sample_id = ? AND ({cond}) ORDER BY i.position",
            [sample.run_id, sample.split, sample.id, *params],
        )
        return [r[0] for r in rows]

    def set_cursor(self, sample_id: int, position: int) -> None:
        with self.db.tx() as c:
            c.execute("UPDATE samples SET cursor = ? WHERE id = ?", (position, sample_id))

    def set_answer(
        self, sample_id: int, ex_id: str, piles: list[str], note: str | None, source: str, replace: bool
    ) -> None:
        """An example's piles (replacing its earlier ones, or added to them) and note, in one write."""
        now = time.time()
        with self.db.tx() as c:
            if replace:
                c.execute("DELETE FROM pile_members WHERE sample_id = ? AND ex_id = ?", (sample_id, ex_id))
            c.executemany(
                "INSERT INTO pile_members (sample_id, ex_id, pile, source, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(sample_id, ex_id, p, source, now) for p in piles],
            )
            if note is not None:
                c.execute(
                    "UPDATE sample_items SET note = ? WHERE sample_id = ? AND ex_id = ?",
                    (note or None, sample_id, ex_id),
                )

    def add_to_pile(self, sample_id: int, ex_ids: list[str], pile: str, source: str) -> int:
        now = time.time()
        count = "SELECT count(*) FROM pile_members WHERE sample_id = ? AND pile = ?"
        with self.db.tx() as c:
            (before,) = c.execute(count, (sample_id, pile)).fetchone()
            c.executemany(
                "INSERT INTO pile_members (sample_id, ex_id, pile, source, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(sample_id, ex_id, pile, source, now) for ex_id in ex_ids],
            )
            (after,) = c.execute(count, (sample_id, pile)).fetchone()
            return int(after - before)

    def pile_counts(self, sample_id: int) -> tuple[dict[str, int], int]:
        """{pile: examples in it} and how many examples have at least one pile."""
        counts = dict(
            self.db.read(
                "SELECT pile, count(*) FROM pile_members WHERE sample_id = ? GROUP BY pile", (sample_id,)
            )
        )
        (reviewed,) = self.db.read(
            "SELECT count(DISTINCT ex_id) FROM pile_members WHERE sample_id = ?", (sample_id,)
        )[0]
        return counts, reviewed

    def pile_names(self) -> list[str]:
        return [r[0] for r in self.db.read("SELECT DISTINCT pile FROM pile_members ORDER BY pile")]

    def pile_members(self, sample_id: int) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for pile, ex_id in self.db.read(
            "SELECT pile, ex_id FROM pile_members WHERE sample_id = ? ORDER BY pile, ex_id", (sample_id,)
        ):
            out.setdefault(pile, []).append(ex_id)
        return out

    def pile_rows(self, sample_id: int) -> list[PileRow]:
        """Every membership of a sample with its source and time, in a stable order."""
        rows = self.db.read(
            "SELECT ex_id, pile, source, created_at FROM pile_members WHERE sample_id = ? ORDER BY ex_id, pile",
            (sample_id,),
        )
        return [(str(e), str(p), str(s), float(t)) for e, p, s, t in rows]

    def merge_review(
        self,
        sample_id: int,
        notes: list[tuple[str, str]],
        piles: dict[str, list[PileRow]],
        links: list[tuple[int, str, int, int]],
    ) -> None:
        """Another notebook's review of this sample, in one write: each example it sorted gets its
        piles as sent (replacing this one's), each note it wrote is set, each hypothesis link kept."""
        with self.db.tx() as c:
            rows = c.execute("SELECT ex_id FROM sample_items WHERE sample_id = ?", (sample_id,)).fetchall()
            members = {r[0] for r in rows}
            for ex_id, rows in piles.items():
                if ex_id not in members:
                    continue
                c.execute("DELETE FROM pile_members WHERE sample_id = ? AND ex_id = ?", (sample_id, ex_id))
                c.executemany(
                    "INSERT INTO pile_members (sample_id, ex_id, pile, source, created_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    [(sample_id, ex_id, pile, source, at) for _, pile, source, at in rows],
                )
            c.executemany(
                "UPDATE sample_items SET note = ? WHERE sample_id = ? AND ex_id = ?",
                [(note, sample_id, ex_id) for ex_id, note in notes if ex_id in members],
            )
            c.executemany(
                "INSERT INTO hypothesis_piles (hyp_id, sample_id, pile, count, reviewed) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (hyp_id, sample_id, pile) DO NOTHING",
                [(hyp_id, sample_id, pile, count, reviewed) for hyp_id, pile, count, reviewed in links],
            )

    def sample_hypotheses(self, sample_id: int) -> list[tuple[int, str, int, int]]:
        """(hypothesis id, pile, count, reviewed) of each hypothesis started from this sample's piles."""
        rows = self.db.read(
            "SELECT hyp_id, pile, count, reviewed FROM hypothesis_piles WHERE sample_id = ? ORDER BY hyp_id, pile",
            (sample_id,),
        )
        return [(int(h), str(p), int(n), int(r)) for h, p, n, r in rows]

    # -- hypotheses started from a pile ------------------------------------------
    def hypothesis_piles(self, hyp_id: int) -> list[PileLink]:
        rows = self.db.read(
            "SELECT s.name, h.pile, h.count, h.reviewed FROM hypothesis_piles h JOIN samples s ON s.id = h.sample_id"
            " WHERE h.hyp_id = ? ORDER BY s.name, h.pile",
            (hyp_id,),
        )
        return [PileLink(*r) for r in rows]
