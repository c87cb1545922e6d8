// Entry point of the market view: mounts the ticker strip, quote widget, order book, depth chart
// and candle chart, routes socket events to them and renders everything in one animation frame.

import { createCandleChart } from "./chart.js";
import { TIMEFRAMES } from "./chartdata.js";
import { readPalette } from "../colors.js";
import { createDepthChart } from "./depth.js";
import { el } from "../dom.js";
import { createOrderBook } from "./orderbook.js";
import { createQuoteWidget } from "./quote.js";
import { createFrameScheduler } from "../scheduler.js";
import { createTickerStrip } from "./ticker.js";
import { TOPIC_NAMES } from "../topics.js";

const STORE_KEY = "vigil.market";

// Minimum milliseconds between renders per widget: the server conflates to ~10 Hz, so these
// only bite under bursts, where they keep paint work (not just JS) well inside a frame budget.
const GAP = { ticker: 150, quote: 80, book: 100, depth: 33, chart: 100 };

function loadPrefs() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

function savePrefs(prefs) {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(prefs));
  } catch {
    // Private mode or a full quota only loses the remembered selection.
  }
}

async function fetchJson(url) {
  const res = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = await res.json();
  if (body && body.ok === false) throw new Error(body.error?.message || "request failed");
  return body;
}

function buildLayout(root) {
  const symbolSelect = el("select", {
    id: "symbol-select",
    class: "mv-select",
    "aria-label": "Symbol",
  });
  const tfButtons = TIMEFRAMES.map((tf) =>
    el("button", {
      type: "button",
      class: "tf-btn",
      "data-tf": tf,
      "aria-pressed": "false",
      text: tf,
    }),
  );
  const tfGroup = el(
    "div",
    { class: "tf-group", role: "group", "aria-label": "Timeframe" },
    ...tfButtons,
  );
  const candleHost = el("div", { id: "candle-chart", class: "cc" });
  const chartCard = el(
    "div",
    { class: "mv-card mv-chart-card" },
    el(
      "div",
      { class: "mv-toolbar" },
      symbolSelect,
      tfGroup,
      el("span", { class: "mv-toolbar-note", text: "EMA 20 · EMA 50 · VPVR · RSI 14 · MACD" }),
      el("a", {
        class: "mv-attr",
        href: "https://www.tradingview.com/",
        target: "_blank",
        rel: "noopener noreferrer",
        title: "TradingView Lightweight Charts™ Copyright (c) 2025 TradingView, Inc.",
        text: "Charts by TradingView",
      }),
    ),
    candleHost,
  );
  const side = el("div", { class: "mv-side" });
  const bookCol = el("div", { class: "mv-book-col" });
  const infoCol = el("div", { class: "mv-info-col" });
  side.append(infoCol, bookCol);
  root.classList.add("market-view");
  root.replaceChildren(el("div", { class: "mv-layout" }, chartCard, side));
  return { symbolSelect, tfButtons, candleHost, bookCol, infoCol };
}

/**
 * Mount the market view. `root` is #market-view, `ticker` is #ticker-strip, `socket` a
 * socket.io client, `onSnapshot(handler)` registers for every initial_state, `theme` is
 * { current(), colorBlind(), onChange(handler) }. Returns { select, setTimeframe, destroy }.
 */
