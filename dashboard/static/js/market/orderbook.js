// The order book ladder: 10 asks above the spread row, 10 bids below, updated in place.
// Rows are built once; each update rewrites only changed cells and moves depth bars with
// transform: scaleX, which the compositor handles without layout.

import { bps, num, pct, price } from "../format.js";
import { el, setClassFrom, setStyle, setText } from "../dom.js";
import { compact } from "./quote.js";

export const LEVELS = 10;

/** Order size: whole numbers plainly, lots with the decimals they need, large sizes compact. */
export function sizeText(x) {
  if (typeof x !== "number" || !Number.isFinite(x)) return "—";
  const a = Math.abs(x);
  if (a >= 1e5) return compact(x);
  if (Number.isInteger(x)) return num(x, 0);
  return num(x, a < 1 ? 4 : 2);
}

function makeRow(side, level) {
  const fields = {
    price: el("span", { class: "ob-price num", "data-field": "price" }),
    size: el("span", { class: "ob-size num", "data-field": "size" }),
    total: el("span", { class: "ob-total num", "data-field": "total" }),
    notional: el("span", { class: "ob-notional num", "data-field": "notional" }),
  };
  const cumBar = el("span", { class: "ob-bar ob-bar-cum", "aria-hidden": "true" });
  const lvlBar = el("span", { class: "ob-bar ob-bar-lvl", "aria-hidden": "true" });
  const root = el(
    "div",
    { class: `ob-row ${side}-row empty`, "data-level": level, role: "row" },
    cumBar,
    lvlBar,
    fields.price,
    fields.size,
    fields.total,
    fields.notional,
  );
  return { root, fields, cumBar, lvlBar, empty: true };
}

/** Levels as [[price, size], ...] best first, cumulative size and notional added. */
export function cumulate(levels) {
  const out = [];
  let total = 0;
  for (const [p, s] of (levels || []).slice(0, LEVELS)) {
    total += s;
    out.push({ price: p, size: s, total, notional: p * s });
  }
  return out;
}

