"""The research, journal, paper and review pages through the in-process client: each shows what
the service says (read back through the service or the CLI), and bad input is the one-line error."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labbook.service.notebook import Notebook
from tests.conftest import lab
from tests.web.conftest import cli_json, csrf

HTML = {"accept": "text/html"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    @property
    def text(self) -> str:
        return " ".join(
            "".join(c if isinstance(c, str) else " " + c.text + " " for c in self.children).split()
        )

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        """Descendants with this tag, class and attributes (``data_ref`` for ``data-ref``)."""
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        found = []
        for c in self.children:
            if isinstance(c, str):
                continue
            if (
                (tag is None or c.tag == tag)
                and (cls is None or cls in c.classes)
                and all(c.attrs.get(k) == v for k, v in want.items())
            ):
                found.append(c)
            found += c.all(tag, cls, **attrs)
        return found

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, cls, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls} {attrs}>"
        return found[0]


class Tree(HTMLParser):
    """Just enough of a DOM to ask a page what it shows (the standard library's parser)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.root = self.here = Node("#document", {}, None)
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.here)
        self.here.children.append(node)
        if tag not in VOID:
            self.here = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.here
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.here = node.parent

    def handle_data(self, data: str) -> None:
        self.here.children.append(data)


def get(client: TestClient, url: str, status: int = 200) -> Node:
    r = client.get(url, headers=HTML)
    assert r.status_code == status, r.text[-500:]
    assert r.headers["content-type"].startswith("text/html")
    return Tree(r.text).root


def test_hypotheses_lists_each_with_status_runs_and_resolved_predictions(client: TestClient) -> None:
    row = get(client, "/hypotheses").one("tr", data_ref="H1")
    cells = [td.text for td in row.all("td")]
    assert cells[:4] == ["H1", "testing", "6", "1/1"]
    assert cells[4] == "a higher learning rate helps"
    assert row.all("a", href="/hypotheses/H1")
    form = get(client, "/hypotheses").one("form", id="add-hypothesis")
    assert form.attrs["data-api"] == "/api/hypotheses"


def test_dossier_marks_late_predictions_and_shows_evidence_against(client: TestClient, filled: Path) -> None:
    headers = csrf(client)
    late = client.post(
        "/api/predictions", json={"hypothesis": "H1", "text": "after the fact", "p": 0.9}, headers=headers
    ).json()
    assert late["late"] is True  # the service decided: H1's runs have results
    doc = get(client, "/hypotheses/H1")
    assert "a higher learning rate helps" in doc.one("h1").text
    first, second = doc.one("tr", data_ref="P1"), doc.one("tr", data_ref=late["ref"])
    assert not first.all(cls="late") and "made before the first result" in first.text
    assert second.one("span", cls="late").text == "late: made after results existed; not scored"
    with Notebook.open(filled) as nb:
        from labbook.views.research import outcome_text

        p1 = nb.hypotheses.prediction("P1")
        assert outcome_text(p1) in first.text and p1.describe() in first.text
    against = doc.one("div", cls="against")
    assert "the slow runs plateau early" in against.text and "Against H1" in against.text
    runs = [a.text for a in doc.one("table", id="runs").all("a") if a.attrs["href"].startswith("/runs/")]
    assert [r["id"] for r in cli_json("hyp", "show", "H1")["runs"]] == [int(t) for t in runs[::2]]


def test_unknown_hypothesis_is_a_404_page_with_the_one_line(client: TestClient) -> None:
    doc = get(client, "/hypotheses/H9", status=404)
    assert doc.one("p", cls="error").text == "no hypothesis H9 in this notebook; `lab hyp ls` lists them"


def test_calibration_shows_the_reports_counts_scores_and_bins(client: TestClient) -> None:
    rep = cli_json("calibration")
    doc = get(client, "/calibration")
    for key in ("considered", "unresolved", "late_excluded", "ambiguous", "superseded"):
        assert doc.one("td", data_count=key).text == str(rep[key])
    assert doc.one("dd", id="brier").text.startswith(f"{rep['binary']['brier']:.4f}")
    bins = [b for b in rep["bins"] if b["count"]]
    rows = doc.one("table", id="bins").all("tbody")[0].all("tr")
    assert len(rows) == len(bins) and rows[0].all("td")[1].text == str(bins[0]["count"])
    assert doc.one("div", id="reliability").attrs["data-reliability"] == "cal-bins"
    assert [r.all("td")[0].text for r in doc.one("table", id="trend").all("tr")[1:]] == [
        m[0] for m in rep["trend"]
    ]


def test_calibration_filters_come_from_the_url_and_a_bad_since_is_400(client: TestClient) -> None:
    headers = csrf(client)
    client.post("/api/predictions", json={"hypothesis": "H1", "text": "late", "p": 0.9}, headers=headers)
    counted = get(client, "/calibration?include_late=1&kind=binary")
    assert counted.one("td", data_count="late_excluded").text == "0"
    assert [o.text for o in counted.all("option") if "selected" in o.attrs] == ["binary"]
    assert "checked" in counted.one("input", name="include_late").attrs
    plain = get(client, "/calibration")
    assert plain.one("td", data_count="late_excluded").text == "1"
    none = get(client, "/calibration?tag=nosuchtag")
    assert none.one("td", data_count="considered").text == "0"
    bad = get(client, "/calibration?since=garbage", status=400)
    assert "write a span like 30d" in bad.one("p", cls="error").text


