// Artifacts: previews (text, CSV as a table, JSON, images, sandboxed HTML) and downloads;
// metrics drawn as charts. Shared by the run and compare pages.
import { API } from "./api.js";
import { barChart, confusionMatrix, lineChart } from "./charts.js";
import { bytes, button, enc, h, num, pill, replace } from "./ui.js";

export const METRIC_TYPES = new Set(["Metrics", "ClassificationMetrics"]);
const PREVIEW_LIMIT = 512 * 1024;

export const contentUrl = (a) => `${API}/artifacts/${enc(a.id)}/content`;
export const previewUrl = (a) => `${API}/artifacts/${enc(a.id)}/preview`;

export function downloadLink(a) {
  const name = a.is_tree ? `${a.name}.tar` : a.name;
  return h("a", { class: "btn btn-small", href: contentUrl(a), download: name,
    dataset: { download: a.id } }, a.is_tree ? "Download .tar" : "Download");
}

function csvTable(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.length);
  const rows = lines.slice(0, 51).map((l) => l.split(","));
  const [head, ...body] = rows;
  return h("div", {},
    h("table", { class: "table" }, h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
      h("tbody", {}, body.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))),
    lines.length > 51 ? h("p", { class: "muted small" }, `First 50 of ${lines.length - 1} rows.`) : null);
}

function looksCsv(name, text) {
  if (/\.csv$/i.test(name)) return true;
  const lines = text.split(/\r?\n/).filter(Boolean).slice(0, 6);
  if (lines.length < 2) return false;
  const n = lines[0].split(",").length;
  return n > 1 && lines.every((l) => l.split(",").length === n);
}

/** Fill `box` with a preview of file artifact `a`. */
export async function preview(a, box) {
  if (a.is_tree) {
    replace(box, h("p", { class: "muted small" }, "A folder: download it as a tar archive."));
    return;
  }
  if (METRIC_TYPES.has(a.type)) {
    replace(box, h("pre", {}, JSON.stringify(a.metadata, null, 2)));
    return;
  }
  if (a.type === "HTML") {
    replace(box, h("iframe", { src: previewUrl(a), sandbox: "", title: a.name,
      referrerpolicy: "no-referrer" }));
    return;
  }
  if (a.size > PREVIEW_LIMIT) {
    replace(box, h("p", { class: "muted small" }, `${bytes(a.size)}: too large to preview; download it.`));
    return;
  }
  const answer = await fetch(previewUrl(a), { credentials: "same-origin" });
  if (!answer.ok) {
    replace(box, h("p", { class: "muted small" }, `No preview (HTTP ${answer.status}).`));
    return;
  }
  const type = answer.headers.get("content-type") || "";
  if (type.startsWith("image/")) {
    replace(box, h("img", { src: previewUrl(a), alt: a.name }));
    return;
  }
  const text = await answer.text();
  if (looksCsv(a.name, text)) {
    replace(box, csvTable(text));
    return;
  }
  let shown = text;
  try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
  replace(box, h("pre", {}, shown.length > 20000 ? `${shown.slice(0, 20000)}\n…` : shown));
}

/** One artifact line: name, type, size, Preview toggle, Download. */
export function artifactRow(a, { open = false } = {}) {
  const box = h("div", { class: "preview", hidden: !open, dataset: { preview: a.id } });
  let loaded = false;
  const toggle = button(open ? "Hide" : "Preview", async () => {
    box.hidden = !box.hidden;
    toggle.textContent = box.hidden ? "Preview" : "Hide";
    if (!box.hidden && !loaded) {
      loaded = true;
      replace(box, h("p", { class: "muted small" }, "Loading…"));
      try { await preview(a, box); } catch (err) { replace(box, h("p", {}, String(err))); }
    }
  }, "btn btn-small");
  if (open) { loaded = true; preview(a, box); }
  return h("div", { class: "artifact-row", dataset: { artifact: a.id, name: a.name } },
    h("div", { class: "line" }, h("div", { class: "spacer" },
      h("div", {}, h("span", { class: "name" }, a.name), " ", pill(a.type, "accent")),
      h("div", { class: "meta" }, `${a.is_tree ? "folder" : bytes(a.size)} · from step ${a.step_id}`)),
    toggle, downloadLink(a)),
    box);
}

/** Scalar metrics of a run's artifacts: [{step, artifact, name, value}] */
export function scalars(artifacts) {
  const rows = [];
  for (const a of artifacts) {
    if (!METRIC_TYPES.has(a.type)) continue;
    for (const [k, v] of Object.entries(a.metadata || {}).sort()) {
      if (typeof v === "number") rows.push({ step: a.step_id, artifact: a.name, name: k, value: v });
    }
  }
  const order = (x, y) => x.localeCompare(y, undefined, { numeric: true });
  return rows.sort((x, y) => order(x.step, y.step) || order(x.name, y.name));
}

/** The metrics section of a run: cards, a bar chart per metric, ROC curves, matrices. */
export function metricsView(artifacts) {
  const rows = scalars(artifacts);
  const out = h("div", { class: "metrics", id: "metrics" });
  if (!rows.length && !artifacts.some((a) => a.metadata?.roc || a.metadata?.confusionMatrix)) {
    return null;
  }
  out.append(h("div", { class: "metric-cards" }, rows.map((r) =>
    h("div", { class: "metric", dataset: { metric: r.name, step: r.step } },
      h("div", { class: "k" }, `${r.step} · ${r.name}`), h("div", { class: "v" }, num(r.value))))));
  const byName = new Map();
  for (const r of rows) (byName.get(r.name) || byName.set(r.name, []).get(r.name)).push(r);
  const charts = h("div", { class: "grid grid-2" });
  for (const [name, list] of byName) {
    if (list.length < 2) continue;
    charts.append(h("div", {}, h("h3", {}, name),
      barChart(list.map((r) => ({ label: r.step, value: r.value })))));
  }
  for (const a of artifacts) {
    const roc = a.metadata?.roc;
    if (roc && roc.fpr?.length) {
      charts.append(h("div", {}, h("h3", {}, `ROC · ${a.step_id}`), lineChart({
        series: [{ name: a.name, points: roc.fpr.map((x, i) => [x, roc.tpr[i]]) }],
        xDomain: [0, 1], yDomain: [0, 1], diagonal: true, area: true,
        xLabel: "false positive rate", yLabel: "true positive rate", label: "ROC curve" })));
    }
    const cm = a.metadata?.confusionMatrix;
    if (cm && cm.categories?.length) {
      charts.append(h("div", {}, h("h3", {}, `Confusion matrix · ${a.step_id}`), confusionMatrix(cm)));
    }
  }
  if (charts.childElementCount) out.append(charts);
  return out;
}
