// Equity curve with drawdown shading and daily P&L bars (Chart.js), updated in place: new
// points are appended to the existing datasets and the chart is never re-created.

import { cssVar } from "../theme.js";
import { dateOf, money, num, signedMoney, timeOf } from "../format.js";

const MAX_POINTS = 2400;
const MAX_DAYS = 60;
const MIN_REDRAW_MS = 250;

function alpha(color, a) {
  const c = color.trim();
  if (c.startsWith("#") && (c.length === 7 || c.length === 4)) {
    const hex =
      c.length === 4
        ? c
            .slice(1)
            .split("")
            .map((h) => h + h)
            .join("")
        : c.slice(1);
    const v = parseInt(hex, 16);
    return `rgba(${(v >> 16) & 255}, ${(v >> 8) & 255}, ${v & 255}, ${a})`;
  }
  return c;
}

function dayKey(ms) {
  return dateOf(ms);
}

export function createEquityCharts({ equityCanvas, barsCanvas, theme }) {
  const Chart = window.Chart;
  if (!Chart) {
    equityCanvas.replaceWith(document.createTextNode("Chart library failed to load."));
    return { load() {}, push() {} };
  }
  const eq = [];
  const peak = [];
  const days = []; // [{key, first, last}]
  let lastDraw = 0;
  let drawTimer = null;

  const gridColor = () => alpha(cssVar("--border") || "#333", 0.6);
  const common = () => ({
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    normalized: true,
    plugins: { legend: { display: false } },
  });

  const equityChart = new Chart(equityCanvas, {
    type: "line",
    data: {
      datasets: [
        {
          label: "Peak",
          data: peak,
          parsing: false,
          borderWidth: 1,
          borderDash: [3, 3],
          pointRadius: 0,
          fill: false,
        },
        {
          label: "Equity",
          data: eq,
          parsing: false,
          borderWidth: 1.6,
          pointRadius: 0,
          pointHoverRadius: 3,
          tension: 0,
          // Shade the gap between equity and its running peak: the drawdown.
          fill: { target: 0, above: "transparent", below: "rgba(0,0,0,0)" },
        },
      ],
    },
    options: {
      ...common(),
      interaction: { mode: "index", intersect: false },
      scales: {
        x: {
          type: "linear",
          ticks: { maxTicksLimit: 7, maxRotation: 0, callback: (v) => tickLabel(v) },
          grid: { display: false },
        },
        y: {
          position: "right",
          ticks: { maxTicksLimit: 6, callback: (v, _i, ticks) => axisMoney(v, ticks) },
        },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) =>
              items.length ? `${dateOf(items[0].parsed.x)} ${timeOf(items[0].parsed.x)}` : "",
            label: (item) => {
              if (item.datasetIndex === 0) return `Peak ${money(item.parsed.y)}`;
              const p = peak[item.dataIndex];
              const dd = p ? item.parsed.y - p.y : 0;
              return `Equity ${money(item.parsed.y)}  (DD ${signedMoney(dd)})`;
            },
          },
        },
      },
    },
  });

  const barsChart = new Chart(barsCanvas, {
    type: "bar",
    data: {
      labels: [],
      datasets: [{ label: "Daily P&L", data: [], backgroundColor: [], maxBarThickness: 22 }],
    },
    options: {
      ...common(),
      scales: {
        x: {
          ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 10 },
          grid: { display: false },
        },
        y: {
          position: "right",
          ticks: { maxTicksLimit: 3, callback: (v, _i, ticks) => axisMoney(v, ticks) },
        },
      },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (item) => `P&L ${signedMoney(item.parsed.y)}` } },
      },
    },
  });

  function span() {
    return eq.length > 1 ? eq[eq.length - 1].x - eq[0].x : 0;
  }
  function tickLabel(v) {
    return span() > 2 * 86400000 ? dateOf(v).slice(5) : timeOf(v).slice(0, 5);
  }
  /** Axis label with as many digits as the tick step needs: $5 moves on $100k stay legible. */
  function axisMoney(v, ticks) {
    const step =
      ticks && ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : Math.abs(v);
    const a = Math.abs(v);
    if (step >= 1e5 && a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
    if (step >= 1000 && a >= 1e4) return `${(v / 1e3).toFixed(step >= 10000 ? 0 : 1)}k`;
    return num(v, step >= 1 ? 0 : 2);
  }


  function applyColors() {
    const accent = cssVar("--accent") || "#4aa3ff";
    const muted = cssVar("--muted") || "#888";
    const bull = cssVar("--bull") || "#26a69a";
    const bear = cssVar("--bear") || "#ef5350";
    const text = muted;
    const [pk, e] = equityChart.data.datasets;
    pk.borderColor = alpha(muted, 0.7);
    e.borderColor = accent;
    e.fill.below = alpha(bear, 0.28);
    e.fill.above = "transparent";
    for (const ch of [equityChart, barsChart]) {
      for (const axis of Object.values(ch.options.scales)) {
        axis.ticks.color = text;
        axis.grid.color = gridColor();
        axis.border = { color: gridColor() };
      }
    }
    barsChart.data.datasets[0].backgroundColor = days
      .slice(-MAX_DAYS)
      .map((d) => alpha(d.last - d.base >= 0 ? bull : bear, 0.85));
    barsChart.$bull = bull;
    barsChart.$bear = bear;
  }

  function thin() {
    // Halve the resolution of the older two thirds; peak and equity stay index-aligned.
    const cut = Math.floor((eq.length * 2) / 3);
    const keepE = [];
    const keepP = [];
    for (let i = 0; i < cut; i += 2) {
      keepE.push(eq[i]);
      keepP.push(peak[i]);
    }
    eq.splice(0, cut, ...keepE);
    peak.splice(0, cut, ...keepP);
  }

  function addPoint(t, equity) {
    if (!Number.isFinite(t) || !Number.isFinite(equity)) return;
    const last = eq[eq.length - 1];
    if (last && t < last.x) return;
    if (last && t === last.x) {
      last.y = equity;
    } else {
      eq.push({ x: t, y: equity });
      peak.push({ x: t, y: 0 });
    }
    const i = eq.length - 1;
    peak[i].y = Math.max(equity, i > 0 ? peak[i - 1].y : equity);
    const k = dayKey(t);
    const d = days[days.length - 1];
    if (d && d.key === k) d.last = equity;
    // A day's P&L runs from the previous day's close (or its own first point for day one).
    else days.push({ key: k, base: d ? d.last : equity, last: equity });
    if (days.length > MAX_DAYS * 2) days.splice(0, days.length - MAX_DAYS);
    if (eq.length > MAX_POINTS) thin();
  }

  function syncBars() {
    const shown = days.slice(-MAX_DAYS);
    const ds = barsChart.data.datasets[0];
    barsChart.data.labels = shown.map((d) => d.key.slice(5));
    ds.data = shown.map((d) => d.last - d.base);
    ds.backgroundColor = shown.map((d) =>
      alpha(d.last - d.base >= 0 ? barsChart.$bull : barsChart.$bear, 0.85),
    );
  }

  function draw() {
    drawTimer = null;
    lastDraw = performance.now();
    syncBars();
    equityChart.update("none");
    barsChart.update("none");
  }

  function requestDraw() {
    if (drawTimer) return;
    const wait = Math.max(0, MIN_REDRAW_MS - (performance.now() - lastDraw));
    drawTimer = setTimeout(() => requestAnimationFrame(draw), wait);
  }

  applyColors();
  theme.onChange(() => {
    applyColors();
    requestDraw();
  });

  return {
    /** Replace the whole curve (snapshot / resync). */
    load(curve) {
      eq.length = 0;
      peak.length = 0;
      days.length = 0;
      const pts = Array.isArray(curve) ? curve : [];
      // Stride-sample very long histories; the tail is always kept at full resolution.
      const stride = pts.length > MAX_POINTS ? Math.ceil(pts.length / MAX_POINTS) : 1;
      for (let i = 0; i < pts.length; i++) {
        if (stride > 1 && i % stride !== 0 && i < pts.length - 200) continue;
        addPoint(pts[i].t, pts[i].equity);
      }
      requestDraw();
    },
    /** Append one point (performance_update.equity_point). */
    push(point) {
      if (!point) return;
      addPoint(point.t, point.equity);
      requestDraw();
    },
  };
}
