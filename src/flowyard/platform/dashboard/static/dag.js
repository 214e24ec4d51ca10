// A directed acyclic graph drawn as inline SVG with a layered (Sugiyama-style) layout of our
// own: longest-path layers, dummy nodes on long edges, barycenter ordering sweeps, then
// x positions pulled towards neighbours. Used for run graphs and the data provenance graph.
import { s } from "./ui.js";

const NODE_W = 196;
const NODE_H = 48;
const GAP_X = 28;
const GAP_Y = 64;
const DUMMY_W = 12;
const PAD = 16;

/**
 * layout(nodes, edges) -> {nodes: Map(id -> {x, y, w, h, layer}), paths: [{edge, points}],
 * width, height}. nodes: [{id, last?}] (last: put after everything, e.g. an exit handler).
 */
export function layout(nodes, edges, { nodeW = NODE_W, nodeH = NODE_H } = {}) {
  const ids = nodes.map((n) => n.id);
  const known = new Set(ids);
  const good = edges.filter((e) => known.has(e.source) && known.has(e.target) &&
    e.source !== e.target);
  const preds = new Map(ids.map((id) => [id, []]));
  for (const e of good) preds.get(e.target).push(e.source);

  // 1. layers: longest path from the sources (cycles, which should not occur, are cut).
  const layer = new Map();
  const visiting = new Set();
  const depth = (id) => {
    if (layer.has(id)) return layer.get(id);
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const d = Math.max(-1, ...preds.get(id).map(depth)) + 1;
    visiting.delete(id);
    layer.set(id, d);
    return d;
  };
  ids.forEach(depth);
  const deepest = Math.max(0, ...[...layer.values()]);
  for (const n of nodes) if (n.last) layer.set(n.id, Math.max(layer.get(n.id), deepest + 1));

  // 2. dummy nodes so that every edge joins adjacent layers.
  const rows = [];
  const put = (id, l) => { (rows[l] ||= []).push(id); };
  ids.forEach((id) => put(id, layer.get(id)));
  const isDummy = new Set();
  const chains = [];
  const up = new Map();
  const down = new Map();
  const link = (a, b) => {
    (down.get(a) || down.set(a, []).get(a)).push(b);
    (up.get(b) || up.set(b, []).get(b)).push(a);
  };
  good.forEach((e, i) => {
    const a = layer.get(e.source);
    const b = layer.get(e.target);
    const chain = [e.source];
    if (b <= a) { chains.push({ edge: e, chain: [e.source, e.target], back: true }); return; }
    for (let l = a + 1; l < b; l++) {
      const d = `__dummy_${i}_${l}`;
      isDummy.add(d);
      put(d, l);
      chain.push(d);
    }
    chain.push(e.target);
    for (let k = 0; k + 1 < chain.length; k++) link(chain[k], chain[k + 1]);
    chains.push({ edge: e, chain });
  });
  for (let l = 0; l < rows.length; l++) rows[l] ||= [];

  // 3. order within layers: barycenter sweeps, down then up.
  const pos = new Map();
  const index = () => rows.forEach((row) => row.forEach((id, i) => pos.set(id, i)));
  index();
  const sweep = (range, neighbours) => {
    for (const l of range) {
      const bary = new Map(rows[l].map((id) => {
        const ns = neighbours.get(id) || [];
        return [id, ns.length ? ns.reduce((a, n) => a + pos.get(n), 0) / ns.length : pos.get(id)];
      }));
      rows[l].sort((a, b) => bary.get(a) - bary.get(b));
      rows[l].forEach((id, i) => pos.set(id, i));
    }
  };
  const all = [...rows.keys()];
  for (let it = 0; it < 6; it++) {
    sweep(all.slice(1), up);
    sweep(all.slice(0, -1).reverse(), down);
  }

  // 4. x coordinates: packed rows, then pulled towards the mean of their neighbours.
  const width = (id) => (isDummy.has(id) ? DUMMY_W : nodeW);
  const x = new Map();
  const pack = (row) => {
    let cursor = 0;
    for (const id of row) { x.set(id, cursor + width(id) / 2); cursor += width(id) + GAP_X; }
  };
  rows.forEach(pack);
  const widest = Math.max(...rows.map((row) => row.reduce((a, id) => a + width(id) + GAP_X, -GAP_X)));
  rows.forEach((row) => {
    const w = row.reduce((a, id) => a + width(id) + GAP_X, -GAP_X);
    for (const id of row) x.set(id, x.get(id) + (widest - w) / 2);
  });
  const settle = (row, want) => {
    // keep the order and the gaps, as close to `want` as possible (left, then right pass)
    const n = row.length;
    const xs = row.map((id) => want.get(id));
    for (let i = 1; i < n; i++) {
      const min = xs[i - 1] + (width(row[i - 1]) + width(row[i])) / 2 + GAP_X;
      if (xs[i] < min) xs[i] = min;
    }
    for (let i = n - 2; i >= 0; i--) {
      const max = xs[i + 1] - (width(row[i + 1]) + width(row[i])) / 2 - GAP_X;
      if (xs[i] > max) xs[i] = max;
    }
    row.forEach((id, i) => x.set(id, xs[i]));
  };
  for (let it = 0; it < 8; it++) {
    const nb = it % 2 ? down : up;
    const order = it % 2 ? [...all].reverse() : all;
    for (const l of order) {
      const want = new Map(rows[l].map((id) => {
        const ns = nb.get(id) || [];
        const mean = ns.length ? ns.reduce((a, n) => a + x.get(n), 0) / ns.length : x.get(id);
        return [id, (mean + x.get(id)) / 2];
      }));
      settle(rows[l], want);
    }
  }
  const minX = Math.min(...[...x.entries()].map(([id, v]) => v - width(id) / 2));
  const maxX = Math.max(...[...x.entries()].map(([id, v]) => v + width(id) / 2));
  const out = new Map();
  rows.forEach((row, l) => row.forEach((id) => {
    if (!isDummy.has(id)) {
      out.set(id, { x: x.get(id) - minX + PAD - nodeW / 2, y: PAD + l * (nodeH + GAP_Y),
        w: nodeW, h: nodeH, layer: l });
    }
  }));
  const centre = (id) => ({ x: x.get(id) - minX + PAD, y: PAD + layer.get(id) * (nodeH + GAP_Y) });
  const yOf = (id, l) => PAD + l * (nodeH + GAP_Y);
  const paths = chains.map(({ edge, chain, back }) => {
    if (back) {
      const a = centre(edge.source);
      const b = centre(edge.target);
      return { edge, points: [{ x: a.x, y: a.y + nodeH }, { x: b.x, y: b.y }] };
    }
    const points = [];
    chain.forEach((id, k) => {
      const l = layer.get(id) ?? (layer.get(chain[0]) + k);
      const cx = x.get(id) - minX + PAD;
      const top = yOf(id, l);
      if (k === 0) points.push({ x: cx, y: top + nodeH });
      else if (k === chain.length - 1) points.push({ x: cx, y: top });
      else points.push({ x: cx, y: top }, { x: cx, y: top + nodeH });
    });
    return { edge, points };
  });
  return { nodes: out, paths, width: maxX - minX + 2 * PAD,
    height: rows.length * (nodeH + GAP_Y) - GAP_Y + 2 * PAD };
}

