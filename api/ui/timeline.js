// The timeline: one row per resource, its state over time as colored runs (from /api/v1/timeline, which
// folds the history into buckets server-side), a tick per version. Rows are virtualized: only the visible
// ones are in the DOM, pages of rows are fetched as the list scrolls.

import { get } from "./api.js";
import { axisLabel, el, localTime, svg, utcTime } from "./format.js";

const ROW_HEIGHT = 26;
const PAGE = 40;  // rows per request: two screenfuls (the server's cost grows with rows x versions)
const PRESETS = { "1h": 3_600_000, "6h": 21_600_000, "1d": 86_400_000, "7d": 604_800_000, "30d": 2_592_000_000, "90d": 7_776_000_000 };
const STEPS = [60e3, 300e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3, 14 * 86400e3, 30 * 86400e3];
const FILTERS = ["collection", "cluster", "selector", "q", "sort"];

export class Timeline {
  constructor(root, { onOpen, onError }) {
    this.root = root;
    this.onOpen = onOpen;
    this.onError = onError;
    this.rowsBox = root.querySelector("#rows");
    this.spacer = root.querySelector("#spacer");
    this.axis = root.querySelector("#axis");
    this.legend = root.querySelector("#legend");
    this.summary = root.querySelector("#summary");
    this.hover = root.querySelector("#hover");
    this.form = root.querySelector("#filters");
    this.rows = [];
    this.cursors = [null];
    this.total = 0;
    this.next = null;
    this.states = [];
    this.selected = -1;
    this.generation = 0;
    this.firstRender = null;
    this.readUrl();
    this.bind();
  }

  // -- the URL is the state: filters and the time range are shareable ---------------------------------

  readUrl() {
    const q = new URLSearchParams(location.search);
    this.filters = Object.fromEntries(FILTERS.map((name) => [name, q.get(name) || ""]));
    this.filters.collection ||= "machines";
    this.filters.sort ||= "name";
    const from = q.get("from"), to = q.get("to");
    if (from && to && !isNaN(Date.parse(from)) && !isNaN(Date.parse(to)) && Date.parse(from) < Date.parse(to)) {
      this.range = { preset: null, from: Date.parse(from), to: Date.parse(to) };
    } else {
      this.range = { preset: PRESETS[q.get("range")] ? q.get("range") : "1h" };
    }
    this.selectedId = q.get("resource") || null;
  }

  writeUrl() {
    const q = new URLSearchParams();
    for (const name of FILTERS) if (this.filters[name] && !(name === "sort" && this.filters.sort === "name")) q.set(name, this.filters[name]);
    if (this.range.preset) q.set("range", this.range.preset);
    else { q.set("from", new Date(this.range.from).toISOString()); q.set("to", new Date(this.range.to).toISOString()); }
    if (this.selectedId) q.set("resource", this.selectedId);
    history.replaceState(null, "", "?" + q.toString());
  }

  setCollections(names) {
    const select = this.form.querySelector("#f-collection");
    select.replaceChildren(...names.map((name) => el("option", { value: name, text: name })));
    for (const name of FILTERS) this.form.elements[name].value = this.filters[name];
  }

  bind() {
    let typing = null;
    this.form.addEventListener("input", (event) => {
      const name = event.target.name;
      if (!FILTERS.includes(name)) return;
      this.filters[name] = event.target.value.trim();
      clearTimeout(typing);
      typing = setTimeout(() => this.reload(), event.target.tagName === "SELECT" ? 0 : 350);
    });
    this.form.addEventListener("submit", (event) => event.preventDefault());
    for (const button of this.form.querySelectorAll("[data-preset]")) {
      button.addEventListener("click", () => { this.range = { preset: button.dataset.preset }; this.reload(); });
    }
    this.form.querySelector("#zoom-in").addEventListener("click", () => this.zoom(0.5));
    this.form.querySelector("#zoom-out").addEventListener("click", () => this.zoom(2));
    this.form.querySelector("#follow").addEventListener("click", () => { this.range = { preset: this.range.preset || "1h" }; this.reload(); });
    this.rowsBox.addEventListener("scroll", () => { this.render(); this.maybeMore(); }, { passive: true });
    this.rowsBox.addEventListener("keydown", (event) => this.key(event));
    this.rowsBox.addEventListener("wheel", (event) => {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      this.zoom(event.deltaY < 0 ? 0.5 : 2, this.timeAt(event.clientX));
    }, { passive: false });
    this.bindDrag();
    this.rowsBox.addEventListener("mousemove", (event) => this.showHover(event));
    this.rowsBox.addEventListener("mouseleave", () => { this.hover.hidden = true; });
    new ResizeObserver(() => { if (this.window) { this.drawAxis(); this.render(true); } }).observe(this.rowsBox);
  }

