// Trade history: winners/losers coloring, filters, and the CSV export link with the same filters.

import { $, el, schedule, setText } from "../dom.js";
import {
  dateOf,
  dateTimeOf,
  dayStartMs,
  duration,
  money,
  pct,
  pnlClass,
  price,
  qty,
  signedMoney,
  signedPct,
} from "../format.js";
import { KeyedTable } from "../table.js";

// engine/trading/exits.py EXIT_LABELS.
const EXIT_LABELS = {
  strategy_exit: "strategy exit",
  stop_loss: "stop-loss",
  take_profit: "take-profit",
  trailing_stop: "trailing stop",
  manual: "manual",
  flatten: "flatten",
};

// Days are the display zone's (format.js), as the table's times and the CSV export's.
const dayStart = dayStartMs;

/** The midnight that ends the day `value` (a date input's), in the display zone. */
function dayEnd(value) {
  const start = dayStartMs(value);
  if (start === null) return null;
  // 26 h past midnight is always in the next day, even across a DST change.
  return dayStartMs(dateOf(start + 26 * 3600000));
}

function tradeReturn(t) {
  const basis = Math.abs((t.entry_price || 0) * (t.qty || 0));
  return basis ? t.pnl / basis : NaN;
}

export function createTrades(ctx) {
  const f = {
    form: $("#trade-filters"),
    symbol: $("#trade-filter-symbol"),
    side: $("#trade-filter-side"),
    from: $("#trade-filter-from"),
    to: $("#trade-filter-to"),
    result: $("#trade-filter-result"),
    csv: $("#trades-csv"),
    summary: $("#trades-summary"),
  };
  const known = new Set();

  const table = new KeyedTable($("#trades-table tbody"), {
    key: (t) => t.id,
    emptyText: "No trades match",
    rowClass: (t) => (t.pnl > 0 ? "win" : t.pnl < 0 ? "loss" : "scratch"),
    onRow: (tr, t) => {
      tr.dataset.tradeId = t.id;
    },
    columns: [
      { value: (t) => dateTimeOf(t.exit_ts), base: "mono muted-num" },
      { value: (t) => t.symbol, base: "sym" },
      {
        value: (t) => String(t.direction || "").toUpperCase(),
        cls: (t) => `side-${t.direction}`,
      },
      { value: (t) => qty(t.qty), base: "num" },
      { value: (t) => price(t.entry_price, t.symbol), base: "num" },
      { value: (t) => price(t.exit_price, t.symbol), base: "num" },
      { value: (t) => signedMoney(t.pnl), base: "num strong", cls: (t) => pnlClass(t.pnl) },
      { value: (t) => signedPct(tradeReturn(t)), base: "num", cls: (t) => pnlClass(t.pnl) },
      { value: (t) => money(t.fees), base: "num muted-num" },
      { value: (t) => duration((t.exit_ts || 0) - (t.entry_ts || 0)), base: "num muted-num" },
      // Trades stored before exit reasons were recorded have none: "—", not a guess.
      { value: (t) => EXIT_LABELS[t.exit_reason] || "—", base: "muted-text exit-reason" },
    ],
  });

  function filters() {
    const from = dayStart(f.from.value);
    const toDay = dayStart(f.to.value);
    return {
      symbol: f.symbol.value,
      side: f.side.value,
      fromDate: f.from.value,
      toDate: f.to.value,
      from,
      // The "to" date is inclusive: up to the end of that day.
      to: toDay === null ? null : dayEnd(f.to.value) - 1,
      result: f.result.value,
    };
  }

  function matches(t, q) {
    if (q.symbol && t.symbol !== q.symbol) return false;
    if (q.side && t.direction !== q.side) return false;
    if (q.from !== null && (t.exit_ts || 0) < q.from) return false;
    if (q.to !== null && (t.exit_ts || 0) > q.to) return false;
    if (q.result === "win" && !(t.pnl > 0)) return false;
    if (q.result === "loss" && !(t.pnl < 0)) return false;
    return true;
  }

  function updateCsv(q) {
    const params = new URLSearchParams();
    if (q.symbol) params.set("symbol", q.symbol);
    if (q.side) params.set("side", q.side);
    // /api/trades.csv takes YYYY-MM-DD in the same zone, "to" inclusive, like the table.
    if (q.fromDate) params.set("from", q.fromDate);
    if (q.toDate) params.set("to", q.toDate);
    if (q.result) params.set("result", q.result);
    const qs = params.toString();
    f.csv.href = `/api/trades.csv${qs ? `?${qs}` : ""}`;
  }

  function syncSymbols() {
    const syms = [
      ...((ctx.snap.market || {}).symbols || []),
      ...(ctx.snap.trades || []).map((t) => t.symbol),
    ];
    for (const s of syms) {
      if (!s || known.has(s)) continue;
      known.add(s);
      f.symbol.append(el("option", { value: s, text: s }));
    }
  }

  function render() {
    syncSymbols();
    const q = filters();
    updateCsv(q);
    const list = (ctx.snap.trades || []).filter((t) => matches(t, q));
    list.sort((a, b) => (b.exit_ts || 0) - (a.exit_ts || 0));
    table.update(list);
    let net = 0;
    let wins = 0;
    for (const t of list) {
      net += t.pnl || 0;
      if (t.pnl > 0) wins++;
    }
    setText(
      f.summary,
      list.length
        ? `${list.length} trades · net ${signedMoney(net)} · win ${pct(wins / list.length, 0)}`
        : "",
    );
    f.summary.dataset.pnl = pnlClass(net);
  }

  f.form.addEventListener("input", () => schedule("trades", render));
  f.form.addEventListener("reset", () => setTimeout(() => schedule("trades", render)));
  f.form.addEventListener("submit", (ev) => ev.preventDefault());

  return {
    snapshot: () => schedule("trades", render),
    events: {
      trade_history_update: () => schedule("trades", render),
    },
  };
}
