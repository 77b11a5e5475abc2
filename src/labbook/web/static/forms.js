/*
 * labbook pages: forms that write through the JSON API, and fragments reloaded from the page's own URL.
 *
 * Plain ES2017, no build step. The one global is window.LabPage:
 *
 *   LabPage.send(method, url, body)   fetch with the CSRF header; resolves to the reply's JSON,
 *                                     rejects with an Error whose message is the API's one line
 *   LabPage.refresh(ids, url)         fetch url (default: this page) as HTML and swap in the
 *                                     elements with those ids; the server renders every fragment
 *   LabPage.typing(event)             true when a key was meant for an input, not a shortcut
 *
 * <form data-api="/api/x" data-method="POST" data-refresh="id" data-say="prediction"
 *       data-extra='{"hypothesis": "H1"}'>: the named fields are sent as JSON (data-type="number",
 * "int" or "list" converts a field; empty fields are left out), the fragment is reloaded and a
 * sentence about the reply goes into [data-said]; an error goes into [data-error] (role=alert).
 * <form data-clean method=get>: empty fields are left out of the URL.
 * <div data-reliability="json-script-id">: the calibration page's diagram; a click on a bin
 * lists its predictions in #bin-list and puts lo/hi in the URL.
 */
(function () {
  "use strict";

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function errorLine(res) {
    const text = await res.text();
    try {
      const body = JSON.parse(text);
      if (body && body.error) return body.error;
    } catch (e) {
      const doc = new DOMParser().parseFromString(text, "text/html");
      const p = doc.querySelector("p.error");
      if (p) return p.textContent.trim();
    }
    return res.status + " " + res.statusText;
  }

  async function send(method, url, body) {
    const res = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(await errorLine(res));
    return res.json();
  }

  async function refresh(ids, url) {
    const res = await fetch(url || location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!res.ok) throw new Error(await errorLine(res));
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    for (const id of ids) {
      const fresh = doc.getElementById(id);
      const old = document.getElementById(id);
      if (fresh && old) old.replaceWith(document.adoptNode(fresh));
    }
    document.dispatchEvent(new CustomEvent("lab:refreshed", { detail: { ids: ids } }));
    return doc;
  }

  function typing(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return true;
    const t = e.target;
    return Boolean(t && t.closest && t.closest("input, textarea, select, [contenteditable]"));
  }

  // ---------------------------------------------------------------- forms over the API

  function fieldValue(el) {
    const raw = el.type === "checkbox" ? (el.checked ? el.value : "") : String(el.value || "").trim();
    if (raw === "") return undefined;
    const type = el.dataset.type;
    if (type === "list") return raw.split(/[\s,]+/).filter(Boolean);
    if (type === "number" || type === "int") {
      const n = type === "int" ? Number.parseInt(raw, 10) : Number(raw);
      if (!Number.isFinite(n)) throw new Error(el.name + ": " + JSON.stringify(raw) + " is not a number");
      return n;
    }
    return raw;
  }

  function formBody(form) {
    const body = JSON.parse(form.dataset.extra || "{}");
    for (const el of form.elements) {
      if (!el.name || el.name.startsWith("_") || el.disabled || el.type === "submit") continue;
      const v = fieldValue(el);
      if (v !== undefined) body[el.name] = v;
    }
    if (form.elements._as) body[form.elements._as.value] = form.dataset.ref;
    return body;
  }

  function say(form, kind, reply) {
    const out = form.querySelector("[data-said]");
    if (!out) return;
    out.textContent = "";
    if (kind === "prediction") {
      if (reply.late) {
        const badge = document.createElement("span");
        badge.className = "late";
        badge.textContent = "late";
        out.append(badge, " " + reply.ref + " is late: a linked run already had results when it was " +
          "written down, so it is kept but not scored.");
      } else {
        out.append(reply.ref + " is written down before any result: it will be scored when it resolves.");
      }
    } else if (kind === "hypothesis") {
      const a = document.createElement("a");
      a.href = "/hypotheses/" + reply.ref;
      a.textContent = "predict on " + reply.ref;
      out.append(reply.ref + " added. Now write down what you expect before any result: ", a);
    } else if (kind === "note") {
      out.append("N" + reply.id + " written" + (reply.against ? " as evidence against." : "."));
    }
    out.dataset.ref = reply.ref || (reply.id !== undefined ? "N" + reply.id : "");
    out.dataset.late = reply.late ? "1" : "0";
  }

  function showError(form, message) {
    const box = form.querySelector("[data-error]");
    if (!box) return;
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function submitForm(form) {
    const button = form.querySelector('[type="submit"]');
    showError(form, "");
    if (button) button.disabled = true;
    try {
      const reply = await send(form.dataset.method || "POST", form.dataset.api, formBody(form));
      form.reset();
      if (form.dataset.refresh) await refresh(form.dataset.refresh.split(/\s+/));
      say(form, form.dataset.say, reply);
      form.dispatchEvent(new CustomEvent("lab:saved", { bubbles: true, detail: reply }));
    } catch (err) {
      showError(form, err.message);
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (form.matches("form[data-api]")) {
      e.preventDefault();
      submitForm(form);
    } else if (form.matches("form[data-clean]")) {
      for (const el of form.elements) if (el.name && !el.value) el.disabled = true;
      setTimeout(() => { for (const el of form.elements) el.disabled = false; }, 0);
    }
  });

  // ---------------------------------------------------------------- calibration: bins

  function binParams(lo, hi) {
    const list = document.getElementById("bin-list");
    const params = new URLSearchParams(list ? list.dataset.query || "" : "");
    params.set("lo", lo);
    params.set("hi", hi);
    return params;
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
  }

  function renderBin(list, lo, hi, rows) {
    list.textContent = "";
    const h = document.createElement("h3");
    h.textContent = rows.length + " scored prediction" + (rows.length === 1 ? "" : "s") +
      " with p in [" + lo + ", " + hi + ")";
    const table = document.createElement("table");
    table.className = "compact";
    table.innerHTML = "<thead><tr><th>id</th><th class=\"num\">p</th><th>outcome</th><th>prediction</th></tr></thead>";
    const body = document.createElement("tbody");
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.dataset.ref = r.ref;
      cell(tr, r.ref);
      cell(tr, String(r.p), "num");
      cell(tr, r.outcome, "outcome-" + r.outcome);
      cell(tr, r.text);
      body.append(tr);
    }
    table.append(body);
    list.append(h, table);
    list.dataset.bin = lo + "-" + hi;
  }

  async function showBin(lo, hi, push) {
    const list = document.getElementById("bin-list");
    if (!list) return;
    const params = binParams(lo, hi);
    if (push) history.pushState(null, "", location.pathname + "?" + params);
    document.querySelectorAll("#bins a[data-bin-lo]").forEach((a) => {
      a.closest("tr").classList.toggle("selected", a.dataset.binLo === lo && a.dataset.binHi === hi);
    });
    try {
      const res = await fetch("/api/calibration/bin?" + params, { credentials: "same-origin" });
      if (!res.ok) throw new Error(await errorLine(res));
      renderBin(list, lo, hi, await res.json());
    } catch (err) {
      list.innerHTML = '<p class="error" role="alert"></p>';
      list.firstChild.textContent = err.message;
    }
  }

  function binFromUrl() {
    const q = new URLSearchParams(location.search);
    const list = document.getElementById("bin-list");
    if (q.get("lo") !== null && q.get("hi") !== null) showBin(q.get("lo"), q.get("hi"), false);
    else if (list) { list.textContent = ""; delete list.dataset.bin; }
  }

  const edge = (v) => String(Number(Number(v).toFixed(6)));

  function mountReliability(el) {
    const source = document.getElementById(el.dataset.reliability);
    const data = JSON.parse(source ? source.textContent : "{}");
    window.LabCharts.reliability(el, data, {
      title: "Reliability: forecast vs what happened",
      onBin: (bin) => showBin(edge(bin.lo), edge(bin.hi), true),
    });
  }

  function start() {
    document.querySelectorAll("[data-reliability]").forEach(mountReliability);
    if (document.getElementById("bin-list")) {
      binFromUrl();
      window.addEventListener("popstate", binFromUrl);
      document.addEventListener("click", (e) => {
        const a = e.target.closest && e.target.closest("a[data-bin-lo]");
        if (!a) return;
        e.preventDefault();
        showBin(a.dataset.binLo, a.dataset.binHi, true);
      });
    }
  }

  window.LabPage = { send: send, refresh: refresh, typing: typing, csrf: csrf };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
