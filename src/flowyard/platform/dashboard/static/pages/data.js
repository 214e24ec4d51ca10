// Data: versioned repos of the selected profile(s); one repo's branches, commits, files at
// any ref (with previews and downloads) and its provenance graph; DataPipelines.
import { API, get, resources } from "../api.js";
import { drawDag } from "../dag.js";
import { ago, badge, bytes, card, empty, enc, facts, h, link, notice, pageHead, pill,
  replace, short, table, tabs, when } from "../ui.js";

const PREVIEW_LIMIT = 256 * 1024;
const IMAGE = /\.(png|jpe?g|gif|webp|svg)$/i;
const IMAGE_TYPES = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif",
  webp: "image/webp", svg: "image/svg+xml" };

const repoBase = (ns, repo) => `${API}/namespaces/${enc(ns)}/data/repos/${enc(repo)}`;
const shortId = (id) => (id ? id.slice(0, 10) : "—");
const baseName = (p) => p.replace(/\/+$/, "").split("/").pop();

export default async function data(ctx) {
  if (ctx.params.length >= 2) return repoPage(ctx, ctx.params[0], ctx.params[1]);
  const { view, ns, me } = ctx;
  ctx.crumbs([["Data", "#/data"]]);
  const spaces = ns ? [ns] : me.profiles.map((p) => p.name);
  const [lists, pipelines] = await Promise.all([
    Promise.all(spaces.map((s) => get(`${API}/namespaces/${enc(s)}/data/repos`)
      .then((r) => r.items.map((x) => ({ ...x, namespace: x.namespace || s })))
      .catch(() => []))),
    get(resources("datapipelines", ns)).catch(() => ({ items: [] }))]);
  if (!ctx.alive()) return;
  const repos = lists.flat();
  view.append(pageHead("Data", "Versioned data repos: branches, commits, files and where each " +
    "commit came from."),
  card("Repositories", table([
    { label: "Repo", cell: (r) => h("div", {}, link(`#/data/${enc(r.namespace)}/${enc(r.name)}`, r.name),
      r.description ? h("div", { class: "muted small" }, r.description) : null) },
    { label: "Profile", cell: (r) => r.namespace },
    { label: "Branches", cell: (r) => (r.branches || []).map((b) => pill(b)) },
    { label: "Owner", cell: (r) => r.owner || "—" },
    { label: "Created", cell: (r) => ago(r.created_at) },
  ], repos, { emptyText: "No repos yet: `flowyard data create-repo NAME`.",
    rowAttrs: (r) => ({ dataset: { repo: r.name, ns: r.namespace } }) }), { id: "card-repos" }),
  card("Data pipelines", table([
    { label: "Pipeline", cell: (p) => h("b", {}, p.metadata.name) },
    { label: "Profile", cell: (p) => p.metadata.namespace },
    { label: "Inputs", cell: (p) => inputsOf(p.spec?.input).map((i) =>
      h("div", {}, link(`#/data/${enc(p.metadata.namespace)}/${enc(i.repo)}?ref=${enc(i.branch || "master")}`,
        i.repo), h("span", { class: "muted small" }, `@${i.branch || "master"}:${i.glob || "/"}`))) },
    { label: "Output repo", cell: (p) => {
      const out = p.spec?.outputRepo || p.metadata.name;
      return link(`#/data/${enc(p.metadata.namespace)}/${enc(out)}`, out);
    } },
    { label: "State", cell: (p) => (p.status?.state ? badge(p.status.state, p.status.error || undefined)
      : h("span", { class: "muted" }, "idle")) },
    { label: "Last job", cell: (p) => (p.status?.lastJob ? h("code", {}, short(p.status.lastJob, 24)) : "—") },
    { label: "Output commit", cell: (p) => (p.status?.outputCommit
      ? h("span", { class: "commit-id" }, shortId(p.status.outputCommit)) : "—") },
  ], pipelines.items, { emptyText: "No DataPipelines." }), { id: "card-datapipelines" }));
}

/** The repo inputs of a DataPipeline's input tree (pfs, cross, union, join, group). */
function inputsOf(input) {
  if (!input) return [];
  if (input.pfs) return [input.pfs];
  return ["cross", "union", "join", "group"].flatMap((k) => (input[k] || []).flatMap(inputsOf));
}

