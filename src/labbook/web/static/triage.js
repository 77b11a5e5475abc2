/*
 * The paper queue's triage, with the keys of `lab papers triage` (cli/papers.py _walk):
 *
 *   decision   d drop (saved at once) · s skim · r read · e deep-read · n/j next · k previous
 *   kind       1..N the kind of output (records.papers.OUTPUT_KINDS, in the page's order)
 *   changes    y yes · s sometimes · n no   → POST /api/papers/{ref}/triage, then the next paper
 *   Esc        back one step
 *
 * The buttons do the same for a mouse. The paper on screen is #triage[data-ref]; after a
 * decision the server's queue no longer holds it, so reloading #triage at the same ?at=
 * shows the next one. Keys never fire while typing in a field. Needs forms.js (LabPage).
 */
(function () {
  "use strict";

  const DECISIONS = { d: "drop", s: "skim", r: "read", e: "deep-read" };
  const CHANGES = { y: "yes", s: "sometimes", n: "no" };
  const FRAGMENTS = ["week", "triage", "papers-list"];
  let choice = {};
  let busy = false;

  const box = () => document.getElementById("triage");

  function stage(name) {
    const el = box();
    el.dataset.stage = name;
    el.querySelectorAll(".stage").forEach((s) => { s.hidden = s.dataset.for !== name; });
    const chosen = el.querySelector("[data-chosen]");
    if (chosen) {
      chosen.textContent = choice.decision
        ? "chosen: " + choice.decision + (choice.kind ? ", " + choice.kind : "")
        : "";
    }
    const first = el.querySelector('.stage[data-for="' + name + '"] button');
    if (first && document.activeElement && el.contains(document.activeElement)) first.focus();
  }

  function say(text, error) {
    const err = document.getElementById("triage-error");
    const said = document.getElementById("triage-said");
    err.textContent = error ? text : "";
    err.hidden = !error;
    if (!error) said.textContent = text;
  }

  function urlAt(at) {
    const q = new URLSearchParams(location.search);
    q.set("at", String(at));
    return location.pathname + "?" + q;
  }

  async function go(at) {
    const el = box();
    const size = Number(el.dataset.size);
    if (!size || at < 1 || at > size) return;
    history.replaceState(null, "", urlAt(at));
    choice = {};
    await LabPage.refresh(FRAGMENTS).catch((err) => say(err.message, true));
  }

  async function decide() {
    const el = box();
    const ref = el.dataset.ref;
    if (!ref || busy) return;
    busy = true;
    const body = { decision: choice.decision };
    if (choice.decision !== "drop") Object.assign(body, { kind: choice.kind, changes: choice.changes });
    try {
      const p = await LabPage.send("POST", "/api/papers/" + encodeURIComponent(ref) + "/triage", body);
      choice = {};
      await LabPage.refresh(FRAGMENTS);
      say(p.ref + ": " + p.status + (p.kind ? ", " + p.kind + ", changes my work: " + p.changes : "") +
        " — " + p.title);
      document.dispatchEvent(new CustomEvent("lab:triaged", { detail: p }));
    } catch (err) {
      say(err.message, true);
      stage("decision");
    } finally {
      busy = false;
    }
  }

  function pickDecision(d) {
    choice = { decision: d };
    if (d === "drop") decide();
    else stage("kind");
  }

  function pickKind(kind) {
    choice.kind = kind;
    stage("changes");
  }

  function pickChanges(c) {
    choice.changes = c;
    decide();
  }

  function back() {
    const now = box().dataset.stage;
    if (now === "changes") { delete choice.kind; stage("kind"); }
    else { choice = {}; stage("decision"); }
  }

  function kindKeys() {
    return Array.from(box().querySelectorAll("[data-kind]")).map((b) => b.dataset.kind);
  }

  function onKey(e) {
    const el = box();
    if (!el || !el.dataset.ref || LabPage.typing(e) || busy) return;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const now = el.dataset.stage;
    const at = Number(el.dataset.at);
    let handled = true;
    if (key === "Escape") back();
    else if (now === "decision" && DECISIONS[key]) pickDecision(DECISIONS[key]);
    else if (now === "decision" && (key === "n" || key === "j")) go(at + 1);
    else if (now === "decision" && key === "k") go(at - 1);
    else if (now === "kind" && /^[1-9]$/.test(key) && kindKeys()[Number(key) - 1]) pickKind(kindKeys()[Number(key) - 1]);
    else if (now === "changes" && CHANGES[key]) pickChanges(CHANGES[key]);
    else handled = false;
    if (handled) e.preventDefault();
  }

  function onClick(e) {
    const t = e.target.closest && e.target.closest("#triage button, #triage a[data-go]");
    if (!t || busy) return;
    if (t.dataset.go) { e.preventDefault(); go(Number(t.dataset.go)); }
    else if (t.dataset.decision) pickDecision(t.dataset.decision);
    else if (t.dataset.kind) pickKind(t.dataset.kind);
    else if (t.dataset.changes) pickChanges(t.dataset.changes);
    else if (t.hasAttribute("data-back")) back();
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("click", onClick);
})();
