// Charts as inline SVG: polylines for series, rectangles for bars. No library.
import { h, num, s } from "./ui.js";

export const PALETTE = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#db2777",
  "#ca8a04", "#4b5563"];

export const color = (i) => PALETTE[i % PALETTE.length];

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0];
  if (lo === hi) { lo -= 1; hi += 1; }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => raw <= v) || raw;
  const out = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(+v.toPrecision(12));
  }
  return out;
}

function extent(values, { zero = false, pad = 0 } = {}) {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!values.length) { lo = 0; hi = 1; }
  if (zero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
  if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
  const span = hi - lo;
  const out = [lo - span * pad, hi + span * pad];
  if (zero && Math.min(...values) >= 0) out[0] = 0;  // counts and rates never go below 0
  return out;
}

function legend(series) {
  if (series.length < 2 && !series.some((x) => x.legend)) return null;
  return h("div", { class: "legend" }, series.map((x, i) =>
    h("span", {}, h("i", { class: "swatch", dataset: { color: x.color || color(i) } }), x.name)));
}

/** Paint legend swatches (colours set through CSSOM: the page's CSP forbids style attributes). */
function paint(root) {
  for (const el of root.querySelectorAll("[data-color]")) el.style.background = el.dataset.color;
  return root;
}

/**
 * lineChart({series: [{name, points: [[x, y], ...], color}], xFormat, yFormat, xLabel,
 *            yLabel, height, xDomain, yDomain, diagonal, area})
 */
