// The page's DOM helpers: element builder and write-if-changed setters (text, class, style).
// Every socket handler only stores data and calls schedule() (scheduler.js, re-exported here);
// the DOM is touched at most once per frame per key, and writes are skipped when the value is
// unchanged because an identical textContent or class write still invalidates style/layout.

export { schedule } from "./scheduler.js";

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

/** Replace the classes in `group` on node with `value` (or none), only when it changes. */
export function setClassFrom(node, group, value) {
  if (!node) return;
  if (node.__vClass === value && (!value || node.classList.contains(value))) return;
  for (const c of group) if (c !== value) node.classList.remove(c);
  if (value) node.classList.add(value);
  node.__vClass = value;
}

/** Set an inline style property only when it changes (CSP allows element.style from JS). */
export function setStyle(node, prop, value) {
  const key = `__vStyle_${prop}`;
  if (node[key] !== value) {
    node[key] = value;
    node.style.setProperty(prop, value);
  }
}

/** Direction of a change as a CSS state name. */
export function direction(x) {
  if (typeof x !== "number" || !Number.isFinite(x) || x === 0) return "flat";
  return x > 0 ? "up" : "down";
}

/**
 * Restart a one-shot flash animation without forcing a reflow: alternate between two class
 * names so the browser sees a new animation each time.
 */
export function flash(node, dir) {
  if (dir === "flat") return;
  const n = (node.__vFlash = (node.__vFlash || 0) + 1) % 2;
  node.classList.remove("flash-up-0", "flash-up-1", "flash-down-0", "flash-down-1");
  node.classList.add(`flash-${dir}-${n}`);
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
