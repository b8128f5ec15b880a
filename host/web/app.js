// pipehost's UI: the DAG list, a DAG's grid (runs x tasks), a task
// instance (its tries, XComs and live log), trigger and clear.  It only
// reads /api/v1 and /object/grid_data, and writes with the CSRF cookie the
// server sets on loopback (or the bearer token it is given).  Every value
// from DAGs, logs and XComs goes into the page as text (textContent),
// never as HTML.
"use strict";

const main = document.getElementById("main");
let timer = null;         // the live refresh of the page shown
let token = sessionStorage.getItem("ph_token");

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const c of children)
    e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

function csrf() {
  const m = document.cookie.match(/(?:^|; )ph_csrf=([^;]*)/);
  return m ? m[1] : null;
}

async function api(path, opts) {
  const headers = { "Accept": "application/json" };
  if (token) headers["Authorization"] = "Bearer " + token;
  if (opts && opts.body) headers["Content-Type"] = "application/json";
  const c = csrf();
  if (c) headers["X-CSRF-Token"] = c;
  const r = await fetch(path, Object.assign({ headers }, opts || {}));
  const body = await r.json().catch(() => null);
  if (r.status === 401 && !c) {
    const t = prompt("This webserver needs its token (pipehost webserver --print-token):");
    if (t) { token = t; sessionStorage.setItem("ph_token", t); return api(path, opts); }
  }
  if (!r.ok) throw new Error((body && (body.detail || body.title)) || r.statusText);
  return body;
}

function badge(state) {
  const s = state || "none";
  return el("span", { class: "badge s-" + s, "data-state": s }, s);
}

function enc(s) { return encodeURIComponent(s); }

function show(node) {
  main.replaceChildren(node);
}

function fail(e) {
  show(el("p", { class: "error" }, "error: " + e.message));
}

async function dagList() {
  const data = await api("/api/v1/dags?limit=1000");
  const rows = [];
  for (const d of data.dags) {
    const runs = await api("/api/v1/dags/" + enc(d.dag_id) + "/dagRuns?limit=10");
    const last = el("td");
    for (const r of runs.dag_runs.slice().reverse())
      last.append(el("span", { class: "cell s-" + r.state, title: r.dag_run_id + ": " + r.state }));
    rows.push(el("tr", {},
      el("td", {}, el("a", { href: "#/dag/" + enc(d.dag_id), class: "dag" }, d.dag_id)),
      el("td", { class: "schedule" }, d.timetable_description || "-"),
      last, el("td", {}, runs.total_entries),
      el("td", { class: "next" }, d.next_dagrun_create_after || "-"), el("td", {}, d.fileloc)));
  }
  return el("div", {}, el("h1", {}, "DAGs"),
    el("table", { id: "dags" },
      el("tr", {}, el("th", {}, "DAG"), el("th", {}, "schedule"), el("th", {}, "last runs"),
         el("th", {}, "runs"), el("th", {}, "next run"), el("th", {}, "file")),
      ...rows));
}