def test_journal_groups_by_day_and_marks_evidence_against(client: TestClient) -> None:
    events = cli_json("journal", "--since", "all")
    doc = get(client, "/journal?since=all")
    rows = [tr for tr in doc.all("tr") if "data-kind" in tr.attrs]
    assert sorted(r.attrs["data-kind"] for r in rows) == sorted(e["kind"] for e in events)
    against = doc.one("tr", data_kind="evidence-against")
    assert "marked" in against.classes and "!!" in against.text
    assert "the slow runs plateau early" in against.one("td", cls="against").text
    assert not doc.one("tr", data_kind="hypothesis").all(cls="mark")[0].text
    get(client, "/journal?since=soon", status=400)


def test_search_links_each_hit_to_what_it_is_about(client: TestClient) -> None:
    doc = get(client, "/search?q=plateau")
    hit = doc.one("table", id="hits").one("tr", data_kind="note")
    assert hit.one("a").attrs["href"] == "/hypotheses/H1"  # the note is evidence against H1
    assert hit.one("mark").text == "plateau"
    runs = get(client, "/search?q=fast").all("tr", data_kind="run")
    assert runs and all(r.one("a").attrs["href"].startswith("/runs/") for r in runs)
    assert not get(client, "/search").all("table", id="hits")


def test_today_renders_every_agenda_section(client: TestClient) -> None:
    agenda = cli_json("today")
    doc = get(client, "/today")
    for name, section in agenda.items():
        card = doc.one("section", data_section=name)
        assert card.one("h2").text == section["title"]
        assert [li.text for li in card.all("li")] == [" ".join(line.split()) for line in section["lines"]]
    assert doc.one("section", data_section="failures").one("a").attrs["href"] == "/failures/errs"


def test_papers_show_the_queue_the_week_and_every_paper(client: TestClient) -> None:
    queue = client.get("/api/papers/queue").json()
    doc = get(client, "/papers")
    triage = doc.one("section", id="triage")
    assert triage.attrs["data-ref"] == "R1" and queue["papers"][0]["title"] in triage.text
    assert queue["verdict"] in doc.one("p", id="week").text
    assert len(triage.all("button", cls=None)) >= 4 + 8 + 3
    second = get(client, "/papers?at=2").one("section", id="triage")
    assert second.attrs["data-ref"] == "R2"
    assert get(client, "/papers?at=99").one("section", id="triage").attrs["data-ref"] == "R2"  # clamped
    lab("papers", "triage", "R1", "--decision", "drop")
    read = get(client, "/papers?status=drop")
    assert [tr.attrs["data-ref"] for tr in read.one("section", id="papers-list").all("tr", id="R1")] == ["R1"]
    assert get(client, "/papers").one("section", id="triage").attrs["data-ref"] == "R2"
    get(client, "/papers?status=burnt", status=400)


def test_failures_list_and_the_reviewer_resume_at_the_cursor(client: TestClient) -> None:
    row = get(client, "/failures").one("tr", data_sample="errs")
    assert "0/10" in row.text and row.all("a", href="/failures/errs")
    items = client.get("/api/failures/errs").json()["items"]
    doc = get(client, "/failures/errs")
    reviewer = doc.one("div", id="reviewer")
    assert reviewer.attrs["data-at"] == "1" and reviewer.attrs["data-id"] == items[0]["id"]
    first = items[0]["fields"]
    assert doc.one("dd", cls="diff").one("del").text == first["output"]
    assert doc.one("dd", cls="diff").one("ins").text == first["target"]
    headers = csrf(client)
    client.put(f"/api/failures/errs/items/{items[0]['id']}", json={"piles": ["animal"]}, headers=headers)
    client.put("/api/failures/errs/cursor", params={"position": 1}, headers=headers)
    resumed = get(client, "/failures/errs")
    assert resumed.one("div", id="reviewer").attrs["data-at"] == "2"
    key = resumed.one("button", data_pile="animal")
    assert key.attrs["data-key"] == "1" and "1" in key.one("span").text
    assert resumed.one("table", id="pile-report").one("tr", data_pile="animal").all("td")[1].text == "1"
    back = get(client, "/failures/errs?at=1")
    assert "selected" in back.one("button", data_pile="animal").classes
    assert get(client, "/failures/errs?at=11").one("h2", id="review-done")
    assert "nosample" in get(client, "/failures/nosample", status=404).one("p", cls="error").text


@pytest.mark.parametrize(
    ("output", "target", "want"),
    [
        ("the cat sat", "the dog sat", [("same", "the "), ("del", "cat"), ("ins", "dog"), ("same", " sat")]),
        ("a b", "a b c", [("same", "a b"), ("ins", " c")]),
    ],
)
def test_word_diff_is_word_by_word(output: str, target: str, want: list[Any]) -> None:
    from labbook.web.pages.failures import word_diff

    assert word_diff(output, target) == want


def test_failure_diff_of_two_runs_is_lab_failures_diff(client: TestClient) -> None:
    import labbook
    from tests.web.conftest import cli_json, examples

    with labbook.init(name="evaluated-again") as run:
        run.log_examples(examples(1))
    expected = cli_json("failures", "diff", "evaluated", "evaluated-again")
    html = client.get("/failures/diff", params={"a": "evaluated", "b": "evaluated-again"}).text
    assert f'<th>fixed by B (A wrong, B right)</th><td class="num">{expected["fixed"]}</td>' in html
    assert f'<th>broken by B (A right, B wrong)</th><td class="num">{expected["broken"]}</td>' in html
    bad = client.get(
        "/failures/diff", params={"a": "evaluated", "b": "nope"}, headers={"accept": "text/html"}
    )
    assert bad.status_code == 404 and "no run &#39;nope&#39;" in bad.text
