// The overview: machines (total / connected / ready), clusters with phase and health, Talos and Kubernetes
// version distributions and the machine count over time, all from the public API (timeline counts,
// cluster statuses, reports).

import { get } from "./api.js";
import { el, svg } from "./format.js";

const MAX_CLUSTERS = 50;

function figures(box, pairs) {
  box.replaceChildren(...pairs.map(([label, value, state]) =>
    el("div", { class: "figure", "data-figure": label, "data-state": state },
      el("strong", { text: value == null ? "–" : Number(value).toLocaleString() }), el("span", { text: label }))));
}

function bars(box, counts) {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  const most = Math.max(1, ...entries.map(([, n]) => n));
  box.replaceChildren(...(entries.length ? entries.map(([name, n]) =>
    el("div", { class: "hbar", title: `${name || "(none)"}: ${n}` },
      el("span", { class: "hbar-label", text: name || "(none)" }),
      el("span", { class: "hbar-track" }, Object.assign(el("i"), { style: `width:${(n / most * 100).toFixed(1)}%` })),
      el("span", { class: "hbar-value", text: n.toLocaleString() })))
    : [el("p", { class: "muted", text: "no data" })]));
}

function chart(box, rows) {
  const width = 600, height = 120, pad = 24;
  const graph = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "count-chart", role: "img",
    "aria-label": "machines and connected machines per day" });
  if (!rows.length) { box.replaceChildren(el("p", { class: "muted", text: "no history yet" })); return; }
  const most = Math.max(1, ...rows.map((r) => r.machines));
  const x = (i) => pad + (rows.length === 1 ? (width - 2 * pad) / 2 : i / (rows.length - 1) * (width - 2 * pad));
  const y = (v) => height - pad - v / most * (height - 2 * pad);
  for (const [key, cls] of [["machines", "line-total"], ["connected", "line-connected"]]) {
    const points = rows.map((r, i) => `${x(i).toFixed(1)},${y(r[key]).toFixed(1)}`).join(" ");
    graph.append(svg("polyline", { points, class: cls }));
    rows.forEach((r, i) => {
      const dot = svg("circle", { cx: x(i), cy: y(r[key]), r: 2.5, class: cls });
      const title = svg("title");
      title.textContent = `${r.day}: ${r[key]} ${key}`;
      dot.append(title);
      graph.append(dot);
    });
  }
  const label = (text, xx, anchor) => { const t = svg("text", { x: xx, y: height - 6, class: "axis-label", "text-anchor": anchor }); t.textContent = text; return t; };
  graph.append(label(rows[0].day, pad, "start"), label(rows[rows.length - 1].day, width - pad, "end"));
  const top = svg("text", { x: 2, y: 12, class: "axis-label" });
  top.textContent = String(most);
  graph.append(top);
  box.replaceChildren(graph, el("div", { class: "chart-keys" },
    el("span", { class: "key" }, el("i", { class: "swatch line-total" }), "machines"),
    el("span", { class: "key" }, el("i", { class: "swatch line-connected" }), "connected")));
}

function lastDay(rows, key) {
  const day = rows.reduce((latest, r) => (r.day > latest ? r.day : latest), "");
  const counts = {};
  for (const r of rows) if (r.day === day) counts[r[key]] = (counts[r[key]] || 0) + r.machines;
  return counts;
}

export async function loadOverview(root) {
  const card = (id, selector) => root.querySelector(`#${id} ${selector}`);
  const timeline = (collection) => get("timeline", { collection, from: "1h", buckets: 1, limit: MAX_CLUSTERS });
  const tasks = [
    Promise.all([timeline("machines"), timeline("clustermachines")]).then(([{ data: machines }, { data: members }]) => {
      const connected = machines.current.connected + (machines.current.maintenance || 0);
      const live = Object.values(machines.current).reduce((a, b) => a + b, 0);
      figures(card("card-machines", ".figures"), [["total", live], ["connected", connected, "connected"],
        ["disconnected", machines.current.disconnected, "disconnected"], ["ready in clusters", members.current.ready, "ready"],
        ["not ready", members.current["not-ready"], "not-ready"]]);
    }),
    timeline("clusters").then(async ({ data }) => {
      const live = Object.values(data.current).reduce((a, b) => a + b, 0);
      figures(card("card-clusters", ".figures"), [["total", live], ["ready", data.current.ready, "ready"],
        ["not ready", live - data.current.ready, "not-ready"]]);
      const rows = data.rows.filter((r) => r.state !== null);
      const statuses = await Promise.all(rows.map((r) => get(`clusters/${encodeURIComponent(r.id)}/status`).then((x) => x.data, () => null)));
      const docs = await get("clusters", { limit: MAX_CLUSTERS }).then((x) => x.data, () => []);
      const byId = Object.fromEntries(docs.map((d) => [d.id, d]));
      root.querySelector("#cluster-table tbody").replaceChildren(...rows.map((r, i) => {
        const status = statuses[i], doc = byId[r.id] || {};
        const machines = status?.machines ? `${status.machines.healthy ?? 0} healthy / ${status.machines.total ?? 0}` : "–";
        return el("tr", { "data-cluster": r.id },
          el("td", { text: r.id }), el("td", {}, el("span", { class: "pill", "data-state": r.state, text: r.state })),
          el("td", { text: machines }), el("td", { text: doc.talos_version || "–" }), el("td", { text: doc.kubernetes_version || "–" }));
      }));
    }),
    // one report at a time: a worker runs only a couple at once (429 beyond)
    (async () => {
      const talos = await get("reports/talos-versions", { since: "1d" });
      bars(card("card-talos", ".bars"), lastDay(talos.data, "talos_version"));
      const kubernetes = await get("reports/kubernetes-versions", { since: "1d" });
      bars(card("card-kubernetes", ".bars"), lastDay(kubernetes.data, "kubernetes_version"));
      const count = await get("reports/machine-count", { since: "30d" });
      chart(card("card-count", ".chart"), count.data);
    })(),
  ];
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}
