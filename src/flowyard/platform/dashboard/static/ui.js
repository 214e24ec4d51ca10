// DOM helpers shared by the pages: elements, tables, badges, times. Text always goes in
// through text nodes (never innerHTML), so names and logs cannot inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "dataset") {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = v;
    } else if (key === "text") {
      el.textContent = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("a", {href, class}, "text", child...) */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

export const enc = encodeURIComponent;

// -- formatting ---------------------------------------------------------------------------
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const today = new Date();
  const opts = d.toDateString() === today.toDateString()
    ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
    : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return d.toLocaleString(undefined, opts);
}

export function ago(iso) {
  if (!iso) return "—";
  const secs = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (secs < 45) return "just now";
  if (secs < 3600) return `${Math.round(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.round(secs / 3600)} h ago`;
  return `${Math.round(secs / 86400)} d ago`;
}

export function seconds(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (value === 0) return "0 s";
  if (value < 0.001) return `${Math.round(value * 1e6)} µs`;
  if (value < 0.01) return `${(value * 1000).toFixed(1)} ms`;
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 60) return `${value.toFixed(value < 10 ? 1 : 0)} s`;
  const m = Math.floor(value / 60);
  if (m < 60) return `${m} min ${Math.round(value % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function duration(start, end) {
  if (!start) return "—";
  const stop = end ? new Date(end) : new Date();
  return seconds((stop - new Date(start)) / 1000);
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

export function num(v) {
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString();
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(+v.toPrecision(4));
}

export function short(value, n = 60) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined) return "";
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

// -- components ---------------------------------------------------------------------------
const STATE_CLASS = {
  Pending: "pending", Running: "running", Succeeded: "ok", Cached: "cached", Failed: "bad",
  Skipped: "muted", Omitted: "muted", Cancelled: "warn", Ready: "ok", NotReady: "warn",
  Stopped: "muted", Error: "bad", Preparing: "running",
  Starting: "running", Stopping: "warn",
};

export function stateClass(state) {
  return STATE_CLASS[state] || "muted";
}

export function badge(state, title) {
  return h("span", { class: `badge badge-${stateClass(state)}`, title, dataset: { state } },
    h("i"), state);
}

export function pill(text, cls = "") {
  return h("span", { class: `pill ${cls}` }, text);
}

export function link(href, ...children) {
  return h("a", { href }, ...children);
}

export function empty(text, ...more) {
  return h("div", { class: "empty" }, h("p", {}, text), ...more);
}

const ERROR_TITLES = { NotFound: "Not found", Forbidden: "Not allowed", Conflict: "Conflict",
  InvalidInput: "Invalid input", Unauthorized: "Login required", StoreError: "Unavailable" };

export function errorBox(err) {
  const title = ERROR_TITLES[err.code] || err.code || "Error";
  const box = h("div", { class: "alert alert-bad", role: "alert" },
    h("b", {}, title), " · ", err.message || String(err));
  if (err.hint) box.append(h("div", { class: "hint" }, err.hint));
  return box;
}

export function notice(text, cls = "info") {
  return h("div", { class: `alert alert-${cls}` }, text);
}

export function card(title, body, { actions, cls, id } = {}) {
  return h("section", { class: ["card", cls], id },
    title || actions ? h("header", { class: "card-head" },
      h("h2", {}, title || ""), actions ? h("div", { class: "card-actions" }, actions) : null)
      : null,
    h("div", { class: "card-body" }, body));
}

export function stat(label, value, sub, cls = "") {
  return h("div", { class: `stat ${cls}` },
    h("div", { class: "stat-label" }, label),
    h("div", { class: "stat-value" }, value),
    sub ? h("div", { class: "stat-sub" }, sub) : null);
}

export function pageHead(title, sub, actions) {
  return h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, title), sub ? h("p", { class: "sub" }, sub) : null),
    actions ? h("div", { class: "page-actions" }, actions) : null);
}

/** columns: [{label, cell: row => node|string, cls}] */
export function table(columns, rows, { emptyText = "Nothing here yet.", rowAttrs } = {}) {
  if (!rows.length) return empty(emptyText);
  return h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.cls }, c.label)))),
    h("tbody", {}, rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {},
      columns.map((c) => h("td", { class: c.cls }, c.cell(row))))))));
}

/** A two-column list of facts; values may be nodes. */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).flatMap(([k, v]) =>
    [h("dt", {}, k), h("dd", {}, v === null || v === undefined || v === "" ? "—" : v)]));
}

export function value(v) {
  if (v === null || v === undefined) return h("span", { class: "muted" }, "null");
  if (typeof v === "object") return h("code", { class: "json" }, short(v, 120));
  if (typeof v === "number") return h("code", {}, num(v));
  return h("code", {}, short(String(v), 120));
}

export function kvTable(obj, emptyText = "None.") {
  const keys = Object.keys(obj || {});
  if (!keys.length) return h("p", { class: "muted small" }, emptyText);
  return h("table", { class: "table table-compact" }, h("tbody", {},
    keys.map((k) => h("tr", {}, h("th", {}, k), h("td", {}, value(obj[k]))))));
}

export function tabs(items, onChange, selected) {
  const bar = h("div", { class: "tabs", role: "tablist" });
  const select = (key) => {
    for (const b of bar.children) b.setAttribute("aria-selected", String(b.dataset.tab === key));
    onChange(key);
  };
  for (const [key, label] of items) {
    bar.append(h("button", { type: "button", role: "tab", class: "tab", dataset: { tab: key },
      "aria-selected": String(key === selected), onclick: () => select(key) }, label));
  }
  return bar;
}

export function button(label, onclick, cls = "btn") {
  return h("button", { type: "button", class: cls, onclick }, label);
}

export function spinner(text = "Loading…") {
  return h("div", { class: "loading" }, h("span", { class: "spin" }), text);
}

/** Toast message at the bottom right. */
export function toast(text, cls = "info") {
  let holder = document.getElementById("toasts");
  if (!holder) {
    holder = h("div", { id: "toasts", class: "toasts" });
    document.body.append(holder);
  }
  const el = h("div", { class: `toast toast-${cls}` }, text);
  holder.append(el);
  setTimeout(() => el.remove(), 4000);
}
