// The candlestick chart: lightweight-charts v5 with EMA overlays, volume, RSI and MACD panes,
// signal/fill markers, support/resistance lines and a visible-range volume profile. It loads
// /api/chart on every symbol/timeframe change and then applies live bar_update payloads with
// series.update(), recomputing only the newest bar's indicators.

import {
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  HistogramSeries,
  LineSeries,
  LineStyle,
  createChart,
  createSeriesMarkers,
} from "../../vendor/lightweight-charts.standalone.production.mjs";
import { alpha } from "./colors.js";
import {
  TF_MS,
  buildMarkers,
  candleOf,
  finite,
  histColor,
  histPoints,
  linePoints,
  precisionFor,
  sec,
  tickMarkFormatter,
  timeFormatter,
  volumeOf,
} from "./chartdata.js";
import { el } from "./dom.js";
import { LiveIndicators, computeSeries, values as indicatorValues } from "./indicators.js";
import { createLegend } from "./legend.js";
import { VolumeProfilePrimitive, computeProfile } from "./volprofile.js";

const MAX_LIVE_MARKERS = 300;
const PROFILE_LIVE_MS = 1000;

function chartOptions(p, tf) {
  const grid = alpha(p.border, 0.45);
  return {
    layout: {
      background: { type: ColorType.Solid, color: p.panel },
      textColor: p.muted,
      fontFamily: p.fontMono,
      fontSize: 11,
      panes: { separatorColor: p.border, separatorHoverColor: alpha(p.accent, 0.25) },
    },
    grid: { vertLines: { color: grid }, horzLines: { color: grid } },
    crosshair: {
      mode: CrosshairMode.Normal,
      vertLine: { color: alpha(p.muted, 0.7), labelBackgroundColor: p.panel2 },
      horzLine: { color: alpha(p.muted, 0.7), labelBackgroundColor: p.panel2 },
    },
    rightPriceScale: { borderColor: p.border },
    timeScale: { borderColor: p.border, secondsVisible: tf === "1s" },
  };
}

/**
 * Create the chart in `host` (the #candle-chart element). `fetchJson(url)` loads the payload;
 * `schedule()` asks the owner for a render() on the next animation frame.
 */