async function repoPage(ctx, ns, name) {
  const { view, query } = ctx;
  const base = repoBase(ns, name);
  const [repo, branches] = await Promise.all([get(base), get(`${base}/branches`)]);
  if (!ctx.alive()) return;
  const defaultRef = branches.items.find((b) => b.name === "master")?.name ||
    branches.items[0]?.name || "master";
  const ref = query.get("ref") || defaultRef;
  const path = query.get("path") || "";
  const tab = query.get("tab") || "files";
  const here = (changes) => {
    const q = new URLSearchParams({ ref, path, tab, ...changes });
    for (const [k, v] of [...q]) if (!v) q.delete(k);
    return `#/data/${enc(ns)}/${enc(name)}?${q}`;
  };
  ctx.crumbs([["Data", "#/data"], [name, here({ path: "", tab: "files" })]]);
  const refSelect = h("select", { id: "ref-select", "aria-label": "branch" },
    branches.items.map((b) => h("option", { value: b.name, selected: b.name === ref }, b.name)),
    branches.items.some((b) => b.name === ref) ? null : h("option", { value: ref, selected: true }, `commit ${shortId(ref)}`));
  refSelect.addEventListener("change", () => ctx.go(here({ ref: refSelect.value, path: "" })));
  view.append(pageHead([name, " ", pill(ns)], repo.description || "A versioned data repo.",
    [h("label", { class: "ns-select" }, "Branch", refSelect)]));
  const body = h("div", { id: "data-tab", dataset: { tab } });
  view.append(card(null, [tabs([["files", "Files"], ["commits", "Commits"], ["branches", "Branches"],
    ["provenance", "Provenance"]], (key) => ctx.go(here({ tab: key })), tab), body], { id: "card-repo" }));
  const show = { files, commits, branches: branchesTab, provenance }[tab] || files;
  await show();

  async function files() {
    const listing = await get(`${base}/files?ref=${enc(ref)}${path ? `&path=${enc(path)}` : ""}`);
    if (!ctx.alive()) return;
    const crumbs = [h("a", { href: here({ path: "" }) }, name)];
    const parts = path.split("/").filter(Boolean);
    parts.forEach((part, i) => {
      crumbs.push(" / ", h("a", { href: here({ path: parts.slice(0, i + 1).join("/") }) }, part));
    });
    const items = listing.items;
    const single = items.length === 1 && items[0].type === "file" &&
      items[0].path.replace(/^\//, "") === path.replace(/^\//, "");
    const header = h("div", { class: "log-head" }, h("div", { class: "path", id: "data-path" }, crumbs),
      h("span", { class: "muted small" }, "commit ", h("span", { class: "commit-id" }, shortId(listing.commit))));
    if (single) {
      replace(body, header, await filePreview(items[0]));
      return;
    }
    const sorted = [...items].sort((a, b) => (a.type === b.type ? a.path.localeCompare(b.path)
      : a.type === "dir" ? -1 : 1));
    replace(body, header, sorted.length ? h("ul", { class: "filelist", id: "file-list" }, sorted.map((e) => {
      const full = e.path.replace(/^\//, "");
      return h("li", { dataset: { path: full, type: e.type } },
        h("span", { class: "icon" }, e.type === "dir" ? "▸" : "•"),
        h("a", { href: here({ path: full }) }, baseName(full) + (e.type === "dir" ? "/" : "")),
        h("span", { class: "size" }, e.type === "dir" ? `${e.files} files · ${bytes(e.size)}` : bytes(e.size)));
    })) : empty("This folder is empty."));
  }

  async function filePreview(entry) {
    const full = entry.path.replace(/^\//, "");
    const url = `${base}/content?ref=${enc(ref)}&path=${enc(full)}`;
    const box = h("div", { class: "preview", id: "file-preview" });
    const head = h("div", { class: "line inline-form" }, h("b", {}, baseName(full)),
      h("span", { class: "muted small" }, bytes(entry.size)),
      h("a", { class: "btn btn-small", href: url, download: baseName(full) }, "Download"));
    if (entry.size > PREVIEW_LIMIT) {
      replace(box, h("p", { class: "muted small" }, "Too large to preview; download it."));
    } else {
      const answer = await fetch(url, { credentials: "same-origin" });
      const blob = await answer.blob();
      const ext = (full.split(".").pop() || "").toLowerCase();
      if (IMAGE.test(full)) {
        const img = h("img", { alt: full });
        img.src = URL.createObjectURL(new Blob([blob], { type: IMAGE_TYPES[ext] }));
        ctx.onCleanup(() => URL.revokeObjectURL(img.src));
        replace(box, img);
      } else {
        const text = await blob.text();
        replace(box, h("pre", {}, text.length > 20000 ? `${text.slice(0, 20000)}\n…` : text));
      }
    }
    return h("div", { class: "stack-gap" }, head, box);
  }

  async function commits() {
    const log = await get(`${base}/commits?ref=${enc(ref)}&limit=100`);
    if (!ctx.alive()) return;
    replace(body, table([
      { label: "Commit", cell: (c) => h("a", { class: "commit-id", href: here({ ref: c.id, tab: "files", path: "" }) }, shortId(c.id)) },
      { label: "Message", cell: (c) => c.message || h("span", { class: "muted" }, "(no message)") },
      { label: "Origin", cell: (c) => pill(c.origin, c.origin === "user" ? "" : "accent") },
      { label: "Branch", cell: (c) => c.branch || "—" },
      { label: "Files", cell: (c) => String(c.files), cls: "num" },
      { label: "Size", cell: (c) => bytes(c.bytes), cls: "num" },
      { label: "Made", cell: (c) => when(c.created_at), cls: "nowrap" },
      { label: "", cell: (c) => link(here({ ref: c.id, tab: "provenance" }), "provenance") },
    ], log.items, { emptyText: "No commits on this branch yet.",
      rowAttrs: (c) => ({ dataset: { commit: c.id } }) }));
  }

  async function branchesTab() {
    replace(body, table([
      { label: "Branch", cell: (b) => h("a", { href: here({ ref: b.name, tab: "files", path: "" }) }, b.name) },
      { label: "Head", cell: (b) => h("span", { class: "commit-id" }, shortId(b.head)) },
      { label: "Updated", cell: (b) => ago(b.updated_at) },
      { label: "Created", cell: (b) => when(b.created_at) },
    ], branches.items, { rowAttrs: (b) => ({ dataset: { branch: b.name } }) }));
  }

  async function provenance() {
    let graph;
    try {
      graph = await get(`${base}/lineage?ref=${enc(ref)}&direction=both`);
    } catch (err) {
      if (err.status === 404 || err.status === 400) {
        replace(body, empty(`No commit at ${ref} yet, so no provenance.`));
        return;
      }
      throw err;
    }
    if (!ctx.alive()) return;
    const nodes = graph.nodes.map((n) => (n.type === "run" ? {
      id: n.id, kind: "run", label: n.pipeline || "run", sub: `run ${shortId(n.run)} · ${n.state}`,
      title: `run ${n.run} of ${n.pipeline} (${n.state})`,
    } : {
      id: n.id, kind: "commit", label: `${n.repo}@${n.branch || shortId(n.commit)}`,
      sub: `${shortId(n.commit)} · ${n.origin}`, title: `${n.repo} commit ${n.commit}: ${n.message || ""}`,
      cls: n.root ? "selected" : "",
    }));
    const edges = graph.edges.map((e) => ({ source: e.from, target: e.to, kind: e.type === "provenance" ? "data" : "order" }));
    const byId = new Map(graph.nodes.map((n) => [n.id, n]));
    const dag = drawDag({ nodes, edges }, { label: "provenance graph", onSelect: (id) => {
      const n = byId.get(id);
      if (!n) return;
      if (n.type === "run") ctx.go(`#/runs/${enc(n.run)}`);
      else ctx.go(`#/data/${enc(ns)}/${enc(n.repo)}?ref=${enc(n.commit)}&tab=files`);
    } });
    dag.select(graph.root);
    const rootNode = byId.get(graph.root);
    replace(body, graph.nodes.length > 1 ? notice("Arrows go from what was read to what was " +
      "computed from it; purple nodes are pipeline runs. Click a node to open it.", "info")
      : notice("This commit was not computed from other data, and nothing read it yet.", "info"),
    h("div", { id: "provenance-graph" }, dag.el),
    rootNode ? facts([["Commit", h("span", { class: "commit-id" }, rootNode.commit)],
      ["Message", rootNode.message || "—"], ["Origin", rootNode.origin],
      ["Files", `${rootNode.files} · ${bytes(rootNode.bytes)}`]]) : null);
  }
}
