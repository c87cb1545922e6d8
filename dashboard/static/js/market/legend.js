// Chart legends: OHLC/EMA/volume at the top left of the price pane and a value line at the top
// of the RSI and MACD panes, following the crosshair and falling back to the newest bar.

import { num, price } from "../format.js";
import { el, setStyle, setText } from "../dom.js";
import { schedule } from "../scheduler.js";
import { compact } from "./quote.js";
import { signedPct } from "./ticker.js";

function item(label, cls = "") {
  const value = el("span", { class: `lg-v num ${cls}` });
  return {
    node: el("span", { class: "lg-item" }, el("span", { class: "lg-k", text: label }), value),
    value,
  };
}

/** Legend overlays inside `host` for the series in `s`. */
export function createLegend(host, chart, s) {
  const title = el("span", { class: "lg-title" });
  const o = item("O");
  const h = item("H");
  const l = item("L");
  const c = item("C");
  const chg = el("span", { class: "lg-chg num" });
  const e20 = item("EMA 20", "lg-ema20");
  const e50 = item("EMA 50", "lg-ema50");
  const vol = item("Vol");
  const main = el(
    "div",
    { class: "cc-legend", "aria-hidden": "true" },
    el("div", { class: "lg-row" }, title, o.node, h.node, l.node, c.node, chg),
    el("div", { class: "lg-row" }, e20.node, e50.node, vol.node),
  );
  const r = item("RSI 14", "lg-rsi");
  const m = item("MACD 12 26 9", "lg-macd");
  const sig = el("span", { class: "lg-v num lg-signal" });
  const hist = el("span", { class: "lg-v num lg-hist" });
  const rsiLegend = el("div", { class: "cc-pane-legend", "aria-hidden": "true" }, r.node);
  const macdLegend = el(
    "div",
    { class: "cc-pane-legend", "aria-hidden": "true" },
    m.node,
    sig,
    hist,
  );
  host.append(main, rsiLegend, macdLegend);

  let symbol = "";
  let last = null;
  let hovering = false;

  function show(bar, v) {
    const fmt = (x) => (typeof x === "number" && Number.isFinite(x) ? price(x, symbol) : "—");
    if (bar) {
      setText(o.value, fmt(bar.open));
      setText(h.value, fmt(bar.high));
      setText(l.value, fmt(bar.low));
      setText(c.value, fmt(bar.close));
      const d = bar.open ? bar.close / bar.open - 1 : 0;
      setText(chg, signedPct(d));
      main.dataset.dir = bar.close >= bar.open ? "up" : "down";
    }
    setText(e20.value, fmt(v?.ema20));
    setText(e50.value, fmt(v?.ema50));
    setText(vol.value, compact(v?.volume));
    setText(r.value, typeof v?.rsi === "number" ? num(v.rsi, 1) : "—");
    const f4 = (x) => (typeof x === "number" ? num(x, Math.abs(x) < 1 ? 4 : 2) : "—");
    setText(m.value, f4(v?.macd));
    setText(sig, f4(v?.signal));
    setText(hist, f4(v?.hist));
    hist.dataset.dir = (v?.hist ?? 0) >= 0 ? "up" : "down";
  }

  chart.subscribeCrosshairMove((param) => {
    hovering = Boolean(param.point && param.time !== undefined);
    if (!hovering) {
      if (last) show(last.bar, last.v);
      return;
    }
    const d = param.seriesData;
    const val = (series) => d.get(series)?.value;
    show(d.get(s.candles), {
      ema20: val(s.ema20),
      ema50: val(s.ema50),
      volume: val(s.volume),
      rsi: val(s.rsi),
      macd: val(s.macdLine),
      signal: val(s.macdSignal),
      hist: val(s.macdHist),
    });
  });

  function place() {
    const panes = chart.panes();
    if (panes.length < 3) return;
    const top1 = panes[0].getHeight() + 1;
    const top2 = top1 + panes[1].getHeight() + 1;
    setStyle(rsiLegend, "top", `${top1 + 4}px`);
    setStyle(macdLegend, "top", `${top2 + 4}px`);
  }
  new ResizeObserver(() => schedule("chart-legend", place)).observe(host);
  host.addEventListener("pointerup", () => schedule("chart-legend", place));

  return {
    setContext(sym, tf) {
      symbol = sym;
      setText(title, `${sym} · ${tf}`);
      schedule("chart-legend", place);
    },
    /** Newest bar (o/h/l/c/v payload form) and its indicator values. */
    setLast(bar, v) {
      last = bar
        ? {
            bar: { open: bar.o, high: bar.h, low: bar.l, close: bar.c },
            v: { ...v, volume: bar.v },
          }
        : null;
      if (!hovering) show(last?.bar, last?.v);
    },
  };
}