function pathOf(points) {
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    if (a.x === b.x) { d += ` L${b.x},${b.y}`; continue; }
    const my = (a.y + b.y) / 2;
    d += ` C${a.x},${my} ${b.x},${my} ${b.x},${b.y}`;
  }
  return d;
}

function fit(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * drawDag({nodes: [{id, label, sub, cls, title, stack, last, dashed, kind}], edges},
 *         {onSelect}) -> {el, update(id, {cls, sub, state}), select(id)}
 * Node groups carry data-id and data-state, so tests (and CSS) can read them.
 */
export function drawDag(graph, { onSelect, label = "graph" } = {}) {
  const plan = layout(graph.nodes, graph.edges);
  const svg = s("svg", { class: "dag", viewBox: `0 0 ${plan.width} ${plan.height}`,
    width: plan.width, height: plan.height, role: "img", "aria-label": label });
  svg.append(s("defs", {},
    s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
      markerHeight: 7, orient: "auto-start-reverse" },
    s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }))));
  const edgeLayer = s("g", { class: "edges" });
  for (const p of plan.paths) {
    edgeLayer.append(s("path", { d: pathOf(p.points), class: `edge edge-${p.edge.kind || "data"}`,
      "marker-end": "url(#arrow)", dataset: { source: p.edge.source, target: p.edge.target } }));
  }
  svg.append(edgeLayer);
  const groups = new Map();
  for (const n of graph.nodes) {
    const box = plan.nodes.get(n.id);
    const g = s("g", { class: ["node", n.cls, n.dashed ? "dashed" : null, n.kind ? `kind-${n.kind}` : null],
      transform: `translate(${box.x},${box.y})`, tabindex: 0, role: "button",
      dataset: { id: n.id, state: n.state || "" } });
    if (n.stack) {
      g.append(s("rect", { class: "stack", x: 6, y: 6, width: box.w, height: box.h, rx: 9 }));
      g.append(s("rect", { class: "stack", x: 3, y: 3, width: box.w, height: box.h, rx: 9 }));
    }
    g.append(s("rect", { class: "box", width: box.w, height: box.h, rx: 9 }),
      s("rect", { class: "stripe", width: 5, height: box.h - 2, x: 1, y: 1, rx: 2 }),
      s("circle", { class: "dot", cx: 22, cy: box.h / 2, r: 7 }),
      s("text", { class: "label", x: 38, y: 20 }, fit(n.label || n.id, 21)),
      s("text", { class: "sub", x: 38, y: 36 }, fit(n.sub || "", 25)),
      s("title", {}, n.title || n.label || n.id));
    if (n.badge) {
      g.append(s("text", { class: "corner", x: box.w - 10, y: 16, "text-anchor": "end" }, n.badge));
    }
    if (onSelect) {
      g.addEventListener("click", () => onSelect(n.id));
      g.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onSelect(n.id); }
      });
    }
    groups.set(n.id, { g, node: n });
    svg.append(g);
  }
  const wrap = document.createElement("div");
  wrap.className = "dag-wrap";
  wrap.append(svg);
  return {
    el: wrap,
    update(id, { cls, sub, state } = {}) {
      const item = groups.get(id);
      if (!item) return;
      const { g, node } = item;
      if (cls !== undefined) {
        g.setAttribute("class", ["node", cls, node.dashed ? "dashed" : null,
          node.kind ? `kind-${node.kind}` : null, g.classList.contains("selected") ? "selected" : null]
          .filter(Boolean).join(" "));
      }
      if (state !== undefined) g.dataset.state = state;
      if (sub !== undefined) g.querySelector("text.sub").textContent = fit(sub, 25);
    },
    select(id) {
      for (const [key, { g }] of groups) g.classList.toggle("selected", key === id);
    },
  };
}
