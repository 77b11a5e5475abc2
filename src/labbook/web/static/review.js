/*
 * The failure reviewer, with the terminal reviewer's habits (cli/review.py):
 *
 *   1..9         toggle the pile with that number
 *   n            a new pile: a field appears; Enter puts the example in it and saves; Esc cancels
 *   Enter/Space  save the chosen piles (and the note) and go on; with no pile chosen, skip
 *   j / k        next / previous without saving
 *
 * Saving PUTs /api/failures/{sample}/items/{id} with {piles, note}; every move PUTs the
 * cursor, so the server resumes where the reviewer is; the position is ?at=N (1-based) in
 * the URL. #reviewer is then reloaded from the server, piles and counts included. Keys
 * never fire while typing in a field. Needs forms.js (LabPage).
 */
(function () {
  "use strict";

  let busy = false;
  const box = () => document.getElementById("reviewer");

  function say(text, error) {
    const err = document.getElementById("review-error");
    err.textContent = error ? text : "";
    err.hidden = !error;
    if (!error) document.getElementById("review-said").textContent = text;
  }

  function chosen() {
    return Array.from(box().querySelectorAll("button.pile.selected")).map((b) => b.dataset.pile);
  }

  function toggle(button) {
    const on = !button.classList.contains("selected");
    button.classList.toggle("selected", on);
    button.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function sampleUrl(el) {
    return "/api/failures/" + encodeURIComponent(el.dataset.sample);
  }

  // Move to example `at` (1-based; size + 1 is the summary past the end).
  async function go(at) {
    const el = box();
    const size = Number(el.dataset.size);
    if (at < 1 || at > size + 1) return;
    await LabPage.send("PUT", sampleUrl(el) + "/cursor?position=" + (at - 1));
    const q = new URLSearchParams(location.search);
    q.set("at", String(at));
    history.replaceState(null, "", location.pathname + "?" + q);
    await LabPage.refresh(["reviewer"]);
  }

  async function run(task) {
    if (busy) return;
    busy = true;
    try {
      await task();
    } catch (err) {
      say(err.message, true);
    } finally {
      busy = false;
    }
  }

  function save(extra) {
    return run(async () => {
      const el = box();
      const at = Number(el.dataset.at);
      if (!el.dataset.id) return;
      const piles = chosen();
      if (extra && !piles.includes(extra)) piles.push(extra);
      const note = (document.querySelector('#save-form [name="note"]') || {}).value || "";
      if (!piles.length) {
        if (note.trim()) throw new Error("a note goes with a pile: choose one (1-9) or make one (n) first");
        await go(at + 1);
        say("skipped " + el.dataset.id + " (no pile)");
        return;
      }
      const body = { piles: piles, note: note };
      const r = await LabPage.send("PUT", sampleUrl(el) + "/items/" + encodeURIComponent(el.dataset.id), body);
      await go(at + 1);
      say("saved " + r.id + ": " + r.piles.join(", "));
      document.dispatchEvent(new CustomEvent("lab:reviewed", { detail: r }));
    });
  }

  function move(delta) {
    return run(() => go(Number(box().dataset.at) + delta));
  }

  function newPile() {
    const form = document.getElementById("new-pile");
    if (!form) return;
    form.hidden = false;
    form.elements.pile.focus();
  }

  function onKey(e) {
    const el = box();
    if (!el) return;
    if (e.key === "Escape" && e.target.closest && e.target.closest("#new-pile")) {
      e.target.value = "";
      document.getElementById("new-pile").hidden = true;
      e.target.blur();
      return;
    }
    if (LabPage.typing(e) || busy) return;
    const onControl = e.target.closest && e.target.closest("button, a, summary");
    let handled = true;
    if (/^[1-9]$/.test(e.key)) {
      const b = el.querySelector('button.pile[data-key="' + e.key + '"]');
      if (b) toggle(b);
    } else if (e.key === "n") newPile();
    else if (e.key === "j") move(1);
    else if (e.key === "k") move(-1);
    else if ((e.key === "Enter" || e.key === " ") && !onControl) save();
    else handled = false;
    if (handled) e.preventDefault();
  }

  function onSubmit(e) {
    if (e.target.id === "save-form") {
      e.preventDefault();
      save();
    } else if (e.target.id === "new-pile") {
      e.preventDefault();
      const name = e.target.elements.pile.value.trim();
      if (name) save(name);
      else e.target.hidden = true;
    }
  }

  function onClick(e) {
    const t = e.target.closest && e.target.closest("#reviewer button, #reviewer a[data-go]");
    if (!t) return;
    if (t.dataset.go) { e.preventDefault(); run(() => go(Number(t.dataset.go))); }
    else if (t.dataset.pile) toggle(t);
    else if (t.hasAttribute("data-new-pile")) newPile();
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("submit", onSubmit);
  document.addEventListener("click", onClick);
})();
