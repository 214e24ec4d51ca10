// Serving: InferenceGraphs and their endpoints; one graph's traffic split, its node tree,
// live request rate and latency, and the statistics of its routers' arms (bandits).
import { API, get, poll, resources, watch } from "../api.js";
import { barChart, color, lineChart, splitBar } from "../charts.js";
import { drawDag } from "../dag.js";
import { ago, badge, card, enc, facts, h, link, notice, num, pageHead, pill, replace,
  seconds, stat, table } from "../ui.js";

const WINDOW = 90;  // points kept in the live charts

export function trafficOf(spec) {
  const live = (spec?.predictors || []).filter((p) => !p.shadow);
  return (spec?.predictors || []).map((p) => ({ name: p.name, shadow: Boolean(p.shadow),
    traffic: p.shadow ? 0 : live.length === 1 ? 100 : (p.traffic || 0) }));
}

export default async function serving(ctx) {
  if (ctx.params.length >= 2) return detail(ctx, ctx.params[0], ctx.params[1]);
  const { view, ns } = ctx;
  ctx.crumbs([["Serving", "#/serving"]]);
  const items = new Map();
  const body = h("div", { id: "graphs-list" });
  view.append(pageHead("Serving", "InferenceGraphs the platform serves, each at " +
    "/serving/<profile>/<graph>/ behind the platform's login."), card(null, body));
  let routes = [];
  const render = () => {
    const rows = [...items.values()];
    replace(body, table([
      { label: "Graph", cell: (g) => link(`#/serving/${enc(g.metadata.namespace)}/${enc(g.metadata.name)}`,
        g.metadata.name) },
      { label: "Profile", cell: (g) => g.metadata.namespace },
      { label: "State", cell: (g) => badge(g.status?.ready ? "Ready" : "NotReady", g.status?.reason || undefined) },
      { label: "Traffic", cell: (g) => h("div", { class: "mini-split" }, splitBar(trafficOf(g.spec)
        .filter((p) => !p.shadow).map((p) => ({ label: p.name, value: p.traffic })))) },
      { label: "Predictors", cell: (g) => trafficOf(g.spec).map((p) =>
        pill(p.shadow ? `${p.name} (shadow)` : `${p.name} ${p.traffic}%`)) },
      { label: "Path", cell: (g) => {
        const r = routes.find((x) => x.namespace === g.metadata.namespace && x.name === g.metadata.name);
        return r ? h("code", {}, r.prefix) : h("span", { class: "muted" }, "not routed");
      } },
      { label: "Created", cell: (g) => ago(g.metadata.creationTimestamp) },
    ], rows, { emptyText: "No InferenceGraphs. `flowyard apply -f graph.yaml` serves one.",
      rowAttrs: (g) => ({ dataset: { graph: g.metadata.name, ns: g.metadata.namespace } }) }));
  };
  const graphRoutes = async () => (await get(`${API}/gateway/routes`)).items
    .filter((r) => r.kind === "InferenceGraph");
  routes = await graphRoutes();
  await new Promise((resolve) => {
    ctx.onCleanup(watch(resources("inferencegraphs", ns), (ev) => {
      const key = `${ev.object?.metadata?.namespace}/${ev.object?.metadata?.name}`;
      if (ev.type === "ADDED" || ev.type === "MODIFIED") items.set(key, ev.object);
      else if (ev.type === "DELETED") items.delete(key);
      if (ev.type === "SYNCED") resolve();
      if (ctx.alive()) render();
    }));
    setTimeout(resolve, 4000);
  });
  render();
  ctx.onCleanup(poll(async () => { routes = await graphRoutes(); render(); }, 5000));
}

function treeOf(spec) {
  const nodes = [];
  const edges = [];
  for (const p of spec.predictors || []) {
    const root = `p:${p.name}`;
    nodes.push({ id: root, label: p.name, kind: "predictor", cls: p.shadow ? "muted" : "ok",
      sub: p.shadow ? "shadow (mirrored)" : `predictor · ${trafficOf(spec).find((x) => x.name === p.name).traffic}%`,
      dashed: p.shadow });
    const walk = (node, parent, path) => {
      const id = `${path}/${node.name}`;
      const impl = node.implementation || (node.endpoint ? "REMOTE" : "PYTHON_CLASS");
      nodes.push({ id, label: node.name, sub: (node.type || impl).toLowerCase().replace(/_/g, " "),
        title: [impl, node.modelUri || node.className || node.endpoint?.url || ""].join(" "),
        cls: /ABTEST|EPSILON|THOMPSON/.test(impl) || node.type === "ROUTER" ? "warn" : "cached" });
      edges.push({ source: parent, target: id });
      for (const child of node.children || []) walk(child, id, id);
    };
    if (p.graph) walk(p.graph, root, root);
  }
  return { nodes, edges };
}

