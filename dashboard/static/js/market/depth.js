// The depth chart: cumulative bid and ask size against price, drawn on a plain canvas.
// A canvas of our own (rather than a chart library) keeps a 10 Hz redraw to one cheap path per side;
// its labels are DOM text, because canvas fillText re-resolves fonts on every draw.

import { price } from "../format.js";
import { alpha } from "../colors.js";
import { el, setText } from "../dom.js";
import { cumulate, sizeText } from "./orderbook.js";

/** Create the chart inside `parent`. Returns { setSymbol, book(payload), setPalette(p), render }. */
export function createDepthChart(parent) {
  const canvas = el("canvas", { "aria-label": "Market depth chart", role: "img" });
  const readout = el("div", { class: "depth-readout num", "aria-hidden": "true" });
  const label = {
    lo: el("span", { class: "depth-lo num" }),
    mid: el("span", { class: "depth-mid num" }),
    hi: el("span", { class: "depth-hi num" }),
    max: el("span", { class: "depth-max num" }),
  };
  const root = el(
    "div",
    { id: "depth-chart", class: "mv-card depth-chart" },
    el("div", { class: "mv-card-head" }, el("span", { class: "mv-card-title", text: "Depth" })),
    el(
      "div",
      { class: "depth-canvas-wrap" },
      canvas,
      readout,
      label.max,
      el("div", { class: "depth-axis", "aria-hidden": "true" }, label.lo, label.mid, label.hi),
    ),
  );
  parent.append(root);
  const ctx = canvas.getContext("2d");
  let palette = null;
  let symbol = "";
  let bids = [];
  let asks = [];
  let hover = null;
  let dirty = true;
  let width = 0;
  let height = 0;

  let boxW = 0;
  let boxH = 0;
  // Sizes come from the observer so render() never reads layout (a forced reflow per frame).
  const ro = new ResizeObserver((entries) => {
    const box = entries[entries.length - 1].contentRect;
    boxW = Math.floor(box.width);
    boxH = Math.floor(box.height);
    dirty = true;
    onDirty();
  });
  ro.observe(canvas.parentElement);
  let onDirty = () => {};

  canvas.addEventListener("pointermove", (ev) => {
    hover = { x: ev.offsetX, y: ev.offsetY };
    dirty = true;
    onDirty();
  });
  canvas.addEventListener("pointerleave", () => {
    hover = null;
    dirty = true;
    onDirty();
  });

  function sizeCanvas() {
    const w = boxW;
    const h = boxH;
    const dpr = window.devicePixelRatio || 1;
    if (w !== width || h !== height || canvas.width !== Math.round(w * dpr)) {
      width = w;
      height = h;
      canvas.width = Math.max(1, Math.round(w * dpr));
      canvas.height = Math.max(1, Math.round(h * dpr));
      canvas.style.width = `${w}px`;
      canvas.style.height = `${h}px`;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  function stepPath(levels, x, y, baseY, midX) {
    ctx.beginPath();
    ctx.moveTo(midX, baseY);
    let prevY = baseY;
    for (const lv of levels) {
      const px = x(lv.price);
      ctx.lineTo(px, prevY);
      prevY = y(lv.total);
      ctx.lineTo(px, prevY);
    }
    const edge = levels.length ? x(levels[levels.length - 1].price) : midX;
    return { edge, lastY: prevY };
  }

  function drawSide(levels, x, y, baseY, midX, color, farX) {
    if (!levels.length) return;
    const { lastY } = stepPath(levels, x, y, baseY, midX);
    ctx.lineTo(farX, lastY);
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.lineTo(farX, baseY);
    ctx.closePath();
    const grad = ctx.createLinearGradient(0, y(levels[levels.length - 1].total), 0, baseY);
    grad.addColorStop(0, alpha(color, 0.35));
    grad.addColorStop(1, alpha(color, 0.06));
    ctx.fillStyle = grad;
    ctx.fill();
  }

  function render() {
    if (!dirty || !palette) return;
    dirty = false;
    sizeCanvas();
    ctx.clearRect(0, 0, width, height);
    if (width < 40 || height < 40) return;
    const pad = { l: 6, r: 6, t: 18, b: 16 };
    const plotW = width - pad.l - pad.r;
    const baseY = height - pad.b;
    if (!bids.length && !asks.length) {
      setText(label.lo, "");
      setText(label.hi, "");
      setText(label.max, "");
      setText(label.mid, "No depth");
      setText(readout, "");
      return;
    }
    const bestBid = bids[0]?.price ?? asks[0].price;
    const bestAsk = asks[0]?.price ?? bids[0].price;
    const mid = (bestBid + bestAsk) / 2;
    const reach = Math.max(
      mid - (bids[bids.length - 1]?.price ?? mid),
      (asks[asks.length - 1]?.price ?? mid) - mid,
      Math.abs(bestAsk - bestBid),
      mid * 1e-6,
    );
    const lo = mid - reach * 1.04;
    const hi = mid + reach * 1.04;
    const maxTotal =
      Math.max(bids[bids.length - 1]?.total ?? 0, asks[asks.length - 1]?.total ?? 0) || 1;
    const x = (p) => pad.l + ((p - lo) / (hi - lo)) * plotW;
    const y = (v) => baseY - (v / (maxTotal * 1.08)) * (baseY - pad.t);
    const midX = x(mid);

    ctx.strokeStyle = alpha(palette.border, 0.9);
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(pad.l, baseY + 0.5);
    ctx.lineTo(width - pad.r, baseY + 0.5);
    ctx.stroke();
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(Math.round(midX) + 0.5, pad.t);
    ctx.lineTo(Math.round(midX) + 0.5, baseY);
    ctx.stroke();
    ctx.setLineDash([]);

    drawSide(bids, x, y, baseY, midX, palette.bull, pad.l);
    drawSide(asks, x, y, baseY, midX, palette.bear, width - pad.r);

    // The price range is symmetric around mid, so mid is always the centre label.
    setText(label.lo, price(lo, symbol));
    setText(label.hi, price(hi, symbol));
    setText(label.mid, price(mid, symbol));
    setText(label.max, `Σ ${sizeText(maxTotal)}`);

    let text = "";
    if (hover && hover.x >= pad.l && hover.x <= width - pad.r) {
      const p = lo + ((hover.x - pad.l) / plotW) * (hi - lo);
      const side = p <= mid ? bids : asks;
      const inside = side.filter((lv) => (p <= mid ? lv.price >= p : lv.price <= p));
      const total = inside.length ? inside[inside.length - 1].total : 0;
      ctx.strokeStyle = alpha(palette.text, 0.5);
      ctx.beginPath();
      ctx.moveTo(Math.round(hover.x) + 0.5, pad.t);
      ctx.lineTo(Math.round(hover.x) + 0.5, baseY);
      ctx.stroke();
      text = `${price(p, symbol)} · ${p <= mid ? "bids" : "asks"} ${sizeText(total)}`;
    }
    setText(readout, text);
  }

  return {
    root,
    setSymbol(s) {
      symbol = s;
      bids = [];
      asks = [];
      dirty = true;
    },
    book(payload) {
      bids = cumulate(payload.bids);
      asks = cumulate(payload.asks);
      dirty = true;
    },
    setPalette(p) {
      palette = p;
      dirty = true;
    },
    onDirty(fn) {
      onDirty = fn;
    },
    render,
  };
}
