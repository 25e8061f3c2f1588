// The fleet page: wires the overview, the timeline, the resource panel and the change feed together.

import { follow, get, setToken, token } from "./api.js";
import { duration } from "./format.js";
import { loadOverview } from "./overview.js";
import { Panel } from "./panel.js";
import { Timeline } from "./timeline.js";

performance.mark("page-start");
const $ = (selector) => document.querySelector(selector);
const liveBadge = $("#live");

function setLive(state, text) {
  liveBadge.dataset.state = state;
  liveBadge.textContent = text || state;
}

function report(error) {
  if (error && error.status === 401) return;  // the token dialog is open
  console.warn(error);  // visible to the user in the summary line, not an error of the page itself
  $("#summary").textContent = `⚠ ${error.message}`;
}

// -- the token: asked for when the API answers 401 -------------------------------------------------------

const dialog = $("#token-dialog");
function askToken(reason) {
  $("#token-reason").textContent = reason || "This API needs a bearer token (omni-readmodel token create).";
  $("#token-input").value = token();
  if (!dialog.open) dialog.showModal();
}
$("#token-button").addEventListener("click", () => askToken("Bearer token for this API (optional when it runs without auth)."));
document.addEventListener("auth-needed", (event) => askToken(event.detail?.detail));
dialog.addEventListener("close", () => {
  if (dialog.returnValue === "save") setToken($("#token-input").value.trim());
  else if (dialog.returnValue === "clear") setToken("");
  else return;
  start();
});

// -- the pieces -------------------------------------------------------------------------------------------

const timeline = new Timeline($("#timeline"), {
  onOpen: (collection, id) => panel.open(collection, id),
  onError: report,
});
const panel = new Panel($("#panel"), { onClose: () => timeline.closed(), onError: report });

async function status() {
  try {
    const { data } = await get("../health");
    const watcher = data.watcher || {};
    const lag = watcher.lag_seconds;
    $("#revision").textContent = `revision ${watcher.head_revision ?? "–"}` + (lag == null ? "" : ` · lag ${duration(lag * 1000)}`);
    $("#revision").dataset.revision = watcher.head_revision ?? "";
    return watcher.head_revision;
  } catch (error) {
    report(error);
    return null;
  }
}

// Live: a change in the shown collection refreshes the loaded rows (debounced: one request per burst);
// a change of the open resource re-reads its versions. Without a feed (404), poll the head revision.
let feed = null;
let pending = null;
let poll = null;
const dirty = new Set();

function changed(data) {
  // any change may move a row (a MachineStatus is part of a machine): refresh once per burst
  if (data && data.collection === timeline.filters.collection) dirty.add(data.id);
  if (pending) return;
  pending = setTimeout(async () => {
    pending = null;
    const ids = [...dirty];
    dirty.clear();
    await Promise.all([timeline.refresh(), status()]);
    for (const id of ids) panel.changed(timeline.filters.collection, id);
  }, 700);
}

function startFeed(since) {
  if (feed) feed.stop();
  clearInterval(poll);
  feed = follow("events", {
    since,
    onEvent: (type, data, id) => {
      if (id) $("#revision").dataset.revision = id;
      if (type === "created" || type === "updated" || type === "destroyed") changed(data);
      else if (type === "overflow") changed(null);  // we fell behind: re-read everything
    },
    onState: (state) => {
      if (state === "live") setLive("live", "live");
      else if (state === "reconnecting") setLive("reconnecting", "feed disconnected · reconnecting…");
      else if (state === "unavailable") startPolling();
    },
  });
}

function startPolling() {
  setLive("polling", "polling (no change feed)");
  let head = null;
  clearInterval(poll);
  poll = setInterval(async () => {
    const now = await status();
    if (now !== null && head !== null && now !== head) changed(null);
    if (now !== null) head = now;
  }, 2000);
}

async function start() {
  const collections = await get("../openapi.json").then(({ data }) => {
    const parameter = data.paths["/api/v1/timeline"].get.parameters.find((p) => p.name === "collection");
    return parameter.schema.enum;
  }, () => ["machines", "clusters"]);
  timeline.setCollections(collections);
  const head = await status();
  await timeline.reload();  // first: the page's first meaningful render
  performance.mark("first-meaningful-render");
  await loadOverview($("#overview")).catch(report);
  startFeed(head);
}

timeline.pendingOpen = Boolean(timeline.selectedId);
start();
