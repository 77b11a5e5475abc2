"""--where and --sort: results checked against the same filter done in Python."""

from __future__ import annotations

import math

import pytest

from labbook.core.query import tokenize
from labbook.errors import QueryError
from labbook.records.runs import BatchSummary
from labbook.service.notebook import Notebook


@pytest.fixture
def filled(notebook: Notebook) -> Notebook:
    """Twelve runs with varied params, metrics, tags and statuses."""
    for i in range(12):
        run = notebook.start_run(
            name=f"r{i}",
            tags=("even",) if i % 2 == 0 else ("odd", "x y"),
            params={"lr": 10.0 ** -(i % 4), "opt": "adam" if i % 3 else "sgd", "model.depth": i},
        )
        acc = i / 12
        notebook.store.runs.merge_metrics(
            run.id, [BatchSummary("acc", 2, 0, acc, 1, acc / 2, acc, acc * 1.5)]
        )
        if i == 5:
            notebook.store.runs.merge_metrics(
                run.id, [BatchSummary("acc", 1, 1, math.nan, 2, None, None, 0.0)]
            )
        notebook.end_run(run.id, "finished" if i % 5 else "failed", 0 if i % 5 else 1)
        if i == 7:
            notebook.set_summary(run.id, {"best": 0.99, "note_text": "great"})
    return notebook


def names(nb: Notebook, where: str | None = None, sort: str | None = None) -> list[str]:
    runs, _ = nb.list_runs(where=where, sort=sort, limit=0)
    return [r.name for r in runs]


def expected(pred) -> list[str]:
    return [f"r{i}" for i in reversed(range(12)) if pred(i)]


def test_status_and_metric(filled: Notebook) -> None:
    got = names(filled, "status == 'finished' and acc.max > 0.5")
    assert got == expected(lambda i: i % 5 != 0 and i / 12 > 0.5)


def test_tags_membership_and_negation(filled: Notebook) -> None:
    assert names(filled, "'even' in tags") == expected(lambda i: i % 2 == 0)
    assert names(filled, "'x y' not in tags") == expected(lambda i: i % 2 == 0)
    assert names(filled, "tag == 'odd'") == expected(lambda i: i % 2 == 1)
    assert names(filled, "not ('even' in tags)") == expected(lambda i: i % 2 == 1)


def test_params_numbers_strings_and_lists(filled: Notebook) -> None:
    assert names(filled, "lr < 1e-2") == expected(lambda i: 10.0 ** -(i % 4) < 1e-2)
    assert names(filled, "opt == 'sgd' or model.depth >= 10") == expected(lambda i: i % 3 == 0 or i >= 10)
    assert names(filled, "params.opt in ('sgd')") == expected(lambda i: i % 3 == 0)
    assert names(filled, "status in ['failed']") == expected(lambda i: i % 5 == 0)


def test_nan_last_compares_false_like_nan(filled: Notebook) -> None:
    assert "r5" not in names(filled, "acc.last >= 0")
    assert "r5" in names(filled, "acc.nan_count == 1")


def test_summary_values_and_substring(filled: Notebook) -> None:
    assert names(filled, "best > 0.9") == ["r7"]
    assert names(filled, "summary.note_text ~ 'GRE'") == ["r7"]
    assert names(filled, "name ~ 'r1'") == ["r11", "r10", "r1"]


def test_sort_by_metric_descending_puts_missing_last(filled: Notebook) -> None:
    got = names(filled, sort="-acc.max")
    want = [f"r{i}" for i in sorted(range(12), key=lambda i: -i) if i != 5] + ["r5"]
    # r5's max is still defined (its NaN point is ignored), so it sorts by value
    assert got[0] == "r11" and set(got) == set(want)
    assert (
        names(filled, sort="lr,-id")[:3]
        == [f"r{i}" for i in sorted(range(12), key=lambda i: (10.0 ** -(i % 4), -i))][:3]
    )


def test_quoted_literals_never_reach_the_sql(filled: Notebook) -> None:
    evil = "x'); DROP TABLE runs; --"
    assert names(filled, f'name == "{evil}"') == []
    assert len(names(filled)) == 12


def test_dates_compare_as_times(filled: Notebook) -> None:
    assert len(names(filled, "created > '2000-01-01'")) == 12
    assert names(filled, "created < '2000-01-01'") == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("acc.max >", "ends too early"),
        ("acc.max > 0.5 and", "ends too early"),
        ("lrr < 1", "unknown field 'lrr'; did you mean lr"),
        ("nosuch.max > 1", "unknown field"),
        ("status == 'a' 'b'", "unexpected"),
        ("(status == 'a'", "expected ')'"),
        ("created > 'yesterday'", "is not a date"),
        ("metrics.acc.median > 1", "METRIC.AGG"),
        ("status == @", "cannot read"),
        ("", "empty"),
    ],
)
def test_bad_queries_say_what_is_wrong(filled: Notebook, where: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        filled.list_runs(where=where or " ")


def test_tokenizer_reads_scientific_numbers_and_dotted_names() -> None:
    toks = tokenize("model.depth >= 1e-3 and a-b/c < -2")
    assert [t.value for t in toks] == ["model.depth", ">=", 1e-3, "and", "a-b/c", "<", -2]


def test_a_query_parses_to_a_tree_that_names_no_table() -> None:
    """The tree is the store-independent half: each store compiles it into its own language."""
    from labbook.core.query import All, Any_, Compare, HasTag, In, Keyed, Metric, Not, RunField, parse_where
    from labbook.records.runs import Fields

    fields = Fields(frozenset({"lr", "opt"}), frozenset({"acc"}), frozenset())
    tree = parse_where(
        "acc.max > 0.9 and not ('base' in tags or opt in ('sgd')) and status == 'finished'", fields
    )
    assert tree == All(
        (
            Compare(Metric("acc", "max"), ">", 0.9),
            Not(Any_((HasTag(("base",)), In(Keyed("params", "opt", text=True), ("sgd",))))),
            Compare(RunField("status"), "=", "finished"),
        )
    )
    assert parse_where("opt == 'adam'", fields) == Compare(Keyed("params", "opt", text=True), "=", "adam")
    with pytest.raises(QueryError, match="unknown field 'lrr'; did you mean lr"):
        parse_where("lrr > 1", fields)


def test_every_name_the_parser_knows_has_a_column_in_the_sqlite_compiler() -> None:
    """core/query names run fields and aggregates; store/sqlite/query maps each to SQL: the two lists agree."""
    from labbook.core import exquery, query
    from labbook.store.sqlite import query as sql

    assert set(query.RUN_FIELDS) == set(sql.RUN_COLUMNS)
    assert set(query.AGGS) == set(sql.AGGS)
    assert set(exquery.COLUMNS) == set(sql.EXAMPLE_COLUMNS)
