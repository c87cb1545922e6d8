// The ticker strip: one button per symbol with last price and 24 h change; a click selects it.

import { pct, price } from "../format.js";
import { direction, el, flash, setClassFrom, setText } from "../dom.js";

const DIRS = ["up", "down", "flat"];

/** Signed percent of a fraction: +1.23% / -0.40% / 0.00%. */
export function signedPct(x, digits = 2) {
  const s = pct(x, digits);
  return typeof x === "number" && x > 0 ? `+${s}` : s;
}

/**
 * Create the strip inside `container`.
 * Returns { setSymbols(symbols), quote(symbol, q), trade(symbol, price), select(symbol), render() }.
 */
export function createTickerStrip(container, { onSelect }) {
  const ticks = new Map();
  const dirty = new Set();
  let selected = null;
  container.classList.add("mv-ticker");
  container.setAttribute("role", "toolbar");
  container.setAttribute("aria-label", "Symbols");

  container.addEventListener("click", (ev) => {
    const btn = ev.target.closest(".tick");
    if (btn && container.contains(btn)) onSelect(btn.dataset.symbol);
  });

  function make(symbol) {
    const nodes = {
      sym: el("span", { class: "tick-sym", text: symbol }),
      last: el("span", { class: "tick-last num", "data-field": "last", text: "—" }),
      change: el("span", { class: "tick-chg num", "data-field": "change", text: "—" }),
    };
    const root = el(
      "button",
      { type: "button", class: "tick flat", "data-symbol": symbol, "aria-pressed": "false" },
      nodes.sym,
      nodes.last,
      nodes.change,
    );
    return { root, nodes, last: null, change: null, ref: null, shown: null };
  }

  function setSymbols(symbols) {
    const same =
      symbols.length === ticks.size && symbols.every((s, i) => [...ticks.keys()][i] === s);
    if (same) return;
    ticks.clear();
    container.replaceChildren();
    for (const s of symbols) {
      const t = make(s);
      ticks.set(s, t);
      container.append(t.root);
    }
    if (selected) select(selected);
  }

  /** A quote carries last and change_pct; remember the reference price they imply. */
  function quote(symbol, q) {
    const t = ticks.get(symbol);
    if (!t || !q) return;
    if (typeof q.last === "number") t.last = q.last;
    if (typeof q.change_pct === "number") {
      t.change = q.change_pct;
      if (t.last && 1 + q.change_pct !== 0) t.ref = t.last / (1 + q.change_pct);
    }
    dirty.add(t);
  }

  /** A last-trade price between quotes; change is recomputed against the implied reference. */
  function trade(symbol, px) {
    const t = ticks.get(symbol);
    if (!t || typeof px !== "number") return;
    t.last = px;
    if (t.ref) t.change = px / t.ref - 1;
    dirty.add(t);
  }

  function select(symbol) {
    selected = symbol;
    for (const [s, t] of ticks) {
      const on = s === symbol;
      t.root.classList.toggle("selected", on);
      t.root.setAttribute("aria-pressed", on ? "true" : "false");
    }
  }

  function render() {
    for (const t of dirty) {
      const sym = t.root.dataset.symbol;
      if (t.last !== null) setText(t.nodes.last, price(t.last, sym));
      if (t.change !== null) setText(t.nodes.change, signedPct(t.change));
      setClassFrom(t.root, DIRS, direction(t.change ?? 0));
      if (t.shown !== null && t.last !== t.shown) flash(t.nodes.last, direction(t.last - t.shown));
      t.shown = t.last;
    }
    dirty.clear();
  }

  return { setSymbols, quote, trade, select, render, symbols: () => [...ticks.keys()] };
}
