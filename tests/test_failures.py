"""Per-example results, failure samples, piles, rules, diff and tail: through the CLI and the SDK."""

from __future__ import annotations

import csv
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

import labbook
from labbook.core.failstats import robust_z, wilson
from labbook.errors import BadInput
from labbook.service.notebook import Notebook

from .conftest import lab


def rows(n: int = 200, seed: int = 0, acc: float = 0.7, prefix: str = "q") -> list[dict[str, Any]]:
    """Examples of a 3-way classifier: right with probability ``acc``, some outputs empty."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        target = rng.choice(["cat", "dog", "bird"])
        output = target if rng.random() < acc else rng.choice(["cat", "dog", "bird", ""])
        out.append(
            {
                "id": f"{prefix}{i}",
                "input": f"what animal is in picture {i}?",
                "output": output,
                "target": target,
                "correct": output == target,
                "loss": round(rng.expovariate(1.0), 4),
                "lang": "de" if i % 4 == 0 else "en",
            }
        )
    return out


def make_run(name: str, examples: list[dict[str, Any]] | None = None, split: str = "eval") -> int:
    with labbook.init(name=name) as run:
        if examples is not None:
            run.log_examples(examples, split=split)
    return run.id


def write_jsonl(path: Path, items: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items))
    return path


def db_counts(project: Path) -> dict[str, int]:
    conn = sqlite3.connect(project / ".labbook" / "labbook.db")
    try:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("examples", "samples", "sample_items", "pile_members", "hypotheses", "hypothesis_piles")
        }
    finally:
        conn.close()


def fails_cleanly(project: Path, *args: str) -> str:
    """Run a command that must be refused: exit 2, one line on stderr, nothing written."""
    before = db_counts(project)
    result = lab(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    assert db_counts(project) == before
    return lines[0]


# -- examples in ---------------------------------------------------------------------


def test_import_jsonl_reports_each_skipped_line_and_is_safe_to_rerun(project: Path) -> None:
    make_run("a")
    data = rows(50)
    path = write_jsonl(
        project / "preds.jsonl",
        [*data[:10], "{not json", {"output": "no id"}, data[3], "", *data[10:], [1, 2]],
    )
    result = lab("failures", "import", "a", str(path))
    assert result.exit_code == 0, result.output
    assert "Imported 50 examples into run 1 (eval); 4 skipped." in result.output
    assert "line 11: bad JSON" in result.output
    assert "line 12: no 'id' field" in result.output
    assert "line 13: duplicate id 'q3' (first on line 4)" in result.output
    assert "line 55: not an object but list" in result.output
    again = json.loads(lab("failures", "import", "a", str(path), "--json").output)
    assert again["taken"] == 50 and again["new"] == 0 and again["replaced"] == 50 and again["total"] == 50
    assert db_counts(project)["examples"] == 50
    shown = json.loads(lab("failures", "sample", "a", "-n", "100", "--json").output)
    assert shown["size"] == sum(1 for r in data if not r["correct"])  # every failure, once


def test_import_csv_reads_numbers_and_booleans(project: Path) -> None:
    make_run("a")
    data = rows(40)
    path = project / "preds.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(data[0]))
        writer.writeheader()
        for r in data:
            writer.writerow({**r, "correct": "true" if r["correct"] else "false"})
        fh.write("q999,only,three\n")
    result = lab("failures", "import", "a", str(path), "--split", "test")
    assert result.exit_code == 0, result.output
    assert "Imported 40 examples into run 1 (test); 1 skipped" in result.output
    assert "line 42: 3 cells where the header has 7" in result.output
    heavy = [r["id"] for r in data if r["loss"] > 1.5]
    out = json.loads(
        lab(
            "failures", "sample", "a", "--split", "test", "--where", "loss > 1.5", "-n", "99", "--json"
        ).output
    )
    with Notebook.open(project) as nb:
        drawn = {i.ex_id for i in nb.failures.items(out["name"])}
        assert drawn == set(heavy)
        assert all(isinstance(i.data["loss"], float) for i in nb.failures.items(out["name"]))


def test_import_parquet_with_another_id_field(project: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    make_run("a")
    data = [{**r, "uid": 1000 + i} for i, r in enumerate(rows(30))]
    data.append({**data[0], "uid": None})  # a row without its id is skipped, and named as a row
    pq.write_table(pa.Table.from_pylist(data), project / "preds.parquet")
    result = lab("failures", "import", "a", str(project / "preds.parquet"), "--id-field", "uid")
    assert result.exit_code == 0, result.output
    assert "Imported 30 examples" in result.output and "1 skipped" in result.output
    assert "  row 31: " in result.output
    data.pop()
    lab("failures", "sample", "a", "--name", "s", "-n", "100")
    ids = {json.loads(lab("failures", "show", "s", "--json").output)[0]["id"]}
    assert ids <= {str(1000 + i) for i, r in enumerate(data) if not r["correct"]}


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("", "empty.jsonl", "holds no examples"),
        ("{bad\n[1]\n", "bad.jsonl", "holds no examples to import (2 skipped: line 1: bad JSON"),
        (b"id,output\n1,\xff\xfe\n", "latin.csv", "is not UTF-8 text"),
        ("x", "notes.txt", "cannot tell the format of notes.txt"),
        ("PAR1 not really", "broken.parquet", "is not a readable Parquet file"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(
    project: Path, content: str | bytes, name: str, message: str
) -> None:
    make_run("a")
    path = project / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert message in fails_cleanly(project, "failures", "import", "a", str(path))


def test_import_refuses_missing_file_directory_and_unknown_run(project: Path) -> None:
    make_run("a")
    good = write_jsonl(project / "p.jsonl", rows(5))
    assert "no file" in fails_cleanly(project, "failures", "import", "a", str(project / "nope.jsonl"))
    (project / "d.jsonl").mkdir()
    assert "is not a file" in fails_cleanly(project, "failures", "import", "a", str(project / "d.jsonl"))
    assert "no run 'zzz'" in fails_cleanly(project, "failures", "import", "zzz", str(good))
    assert "split name" in fails_cleanly(project, "failures", "import", "a", str(good), "--split", "a b")


def test_sdk_logs_examples_with_numpy_values_nan_and_infinity(project: Path) -> None:
    with labbook.init(name="np") as run:
        n = run.log_examples(
            [
                {
                    "id": np.int64(1),
                    "output": "a",
                    "target": "b",
                    "correct": np.bool_(False),
                    "loss": np.float32(2.5),
                },
                {"id": 2, "output": "b", "target": "b", "correct": True, "loss": float("nan")},
                {"id": 3, "output": "", "target": "b", "correct": 0, "loss": float("inf"), "v": np.arange(3)},
            ]
        )
        assert n == 3
        with pytest.raises(BadInput, match="example 2 of the rows: no 'id' field; nothing was logged"):
            run.log_examples([{"id": 9}, {"output": "x"}])
        with pytest.raises(BadInput, match="duplicate id '4'"):
            run.log_examples([{"id": 4}, {"id": "4"}])
    tail = json.loads(lab("failures", "tail", "np", "--by", "loss", "--json").output)
    assert tail["numeric"] == 2 and tail["missing"] == 1  # NaN is stored as null
    assert tail["rows"][0]["ex_id"] == "3" and tail["rows"][0]["value"] == "Infinity"
    shown = json.loads(lab("failures", "sample", "np", "--name", "s", "--json").output)
    assert shown["size"] == 2  # ids 1 and 3 failed; nothing of the refused calls was kept
    items = json.loads(lab("failures", "show", "s", "--json").output)
    assert sorted(i["id"] for i in items) == ["1", "3"]
    assert {i["id"]: i["fields"].get("v") for i in items}["3"] == [0, 1, 2]


# -- samples -------------------------------------------------------------------------


def test_samples_are_reproducible_and_hold_only_failures(project: Path) -> None:
    data = rows(300)
    make_run("a", data)
    failures = {r["id"] for r in data if not r["correct"]}
    first = lab("failures", "sample", "a", "-n", "20", "--seed", "7", "--name", "one")
    assert (
        first.exit_code == 0
        and f"Sample one: 20 of {len(failures)} failures of run 1 (eval), seed 7." in first.output
    )
    lab("failures", "sample", "a", "-n", "20", "--seed", "7", "--name", "two")
    lab("failures", "sample", "a", "-n", "20", "--seed", "8", "--name", "three")
    with Notebook.open(project) as nb:
        one, two, three = ([i.ex_id for i in nb.failures.items(s)] for s in ("one", "two", "three"))
    assert one == two and one != three
    assert len(set(one)) == 20 and set(one) <= failures


def test_stratified_sample_keeps_the_proportions(project: Path) -> None:
    data = rows(400, acc=0.0)  # every example fails; a quarter are German
    make_run("a", data)
    out = lab("failures", "sample", "a", "-n", "40", "--stratify", "lang", "--name", "s")
    assert out.exit_code == 0, out.output
    items = json.loads(lab("failures", "show", "s", "--json").output)
    langs = [i["fields"]["lang"] for i in items]
    assert langs.count("de") == 10 and langs.count("en") == 30


def test_asking_for_more_than_there_are_takes_all_and_says_so(project: Path) -> None:
    data = rows(30)
    make_run("a", data)
    k = sum(1 for r in data if not r["correct"])
    out = lab("failures", "sample", "a", "-n", "500")
    assert out.exit_code == 0
    assert f"Only {k} examples are failures; sample r1-eval-1 holds all {k}." in out.output


def test_bad_sample_requests_are_refused_and_write_nothing(project: Path) -> None:
    make_run("a", rows(50))
    make_run("empty")
    make_run("nocorrect", [{"id": i, "output": "x"} for i in range(5)])
    lab("failures", "sample", "a", "--name", "taken")
    assert "matches no example" in fails_cleanly(project, "failures", "sample", "a", "--where", "loss > 1000")
    assert "no field 'los'; did you mean loss" in fails_cleanly(
        project, "failures", "sample", "a", "--where", "los > 1"
    )
    assert "expected a value" in fails_cleanly(project, "failures", "sample", "a", "--where", "loss >> 1")
    assert "'value in output' is not a test here; write output == 'value'" in fails_cleanly(
        project, "failures", "sample", "a", "--where", "'x' in output"
    )
    assert "run 2 has no examples" in fails_cleanly(project, "failures", "sample", "empty")
    assert "no examples in split 'test'; its splits: eval (50)" in fails_cleanly(
        project, "failures", "sample", "a", "--split", "test"
    )
    assert "no 'correct' field" in fails_cleanly(project, "failures", "sample", "nocorrect")
    assert "exists already" in fails_cleanly(project, "failures", "sample", "a", "--name", "taken")
    assert "not allowed" in fails_cleanly(project, "failures", "sample", "a", "--name", "my sample!")
    assert "no run 'ghost'" in fails_cleanly(project, "failures", "sample", "ghost")
    assert "-n must be at least 1" in fails_cleanly(project, "failures", "sample", "a", "-n", "0")


def test_where_text_never_becomes_sql(project: Path) -> None:
    make_run("a", rows(50))
    sneaky = "output == \"x'); DROP TABLE runs; --\" or output == ''"
    out = lab("failures", "sample", "a", "--where", sneaky, "--name", "s", "-n", "100")
    assert out.exit_code == 0, out.output
    items = json.loads(lab("failures", "show", "s", "--json").output)
    assert items and all(i["fields"]["output"] == "" for i in items)
    assert lab("ls", "--json").exit_code == 0 and db_counts(project)["examples"] == 50


# -- tags, rules, piles ----------------------------------------------------------------


def test_tag_rule_piles_and_show(project: Path) -> None:
    data = rows(300)
    make_run("a", data)
    lab("failures", "sample", "a", "-n", "30", "--name", "s")
    with Notebook.open(project) as nb:
        items = nb.failures.items("s")
    first, second = items[0].ex_id, items[1].ex_id
    out = lab("failures", "tag", "s", first, "odd-one", "format.v2", "--note", "looks truncated")
    assert out.exit_code == 0 and out.output == f"{first} → odd-one, format.v2 (note saved)\n"
    lab("failures", "tag", "s", second, "odd-one")
    rule = lab("failures", "rule", "s", "empty", "--where", "output == ''")
    empties = [i.ex_id for i in items if i.data["output"] == ""]
    assert rule.output == f"empty: {len(empties)} examples match, {len(empties)} newly added\n"
    again = lab("failures", "rule", "s", "empty", "--where", "output == ''")
    assert again.output == f"empty: {len(empties)} examples match, 0 newly added\n"

    rep = json.loads(lab("failures", "piles", "s", "--json").output)
    members = {"odd-one": {first, second}, "format.v2": {first}, "empty": set(empties)}
    reviewed = len(set().union(*members.values()))
    assert rep["reviewed"] == reviewed and rep["unreviewed"] == 30 - reviewed
    population = rep["sample"]["population"]
    assert population == sum(1 for r in data if not r["correct"])
    counts = [p["count"] for p in rep["piles"]]
    assert counts == sorted(counts, reverse=True)  # biggest first
    for p in rep["piles"]:
        k = len(members[p["pile"]])
        ci = stats.binomtest(k, reviewed).proportion_ci(method="wilson")
        assert p["count"] == k and p["share"] == pytest.approx(k / reviewed)
        assert p["low"] == pytest.approx(ci.low) and p["high"] == pytest.approx(ci.high)
        assert p["estimate"] == pytest.approx(k / reviewed * population)
        assert p["est_high"] == pytest.approx(ci.high * population)
    text = lab("failures", "piles", "s").output
    assert f"{reviewed} reviewed, {30 - reviewed} unreviewed" in text
    big = rep["piles"][0]
    lo, hi = wilson(big["count"], reviewed)
    assert f"{100 * lo:.0f}%–{100 * hi:.0f}%" in text

    only = json.loads(lab("failures", "show", "s", "--pile", "odd-one", "--json").output)
    assert [i["id"] for i in only] == [first, second]
    expected = sorted({"format.v2", "odd-one"} | ({"empty"} if first in empties else set()))
    assert only[0]["note"] == "looks truncated" and sorted(only[0]["piles"]) == expected
    listed = lab("failures", "show", "s").output
    assert "looks truncated" in listed and len(listed.splitlines()) == 32


def test_bad_tags_and_rules_are_refused_and_write_nothing(project: Path) -> None:
    make_run("a", rows(100))
    lab("failures", "sample", "a", "-n", "10", "--name", "s")
    with Notebook.open(project) as nb:
        ex = nb.failures.items("s")[0].ex_id
    assert "no sample named 'nope'" in fails_cleanly(project, "failures", "tag", "nope", ex, "p")
    assert "is not in sample s" in fails_cleanly(project, "failures", "tag", "s", "q-none", "p")
    assert "pile name 'a/b' is not allowed" in fails_cleanly(project, "failures", "tag", "s", ex, "ok", "a/b")
    assert "name at least one pile" in fails_cleanly(project, "failures", "tag", "s", ex)
    assert "matches no example of sample s" in fails_cleanly(
        project, "failures", "rule", "s", "p", "--where", "loss > 99"
    )
    assert "pile name ':x' is not allowed" in fails_cleanly(
        project, "failures", "rule", "s", ":x", "--where", "loss > 0"
    )
    assert "has no pile 'p'" in fails_cleanly(project, "failures", "show", "s", "--pile", "p")
    assert "no sample named" in fails_cleanly(project, "failures", "piles", "ghost")


# -- diff and tail ---------------------------------------------------------------------


def test_diff_counts_fixes_and_breaks_and_follows_the_piles(project: Path) -> None:
    a, b = rows(400, seed=1, acc=0.6), rows(400, seed=2, acc=0.8)
    b = b[50:] + [dict(r, id=f"new{i}") for i, r in enumerate(b[:20])]  # 50 ids dropped, 20 added
    make_run("a", a)
    make_run("b", b)
    lab("failures", "sample", "a", "-n", "40", "--name", "s")
    lab("failures", "rule", "s", "empty", "--where", "output == ''")
    lab("failures", "rule", "s", "swap", "--where", "output != ''")
    out = json.loads(lab("failures", "diff", "a", "b", "--json").output)
    right_b = {r["id"]: r["correct"] for r in b}
    pairs = [(r["correct"], right_b[r["id"]]) for r in a if r["id"] in right_b]
    fixed = sum(1 for x, y in pairs if not x and y)
    broken = sum(1 for x, y in pairs if x and not y)
    assert (out["paired"], out["only_a"], out["only_b"]) == (350, 50, 20)
    assert (out["fixed"], out["broken"]) == (fixed, broken)
    assert out["still_right"] == sum(1 for x, y in pairs if x and y)
    assert out["acc_b"] == pytest.approx(sum(y for _, y in pairs) / 350)
    assert out["mcnemar"]["p_exact"] == pytest.approx(stats.binomtest(fixed, fixed + broken).pvalue)
    with Notebook.open(project) as nb:
        piles = nb.store.failures.pile_members(nb.failures.get("s").id)
    assert out["sample"] == "s"
    for change in out["piles"]:
        group = piles[change["pile"]]
        assert change["in_a"] == len(group)
        assert change["fixed"] == sum(1 for i in group if right_b.get(i) is True)
        assert change["still_failing"] == sum(1 for i in group if right_b.get(i) is False)
        assert change["missing"] == sum(1 for i in group if i not in right_b)
    text = lab("failures", "diff", "a", "b").output
    assert f"fixed {fixed}   broken {broken}" in text and "piles of sample s (40 reviewed) in run 2" in text


def test_diff_refuses_runs_without_shared_examples(project: Path) -> None:
    make_run("a", rows(20, prefix="a"))
    make_run("b", rows(20, prefix="b"))
    make_run("c")
    assert "share no example id" in fails_cleanly(project, "failures", "diff", "a", "b")
    assert "run 3 has no examples" in fails_cleanly(project, "failures", "diff", "a", "c")
    assert "two different runs" in fails_cleanly(project, "failures", "diff", "a", "a")


def test_tail_ranks_by_robust_z(project: Path) -> None:
    data = rows(200)
    data[17]["loss"] = 50.0
    data[3]["output"] = "a very long rambling answer " * 20
    del data[5]["loss"]
    make_run("a", data)
    out = json.loads(lab("failures", "tail", "a", "--by", "loss", "-n", "5", "--json").output)
    ids = [r["id"] for r in data if "loss" in r]
    losses = np.array([r["loss"] for r in data if "loss" in r])
    z = (losses - np.median(losses)) / stats.median_abs_deviation(losses, scale="normal")
    top = [ids[i] for i in np.argsort(-np.abs(z), kind="stable")[:5]]
    assert [r["ex_id"] for r in out["rows"]] == top and top[0] == "q17"
    assert out["rows"][0]["z"] == pytest.approx(float(np.max(z)))
    assert out["numeric"] == 199 and out["missing"] == 1
    longest = json.loads(lab("failures", "tail", "a", "--by", "len(output)", "-n", "1", "--json").output)
    assert longest["rows"][0]["ex_id"] == "q3" and longest["rows"][0]["value"] == len(data[3]["output"])
    lengths = np.array([len(r["output"]) for r in data], dtype=float)
    assert longest["rows"][0]["z"] == pytest.approx(float(robust_z(lengths)[3]))
    text = lab("failures", "tail", "a", "--by", "loss", "-n", "3").output
    assert "q17" in text and "robust z" in text
    assert "no example of run 1 has a numeric 'lang'" in fails_cleanly(
        project, "failures", "tail", "a", "--by", "lang"
    )
    assert "no field 'size'" in fails_cleanly(project, "failures", "tail", "a", "--by", "size")


# -- hypotheses from piles ---------------------------------------------------------------


def test_hypothesis_from_the_biggest_pile_is_linked_and_shown(project: Path) -> None:
    make_run("a", rows(300))
    lab("failures", "sample", "a", "-n", "30", "--name", "s")
    lab("failures", "rule", "s", "empty", "--where", "output == ''")
    lab("failures", "rule", "s", "swap", "--where", "output != ''")
    counts = {
        p["pile"]: p["count"] for p in json.loads(lab("failures", "piles", "s", "--json").output)["piles"]
    }
    biggest = max(counts, key=lambda p: counts[p])
    out = lab("hyp", "add", "--from-pile", "s", "the model guesses a familiar animal")
    assert out.exit_code == 0, out.output
    assert f"From pile {biggest} of sample s: {counts[biggest]} of 30 reviewed failures" in out.output
    lab("hyp", "add", "--from-pile", "s:empty", "empty outputs are truncation")
    shown = lab("hyp", "show", "H2").output
    assert f"from pile     empty of sample s ({counts['empty']} of 30 reviewed failures)" in shown
    data = json.loads(lab("hyp", "show", "H1", "--json").output)
    assert data["from_piles"] == [{"sample": "s", "pile": biggest, "count": counts[biggest], "reviewed": 30}]
    assert "has no pile 'nope'" in fails_cleanly(project, "hyp", "add", "--from-pile", "s:nope", "x")
    lab("failures", "sample", "a", "-n", "5", "--name", "fresh")
    assert "has no piles yet" in fails_cleanly(project, "hyp", "add", "--from-pile", "fresh", "x")


def test_samples_are_listed_with_their_progress(project: Path) -> None:
    make_run("a", rows(100))
    assert "no samples yet" in lab("failures", "ls").output
    lab("failures", "sample", "a", "-n", "10", "--name", "s", "--where", "loss > 0.1")
    lab("failures", "rule", "s", "all", "--where", "loss > 0")
    listed = json.loads(lab("failures", "ls", "a", "--json").output)
    assert [(s["name"], s["size"], s["reviewed"], s["where"]) for s in listed] == [
        ("s", 10, 10, "loss > 0.1")
    ]
    assert "loss > 0.1" in lab("failures", "ls").output


def test_demo_sorts_failures_into_piles_and_diffs_the_variants(tmp_path: Path) -> None:
    result = lab("demo", "--dir", str(tmp_path / "d"), "--seeds", "1")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "$ lab failures piles plain-s0-failures" in out and "$ lab failures diff plain-s0 scaled-s0" in out
    with Notebook.open(tmp_path / "d") as nb:
        plain, scaled = nb.get_run("plain-s0"), nb.get_run("scaled-s0")
        rep = nb.failures.piles("plain-s0-failures")
        diff = nb.failures.diff("plain-s0", "scaled-s0")
        items = nb.failures.items("plain-s0-failures")
    assert nb.failures is not None and rep.reviewed == 40 and rep.unreviewed == 0
    assert all(i.correct == 0 for i in items) and all(
        i.data["bayes_correct"] is ("label-noise" not in i.piles) for i in items
    )
    assert diff.paired == 1000  # one fixed validation set: the same ids in every run
    assert diff.acc_a == pytest.approx(plain.metrics["val_acc"].last)
    assert diff.acc_b == pytest.approx(scaled.metrics["val_acc"].last)
    for p in rep.piles:
        assert f"{p.pile}" in out and f"{p.estimate:.0f}" in out


def test_import_a_json_array_file(project: Path) -> None:
    make_run("a")
    data = rows(12)
    (project / "preds.json").write_text(json.dumps([*data, {"no": "id"}]))
    result = lab("failures", "import", "a", str(project / "preds.json"))
    assert result.exit_code == 0, result.output
    assert (
        "Imported 12 examples into run 1 (eval); 1 skipped." in result.output
        and "line 13: no 'id'" in result.output
    )
    (project / "obj.json").write_text('[{"id": 1}')
    assert "is not valid JSON" in fails_cleanly(project, "failures", "import", "a", str(project / "obj.json"))
