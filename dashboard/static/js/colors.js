// The page's colour helpers: reads the theme's CSS custom properties for canvas drawing and
// converts them to rgba. Canvas and lightweight-charts cannot use var(--x), so the palette is
// re-read on every theme change from the element a chart lives in (inheriting the theme).

const NAMES = [
  "bg",
  "panel",
  "panel-2",
  "border",
  "text",
  "muted",
  "accent",
  "bull",
  "bear",
  "warn",
  "danger",
  "ok",
  "font-mono",
];

const FALLBACK = {
  bg: "#0b0e14",
  panel: "#131722",
  "panel-2": "#1b2030",
  border: "#2a2e39",
  text: "#d1d4dc",
  muted: "#787b86",
  accent: "#2962ff",
  bull: "#26a69a",
  bear: "#ef5350",
  warn: "#f0b90b",
  danger: "#ff3b30",
  ok: "#26a69a",
  "font-mono": "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
};

let probe = null;

/** Normalise any CSS color to [r, g, b, a] using a canvas context as the parser. */
function parse(color) {
  if (!probe) probe = document.createElement("canvas").getContext("2d");
  probe.fillStyle = "#000";
  probe.fillStyle = color;
  const s = probe.fillStyle;
  if (s.startsWith("#")) {
    return [
      parseInt(s.slice(1, 3), 16),
      parseInt(s.slice(3, 5), 16),
      parseInt(s.slice(5, 7), 16),
      1,
    ];
  }
  const m = s.match(/rgba?\(([^)]+)\)/);
  if (!m) return [0, 0, 0, 1];
  const parts = m[1].split(",").map((p) => parseFloat(p));
  return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
}

const alphaCache = new Map();

/** The color with its alpha multiplied by `a`, as an rgba() string (memoised: hot in draws). */
export function alpha(color, a) {
  const key = `${color}|${a}`;
  let out = alphaCache.get(key);
  if (out === undefined) {
    const [r, g, b, base] = parse(color);
    out = `rgba(${r}, ${g}, ${b}, ${+(base * a).toFixed(3)})`;
    if (alphaCache.size > 512) alphaCache.clear();
    alphaCache.set(key, out);
  }
  return out;
}

/**
 * The current palette, keyed camelCase (panel2, fontMono), read from `node`'s computed style,
 * plus `colorBlind` (the page's colour-blind mode is on).
 */
export function readPalette(node) {
  const style = getComputedStyle(node);
  const out = {};
  for (const name of NAMES) {
    const value = style.getPropertyValue(`--${name}`).trim() || FALLBACK[name];
    out[name.replace(/-(\w)/g, (_, ch) => ch.toUpperCase())] = value;
  }
  out.colorBlind = document.documentElement.dataset.cb === "1";
  return out;
}
