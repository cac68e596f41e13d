// The Geofence operator dashboard. Everything it shows comes from the directory it is served
// by: the model and live state over one event stream (GET /v1/dashboard/events), the what-if
// answers from GET /v1/dashboard/explain (the directory's explain) and POST /v1/dashboard/{impact,sim}. It never polls.
import { geoNaturalEarth1, geoPath, geoInterpolate } from "d3-geo";
import { feature } from "topojson-client";

const W = 960, H = 500;
const SVGNS = "http://www.w3.org/2000/svg";
const $ = (sel) => document.querySelector(sel);
const palette = ["#2f6f9f", "#7a5195", "#bc5090", "#ef5675", "#6a8d3a", "#c49a2c", "#3f8f8a", "#8a5a44", "#5d6fb5", "#a34e3b"];

let model = null, state = null, world = null, projection = null;
let refusals = []; // oldest first, by seq
const MAX_REFUSALS = 500;

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}
const fmt = (n) => (n === undefined || n === null ? "–" : Number(n).toLocaleString("en-US"));
function bits(n) {
  if (!n) return "0";
  const u = ["b/s", "kb/s", "Mb/s", "Gb/s", "Tb/s"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return n.toFixed(n < 10 ? 1 : 0) + " " + u[i];
}

// Region colours, the default region dimmed.
function regionColor(id) {
  if (!model) return "#333";
  const i = model.regions.findIndex((r) => r.id === id);
  if (id === model.default_region) return "#3a4450";
  return palette[i % palette.length];
}
// A DC's colour: red when down, else by utilization against the high watermark.
function dcColor(dc) {
  if (dc.down) return "#f85149";
  const wm = model ? model.high_watermark : 0.8;
  if (dc.utilization >= 1) return "#f85149";
  if (dc.utilization >= wm) return "#f0883e";
  if (dc.utilization >= wm / 2) return "#d29922";
  return "#3fb950";
}

async function loadWorld() {
  const r = await fetch("countries-50m.json");
  const topo = await r.json();
  world = feature(topo, topo.objects.countries);
  projection = geoNaturalEarth1().fitSize([W, H], { type: "Sphere" });
  const m = $("#map");
  m.dataset.scale = projection.scale();
  const [tx, ty] = projection.translate();
  m.dataset.tx = tx;
  m.dataset.ty = ty;
  const path = geoPath(projection);
  const g = $("#countries");
  g.replaceChildren(svg("path", { d: path({ type: "Sphere" }), fill: "#0b2233" }));
  for (const f of world.features) {
    const p = svg("path", { d: path(f) || "" });
    if (f.id) p.dataset.cc = f.id;
    const t = svg("title");
    t.textContent = (f.properties && f.properties.name) || "";
    p.appendChild(t);
    g.appendChild(p);
  }
  shadeRegions();
}

function shadeRegions() {
  if (!world || !model) return;
  for (const p of document.querySelectorAll("#countries path[data-cc]")) {
    const reg = model.country_region[p.dataset.cc];
    p.setAttribute("fill", regionColor(reg));
    p.dataset.region = reg || "";
  }
  for (const p of document.querySelectorAll("#countries path:not([data-cc])")) if (!p.getAttribute("fill")) p.setAttribute("fill", "#262c33");
  const lg = $("#legend");
  lg.replaceChildren();
  for (const r of model.regions) {
    const s = el("span");
    const i = el("i");
    i.style.background = regionColor(r.id);
    s.append(i, r.id + (r.id === model.default_region ? " (default)" : ""));
    lg.appendChild(s);
  }
  for (const [c, label] of [["#3fb950", "DC under half the watermark"], ["#d29922", "under the watermark"], ["#f0883e", "at or over it"], ["#f85149", "down or full"]]) {
    const s = el("span");
    const i = el("i");
    i.style.background = c;
    s.append(i, label);
    lg.appendChild(s);
  }
}

function onModel(m) {
  model = m;
  $("#config").textContent = "";
  const fill = (sel, items, keepFirst) => {
    const s = $(sel);
    const first = keepFirst ? s.firstElementChild : null;
    s.replaceChildren(...(first ? [first] : []));
    for (const v of items) s.appendChild(el("option", { value: v }, v));
  };
  fill("#wform [name=plan]", m.plans, false);
  fill("#wform [name=account]", m.accounts, true);
  fill("#wform [name=meeting_region]", m.regions.map((r) => r.id), true);
  fill("#wform [name=host_plan]", m.plans, true);
  const downs = $("#downs");
  downs.replaceChildren();
  for (const dc of m.datacenters) {
    const l = el("label");
    l.append(el("input", { type: "checkbox", name: "down", value: dc.id }), dc.id);
    downs.appendChild(l);
  }
  shadeRegions();
  if (state) onState(state);
}

function tile(label, value, cls) {
  const t = el("div", { class: "tile" + (cls ? " " + cls : "") });
  t.append(label, el("b", {}, value));
  return t;
}

function onState(s) {
  state = s;
  if (!model) return;
  const c = s.config;
  $("#config").textContent = `config v${c.version}` + (c.revision ? ` rev ${c.revision}` : "") + (c.verified ? " · verified" : " · UNVERIFIED");
  // Alerts: one tile per alert-worthy state.
  const al = $("#alerts");
  al.replaceChildren();
  for (const a of s.alerts) {
    const t = tile(a.kind.replace("_", " "), a.subject, "alert");
    t.dataset.kind = a.kind;
    t.title = a.message;
    al.appendChild(t);
  }
  if (s.alerts.length === 0) al.appendChild(tile("alerts", "none", "alert ok"));
  const tl = $("#tiles");
  const refused = s.refusals.reduce((n, r) => n + r.count, 0);
  tl.replaceChildren(
    tile("joins / s", s.joins_per_second.toFixed(1)),
    tile("joins", fmt(s.joins_total)),
    tile("refusals", fmt(refused)),
    tile("secondaries handed out", fmt(s.secondaries_total)),
    tile("meetings open", fmt(s.meetings_open)),
    tile("store", s.store.kind + (s.store.staleness_seconds !== undefined ? ` · ${s.store.staleness_seconds.toFixed(1)} s stale` : "")),
  );
  drawDCs(s);
  const tb = $("#bycode tbody");
  tb.replaceChildren();
  for (const r of s.refusals) {
    const tr = el("tr");
    tr.append(el("td", {}, r.code), el("td", {}, r.rule || "–"), el("td", { class: "num" }, fmt(r.count)));
    tb.appendChild(tr);
  }
}

function drawDCs(s) {
  if (!projection) return;
  const where = new Map(model.datacenters.map((d) => [d.id, d]));
  const g = $("#dcs");
  g.replaceChildren();
  const bg = $("#bridges");
  bg.replaceChildren();
  const path = geoPath(projection);
  for (const dc of s.datacenters) {
    const v = where.get(dc.id);
    if (!v || !dc.media || !dc.media.bridges) continue;
    for (const b of dc.media.bridges) {
      const o = where.get(b.datacenter);
      if (!o || b.direction !== "out") continue;
      const a = [v.location[1], v.location[0]], z = [o.location[1], o.location[0]];
      const interp = geoInterpolate(a, z);
      const line = { type: "LineString", coordinates: Array.from({ length: 33 }, (_, i) => interp(i / 32)) };
      const p = svg("path", { class: "bridge", d: path(line) || "", "stroke-width": String(1 + Math.min(5, Math.log2(1 + b.tracks_out + b.tracks_in))) });
      p.dataset.from = dc.id;
      p.dataset.to = b.datacenter;
      const t = svg("title");
      t.textContent = `${dc.id} → ${b.datacenter}: ${b.meetings} meetings, ${b.tracks_out} tracks out, ${b.tracks_in} in`;
      p.appendChild(t);
      bg.appendChild(p);
    }
  }
  const tb = $("#dctable tbody");
  tb.replaceChildren();
  for (const dc of s.datacenters) {
    const v = where.get(dc.id);
    if (!v) continue;
    const [x, y] = projection([v.location[1], v.location[0]]);
    const r = 4 + Math.min(8, Math.sqrt(dc.capacity) / 200);
    const c = svg("circle", { class: "dc" + (dc.down ? " down" : ""), cx: x.toFixed(2), cy: y.toFixed(2), r: r.toFixed(1), fill: dcColor(dc) });
    c.dataset.dc = dc.id;
    c.dataset.country = dc.country;
    c.dataset.lat = v.location[0];
    c.dataset.lon = v.location[1];
    const t = svg("title");
    const ml = dc.media;
    t.textContent = `${dc.id} (${dc.country}, ${dc.region})${dc.down ? " DOWN" : ""}\n${fmt(dc.participants + dc.placed)} / ${fmt(dc.capacity)} participants (${(dc.utilization * 100).toFixed(1)} %)` +
      (ml ? `\n${fmt(ml.sessions)} media sessions, ${fmt(ml.tracks_in)} tracks in, ${fmt(ml.tracks_out)} out\n${bits(ml.bits_in_per_second)} in, ${bits(ml.bits_out_per_second)} out` : "");
    c.appendChild(t);
    // A click marks the DC down in the what-if (or clears it).
    c.addEventListener("click", () => {
      const box = document.querySelector(`#wform [name=down][value="${CSS.escape(dc.id)}"]`);
      if (box) box.checked = !box.checked;
    });
    g.appendChild(c);
    const tr = el("tr", { class: dc.down ? "down" : "" });
    tr.dataset.dc = dc.id;
    tr.append(
      el("td", {}, dc.id + (dc.down ? " (down)" : "")), el("td", {}, dc.region),
      el("td", { class: "num" }, fmt(dc.participants + dc.placed)), el("td", { class: "num" }, fmt(dc.capacity)),
      el("td", { class: "num" }, (dc.utilization * 100).toFixed(1) + " %"),
      el("td", { class: "num" }, ml ? `${fmt(ml.tracks_in)} / ${fmt(ml.tracks_out)}` : "–"),
      el("td", { class: "num" }, ml ? `${bits(ml.bits_in_per_second)} / ${bits(ml.bits_out_per_second)}` : "–"),
    );
    tb.appendChild(tr);
  }
}

// The refusal explorer.
function addRefusal(r) {
  if (refusals.some((x) => x.seq === r.seq)) return;
  refusals.push(r);
  refusals.sort((a, b) => a.seq - b.seq);
  if (refusals.length > MAX_REFUSALS) refusals = refusals.slice(-MAX_REFUSALS);
}
function drawRefusals() {
  const f = Object.fromEntries(new FormData($("#rfilter")).entries());
  const tb = $("#refusals tbody");
  tb.replaceChildren();
  for (let i = refusals.length - 1; i >= 0; i--) {
    const r = refusals[i];
    if (f.code && r.code !== f.code) continue;
    if (f.rule && !r.rules.includes(f.rule)) continue;
    if (f.country && r.country !== f.country.toUpperCase()) continue;
    if (f.region && r.region !== f.region) continue;
    const tr = el("tr");
    tr.dataset.seq = r.seq;
    const a = el("a", { class: "explain-link" }, "explain");
    a.addEventListener("click", () => explainRefusal(r));
    const td = el("td");
    td.appendChild(a);
    tr.append(el("td", {}, new Date(r.time).toISOString().slice(11, 19)), el("td", {}, r.code), el("td", {}, r.rules.join(", ") || "–"),
      el("td", {}, r.country || "?"), el("td", {}, r.region), el("td", {}, r.plan), el("td", {}, r.meeting_region), el("td", {}, r.host_plan), td);
    tb.appendChild(tr);
  }
}
function explainRefusal(r) {
  const f = $("#wform");
  f.country.value = r.country || "";
  f.plan.value = r.plan;
  f.account.value = "";
  f.meeting_region.value = r.meeting_region;
  f.host_plan.value = r.host_plan;
  for (const c of f.querySelectorAll("[name=down]")) c.checked = false;
  f.load.value = "";
  runExplain();
  f.scrollIntoView();
}

// What if: explain on the live state, with DCs marked down or loaded.
function whatifParams() {
  const f = $("#wform");
  const down = [...f.querySelectorAll("[name=down]:checked")].map((c) => c.value);
  const q = new URLSearchParams();
  q.set("country", f.country.value.trim().toUpperCase());
  for (const k of ["plan", "account", "meeting_region", "host_plan"]) if (f[k].value) q.set(k, f[k].value);
  if (down.length) q.set("down", down.join(","));
  if (f.load.value.trim()) q.set("load", f.load.value.trim());
  return { q, down, load: f.load.value.trim() };
}
async function runExplain() {
  const { q } = whatifParams();
  const out = $("#explain-out");
  const r = await fetch("/v1/dashboard/explain?" + q.toString());
  const body = await r.text();
  $("#explain-json").textContent = body;
  out.replaceChildren();
  let a;
  try { a = JSON.parse(body); } catch { out.textContent = body; return; }
  if (!r.ok) { out.appendChild(el("p", { class: "refused" }, a.message || body)); return; }
  out.appendChild(el("p", {}, `${a.country} (${a.region}, plan ${a.plan}) joining a meeting of ${a.meeting_region} (host plan ${a.host_plan})`));
  if (a.refusal) out.appendChild(el("p", { class: "refused", id: "explain-refusal" }, `refused: ${a.refusal.error}: ${a.refusal.message}`));
  for (const list of ["primary", "secondary", "kms"]) {
    const p = el("p", {}, list + ": ");
    p.appendChild(el("b", { "data-list": list }, a[list].map((d) => `${d.id} (${Math.round(d.distance_km)} km, ${(d.utilization * 100).toFixed(0)} %)`).join(", ") || "none"));
    out.appendChild(p);
  }
  if (a.excluded.length) {
    const t = el("table");
    t.appendChild(el("tr")).append(el("th", {}, "excluded"), el("th", {}, "list"), el("th", {}, "reason"), el("th", {}, "rule"));
    for (const x of a.excluded) t.appendChild(el("tr")).append(el("td", {}, x.id), el("td", {}, x.list), el("td", {}, x.reason), el("td", {}, x.rule || ""));
    out.appendChild(t);
  }
}
async function runImpact() {
  const { down, load } = whatifParams();
  const loadMap = {};
  for (const kv of load.split(",").filter(Boolean)) {
    const [k, v] = kv.split("=");
    loadMap[k.trim()] = Number(v);
  }
  const out = $("#impact-out");
  const r = await fetch("/v1/dashboard/impact", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ down, load: loadMap }) });
  const a = await r.json();
  out.replaceChildren();
  if (!r.ok) { out.appendChild(el("p", { class: "refused" }, a.message)); return; }
  const t = el("table", { id: "impact-table" });
  t.appendChild(el("tr")).append(...["region", "plan", "from", "outcome", "before", "after"].map((h) => el("th", {}, h)));
  for (const row of a.rows) {
    const tr = el("tr", { class: row.outcome });
    const d = (x) => (x.refusal ? `refused (${x.refusal}${x.rules && x.rules.length ? ": " + x.rules.join(", ") : ""})` : x.primary.join(", ") + (x.secondary.length ? " | " + x.secondary.join(", ") : ""));
    tr.append(el("td", {}, row.region), el("td", {}, row.plan), el("td", {}, row.country), el("td", {}, row.outcome.replace("_", " ")), el("td", {}, d(row.before)), el("td", {}, d(row.after)));
    t.appendChild(tr);
  }
  out.appendChild(t);
}
async function loadScenario() {
  const r = await fetch("/v1/dashboard/scenario");
  if (r.ok) $("#scenario").value = await r.text();
}
async function runSim() {
  const st = $("#sim-status");
  st.textContent = "running…";
  const out = $("#sim-out");
  out.replaceChildren();
  const r = await fetch("/v1/dashboard/sim", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ scenario: $("#scenario").value }) });
  const a = await r.json();
  if (!r.ok) { st.textContent = a.message; return; }
  const s = a.summary;
  st.textContent = `done: ${a.down.length ? "down for the run: " + a.down.join(", ") + "; " : ""}${a.violations} residency violations`;
  out.appendChild(el("pre", {}, JSON.stringify(s, null, 1).slice(0, 4000)));
  // The simulator's own SVG plots, parsed as SVG (the page's CSP runs no script they might hold).
  for (const k of ["utilization", "refusals", "spill"]) {
    const doc = new DOMParser().parseFromString(a.plots[k], "image/svg+xml");
    const root = doc.documentElement;
    if (root.nodeName !== "svg") continue;
    for (const sc of root.querySelectorAll("script, foreignObject")) sc.remove();
    root.dataset.plot = k;
    out.appendChild(document.importNode(root, true));
  }
}

