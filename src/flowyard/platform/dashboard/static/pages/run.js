// One run: the step graph with live states, the selected step (inputs, outputs, artifacts,
// its log following live), metrics as charts, artifacts, parameters and outputs.
import { API, followLog, get, poll, post } from "../api.js";
import { artifactRow, metricsView } from "../artifacts.js";
import { drawDag } from "../dag.js";
import { badge, button, card, duration, empty, enc, errorBox, facts, h, kvTable, link,
  pill, replace, stateClass, toast, when } from "../ui.js";

const TERMINAL = new Set(["Succeeded", "Failed", "Cancelled"]);
const STEP_DONE = new Set(["Succeeded", "Cached", "Failed", "Skipped", "Omitted", "Cancelled"]);

function nodeSub(step, iterations) {
  if (!step) return "not started";
  if (iterations.length) {
    const done = iterations.filter((s) => STEP_DONE.has(s.state)).length;
    return `${done}/${iterations.length} iterations`;
  }
  if (step.state === "Cached" || step.cache_hit) return "from cache";
  if (step.state === "Running") return `running · ${duration(step.started_at)}`;
  if (step.state === "Pending") return "pending";
  if (step.started_at) return `${step.state.toLowerCase()} · ${duration(step.started_at, step.finished_at)}`;
  return step.state.toLowerCase();
}