async function detail(ctx, ns, name) {
  const { view } = ctx;
  ctx.crumbs([["Serving", "#/serving"], [name, `#/serving/${enc(ns)}/${enc(name)}`]]);
  const base = `${API}/namespaces/${enc(ns)}/inferencegraphs/${enc(name)}`;
  let graph = await get(base);
  const routes = (await get(`${API}/gateway/routes`)).items;
  if (!ctx.alive()) return;
  const route = routes.find((r) => r.kind === "InferenceGraph" && r.namespace === ns &&
    r.name === name);
  const head = h("div", {});
  const info = h("div", { id: "serving-facts" });
  const split = h("div", { id: "traffic-split" });
  const live = h("div", { id: "serving-live" });
  const arms = h("div", { id: "serving-arms" });
  view.append(head,
    h("div", { class: "grid grid-2" },
      card("Endpoint", info, { id: "card-endpoint" }),
      card("Traffic split", split, { id: "card-traffic" })),
    card("Live traffic", live, { id: "card-live" }),
    card("Router arms", arms, { id: "card-arms" }),
    card("Inference graph", drawDag(treeOf(graph.spec), { label: `inference graph ${name}` }).el,
      { id: "card-tree" }));
  const renderGraph = () => {
    const st = graph.status || {};
    replace(head, pageHead([name, " ", badge(st.ready ? "Ready" : "NotReady")],
      `Profile ${ns}${graph.spec.description ? ` · ${graph.spec.description}` : ""}`));
    replace(info, facts([
      ["Gateway path", route ? h("code", {}, route.prefix) : "not routed yet"],
      ["V2 inference", route ? h("code", {}, `${route.prefix}v2/models/<model>/infer`) : "—"],
      ["Upstream", st.url ? h("code", {}, st.url) : "—"],
      ["Process", st.pid ? `pid ${st.pid}` : "—"],
      ["Restarts", String(st.restarts ?? 0)],
      ["Generation", `${graph.metadata.generation ?? "—"} (observed ${st.observedGeneration ?? "—"})`],
      st.reason ? ["Reason", h("span", { class: "error-text" }, st.reason)] : null,
    ]));
    const t = trafficOf(graph.spec);
    replace(split, splitBar(t.filter((p) => !p.shadow).map((p) => ({ label: p.name, value: p.traffic }))),
      table([
        { label: "Predictor", cell: (p) => h("b", {}, p.name) },
        { label: "Traffic", cell: (p) => (p.shadow ? pill("shadow") : `${p.traffic}%`), cls: "num" },
        { label: "Observed", cell: () => "—", cls: "num observed" },
        { label: "Root node", cell: (p) => graph.spec.predictors.find((x) => x.name === p.name)?.graph?.name || "" },
      ], t, { rowAttrs: (p) => ({ dataset: { predictor: p.name, traffic: String(p.traffic) } }) }));
  };
  renderGraph();
  ctx.onCleanup(watch(resources("inferencegraphs", ns), (ev) => {
    if (ev.object?.metadata?.name === name && ev.type === "MODIFIED") { graph = ev.object; renderGraph(); }
  }));

  const series = { rate: [], p50: [], p95: [] };
  const t0 = Date.now();
  let previous = null;
  const load = async () => {
    let stats;
    try {
      stats = await get(`${base}/stats`);
    } catch (err) {
      if (err.status !== 503 && err.status !== 404) throw err;
      replace(live, notice(err.status === 503 ? err.message
        : "This platform does not report serving statistics.", "warn"));
      replace(arms, h("p", { class: "muted" }, "No router statistics while the graph is not serving."));
      return;
    }
    if (!ctx.alive()) return;
    const x = (Date.now() - t0) / 1000;
    const push = (key, v) => {
      if (typeof v !== "number" || Number.isNaN(v)) return;
      series[key].push([x, v]);
      if (series[key].length > WINDOW) series[key].shift();
    };
    const lat = stats.latency || {};
    // The rate between this page's own looks (the server's `rate` covers the time since
    // anyone's last look, so other viewers would shorten it).
    const now = Date.now();
    let rate = stats.rate?.perSecond ?? 0;
    if (previous && stats.requests >= previous.requests && now > previous.at) {
      rate = (stats.requests - previous.requests) / ((now - previous.at) / 1000);
    }
    const windowSeconds = previous ? (now - previous.at) / 1000 : stats.rate?.windowSeconds ?? 0;
    previous = { at: now, requests: stats.requests };
    push("rate", rate);
    live.dataset.peakRate = String(Math.max(rate, Number(live.dataset.peakRate || 0)));
    push("p50", typeof lat.p50 === "number" ? lat.p50 * 1000 : undefined);
    push("p95", typeof lat.p95 === "number" ? lat.p95 * 1000 : undefined);
    const timeAxis = (v) => `${Math.round(v)}s`;
    replace(live, h("div", { class: "stats", id: "serving-stats" },
      stat("Request rate", `${num(+rate.toFixed(2))}/s`,
        `over the last ${seconds(windowSeconds)}`, "run"),
      h("div", { class: "stat", dataset: { stat: "requests" } },
        h("div", { class: "stat-label" }, "Requests"),
        h("div", { class: "stat-value" }, String(stats.requests)),
        h("div", { class: "stat-sub" }, `in ${seconds(stats.uptimeSeconds)} up`)),
      stat("Latency p50", typeof lat.p50 === "number" ? seconds(lat.p50) : "—", "whole graph"),
      stat("Latency p95", typeof lat.p95 === "number" ? seconds(lat.p95) : "—", "whole graph"),
      stat("Errors", String(stats.errors ?? 0), "", stats.errors ? "bad" : "")),
    h("div", { class: "grid grid-2" },
      h("div", {}, h("h3", {}, "Requests per second"), lineChart({
        series: [{ name: "requests/s", points: series.rate }], zero: true, area: true,
        xFormat: timeAxis, label: "request rate" })),
      h("div", {}, h("h3", {}, "Latency (ms)"), lineChart({ series: [
        { name: "p50", points: series.p50, color: color(0) },
        { name: "p95", points: series.p95, color: color(2) }], zero: true,
      xFormat: timeAxis, label: "latency" }))),
    h("h3", {}, "Nodes"),
    table([
      { label: "Predictor", cell: (n) => n.predictor },
      { label: "Node", cell: (n) => h("b", {}, n.node) },
      { label: "Type", cell: (n) => pill(String(n.type).toLowerCase()) },
      { label: "Status", cell: (n) => n.status },
      { label: "Requests", cell: (n) => String(n.requests), cls: "num" },
      { label: "Errors", cell: (n) => String(n.errors), cls: "num" },
      { label: "p50", cell: (n) => ms(n.latency?.p50), cls: "num" },
      { label: "p95", cell: (n) => ms(n.latency?.p95), cls: "num" },
      { label: "Mean", cell: (n) => ms(n.latency?.mean), cls: "num" },
    ], stats.nodes || [], { rowAttrs: (n) => ({ dataset: { node: `${n.predictor}/${n.node}`,
      requests: String(n.requests) } }) }));
    observed(stats.predictors || []);
    renderArms(arms, stats.routers || []);
  };
  const observed = (predictors) => {
    for (const p of predictors) {
      const cell = split.querySelector(`tr[data-predictor="${CSS.escape(p.name)}"] td.observed`);
      if (cell) {
        cell.textContent = p.shadow ? `${p.requests} mirrored`
          : `${p.share === null ? "—" : `${num(+(p.share * 100).toFixed(1))}%`} · ${p.requests} req`;
      }
    }
  };
  await load();
  ctx.onCleanup(poll(load, 2000));
}

