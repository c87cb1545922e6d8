// Volume profile of the visible bars: horizontal buy/sell bars on the right edge of the price
// pane with a point-of-control line, drawn as a lightweight-charts series primitive so it stays
// in sync with scrolling and price-scale changes without a separate overlay to keep aligned.

import { alpha } from "../colors.js";

/**
 * Profile of `bars` between indices from..to (inclusive): each bar's volume is spread evenly
 * over its high–low range. Returns { bins: [{low, high, volume, buy, sell}], poc } or null.
 */
export function computeProfile(bars, from, to, binCount = 32) {
  const a = Math.max(0, Math.floor(from));
  const b = Math.min(bars.length - 1, Math.ceil(to));
  if (b < a) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = a; i <= b; i += 1) {
    if (bars[i].l < lo) lo = bars[i].l;
    if (bars[i].h > hi) hi = bars[i].h;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return null;
  if (hi <= lo) hi = lo + Math.max(Math.abs(lo) * 1e-6, 1e-9);
  const step = (hi - lo) / binCount;
  const bins = Array.from({ length: binCount }, (_, k) => ({
    low: lo + k * step,
    high: lo + (k + 1) * step,
    volume: 0,
    buy: 0,
    sell: 0,
  }));
  for (let i = a; i <= b; i += 1) {
    const bar = bars[i];
    const v = bar.v || 0;
    if (v <= 0) continue;
    const buyShare = bar.buy_v + bar.sell_v > 0 ? bar.buy_v / (bar.buy_v + bar.sell_v) : 0.5;
    const k0 = Math.min(binCount - 1, Math.floor((bar.l - lo) / step));
    const k1 = Math.min(binCount - 1, Math.floor((bar.h - lo) / step));
    const span = bar.h - bar.l;
    for (let k = k0; k <= k1; k += 1) {
      const share =
        span > 0
          ? (Math.min(bar.h, bins[k].high) - Math.max(bar.l, bins[k].low)) / span
          : 1 / (k1 - k0 + 1);
      if (share <= 0) continue;
      bins[k].volume += v * share;
      bins[k].buy += v * share * buyShare;
      bins[k].sell += v * share * (1 - buyShare);
    }
  }
  let best = bins[0];
  for (const bin of bins) if (bin.volume > best.volume) best = bin;
  if (best.volume <= 0) return null;
  return { bins, poc: (best.low + best.high) / 2, max: best.volume };
}

class ProfileRenderer {
  constructor(source) {
    this.source = source;
  }

  draw(target) {
    const { profile, series, palette, formatPrice } = this.source;
    if (!profile || !series || !palette) return;
    target.useBitmapCoordinateSpace((scope) => {
      const ctx = scope.context;
      const hr = scope.horizontalPixelRatio;
      const vr = scope.verticalPixelRatio;
      const width = scope.bitmapSize.width;
      const maxW = Math.min(width * 0.22, 220 * hr);
      const right = width - 2 * hr;
      ctx.save();
      for (const bin of profile.bins) {
        if (bin.volume <= 0) continue;
        const y1 = series.priceToCoordinate(bin.high);
        const y2 = series.priceToCoordinate(bin.low);
        if (y1 === null || y2 === null) continue;
        const top = Math.round(Math.min(y1, y2) * vr) + 1;
        const h = Math.max(1, Math.round(Math.abs(y2 - y1) * vr) - 1);
        const w = (bin.volume / profile.max) * maxW;
        const wBuy = (bin.buy / bin.volume) * w;
        const isPoc = profile.poc >= bin.low && profile.poc <= bin.high;
        const a = isPoc ? 0.55 : 0.26;
        ctx.fillStyle = alpha(palette.bull, a);
        ctx.fillRect(Math.round(right - w), top, Math.round(wBuy), h);
        ctx.fillStyle = alpha(palette.bear, a);
        ctx.fillRect(Math.round(right - w + wBuy), top, Math.round(w - wBuy), h);
      }
      const yPoc = series.priceToCoordinate(profile.poc);
      if (yPoc !== null) {
        const y = Math.round(yPoc * vr) + 0.5;
        ctx.strokeStyle = alpha(palette.warn, 0.85);
        ctx.lineWidth = Math.max(1, hr);
        ctx.setLineDash([4 * hr, 3 * hr]);
        ctx.beginPath();
        ctx.moveTo(0, y);
        ctx.lineTo(width, y);
        ctx.stroke();
        ctx.setLineDash([]);
        const label = `POC ${formatPrice(profile.poc)}`;
        ctx.font = `${Math.round(10 * vr)}px ${palette.fontMono}`;
        const tw = ctx.measureText(label).width;
        const x = right - maxW - tw - 10 * hr;
        ctx.fillStyle = alpha(palette.panel, 0.85);
        ctx.fillRect(x - 3 * hr, y - 7 * vr, tw + 6 * hr, 14 * vr);
        ctx.fillStyle = palette.warn;
        ctx.textBaseline = "middle";
        ctx.fillText(label, x, y);
      }
      ctx.restore();
    });
  }
}

/** A series primitive: attach with series.attachPrimitive(p), then p.set(profile). */
export class VolumeProfilePrimitive {
  constructor(formatPrice) {
    this.profile = null;
    this.series = null;
    this.palette = null;
    this.formatPrice = formatPrice;
    this.requestUpdate = null;
    const renderer = new ProfileRenderer(this);
    this.view = { zOrder: () => "bottom", renderer: () => renderer };
  }

  attached({ series, requestUpdate }) {
    this.series = series;
    this.requestUpdate = requestUpdate;
  }

  detached() {
    this.series = null;
    this.requestUpdate = null;
  }

  updateAllViews() {}

  paneViews() {
    return [this.view];
  }

  set(profile) {
    this.profile = profile;
    this.requestUpdate?.();
  }

  setPalette(palette) {
    this.palette = palette;
    this.requestUpdate?.();
  }
}