export default async function run(ctx) {
  const { view } = ctx;
  const runId = ctx.params[0];
  let selected = ctx.query.get("step") || null;
  let iteration = null;
  const [record, graph] = await Promise.all([
    get(`${API}/runs/${enc(runId)}`), get(`${API}/runs/${enc(runId)}/graph`)]);
  if (!ctx.alive()) return;
  ctx.crumbs([["Runs", "#/runs"], [record.pipeline_name, `#/runs?pipeline=${enc(record.pipeline_name)}`],
    [runId.slice(0, 12), `#/runs/${enc(runId)}`]]);
  let current = record;
  let steps = [];
  let artifacts = [];

  const stateBadge = h("span", { id: "run-state" });
  const actions = h("div", { class: "page-actions" });
  const summary = h("div", { id: "run-summary" });
  const panel = h("div", { class: "step-panel", id: "step-panel" });
  const metricsBox = h("div", { id: "run-metrics" });
  const artifactsBox = h("div", { id: "run-artifacts" });
  const ioBox = h("div", { id: "run-io" });

  const dag = drawDag({
    nodes: graph.nodes.map((n) => ({ id: n.name, label: n.displayName || n.name,
      sub: "not started", stack: n.loop, dashed: n.exitHandler, last: n.exitHandler,
      badge: [n.loop ? "loop" : null, n.condition ? "if" : null, n.exitHandler ? "exit" : null]
        .filter(Boolean).join(" · "), title: `${n.name} (component ${n.component})` })),
    edges: graph.edges,
  }, { onSelect: (id) => select(id), label: `graph of run ${runId}` });

  view.append(
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, record.pipeline_name, " ", stateBadge),
        h("p", { class: "sub" }, h("span", { class: "mono" }, runId), " · profile ",
          record.namespace, graph.description ? ` · ${graph.description}` : "")),
      actions),
    summary,
    h("div", { class: "grid grid-run" },
      card("Graph", [dag.el, h("div", { class: "legend-row" },
        ["Succeeded", "Running", "Cached", "Failed", "Pending", "Skipped"].map((st) =>
          h("span", {}, h("span", { class: `dotmark ${stateClass(st)}` }), st)),
        h("span", {}, "– – order only"))], { id: "card-graph" }),
      card("Step", panel, { id: "card-step" })),
    card("Metrics", metricsBox, { id: "card-metrics" }),
    h("div", { class: "grid grid-2" },
      card("Artifacts", artifactsBox, { id: "card-artifacts" }),
      card("Parameters and outputs", ioBox, { id: "card-io" })));

  // -- the selected step ------------------------------------------------------------------
  let follow = { id: null, stop: null };
  ctx.onCleanup(() => follow.stop && follow.stop());
  const logPre = h("pre", { class: "log", id: "step-log" });
  const logState = h("span", { class: "muted small", id: "log-state" });
  const stepFacts = h("div", {});

  function stepRecords(name) {
    const parent = steps.find((s) => s.id === name) || null;
    const iters = steps.filter((s) => s.name === name && s.id !== name)
      .sort((a, b) => (a.iteration ?? 0) - (b.iteration ?? 0));
    return { parent, iters };
  }

  function startLog(step) {
    if (follow.id === step.id) return;
    if (follow.stop) follow.stop();
    follow = { id: step.id, stop: null };
    logPre.textContent = "";
    replace(logState, h("span", { class: "live" }, "following"));
    follow.stop = followLog(runId, step.id, (text) => {
      const atEnd = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 8;
      logPre.append(text);
      if (atEnd) logPre.scrollTop = logPre.scrollHeight;
    }, (state) => {
      replace(logState, state ? `complete · run ${state.toLowerCase()}` : "stream closed");
      if (!logPre.textContent) logPre.textContent = "(no output)";
    });
  }

  function renderStep() {
    if (!selected) {
      replace(panel, empty("Select a step in the graph to see its inputs, outputs, artifacts and log."));
      return;
    }
    const node = graph.nodes.find((n) => n.name === selected);
    const { parent, iters } = stepRecords(selected);
    const step = (iteration !== null && iters.find((s) => s.id === iteration)) || parent;
    const head = h("h2", { id: "step-title" }, selected, step ? badge(step.state) : pill("not started"));
    const parts = [head, h("p", { class: "muted small" }, `component ${node ? node.component : "?"}`,
      node?.loop ? " · runs once per item" : "", node?.condition ? " · conditional" : "")];
    if (iters.length) {
      parts.push(h("div", { class: "iterations" },
        button("All", () => { iteration = null; renderStep(); }, "btn btn-small"),
        iters.map((s) => {
          const b = button([h("span", { class: `dotmark ${stateClass(s.state)}` }), ` ${s.id}`],
            () => { iteration = s.id; renderStep(); }, "btn btn-small");
          b.setAttribute("aria-pressed", String(iteration === s.id));
          return b;
        })));
    }
    if (!step) {
      replace(panel, ...parts, h("p", { class: "muted" }, "This step has not started yet."));
      return;
    }
    replace(stepFacts, facts([
      ["Started", when(step.started_at)], ["Finished", when(step.finished_at)],
      ["Duration", duration(step.started_at, step.finished_at)],
      ["Attempt", String(step.attempt || 1)],
      step.exit_code !== null ? ["Exit code", String(step.exit_code)] : null,
      step.cache_hit ? ["Cache", "hit"] : null,
      step.error ? ["Error", h("span", { class: "error-text" }, step.error)] : null,
    ]));
    const mine = artifacts.filter((a) => a.step_id === step.id);
    const inputs = artifacts.filter((a) => Object.values(step.input_artifacts || {}).includes(a.id));
    replace(panel, ...parts, stepFacts,
      h("h3", {}, "Inputs"), kvTable(step.inputs, "No input parameters."),
      inputs.length ? inputs.map((a) => artifactRow(a)) : null,
      h("h3", {}, "Outputs"), kvTable(step.outputs, "No output parameters."),
      mine.map((a) => artifactRow(a)),
      h("div", { class: "log-head" }, h("h3", {}, "Log"), logState),
      logPre);
    if (iters.length && iteration === null) {
      logPre.textContent = "Pick an iteration to see its log.";
      replace(logState, "");
      if (follow.stop) follow.stop();
      follow = { id: null, stop: null };
    } else {
      startLog(step);
    }
  }

  function select(id) {
    if (selected !== id) iteration = null;
    selected = id;
    dag.select(id);
    const url = new URL(window.location.href);
    url.hash = `#/runs/${enc(runId)}?step=${enc(id)}`;
    history.replaceState(null, "", url);
    renderStep();
  }

  // -- the run ----------------------------------------------------------------------------
  function renderRun() {
    replace(stateBadge, badge(current.state, current.error || undefined));
    const acts = [];
    if (!TERMINAL.has(current.state)) {
      acts.push(button("Cancel run", () => act("cancel"), "btn btn-danger"));
    } else if (current.state !== "Succeeded") {
      acts.push(button("Retry failed steps", () => act("retry"), "btn"));
    }
    acts.push(link(`#/compare/${enc(runId)}`, "Compare…"));
    replace(actions, acts);
    replace(summary, h("div", { class: "stats" },
      statBox("State", badge(current.state)),
      statBox("Created", when(current.created_at)),
      statBox("Duration", duration(current.started_at, current.finished_at)),
      statBox("Steps", `${steps.filter((s) => s.id === s.name && STEP_DONE.has(s.state)).length} / ${graph.nodes.length} done`)),
    current.error ? errorBox({ code: "Run failed", message: current.error }) : null);
    replace(ioBox, h("h3", {}, "Parameters"), kvTable(current.parameters, "No parameters."),
      h("h3", {}, "Outputs"), kvTable(current.outputs,
        TERMINAL.has(current.state) ? "No outputs." : "Outputs appear when the run finishes."),
      h("h3", {}, "Labels"), kvTable(current.labels, "No labels."));
    for (const n of graph.nodes) {
      const { parent, iters } = stepRecords(n.name);
      const st = parent ? parent.state : "";
      dag.update(n.name, { cls: parent ? stateClass(parent.state) : "muted", state: st,
        sub: nodeSub(parent, iters) });
    }
  }

  function renderArtifacts() {
    const m = metricsView(artifacts);
    replace(metricsBox, m || h("p", { class: "muted" }, "This run logged no metrics."));
    replace(artifactsBox, artifacts.length ? artifacts.map((a) => artifactRow(a))
      : h("p", { class: "muted" }, "No artifacts yet."));
  }

  async function act(action) {
    try {
      current = await post(`${API}/runs/${enc(runId)}/${action}`);
      toast(action === "cancel" ? "Cancelling the run." : "Retrying the failed steps.");
      renderRun();
      startPolling();
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  let lastDigest = "";
  let artifactCount = -1;
  async function load() {
    const [r, st] = await Promise.all([get(`${API}/runs/${enc(runId)}`),
      get(`${API}/runs/${enc(runId)}/steps`)]);
    if (!ctx.alive()) return;
    current = r;
    steps = st.items;
    const digest = JSON.stringify([r.state, r.finished_at, steps.map((s) => [s.id, s.state, s.finished_at])]);
    const changed = digest !== lastDigest;
    lastDigest = digest;
    const finishedSteps = steps.filter((s) => STEP_DONE.has(s.state)).length;
    if (changed && finishedSteps !== artifactCount) {
      artifactCount = finishedSteps;
      artifacts = (await get(`${API}/runs/${enc(runId)}/artifacts`)).items;
      renderArtifacts();
    }
    renderRun();
    if (changed) renderStep();
    else if (selected) {
      // durations of running steps move on
      const { parent } = stepRecords(selected);
      if (parent && parent.state === "Running") renderStepTimes();
    }
    if (TERMINAL.has(r.state) && stopPolling) { stopPolling(); stopPolling = null; }
  }
  function renderStepTimes() {
    const dd = stepFacts.querySelectorAll("dd");
    const { parent, iters } = stepRecords(selected);
    const step = (iteration !== null && iters.find((s) => s.id === iteration)) || parent;
    if (dd.length > 2 && step) dd[2].textContent = duration(step.started_at, step.finished_at);
  }

  let stopPolling = null;
  function startPolling() {
    if (!stopPolling) {
      stopPolling = poll(load, 1000);
      ctx.onCleanup(() => stopPolling && stopPolling());
    }
  }
  await load();
  if (selected) select(selected);
  else renderStep();
  if (!TERMINAL.has(current.state)) startPolling();
}

function statBox(label, value) {
  return h("div", { class: "stat" }, h("div", { class: "stat-label" }, label),
    h("div", { class: "stat-value small-value" }, value));
}
