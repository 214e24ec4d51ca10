// Notebooks: Notebook resources of the selected profile(s), their state, and a link that
// opens each through the gateway at /notebook/<profile>/<name>/. Updates come from the
// resource watch stream.
import { API, del, post, put, resources, watch } from "../api.js";
import { ago, badge, button, card, empty, enc, h, pageHead, pill, replace, table,
  toast } from "../ui.js";

const ENVIRONMENTS = ["python", "scientific", "pytorch", "tensorflow"];

const STOPPED = "notebooks.flowyard.dev/stopped";

export function notebookState(nb) {
  const st = nb.status || {};
  const stopping = Boolean((nb.metadata.annotations || {})[STOPPED]);
  if (stopping && st.phase !== "Stopped") return "Stopping";
  if (!stopping && st.phase === "Stopped") return "Starting";
  if (st.phase) return st.phase;
  if (st.ready) return "Running";
  return "Pending";
}

const RUNNING = new Set(["Running", "Preparing", "Pending", "Starting"]);

async function act(nb, action) {
  const { namespace, name } = nb.metadata;
  try {
    await post(`${API}/namespaces/${enc(namespace)}/notebooks/${enc(name)}/${action}`);
    toast(`${action === "stop" ? "Stopping" : "Starting"} ${name}.`);
  } catch (err) { toast(err.message, "bad"); }
}

export default async function notebooks(ctx) {
  const { view, ns, me } = ctx;
  ctx.crumbs([["Notebooks", "#/notebooks"]]);
  const items = new Map();
  const list = h("div", { id: "notebooks-list" });
  const editable = me.profiles.filter((p) => p.role !== "view").map((p) => p.name);
  view.append(pageHead("Notebooks", "Jupyter servers for one user of a profile, opened " +
    "through the platform's login."), createForm(ctx, ns, editable), card(null, list));

  const render = () => {
    const rows = [...items.values()].sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
    replace(list, rows.length ? table([
      { label: "Notebook", cell: (n) => h("b", {}, n.metadata.name) },
      { label: "Profile", cell: (n) => n.metadata.namespace },
      { label: "Environment", cell: (n) => pill(n.spec?.environment || "python") },
      { label: "Resources", cell: (n) => resourcesText(n.spec?.resources) },
      { label: "State", cell: (n) => h("div", {}, badge(notebookState(n)),
        n.status?.message ? h("div", { class: "muted small clip", title: n.status.message },
          n.status.message) : null) },
      { label: "Last activity", cell: (n) => (n.status?.lastActivity ? ago(n.status.lastActivity) : "—") },
      { label: "", cls: "num", cell: (n) => {
        const mine = editable.includes(n.metadata.namespace);
        const state = notebookState(n);
        return h("span", { class: "inline-form right" },
          h("a", { class: ["btn btn-small", state === "Running" ? "btn-primary" : null],
            href: n.status?.path || `/notebook/${enc(n.metadata.namespace)}/${enc(n.metadata.name)}/`,
            target: "_blank", rel: "noopener", dataset: { open: n.metadata.name } }, "Open"),
          mine ? (RUNNING.has(state) ? button("Stop", () => act(n, "stop"), "btn btn-small")
            : button("Start", () => act(n, "start"), "btn btn-small")) : null,
          mine ? button("Delete", async () => {
            if (!window.confirm(`Delete notebook ${n.metadata.name}? Its workspace files stay.`)) return;
            try {
              await del(`${API}/namespaces/${enc(n.metadata.namespace)}/notebooks/${enc(n.metadata.name)}`);
              toast(`Deleted ${n.metadata.name}.`);
            } catch (err) { toast(err.message, "bad"); }
          }, "btn btn-small btn-danger") : null);
      } },
    ], rows, { rowAttrs: (n) => ({ dataset: { notebook: n.metadata.name, ns: n.metadata.namespace } }) })
      : empty("No notebooks yet. Create one above, or `flowyard apply -f notebook.yaml`."));
  };
  await new Promise((resolve) => {
    const stop = watch(resources("notebooks", ns), (ev) => {
      const key = `${ev.object?.metadata?.namespace}/${ev.object?.metadata?.name}`;
      if (ev.type === "ADDED" || ev.type === "MODIFIED") items.set(key, ev.object);
      else if (ev.type === "DELETED") items.delete(key);
      if (ev.type === "SYNCED") resolve();
      if (ctx.alive()) render();
    });
    ctx.onCleanup(stop);
    setTimeout(resolve, 4000);
  });
  render();
}

function resourcesText(r) {
  if (!r) return "—";
  return [r.cpu ? `${r.cpu} CPU` : null, r.memory, r.gpu ? `${r.gpu} GPU` : null]
    .filter(Boolean).join(" · ") || "—";
}

function createForm(ctx, ns, editable) {
  if (!editable.length) return null;
  const name = h("input", { placeholder: "name, e.g. explore", "aria-label": "notebook name",
    pattern: "[a-z0-9]([-a-z0-9]*[a-z0-9])?", id: "notebook-name" });
  const profile = h("select", { "aria-label": "profile", id: "notebook-profile" },
    editable.map((p) => h("option", { value: p, selected: p === ns }, p)));
  const env = h("select", { "aria-label": "environment", id: "notebook-env" },
    ENVIRONMENTS.map((e) => h("option", { value: e }, e)));
  const idle = h("input", { value: "1h", "aria-label": "idle timeout", size: 5 });
  const create = button("Create notebook", async () => {
    const n = name.value.trim();
    if (!n) return;
    const body = { apiVersion: "flowyard.dev/v1alpha1", kind: "Notebook",
      metadata: { name: n, namespace: profile.value },
      spec: { environment: env.value, idleTimeout: idle.value || "1h" } };
    try {
      await put(`${API}/namespaces/${enc(profile.value)}/notebooks/${enc(n)}`, body);
      toast(`Notebook ${n} created.`);
      name.value = "";
    } catch (err) { toast(err.message, "bad"); }
  }, "btn btn-primary");
  create.id = "create-notebook";
  return card("New notebook", h("div", { class: "inline-form" },
    h("label", { class: "field" }, "Name", name), h("label", { class: "field" }, "Profile", profile),
    h("label", { class: "field" }, "Environment", env), h("label", { class: "field" }, "Idle timeout", idle),
    h("div", { class: "field" }, h("span", {}, "\u00a0"), create)), { id: "card-new-notebook" });
}
