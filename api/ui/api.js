// The page's only door to the server: the public API, relative to the page (works behind a path prefix),
// with the bearer token the user gave (sessionStorage: this tab only).

export const API = new URL("../api/v1/", document.baseURI);
const TOKEN_KEY = "omni-readmodel-token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

export function url(path, params = {}) {
  const u = new URL(path, path.startsWith("/") || path.startsWith("..") ? document.baseURI : API);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  return u;
}

// GET JSON; a 401 asks for a token (event "auth-needed") and fails.
export async function get(path, params = {}, { signal } = {}) {
  const response = await fetch(url(path, params), { headers: headers(), signal });
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch { /* not JSON */ }
    if (response.status === 401) document.dispatchEvent(new CustomEvent("auth-needed", { detail: problem }));
    throw new ApiError(response.status, problem);
  }
  return { data: await response.json(), headers: response.headers };
}

// The change feed as server-sent events, read with fetch (EventSource cannot send Authorization).
// Reconnects with backoff, resuming from the last id; onState("live" | "reconnecting" | "unavailable").
export function follow(path, { onEvent, onState, since }) {
  let last = since == null ? null : String(since);
  let stopped = false;
  let controller = null;
  let delay = 500;

  async function once() {
    controller = new AbortController();
    const extra = { Accept: "text/event-stream" };
    if (last !== null) extra["Last-Event-ID"] = last;
    const response = await fetch(url(path), { headers: headers(extra), signal: controller.signal, cache: "no-store" });
    if (response.status === 401) document.dispatchEvent(new CustomEvent("auth-needed"));
    if (response.status === 404 || response.status === 405 || response.status === 406) return "unavailable";
    if (!response.ok || !response.body) throw new ApiError(response.status, null);
    onState("live");
    delay = 500;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = { type: "message", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "ended";
      buffer += value;
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer[newline] === "\r" && buffer[newline + 1] === "\n" ? 2 : 1));
        if (line === "") {
          if (event.id !== null) last = event.id;
          if (event.data.length) {
            let data = null;
            try { data = JSON.parse(event.data.join("\n")); } catch { /* keep null */ }
            onEvent(event.type, data, event.id);
          }
          event = { type: "message", data: [], id: null };
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event.type = text;
          else if (field === "data") event.data.push(text);
          else if (field === "id") event.id = text;
          else if (field === "retry" && /^\d+$/.test(text)) delay = Number(text);
        }
      }
    }
  }

  (async () => {
    while (!stopped) {
      let outcome;
      try {
        outcome = await once();
      } catch (error) {
        outcome = stopped ? "stopped" : "failed";
      }
      if (stopped) return;
      if (outcome === "unavailable") { onState("unavailable"); return; }
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  })();

  return {
    stop() { stopped = true; if (controller) controller.abort(); },
    get last() { return last; },
  };
}