async function grid(dag) {
  const g = await api("/object/grid_data?num_runs=25&dag_id=" + enc(dag));
  const head = el("tr", {}, el("th", {}, "task"));
  for (const r of g.dag_runs)
    head.append(el("th", { class: "run", title: r.dag_run_id }, r.dag_run_id.slice(0, 26)));
  const rows = [head];
  for (const t of g.tasks) {
    const tr = el("tr", {}, el("td", {}, t));
    for (const r of g.dag_runs) {
      const c = (g.instances[r.dag_run_id] || {})[t];
      const td = el("td");
      if (c) {
        const n = Object.values(c.mapped_states).reduce((a, b) => a + b, 0);
        td.append(el("span", {
          class: "cell s-" + c.state, "data-task": t, "data-run": r.dag_run_id,
          "data-state": c.state,
          title: t + (n ? " [" + n + " mapped]" : "") + " in " + r.dag_run_id + ": " + c.state,
          onclick: () => { location.hash = "#/ti/" + enc(dag) + "/" + enc(r.dag_run_id) + "/" + enc(t) + "/" + (n ? 0 : -1); }
        }));
      }
      tr.append(td);
    }
    rows.push(tr);
  }
  const trig = el("button", { id: "trigger", onclick: async () => {
    try {
      const r = await api("/api/v1/dags/" + enc(dag) + "/dagRuns", { method: "POST", body: "{}" });
      document.getElementById("status").textContent = "triggered " + r.dag_run_id;
    } catch (e) { document.getElementById("status").textContent = "trigger failed: " + e.message; }
  } }, "Trigger a run");
  // the latest run's graph, laid out by Graphviz on the server (an image:
  // nothing in it can run)
  const graph = el("img", { id: "graph", alt: "graph of the latest run",
    src: "/object/graph?dag_id=" + enc(dag) + "&t=" + Date.now() });
  return el("div", {}, el("h1", {}, "DAG ", dag), trig,
    el("table", { class: "grid", id: "grid" }, ...rows),
    el("h2", {}, "Graph (latest run)"), graph);
}

const logState = { key: null, token: null, text: "" };
// `tasks explain` of the page's task instance, asked again only when its
// state changes (each answer is a pipehost process on the server)
const explainState = { key: null, value: null };

async function taskInstance(dag, run, task, mi) {
  const base = "/api/v1/dags/" + enc(dag) + "/dagRuns/" + enc(run) + "/taskInstances/" + enc(task);
  const ti = await api(base + (mi >= 0 ? "/" + mi : ""));
  const key = [dag, run, task, mi, ti.try_number].join("\u0000");
  if (logState.key !== key) Object.assign(logState, { key, token: null, text: "" });
  if (ti.try_number > 0) {
    const q = "?map_index=" + mi + (logState.token ? "&token=" + enc(logState.token) : "");
    const l = await api(base + "/logs/" + ti.try_number + q);
    logState.text += l.content;
    logState.token = l.continuation_token;
  }
  const xs = await api(base + "/xcomEntries" + (mi >= 0 ? "?map_index=" + mi : "")).catch(() => ({ xcom_entries: [] }));
  const xrows = [];
  for (const x of xs.xcom_entries) {
    const v = await api(base + "/xcomEntries/" + enc(x.key) + "?map_index=" + x.map_index);
    xrows.push(el("tr", {}, el("td", {}, x.key), el("td", { class: "xcom" }, JSON.stringify(v.value))));
  }
  const ekey = key + "\u0000" + ti.state;
  if (explainState.key !== ekey) {
    explainState.value = await api(base + "/explain?map_index=" + mi).catch(() => null);
    explainState.key = ekey;
  }
  const ex = explainState.value;
  const why = el("div", { id: "explain" });
  if (ex) {
    if (ex.reason) why.append(el("p", { class: "reason" }, "reason: " + ex.reason));
    const ups = el("table", { id: "upstreams" });
    for (const u of ex.upstreams)
      ups.append(el("tr", {}, el("td", {}, u.task_id + (u.map_index >= 0 ? "[" + u.map_index + "]" : "")),
                    el("td", {}, badge(u.state))));
    why.append(el("p", {}, ex.explanation), ups);
  }
  const tr = await api(base + "/tries?map_index=" + mi).catch(() => ({ task_instances: [] }));
  const tries = el("table", { id: "tries" },
    el("tr", {}, el("th", {}, "try"), el("th", {}, "state"), el("th", {}, "started"),
       el("th", {}, "duration"), el("th", {}, "reason")));
  for (const t of tr.task_instances)
    tries.append(el("tr", {}, el("td", {}, String(t.try_number)), el("td", {}, badge(t.state)),
                    el("td", {}, t.start_date || ""),
                    el("td", {}, t.duration == null ? "" : t.duration.toFixed(3) + " s"),
                    el("td", { class: "reason" }, t.reason || "")));
  const rendered = el("table", { id: "rendered" });
  for (const [k, v] of Object.entries(ti.rendered_fields || {}))
    rendered.append(el("tr", {}, el("th", {}, k),
                       el("td", {}, el("pre", {}, typeof v === "string" ? v : JSON.stringify(v)))));
  if (!rendered.children.length)
    rendered.append(el("tr", {}, el("td", {}, "(no templated params)")));
  const fields = ["state", "try_number", "max_tries", "operator", "start_date", "end_date", "duration", "pid"];
  const info = el("table", { id: "ti" });
  for (const f of fields)
    info.append(el("tr", {}, el("th", {}, f), el("td", {}, f === "state" ? badge(ti.state) : ti[f])));
  const clear = el("button", { id: "clear", onclick: async () => {
    try {
      const r = await api("/api/v1/dags/" + enc(dag) + "/clearTaskInstances", { method: "POST",
        body: JSON.stringify({ dag_run_id: run, task_ids: [task], dry_run: false,
                               only_failed: false, include_downstream: true }) });
      document.getElementById("status").textContent =
        "cleared " + r.task_instances.length + " task instance(s); the run resumes";
    } catch (e) { document.getElementById("status").textContent = "clear failed: " + e.message; }
  } }, "Clear (and downstream)");
  return el("div", {},
    el("h1", {}, task + (mi >= 0 ? "[" + mi + "]" : ""), " in ", el("a", { href: "#/dag/" + enc(dag) }, run)),
    clear, info, el("h2", {}, "Tries"), tries, el("h2", {}, "Why (tasks explain)"), why,
    el("h2", {}, "Rendered params"), rendered, el("h2", {}, "XComs"), el("table", { id: "xcoms" }, ...xrows),
    el("h2", {}, "Log (try " + ti.try_number + ")"), el("pre", { class: "log", id: "log" }, logState.text));
}

