// The audit console's page: the filters live in the URL, the server filters
// and pages, and a server-sent event says when to fetch again.
"use strict";

const PAGE = 100;
const form = document.getElementById("filters");
// The filters are the form's named fields (index.html names them once).
const FILTERS = [...form.elements].map((e) => e.name).filter(Boolean);
const $ = (id) => document.getElementById(id);
let limit = PAGE;
let shownVersion = -1;
let fetching = false;
let again = false;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "data") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

function params() { return new URLSearchParams(location.search); }

function filtersToForm() {
  const p = params();
  for (const name of FILTERS) form.elements[name].value = p.get(name) || "";
}

function filterQuery() {
  const q = new URLSearchParams();
  const p = params();
  for (const name of FILTERS) if (p.get(name)) q.set(name, p.get(name));
  return q;
}

// A filter changed: the URL says it, so the view can be bookmarked.
function formToURL() {
  const p = new URLSearchParams();
  for (const name of FILTERS) {
    const v = form.elements[name].value.trim();
    if (v) p.set(name, v);
  }
  const id = params().get("audit-id");
  if (id) p.set("audit-id", id);
  history.replaceState(null, "", p.toString() ? "?" + p : location.pathname);
  limit = PAGE;
  refresh();
}

let typing;
form.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(formToURL, 200); });
form.addEventListener("submit", (e) => { e.preventDefault(); formToURL(); });
$("clear").addEventListener("click", () => { form.reset(); formToURL(); });
$("more").addEventListener("click", () => { limit += PAGE; refresh(); });

async function refresh() {
  if (fetching) { again = true; return; }
  fetching = true;
  try {
    const q = filterQuery();
    q.set("limit", limit);
    const res = await fetch("/api/requests?" + q);
    if (res.ok) render(await res.json());
    const id = params().get("audit-id");
    if (id) await showDetail(id);
  } finally {
    fetching = false;
    if (again) { again = false; refresh(); }
  }
}

function fmtTime(t) { return t ? t.slice(11, 23) : ""; }

function stagesCell(row) {
  const td = el("td", { class: "stages" });
  let prev = 0;
  row.stages.forEach((s, i) => {
    if (i > 0) td.append(el("span", { class: "gap" }, "+" + (s.ms - prev).toFixed(1) + "ms"));
    td.append(el("span", { class: "stage " + s.stage, title: s.stage + " at +" + s.ms.toFixed(1) + " ms" }, s.stage));
    prev = s.ms;
  });
  return td;
}

// timeCell is the request's time and, when the console reads the logs of
// several servers, the log it came from (its last two path elements).
function timeCell(row) {
  const td = el("td", { class: "time" }, fmtTime(row.time));
  if (row.log) td.append(el("span", { class: "log", title: row.log }, row.log.split("/").slice(-2).join("/")));
  return td;
}

// target names what a request is about as kubectl does: a resource of a
// group other than the core one as resource.group.
function target(row) {
  if (!row.resource) return row.uri;
  const [base, sub] = row.resource.split("/");
  let t = base + (row.apiGroup ? "." + row.apiGroup : "") + (sub ? "/" + sub : "");
  if (row.namespace || row.name) t += " " + [row.namespace, row.name].filter(Boolean).join("/");
  return t;
}

// The histogram: requests per interval, stacked by code class, drawn as
// SVG by the page (no charting library: nothing to load, nothing beyond
// the console's own script). A drag over it, or a click on a bar, sets
// since and until in the URL, as every other filter.
const SVG = "http://www.w3.org/2000/svg";
const CLASSES = [["2xx", "c2"], ["3xx", "c3"], ["4xx", "c4"], ["5xx", "c5"], ["open", "open"]];
let shownTimeline = null;

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.append(document.createTextNode(String(text)));
  return e;
}

function drawTimeline(tl) {
  shownTimeline = tl;
  const svg = $("timeline");
  const n = tl.buckets.length;
  const w = 600 / slots(n);
  const max = Math.max(1, ...tl.buckets.map((b) => CLASSES.reduce((s, [c]) => s + b[c], 0)));
  const bars = [];
  tl.buckets.forEach((b, i) => {
    let y = 80;
    const at = new Date(Date.parse(tl.start) + i * tl.stepSeconds * 1000).toISOString().slice(11, 19);
    for (const [c, cls] of CLASSES) {
      if (!b[c]) continue;
      const h = (b[c] / max) * 76;
      y -= h;
      const rect = svgEl("rect", { class: "bar " + cls, x: i * w + 0.5, y, width: Math.max(w - 1, 0.5), height: h,
        "data-bucket": i, "data-class": c, "data-n": b[c] });
      rect.append(svgEl("title", {}, `${at} UTC: ${b[c]} ${c}`));
      bars.push(rect);
    }
  });
  svg.replaceChildren(...bars);
  const p = params();
  const range = p.get("since") || p.get("until");
  const caption = $("timeline-caption");
  caption.replaceChildren(n ? `${page_total} request${page_total === 1 ? "" : "s"}, ${tl.stepSeconds} s a bar from ${tl.start.slice(11, 19)} UTC; drag over the bars to choose a time range.` : "");
  if (range) {
    const clear = el("a", { href: "#", id: "clear-range" }, "all times");
    clear.addEventListener("click", (e) => { e.preventDefault(); setRange("", ""); });
    caption.append(" Range ", (p.get("since") || "…").slice(11, 23), " – ", (p.get("until") || "…").slice(11, 23), " (", clear, ").");
  }
}
let page_total = 0;

