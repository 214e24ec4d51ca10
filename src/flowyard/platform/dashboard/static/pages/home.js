// Home: what is running now and what happened lately, across the selected profile(s).
import { API, get, maybe, poll, resources, runsPath } from "../api.js";
import { ago, badge, card, duration, empty, enc, h, link, pageHead, replace, stat,
  stateClass, table } from "../ui.js";

const RESOURCE_KINDS = [
  ["pipelines", "Pipeline"], ["inferencegraphs", "InferenceGraph"],
  ["notebooks", "Notebook"], ["datapipelines", "DataPipeline"],
];

function activity(runs, resourcesByKind) {
  const events = [];
  for (const r of runs) {
    const link_ = `#/runs/${enc(r.id)}`;
    events.push({ at: r.created_at, cls: "pending", href: link_,
      text: [`Run of `, h("b", {}, r.pipeline_name), " submitted"], ns: r.namespace });
    if (r.finished_at) {
      events.push({ at: r.finished_at, cls: stateClass(r.state), href: link_,
        text: [`Run of `, h("b", {}, r.pipeline_name), ` ${r.state.toLowerCase()}`],
        ns: r.namespace });
    } else if (r.started_at) {
      events.push({ at: r.started_at, cls: "running", href: link_,
        text: [`Run of `, h("b", {}, r.pipeline_name), " started"], ns: r.namespace });
    }
  }
  for (const [kind, items] of resourcesByKind) {
    for (const item of items) {
      const meta = item.metadata || {};
      if (!meta.creationTimestamp) continue;
      events.push({ at: meta.creationTimestamp, cls: "muted", href: hrefOf(kind, meta),
        text: [`${kind} `, h("b", {}, meta.name), " created"], ns: meta.namespace });
    }
  }
  events.sort((a, b) => new Date(b.at) - new Date(a.at));
  return events.slice(0, 14);
}

function hrefOf(kind, meta) {
  const ns = enc(meta.namespace || "");
  const name = enc(meta.name || "");
  return { Pipeline: `#/pipelines/${ns}/${name}`, InferenceGraph: `#/serving/${ns}/${name}`,
    Notebook: "#/notebooks", DataPipeline: "#/data" }[kind] || "#/";
}

export default async function home(ctx) {
  const { view, ns, me } = ctx;
  ctx.crumbs([["Home", "#/"]]);
  const stats = h("div", { class: "stats", id: "home-stats" });
  const running = h("div", { id: "home-running" });
  const recent = h("div", { id: "home-activity" });
  const endpoints = h("div", { id: "home-endpoints" });
  const recentRuns = h("div", { id: "home-runs" });
  view.append(
    pageHead(`Welcome, ${me.name}`, ns ? `Profile ${ns}` :
      `All your profiles: ${me.profiles.map((p) => p.name).join(", ") || "none yet"}`,
    [link("#/runs", "All runs"), link("#/pipelines", "Pipelines")]),
    stats,
    h("div", { class: "grid grid-2" },
      card("Running now", running, { id: "card-running" }),
      card("Recent activity", recent, { id: "card-activity" })),
    h("div", { class: "grid grid-2", id: "home-lower" },
      card("Latest runs", recentRuns, { actions: link("#/runs", "View all") }),
      card("Endpoints", endpoints, { actions: link("#/serving", "Serving") })));

  const load = async () => {
    const [runs, active, routes, ...lists] = await Promise.all([
      get(runsPath(ns, { limit: 40 })),
      get(runsPath(ns, { state: "Running", limit: 50 })),
      get(`${API}/gateway/routes`),
      ...RESOURCE_KINDS.map(([plural]) => maybe(resources(plural, ns))),
    ]);
    if (!ctx.alive()) return;
    const byKind = RESOURCE_KINDS.map(([, kind], i) => [kind, (lists[i] || { items: [] }).items]);
    const kinds = Object.fromEntries(byKind);
    const routeItems = routes.items.filter((r) => r.kind === "InferenceGraph" &&
      (!ns || r.namespace === ns));
    const day = Date.now() - 86400e3;
    const lastDay = runs.items.filter((r) => new Date(r.created_at) > day);
    const failed = lastDay.filter((r) => r.state === "Failed").length;
    const notebooks = kinds.Notebook || [];
    const nbRunning = notebooks.filter((n) => notebookUp(n)).length;
    replace(stats,
      stat("Running runs", String(active.items.length), "live", "run"),
      stat("Runs in 24 h", String(lastDay.length), failed ? `${failed} failed` : "none failed",
        failed ? "bad" : ""),
      stat("Pipelines", String((kinds.Pipeline || []).length), "stored"),
      stat("Endpoints", `${routeItems.filter((r) => r.ready).length} / ${routeItems.length}`,
        "ready / served", routeItems.length ? "ok" : ""),
      stat("Notebooks", `${nbRunning} / ${notebooks.length}`, "running / defined"));
    const now = [
      ...active.items.map((r) => ({ kind: "Run", name: r.pipeline_name, id: r.id, ns: r.namespace,
        href: `#/runs/${enc(r.id)}`, state: r.state, since: r.started_at || r.created_at })),
      ...notebooks.filter(notebookUp).map((n) => ({ kind: "Notebook", name: n.metadata.name,
        ns: n.metadata.namespace, href: "#/notebooks", state: "Running",
        since: n.metadata.creationTimestamp })),
    ];
    replace(running, now.length ? table([
      { label: "What", cell: (x) => [h("span", { class: "pill" }, x.kind), link(x.href, x.name)] },
      { label: "Profile", cell: (x) => x.ns },
      { label: "State", cell: (x) => badge(x.state) },
      { label: "For", cell: (x) => duration(x.since), cls: "nowrap" },
    ], now) : empty("Nothing is running.", link("#/pipelines", "Start a run from a pipeline")));
    const events = activity(runs.items, byKind);
    replace(recent, events.length ? h("ul", { class: "activity" }, events.map((e) =>
      h("li", {}, h("span", { class: `dotmark ${e.cls}` }),
        h("a", { class: "what", href: e.href }, e.text),
        h("span", { class: "pill" }, e.ns || ""), h("span", { class: "when" }, ago(e.at)))))
      : empty("No activity yet."));
    replace(recentRuns, table([
      { label: "Pipeline", cell: (r) => link(`#/runs/${enc(r.id)}`, r.pipeline_name) },
      { label: "State", cell: (r) => badge(r.state) },
      { label: "Started", cell: (r) => ago(r.created_at), cls: "nowrap" },
      { label: "Duration", cell: (r) => duration(r.started_at, r.finished_at), cls: "nowrap" },
    ], runs.items.slice(0, 6), { emptyText: "No runs yet." }));
    replace(endpoints, table([
      { label: "Endpoint", cell: (r) => link(`#/serving/${enc(r.namespace)}/${enc(r.name)}`, r.name) },
      { label: "Profile", cell: (r) => r.namespace },
      { label: "State", cell: (r) => badge(r.ready ? "Ready" : "NotReady") },
      { label: "Path", cell: (r) => h("code", {}, r.prefix) },
    ], routeItems, { emptyText: "No endpoints are served." }));
  };
  await load();
  ctx.onCleanup(poll(load, 3000));
}

export function notebookUp(nb) {
  const st = nb.status || {};
  return Boolean(st.ready || st.running || st.phase === "Running" || st.state === "Running");
}
