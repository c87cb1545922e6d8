// Small DOM helpers: element builder, a per-frame render scheduler and cheap text/class setters.
// Every socket handler only stores data and calls schedule(); the DOM is touched at most once
// per animation frame per key, which is what keeps 1,000 events/s from causing long tasks.

const jobs = new Map();
let frameRequested = false;

function flush() {
  frameRequested = false;
  const list = Array.from(jobs.values());
  jobs.clear();
  for (const fn of list) {
    try {
      fn();
    } catch (err) {
      console.error("render failed", err);
    }
  }
}

/** Run fn on the next animation frame; a later call with the same key replaces the earlier. */
export function schedule(key, fn) {
  jobs.set(key, fn);
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(flush);
  }
}

/** Build an element: el("td", {class: "num", text: "1.00", dataset: {k: "v"}}, ...children). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Set textContent only when it changed (avoids layout invalidation on identical values). */
export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

/** Replace the classes in `group` on node with `value` (or none). */
export function setClassFrom(node, group, value) {
  if (!node) return;
  for (const c of group) if (c !== value) node.classList.remove(c);
  if (value) node.classList.add(value);
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Gauge level of a percent-of-limit value: green < 50, yellow from 50, red from 80. */
export function gaugeLevel(pct) {
  if (!(pct >= 50)) return "g-ok";
  return pct >= 80 ? "g-danger" : "g-warn";
}

/** Fill a gauge bar element (.gauge > .gauge-fill) to pct (0–100+). */
export function setGauge(gauge, pct) {
  const fill = gauge.firstElementChild;
  const v = Number.isFinite(pct) ? Math.max(0, Math.min(100, pct)) : 0;
  const w = `${v.toFixed(1)}%`;
  if (fill.style.width !== w) fill.style.width = w;
  const level = gaugeLevel(pct);
  setClassFrom(gauge, ["g-ok", "g-warn", "g-danger"], level);
  gauge.dataset.level = level.slice(2);
  gauge.setAttribute("aria-valuenow", String(Math.round(v)));
}

/** Show a transient message in the toast stack. kind: "ok" | "err" | "info". */
export function toast(message, kind = "info", ms = 5000) {
  const stack = document.getElementById("toasts");
  if (!stack) return;
  const t = el("div", { class: `toast toast-${kind}`, role: "status", text: message });
  stack.prepend(t);
  while (stack.childElementCount > 5) stack.lastElementChild.remove();
  setTimeout(() => t.remove(), ms);
}

/** Render an ack's error as "CODE: message". */
export function ackError(resp) {
  const e = (resp && resp.error) || {};
  const code = e.code || "error";
  return e.message ? `${code}: ${e.message}` : code;
}