// The event stream. EventSource reconnects by itself (the stream asks for 1 s); each new
// stream starts with the model and the full state.
function connect() {
  const conn = $("#conn");
  const es = new EventSource("/v1/dashboard/events");
  es.addEventListener("open", () => { conn.textContent = "live"; conn.className = "conn live"; });
  es.addEventListener("error", () => { conn.textContent = "reconnecting…"; conn.className = "conn lost"; });
  es.addEventListener("model", (e) => onModel(JSON.parse(e.data)));
  es.addEventListener("state", (e) => onState(JSON.parse(e.data)));
  es.addEventListener("refusal", (e) => { addRefusal(JSON.parse(e.data)); drawRefusals(); });
}

async function main() {
  $("#rfilter").addEventListener("input", drawRefusals);
  $("#wform").addEventListener("submit", (e) => { e.preventDefault(); runExplain(); });
  $("#impact-btn").addEventListener("click", runImpact);
  $("#sim-btn").addEventListener("click", runSim);
  await loadWorld();
  connect();
  const r = await fetch("/v1/dashboard/refusals");
  if (r.ok) {
    const a = await r.json();
    for (const x of a.refusals) addRefusal(x);
    drawRefusals();
  }
  loadScenario();
  document.body.dataset.ready = "1";
}
main();
