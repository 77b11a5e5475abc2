/*
 * labbook dashboard charts.
 *
 * Draws metric charts with uPlot (vendor/uPlot.iife.min.js must be loaded first).
 * Plain ES2017, no modules, no build step: the only global it defines is
 * window.LabCharts.
 *
 *   LabCharts.curves(container, url, opts)       mean ± 95% CI per group, /api/curves
 *   LabCharts.series(container, url, opts)       one run's metric, /api/runs/{id}/metrics/{key}
 *   LabCharts.reliability(container, data, opts) reliability diagram (data or a URL)
 *   LabCharts.mountAll(root)                     mount every [data-chart][data-url] under root
 *   LabCharts.get(container)                     the handle of a mounted chart, or null
 *
 * Every chart sets data-drawn="1" and data-points=N on its container when drawn, and
 * dispatches "lab:drawn"; on a failure it shows a <p class="error"> and sets
 * data-error="1". Tests wait on those attributes.
 */
(function () {
  "use strict";

  // Okabe–Ito: stays distinguishable under the common colour-vision deficiencies.
  // Yellow and black go last: yellow is faint on white, black reads as an axis.
  const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"];
  // After eight curves the colours repeat, so the next lap gets a dash pattern.
  const DASHES = [null, [7, 3], [2, 3], [9, 3, 2, 3]];
  const BAND_ALPHA = 0.18;
  const DEFAULT_HEIGHT = 260; // plot + axes; title and legend add ~60px (.chart min-height is 320px)
  const FALLBACK_WIDTH = 800; // a hidden container (width 0) still gets a sensible first fetch
  const RESIZE_DEBOUNCE_MS = 150;
  const REFETCH_GROWTH = 1.5; // refetch on resize only if the width grew by more than 50%
  const MARKER_SIZE = 9; // a curve of one point (a final score) is drawn as a dot this big
  const AXIS_STYLE = {
    stroke: "#444",
    grid: { stroke: "rgba(0,0,0,0.07)", width: 1 },
    ticks: { stroke: "rgba(0,0,0,0.15)", width: 1 },
  };

  const charts = new WeakMap(); // container → controller: nothing is mounted twice

  // ---------------------------------------------------------------- small helpers

  function finite(v) {
    return typeof v === "number" && isFinite(v);
  }

  function colourOf(i) {
    return PALETTE[i % PALETTE.length];
  }

  function dashOf(i) {
    return DASHES[Math.floor(i / PALETTE.length) % DASHES.length];
  }

  function translucent(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  // uPlot reads null as a gap; it cannot draw NaN/Infinity, nor values <= 0 on a log
  // scale (log of those is -Infinity/NaN and breaks the whole y range).
  function cleanY(values, logY) {
    return (values || []).map((v) => (finite(v) && (!logY || v > 0) ? v : null));
  }

  function countFinite(values) {
    let n = 0;
    for (const v of values) if (finite(v)) n++;
    return n;
  }

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function fmtNum(v) {
    return finite(v) ? v.toLocaleString(undefined, { maximumSignificantDigits: 6 }) : "—";
  }

  // The content width of the container: uPlot is sized in CSS pixels without padding.
  function innerWidth(el) {
    const cs = getComputedStyle(el);
    const w = el.clientWidth - (parseFloat(cs.paddingLeft) || 0) - (parseFloat(cs.paddingRight) || 0);
    return w > 0 ? Math.floor(w) : FALLBACK_WIDTH;
  }

  function chartHeight(el, opts) {
    return opts.height || Number(el.dataset.height) || DEFAULT_HEIGHT;
  }

  // ---------------------------------------------------------------- URLs and fetching

  function urlParam(url, key) {
    return new URL(url, document.baseURI).searchParams.get(key);
  }

  // Sets (or, for null, removes) query parameters, keeping the rest of the URL.
  function withParams(url, params) {
    const u = new URL(url, document.baseURI);
    for (const key of Object.keys(params)) {
      if (params[key] === null) u.searchParams.delete(key);
      else u.searchParams.set(key, params[key]);
    }
    return u.origin === location.origin ? u.pathname + u.search : u.href;
  }

  function chartError(message, kind) {
    const err = new Error(message);
    err.kind = kind || "";
    return err;
  }

  // The app answers errors with {"error": "one line", "kind": "BadInput"}; anything
  // else (a proxy's HTML page, a dropped connection) still becomes one readable line.
  async function fetchJSON(url, signal) {
    let res;
    try {
      res = await fetch(url, { signal: signal, headers: { Accept: "application/json" } });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw chartError("Could not reach the server: " + err.message, "Network");
    }
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null; // not JSON (or JSON with NaN in it, which browsers refuse)
    }
    if (!res.ok) {
      const line = body && body.error ? body.error : "HTTP " + res.status + " " + res.statusText;
      throw chartError(line, body && body.kind);
    }
    if (body === null) throw chartError("The server's reply is not valid JSON.", "BadReply");
    return body;
  }

  // ---------------------------------------------------------------- container state

  function emit(el, name, detail) {
    el.dispatchEvent(new CustomEvent(name, { bubbles: true, detail: detail }));
  }

  function markDrawn(el, points) {
    delete el.dataset.error;
    delete el.dataset.errorKind;
    el.dataset.points = String(points);
    el.dataset.drawn = "1";
    emit(el, "lab:drawn", { points: points });
  }

  // Shown above whatever is drawn, so a failed zoom keeps the old chart (and its
  // double-click reset) instead of leaving an empty box.
  function showError(el, err) {
    el.querySelectorAll(":scope > p.error").forEach((p) => p.remove());
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = err.message || String(err);
    el.insertBefore(p, el.firstChild);
    delete el.dataset.drawn;
    el.dataset.error = "1";
    if (err.kind) el.dataset.errorKind = err.kind;
    emit(el, "lab:error", { message: p.textContent, kind: err.kind || "" });
  }

  function addNote(el, text, className) {
    const p = document.createElement("p");
    p.className = className;
    p.textContent = text;
    el.appendChild(p);
  }

  function watchSize(el, fn) {
    if (typeof ResizeObserver !== "function") return null;
    const observer = new ResizeObserver(debounce(fn, RESIZE_DEBOUNCE_MS));
    observer.observe(el);
    return observer;
  }

  function unmount(el) {
    const ctl = charts.get(el);
    if (!ctl) return;
    ctl.seq++; // a reply still on its way is dropped
    if (ctl.abort) ctl.abort.abort();
    if (ctl.observer) ctl.observer.disconnect();
    if (ctl.plot) ctl.plot.destroy();
    ctl.plot = null;
    charts.delete(el);
  }

  // ---------------------------------------------------------------- the chart controller

  // One controller per container. kind: "curves" | "series" | "reliability".
  // range: undefined = as the URL says, null = full range, [x0, x1] = zoomed (plot coordinates).
  function mount(el, kind, url, opts, build) {
    unmount(el);
    const ctl = {
      container: el, kind: kind, url: url, opts: opts || {}, build: build,
      plot: null, range: undefined, offset: 0, fetchedWidth: 0, seq: 0, abort: null,
      zoomable: kind !== "reliability", hits: [],
    };
    ctl.logY = ctl.opts.logY !== undefined ? Boolean(ctl.opts.logY) : url !== null && urlParam(url, "log_y") === "1";
    ctl.xKind = ctl.opts.x || (url !== null && urlParam(url, "x")) || "step";
    ctl.handle = makeHandle(ctl);
    charts.set(el, ctl);
    ctl.observer = watchSize(el, () => onResize(ctl));
    return ctl;
  }

  function makeHandle(ctl) {
    return {
      zoom: (x0, x1) => zoomTo(ctl, x0, x1),
      reset: () => resetZoom(ctl),
      reload: () => (ctl.url ? load(ctl) : Promise.resolve()),
      destroy: () => unmount(ctl.container),
      get plot() { return ctl.plot; },
      get range() { return ctl.range || null; },
    };
  }

  function requestUrl(ctl, width) {
    const params = { width: String(width) };
    if (ctl.opts.x && !urlParam(ctl.url, "x")) params.x = ctl.opts.x;
    if (ctl.kind === "curves" && ctl.logY && !urlParam(ctl.url, "log_y")) params.log_y = "1";
    if (Array.isArray(ctl.range)) {
      params.start = serverX(ctl, ctl.range[0] + ctl.offset, Math.floor);
      params.end = serverX(ctl, ctl.range[1] + ctl.offset, Math.ceil);
    } else if (ctl.range === null) {
      params.start = null;
      params.end = null;
    }
    return withParams(ctl.url, params);
  }

  // Steps are integers on the server; times keep millisecond precision.
  function serverX(ctl, v, round) {
    return ctl.xKind === "step" ? String(round(v)) : String(round(v * 1000) / 1000);
  }

  async function load(ctl) {
    const el = ctl.container;
    const seq = ++ctl.seq;
    if (ctl.abort) ctl.abort.abort();
    ctl.abort = typeof AbortController === "function" ? new AbortController() : null;
    const width = innerWidth(el);
    delete el.dataset.drawn;
    el.dataset.loading = "1";
    try {
      const body = await fetchJSON(requestUrl(ctl, width), ctl.abort && ctl.abort.signal);
      if (seq !== ctl.seq) return; // a newer request (zoom, reset, remount) took over
      ctl.fetchedWidth = width;
      render(ctl, ctl.build(body, ctl));
    } catch (err) {
      if (seq !== ctl.seq || err.name === "AbortError") return;
      showError(el, err);
    } finally {
      if (seq === ctl.seq) delete el.dataset.loading;
    }
  }

  function render(ctl, spec) {
    const el = ctl.container;
    if (ctl.plot) ctl.plot.destroy();
    ctl.plot = null;
    el.replaceChildren();
    if (spec.empty) addNote(el, spec.empty, "muted chart-empty");
    else createPlot(ctl, spec);
    if (Array.isArray(ctl.range)) addNote(el, zoomNote(ctl), "muted chart-note");
    for (const text of spec.notes || []) addNote(el, text, "muted chart-note");
    markDrawn(el, spec.points);
  }

  function zoomNote(ctl) {
    const unit = ctl.xKind === "step" ? "step " : "";
    const tail = ctl.xKind === "step" ? "" : " s";
    return "Zoomed to " + unit + fmtNum(ctl.range[0]) + "–" + fmtNum(ctl.range[1]) + tail +
      " · double-click the chart for the full range";
  }

  function createPlot(ctl, spec) {
    const el = ctl.container;
    const opts = {
      title: spec.title,
      width: innerWidth(el),
      height: chartHeight(el, ctl.opts),
      scales: { x: { time: false, range: spec.xRange || xRange(ctl) }, y: spec.yScale || yScale(ctl) },
      axes: [xAxis(spec.xLabel), yAxis(spec.yLabel, ctl.logY && !spec.yScale)],
      series: [{ label: spec.xLabel || "x", value: (u, v) => fmtNum(v) }].concat(spec.series.slice(1)),
      bands: spec.bands || [],
      legend: { live: spec.mode !== 2 }, // faceted lines share no x to read values at
      cursor: spec.cursor || {},
      hooks: spec.hooks || {},
    };
    if (spec.mode === 2) opts.mode = 2;
    if (ctl.zoomable) addZoom(ctl, opts);
    ctl.plot = new uPlot(opts, spec.data, el);
    hideLegendRows(ctl.plot, spec.hiddenInLegend || []);
    if (ctl.zoomable) ctl.plot.over.addEventListener("dblclick", () => resetZoom(ctl));
    if (spec.afterCreate) spec.afterCreate(ctl.plot, ctl);
  }

  function axis(label, sized) {
    const a = Object.assign({}, AXIS_STYLE);
    if (label) a.label = label; // uPlot reserves label room for any non-null label, "" too
    if (sized) a.size = axisSize; // uPlot's fixed 50px clips labels such as 0.000123
    return a;
  }

  // Step ticks such as 250,000 / 275,000 collide at a 50px spacing: write them as 250k
  // when that is exact, and leave a little more room between ticks.
  function xAxis(label) {
    const a = axis(label);
    a.space = 60;
    a.values = (u, splits) => {
      const thousands = splits.every((v) => v % 1000 === 0) && Math.max.apply(null, splits.map(Math.abs)) >= 1e4;
      return splits.map((v) => (thousands && v !== 0 ? (v / 1000).toLocaleString() + "k" : v.toLocaleString()));
    };
    return a;
  }

  // uPlot's default tick format rounds 0.0001 to "0", which a log axis reaches easily.
  function yAxis(label, logY) {
    const a = axis(label, true);
    if (logY) a.values = (u, splits) => splits.map(fmtLogTick);
    return a;
  }

  function fmtLogTick(v) {
    if (!finite(v) || v <= 0) return "";
    return v >= 1e-3 && v < 1e6 ? v.toLocaleString(undefined, { maximumSignificantDigits: 3 }) : v.toExponential(0);
  }

  // Width of the y axis from its longest tick label (uPlot calls this per layout cycle).
  function axisSize(u, values, axisIdx, cycleNum) {
    const a = u.axes[axisIdx];
    if (cycleNum > 1 && a._size) return a._size;
    let size = a.ticks.size + a.gap; // uPlot adds the label's room itself
    const longest = (values || []).reduce((acc, v) => (String(v).length > acc.length ? String(v) : acc), "");
    if (longest) {
      u.ctx.font = a.font[0];
      size += u.ctx.measureText(longest).width / uPlot.pxRatio;
    }
    return Math.ceil(size);
  }

  // Zoomed: show exactly the selected span, not just the extent of the points inside it.
  // Full: the data's extent (uPlot already widened a single x, a lone final score).
  function xRange(ctl) {
    return (u, min, max) => {
      if (Array.isArray(ctl.range)) return ctl.range.slice();
      if (!finite(min) || !finite(max)) return [0, 1];
      const edge = (max - min) * 0.01; // room for a marker at either end
      return [min - edge, max + edge];
    };
  }

  function yScale(ctl) {
    return ctl.logY ? { distr: 3, log: 10 } : { distr: 1 };
  }

  function hideLegendRows(u, indices) {
    const rows = u.root.querySelectorAll(".u-legend .u-series");
    for (const i of indices) if (rows[i]) rows[i].style.display = "none";
  }

  // ---------------------------------------------------------------- zoom and resize

  // Dragging selects an x range; instead of uPlot's local zoom (which would only
  // stretch the coarse buckets) the server is asked for that range at full width.
  function addZoom(ctl, opts) {
    opts.cursor.drag = { x: true, y: false, setScale: false };
    const hooks = opts.hooks;
    hooks.setSelect = (hooks.setSelect || []).concat([(u) => {
      const sel = u.select;
      if (sel.width < 3) return; // a click, not a drag
      const x0 = u.posToVal(sel.left, "x");
      const x1 = u.posToVal(sel.left + sel.width, "x");
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      zoomTo(ctl, x0, x1);
    }]);
  }

  function zoomTo(ctl, x0, x1) {
    if (!ctl.url || !finite(x0) || !finite(x1)) return Promise.resolve();
    if (x1 < x0) [x0, x1] = [x1, x0];
    if (ctl.xKind === "step") {
      x0 = Math.floor(x0);
      x1 = Math.max(Math.ceil(x1), x0 + 1);
    }
    ctl.range = [x0, x1];
    return load(ctl);
  }

  function resetZoom(ctl) {
    if (!ctl.url || !Array.isArray(ctl.range)) return Promise.resolve();
    ctl.range = null;
    return load(ctl);
  }

  function onResize(ctl) {
    const el = ctl.container;
    if (!el.isConnected) return unmount(el); // swapped out (htmx) without a cleanup event
    const width = innerWidth(el);
    // The server bucketed the data for the width it was given; only a much wider
    // chart would show the difference.
    if (ctl.url && ctl.fetchedWidth && width > ctl.fetchedWidth * REFETCH_GROWTH) return load(ctl);
    if (ctl.plot && Math.abs(width - ctl.plot.width) >= 1) {
      ctl.plot.setSize({ width: width, height: ctl.plot.height });
    }
  }

  // ---------------------------------------------------------------- curves

  function curves(container, url, opts) {
    const ctl = mount(container, "curves", url, opts, buildCurves);
    load(ctl);
    return ctl.handle;
  }

  function buildCurves(body, ctl) {
    if (body.x) ctl.xKind = body.x;
    const list = (body.curves || []).filter((c) => c && Array.isArray(c.x) && c.x.length);
    const notes = leftOutNotes(body.left_out);
    if (!list.length) {
      return { empty: "No curve to draw for " + (body.metric || "this metric") + ".", notes: notes, points: 0 };
    }
    const floor = ctl.logY ? logFloor(list) : null;
    const acc = { tables: [], series: [{}], bands: [], hidden: [], links: {}, whiskers: [], points: 0 };
    list.forEach((c, i) => addCurve(acc, c, i, ctl.logY, floor));
    if (!acc.bands.length && !acc.whiskers.length && acc.tables.length > 1) return faceted(body, ctl, acc, notes);
    return {
      title: body.metric,
      xLabel: ctl.xKind === "time" ? "time (s)" : "step",
      data: acc.tables.length === 1 ? acc.tables[0] : uPlot.join(acc.tables),
      series: acc.series, bands: acc.bands, hiddenInLegend: acc.hidden,
      hooks: { setSeries: [linkSeries(acc.links)], draw: [(u) => drawIntervals(u, acc.whiskers)] },
      points: acc.points, notes: notes,
    };
  }

  // Lines without bands, each with x values of its own (each run's first/min/max/last
  // per pixel): uPlot's faceted mode draws each from its own x. Joining them into one
  // table first would make it as wide as all their x values together (for 100 runs, a
  // table of ~60k columns and most of the drawing time).
  function faceted(body, ctl, acc, notes) {
    const facets = [{ scale: "x", auto: true }, { scale: "y", auto: true }];
    const series = [{}].concat(acc.series.slice(1).map((s) => Object.assign({}, s, { facets: facets, paths: uPlot.paths.linear() })));
    return {
      title: body.metric,
      xLabel: ctl.xKind === "time" ? "time (s)" : "step",
      mode: 2,
      data: [null].concat(acc.tables),
      series: series,
      points: acc.points,
      notes: notes,
    };
  }

  // Adds one curve's mean line and, when it has one, its band (two hidden edge series).
  function addCurve(acc, c, i, logY, floor) {
    const colour = colourOf(i);
    const mean = cleanY(c.mean, logY);
    const single = countFinite(mean) === 1;
    acc.points += countFinite(mean);
    const meanIdx = acc.series.length;
    acc.tables.push([c.x, mean]);
    acc.series.push(lineSeries(c.label, colour, dashOf(i), single));
    const band = bandOf(c, mean, single, logY, floor);
    if (!band) return;
    const hi = meanIdx + 1;
    const lo = meanIdx + 2;
    acc.tables.push(band);
    acc.series.push(edgeSeries(), edgeSeries());
    acc.hidden.push(hi, lo);
    acc.links[meanIdx] = [hi, lo];
    // A band needs two x to have any width: one point gets an error bar instead.
    if (single) acc.whiskers.push({ hi: hi, lo: lo, seriesIdx: meanIdx, colour: colour });
    else acc.bands.push({ series: [hi, lo], fill: translucent(colour, BAND_ALPHA) });
  }

  // [x, high, low] of a curve's band; for a single point only the band at that x.
  function bandOf(c, mean, single, logY, floor) {
    const b = c.band;
    if (!b || !Array.isArray(b.x) || !b.x.length) return null;
    const high = cleanY(b.high, logY);
    // On a log axis a low edge <= 0 is clamped to the lowest drawable value rather
    // than dropped, so the band still reaches down instead of skipping that stretch.
    const low = (b.low || []).map((v) => (finite(v) && logY && v <= 0 ? floor : finite(v) ? v : null));
    if (!single) return [b.x, high, low];
    const at = c.x[mean.findIndex(finite)];
    const k = b.x.length === 1 ? 0 : b.x.indexOf(at);
    return k < 0 ? null : [[at], [high[k]], [low[k]]];
  }

  function logFloor(list) {
    let min = Infinity;
    for (const c of list) {
      for (const v of c.mean || []) if (finite(v) && v > 0 && v < min) min = v;
      const b = c.band;
      if (b) for (const v of (b.low || []).concat(b.high || [])) if (finite(v) && v > 0 && v < min) min = v;
    }
    return min === Infinity ? null : min;
  }

  function lineSeries(label, colour, dash, single) {
    const s = { label: label, stroke: colour, width: 1.5, spanGaps: true };
    if (dash) s.dash = dash;
    // A lone point would be a zero-length (invisible) line: draw it as a dot.
    if (single) s.points = { show: true, size: MARKER_SIZE, fill: colour, stroke: colour };
    return s;
  }

  // Band edges: drawn only through the band fill; transparent so uPlot's hover dots vanish too.
  function edgeSeries() {
    return {
      label: "95% CI", stroke: "transparent", width: 0, spanGaps: true,
      points: { show: false, stroke: "transparent", fill: "transparent" },
    };
  }

  // Hiding a curve from its legend entry hides its band (or error bar) with it.
  function linkSeries(links) {
    return (u, si, o) => {
      const edges = links[si];
      if (!edges || !o || !("show" in o)) return;
      for (const e of edges) if (u.series[e].show !== o.show) u.setSeries(e, { show: o.show });
    };
  }

  function leftOutNotes(leftOut) {
    if (!leftOut || typeof leftOut !== "object") return [];
    const parts = Object.keys(leftOut).map((reason) => {
      const ids = [].concat(leftOut[reason] || []);
      return reason + " (run" + (ids.length === 1 ? " " : "s ") + ids.join(", ") + ")";
    });
    return parts.length ? ["Left out: " + parts.join("; ")] : [];
  }

  // Vertical intervals with caps, in canvas pixels. Items name their values either by
  // series index (hi/lo: read at the series' only finite point) or directly (x/low/high).
  function drawIntervals(u, items) {
    if (!items.length) return;
    const ctx = u.ctx;
    const px = uPlot.pxRatio;
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    ctx.lineWidth = 1.5 * px;
    ctx.setLineDash([]); // uPlot leaves the last series' dash (the dashed diagonal) set
    for (const it of items) {
      const iv = it.seriesIdx !== undefined ? intervalOf(u, it) : it;
      if (!iv || (it.seriesIdx !== undefined && !u.series[it.seriesIdx].show)) continue;
      strokeInterval(ctx, u.valToPos(iv.x, "x", true), u.valToPos(iv.low, "y", true),
        u.valToPos(iv.high, "y", true), 4 * px, it.colour);
    }
    ctx.restore();
  }

  function intervalOf(u, it) {
    const i = u.data[it.hi].findIndex(finite);
    if (i < 0 || !finite(u.data[it.lo][i])) return null;
    return { x: u.data[0][i], low: u.data[it.lo][i], high: u.data[it.hi][i] };
  }

  function strokeInterval(ctx, x, y0, y1, cap, colour) {
    ctx.strokeStyle = colour;
    ctx.beginPath();
    ctx.moveTo(x, y0);
    ctx.lineTo(x, y1);
    ctx.moveTo(x - cap, y0);
    ctx.lineTo(x + cap, y0);
    ctx.moveTo(x - cap, y1);
    ctx.lineTo(x + cap, y1);
    ctx.stroke();
  }

  // ---------------------------------------------------------------- one run's series

  function series(container, url, opts) {
    const ctl = mount(container, "series", url, opts, buildSeries);
    load(ctl);
    return ctl.handle;
  }

  function buildSeries(body, ctl) {
    ctl.xKind = ctl.opts.x || body.x || "step";
    const useTime = ctl.xKind === "time";
    const rawX = (useTime ? body.times : body.steps) || [];
    // x = seconds since the run's first point. A zoomed reply starts later, so the
    // origin is kept from the full view (and added back to start/end when zooming).
    if (!Array.isArray(ctl.range)) ctl.offset = useTime ? rawX.find(finite) || 0 : 0;
    const xy = pairUp(rawX, cleanY(body.values, ctl.logY), ctl.offset);
    const points = countFinite(xy[1]);
    const title = (body.key || "metric") + " · run " + body.run;
    if (!xy[0].length) return { empty: "No points of " + title + ".", points: 0 };
    const single = points === 1;
    const line = lineSeries(body.key, colourOf(0), null, single);
    line.spanGaps = Boolean(ctl.opts.spanGaps); // one run: a NaN is a real gap, show it
    return {
      title: title, xLabel: useTime ? "time (s)" : "step", data: xy, series: [{}, line],
      points: points, notes: body.downsampled ? [downsampleNote(body.points, points)] : [],
    };
  }

  // Drops points without an x and sorts by x: uPlot needs ascending x, and wall-clock
  // times of a resumed run need not be.
  function pairUp(xs, ys, offset) {
    const pairs = [];
    for (let i = 0; i < xs.length; i++) if (finite(xs[i])) pairs.push([xs[i] - offset, ys[i]]);
    let sorted = true;
    for (let i = 1; i < pairs.length && sorted; i++) sorted = pairs[i - 1][0] <= pairs[i][0];
    if (!sorted) pairs.sort((a, b) => a[0] - b[0]);
    return [pairs.map((p) => p[0]), pairs.map((p) => (p[1] === undefined ? null : p[1]))];
  }

  function downsampleNote(total, drawn) {
    return fmtNum(total) + " points logged; " + fmtNum(drawn) +
      " drawn (first, min, max and last of each pixel column)";
  }

  // ---------------------------------------------------------------- reliability diagram

  // data: {"bins": [...]} or a URL that returns it. opts.onBin(bin) is called on a click.
  function reliability(container, data, opts) {
    const url = typeof data === "string" ? data : null;
    const ctl = mount(container, "reliability", url, opts, buildReliability);
    if (url) load(ctl);
    else render(ctl, buildReliability(data || {}, ctl));
    return ctl.handle;
  }

  // Accepts the web API's names and the core Bin's (count, mean_forecast, ci_low, ci_high).
  function normBin(b) {
    const pick = (a, c) => (a !== undefined ? a : c);
    return {
      bin: b, n: pick(b.n, b.count) || 0, p: pick(b.mean_p, b.mean_forecast),
      obs: b.observed, low: pick(b.low, b.ci_low), high: pick(b.high, b.ci_high),
    };
  }

  function buildReliability(data, ctl) {
    const bins = (data.bins || []).map(normBin).filter((b) => b.n > 0 && finite(b.p) && finite(b.obs));
    bins.sort((a, b) => a.p - b.p);
    const title = ctl.opts.title || "Reliability";
    if (!bins.length) return { empty: "No forecasts to bin yet.", points: 0 };
    const xs = Array.from(new Set([0, 1].concat(bins.map((b) => b.p)))).sort((a, b) => a - b);
    const byX = new Map(bins.map((b) => [b.p, b]));
    const maxN = Math.max.apply(null, bins.map((b) => b.n));
    const colour = ctl.opts.colour || PALETTE[0];
    return {
      title: title, xLabel: "mean forecast probability", yLabel: "observed frequency",
      data: [xs, xs.slice(), xs.map((x) => (byX.has(x) ? byX.get(x).obs : undefined))],
      series: reliabilitySeries(byX, colour),
      // A little past [0, 1] so dots at 0 or 1 are not cut in half by the frame.
      xRange: () => [-0.02, 1.02], yScale: { range: () => [-0.03, 1.03] },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      hooks: { draw: [(u) => drawBins(u, ctl, bins, maxN, colour)] },
      afterCreate: (u) => listenForBins(u, ctl),
      points: bins.length,
    };
  }

  function reliabilitySeries(byX, colour) {
    return [
      {},
      { label: "perfectly calibrated", stroke: "#888", width: 1, dash: [6, 4], spanGaps: true, points: { show: false } },
      {
        label: "observed (95% interval)", stroke: colour, fill: colour, paths: () => null,
        points: { show: false },
        // The legend shows the hovered bin's count and interval, not just its height.
        value: (u, v, si, idx) => {
          const b = idx === null ? null : byX.get(u.data[0][idx]);
          return b ? fmtNum(b.obs) + " (n=" + b.n + ", " + fmtNum(b.low) + "–" + fmtNum(b.high) + ")" : "—";
        },
      },
    ];
  }

  // Area of each dot is proportional to its bin's count: big bins are the ones to trust.
  function drawBins(u, ctl, bins, maxN, colour) {
    drawIntervals(u, bins.filter((b) => finite(b.low) && finite(b.high))
      .map((b) => ({ x: b.p, low: b.low, high: b.high, colour: colour })));
    const ctx = u.ctx;
    const px = uPlot.pxRatio;
    ctl.hits = [];
    ctx.save();
    ctx.lineWidth = 1.5 * px;
    ctx.setLineDash([]);
    ctx.fillStyle = translucent(colour, 0.55);
    ctx.strokeStyle = colour;
    for (const b of bins) {
      const r = 3 + 8 * Math.sqrt(b.n / maxN);
      const x = u.valToPos(b.p, "x");
      const y = u.valToPos(b.obs, "y");
      ctl.hits.push({ x: x, y: y, r: r, bin: b.bin });
      ctx.beginPath();
      ctx.arc(u.bbox.left + x * px, u.bbox.top + y * px, r * px, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    }
    ctx.restore();
  }

  function hitAt(ctl, u, e) {
    const rect = u.over.getBoundingClientRect();
    const mx = e.clientX - rect.left;
    const my = e.clientY - rect.top;
    let best = null;
    let bestD = Infinity;
    for (const h of ctl.hits) {
      const d = Math.hypot(h.x - mx, h.y - my);
      if (d <= h.r + 4 && d < bestD) [best, bestD] = [h, d];
    }
    return best;
  }

  function listenForBins(u, ctl) {
    u.over.addEventListener("click", (e) => {
      const hit = hitAt(ctl, u, e);
      if (!hit) return;
      if (typeof ctl.opts.onBin === "function") ctl.opts.onBin(hit.bin);
      emit(ctl.container, "lab:bin", { bin: hit.bin });
    });
    u.over.addEventListener("mousemove", (e) => {
      u.over.style.cursor = hitAt(ctl, u, e) ? "pointer" : "";
    });
  }

  // ---------------------------------------------------------------- mounting from markup

  const MOUNTERS = { curves: curves, series: series, reliability: reliability };

  // <div class="chart" data-chart="curves" data-url="/api/curves?..." data-log-y="1" data-x="time">
  function mountAll(root) {
    root = root || document;
    const found = [];
    if (root.matches && root.matches("[data-chart][data-url]")) found.push(root);
    if (root.querySelectorAll) found.push.apply(found, root.querySelectorAll("[data-chart][data-url]"));
    let mounted = 0;
    for (const el of found) {
      const mounter = MOUNTERS[el.dataset.chart];
      if (!mounter || charts.has(el) || !el.isConnected) continue;
      const opts = {};
      if (el.dataset.logY !== undefined) opts.logY = el.dataset.logY === "1";
      if (el.dataset.x) opts.x = el.dataset.x;
      mounter(el, el.dataset.url, opts);
      mounted++;
    }
    return mounted;
  }

  function get(container) {
    const ctl = charts.get(container);
    return ctl ? ctl.handle : null;
  }

  // htmx swaps new markup in: mount what arrived, and let go of what left. Scanning
  // the whole document is cheap and also catches out-of-band swaps.
  document.addEventListener("htmx:afterSettle", () => mountAll(document));
  document.addEventListener("htmx:historyRestore", () => mountAll(document));
  document.addEventListener("htmx:beforeCleanupElement", (e) => {
    const el = e.target;
    if (charts.has(el)) unmount(el);
    if (el.querySelectorAll) el.querySelectorAll("[data-chart]").forEach((c) => unmount(c));
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => mountAll(document));
  } else {
    mountAll(document);
  }

  window.LabCharts = {
    curves: curves,
    series: series,
    reliability: reliability,
    mountAll: mountAll,
    get: get,
    palette: PALETTE.slice(),
  };
})();
