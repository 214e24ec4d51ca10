// Runs side by side: parameters, outputs, metrics (table and chart) and steps, with the
// rows that differ highlighted.
import { API, get, runsPath } from "../api.js";
import { scalars } from "../artifacts.js";
import { groupedBars } from "../charts.js";
import { ago, badge, button, card, duration, enc, h, link, pageHead, short, table, value } from "../ui.js";

const same = (values) => values.every((v) => JSON.stringify(v) === JSON.stringify(values[0]));

/** rows: [[label, values, render?, keys?]]: `keys` (default the values) decide "differs". */
function rowsTable(runs, rows, id) {
  return h("div", { class: "table-wrap" }, h("table", { class: "table compare-table", id },
    h("thead", {}, h("tr", {}, h("th", {}, ""), runs.map((r, i) => h("th", {},
      link(`#/runs/${enc(r.id)}`, `Run ${i + 1}`), h("div", { class: "muted small mono" }, r.id.slice(0, 12)))))),
    h("tbody", {}, rows.map(([label, values, render, keys]) =>
      h("tr", { class: same(keys || values) ? "" : "diff", dataset: { row: label } }, h("th", {}, label),
        values.map((v) => h("td", {}, render ? render(v) : value(v))))))));
}

export default async function compare(ctx) {
  const { view } = ctx;
  const ids = (ctx.params[0] || "").split(",").filter(Boolean);
  ctx.crumbs([["Runs", "#/runs"], ["Compare", `#/compare/${ids.map(enc).join(",")}`]]);
  if (ids.length < 2) {
    await picker(ctx, ids);
    return;
  }
  const data = await Promise.all(ids.map(async (id) => {
    const [run, arts, steps] = await Promise.all([get(`${API}/runs/${enc(id)}`),
      get(`${API}/runs/${enc(id)}/artifacts`), get(`${API}/runs/${enc(id)}/steps`)]);
    return { run, metrics: scalars(arts.items), steps: steps.items };
  }));
  if (!ctx.alive()) return;
  const runs = data.map((d) => d.run);
  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.parameters || {})))].sort();
  const outKeys = [...new Set(runs.flatMap((r) => Object.keys(r.outputs || {})))].sort();
  const metricKey = (m) => `${m.step} · ${m.name}`;
  const metricKeys = [...new Set(data.flatMap((d) => d.metrics.map(metricKey)))].sort();
  const metricOf = (d, key) => d.metrics.find((m) => metricKey(m) === key)?.value;
  const rows = [
    ["Pipeline", runs.map((r) => r.pipeline_name), (v) => v],
    ["State", runs.map((r) => r.state), (v) => badge(v)],
    ["Profile", runs.map((r) => r.namespace), (v) => v],
    ["Created", runs.map((r) => r.created_at), (v) => ago(v)],
    ["Duration", runs.map((r) => duration(r.started_at, r.finished_at)), (v) => v],
    ...paramKeys.map((k) => [`param ${k}`, runs.map((r) => r.parameters?.[k])]),
    ...outKeys.map((k) => [`output ${k}`, runs.map((r) => r.outputs?.[k])]),
    ...metricKeys.map((k) => [`metric ${k}`, data.map((d) => metricOf(d, k) ?? null)]),
  ];
  const stepNames = [...new Set(data.flatMap((d) => d.steps.filter((s) => s.id === s.name).map((s) => s.name)))];
  const stepRows = stepNames.map((name) => {
    const records = data.map((d) => d.steps.find((s) => s.id === name) || null);
    return [name, records, (st) => (st ? h("span", {}, badge(st.state), " ",
      h("span", { class: "muted small" }, duration(st.started_at, st.finished_at)))
      : h("span", { class: "muted" }, "—")), records.map((st) => st && st.state)];
  });
  const names = [...new Set(data.flatMap((d) => d.metrics.map((m) => m.name)))];
  const charts = h("div", { class: "grid grid-2" });
  for (const name of names) {
    const keys = metricKeys.filter((k) => k.endsWith(` · ${name}`));
    charts.append(h("div", {}, h("h3", {}, name), groupedBars(keys.map((k) => k.split(" · ")[0]),
      data.map((d, i) => ({ name: `Run ${i + 1}`, values: Object.fromEntries(keys.map((k) =>
        [k.split(" · ")[0], metricOf(d, k)])) })))));
  }
  view.append(
    pageHead(`Compare ${runs.length} runs`, "Highlighted rows differ between the runs.",
      [link(`#/compare/${enc(ids[0])}`, "Change selection")]),
    card("Summary, parameters, outputs and metrics", rowsTable(runs, rows, "compare-table"),
      { id: "card-compare" }),
    names.length ? card("Metrics", charts, { id: "card-compare-metrics" }) : null,
    card("Steps", rowsTable(runs, stepRows, "compare-steps"), { id: "card-compare-steps" }));
}

async function picker(ctx, ids) {
  const { view, ns } = ctx;
  const base = ids[0] ? await get(`${API}/runs/${enc(ids[0])}`) : null;
  const list = await get(runsPath(ns, { pipeline: base ? base.pipeline_name : "", limit: 30 }));
  if (!ctx.alive()) return;
  const chosen = new Set(ids);
  const go = button("Compare", () => ctx.go(`#/compare/${[...chosen].map(enc).join(",")}`), "btn btn-primary");
  go.disabled = chosen.size < 2;
  view.append(pageHead("Compare runs", base ? `Pick runs of ${base.pipeline_name} to compare with ${base.id.slice(0, 12)}.`
    : "Pick two or more runs.", [go]),
  card(null, table([
    { label: "", cell: (r) => {
      const box = h("input", { type: "checkbox", checked: chosen.has(r.id), dataset: { run: r.id } });
      box.addEventListener("change", () => {
        if (box.checked) chosen.add(r.id); else chosen.delete(r.id);
        go.disabled = chosen.size < 2;
      });
      return box;
    } },
    { label: "Run", cell: (r) => [link(`#/runs/${enc(r.id)}`, r.pipeline_name), h("div", { class: "muted small mono" }, r.id)] },
    { label: "State", cell: (r) => badge(r.state) },
    { label: "Created", cell: (r) => ago(r.created_at) },
    { label: "Parameters", cell: (r) => h("code", {}, short(r.parameters, 80)) },
  ], list.items, { emptyText: "No runs to compare." })));
}
