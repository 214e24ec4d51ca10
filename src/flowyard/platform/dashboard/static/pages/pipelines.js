// Pipelines: stored Pipeline resources and pipelines seen in runs; one pipeline's graph,
// parameters, runs, metrics across its runs, and a form to start a run.
import { API, get, maybe, post, resources, runsPath } from "../api.js";
import { color, lineChart } from "../charts.js";
import { drawDag } from "../dag.js";
import { ago, badge, button, card, duration, empty, enc, h, link, pageHead, pill, short,
  table, toast } from "../ui.js";

export default async function pipelines(ctx) {
  if (ctx.params.length >= 2) return detail(ctx, ctx.params[0], ctx.params[1]);
  const { view, ns } = ctx;
  ctx.crumbs([["Pipelines", "#/pipelines"]]);
  const [stored, runs] = await Promise.all([get(resources("pipelines", ns)),
    get(runsPath(ns, { limit: 200 }))]);
  if (!ctx.alive()) return;
  const rows = new Map();
  for (const p of stored.items) {
    rows.set(`${p.metadata.namespace}/${p.metadata.name}`, { ns: p.metadata.namespace,
      name: p.metadata.name, resource: p, runs: [] });
  }
  for (const r of runs.items) {
    const key = `${r.namespace}/${r.pipeline_name}`;
    if (!rows.has(key)) rows.set(key, { ns: r.namespace, name: r.pipeline_name, resource: null, runs: [] });
    rows.get(key).runs.push(r);
  }
  const items = [...rows.values()].sort((a, b) => a.name.localeCompare(b.name));
  view.append(pageHead("Pipelines", "Stored Pipeline resources, and pipelines that have runs."),
    card(null, table([
      { label: "Pipeline", cell: (p) => h("div", {}, link(`#/pipelines/${enc(p.ns)}/${enc(p.name)}`, p.name),
        p.resource?.spec?.description ? h("div", { class: "muted small" }, p.resource.spec.description) : null) },
      { label: "Profile", cell: (p) => p.ns },
      { label: "Steps", cell: (p) => (p.resource ? String(p.resource.spec.steps.length) : "—"), cls: "num" },
      { label: "Source", cell: (p) => (p.resource ? pill("stored", "accent") : pill("runs only")) },
      { label: "Runs", cell: (p) => String(p.runs.length), cls: "num" },
      { label: "Last run", cell: (p) => (p.runs[0] ? h("span", {}, badge(p.runs[0].state), " ",
        h("span", { class: "muted small" }, ago(p.runs[0].created_at))) : h("span", { class: "muted" }, "never")) },
    ], items, { emptyText: "No pipelines yet: `flowyard apply -f pipeline.yaml`, or run one.",
      rowAttrs: (p) => ({ dataset: { pipeline: p.name, ns: p.ns } }) }), { id: "card-pipelines" }));
}

