// Number, money and time formatting shared by every panel (core and market view).
// Formatters are cached because Intl.NumberFormat construction is far slower than formatting,
// and the page formats thousands of values per second under load.

const DASH = "—";
const cache = new Map();

function nf(min, max, extra = {}) {
  const key = `${min}|${max}|${JSON.stringify(extra)}`;
  let f = cache.get(key);
  if (!f) {
    f = new Intl.NumberFormat("en-US", {
      minimumFractionDigits: min,
      maximumFractionDigits: max,
      ...extra,
    });
    cache.set(key, f);
  }
  return f;
}

function ok(x) {
  return typeof x === "number" && Number.isFinite(x);
}

/** Plain number with fixed digits and thousands separators: num(1234.5) → "1,234.50". */
export function num(x, digits = 2) {
  if (!ok(x)) return x === Infinity ? "∞" : DASH;
  return nf(digits, digits).format(x);
}

/** Account-currency amount: money(-8) → "-$8.00". */
export function money(x) {
  if (!ok(x)) return DASH;
  const s = nf(2, 2).format(Math.abs(x));
  return x < 0 && s !== "0.00" ? `-$${s}` : `$${s}`;
}

/** Money with an explicit sign for P&L: "+$12.50", "-$8.00", "$0.00". */
export function signedMoney(x) {
  if (!ok(x)) return DASH;
  const s = nf(2, 2).format(Math.abs(x));
  if (s === "0.00") return "$0.00";
  return x > 0 ? `+$${s}` : `-$${s}`;
}

/**
 * A fraction as percent: pct(0.0123) → "1.23%". A value that is not zero keeps enough digits
 * not to read as zero: pct(-0.0000334) → "-0.003%", never "0.00%" beside "-$3.34".
 */
export function pct(x, digits = 2) {
  if (!ok(x)) return DASH;
  const v = x * 100;
  let d = digits;
  // Below 8 decimals the amount behind it shows as $0.00 too: noise, left as 0.00%.
  if (Math.abs(v) >= 0.5e-8 && Math.abs(v) < 0.5 * 10 ** -digits) {
    d = Math.min(8, Math.ceil(-Math.log10(Math.abs(v))));
  }
  return `${nf(d, d).format(v)}%`;
}

/** A fraction as signed percent for changes: "+1.23%". */
export function signedPct(x, digits = 2) {
  if (!ok(x)) return DASH;
  const s = pct(x, digits);
  return x > 0 ? `+${s}` : s;
}

/** Basis points (the value is already in bps): bps(3.21) → "3.2 bps". */
export function bps(x) {
  if (!ok(x)) return DASH;
  return `${nf(1, 1).format(x)} bps`;
}

// What the server says about the page: the display time zone (the session's) and each
// instrument's tick and lot size (dashboard/routes.py renders them into index.html).
const config = { tz: undefined, tzLabel: "", instruments: {} };
let parts = null; // the display zone's cached Intl.DateTimeFormat

/** Set once at start from the page's config; `instruments` maps symbol → {tick, lot}. */
export function configure({ tz, instruments } = {}) {
  if (tz) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: tz });
      config.tz = tz;
    } catch {
      config.tz = undefined;
    }
  }
  if (instruments && typeof instruments === "object") config.instruments = instruments;
  parts = null;
  config.tzLabel = config.tz ? zoneName(config.tz) : "";
}

/** The display zone: {zone: "America/New_York", short: "EST"} (short "" when unknown). */
export function timeZoneLabel() {
  const zone = config.tz || Intl.DateTimeFormat().resolvedOptions().timeZone;
  return { zone, short: config.tzLabel || zoneName(zone) };
}

export function displayTimeZone() {
  return config.tz;
}

function zoneName(tz) {
  const part = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "short" })
    .formatToParts(new Date())
    .find((p) => p.type === "timeZoneName");
  return part ? part.value : "";
}

/** Decimals of a step: 0.01 → 2, 1 → 0, 0.00001 → 5 (null for no usable step). */
export function stepDigits(step) {
  if (!ok(step) || step <= 0) return null;
  for (let d = 0; d <= 10; d += 1) {
    if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-6) return d;
  }
  return 10;
}

