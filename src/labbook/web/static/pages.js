/* The runs table's selection (kept in the URL as sel=), and a run's output followed live. */
(function () {
  "use strict";

  function selected() {
    return Array.from(document.querySelectorAll("#runs-table input.pick:checked")).map((el) => el.value);
  }

  // sel=1,2,3 in the URL, so a link (or a reload) keeps the selection.
  function saveSelection(ids) {
    const url = new URL(window.location.href);
    if (ids.length) url.searchParams.set("sel", ids.join(","));
    else url.searchParams.delete("sel");
    window.history.replaceState(window.history.state, "", url);
  }

  function restoreSelection() {
    const sel = new URL(window.location.href).searchParams.get("sel");
    if (!sel) return;
    const ids = new Set(sel.split(","));
    document.querySelectorAll("#runs-table input.pick").forEach((el) => {
      el.checked = ids.has(el.value);
      el.closest("tr").classList.toggle("selected", el.checked);
    });
  }

  function updateBar() {
    const ids = selected().join(",").split(",").filter(Boolean);
    const count = document.getElementById("selected-count");
    if (!count) return;
    count.textContent = ids.length ? ids.length + " run" + (ids.length === 1 ? "" : "s") + " selected" : "no runs selected";
    document.getElementById("plot-selected").disabled = ids.length < 1;
    document.getElementById("compare-selected").disabled = ids.length < 2;
    saveSelection(selected());
  }

  function onPick(event) {
    const el = event.target;
    if (el.id === "pick-all") {
      document.querySelectorAll("#runs-table input.pick").forEach((box) => {
        box.checked = el.checked;
        box.closest("tr").classList.toggle("selected", el.checked);
      });
    } else if (el.classList.contains("pick")) {
      el.closest("tr").classList.toggle("selected", el.checked);
    } else {
      return;
    }
    updateBar();
  }

  function setUpRuns() {
    const bar = document.getElementById("selection-bar");
    if (!bar) return;
    document.addEventListener("change", onPick);
    document.getElementById("plot-selected").addEventListener("click", () => {
      window.location.href = "/charts?group=run&all=1&runs=" + encodeURIComponent(selected().join(","));
    });
    document.getElementById("compare-selected").addEventListener("click", () => {
      window.location.href = "/compare?runs=" + encodeURIComponent(selected().join(","));
    });
    // A live refresh or a new page of the table replaces the rows: keep what was picked.
    document.body.addEventListener("htmx:afterSettle", () => { restoreSelection(); updateBar(); });
    restoreSelection();
    updateBar();
  }

  // A run's output: the last 64 KiB, then what is appended, while the run is not over.
  function setUpTail() {
    const pre = document.getElementById("tail");
    if (!pre) return;
    let stream = "output";
    let next = null;
    let live = pre.dataset.live === "1";
    const every = 1000 * Number(pre.dataset.every || 2);
    async function poll() {
      const url = "/api/runs/" + pre.dataset.run + "/output?stream=" + stream + (next === null ? "" : "&offset=" + next);
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      const body = await response.json();
      if (!response.ok) { pre.textContent = body.error; pre.classList.add("error"); return; }
      pre.textContent = next === null ? body.text : pre.textContent + body.text;
      pre.classList.toggle("muted", body.size === 0);
      if (body.size === 0) pre.textContent = "no output saved" + (live ? " yet" : " (runs started by labbook.init keep none)");
      next = body.next;
      pre.dataset.size = String(body.size);
      const running = body.status === "running" || body.status === "pending";
      if (running && next >= body.size) pre.scrollTop = pre.scrollHeight;
      if (next < body.size) return poll(); // more than a page waiting: read on now
      if (live && !running) { live = false; const mark = document.getElementById("tail-live"); if (mark) mark.textContent = body.status; }
      pre.dataset.loaded = "1";
      if (live) window.setTimeout(poll, every);
    }
    document.querySelectorAll("input[name=stream]").forEach((el) => el.addEventListener("change", () => {
      stream = el.value; next = null; delete pre.dataset.loaded; poll();
    }));
    poll();
  }

  document.addEventListener("DOMContentLoaded", () => { setUpRuns(); setUpTail(); });
})();
