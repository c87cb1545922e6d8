// Builds the lightweight-charts instance (price, RSI and MACD panes and their series) and
// applies a palette to it; the data flow lives in chart.js.

import {
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  HistogramSeries,
  LineSeries,
  LineStyle,
  createChart,
} from "../../vendor/lightweight-charts.standalone.production.mjs";
import { tickMarkFormatter, timeFormatter } from "./chartdata.js";
import { alpha } from "../colors.js";

const NO_LAST = { priceLineVisible: false, lastValueVisible: false };

function guide(series, price, lineStyle) {
  return series.createPriceLine({ price, lineWidth: 1, lineStyle, axisLabelVisible: false });
}

/** Create the chart in `node`. Returns { chart, series: {candles, volume, ...}, guides }. */
export function buildChart(node) {
  const chart = createChart(node, {
    autoSize: true,
    // The built-in logo injects a <style> element, which the page's CSP blocks; the view shows
    // the attribution link the library's licence asks for in its toolbar instead.
    layout: { attributionLogo: false },
    timeScale: { timeVisible: true, rightOffset: 8, barSpacing: 7, tickMarkFormatter },
    localization: { timeFormatter },
    rightPriceScale: { scaleMargins: { top: 0.08, bottom: 0.2 } },
  });
  const line = { lineWidth: 1.5 };
  const candles = chart.addSeries(CandlestickSeries, { borderVisible: false }, 0);
  const volume = chart.addSeries(
    HistogramSeries,
    { ...NO_LAST, priceScaleId: "vol", priceFormat: { type: "volume" } },
    0,
  );
  // Volume sits in the bottom sixth of the price pane, under the candles.
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.84, bottom: 0 } });
  const ema = { ...NO_LAST, ...line, crosshairMarkerVisible: false };
  const ema20 = chart.addSeries(LineSeries, ema, 0);
  const ema50 = chart.addSeries(LineSeries, ema, 0);
  const rsi = chart.addSeries(
    LineSeries,
    {
      ...line,
      priceLineVisible: false,
      priceFormat: { type: "price", precision: 1, minMove: 0.1 },
      autoscaleInfoProvider: () => ({ priceRange: { minValue: 0, maxValue: 100 } }),
    },
    1,
  );
  const macdHist = chart.addSeries(HistogramSeries, NO_LAST, 2);
  const macdLine = chart.addSeries(LineSeries, { ...line, priceLineVisible: false }, 2);
  const macdSignal = chart.addSeries(LineSeries, { ...line, priceLineVisible: false }, 2);
  const panes = chart.panes();
  panes[0].setStretchFactor(4);
  panes[1].setStretchFactor(1.2);
  panes[2].setStretchFactor(1.4);
  const guides = [
    guide(rsi, 70, LineStyle.Dashed),
    guide(rsi, 30, LineStyle.Dashed),
    guide(macdLine, 0, LineStyle.Dotted),
  ];
  const series = { candles, volume, ema20, ema50, rsi, macdHist, macdLine, macdSignal };
  return { chart, series, guides };
}

/**
 * Apply palette `p` to the chart and its series. In the color-blind palette bull/bear take the
 * blue/orange that accent/warn use, so the EMAs switch to neutral text tones to stay distinct.
 */
export function paintChart(chart, s, guides, p, tf) {
  const grid = alpha(p.border, 0.45);
  const cross = { color: alpha(p.muted, 0.7), labelBackgroundColor: p.panel2 };
  chart.applyOptions({
    layout: {
      background: { type: ColorType.Solid, color: p.panel },
      textColor: p.muted,
      fontFamily: p.fontMono,
      fontSize: 12,
      panes: { separatorColor: p.border, separatorHoverColor: alpha(p.accent, 0.25) },
    },
    grid: { vertLines: { color: grid }, horzLines: { color: grid } },
    crosshair: { mode: CrosshairMode.Normal, vertLine: cross, horzLine: cross },
    rightPriceScale: { borderColor: p.border },
    timeScale: { borderColor: p.border, secondsVisible: tf === "1s" },
  });
  s.candles.applyOptions({
    upColor: p.bull,
    downColor: p.bear,
    wickUpColor: p.bull,
    wickDownColor: p.bear,
  });
  s.ema20.applyOptions({ color: p.colorBlind ? p.text : p.warn });
  s.ema50.applyOptions({ color: p.colorBlind ? p.muted : p.accent });
  s.rsi.applyOptions({ color: p.accent });
  s.macdLine.applyOptions({ color: p.accent });
  s.macdSignal.applyOptions({ color: p.warn });
  for (const g of guides) g.applyOptions({ color: alpha(p.muted, 0.7) });
}