/** Create the ladder inside `parent`. Returns { setSymbol(s), book(payload), render(), stats }. */
export function createOrderBook(parent) {
  const asks = [];
  const bids = [];
  const askBox = el("div", { class: "ob-side ob-asks", role: "rowgroup" });
  const bidBox = el("div", { class: "ob-side ob-bids", role: "rowgroup" });
  // Asks are listed worst first so the best ask sits right above the spread row.
  for (let i = LEVELS; i >= 1; i -= 1) {
    const r = makeRow("ask", i);
    asks[i - 1] = r;
    askBox.append(r.root);
  }
  for (let i = 1; i <= LEVELS; i += 1) {
    const r = makeRow("bid", i);
    bids[i - 1] = r;
    bidBox.append(r.root);
  }
  const spread = {
    value: el("span", { class: "sp-value num", "data-field": "spread", text: "—" }),
    bps: el("span", { class: "sp-bps num", "data-field": "spread-bps", text: "" }),
    mid: el("span", { class: "sp-mid num", "data-field": "mid", text: "—" }),
  };
  const spreadRow = el(
    "div",
    { id: "spread-row", class: "ob-spread", role: "row" },
    spread.mid,
    el("span", { class: "sp-label", text: "Spread" }),
    spread.value,
    spread.bps,
  );
  const imb = {
    value: el("span", { id: "imbalance", class: "ob-imb-value num", text: "—" }),
    bidFill: el("span", { class: "ob-imb-bid" }),
    bidPct: el("span", { class: "ob-imb-pct bid num", text: "" }),
    askPct: el("span", { class: "ob-imb-pct ask num", text: "" }),
  };
  const imbBar = el(
    "div",
    { class: "ob-imb", title: "Bid/ask size imbalance over the top 10 levels" },
    imb.bidPct,
    el("span", { class: "ob-imb-track" }, imb.bidFill),
    imb.askPct,
  );
  const title = el("span", { class: "mv-card-title", text: "Order book" });
  const root = el(
    "div",
    { id: "orderbook", class: "mv-card orderbook", role: "table", "aria-label": "Order book" },
    el(
      "div",
      { class: "mv-card-head" },
      title,
      el("span", { class: "ob-imb-label" }, "Imb ", imb.value),
    ),
    el(
      "div",
      { class: "ob-cols", role: "row" },
      el("span", { text: "Price" }),
      el("span", { text: "Size" }),
      el("span", { text: "Total" }),
      el("span", { text: "Notional" }),
    ),
    askBox,
    spreadRow,
    bidBox,
    imbBar,
  );
  parent.append(root);

  let symbol = "";
  let pending = null;
  const stats = { imbalance: null, bestBid: null, bestAsk: null };

  function setSymbol(s) {
    symbol = s;
    pending = { bids: [], asks: [] };
  }

  function book(payload) {
    pending = payload;
  }

  function fill(rows, levels, maxTotal) {
    for (let i = 0; i < LEVELS; i += 1) {
      const r = rows[i];
      const lv = levels[i];
      if (!lv) {
        if (!r.empty) {
          r.empty = true;
          r.root.classList.add("empty");
          for (const n of Object.values(r.fields)) setText(n, "");
          setStyle(r.cumBar, "transform", "scaleX(0)");
          setStyle(r.lvlBar, "transform", "scaleX(0)");
        }
        continue;
      }
      if (r.empty) {
        r.empty = false;
        r.root.classList.remove("empty");
      }
      setText(r.fields.price, price(lv.price, symbol));
      setText(r.fields.size, sizeText(lv.size));
      setText(r.fields.total, sizeText(lv.total));
      setText(r.fields.notional, compact(lv.notional));
      setStyle(r.cumBar, "transform", `scaleX(${(lv.total / maxTotal).toFixed(4)})`);
      setStyle(r.lvlBar, "transform", `scaleX(${(lv.size / maxTotal).toFixed(4)})`);
    }
  }

  function render() {
    if (!pending) return;
    const b = cumulate(pending.bids);
    const a = cumulate(pending.asks);
    pending = null;
    const bidTotal = b.length ? b[b.length - 1].total : 0;
    const askTotal = a.length ? a[a.length - 1].total : 0;
    const maxTotal = Math.max(bidTotal, askTotal) || 1;
    fill(asks, a, maxTotal);
    fill(bids, b, maxTotal);

    stats.bestBid = b[0]?.price ?? null;
    stats.bestAsk = a[0]?.price ?? null;
    if (stats.bestBid !== null && stats.bestAsk !== null) {
      const sp = stats.bestAsk - stats.bestBid;
      const mid = (stats.bestAsk + stats.bestBid) / 2;
      setText(spread.value, price(sp, symbol));
      setText(spread.bps, bps((sp / mid) * 1e4));
      setText(spread.mid, price(mid, symbol));
      setClassFrom(spreadRow, ["crossed", "normal"], sp < 0 ? "crossed" : "normal");
    } else {
      setText(spread.value, "—");
      setText(spread.bps, "");
      setText(spread.mid, "—");
    }
    const sum = bidTotal + askTotal;
    if (sum > 0) {
      const ratio = (bidTotal - askTotal) / sum;
      stats.imbalance = ratio;
      const s = pct(ratio, 1);
      setText(imb.value, ratio > 0 ? `+${s}` : s);
      imb.value.dataset.value = ratio.toFixed(4);
      const lean = ratio > 0.05 ? "up" : ratio < -0.05 ? "down" : "flat";
      setClassFrom(imb.value, ["up", "down", "flat"], lean);
      setText(imb.bidPct, pct(bidTotal / sum, 0));
      setText(imb.askPct, pct(askTotal / sum, 0));
      setStyle(imb.bidFill, "transform", `scaleX(${(bidTotal / sum).toFixed(4)})`);
    } else {
      stats.imbalance = null;
      setText(imb.value, "—");
      setText(imb.bidPct, "");
      setText(imb.askPct, "");
      setStyle(imb.bidFill, "transform", "scaleX(0.5)");
    }
  }

  return { setSymbol, book, render, stats, root };
}
