"""The research, journal, paper and review pages in real Chromium: forms, keys and the chart, with
every write checked through the service. Waits are on elements and states, never on time."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from labbook.service.notebook import Notebook
from tests.web.conftest import shot


def top_shot(page: Any, name: str) -> None:
    """A screenshot from the top: scrolled, the sticky nav and headers would sit mid-page."""
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, name)


def predict(page: Any, text: str, p: str) -> str:
    """Fill the prediction form, send it, and return the new prediction's ref once it is listed."""
    form = page.locator("#add-prediction")
    form.locator('[name="text"]').fill(text)
    form.locator('[name="p"]').fill(p)
    form.locator('button[type="submit"]').click()
    said = form.locator("[data-said]")
    expect(said).to_have_attribute("data-ref", re.compile(r"P\d+"))
    ref: str = said.get_attribute("data-ref")
    expect(page.locator(f'#predictions tr[data-ref="{ref}"]')).to_contain_text(text)
    return ref


def test_predictions_are_late_on_h1_and_not_on_a_new_hypothesis(page: Any, filled: Path) -> None:
    page.goto("/hypotheses/H1")
    form = page.locator("#add-prediction")
    form.locator('[name="text"]').fill("no probability given")
    form.locator('button[type="submit"]').click()
    expect(form.locator('p.error[role="alert"]')).to_contain_text("give -p PROBABILITY")
    late = predict(page, "lr=0.1 still wins at twice the steps", "0.65")
    expect(form.locator("[data-said]")).to_contain_text(f"{late} is late")
    expect(page.locator(f'tr[data-ref="{late}"] .late')).to_have_text(
        "late: made after results existed; not scored"
    )
    expect(page.locator('tr[data-ref="P1"] .late')).to_have_count(0)
    expect(page.locator(".against")).to_contain_text("the slow runs plateau early")
    note = page.locator("#add-note")
    note.locator('[name="text"]').fill("the gain vanishes once lr is retuned")
    note.locator('[name="_as"]').select_option("against")
    note.locator('button[type="submit"]').click()
    expect(page.locator("#evidence .against")).to_have_count(2)
    expect(note.locator("[data-said]")).to_contain_text("as evidence against")
    top_shot(page, "hypothesis")

    page.goto("/hypotheses")
    adding = page.locator("#add-hypothesis")
    adding.locator('[name="text"]').fill("warm restarts help at equal budget")
    adding.locator('[name="tags"]').fill("sched, lr")
    adding.locator('button[type="submit"]').click()
    expect(page.locator('#hyp-list tr[data-ref="H2"]')).to_contain_text("warm restarts help")
    top_shot(page, "hypotheses")
    adding.locator("[data-said] a").click()
    expect(page.locator("h1")).to_contain_text("warm restarts help")
    fresh = predict(page, "cosine with restarts beats step decay", "0.6")
    expect(page.locator("#add-prediction [data-said]")).to_contain_text("before any result")
    expect(page.locator(f'tr[data-ref="{fresh}"]')).to_contain_text("made before the first result")
    expect(page.locator(f'tr[data-ref="{fresh}"] .late')).to_have_count(0)
    with Notebook.open(filled) as nb:
        against = sorted(n.text for n in nb.journal.notes(hyp_id=1) if n.against)
        assert against == ["the gain vanishes once lr is retuned", "the slow runs plateau early"]
        assert nb.hypotheses.prediction(late).late is True
        assert nb.hypotheses.prediction(fresh).late is False
        assert sorted(nb.hypotheses.get("H2").tags) == ["lr", "sched"]