async function detail(ctx, ns, name) {
  const { view } = ctx;
  ctx.crumbs([["Pipelines", "#/pipelines"], [name, `#/pipelines/${enc(ns)}/${enc(name)}`]]);
  const base = `${API}/namespaces/${enc(ns)}/pipelines/${enc(name)}`;
  const [resource, runs, metrics] = await Promise.all([maybe(base),
    get(runsPath(ns, { pipeline: name, limit: 50 })),
    get(`${API}/metrics?pipeline=${enc(name)}&namespace=${enc(ns)}&limit=30`)]);
  if (!ctx.alive()) return;
  let graph = null;
  if (resource) graph = await get(`${base}/graph`);
  else if (runs.items.length) graph = await get(`${API}/runs/${enc(runs.items[0].id)}/graph`);
  if (!ctx.alive()) return;
  const runButton = resource ? button("Run pipeline", () => { form.hidden = !form.hidden; }, "btn btn-primary") : null;
  if (runButton) runButton.id = "run-pipeline";
  const form = resource ? runForm(ctx, ns, resource, graph) : h("div");
  form.hidden = true;
  view.append(pageHead(name, [`Profile ${ns}`, graph?.description ? ` · ${graph.description}` : "",
    resource ? "" : " · no stored resource (runs only)"].join(""),
  [runButton, link(`#/runs?pipeline=${enc(name)}`, "All runs")]), form);
  const dag = graph ? drawDag({
    nodes: graph.nodes.map((n) => ({ id: n.name, label: n.displayName || n.name,
      sub: `component ${n.component}`, stack: n.loop, dashed: n.exitHandler, last: n.exitHandler,
      badge: [n.loop ? "loop" : null, n.condition ? "if" : null].filter(Boolean).join(" · ") })),
    edges: graph.edges }, { label: `graph of pipeline ${name}` }).el : empty("No graph.");
  view.append(h("div", { class: "grid grid-2" },
    card("Graph", dag, { id: "card-pipeline-graph" }),
    card("Parameters", graph && graph.parameters.length ? table([
      { label: "Name", cell: (p) => h("code", {}, p.name) },
      { label: "Type", cell: (p) => p.type },
      { label: "Default", cell: (p) => h("code", {}, short(p.default, 40)) },
      { label: "Description", cell: (p) => p.description || "" },
    ], graph.parameters) : h("p", { class: "muted" }, "No parameters."))));
  view.append(card("Metrics across runs", metricsChart(metrics.items), { id: "card-trend" }));
  view.append(card("Runs", table([
    { label: "Run", cell: (r) => link(`#/runs/${enc(r.id)}`, h("span", { class: "mono" }, r.id.slice(0, 12))) },
    { label: "State", cell: (r) => badge(r.state) },
    { label: "Created", cell: (r) => ago(r.created_at) },
    { label: "Duration", cell: (r) => duration(r.started_at, r.finished_at) },
    { label: "Parameters", cell: (r) => h("code", { class: "small" }, short(r.parameters, 80)) },
  ], runs.items, { emptyText: "No runs yet." }), { id: "card-pipeline-runs" }));
}

function metricsChart(items) {
  const ordered = [...items].reverse();  // oldest first
  const names = new Map();
  ordered.forEach((run, i) => {
    for (const m of run.metrics) {
      const key = `${m.name}`;
      const series = `${m.step}`;
      if (!names.has(key)) names.set(key, new Map());
      const s = names.get(key);
      if (!s.has(series)) s.set(series, []);
      s.get(series).push([i + 1, m.value]);
    }
  });
  if (!names.size) return h("p", { class: "muted" }, "No metrics logged by these runs yet.");
  const grid = h("div", { class: "grid grid-2" });
  for (const [name, series] of names) {
    grid.append(h("div", {}, h("h3", {}, name), lineChart({
      series: [...series].map(([step, points], i) => ({ name: step, points, color: color(i) })),
      xLabel: "run (oldest → newest)", xFormat: (v) => (Number.isInteger(v) ? `#${v}` : ""),
      label: `${name} across runs` })));
  }
  return grid;
}

function runForm(ctx, ns, resource, graph) {
  const inputs = new Map();
  const fields = (graph?.parameters || []).map((p) => {
    const text = p.default === null || p.default === undefined ? ""
      : typeof p.default === "string" ? p.default : JSON.stringify(p.default);
    const input = h("input", { name: p.name, value: text, placeholder: p.type, "aria-label": p.name });
    inputs.set(p.name, [input, p.type]);
    return h("label", { class: "field" }, h("span", {}, p.name, " ", h("span", { class: "muted small" }, p.type)), input);
  });
  const submit = button("Start run", async () => {
    const parameters = {};
    for (const [key, [input, type]] of inputs) {
      const raw = input.value;
      if (raw === "") continue;
      if (type === "str") parameters[key] = raw;
      else {
        try { parameters[key] = JSON.parse(raw); } catch (_) { parameters[key] = raw; }
      }
    }
    submit.disabled = true;
    try {
      const made = await post(`${API}/runs`, { pipeline: resource, parameters, namespace: ns });
      toast("Run started.");
      ctx.go(`#/runs/${enc(made.id)}`);
    } catch (err) {
      toast(err.message, "bad");
      submit.disabled = false;
    }
  }, "btn btn-primary");
  submit.id = "start-run";
  return card("Start a run", h("div", { class: "run-form" }, fields.length ? fields
    : h("p", { class: "muted" }, "This pipeline takes no parameters."), h("div", {}, submit)),
  { id: "card-run-form" });
}