const ms = (v) => (typeof v === "number" ? seconds(v) : "—");

function renderArms(box, routers) {
  if (!routers.length) {
    replace(box, h("p", { class: "muted" }, "This graph has no router (RANDOM_ABTEST, " +
      "EPSILON_GREEDY, THOMPSON_SAMPLING)."));
    return;
  }
  replace(box, routers.map((r) => {
    const total = r.arms.reduce((a, x) => a + (x.pulls || 0), 0);
    return h("div", { class: "arms", dataset: { router: `${r.predictor}/${r.node}` } },
      h("h3", {}, `${r.predictor} / ${r.node} · ${String(r.implementation).toLowerCase().replace(/_/g, " ")}`),
      h("div", { class: "arms-body" },
        table([
          { label: "Arm", cell: (a) => h("span", {}, h("b", {}, a.child), " ",
            r.best === a.index ? pill("best", "accent") : null) },
          { label: "Pulls", cell: (a) => String(a.pulls), cls: "num" },
          { label: "Share", cell: (a) => (total ? `${num(+(100 * a.pulls / total).toFixed(1))}%` : "—"), cls: "num" },
          { label: "Feedback", cell: (a) => (a.feedback === undefined ? "—" : num(a.feedback)), cls: "num" },
          { label: "Rewards", cell: (a) => (a.rewards === undefined ? "—" : num(a.rewards)), cls: "num" },
          { label: "Mean reward", cell: (a) => (typeof a.mean === "number" ? num(a.mean) : "—"), cls: "num" },
        ], r.arms, { rowAttrs: (a) => ({ dataset: { arm: a.child, pulls: String(a.pulls) } }) }),
        h("div", { class: "arms-charts" }, barChart(r.arms.map((a, i) => ({ label: `${a.child} pulls`, value: a.pulls,
          color: color(i) }))),
        r.arms.some((a) => typeof a.mean === "number") ? barChart(r.arms.map((a, i) => ({
          label: `${a.child} mean reward`, value: a.mean ?? 0, color: color(i) })), { max: 1 }) : null)));
  }));
}
