// Runs: every run of the selected profile(s), filtered by state and pipeline; pick two or
// more to compare them side by side.
import { get, poll, runsPath } from "../api.js";
import { ago, badge, button, card, duration, enc, h, pageHead, replace, short,
  table } from "../ui.js";

const STATES = ["", "Pending", "Running", "Succeeded", "Failed", "Cancelled"];
const PAGE = 50;

export default async function runs(ctx) {
  const { view, ns, query } = ctx;
  ctx.crumbs([["Runs", "#/runs"]]);
  const selected = new Set();
  const filters = { state: query.get("state") || "", pipeline: query.get("pipeline") || "",
    offset: Number(query.get("offset") || 0) };
  const stateSel = h("select", { id: "filter-state", "aria-label": "State" },
    STATES.map((st) => h("option", { value: st, selected: st === filters.state }, st || "Any state")));
  const pipeSel = h("input", { id: "filter-pipeline", placeholder: "Pipeline name",
    value: filters.pipeline, "aria-label": "Pipeline" });
  const compare = button("Compare selected", () => {
    ctx.go(`#/compare/${[...selected].map(enc).join(",")}`);
  }, "btn btn-primary");
  compare.id = "compare-button";
  compare.disabled = true;
  const body = h("div", { id: "runs-table" });
  const pager = h("div", { class: "inline-form" });
  const refresh = () => {
    const q = new URLSearchParams();
    if (filters.state) q.set("state", filters.state);
    if (filters.pipeline) q.set("pipeline", filters.pipeline);
    if (filters.offset) q.set("offset", filters.offset);
    ctx.go(`#/runs${q.toString() ? `?${q}` : ""}`);
  };
  stateSel.addEventListener("change", () => { filters.state = stateSel.value; filters.offset = 0; refresh(); });
  pipeSel.addEventListener("change", () => { filters.pipeline = pipeSel.value.trim(); filters.offset = 0; refresh(); });
  view.append(
    pageHead("Runs", "Pipeline runs, newest first. Select runs to compare them.",
      [stateSel, pipeSel, compare]),
    card(null, body), pager);

  const check = (run) => {
    const box = h("input", { type: "checkbox", "aria-label": `select run ${run.id}`,
      checked: selected.has(run.id), dataset: { run: run.id } });
    box.addEventListener("change", () => {
      if (box.checked) selected.add(run.id); else selected.delete(run.id);
      compare.disabled = selected.size < 2;
      compare.textContent = selected.size >= 2 ? `Compare ${selected.size} runs` : "Compare selected";
    });
    return box;
  };
  const load = async () => {
    const data = await get(runsPath(ns, { state: filters.state, pipeline: filters.pipeline,
      limit: PAGE + 1, offset: filters.offset }));
    if (!ctx.alive()) return;
    const items = data.items.slice(0, PAGE);
    replace(body, table([
      { label: "", cell: check, cls: "check" },
      { label: "Run", cell: (r) => h("div", {}, h("a", { href: `#/runs/${enc(r.id)}`, class: "run-link",
        dataset: { run: r.id } }, r.pipeline_name), h("div", { class: "muted small mono" }, r.id)) },
      { label: "Profile", cell: (r) => r.namespace },
      { label: "State", cell: (r) => badge(r.state, r.error || undefined) },
      { label: "Created", cell: (r) => ago(r.created_at), cls: "nowrap" },
      { label: "Duration", cell: (r) => duration(r.started_at, r.finished_at), cls: "nowrap" },
      { label: "Parameters", cell: (r) => h("code", { class: "small" }, short(r.parameters, 70)) },
    ], items, { emptyText: filters.state || filters.pipeline ? "No runs match these filters."
      : "No runs yet. Start one from a pipeline, or with `flowyard run`.",
    rowAttrs: (r) => ({ dataset: { run: r.id, state: r.state } }) }));
    replace(pager,
      filters.offset ? button("← Newer", () => { filters.offset = Math.max(0, filters.offset - PAGE); refresh(); }) : null,
      data.items.length > PAGE ? button("Older →", () => { filters.offset += PAGE; refresh(); }) : null);
  };
  await load();
  ctx.onCleanup(poll(load, 3000));
}
