// Conversions between /api/chart payloads and lightweight-charts data: times, colors, markers.

import { alpha } from "../colors.js";
import { dateTimeOf, wallClock } from "../format.js";

export const TIMEFRAMES = ["1s", "1m", "5m", "15m", "1h", "4h", "1d"];

/** Chart time (UTC seconds) of an epoch-ms timestamp. */
export const sec = (ms) => Math.floor(ms / 1000);

export const finite = (x) => typeof x === "number" && Number.isFinite(x);

/** Decimals for a symbol's prices, matching format.price's magnitude rule. */
export function precisionFor(p, symbol) {
  const a = Math.abs(p || 0);
  if (a === 0) return 2;
  if (a < 0.01) return 6;
  if (a < 1) return 4;
  if (a < 10 && symbol.includes("/")) return 4;
  return 2;
}

export function candleOf(b) {
  return { time: sec(b.t), open: b.o, high: b.h, low: b.l, close: b.c };
}

/** Volume bar colored by which side dominated the bar's traded volume. */
export function volumeOf(b, palette) {
  const buy = b.buy_v ?? 0;
  const sell = b.sell_v ?? 0;
  const up = buy === sell ? b.c >= b.o : buy > sell;
  return { time: sec(b.t), value: b.v ?? 0, color: alpha(up ? palette.bull : palette.bear, 0.5) };
}

/** Line points for the non-null entries of an indicator array aligned with bars. */
export function linePoints(bars, values) {
  const out = [];
  if (!Array.isArray(values)) return out;
  for (let i = 0; i < bars.length; i += 1) {
    if (finite(values[i])) out.push({ time: sec(bars[i].t), value: values[i] });
  }
  return out;
}

export function histPoints(bars, values, palette) {
  const out = [];
  if (!Array.isArray(values)) return out;
  let prev = 0;
  for (let i = 0; i < bars.length; i += 1) {
    const v = values[i];
    if (!finite(v)) continue;
    out.push({ time: sec(bars[i].t), value: v, color: histColor(v, prev, palette) });
    prev = v;
  }
  return out;
}

/** MACD histogram color: bull/bear by sign, faded when the bar shrinks toward zero. */
export function histColor(v, prev, palette) {
  const growing = Math.abs(v) >= Math.abs(prev);
  return alpha(v >= 0 ? palette.bull : palette.bear, growing ? 0.8 : 0.4);
}

/** Index of the last bar whose time is <= t (binary search), or -1. */
export function barIndexAtOrBefore(bars, t) {
  let lo = 0;
  let hi = bars.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (bars[mid].t <= t) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/**
 * lightweight-charts markers from {t, side, kind, price, text} records, each pinned to the bar
 * it happened in (markers must sit on an existing bar time) and sorted by time.
 */
export function buildMarkers(records, bars, palette) {
  const out = [];
  for (const m of records) {
    const i = barIndexAtOrBefore(bars, m.t);
    if (i < 0) continue;
    const buy = m.side === "buy";
    const color = buy ? palette.bull : palette.bear;
    const time = sec(bars[i].t);
    if (m.kind === "fill" && finite(m.price)) {
      out.push({
        time,
        position: "atPriceMiddle",
        price: m.price,
        shape: "circle",
        color,
        text: m.text || (buy ? "B" : "S"),
        size: 0.8,
      });
    } else {
      out.push({
        time,
        position: buy ? "belowBar" : "aboveBar",
        shape: buy ? "arrowUp" : "arrowDown",
        color,
        text: m.text || (buy ? "BUY" : "SELL"),
      });
    }
  }
  out.sort((a, b) => a.time - b.time);
  return out;
}

const pad = (n) => (n < 10 ? `0${n}` : `${n}`);
const MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(" ");

/** Tick labels in the page's display zone (format.js; the chart's own labels are UTC). */
export function tickMarkFormatter(time, type) {
  const w = wallClock(time * 1000);
  switch (type) {
    case 0:
      return String(w.y);
    case 1:
      return MONTHS[w.m - 1];
    case 2:
      return `${w.d} ${MONTHS[w.m - 1]}`;
    case 4:
      return `${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}`;
    default:
      return `${pad(w.h)}:${pad(w.mi)}`;
  }
}

/** Crosshair time label in the page's display zone. */
export function timeFormatter(time) {
  return dateTimeOf(time * 1000);
}
