// Performance panel: strategy statistics tiles plus the equity and daily P&L charts.

import { $, schedule, setClassFrom, setText } from "../dom.js";
import { money, num, pct, pnlClass, signedMoney } from "../format.js";
import { createEquityCharts } from "./equity.js";

const PNL = ["pos", "neg", "flat"];

function ratioClass(x, good, bad) {
  if (!Number.isFinite(x)) return x === Infinity ? "pos" : "flat";
  if (x >= good) return "pos";
  return x < bad ? "neg" : "flat";
}

export function createPerformance(ctx) {
  const tiles = {};
  for (const node of document.querySelectorAll("#perf-panel [data-stat]")) {
    tiles[node.dataset.stat] = {
      value: node.querySelector(".kpi-value"),
      sub: node.querySelector(".kpi-sub"),
    };
  }
  const charts = createEquityCharts({
    equityHost: $("#equity-chart"),
    barsHost: $("#daily-pnl-chart"),
    barsLabel: $("#daily-pnl-label"),
    theme: ctx.theme,
  });
  // The P&L history's date range: session days, as the daily bars are keyed.
  const from = $("#pnl-from");
  const to = $("#pnl-to");
  const applyRange = () => charts.setRange(from.value, to.value);
  from.addEventListener("change", applyRange);
  to.addEventListener("change", applyRange);
  $("#pnl-range-all").addEventListener("click", () => {
    from.value = "";
    to.value = "";
    applyRange();
  });

  function put(stat, text, cls, sub) {
    const t = tiles[stat];
    if (!t) return;
    setText(t.value, text);
    setClassFrom(t.value, PNL, cls);
    if (sub !== undefined && t.sub) setText(t.sub, sub);
  }

  function render() {
    const p = ctx.snap.performance;
    if (!p) return;
    put("trades", num(p.trades, 0), "flat", `${p.wins ?? 0}W · ${p.losses ?? 0}L`);
    put("win_rate", pct(p.win_rate, 1), ratioClass(p.win_rate, 0.5, 0.4));
    put("avg_win", signedMoney(p.avg_win), pnlClass(p.avg_win));
    put("avg_loss", signedMoney(p.avg_loss), pnlClass(p.avg_loss));
    const pf = p.profit_factor;
    put("profit_factor", num(pf, 2), ratioClass(pf, 1.5, 1));
    put("expectancy", signedMoney(p.expectancy), pnlClass(p.expectancy), "per trade");
    const payoff = p.avg_loss ? p.avg_win / Math.abs(p.avg_loss) : NaN;
    put("payoff", num(payoff, 2), ratioClass(payoff, 1.5, 1));
    put("sharpe", num(p.sharpe, 2), ratioClass(p.sharpe, 1, 0));
    put("sortino", num(p.sortino, 2), ratioClass(p.sortino, 1, 0));
    put(
      "max_drawdown",
      money(p.max_drawdown),
      p.max_drawdown > 0 ? "neg" : "flat",
      pct(p.max_drawdown_pct, 2),
    );
    put(
      "current_drawdown",
      money(p.current_drawdown),
      p.current_drawdown > 0 ? "neg" : "flat",
      pct(p.current_drawdown_pct, 2),
    );
    put("total_pnl", signedMoney(p.total_pnl), pnlClass(p.total_pnl), "closed trades");
  }

  return {
    snapshot: () => {
      charts.load(ctx.snap.equity_curve, ctx.snap.performance?.session_tz);
      schedule("perf", render);
    },
    events: {
      performance_update: (payload) => {
        if (payload && payload.equity_point) charts.push(payload.equity_point);
        schedule("perf", render);
      },
    },
  };
}