export function createCandleChart(host, { fetchJson, schedule }) {
  const canvasHost = el("div", { class: "cc-canvas" });
  const status = el("div", { class: "cc-status", role: "status" });
  host.append(canvasHost, status);

  const chart = createChart(canvasHost, {
    autoSize: true,
    timeScale: {
      timeVisible: true,
      rightOffset: 8,
      barSpacing: 7,
      tickMarkFormatter,
    },
    localization: { timeFormatter },
    rightPriceScale: { scaleMargins: { top: 0.08, bottom: 0.2 } },
  });
  const noLast = { priceLineVisible: false, lastValueVisible: false };
  const candles = chart.addSeries(CandlestickSeries, { borderVisible: false }, 0);
  const volume = chart.addSeries(
    HistogramSeries,
    { ...noLast, priceScaleId: "vol", priceFormat: { type: "volume" } },
    0,
  );
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.84, bottom: 0 } });
  const ema20 = chart.addSeries(LineSeries, { ...noLast, lineWidth: 1.5, crosshairMarkerVisible: false }, 0);
  const ema50 = chart.addSeries(LineSeries, { ...noLast, lineWidth: 1.5, crosshairMarkerVisible: false }, 0);
  const rsi = chart.addSeries(
    LineSeries,
    {
      priceLineVisible: false,
      lineWidth: 1.5,
      priceFormat: { type: "price", precision: 1, minMove: 0.1 },
      autoscaleInfoProvider: () => ({ priceRange: { minValue: 0, maxValue: 100 } }),
    },
    1,
  );
  const macdHist = chart.addSeries(HistogramSeries, { ...noLast }, 2);
  const macdLine = chart.addSeries(LineSeries, { priceLineVisible: false, lineWidth: 1.5 }, 2);
  const macdSignal = chart.addSeries(LineSeries, { priceLineVisible: false, lineWidth: 1.5 }, 2);
  const panes = chart.panes();
  panes[0].setStretchFactor(4);
  panes[1].setStretchFactor(1.2);
  panes[2].setStretchFactor(1.4);
  const guides = {
    rsi70: rsi.createPriceLine({ price: 70, lineWidth: 1, lineStyle: LineStyle.Dashed, axisLabelVisible: false }),
    rsi30: rsi.createPriceLine({ price: 30, lineWidth: 1, lineStyle: LineStyle.Dashed, axisLabelVisible: false }),
    macd0: macdLine.createPriceLine({ price: 0, lineWidth: 1, lineStyle: LineStyle.Dotted, axisLabelVisible: false }),
  };
  const markersApi = createSeriesMarkers(candles, []);
  let symbol = "";
  let tf = "1m";
  const profile = new VolumeProfilePrimitive((x) => x.toFixed(precisionFor(x, symbol)));
  candles.attachPrimitive(profile);
  const legend = createLegend(host, chart, { candles, volume, ema20, ema50, rsi, macdHist, macdLine, macdSignal });

  let palette = null;
  let bars = [];
  let live = null;
  let token = 0;
  let loading = false;
  let buffer = [];
  const pending = new Map();
  let serverMarkers = [];
  const liveMarkers = new Map();
  let levelLines = [];
  let levels = [];
  let markersDirty = false;
  let profileDirty = false;
  let profileAt = 0;
  let retry = null;
  let lastValues = null;
  let profileTimer = 0;

  chart.timeScale().subscribeVisibleLogicalRangeChange(() => {
    profileDirty = true;
    profileAt = 0;
    schedule();
  });

  function showStatus(text, withRetry = false) {
    status.replaceChildren(el("span", { text }));
    if (withRetry) {
      const b = el("button", { type: "button", class: "mv-btn", text: "Retry" });
      b.addEventListener("click", () => retry?.());
      status.append(b);
    }
    status.hidden = false;
  }

  function hideStatus() {
    status.hidden = true;
  }

  function recolorHist() {
    const data = macdHist.data();
    let prev = 0;
    macdHist.setData(
      data.map((d) => {
        const out = { time: d.time, value: d.value, color: histColor(d.value, prev, palette) };
        prev = d.value;
        return out;
      }),
    );
  }

  function applyLevels() {
    for (const line of levelLines) candles.removePriceLine(line);
    levelLines = levels.map((lv) => {
      const support = lv.kind === "support";
      return candles.createPriceLine({
        price: lv.price,
        color: alpha(support ? palette.bull : palette.bear, 0.75),
        lineWidth: 1,
        lineStyle: LineStyle.LargeDashed,
        axisLabelVisible: true,
        title: `${support ? "S" : "R"}${lv.touches ? ` ×${lv.touches}` : ""}`,
      });
    });
  }

  function setPalette(p) {
    palette = p;
    chart.applyOptions(chartOptions(p, tf));
    candles.applyOptions({
      upColor: p.bull,
      downColor: p.bear,
      wickUpColor: p.bull,
      wickDownColor: p.bear,
    });
    ema20.applyOptions({ color: p.warn });
    ema50.applyOptions({ color: p.accent });
    rsi.applyOptions({ color: p.accent });
    macdLine.applyOptions({ color: p.accent });
    macdSignal.applyOptions({ color: p.warn });
    for (const g of [guides.rsi70, guides.rsi30, guides.macd0]) {
      g.applyOptions({ color: alpha(p.muted, 0.7) });
    }
    volume.setData(bars.map((b) => volumeOf(b, p)));
    recolorHist();
    applyLevels();
    markersDirty = true;
    profile.setPalette(p);
    schedule();
  }

  function refreshMarkers() {
    const records = [...serverMarkers, ...(liveMarkers.get(symbol) || [])];
    markersApi.setMarkers(buildMarkers(records, bars, palette));
  }

  function updateProfile() {
    const range = chart.timeScale().getVisibleLogicalRange();
    const n = bars.length;
    const from = range ? range.from : 0;
    const to = range ? range.to : n - 1;
    profile.set(computeProfile(bars, from, to));
    profileAt = performance.now();
  }

  function applyPayload(data) {
    const raw = Array.isArray(data?.bars) ? data.bars : [];
    bars = raw.filter((b) => finite(b.t) && finite(b.c)).sort((a, b) => a.t - b.t);
    const lastPx = bars.length ? bars[bars.length - 1].c : 0;
    const precision = precisionFor(lastPx, symbol);
    candles.applyOptions({ priceFormat: { type: "price", precision, minMove: 10 ** -precision } });
    const given = ["ema20", "ema50", "rsi14", "macd", "macd_signal", "macd_hist"].every((k) =>
      Array.isArray(data?.[k]),
    );
    const series = given ? data : computeSeries(bars.map((b) => b.c));
    candles.setData(bars.map(candleOf));
    volume.setData(bars.map((b) => volumeOf(b, palette)));
    ema20.setData(linePoints(bars, series.ema20));
    ema50.setData(linePoints(bars, series.ema50));
    rsi.setData(linePoints(bars, series.rsi14));
    macdLine.setData(linePoints(bars, series.macd));
    macdSignal.setData(linePoints(bars, series.macd_signal));
    macdHist.setData(histPoints(bars, series.macd_hist, palette));
    live = new LiveIndicators(bars, series);

    serverMarkers = (Array.isArray(data?.markers) ? data.markers : []).filter((m) => finite(m.t));
    const newest = serverMarkers.reduce((acc, m) => Math.max(acc, m.t), -Infinity);
    // Live markers the server now reports would otherwise be drawn twice.
    const kept = (liveMarkers.get(symbol) || []).filter((m) => m.t > newest);
    liveMarkers.set(symbol, kept);
    levels = (Array.isArray(data?.levels) ? data.levels : []).filter((lv) => finite(lv.price));
    applyLevels();
    refreshMarkers();

    const n = bars.length;
    chart.timeScale().applyOptions({ secondsVisible: tf === "1s" });
    if (n) chart.timeScale().setVisibleLogicalRange({ from: Math.max(0, n - 140), to: n + 6 });
    if (n) hideStatus();
    else showStatus(`No ${tf} bars for ${symbol} yet`);
    updateProfile();
    const k = n - 1;
    legend.setLast(bars[k], {
      ema20: series.ema20[k],
      ema50: series.ema50[k],
      rsi: series.rsi14[k],
      macd: series.macd[k],
      signal: series.macd_signal[k],
      hist: series.macd_hist[k],
    });
  }

  function applyBar(b) {
    const n = bars.length;
    const last = n ? bars[n - 1] : null;
    if (last && b.t < last.t) return;
    const appended = !last || b.t > last.t;
    if (appended) bars.push(b);
    else bars[n - 1] = b;
    candles.update(candleOf(b));
    volume.update(volumeOf(b, palette));
    const prevHist = live ? indicatorValues(live.cur).hist : null;
    const v = live ? live.update(b) : null;
    const time = sec(b.t);
    lastValues = v;
    if (v) {
      if (finite(v.ema20)) ema20.update({ time, value: v.ema20 });
      if (finite(v.ema50)) ema50.update({ time, value: v.ema50 });
      if (finite(v.rsi)) rsi.update({ time, value: v.rsi });
      if (finite(v.macd)) macdLine.update({ time, value: v.macd });
      if (finite(v.signal)) macdSignal.update({ time, value: v.signal });
      if (finite(v.hist)) {
        const base = appended ? prevHist : indicatorValues(live.prev).hist;
        macdHist.update({ time, value: v.hist, color: histColor(v.hist, base ?? 0, palette) });
      }
    }
    if (appended && (liveMarkers.get(symbol) || []).length) markersDirty = true;
    if (n === 0) hideStatus();
    profileDirty = true;
  }

  async function load(sym, timeframe) {
    symbol = sym;
    tf = timeframe;
    token += 1;
    const mine = token;
    loading = true;
    buffer = [];
    pending.clear();
    retry = () => load(sym, timeframe);
    legend.setContext(sym, timeframe);
    legend.setLast(null, null);
    showStatus(`Loading ${sym} · ${timeframe}…`);
    try {
      const q = new URLSearchParams({ symbol: sym, timeframe, limit: "500" });
      const data = await fetchJson(`/api/chart?${q}`);
      if (mine !== token) return;
      applyPayload(data);
      loading = false;
      for (const b of buffer) pending.set(b.t, b);
      buffer = [];
      schedule();
    } catch (err) {
      if (mine !== token) return;
      loading = false;
      showStatus(`Chart unavailable: ${err.message || err}`, true);
    }
  }

  function bar(payload) {
    if (payload?.symbol !== symbol || payload.timeframe !== tf || !payload.bar) return;
    const b = payload.bar;
    if (!finite(b.t) || !finite(b.c)) return;
    if (loading) buffer.push(b);
    else {
      pending.set(b.t, b);
      schedule();
    }
  }

  function marker(sym, rec) {
    if (!finite(rec.t)) return;
    const list = liveMarkers.get(sym) || [];
    list.push(rec);
    if (list.length > MAX_LIVE_MARKERS) list.splice(0, list.length - MAX_LIVE_MARKERS);
    liveMarkers.set(sym, list);
    if (sym === symbol) {
      markersDirty = true;
      schedule();
    }
  }

  function render() {
    if (!palette) return;
    if (pending.size) {
      for (const b of pending.values()) applyBar(b);
      pending.clear();
      legend.setLast(bars[bars.length - 1], lastValues);
    }
    if (markersDirty) {
      markersDirty = false;
      refreshMarkers();
    }
    if (profileDirty) {
      const now = performance.now();
      const wait = PROFILE_LIVE_MS - (now - profileAt);
      if (profileAt === 0 || wait <= 0) {
        profileDirty = false;
        updateProfile();
      } else if (!profileTimer) {
        // Live bars move the profile only slightly; redrawing it once a second is enough.
        profileTimer = setTimeout(() => {
          profileTimer = 0;
          schedule();
        }, wait);
      }
    }
  }

  return {
    load,
    bar,
    marker,
    render,
    setPalette,
    tfMs: () => TF_MS[tf],
    hooks: {
      candles: () => bars.length,
      markers: () => markersApi.markers().length,
      timeframe: () => tf,
      symbol: () => symbol,
      loading: () => loading,
      indicators: () => ({
        ema20: ema20.data().length,
        ema50: ema50.data().length,
        rsi: rsi.data().length,
        macd: macdLine.data().length,
      }),
      levels: () => levelLines.length,
      profile: () => profile.profile,
    },
    remove: () => chart.remove(),
  };
}