// slots are the bar positions across the chart: a few bars stay narrow.
function slots(n) { return Math.max(n, 30); }

function setRange(since, until) {
  form.elements.since.value = since;
  form.elements.until.value = until;
  formToURL();
}

(() => {
  const svg = $("timeline");
  let from = null;
  let selection = null;
  const frac = (e) => { const r = svg.getBoundingClientRect(); return Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)); };
  svg.addEventListener("mousedown", (e) => {
    from = frac(e);
    selection = svgEl("rect", { class: "selection", x: from * 600, y: 0, width: 0, height: 80 });
    svg.append(selection);
  });
  svg.addEventListener("mousemove", (e) => {
    if (from === null) return;
    const to = frac(e);
    selection.setAttribute("x", Math.min(from, to) * 600);
    selection.setAttribute("width", Math.abs(to - from) * 600);
  });
  window.addEventListener("mouseup", (e) => {
    if (from === null) return;
    const tl = shownTimeline;
    const to = frac(e);
    const f0 = from;
    from = null;
    if (!tl || !tl.buckets.length) return;
    const n = tl.buckets.length;
    const k = slots(n);
    // Whole bars: a click takes the bar under it.
    let first = Math.min(Math.floor(Math.min(f0, to) * k), n - 1);
    let last = Math.min(Math.ceil(Math.max(f0, to) * k), n);
    if (last <= first) last = first + 1;
    const t = (i) => new Date(Date.parse(tl.start) + Math.min(i, n) * tl.stepSeconds * 1000).toISOString();
    setRange(t(first), t(last));
  });
})();

function drawLatency(rows) {
  const ms = (v) => v.toFixed(1) + " ms";
  $("latency").tBodies[0].replaceChildren(...(rows.length ? rows.map((r) => el("tr", { data: { verb: r.verb } },
    el("td", { class: "verb" }, r.verb), el("td", {}, r.n), el("td", { class: "p50" }, ms(r.p50ms)), el("td", { class: "p99" }, ms(r.p99ms))))
    : [el("tr", {}, el("td", { colspan: 4 }, "no request with both its RequestReceived and ResponseComplete"))]));
}

function render(page) {
  shownVersion = page.version;
  page_total = page.total;
  drawTimeline(page.timeline);
  drawLatency(page.latency || []);
  $("source").textContent = page.source || "";
  const tbody = $("rows");
  const selected = params().get("audit-id");
  const rows = page.rows.map((r) => {
    const user = el("td", { class: "user" }, r.user);
    if (r.impersonated) user.append(el("span", { class: "imp" }, " as " + r.impersonated));
    const tr = el("tr", { class: "req" + (r.open ? " open" : "") + (r.id === selected ? " selected" : ""), data: { id: r.id } },
      timeCell(r),
      user,
      el("td", { class: "verb" }, r.verb),
      el("td", { class: "target", title: r.uri }, target(r)),
      el("td", { class: "code c" + String(r.code || "").charAt(0) }, r.code || ""),
      el("td", { class: "level" }, r.level),
      el("td", { class: "decision " + (r.decision || ""), title: r.reason || "" }, r.decision || ""),
      stagesCell(r));
    tr.addEventListener("click", () => openDetail(r.id));
    return tr;
  });
  tbody.replaceChildren(...rows);
  const s = page.stats;
  const filtered = FILTERS.some((f) => params().get(f));
  $("total").textContent = page.total + (page.total === 1 ? " request" : " requests") + (filtered ? " match" : "");
  $("stats").textContent = `${s.events} events, ${s.requests} requests read; ${s.unparsed} lines not audit events` +
    (s.lastProblem ? ` (last: ${s.lastProblem})` : "") + `; ${s.dropped} events lost at the source; ${s.forgotten} oldest requests forgotten` +
    (s.backlog > 0 ? `; reading the past, newest first: ${mib(s.backlog)} to go` : "") +
    (s.unread > 0 ? `; ${mib(s.unread)} of older logs not read (older than --max-requests keeps)` : "");
  const counts = $("counts");
  counts.replaceChildren(...[["users", page.users], ["verbs", page.verbs], ["codes", page.codes]].map(([name, list]) =>
    el("div", { class: "count-" + name }, el("b", {}, name + ": "), list.slice(0, 6).map((c) => `${c.value || "(none)"} ${c.n}`).join(", "))));
  const empty = $("empty");
  empty.hidden = page.rows.length > 0;
  if (s.requests === 0) {
    empty.textContent = "No audit events yet. The console shows requests as soon as they are written: make one " +
      "(kubectl get pods) against a server whose audit policy records it.";
  } else if (page.rows.length === 0) {
    empty.textContent = "No request matches these filters.";
  }
  $("more").hidden = !page.more;
}