export function mountMarketView({ root, ticker, socket, onSnapshot, theme }) {
  const prefs = loadPrefs();
  const ui = buildLayout(root);
  const frame = createFrameScheduler();
  const quotes = new Map();
  let fundings = {}; // perpetuals: symbol -> {rate, next_ts}, from the feed's health details
  const books = new Map();
  let selected = null;
  let timeframe = TIMEFRAMES.includes(prefs.tf) ? prefs.tf : "1m";

  const strip = createTickerStrip(ticker, { onSelect: (s) => select(s) });
  const quoteWidget = createQuoteWidget(ui.infoCol);
  const depth = createDepthChart(ui.infoCol);
  const book = createOrderBook(ui.bookCol);
  const chart = createCandleChart(ui.candleHost, {
    fetchJson,
    schedule: () => frame.mark("chart", chart.render, GAP.chart),
  });
  const renderBook = () => {
    book.render();
    depth.render();
  };
  depth.onDirty(() => frame.mark("depth", depth.render, GAP.depth));

  function applyPalette() {
    const p = readPalette(root);
    chart.setPalette(p);
    depth.setPalette(p);
    frame.mark("depth", depth.render, GAP.depth);
  }
  applyPalette();

  function markTf() {
    for (const b of ui.tfButtons) {
      const on = b.dataset.tf === timeframe;
      b.classList.toggle("active", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    }
  }
  markTf();

  function select(symbol, force = false) {
    if (!symbol || (symbol === selected && !force)) return;
    selected = symbol;
    prefs.symbol = symbol;
    savePrefs(prefs);
    strip.select(symbol);
    if (ui.symbolSelect.value !== symbol) ui.symbolSelect.value = symbol;
    quoteWidget.setSymbol(symbol);
    quoteWidget.funding(fundings[symbol]);
    if (quotes.has(symbol)) quoteWidget.quote(quotes.get(symbol));
    book.setSymbol(symbol);
    depth.setSymbol(symbol);
    if (books.has(symbol)) {
      book.book(books.get(symbol));
      depth.book(books.get(symbol));
    }
    frame.mark("quote", quoteWidget.render, GAP.quote);
    frame.mark("book", renderBook, GAP.book);
    chart.load(symbol, timeframe);
    // The order ticket follows the chart (panels/orders.js), so what is charted is what is
    // ordered; the ticket's own choice comes back the same way.
    document.dispatchEvent(new CustomEvent("vigil:symbol", { detail: { symbol, source: "chart" } }));
    subscribeBars();
  }

  // The server sends bar_update only to clients subscribed to that symbol and timeframe;
  // the room belongs to this connection, so every (re)load subscribes again.
  function subscribeBars() {
    if (selected) socket.emit("subscribe_bars", { symbol: selected, timeframe });
  }

  function setTimeframe(tf) {
    if (!TIMEFRAMES.includes(tf) || tf === timeframe) return;
    timeframe = tf;
    prefs.tf = tf;
    savePrefs(prefs);
    markTf();
    if (selected) chart.load(selected, timeframe);
    subscribeBars();
  }

  ui.symbolSelect.addEventListener("change", () => select(ui.symbolSelect.value));
  document.addEventListener("vigil:symbol", (ev) => {
    const symbol = ev.detail && ev.detail.symbol;
    if (ev.detail.source !== "chart" && [...ui.symbolSelect.options].some((o) => o.value === symbol)) {
      select(symbol);
    }
  });
  for (const b of ui.tfButtons) b.addEventListener("click", () => setTimeframe(b.dataset.tf));

  function applySnapshot(snap) {
    const market = snap?.market || {};
    const symbols = Array.isArray(market.symbols) ? market.symbols : [];
    strip.setSymbols(symbols);
    const current = [...ui.symbolSelect.options].map((o) => o.value);
    if (current.join("|") !== symbols.join("|")) {
      ui.symbolSelect.replaceChildren(...symbols.map((s) => el("option", { value: s, text: s })));
    }
    quotes.clear();
    books.clear();
    for (const [s, q] of Object.entries(market.quotes || {})) {
      if (q && typeof q === "object") {
        quotes.set(s, q);
        strip.quote(s, q);
      }
    }
    for (const [s, b] of Object.entries(market.books || {})) {
      if (b && typeof b === "object") books.set(s, b);
    }
    frame.mark("ticker", strip.render, GAP.ticker);
    const keep = [selected, prefs.symbol, symbols[0]].find((s) => s && symbols.includes(s));
    // A snapshot (first connect or a reconnect) is authoritative: refill and reload everything.
    if (keep) select(keep, true);
  }

  const handlers = {
    quote_update(q) {
      if (!q?.symbol) return;
      quotes.set(q.symbol, q);
      strip.quote(q.symbol, q);
      frame.mark("ticker", strip.render, GAP.ticker);
      if (q.symbol === selected) {
        quoteWidget.quote(q);
        frame.mark("quote", quoteWidget.render, GAP.quote);
      }
    },
    price_update(p) {
      if (!p?.symbol) return;
      strip.trade(p.symbol, p.price);
      frame.mark("ticker", strip.render, GAP.ticker);
      if (p.symbol === selected) {
        quoteWidget.trade(p.price);
        frame.mark("quote", quoteWidget.render, GAP.quote);
      }
    },
    orderbook_update(b) {
      if (!b?.symbol) return;
      books.set(b.symbol, b);
      if (b.symbol === selected) {
        book.book(b);
        depth.book(b);
        frame.mark("book", renderBook, GAP.book);
      }
    },
    bar_update(p) {
      chart.bar(p);
    },
    system_health_update(h) {
      fundings = h?.venues?.feed?.details?.funding || {};
      if (selected) quoteWidget.funding(fundings[selected]);
    },
    signal(p) {
      if (!p?.symbol) return;
      chart.marker(p.symbol, {
        t: p.ts ?? Date.now(),
        side: p.side,
        kind: "signal",
        price: p.price,
        text: p.side === "buy" ? "BUY" : "SELL",
      });
    },
    trade_executed(p) {
      if (!p?.symbol) return;
      chart.marker(p.symbol, {
        t: p.ts ?? Date.now(),
        side: p.side,
        kind: "fill",
        price: p.price,
        text: `${p.side === "buy" ? "B" : "S"} ${p.qty ?? ""}`.trim(),
      });
    },
  };
  for (const [name, fn] of Object.entries(handlers)) {
    if (TOPIC_NAMES.has(name)) socket.on(name, fn);
    else console.error(`no server topic named ${name}: see engine/topics.py`);
  }
  onSnapshot(applySnapshot);

  // The theme helper announces changes; the observer also catches attribute flips made directly.
  const repaint = () => frame.mark("palette", applyPalette);
  theme?.onChange?.(repaint);
  const observer = new MutationObserver(repaint);
  for (const node of [document.documentElement, document.body]) {
    observer.observe(node, { attributes: true, attributeFilter: ["data-theme", "data-cb"] });
  }

  window.__vigilChart = chart.hooks;

  return {
    select,
    setTimeframe,
    destroy() {
      for (const [name, fn] of Object.entries(handlers)) socket.off(name, fn);
      observer.disconnect();
      frame.cancel();
      chart.remove();
      if (window.__vigilChart === chart.hooks) delete window.__vigilChart;
    },
  };
}
