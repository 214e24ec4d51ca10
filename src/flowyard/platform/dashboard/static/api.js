// The REST API, same origin: the session cookie authenticates; writes carry the session's
// CSRF token (X-CSRF-Token), which the server put in the logout form of the shell.

export const API = "/api/v1alpha1";

export class ApiError extends Error {
  constructor(status, body, path) {
    const err = (body && body.error) || {};
    super(err.message || `${path}: HTTP ${status}`);
    this.status = status;
    this.code = err.code || `HTTP${status}`;
    this.hint = err.hint || null;
    this.path = path;
  }
}

export function csrfToken() {
  const field = document.querySelector('form.logout input[name="csrf"]');
  return field ? field.value : "";
}

function loginExpired() {
  window.location.assign("/login");
}

async function request(method, path, body, { raw = false, signal } = {}) {
  const url = path.startsWith("/") ? path : `${API}/${path}`;
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", signal };
  if (method !== "GET" && method !== "HEAD") {
    headers["X-CSRF-Token"] = csrfToken();
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
  }
  const answer = await fetch(url, init);
  if (answer.status === 401) {
    loginExpired();
    throw new ApiError(401, null, url);
  }
  if (!answer.ok) {
    let data = null;
    try { data = await answer.json(); } catch (_) { /* not JSON */ }
    throw new ApiError(answer.status, data, url);
  }
  if (raw) return answer;
  const type = answer.headers.get("content-type") || "";
  return type.includes("json") ? answer.json() : answer.text();
}

export const get = (path, opts) => request("GET", path, undefined, opts);
export const post = (path, body) => request("POST", path, body);
export const put = (path, body) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);

/** GET that answers null on 404 (a resource that does not exist, or an API not there yet). */
export async function maybe(path) {
  try {
    return await get(path);
  } catch (err) {
    if (err.status === 404 || err.status === 405) return null;
    throw err;
  }
}

/** A resource path: namespaced when `ns` is set, across the caller's profiles otherwise. */
export function resources(plural, ns) {
  return ns ? `${API}/namespaces/${encodeURIComponent(ns)}/${plural}` : `${API}/${plural}`;
}

/** Server-sent events from a resource list (`?watch=true`): calls `onEvent({type, object})`
 * and returns a function that closes the stream. The browser reconnects by itself. */
export function watch(path, onEvent) {
  const sep = path.includes("?") ? "&" : "?";
  const source = new EventSource(`${path}${sep}watch=true`, { withCredentials: true });
  for (const type of ["ADDED", "MODIFIED", "DELETED", "SYNCED"]) {
    source.addEventListener(type, (ev) => {
      try { onEvent(JSON.parse(ev.data)); } catch (err) { console.error(err); }
    });
  }
  return () => source.close();
}

/** A step's log as it grows: `onText(chunk)` for each piece, `onEnd(state)` when the run
 * has finished and everything was read. A dropped stream is reopened at the last offset, so
 * no text is shown twice. Returns a function that stops following. */
export function followLog(runId, stepId, onText, onEnd) {
  const base = `${API}/runs/${encodeURIComponent(runId)}/steps/${encodeURIComponent(stepId)}` +
    "/log?follow=true";
  let offset = 0;
  let stopped = false;
  let source = null;
  let retries = 0;
  const open = () => {
    source = new EventSource(`${base}&offset=${offset}`, { withCredentials: true });
    source.addEventListener("log", (ev) => {
      const data = JSON.parse(ev.data);
      offset = data.offset;
      retries = 0;
      onText(data.text);
    });
    source.addEventListener("end", (ev) => {
      stopped = true;
      source.close();
      onEnd(JSON.parse(ev.data).state);
    });
    source.onerror = () => {
      source.close();
      if (stopped) return;
      if (++retries > 5) { stopped = true; onEnd(null); return; }
      setTimeout(() => { if (!stopped) open(); }, 500 * retries);
    };
  };
  open();
  return () => { stopped = true; if (source) source.close(); };
}

/** Call `fn` every `ms` (and at once unless `now` is false) while the page lives; returns a
 * stop function. Errors go to `onError` (default: the console) without stopping the loop. A
 * hidden tab polls four times slower. */
export function poll(fn, ms, { now = false, onError = (err) => console.warn(err) } = {}) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch (err) { if (!stopped) onError(err); }
    schedule();
  };
  const schedule = () => {
    if (!stopped) timer = setTimeout(tick, document.hidden ? ms * 4 : ms);
  };
  if (now) tick(); else schedule();
  return () => { stopped = true; clearTimeout(timer); };
}

/** `runs?...` for the selected profile (all of the caller's profiles when `ns` is empty). */
export function runsPath(ns, params = {}) {
  const q = new URLSearchParams();
  if (ns) q.set("namespace", ns);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, v);
  return `${API}/runs?${q}`;
}
