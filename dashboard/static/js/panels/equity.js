// The equity curve (with its running peak and an underwater drawdown pane) and the daily P&L
// bars, drawn with lightweight-charts like the candles and updated in place: new points go
// through series.update(), a chart is created once and never re-created.

import { alpha, readPalette } from "../colors.js";
import { el, setText } from "../dom.js";
import { money, num, signedMoney } from "../format.js";
import { schedule } from "../scheduler.js";
import { EquityData } from "./equitydata.js";

const LIB = "../../vendor/lightweight-charts.standalone.production.mjs";
const MIN_REDRAW_MS = 250;
// A day's bar is at most this wide (px between bar centres), however few days there are.
const MAX_BAR_SPACING = 28;
const NO_LAST = { priceLineVisible: false, lastValueVisible: false };

/** Axis label with as many digits as the tick step needs: $5 moves on $100k stay legible. */
export function axisMoney(prices) {
  const step = prices.length > 1 ? Math.abs(prices[1] - prices[0]) : Math.abs(prices[0]) || 1;
  return prices.map((v) => {
    const a = Math.abs(v);
    if (step >= 1e5 && a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
    if (step >= 1000 && a >= 1e4) return `${(v / 1e3).toFixed(step >= 10000 ? 0 : 1)}k`;
    return num(v, step >= 1 ? 0 : 2);
  });
}

function baseOptions(fmt, span = () => Infinity) {
  // Chart times are UTC seconds; every label is written in the session's zone instead.
  const label = (time) => {
    if (typeof time === "number") return `${fmt().stamp(time * 1000)} ${fmt().zone(time * 1000)}`;
    if (typeof time === "string") return time;
    const two = (n) => String(n).padStart(2, "0");
    return `${time.year}-${two(time.month)}-${two(time.day)}`;
  };
  return {
    autoSize: true,
    // The built-in logo injects a <style> element, which the page's CSP blocks; the market
    // view's toolbar carries the attribution link the library's licence asks for.
    layout: { attributionLogo: false, fontSize: 12 },
    // Small read-only charts: dragging on them should scroll the page, not the chart.
    handleScroll: false,
    handleScale: false,
    localization: {
      timeFormatter: label,
      priceFormatter: (v) => num(v, 2),
      tickmarksPriceFormatter: axisMoney,
    },
    timeScale: {
      timeVisible: true,
      secondsVisible: false,
      tickMarkFormatter: (time, type) => {
        if (typeof time !== "number") return label(time).slice(5);
        const ms = time * 1000;
        if (type <= 2) return fmt().day(ms).slice(5);
        // Minutes repeat on a short history: then ticks carry their seconds.
        return span() < 900 ? fmt().stamp(ms).slice(11) : fmt().clock(ms);
      },
    },
  };
}

function paint(chart, p, ColorType) {
  const grid = alpha(p.border, 0.45);
  const cross = { color: alpha(p.muted, 0.7), labelBackgroundColor: p.panel2 };
  chart.applyOptions({
    layout: {
      background: { type: ColorType.Solid, color: "transparent" },
      textColor: p.muted,
      fontFamily: p.fontMono,
      panes: { separatorColor: p.border, separatorHoverColor: p.border },
    },
    grid: { vertLines: { visible: false }, horzLines: { color: grid } },
    crosshair: { vertLine: cross, horzLine: cross },
    rightPriceScale: { borderColor: p.border },
    timeScale: { borderColor: p.border },
  });
}

function build(lib, equityHost, barsHost, fmt, span) {
  const { AreaSeries, BaselineSeries, HistogramSeries, LineSeries, LineStyle, createChart } = lib;
  const options = baseOptions(fmt, span);
  // The whole history always fits, however narrow the screen: 2,400 points in 300 px.
  options.timeScale.minBarSpacing = 0.05;
  const equityChart = createChart(equityHost, options);
  const peak = equityChart.addSeries(LineSeries, {
    ...NO_LAST,
    lineWidth: 1,
    lineStyle: LineStyle.Dashed,
    crosshairMarkerVisible: false,
  });
  const equity = equityChart.addSeries(AreaSeries, { lineWidth: 2, priceLineVisible: false });
  // Room at the top for the legend line.
  equity.priceScale().applyOptions({ scaleMargins: { top: 0.16, bottom: 0.04 } });
  // The drawdown below its own zero line: how far equity is under its running peak.
  const drawdown = equityChart.addSeries(
    BaselineSeries,
    { ...NO_LAST, lineWidth: 1, baseValue: { type: "price", price: 0 } },
    1,
  );
  drawdown.priceScale().applyOptions({ scaleMargins: { top: 0.1, bottom: 0.16 } });
  drawdown.applyOptions({
    autoscaleInfoProvider: (base) => {
      const r = base();
      return r && { ...r, priceRange: { ...r.priceRange, maxValue: 0 } };
    },
  });
  const panes = equityChart.panes();
  panes[0].setStretchFactor(3);
  panes[1].setStretchFactor(1);
  const barsChart = createChart(barsHost, {
    ...baseOptions(fmt),
    timeScale: { ...baseOptions(fmt).timeScale, timeVisible: false },
  });
  const bars = barsChart.addSeries(HistogramSeries, { ...NO_LAST, base: 0 });
  bars.priceScale().applyOptions({ scaleMargins: { top: 0.22, bottom: 0.1 } });
  return { equityChart, barsChart, peak, equity, drawdown, bars };
}

/**
 * Charts in `equityHost` (#equity-chart) and `barsHost` (#daily-pnl-chart); `barsLabel` names
 * the session's zone. The library loads on demand, so a failure here never stops the page.
 */
export function createEquityCharts({ equityHost, barsHost, barsLabel, theme }) {
  const data = new EquityData();
  const eqLegend = el("div", { class: "eq-legend" });
  const barsLegend = el("div", { class: "eq-legend" });
  equityHost.append(eqLegend);
  barsHost.append(barsLegend);
  let view = null;
  let lib = null;
  let palette = null;
  let drawnVersion = -1;
  let drawnPoints = 0;
  let drawnDays = 0;

  const fmt = () => data.fmt;
  const dayBar = (d) => ({
    time: d.key,
    value: d.pnl,
    color: alpha(d.pnl >= 0 ? palette.bull : palette.bear, 0.85),
  });

  function showEquity(i) {
    const p = data.points[i];
    if (!p) return setText(eqLegend, "");
    const dd = p.value - p.peak;
    // Drawdown before peak: on a narrow screen the legend is cut at its end.
    setText(eqLegend, `Equity ${money(p.value)} · DD ${signedMoney(dd)} · Peak ${money(p.peak)}`);
  }

  function showDay(d) {
    setText(barsLegend, d ? `${d.key} · P&L ${signedMoney(d.pnl)}` : "");
  }

  function applyPalette() {
    if (!view) return;
    palette = readPalette(equityHost);
    const p = palette;
    paint(view.equityChart, p, lib.ColorType);
    paint(view.barsChart, p, lib.ColorType);
    view.peak.applyOptions({ color: alpha(p.muted, 0.8) });
    view.equity.applyOptions({
      lineColor: p.accent,
      topColor: alpha(p.accent, 0.22),
      bottomColor: alpha(p.accent, 0.02),
    });
    view.drawdown.applyOptions({
      topLineColor: "transparent",
      topFillColor1: "transparent",
      topFillColor2: "transparent",
      bottomLineColor: p.bear,
      bottomFillColor1: alpha(p.bear, 0.15),
      bottomFillColor2: alpha(p.bear, 0.4),
    });
    drawnVersion = -1; // bar colours come from the palette: set them again
    request();
  }

  function fitBars(n) {
    const width = view.barsChart.timeScale().width();
    const span = Math.max(n, width / MAX_BAR_SPACING, 1);
    view.barsChart.timeScale().setVisibleLogicalRange({ from: n - 0.5 - span, to: n - 0.5 });
  }

  function draw() {
    if (!view) return;
    const pts = data.shownPoints();
    const days = data.shownDays();
    if (drawnVersion !== data.version) {
      view.equity.setData(pts.map((p) => ({ time: p.time, value: p.value })));
      view.peak.setData(pts.map((p) => ({ time: p.time, value: p.peak })));
      view.drawdown.setData(pts.map((p) => ({ time: p.time, value: p.value - p.peak })));
      view.bars.setData(days.map(dayBar));
      drawnVersion = data.version;
    } else {
      // The last drawn point may have been replaced since: update from it onwards.
      for (let i = Math.max(0, drawnPoints - 1); i < pts.length; i++) {
        const p = pts[i];
        view.equity.update({ time: p.time, value: p.value });
        view.peak.update({ time: p.time, value: p.peak });
        view.drawdown.update({ time: p.time, value: p.value - p.peak });
      }
      for (let i = Math.max(0, drawnDays - 1); i < days.length; i++) {
        view.bars.update(dayBar(days[i]));
      }
    }
    drawnPoints = pts.length;
    drawnDays = days.length;
    view.equityChart.timeScale().fitContent();
    fitBars(days.length);
    showEquity(data.points.indexOf(pts[pts.length - 1]));
    showDay(days[days.length - 1]);
  }

  function request() {
    schedule("equity-charts", draw, MIN_REDRAW_MS);
  }

  function labelZone() {
    const zone = data.zone || Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (barsLabel && barsLabel.dataset.zone !== zone) {
      barsLabel.dataset.zone = zone;
      const name = el("span", { class: "chart-zone", text: zone });
      barsLabel.replaceChildren("Daily P&L · session days ", name);
    }
  }

  import(LIB)
    .then((mod) => {
      lib = mod;
      const span = () => {
        const pts = data.points;
        return pts.length > 1 ? pts[pts.length - 1].time - pts[0].time : 0;
      };
      view = build(lib, equityHost, barsHost, fmt, span);
      view.equityChart.subscribeCrosshairMove((param) => {
        const t = param.time;
        const i = t === undefined ? -1 : data.points.findIndex((p) => p.time === t);
        showEquity(i >= 0 ? i : data.points.length - 1);
      });
      view.barsChart.subscribeCrosshairMove((param) => {
        const days = data.shownDays();
        showDay(days.find((d) => d.key === param.time) || days[days.length - 1]);
      });
      view.barsChart.timeScale().subscribeSizeChange(() => fitBars(data.shownDays().length));
      applyPalette();
      theme.onChange(applyPalette);
    })
    .catch((err) => {
      console.error("equity charts failed to load", err);
      equityHost.replaceChildren("Chart library failed to load.");
    });

  // Read by the browser tests and the benchmark.
  window.__vigilEquity = {
    points: () => data.points.length,
    days: () => data.shownDays(),
    zone: () => data.zone,
    ready: () => !!view,
  };

  return {
    /** Replace the whole curve (snapshot / resync); `zone` is the session's time zone. */
    load(curve, zone) {
      data.load(curve, zone);
      labelZone();
      request();
    },
    /** Show only session days `from`..`to` (YYYY-MM-DD, inclusive, "" for open). */
    setRange(from, to) {
      data.setRange(from, to);
      request();
    },
    /** Append one point (performance_update.equity_point). */
    push(point) {
      if (point && data.add(point.t, point.equity)) request();
    },
  };
}
