// Times: shown in the browser's time zone, UTC on hover (title attributes).

const local = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const localShort = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const localDay = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

export function localTime(ms) {
  return local.format(new Date(ms));
}

export function utcTime(ms) {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

export function axisLabel(ms, step) {
  const date = new Date(ms);
  if (step >= 86_400_000) return localDay.format(date);
  const midnight = date.getHours() === 0 && date.getMinutes() === 0;
  return midnight ? localDay.format(date) : localShort.format(date);
}

// a <time> element: local text, UTC in the title
export function timeElement(iso) {
  const el = document.createElement("time");
  if (!iso) { el.textContent = "–"; return el; }
  const ms = Date.parse(iso);
  el.dateTime = iso;
  el.textContent = localTime(ms);
  el.title = utcTime(ms) + " (UTC)";
  return el;
}

export function duration(ms) {
  const units = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]];
  for (const [name, size] of units) if (ms >= size) return `${Math.round(ms / size)} ${name}`;
  return `${Math.round(ms)} ms`;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k === "title" || k === "href" || k === "role" || k.startsWith("aria-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}
