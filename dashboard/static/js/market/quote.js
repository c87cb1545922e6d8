// The quote widget for the selected symbol: last, change, bid/ask with sizes, spread, day range.

import { bps, num, price } from "../format.js";
import { direction, el, flash, setClassFrom, setStyle, setText } from "../dom.js";
import { signedPct } from "./ticker.js";

const DIRS = ["up", "down", "flat"];

/** Compact volume: 950 → "950", 12 345 → "12.35K", 3.2e6 → "3.20M"; small lots keep decimals. */
export function compact(x) {
  if (typeof x !== "number" || !Number.isFinite(x)) return "—";
  const a = Math.abs(x);
  if (a >= 1e9) return `${num(x / 1e9, 2)}B`;
  if (a >= 1e6) return `${num(x / 1e6, 2)}M`;
  if (a >= 1e4) return `${num(x / 1e3, 2)}K`;
  if (a >= 100) return num(x, 0);
  if (a >= 1) return num(x, 2);
  return num(x, 4);
}

function cell(label, field, extraClass = "") {
  const value = el("span", { class: `qv num ${extraClass}`, "data-field": field, text: "—" });
  const box = el(
    "div",
    { class: `qcell q-${field}` },
    el("span", { class: "ql", text: label }),
    value,
  );
  return { box, value };
}

/** Create the widget inside `parent`: { setSymbol(s), quote(q), trade(px), funding(f), render() }. */
export function createQuoteWidget(parent) {
  const f = {};
  const head = {
    symbol: el("span", { class: "qw-symbol", text: "—" }),
    last: el("span", { class: "qw-last num", "data-field": "last", text: "—" }),
    change: el("span", { class: "qw-change num", "data-field": "change", text: "—" }),
  };
  const cells = [
    ["Bid", "bid", "bid"],
    ["Ask", "ask", "ask"],
    ["Bid size", "bid-size", ""],
    ["Ask size", "ask-size", ""],
    ["Spread", "spread", ""],
    ["Spread bps", "spread-bps", ""],
    ["24h High", "high", ""],
    ["24h Low", "low", ""],
    ["24h Volume", "volume", ""],
    ["Mid", "mid", ""],
    ["Funding", "funding", ""],
    ["Next funding", "funding-next", ""],
  ].map(([label, field, cls]) => {
    const c = cell(label, field, cls);
    f[field] = c.value;
    return c.box;
  });
  const rangeFill = el("span", { class: "qw-range-marker" });
  const range = el(
    "div",
    { class: "qw-range", title: "Position of last price in the 24 h range" },
    el("span", { class: "qw-range-track" }, rangeFill),
  );
  const root = el(
    "div",
    { id: "quote-widget", class: "mv-card quote-widget flat", "aria-live": "off" },
    el(
      "div",
      { class: "qw-head" },
      head.symbol,
      el("div", { class: "qw-px" }, head.last, head.change),
    ),
    range,
    el("div", { class: "qw-grid" }, ...cells),
  );
  parent.append(root);

  let symbol = "";
  let q = null;
  let last = null;
  let ref = null;
  let shownLast = null;
  let dirty = false;

  function setSymbol(s) {
    symbol = s;
    q = null;
    last = null;
    ref = null;
    shownLast = null;
    setText(head.symbol, s || "—");
    for (const node of [head.last, head.change, ...Object.values(f)]) setText(node, "—");
    dirty = true;
  }

  function quote(payload) {
    q = payload;
    if (typeof payload.last === "number") last = payload.last;
    if (typeof payload.change_pct === "number" && last) ref = last / (1 + payload.change_pct);
    dirty = true;
  }

  /** A perpetual's funding ({rate, next_ts}); cells stay hidden for other instruments. */
  function funding(info) {
    const show = Boolean(info && typeof info.rate === "number");
    for (const key of ["funding", "funding-next"]) f[key].parentElement.hidden = !show;
    if (!show) return;
    setText(f.funding, `${num(info.rate * 100, 4)}%`);
    setText(f["funding-next"], info.next_ts ? new Date(info.next_ts * 1000).toLocaleTimeString() : "—");
  }

  function trade(px) {
    if (typeof px !== "number") return;
    last = px;
    dirty = true;
  }

  function render() {
    if (!dirty) return;
    dirty = false;
    const s = symbol;
    if (last !== null) {
      setText(head.last, price(last, s));
      if (shownLast !== null && last !== shownLast) flash(head.last, direction(last - shownLast));
      shownLast = last;
    }
    const change = ref ? last / ref - 1 : q?.change_pct;
    if (typeof change === "number") setText(head.change, signedPct(change));
    setClassFrom(root, DIRS, direction(change ?? 0));
    if (!q) return;
    setText(f.bid, price(q.bid, s));
    setText(f.ask, price(q.ask, s));
    setText(f["bid-size"], compact(q.bid_size));
    setText(f["ask-size"], compact(q.ask_size));
    const spread = typeof q.spread === "number" ? q.spread : q.ask - q.bid;
    const mid = typeof q.mid === "number" ? q.mid : (q.ask + q.bid) / 2;
    const sbps = typeof q.spread_bps === "number" ? q.spread_bps : (spread / mid) * 1e4;
    setText(f.spread, price(spread, s));
    setText(f["spread-bps"], bps(sbps));
    setText(f.mid, price(mid, s));
    setText(f.high, price(q.high, s));
    setText(f.low, price(q.low, s));
    setText(f.volume, compact(q.volume));
    const lo = q.low;
    const hi = q.high;
    if (typeof lo === "number" && typeof hi === "number" && hi > lo && last !== null) {
      const p = Math.min(1, Math.max(0, (last - lo) / (hi - lo)));
      setStyle(rangeFill, "left", `${(p * 100).toFixed(1)}%`);
    }
  }

  funding(null);
  return { setSymbol, quote, trade, funding, render, root };
}
