// Small DOM helpers for the market view: element builder and write-if-changed setters.
// Writes are skipped when the value is unchanged because at 10 Hz per symbol most cells repeat,
// and an unchanged textContent write still costs a style/layout invalidation.

/** Build an element: el("div", { class: "x", "data-field": "bid" }, child, "text"). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child);
  }
  return node;
}

/** Set textContent only when it differs from the last value written through this helper. */
export function setText(node, text) {
  if (node.__vText !== text) {
    node.__vText = text;
    node.textContent = text;
  }
}

/** Replace one class of a mutually exclusive set (e.g. up/down/flat) only when it changes. */
export function setState(node, cls, choices) {
  if (node.__vState === cls) return;
  for (const c of choices) node.classList.toggle(c, c === cls);
  node.__vState = cls;
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
