// The data behind the performance charts: equity points, their running peak and drawdown, and
// the daily P&L grouped by the trading session's day (VIGIL_SESSION_TZ), thinned to stay small.

export const MAX_POINTS = 2400;
export const MAX_DAYS = 60;

const zoneFormats = new Map();

/** Intl parts for `tz`, or for the browser's zone when tz is empty or unknown to the browser. */
function partsIn(tz) {
  let fmt = zoneFormats.get(tz);
  if (!fmt) {
    const opts = {
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    };
    try {
      fmt = new Intl.DateTimeFormat("en-US", { ...opts, timeZone: tz || undefined });
    } catch {
      fmt = new Intl.DateTimeFormat("en-US", opts);
    }
    zoneFormats.set(tz, fmt);
  }
  return (ms) => {
    const out = {};
    for (const p of fmt.formatToParts(ms)) out[p.type] = p.value;
    return out;
  };
}

/**
 * Formatters for zone `tz`: day(ms) "YYYY-MM-DD", clock(ms) "HH:MM", stamp(ms) date and time,
 * zone(ms) the zone's short name then ("EST").
 */
export function zoneFormat(tz) {
  const parts = partsIn(tz || "");
  return {
    day(ms) {
      const p = parts(ms);
      return `${p.year}-${p.month}-${p.day}`;
    },
    clock(ms) {
      const p = parts(ms);
      return `${p.hour}:${p.minute}`;
    },
    stamp(ms) {
      const p = parts(ms);
      return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
    },
    zone(ms) {
      return parts(ms).timeZoneName || "";
    },
  };
}

/**
 * Equity points (chart time in whole seconds), the running peak at each, and per session day
 * {key, base, last}: a day's P&L runs from the previous day's last equity (day one: its first).
 * `version` changes whenever earlier points are rewritten, so a view knows to redraw fully.
 */
export class EquityData {
  constructor() {
    this.range = { from: "", to: "" };
    this.zone = "";
    this.fmt = zoneFormat("");
    this.points = []; // {time, value, peak}
    this.days = [];
    this.version = 0;
  }

  reset(zone) {
    this.zone = zone || "";
    this.fmt = zoneFormat(this.zone);
    this.points = [];
    this.days = [];
    this.version += 1;
  }

  /** Add one point (epoch ms, equity); a point in the same second replaces the last. */
  add(ms, equity) {
    if (!Number.isFinite(ms) || !Number.isFinite(equity)) return false;
    const time = Math.floor(ms / 1000);
    const pts = this.points;
    const last = pts[pts.length - 1];
    if (last && time < last.time) return false;
    if (last && time === last.time) {
      const before = pts.length > 1 ? pts[pts.length - 2].peak : -Infinity;
      last.value = equity;
      last.peak = Math.max(equity, before);
    } else {
      const peak = Math.max(equity, last ? last.peak : -Infinity);
      pts.push({ time, value: equity, peak, day: this.fmt.day(ms) });
    }
    const key = this.fmt.day(ms);
    const d = this.days[this.days.length - 1];
    if (d && d.key === key) d.last = equity;
    else if (!d || key > d.key) {
      this.days.push({ key, base: d ? d.last : equity, last: equity });
      // The shown window slides by a day: its oldest bar goes.
      if (this.days.length > MAX_DAYS) this.version += 1;
      if (this.days.length > MAX_DAYS * 2) this.days.splice(0, this.days.length - MAX_DAYS);
    }
    if (pts.length > MAX_POINTS) this.thin();
    return true;
  }

  /** Halve the resolution of the older two thirds (peaks stay those of the full series). */
  thin() {
    const cut = Math.floor((this.points.length * 2) / 3);
    const kept = [];
    for (let i = 0; i < cut; i += 2) kept.push(this.points[i]);
    this.points.splice(0, cut, ...kept);
    this.version += 1;
  }

  /** Replace everything with `curve` ([{t, equity}]), stride-sampling very long histories. */
  load(curve, zone) {
    this.reset(zone);
    const pts = Array.isArray(curve) ? curve : [];
    // The tail is always kept at full resolution.
    const stride = pts.length > MAX_POINTS ? Math.ceil(pts.length / MAX_POINTS) : 1;
    for (let i = 0; i < pts.length; i++) {
      if (stride > 1 && i % stride !== 0 && i < pts.length - 200) continue;
      if (pts[i]) this.add(pts[i].t, pts[i].equity);
    }
  }

  /**
   * Show only the session days from `from` to `to` (YYYY-MM-DD, inclusive; "" for open), the
   * date-range picker's values: the same keys the daily bars carry.
   */
  setRange(from, to) {
    this.range = { from: from || "", to: to || "" };
    this.version += 1;
  }

  inRange(key) {
    const r = this.range || { from: "", to: "" };
    return (!r.from || key >= r.from) && (!r.to || key <= r.to);
  }

  /** The equity points in the picked range (all of them without one). */
  shownPoints() {
    const r = this.range;
    if (!r || (!r.from && !r.to)) return this.points;
    return this.points.filter((p) => this.inRange(p.day));
  }

  /** The days shown: the newest MAX_DAYS in the picked range, each with its P&L. */
  shownDays() {
    return this.days
      .filter((d) => this.inRange(d.key))
      .slice(-MAX_DAYS)
      .map((d) => ({ key: d.key, pnl: d.last - d.base }));
  }
}
