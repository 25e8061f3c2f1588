// The resource panel: its versions (from <collection>/<id>/history) and a diff between any two of them,
// side by side (from the two versions' documents) or as the JSON Patch <collection>/<id>/diff answers.

import { get, url } from "./api.js";
import { el, timeElement } from "./format.js";

export class Panel {
  constructor(root, { onClose, onError }) {
    this.root = root;
    this.onClose = onClose;
    this.onError = onError;
    this.body = root.querySelector("#panel-versions");
    this.diffBox = root.querySelector("#diff");
    root.querySelector("#panel-close").addEventListener("click", () => this.close());
    for (const input of root.querySelectorAll("input[name=diff-mode]")) input.addEventListener("change", () => this.diff());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.root.hidden) this.close();
    });
  }

  close() {
    this.root.hidden = true;
    this.key = null;
    this.onClose();
  }

  itemPath(collection, id) {
    return `${collection}/${encodeURIComponent(id)}`;
  }

  async open(collection, id) {
    this.key = `${collection}/${id}`;
    this.collection = collection;
    this.id = id;
    this.root.hidden = false;
    this.root.dataset.id = id;
    this.root.querySelector("#panel-title").textContent = id;
    const raw = url(this.itemPath(collection, id) + "/history");
    this.root.querySelector("#panel-raw").href = raw.href;
    await this.load(true);
  }

  // live: re-read the versions when the open resource changed
  async changed(collection, id) {
    if (!this.root.hidden && this.collection === collection && this.id === id) await this.load(false);
  }

  async load(reset) {
    const key = this.key;
    this.root.querySelector("#panel-summary").textContent = "loading…";
    let versions;
    try {
      ({ data: versions } = await get(this.itemPath(this.collection, this.id) + "/history", { limit: 100 }));
    } catch (error) {
      this.root.querySelector("#panel-summary").textContent = error.message;
      this.body.replaceChildren();
      this.diffBox.replaceChildren();
      return;
    }
    if (key !== this.key) return;
    this.versions = versions;  // newest first
    const newest = versions[0]?.revision, older = versions[1]?.revision ?? newest;
    if (reset || !versions.some((v) => v.revision === this.from)) this.from = older;
    if (reset || this.to === this.previousNewest || !versions.some((v) => v.revision === this.to)) this.to = newest;
    this.previousNewest = newest;
    this.root.querySelector("#panel-summary").textContent =
      `${versions.length}${versions.length === 100 ? "+" : ""} version${versions.length === 1 ? "" : "s"} (newest first); pick two to compare`;
    this.root.dataset.versions = versions.length;
    this.body.replaceChildren(...versions.map((v) => this.versionRow(v)));
    await this.diff();
  }

  versionRow(v) {
    const radio = (name) => {
      const input = el("input", { type: "radio", name: `diff-${name}`, value: v.revision, checked: this[name] === v.revision,
        "aria-label": `${name} revision ${v.revision}` });
      input.addEventListener("change", () => { this[name] = v.revision; this.diff(); });
      return el("td", {}, input);
    };
    const at = url(this.itemPath(this.collection, this.id), { at: v.revision });
    return el("tr", { "data-revision": v.revision, "data-event": v.event, class: `event-${v.event}` },
      radio("from"), radio("to"),
      el("td", {}, el("a", { href: at.href, target: "_blank", rel: "noopener", text: String(v.revision), title: "the document at this revision" })),
      el("td", { text: v.event }), el("td", { text: v.version ?? "" }), el("td", {}, timeElement(v.observed_at)));
  }

  async diff() {
    if (!this.versions || this.from == null || this.to == null) { this.diffBox.replaceChildren(); return; }
    const mode = this.root.querySelector("input[name=diff-mode]:checked").value;
    const [from, to] = [this.from, this.to];
    this.root.querySelector("#diff-title").textContent = `revision ${from} → ${to}`;
    const key = this.key;
    if (mode === "patch") {
      try {
        const { data: patch } = await get(this.itemPath(this.collection, this.id) + "/diff", { from, to });
        if (key !== this.key) return;
        const pre = el("pre", { class: "patch", "data-from": from, "data-to": to, text: JSON.stringify(patch, null, 2) });
        this.diffBox.replaceChildren(patch.length ? pre : el("p", { class: "muted", text: "no difference" }));
        this.diffBox.dataset.patch = JSON.stringify(patch);
      } catch (error) {
        this.diffBox.replaceChildren(el("p", { class: "error", text: error.message }));
      }
      return;
    }
    const documentAt = (revision) => this.versions.find((v) => v.revision === revision)?.document ?? null;
    this.diffBox.replaceChildren(sideBySide(pretty(documentAt(from)), pretty(documentAt(to))));
    this.diffBox.dataset.patch = "";
  }
}

function pretty(doc) {
  return doc == null ? [] : JSON.stringify(doc, null, 2).split("\n");
}

// A line diff (longest common subsequence; documents are a few hundred lines at most).
function lineDiff(a, b) {
  const n = a.length, m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
    lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out.push(["same", a[i], b[j]]); i++; j++; }
    else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) { out.push(["add", null, b[j]]); j++; }
    else { out.push(["del", a[i], null]); i++; }
  }
  return out;
}

function sideBySide(a, b) {
  const table = el("table", { class: "side" });
  const body = el("tbody");
  for (const [kind, left, right] of lineDiff(a, b)) {
    body.append(el("tr", { class: kind },
      el("td", { class: left === null ? "blank" : kind === "del" ? "del" : "", text: left ?? "" }),
      el("td", { class: right === null ? "blank" : kind === "add" ? "add" : "", text: right ?? "" })));
  }
  table.append(body);
  if (!a.length && !b.length) return el("p", { class: "muted", text: "no document" });
  return table;
}