// An SVG bar chart of one metric across experiments, built from elements
// (labels are text nodes, never markup).
function chart(rows, metric) {
  const NS = "http://www.w3.org/2000/svg";
  const w = 640, bh = 16, left = 170;
  const vals = rows.map(r => Number(r.metrics[metric]));
  const max = Math.max(...vals.filter(v => !isNaN(v)), 0) || 1;
  const best = Math.max(...vals.filter(v => !isNaN(v)));
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("id", "chart");
  svg.setAttribute("width", w);
  svg.setAttribute("height", rows.length * (bh + 4) + 10);
  rows.forEach((r, i) => {
    const y = i * (bh + 4) + 4, v = vals[i];
    const label = document.createElementNS(NS, "text");
    label.setAttribute("x", 0); label.setAttribute("y", y + bh - 4);
    label.textContent = r.task_id;
    const bar = document.createElementNS(NS, "rect");
    bar.setAttribute("x", left); bar.setAttribute("y", y);
    bar.setAttribute("height", bh);
    bar.setAttribute("width", isNaN(v) ? 0 : Math.max(1, (w - left - 60) * v / max));
    bar.setAttribute("data-task", r.task_id);
    if (v === best) bar.setAttribute("class", "best");
    const val = document.createElementNS(NS, "text");
    val.setAttribute("x", left + (isNaN(v) ? 0 : (w - left - 60) * v / max) + 4);
    val.setAttribute("y", y + bh - 4);
    val.textContent = isNaN(v) ? "-" : v.toFixed(4);
    svg.append(label, bar, val);
  });
  return svg;
}

let chosenMetric = null;

