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

/** A fraction as percent: pct(0.0123) → "1.23%". */
export function pct(x, digits = 2) {
  if (!ok(x)) return DASH;
  return `${nf(digits, digits).format(x * 100)}%`;
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

/** Decimal places that keep a price readable at its magnitude. */
export function priceDigits(x, symbol = "") {
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

/** Quantity without trailing zeros, up to 8 decimals (crypto lots). */
export function qty(x) {
  if (!ok(x)) return DASH;
  return nf(0, 8).format(x);
}

function pad(n) {
  return n < 10 ? `0${n}` : `${n}`;
}

/** Local wall-clock time HH:MM:SS of an epoch-ms timestamp. */
export function timeOf(ms) {
  if (!ok(ms)) return DASH;
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Local date YYYY-MM-DD of an epoch-ms timestamp. */
export function dateOf(ms) {
  if (!ok(ms)) return DASH;
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Local "YYYY-MM-DD HH:MM:SS". */
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

/** CSS class for a P&L figure: "pos" | "neg" | "flat". */
export function pnlClass(x) {
  if (!ok(x) || x === 0) return "flat";
  return x > 0 ? "pos" : "neg";
}