function openDetail(id) {
  const p = params();
  p.set("audit-id", id);
  history.pushState(null, "", "?" + p);
  refresh();
}

$("close").addEventListener("click", (e) => {
  e.preventDefault();
  const p = params();
  p.delete("audit-id");
  history.pushState(null, "", p.toString() ? "?" + p : location.pathname);
  $("detail").hidden = true;
  refresh();
});

// annotationValue shows a value that is a JSON object or array (a
// webhook's patch, a policy's validation failures) indented, as text.
function annotationValue(v) {
  if (/^\s*[{[]/.test(v)) {
    try { return el("pre", { class: "annotation-json" }, JSON.stringify(JSON.parse(v), null, 2)); } catch (e) { /* not JSON: as written */ }
  }
  return v;
}

function pretty(raw) { return raw ? JSON.stringify(raw, null, 2) : "(not recorded at this level)"; }

async function showDetail(id) {
  const res = await fetch("/api/requests/" + encodeURIComponent(id));
  const d = $("detail");
  d.hidden = false;
  if (!res.ok) {
    $("detail-title").textContent = await res.text();
    for (const x of ["detail-events", "detail-explain", "detail-annotations", "detail-diff", "detail-request", "detail-response"]) $(x).replaceChildren();
    return;
  }
  const det = await res.json();
  const r = det.row;
  const agent = (det.events.find((e) => e.userAgent) || {}).userAgent;
  $("detail-title").replaceChildren(el("b", {}, `${r.verb} ${r.uri}`), ` ${r.code || "open"} · ${r.user}` +
    (r.impersonated ? ` as ${r.impersonated}` : "") + ` · ${r.id}` + (agent ? ` · ${agent}` : ""));
  $("detail-events").replaceChildren(...det.events.map((e) =>
    el("li", { class: "event", data: { stage: e.stage } }, el("span", { class: "stage " + e.stage }, e.stage),
      ` ${e.level} at ${fmtTime(e.stageTimestamp)}` + (e.responseStatus ? ` code ${e.responseStatus.code}` : ""))));
  const x = det.explain;
  const explain = $("detail-explain");
  if (!x) {
    explain.replaceChildren(el("p", { class: "hint" }, "Start the console with --policy FILE to see which rule of the policy decided this level."));
  } else if (x.rule < 0) {
    explain.replaceChildren(el("p", {}, `No rule of ${x.policy} matches: level None.`));
  } else {
    explain.replaceChildren(el("p", { class: "rule" }, `Level ${x.level} decided by rules[${x.rule}] (${x.policy} line ${x.line})` +
      (x.omitStages && x.omitStages.length ? `, omitting ${x.omitStages.join(", ")}` : "") + ":"), el("pre", { class: "rule-text" }, x.text));
  }
  const ann = Object.entries(det.annotations).sort();
  $("detail-annotations").replaceChildren(...(ann.length ? ann.map(([k, v]) => el("tr", { data: { key: k } }, el("td", { class: "mono" }, k), el("td", {}, annotationValue(v))))
    : [el("tr", {}, el("td", {}, "none"))]));
  $("detail-diff").replaceChildren(...(det.diff && det.diff.length ? det.diff.map((c) => el("tr", { data: { path: c.path, op: c.op } },
    el("td", { class: "op " + c.op }, c.op), el("td", { class: "mono" }, c.path),
    el("td", { class: "mono" }, c.op === "changed" ? `${c.from} → ${c.to}` : (c.to || c.from))))
    : [el("tr", {}, el("td", {}, det.requestObject && det.responseObject ? "no difference" : "needs both objects (level RequestResponse)"))]));
  $("detail-request").textContent = pretty(det.requestObject);
  $("detail-response").textContent = pretty(det.responseObject);
}

window.addEventListener("popstate", () => { filtersToForm(); if (!params().get("audit-id")) $("detail").hidden = true; refresh(); });

function connect() {
  const live = $("live");
  const es = new EventSource("/api/stream");
  es.addEventListener("open", () => { live.textContent = "live"; live.className = "on"; });
  es.addEventListener("version", (e) => { if (Number(e.data) !== shownVersion) refresh(); });
  es.addEventListener("error", () => { live.textContent = "reconnecting…"; live.className = ""; });
}

filtersToForm();
refresh();
connect();

function mib(bytes) {
  return (bytes / (1 << 20)).toFixed(bytes < 10 << 20 ? 1 : 0) + " MiB";
}