async function experiments() {
  const data = await api("/api/v1/experiments?run_id=latest&limit=1000");
  const rows = data.experiments.slice().sort((a, b) =>
    a.task_id.localeCompare(b.task_id, undefined, { numeric: true }));
  if (!rows.length) return el("p", {}, "no experiments yet: a train task tracks one per try");
  const metrics = [...new Set(rows.flatMap(r => Object.keys(r.metrics)))];
  const metric = metrics.includes(chosenMetric) ? chosenMetric : (metrics.includes("f1") ? "f1" : metrics[0]);
  const select = el("select", { id: "metric" });
  for (const m of metrics) {
    const o = el("option", { value: m }, m);
    if (m === metric) o.selected = true;
    select.append(o);
  }
  select.addEventListener("change", () => { chosenMetric = select.value; route(); });
  // params that differ between the tries, then every metric
  const params = [...new Set(rows.flatMap(r => Object.keys(r.params)))]
    .filter(p => new Set(rows.map(r => JSON.stringify(r.params[p]))).size > 1);
  const head = el("tr", {}, el("th", {}, "task"), ...params.map(p => el("th", {}, p)),
                  ...metrics.map(m => el("th", {}, m)));
  const table = el("table", { id: "experiments" }, head);
  for (const r of rows)
    table.append(el("tr", {}, el("td", {}, r.task_id),
      ...params.map(p => el("td", {}, r.params[p] === undefined ? "-" : JSON.stringify(r.params[p]))),
      ...metrics.map(m => el("td", {}, r.metrics[m] === undefined ? "-" : Number(r.metrics[m]).toFixed(4)))));
  return el("div", {}, el("h1", {}, "Experiments of run ", rows[0].dag_run_id),
    el("p", {}, "metric ", select), chart(rows, metric), table);
}

async function models() {
  const data = await api("/api/v1/models");
  const table = el("table", { id: "models" },
    el("tr", {}, el("th", {}, "model"), el("th", {}, "version"), el("th", {}, "aliases"),
       el("th", {}, "experiment"), el("th", {}, "registered")));
  for (const m of data.models)
    for (const v of m.versions) {
      const aliases = Object.entries(m.aliases).filter(([, n]) => n === v.version).map(([a]) => a);
      table.append(el("tr", {}, el("td", {}, m.name), el("td", {}, v.version),
        el("td", { class: "aliases" }, aliases.join(", ")), el("td", {}, v.experiment_id),
        el("td", {}, v.created)));
    }
  return el("div", {}, el("h1", {}, "Models"), table);
}

// Datasets and what they connect across DAGs: producer tasks, reading
// tasks, the DAGs they trigger; freshness.
async function lineage() {
  const data = await api("/api/v1/datasets");
  const table = el("table", { id: "lineage" },
    el("tr", {}, el("th", {}, "updated by"), el("th", {}, "dataset"), el("th", {}, "read by"),
       el("th", {}, "triggers"), el("th", {}, "last update"), el("th", {}, "stale")));
  for (const d of data.datasets)
    table.append(el("tr", {},
      el("td", { class: "producers" }, d.producers.join(", ") || "-"),
      el("td", { class: "uri" }, d.uri),
      el("td", { class: "readers" }, d.readers.join(", ") || "-"),
      el("td", { class: "consumers" }, d.consumers.join(", ") || "-"),
      el("td", {}, d.last_update || "never"),
      el("td", {}, d.stale ? "yes" : "no")));
  return el("div", {}, el("h1", {}, "Lineage: datasets across DAGs"), table);
}

let routeGen = 0;
async function route() {
  clearTimeout(timer);
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  let render;
  if (parts[0] === "dag" && parts[1]) render = () => grid(parts[1]);
  else if (parts[0] === "ti" && parts.length >= 5) render = () => taskInstance(parts[1], parts[2], parts[3], parseInt(parts[4], 10));
  else if (parts[0] === "experiments") render = experiments;
  else if (parts[0] === "models") render = models;
  else if (parts[0] === "lineage") render = lineage;
  else render = dagList;
  // a render still in flight for the page left behind must not replace
  // this one when it lands, nor keep re-arming itself
  const gen = ++routeGen;
  const tick = async () => {
    try {
      const node = await render();
      if (gen === routeGen) show(node);
    } catch (e) { if (gen === routeGen) fail(e); }
    if (gen === routeGen) timer = setTimeout(tick, 1500);   // live: the page is rendered again
  };
  tick();
}

window.addEventListener("hashchange", route);
route();
