// Indicator math for the candle chart: EMA, Wilder RSI and MACD as whole series and as an
// incremental state machine that re-computes only the newest bar on every live bar_update.
// States are immutable values so the state before the newest bar can be kept and re-stepped
// each time the still-open bar changes.

/** EMA state step: SMA of the first `period` inputs seeds the recurrence. */
function emaStep(s, x) {
  const n = s.n + 1;
  if (s.value === null) {
    const sum = s.sum + x;
    return { period: s.period, n, sum, value: n >= s.period ? sum / s.period : null };
  }
  const a = 2 / (s.period + 1);
  return { period: s.period, n, sum: s.sum, value: a * x + (1 - a) * s.value };
}

function emaInit(period) {
  return { period, n: 0, sum: 0, value: null };
}

function rsiInit(period) {
  return { period, prev: null, m: 0, gain: 0, loss: 0, avgGain: null, avgLoss: null };
}

/** Wilder RSI step: simple average of the first `period` changes, then 1/period smoothing. */
function rsiStep(s, close) {
  if (s.prev === null) return { ...s, prev: close };
  const ch = close - s.prev;
  const g = ch > 0 ? ch : 0;
  const l = ch < 0 ? -ch : 0;
  const m = s.m + 1;
  if (s.avgGain === null) {
    const gain = s.gain + g;
    const loss = s.loss + l;
    const done = m >= s.period;
    return {
      ...s,
      prev: close,
      m,
      gain,
      loss,
      avgGain: done ? gain / s.period : null,
      avgLoss: done ? loss / s.period : null,
    };
  }
  const p = s.period;
  return {
    ...s,
    prev: close,
    m,
    avgGain: (s.avgGain * (p - 1) + g) / p,
    avgLoss: (s.avgLoss * (p - 1) + l) / p,
  };
}

function rsiValue(s) {
  if (s.avgGain === null) return null;
  if (s.avgLoss === 0) return s.avgGain === 0 ? 50 : 100;
  return 100 - 100 / (1 + s.avgGain / s.avgLoss);
}

/** The whole state after one close. */
export function step(state, close) {
  const ema20 = emaStep(state.ema20, close);
  const ema50 = emaStep(state.ema50, close);
  const e12 = emaStep(state.e12, close);
  const e26 = emaStep(state.e26, close);
  const rsi = rsiStep(state.rsi, close);
  let sig = state.sig;
  let macd = null;
  if (e12.value !== null && e26.value !== null) {
    macd = e12.value - e26.value;
    sig = emaStep(state.sig, macd);
  }
  return { ema20, ema50, e12, e26, rsi, sig, macd };
}

export function initialState() {
  return {
    ema20: emaInit(20),
    ema50: emaInit(50),
    e12: emaInit(12),
    e26: emaInit(26),
    rsi: rsiInit(14),
    sig: emaInit(9),
    macd: null,
  };
}

/** The displayable values of a state. */
export function values(s) {
  const signal = s.macd === null ? null : s.sig.value;
  return {
    ema20: s.ema20.value,
    ema50: s.ema50.value,
    rsi: rsiValue(s.rsi),
    macd: s.macd,
    signal,
    hist: s.macd !== null && signal !== null ? s.macd - signal : null,
  };
}

/** Whole series computed from closes: { ema20, ema50, rsi14, macd, macd_signal, macd_hist }. */
export function computeSeries(closes) {
  const out = { ema20: [], ema50: [], rsi14: [], macd: [], macd_signal: [], macd_hist: [] };
  let s = initialState();
  for (const c of closes) {
    s = step(s, c);
    const v = values(s);
    out.ema20.push(v.ema20);
    out.ema50.push(v.ema50);
    out.rsi14.push(v.rsi);
    out.macd.push(v.macd);
    out.macd_signal.push(v.signal);
    out.macd_hist.push(v.hist);
  }
  return out;
}

const fin = (x) => typeof x === "number" && Number.isFinite(x);

/**
 * Align a client state with the server's published values at the same bar, so the live point
 * continues the server's series exactly (the server may have seen history before our window).
 */
function alignToServer(s, srv) {
  const out = { ...s };
  if (fin(srv.ema20)) out.ema20 = { ...s.ema20, value: srv.ema20 };
  if (fin(srv.ema50)) out.ema50 = { ...s.ema50, value: srv.ema50 };
  if (fin(srv.macd) && s.e26.value !== null) {
    // Only the difference is published; keep our EMA26 and shift EMA12 so e12 - e26 matches.
    out.e12 = { ...s.e12, value: s.e26.value + srv.macd };
    out.macd = srv.macd;
  }
  if (fin(srv.signal) && out.macd !== null) out.sig = { ...s.sig, value: srv.signal };
  if (fin(srv.rsi) && s.rsi.avgLoss !== null) {
    const r = Math.min(100, Math.max(0, srv.rsi));
    let { avgGain, avgLoss } = s.rsi;
    const scale = avgGain + avgLoss || 1e-12;
    if (r >= 100) {
      avgGain = scale;
      avgLoss = 0;
    } else {
      // Keep the magnitude (avgGain + avgLoss) and adopt the server's ratio.
      const rs = r / (100 - r);
      avgLoss = scale / (1 + rs);
      avgGain = scale - avgLoss;
    }
    out.rsi = { ...s.rsi, avgGain, avgLoss };
  }
  return out;
}

/**
 * Live indicators for one symbol+timeframe. `bars` and `series` come from /api/chart; update(bar)
 * returns the values for bar.t, or null when the bar is older than the newest one.
 */
export class LiveIndicators {
  constructor(bars, series) {
    const n = bars.length;
    let s = initialState();
    for (let i = 0; i < n - 1; i += 1) s = step(s, bars[i].c);
    if (n >= 2) {
      const k = n - 2;
      s = alignToServer(s, {
        ema20: series.ema20?.[k],
        ema50: series.ema50?.[k],
        macd: series.macd?.[k],
        signal: series.macd_signal?.[k],
        rsi: series.rsi14?.[k],
      });
    }
    this.prev = s;
    this.lastT = n ? bars[n - 1].t : null;
    this.cur = n ? step(s, bars[n - 1].c) : s;
  }

  update(bar) {
    if (this.lastT !== null && bar.t < this.lastT) return null;
    if (this.lastT === null || bar.t > this.lastT) {
      this.prev = this.cur;
      this.lastT = bar.t;
    }
    this.cur = step(this.prev, bar.c);
    return values(this.cur);
  }
}