  bindDrag() {
    let start = null;
    this.rowsBox.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      start = { x: event.clientX, y: event.clientY, window: this.window };
    });
    this.rowsBox.addEventListener("pointermove", (event) => {
      if (!start || Math.abs(event.clientX - start.x) < 5) return;
      this.rowsBox.classList.add("dragging");
      for (const track of this.rowsBox.querySelectorAll("svg.track")) track.style.transform = `translateX(${event.clientX - start.x}px)`;
    });
    this.rowsBox.addEventListener("pointerup", (event) => {
      if (!start) return;
      const dx = event.clientX - start.x;
      const origin = start;
      start = null;
      this.rowsBox.classList.remove("dragging");
      if (Math.abs(dx) < 5) {
        const row = event.target.closest(".row");
        if (row) this.open(Number(row.dataset.index));
        return;
      }
      const span = origin.window.to - origin.window.from;
      const shift = -dx / this.trackWidth() * span;
      this.range = { preset: null, from: origin.window.from + shift, to: origin.window.to + shift };
      this.reload();
    });
  }

  key(event) {
    const keys = {
      ArrowDown: () => this.select(this.selected + 1),
      ArrowUp: () => this.select(this.selected - 1),
      PageDown: () => this.select(this.selected + 10),
      PageUp: () => this.select(this.selected - 10),
      Home: () => this.select(0),
      End: () => this.select(this.rows.length - 1),
      Enter: () => this.open(this.selected),
      ArrowLeft: () => this.pan(-0.25),
      ArrowRight: () => this.pan(0.25),
      "+": () => this.zoom(0.5),
      "=": () => this.zoom(0.5),
      "-": () => this.zoom(2),
    };
    const action = keys[event.key];
    if (action) { event.preventDefault(); action(); }
  }

  select(index) {
    if (!this.rows.length) return;
    this.selected = Math.max(0, Math.min(this.rows.length - 1, index));
    const top = this.selected * ROW_HEIGHT;
    const box = this.rowsBox;
    if (top < box.scrollTop) box.scrollTop = top;
    else if (top + ROW_HEIGHT > box.scrollTop + box.clientHeight) box.scrollTop = top + ROW_HEIGHT - box.clientHeight;
    this.render(true);
  }

  open(index) {
    const row = this.rows[index];
    if (!row) return;
    this.selected = index;
    this.selectedId = row.id;
    this.writeUrl();
    this.render(true);
    this.onOpen(this.filters.collection, row.id);
  }

  closed() {
    this.selectedId = null;
    this.writeUrl();
  }

  zoom(factor, around) {
    if (!this.window) return;
    const center = around ?? (this.window.from + this.window.to) / 2;
    const span = Math.max(60_000, Math.min(PRESETS["90d"] * 4, (this.window.to - this.window.from) * factor));
    const ratio = (center - this.window.from) / (this.window.to - this.window.from);
    let from = center - span * ratio;
    let to = from + span;
    if (to > Date.now()) { to = Date.now(); from = to - span; }
    this.range = { preset: null, from, to };
    this.reload();
  }

  pan(fraction) {
    if (!this.window) return;
    const shift = (this.window.to - this.window.from) * fraction;
    this.range = { preset: null, from: this.window.from + shift, to: this.window.to + shift };
    this.reload();
  }

  // -- data -------------------------------------------------------------------------------------------

  trackWidth() {
    return Math.max(60, this.rowsBox.clientWidth - this.labelWidth() - 8);
  }

  labelWidth() {
    return this.rowsBox.clientWidth < 600 ? 110 : 230;
  }

  buckets() {
    return Math.max(20, Math.min(1000, Math.floor(this.trackWidth() / 2)));
  }

  params(limit, cursor) {
    const p = { ...this.filters, buckets: this.buckets(), limit, cursor };
    if (p.sort === "name") delete p.sort;
    if (this.range.preset) p.from = this.range.preset;
    else { p.from = new Date(this.range.from).toISOString().replace(".000Z", "Z"); p.to = new Date(this.range.to).toISOString().replace(".000Z", "Z"); }
    return p;
  }

  async reload() {
    this.writeUrl();
    this.markPresets();
    const generation = ++this.generation;
    this.summary.textContent = "loading…";
    try {
      const { data } = await get("timeline", this.params(PAGE));
      if (generation !== this.generation) return;
      this.cursors = [null];  // the cursor each loaded page was read with (live refreshes re-read pages)
      this.accept(data, 0, true);
    } catch (error) {
      if (generation === this.generation) { this.summary.textContent = ""; this.onError(error); }
    }
  }

  // live: re-read the pages of rows on screen (with the cursors they were read with), keeping the scroll
  async refresh() {
    if (this.busy || !this.window) return;
    this.busy = true;
    const generation = this.generation;
    const box = this.rowsBox;
    const first = Math.floor(Math.floor(box.scrollTop / ROW_HEIGHT) / PAGE);
    const last = Math.floor(Math.min(this.rows.length - 1, Math.ceil((box.scrollTop + box.clientHeight) / ROW_HEIGHT)) / PAGE);
    try {
      for (let page = Math.max(0, first); page <= Math.max(first, last) && page < this.cursors.length; page++) {
        const { data } = await get("timeline", this.params(PAGE, this.cursors[page]));
        if (generation !== this.generation) return;
        this.accept(data, page);
      }
    } catch (error) {
      this.onError(error);
    } finally {
      this.busy = false;
    }
  }

  async maybeMore() {
    if (!this.next || this.loadingMore) return;
    const visibleEnd = (this.rowsBox.scrollTop + this.rowsBox.clientHeight) / ROW_HEIGHT;
    if (visibleEnd < this.rows.length - 20) return;
    this.loadingMore = true;
    const generation = this.generation;
    try {
      const cursor = this.next;
      const { data } = await get("timeline", this.params(PAGE, cursor));
      if (generation === this.generation && cursor === this.next) {
        this.cursors.push(cursor);
        this.accept(data, this.cursors.length - 1);
      }
    } catch (error) {
      this.onError(error);
    } finally {
      this.loadingMore = false;
    }
  }

  // a page of rows: after a reload it replaces everything, else it replaces rows k*PAGE.. (or appends them)
  accept(data, page, reset = false) {
    this.window = { from: Date.parse(data.from), to: Date.parse(data.to), buckets: data.buckets };
    this.revision = data.revision;
    this.states = data.states;
    if (reset) this.rows = data.rows.slice();
    else this.rows.splice(page * PAGE, data.rows.length, ...data.rows);
    this.total = data.total;
    if (page === this.cursors.length - 1) this.next = data.next;
    this.current = data.current;
    if (this.selectedId) this.selected = this.rows.findIndex((row) => row.id === this.selectedId);
    this.spacer.style.height = `${this.total * ROW_HEIGHT}px`;
    this.drawLegend();
    this.drawAxis();
    this.render(true);
    const shown = this.total === 1 ? "1 resource" : `${this.total.toLocaleString()} resources`;
    this.summary.textContent = `${shown} · ${localTime(this.window.from)} → ${localTime(this.window.to)} · revision ${data.revision}`;
    this.root.dataset.revision = data.revision;
    this.root.dataset.total = data.total;
    if (this.firstRender === null) {
      performance.mark("timeline-rendered");
      this.firstRender = performance.now();
    }
    if (this.pendingOpen && this.selected >= 0) { this.pendingOpen = false; this.open(this.selected); }
  }

  // -- drawing ----------------------------------------------------------------------------------------

  markPresets() {
    for (const button of this.form.querySelectorAll("[data-preset]")) {
      button.setAttribute("aria-pressed", String(button.dataset.preset === this.range.preset));
    }
  }

  drawLegend() {
    this.legend.replaceChildren(...this.states.map((state, i) => el("span", { class: "key", "data-state": state },
      el("i", { class: `swatch s${i}` }), `${state}${this.current && this.current[state] != null ? ` (${this.current[state]} now)` : ""}`)),
    el("span", { class: "key" }, el("i", { class: "swatch tick-key" }), "version"),
    el("span", { class: "key" }, el("i", { class: "swatch gone" }), "not present"));
  }

  drawAxis() {
    if (!this.window) return;
    const width = this.trackWidth();
    const { from, to } = this.window;
    const span = to - from;
    const step = STEPS.find((s) => span / s <= width / 90) || STEPS[STEPS.length - 1];
    const offset = new Date(from).getTimezoneOffset() * 60_000;  // align ticks to local midnights/hours
    const first = Math.ceil((from - offset) / step) * step + offset;
    const box = svg("svg", { width, height: 22, class: "axis-svg" });
    for (let t = first; t <= to; t += step) {
      const x = (t - from) / span * width;
      box.append(svg("line", { x1: x, x2: x, y1: 14, y2: 22, class: "axis-tick" }));
      const label = svg("text", { x: x + 2, y: 11, class: "axis-label" });
      label.textContent = axisLabel(t, step);
      const title = svg("title");
      title.textContent = utcTime(t);
      label.append(title);
      box.append(label);
    }
    this.axis.style.paddingLeft = `${this.labelWidth()}px`;
    this.axis.replaceChildren(box);
  }

  render(force = false) {
    if (!this.window) return;
    const box = this.rowsBox;
    const first = Math.max(0, Math.floor(box.scrollTop / ROW_HEIGHT) - 5);
    const last = Math.min(this.rows.length, Math.ceil((box.scrollTop + box.clientHeight) / ROW_HEIGHT) + 5);
    if (!force && this.drawn && this.drawn[0] === first && this.drawn[1] === last) return;
    this.drawn = [first, last];
    const nodes = [];
    for (let i = first; i < last; i++) nodes.push(this.rowNode(this.rows[i], i));
    if (!this.rows.length) nodes.push(el("p", { class: "empty muted", text: "No resource matches these filters in this time range." }));
    box.replaceChildren(this.spacer, ...nodes);
  }

  rowNode(row, index) {
    const width = this.trackWidth();
    const scale = width / this.window.buckets;
    const track = svg("svg", { class: "track", width, height: ROW_HEIGHT - 8, "aria-hidden": "true" });
    for (const [start, end, state] of row.segments) {
      track.append(svg("rect", { x: start * scale, y: 3, width: Math.max(1, (end - start) * scale), height: ROW_HEIGHT - 14,
        class: `seg s${state}`, "data-state": this.states[state], "data-from": start, "data-to": end }));
    }
    for (const [bucket, count] of row.ticks) {
      const x = (bucket + 0.5) * scale;
      track.append(svg("line", { x1: x, x2: x, y1: 0, y2: ROW_HEIGHT - 8, class: "tick", "data-count": count }));
    }
    const node = el("div", {
      class: "row" + (index === this.selected ? " selected" : "") + (row.destroyed ? " destroyed" : ""),
      role: "option", "aria-selected": String(index === this.selected), "data-id": row.id, "data-index": index,
      "data-changes": row.changes, "data-state": row.state ?? "gone",
    }, el("span", { class: "name", title: row.id, text: row.id }), track);
    node.style.top = `${index * ROW_HEIGHT}px`;
    node.style.height = `${ROW_HEIGHT}px`;
    node.querySelector(".name").style.width = `${this.labelWidth()}px`;
    return node;
  }

  timeAt(clientX) {
    const rect = this.rowsBox.getBoundingClientRect();
    const x = clientX - rect.left - this.labelWidth();
    return this.window.from + x / this.trackWidth() * (this.window.to - this.window.from);
  }

  showHover(event) {
    const rowNode = event.target.closest(".row");
    if (!rowNode || !this.window) { this.hover.hidden = true; return; }
    const t = this.timeAt(event.clientX);
    if (t < this.window.from || t > this.window.to) { this.hover.hidden = true; return; }
    const row = this.rows[Number(rowNode.dataset.index)];
    const bucket = Math.floor((t - this.window.from) / (this.window.to - this.window.from) * this.window.buckets);
    const segment = row.segments.find(([a, b]) => a <= bucket && bucket < b);
    const ticks = row.ticks.find(([b]) => b === bucket);
    this.hover.replaceChildren(
      el("strong", { text: row.id }), el("br"),
      `${localTime(t)} · ${utcTime(t)}`, el("br"),
      segment ? `state: ${this.states[segment[2]]}` : "not present",
      ticks ? ` · ${ticks[1]} version${ticks[1] > 1 ? "s" : ""}` : "");
    this.hover.hidden = false;
    const box = this.root.getBoundingClientRect();
    this.hover.style.left = `${Math.min(event.clientX - box.left + 12, box.width - 260)}px`;
    this.hover.style.top = `${event.clientY - box.top + 14}px`;
  }
}
