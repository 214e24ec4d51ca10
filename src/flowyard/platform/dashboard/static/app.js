// The dashboard's router: `#/page/arg...?query` -> pages/<page>.js, whose default export
// renders into a fresh element. Pages register what to stop (polls, event streams) with
// ctx.onCleanup; it runs when the route changes.
import { get } from "./api.js";
import { errorBox, h, replace, spinner } from "./ui.js";

const PAGES = {
  "": "home", home: "home", pipelines: "pipelines", runs: "runs", compare: "compare",
  data: "data", serving: "serving", notebooks: "notebooks", profiles: "profiles",
};
const NAV = { run: "runs", compare: "runs" };
const NS_KEY = "flowyard.namespace";

const state = { me: null, cleanups: [], generation: 0 };

export function namespace() {
  return document.getElementById("namespace").value || "";
}

export function go(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function parse() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

function setCrumbs(items) {
  const el = document.getElementById("crumbs");
  replace(el, items.flatMap((item, i) => {
    const [label, href] = Array.isArray(item) ? item : [item, null];
    const node = href && i < items.length - 1 ? h("a", { href }, label) : h("span", {}, label);
    return i ? [h("span", { class: "sep" }, "/"), node] : [node];
  }));
  const last = items.length ? items[items.length - 1] : "Home";
  document.title = `${Array.isArray(last) ? last[0] : last} · Flowyard`;
}

async function route() {
  for (const fn of state.cleanups.splice(0)) {
    try { fn(); } catch (err) { console.warn(err); }
  }
  const generation = ++state.generation;
  const { parts, query } = parse();
  let name = PAGES[parts[0] || ""] || null;
  if (name === "runs" && parts.length > 1) name = "run";
  const main = document.getElementById("view");
  const view = h("div", { class: "page", dataset: { page: name || "missing" } });
  replace(main, view);
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.page === (NAV[name] || name));
  }
  if (!name) {
    setCrumbs(["Not found"]);
    view.append(h("div", { class: "empty" }, h("p", {}, `There is no page “${parts[0]}”.`),
      h("a", { href: "#/" }, "Go home")));
    return;
  }
  const label = { run: "Runs", compare: "Runs" }[name] || name[0].toUpperCase() + name.slice(1);
  setCrumbs([[label, `#/${NAV[name] || (name === "home" ? "" : name)}`], ...parts.slice(1)]);
  view.append(spinner());
  const ctx = {
    view, query, params: parts.slice(1),
    me: state.me, ns: namespace(), go, crumbs: setCrumbs,
    alive: () => generation === state.generation,
    onCleanup: (fn) => {
      if (generation === state.generation) state.cleanups.push(fn);
      else fn();
    },
  };
  try {
    const page = await import(`./pages/${name}.js`);
    if (!ctx.alive()) return;
    await page.default(ctx);
  } catch (err) {
    if (!ctx.alive()) return;
    console.error(err);
    view.querySelector(".loading")?.remove();
    view.append(errorBox(err));
  } finally {
    if (ctx.alive()) {
      view.querySelector(":scope > .loading")?.remove();
      view.dataset.ready = "true";
    }
  }
}

async function start() {
  const select = document.getElementById("namespace");
  try {
    state.me = await get("whoami");
  } catch (err) {
    replace(document.getElementById("view"), errorBox(err));
    return;
  }
  const names = state.me.profiles.map((p) => p.name);
  for (const p of state.me.profiles) {
    select.append(h("option", { value: p.name }, `${p.name} (${p.role})`));
  }
  const saved = localStorage.getItem(NS_KEY);
  if (saved && names.includes(saved)) select.value = saved;
  else if (names.length === 1) select.value = names[0];
  select.addEventListener("change", () => {
    localStorage.setItem(NS_KEY, select.value);
    route();
  });
  const who = document.getElementById("who");
  who.textContent = state.me.admin ? `${state.me.name} · admin` : state.me.name;
  window.addEventListener("hashchange", route);
  route();
}

start();