/** `step`'s decimals when `x` sits on it (float noise aside), else null: a real 0.5 share
 * of a 1-share lot is shown as it is, not rounded away. */
function onStep(x, step) {
  const d = stepDigits(step);
  if (d === null) return null;
  const r = Number(x.toFixed(d));
  return Math.abs(r - x) <= 1e-9 * Math.max(1, Math.abs(x)) ? d : null;
}

/** Decimal places of a price: the instrument's tick's (at least 2), else by magnitude. */
export function priceDigits(x, symbol = "") {
  const inst = config.instruments[symbol];
  const tick = inst ? stepDigits(inst.tick) : null;
  if (tick !== null) return Math.max(tick, 2);
  const a = Math.abs(x);
  if (a === 0) return 2;
  if (a < 0.01) return 6;
  if (a < 1) return 4;
  if (a < 10 && symbol.includes("/")) return 4;
  return 2;
}

/** A price at the precision its magnitude needs: price(0.012345) → "0.0123". */
export function price(x, symbol = "") {
  if (!ok(x)) return DASH;
  const d = priceDigits(x, symbol);
  return nf(d, d).format(x);
}

/** Quantity at the instrument's lot precision, else without trailing zeros up to 8 decimals. */
export function qty(x, symbol = "") {
  if (!ok(x)) return DASH;
  const inst = config.instruments[symbol];
  const lot = inst ? onStep(x, inst.lot) : null;
  return lot !== null ? nf(0, lot).format(x) : nf(0, 8).format(x);
}

function pad(n) {
  return n < 10 ? `0${n}` : `${n}`;
}

/** {y, m, d, h, mi, s} of epoch ms in the display zone (the browser's when none is set). */
export function wallClock(ms) {
  const d = new Date(ms);
  if (!config.tz) {
    return {
      y: d.getFullYear(),
      m: d.getMonth() + 1,
      d: d.getDate(),
      h: d.getHours(),
      mi: d.getMinutes(),
      s: d.getSeconds(),
    };
  }
  parts =
    parts ||
    new Intl.DateTimeFormat("en-US", {
      timeZone: config.tz,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
  const f = {};
  for (const p of parts.formatToParts(d)) f[p.type] = Number(p.value);
  return { y: f.year, m: f.month, d: f.day, h: f.hour % 24, mi: f.minute, s: f.second };
}

/**
 * Epoch ms of midnight starting `YYYY-MM-DD` in the display zone (an <input type=date>'s
 * value), or null: the day the tables show is the day the filters and the CSV use.
 */
export function dayStartMs(value) {
  if (!value) return null;
  const [y, m, d] = value.split("-").map(Number);
  if (!y || !m || !d) return null;
  let guess = Date.UTC(y, m - 1, d);
  // Two corrections find the zone's offset at that midnight, across a DST change too.
  for (let i = 0; i < 2; i += 1) {
    const w = wallClock(guess);
    guess -= Date.UTC(w.y, w.m - 1, w.d, w.h, w.mi, w.s) - Date.UTC(y, m - 1, d);
  }
  return guess;
}

/** Wall-clock time HH:MM:SS of an epoch-ms timestamp in the display zone. */
export function timeOf(ms) {
  if (!ok(ms)) return DASH;
  const w = wallClock(ms);
  return `${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}`;
}

/** Date YYYY-MM-DD of an epoch-ms timestamp in the display zone. */
export function dateOf(ms) {
  if (!ok(ms)) return DASH;
  const w = wallClock(ms);
  return `${w.y}-${pad(w.m)}-${pad(w.d)}`;
}

/** "YYYY-MM-DD HH:MM:SS" in the display zone. */
export function dateTimeOf(ms) {
  if (!ok(ms)) return DASH;
  return `${dateOf(ms)} ${timeOf(ms)}`;
}

/** A short human duration: 45s, 12m 3s, 3h 4m, 2d 5h. */
export function duration(ms) {
  if (!ok(ms) || ms < 0) return DASH;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** CSS class for a P&L amount: "pos" | "neg" | "flat" (what shows as $0.00 is flat). */
export function pnlClass(x) {
  if (!ok(x) || Math.abs(x) < 0.005) return "flat";
  return x > 0 ? "pos" : "neg";
}