export function lineChart(opts) {
  const W = opts.width || 560;
  const H = opts.height || 220;
  const m = { l: 52, r: 14, t: 12, b: opts.xLabel ? 40 : 28 };
  const series = opts.series.filter((x) => x.points.length);
  const xs = series.flatMap((x) => x.points.map((p) => p[0]));
  const ys = series.flatMap((x) => x.points.map((p) => p[1]));
  const [x0, x1] = opts.xDomain || extent(xs);
  const [y0, y1] = opts.yDomain || extent(ys, { zero: opts.zero, pad: 0.08 });
  const X = (v) => m.l + ((v - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const Y = (v) => H - m.b - ((v - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const yf = opts.yFormat || num;
  const xf = opts.xFormat || num;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": opts.label || "chart", preserveAspectRatio: "xMidYMid meet" });
  for (const t of ticks(y0, y1, 4).filter((t) => t >= y0 - 1e-12 && t <= y1 + 1e-12)) {
    svg.append(s("line", { x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), class: "grid" }),
      s("text", { x: m.l - 6, y: Y(t) + 4, class: "tick", "text-anchor": "end" }, yf(t)));
  }
  const xt = opts.xTicks || ticks(x0, x1, 5).filter((t) => t >= x0 && t <= x1);
  let previous = null;
  for (const t of xt) {
    if (xf(t) === previous || xf(t) === "") continue;  // rounded to the same label
    previous = xf(t);
    svg.append(s("text", { x: X(t), y: H - m.b + 16, class: "tick", "text-anchor": "middle" },
      xf(t)));
  }
  svg.append(s("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "axis" }));
  if (opts.xLabel) {
    svg.append(s("text", { x: (W + m.l) / 2, y: H - 6, class: "axis-label",
      "text-anchor": "middle" }, opts.xLabel));
  }
  if (opts.yLabel) {
    svg.append(s("text", { x: 12, y: (H - m.b + m.t) / 2, class: "axis-label",
      "text-anchor": "middle", transform: `rotate(-90 12 ${(H - m.b + m.t) / 2})` },
    opts.yLabel));
  }
  if (opts.diagonal) {
    svg.append(s("line", { x1: X(x0), y1: Y(y0), x2: X(x1), y2: Y(y1), class: "diagonal" }));
  }
  series.forEach((x, i) => {
    const c = x.color || color(i);
    const pts = x.points.map(([a, b]) => `${X(a).toFixed(1)},${Y(b).toFixed(1)}`).join(" ");
    if (opts.area && x.points.length > 1) {
      const first = x.points[0][0];
      const last = x.points[x.points.length - 1][0];
      svg.append(s("polygon", { points: `${X(first)},${Y(y0)} ${pts} ${X(last)},${Y(y0)}`,
        fill: c, "fill-opacity": 0.08 }));
    }
    svg.append(s("polyline", { points: pts, fill: "none", stroke: c, "stroke-width": 2,
      "stroke-linejoin": "round", class: "series", dataset: { series: x.name } }));
    if (x.points.length <= 40) {
      for (const [a, b] of x.points) {
        svg.append(s("circle", { cx: X(a), cy: Y(b), r: 3, fill: c },
          s("title", {}, `${x.name}: ${xf(a)} → ${yf(b)}`)));
      }
    }
  });
  return paint(h("figure", { class: "chart-figure" }, svg, legend(series)));
}

/** Horizontal bars: items [{label, value, color, title}]. */
export function barChart(items, { format = num, max } = {}) {
  const top = max ?? Math.max(0, ...items.map((i) => i.value));
  const rowH = 26;
  const W = 560;
  const labelW = 170;
  const H = items.length * rowH + 6;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart bars", role: "img" });
  items.forEach((item, i) => {
    const y = i * rowH + 3;
    const w = top > 0 ? Math.max(1, ((W - labelW - 70) * Math.max(0, item.value)) / top) : 1;
    svg.append(
      s("text", { x: labelW - 8, y: y + 15, class: "bar-label", "text-anchor": "end" },
        item.label.length > 26 ? `${item.label.slice(0, 25)}…` : item.label),
      s("rect", { x: labelW, y, width: w, height: rowH - 8, rx: 3,
        fill: item.color || color(0) }, s("title", {}, item.title || `${item.label}: ${format(item.value)}`)),
      s("text", { x: labelW + w + 6, y: y + 14, class: "bar-value" }, format(item.value)));
  });
  return h("figure", { class: "chart-figure" }, svg);
}

/** Grouped vertical bars: groups = metric names; series = [{name, values: {group: v}}]. */
export function groupedBars(groups, series, { format = num } = {}) {
  const W = 560;
  const H = 230;
  const m = { l: 52, r: 10, t: 12, b: 46 };
  const values = series.flatMap((x) => groups.map((g) => x.values[g])).filter(Number.isFinite);
  const [y0, y1] = extent(values, { zero: true, pad: 0.05 });
  const Y = (v) => H - m.b - ((v - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const gw = (W - m.l - m.r) / Math.max(1, groups.length);
  const bw = Math.min(36, (gw - 14) / Math.max(1, series.length));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  for (const t of ticks(y0, y1, 4).filter((t) => t >= y0 && t <= y1)) {
    svg.append(s("line", { x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), class: "grid" }),
      s("text", { x: m.l - 6, y: Y(t) + 4, class: "tick", "text-anchor": "end" }, format(t)));
  }
  groups.forEach((g, gi) => {
    const start = m.l + gi * gw + (gw - bw * series.length) / 2;
    series.forEach((x, si) => {
      const v = x.values[g];
      if (!Number.isFinite(v)) return;
      const top = Y(Math.max(v, 0));
      svg.append(s("rect", { x: start + si * bw + 1, y: top, width: bw - 2,
        height: Math.max(1, Math.abs(Y(v) - Y(0))), rx: 2, fill: x.color || color(si) },
      s("title", {}, `${x.name} · ${g}: ${format(v)}`)));
    });
    svg.append(s("text", { x: m.l + gi * gw + gw / 2, y: H - m.b + 16, class: "tick",
      "text-anchor": "middle" }, g.length > 18 ? `${g.slice(0, 17)}…` : g));
  });
  svg.append(s("line", { x1: m.l, x2: W - m.r, y1: Y(0), y2: Y(0), class: "axis" }));
  return paint(h("figure", { class: "chart-figure" }, svg,
    legend(series.map((x, i) => ({ ...x, color: x.color || color(i), legend: true })))));
}

/** A confusion matrix as a shaded grid (rows: actual, columns: predicted). */
export function confusionMatrix({ categories, matrix }) {
  const peak = Math.max(1, ...matrix.flat());
  const table = h("table", { class: "confusion" },
    h("thead", {}, h("tr", {}, h("th", { class: "corner" }, "actual ╲ predicted"),
      categories.map((c) => h("th", {}, c)))),
    h("tbody", {}, matrix.map((row, i) => h("tr", {}, h("th", {}, categories[i]),
      row.map((v) => {
        const cell = h("td", { dataset: { shade: (v / peak).toFixed(3) } }, num(v));
        return cell;
      })))));
  for (const td of table.querySelectorAll("td[data-shade]")) {
    const a = Number(td.dataset.shade);
    td.style.background = `rgba(37, 99, 235, ${0.08 + a * 0.72})`;
    if (a > 0.55) td.style.color = "#fff";
  }
  return h("figure", { class: "chart-figure" }, table);
}

/** One horizontal bar split in parts: [{label, value}] (e.g. a traffic split). */
export function splitBar(parts) {
  const total = parts.reduce((a, p) => a + Math.max(0, p.value), 0) || 1;
  const bar = h("div", { class: "splitbar" });
  parts.forEach((p, i) => {
    const seg = h("div", { class: "seg", title: `${p.label}: ${p.value}%` },
      p.value >= 8 ? `${p.label} ${p.value}%` : "");
    seg.style.width = `${(100 * Math.max(0, p.value)) / total}%`;
    seg.style.background = p.color || color(i);
    bar.append(seg);
  });
  return bar;
}

/** A small line without axes. */
export function sparkline(values, { width = 120, height = 28, stroke = color(0) } = {}) {
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "spark", width, height });
  if (values.length < 2) return svg;
  const [lo, hi] = extent(values, { zero: true });
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * width},` +
    `${height - 2 - ((v - lo) / (hi - lo || 1)) * (height - 4)}`).join(" ");
  svg.append(s("polyline", { points: pts, fill: "none", stroke, "stroke-width": 1.5 }));
  return svg;
}
