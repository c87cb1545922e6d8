// The candlestick chart: lightweight-charts v5 with EMA overlays, volume, RSI and MACD panes,
// signal/fill markers, support/resistance lines and a visible-range volume profile. It loads
// /api/chart on every symbol/timeframe change and then applies live bar_update payloads with
// series.update(), recomputing only the newest bar's indicators.

import {
  LineStyle,
  createSeriesMarkers,
} from "../../vendor/lightweight-charts.standalone.production.mjs";
import { alpha } from "../colors.js";
import {
  buildMarkers,
  candleOf,
  finite,
  histColor,
  histPoints,
  linePoints,
  precisionFor,
  sec,
  volumeOf,
} from "./chartdata.js";
import { buildChart, paintChart } from "./chartsetup.js";
import { el } from "../dom.js";
import { LiveIndicators, computeSeries, values as indicatorValues } from "./indicators.js";
import { createLegend } from "./legend.js";
import { VolumeProfilePrimitive, computeProfile } from "./volprofile.js";

const MAX_LIVE_MARKERS = 300;
const PROFILE_LIVE_MS = 1000;
// A 1s chart left open for hours would grow without bound; past this many bars, reload the
// latest window from the server instead.
const MAX_BARS = 5000;

/**
 * Create the chart in `host` (the #candle-chart element). `fetchJson(url)` loads the payload;
 * `schedule()` asks the owner for a render() on the next animation frame.
 */
export function createCandleChart(host, { fetchJson, schedule }) {
  const canvasHost = el("div", { class: "cc-canvas" });
  const status = el("div", { class: "cc-status", role: "status" });
  host.append(canvasHost, status);

  const { chart, series, guides } = buildChart(canvasHost);
  const { candles, volume, ema20, ema50, rsi, macdHist, macdLine, macdSignal } = series;
  const markersApi = createSeriesMarkers(candles, []);
  let symbol = "";
  let tf = "1m";
  const profile = new VolumeProfilePrimitive((x) => x.toFixed(precisionFor(x, symbol)));
  candles.attachPrimitive(profile);
  const legend = createLegend(host, chart, series);

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
    paintChart(chart, series, guides, p, tf);
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
    // Keep bars valid, time-ordered and unique (setData rejects anything else), and carry the
    // server's indicator arrays through the same index mapping so they stay aligned.
    const order = raw
      .map((b, i) => i)
      .filter((i) => finite(raw[i]?.t) && finite(raw[i]?.c))
      .sort((a, b) => raw[a].t - raw[b].t || a - b)
      .filter((i, k, arr) => k === arr.length - 1 || raw[arr[k + 1]].t !== raw[i].t);
    bars = order.map((i) => raw[i]);
    const lastPx = bars.length ? bars[bars.length - 1].c : 0;
    const precision = precisionFor(lastPx, symbol);
    candles.applyOptions({ priceFormat: { type: "price", precision, minMove: 10 ** -precision } });
    const keys = ["ema20", "ema50", "rsi14", "macd", "macd_signal", "macd_hist"];
    const given = keys.every((k) => Array.isArray(data?.[k]) && data[k].length === raw.length);
    const series = given
      ? Object.fromEntries(keys.map((k) => [k, order.map((i) => data[k][i])]))
      : computeSeries(bars.map((b) => b.c));
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
    if (bars.length > MAX_BARS && !loading) {
      load(symbol, tf);
      return;
    }
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