def test_three_failures_are_reviewed_into_piles_by_keyboard(page: Any, filled: Path) -> None:
    page.goto("/failures/errs")
    reviewer = page.locator("#reviewer")
    expect(reviewer).to_have_attribute("data-at", "1")
    page.keyboard.press("n")
    expect(page.locator('#new-pile [name="pile"]')).to_be_focused()
    page.keyboard.type("wrong-animal")
    page.keyboard.press("Enter")
    expect(reviewer).to_have_attribute("data-at", "2")
    pile = page.locator('button.pile[data-key="1"]')
    expect(pile).to_contain_text("wrong-animal")
    page.keyboard.press("1")
    expect(pile).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("Enter")
    expect(reviewer).to_have_attribute("data-at", "3")
    note = page.locator('#save-form [name="note"]')
    note.click()
    page.keyboard.type("j k 1 n: keys typed here are text")
    expect(reviewer).to_have_attribute("data-at", "3")
    expect(page.locator("button.pile.selected")).to_have_count(0)
    expect(page.locator("#new-pile")).to_be_hidden()
    page.locator("h1").click()  # leave the field; keys act again
    page.keyboard.press("1")
    page.keyboard.press(" ")
    expect(reviewer).to_have_attribute("data-at", "4")
    expect(page).to_have_url(re.compile(r"[?&]at=4\b"))
    expect(page.locator('#pile-report tr[data-pile="wrong-animal"] td').nth(1)).to_have_text("3")
    top_shot(page, "review")
    with Notebook.open(filled) as nb:
        rep = nb.failures.piles("errs")
        assert rep.reviewed == 3 and [(p.pile, p.count) for p in rep.piles] == [("wrong-animal", 3)]
        assert nb.failures.get("errs").cursor == 3
        assert nb.failures.items("errs")[2].note == "j k 1 n: keys typed here are text"
    page.keyboard.press("k")
    expect(reviewer).to_have_attribute("data-at", "3")
    expect(pile).to_have_class(re.compile(r"\bselected\b"))  # what was saved comes back


def test_a_paper_is_triaged_by_keyboard(page: Any, filled: Path) -> None:
    page.goto("/papers")
    triage = page.locator("#triage")
    expect(triage).to_have_attribute("data-ref", "R1")
    page.keyboard.press("j")
    expect(triage).to_have_attribute("data-ref", "R2")
    page.keyboard.press("k")
    expect(triage).to_have_attribute("data-ref", "R1")
    page.keyboard.press("r")
    expect(triage).to_have_attribute("data-stage", "kind")
    page.keyboard.press("1")
    expect(triage).to_have_attribute("data-stage", "changes")
    page.keyboard.press("y")
    expect(page.locator("#triage-said")).to_contain_text("R1: read")
    expect(triage).to_have_attribute("data-ref", "R2")
    expect(page.locator('#papers-list table[data-status="read"] tr[data-ref="R1"]')).to_be_visible()
    top_shot(page, "papers")
    with Notebook.open(filled) as nb:
        p = nb.papers.get("R1")
        assert (p.status, p.output_kind, p.changes) == ("read", "foundation-model", "yes")


def test_calibration_journal_today_and_search_open(page: Any) -> None:
    page.goto("/calibration")
    chart = page.locator('#reliability[data-drawn="1"]')
    expect(chart).to_be_visible()
    dot = page.evaluate(
        """() => { const u = LabCharts.get(document.getElementById('reliability')).plot;
                   const r = u.over.getBoundingClientRect();
                   return {x: r.left + u.valToPos(0.7, 'x'), y: r.top + u.valToPos(1, 'y')}; }"""
    )
    page.mouse.click(dot["x"], dot["y"])  # the one bin: P1 at p=0.7, came true
    expect(page.locator('#bin-list tr[data-ref="P1"]')).to_contain_text("lr=0.1 beats lr=0.01")
    expect(page).to_have_url(re.compile(r"lo=0\.7&hi=0\.8"))
    expect(page.locator('[data-count="considered"]')).to_have_text("1")
    top_shot(page, "calibration")
    page.goto("/calibration?kind=binary&lo=0.7&hi=0.8")  # the link reproduces the screen
    expect(page.locator('#bin-list tr[data-ref="P1"]')).to_be_visible()
    expect(page.locator('#bins tr.selected a[data-bin-lo="0.7"]')).to_be_visible()

    page.goto("/journal?since=all")
    expect(page.locator('tr[data-kind="evidence-against"]')).to_contain_text("!!")
    top_shot(page, "journal")
    page.goto("/today")
    expect(page.locator('section[data-section="failures"] a')).to_have_attribute("href", "/failures/errs")
    top_shot(page, "today")
    page.locator('nav input[name="q"]').fill("plateau")
    page.locator('nav input[name="q"]').press("Enter")
    expect(page.locator('#hits tr[data-kind="note"] mark')).to_have_text("plateau")
    top_shot(page, "search")
    page.locator('#hits tr[data-kind="note"] a').click()
    expect(page).to_have_url(re.compile(r"/hypotheses/H1$"))
