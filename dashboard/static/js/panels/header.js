// Header bar: account figures, paper/live mode and account, regime/health/trading-state badges,
// the broker's and the feed's connection state (from the health payload's `venues` and
// `trading`), user, logout.

import { $, schedule, setClassFrom, setText } from "../dom.js";
import { duration, money, num, pnlClass, signedMoney, signedPct, timeOf } from "../format.js";
import { isStale } from "../outage.js";
import { leaveForLogin } from "../socket.js";

const PNL = ["pos", "neg", "flat"];

export function createHeader(ctx) {
  const n = {
    balance: $("#balance"),
    equity: $("#equity"),
    daily: $("#daily-pnl"),
    dailyPct: $("#daily-pnl-pct"),
    total: $("#total-pnl"),
    totalPct: $("#total-pnl-pct"),
    regime: $("#regime"),
    health: $("#health"),
    state: $("#trading-state"),
    flags: $("#trading-flags"),
    user: $("#user-name"),
    role: $("#user-role"),
    logout: $("#logout-btn"),
    venues: { broker: $("#venue-broker"), feed: $("#venue-feed") },
    mode: $("#trading-mode"),
    market: $("#market-hours"),
  };

  n.logout.addEventListener("click", async () => {
    n.logout.disabled = true;
    try {
      await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
    } finally {
      leaveForLogin();
    }
  });

  function account(a) {
    if (!a) return;
    const start = a.starting_balance || 0;
    setText(n.balance, money(a.balance));
    setText(n.equity, money(a.equity));
    setText(n.daily, signedMoney(a.daily_pnl));
    setClassFrom(n.daily, PNL, pnlClass(a.daily_pnl));
    setText(n.total, signedMoney(a.total_pnl));
    setClassFrom(n.total, PNL, pnlClass(a.total_pnl));
    // Percentages are relative to the session's starting balance, the operator's reference.
    setText(n.dailyPct, start ? signedPct(a.daily_pnl / start) : "");
    setClassFrom(n.dailyPct, PNL, pnlClass(a.daily_pnl));
    setText(n.totalPct, start ? signedPct(a.total_pnl / start) : "");
    setClassFrom(n.totalPct, PNL, pnlClass(a.total_pnl));
    n.equity.title =
      `Realized ${signedMoney(a.realized_pnl)} · Unrealized ${signedMoney(a.unrealized_pnl)}` +
      ` · Fees ${money(a.fees)}`;
  }

  function regime(r) {
    if (!r) return;
    const name = String(r.regime || "UNKNOWN");
    setText(n.regime.querySelector(".badge-text"), name.replaceAll("_", " "));
    // "VIX", or the feed's stand-in when the data plan has none ("realized-vol proxy").
    const source = String(r.source || "VIX");
    setText(n.regime.querySelector(".badge-sub"), `${source} ${num(r.vix, 2)}`);
    n.regime.dataset.regime = name;
    n.regime.dataset.source = source;
    const t = r.thresholds || {};
    n.regime.title =
      `Volatility regime ${name}; ${source} ${num(r.vix, 2)}` +
      ` (ultra-low below ${num(t.ultra_low_below, 1)}, high above ${num(t.high_above, 1)})`;
  }

  function health(h) {
    if (!h) return;
    // Without a live connection the last "OK" says nothing about now (outage.js).
    const status = isStale() ? "UNKNOWN" : h.status === "OK" ? "OK" : String(h.status || "UNKNOWN");
    setText(n.health.querySelector(".badge-text"), status);
    n.health.dataset.status = status;
    const lines = [
      `System ${status} · errors ${h.errors ?? 0}`,
      `Last error: ${h.last_error || "none"}`,
      `Feed ${h.feed ?? "—"} · broker ${h.broker ?? "—"} · strategy ${h.strategy ?? "—"}`,
      `Uptime ${duration((h.uptime_s || 0) * 1000)} · ${num(h.events_per_s, 0)} ev/s` +
        ` · queue ${h.queue_depth ?? 0}`,
      `Heartbeat ${timeOf(h.heartbeat_ts)}`,
    ];
    n.health.title = lines.join("\n");
    n.health.setAttribute("aria-label", `System health ${status}. ${lines[1]}`);
  }

  // "paper · connected", "sim · stale", "replay · ended", "polygon · reconnecting (3)".
  function venues(h) {
    const all = (h && h.venues) || {};
    for (const [source, node] of Object.entries(n.venues)) {
      const v = all[source];
      if (!v) continue;
      const state = String(v.state || "unknown");
      const label = v.attempt > 0 ? `${state} (${v.attempt})` : state;
      // A crypto exchange names itself, its market type and its mode: "ccxt binance swap testnet".
      const d = v.details || {};
      const where = [d.exchange, d.market, d.mode].filter(Boolean).join(" ");
      setText(node.querySelector(".venue-name"), [v.name || source, where].join(" ").trim());
      setText(node.querySelector(".venue-state"), label);
      node.dataset.state = state;
      const what = source === "feed" ? "Market feed" : "Broker";
      const since = v.since_ts ? ` since ${timeOf(v.since_ts)}` : "";
      const acct = d.account
        ? `\n${d.exchange} balance ${money(d.account.cash)} · equity ${money(d.account.equity)}`
        : "";
      node.title = `${what} ${v.name} ${where}: ${label}${since}${v.message ? `\n${v.message}` : ""}${acct}`;
      node.setAttribute("aria-label", `${what} ${v.name} ${label}`);
    }
  }

  // "PAPER · paper" or "LIVE · PA3…" (LIVE in the danger colour), and "Market closed".
  function trading(h) {
    const t = h && h.trading;
    if (!t) return;
    const mode = t.mode === "LIVE" ? "LIVE" : "PAPER";
    setText(n.mode.querySelector(".badge-text"), mode);
    setText(n.mode.querySelector(".badge-sub"), String(t.account || ""));
    n.mode.dataset.mode = mode;
    const what = mode === "LIVE" ? "LIVE trading: real money" : "Paper trading";
    const v = t.venue;
    const figures = v
      ? `\nAt the broker: equity ${money(v.equity)} · cash ${money(v.cash)}` +
        ` · buying power ${money(v.buying_power)}`
      : "";
    n.mode.title = `${what} · account ${t.account}${figures}`;
    n.mode.setAttribute("aria-label", `${what}, account ${t.account}`);
    const m = t.market;
    const closed = Boolean(m && m.open === false);
    n.market.hidden = !closed;
    if (closed) {
      const queued = m.extended_hours
        ? "market orders are queued for the open"
        : "market orders are refused (use limit orders)";
      n.market.title = `US market closed until ${timeOf(m.next_open_ts)}: ${queued}`;
    }
  }

  // "ACTIVE · entries paused · bot stopped": the state alone hides why nothing trades.
  function flags(s, h) {
    const out = [];
    const ks = (s && s.kill_switch) || {};
    if (ks.engaged && ks.level === "pause") out.push("kill-switch pause");
    else if (s && s.entries_paused) out.push("entries paused");
    const bot = h && h.strategy;
    if (bot === "stopped") out.push("bot stopped");
    else if (bot === "none") out.push("no bot");
    return out;
  }

  function safety(s) {
    if (!s) return;
    const st = String(s.trading_state || "UNKNOWN");
    setText(n.state.querySelector(".badge-text"), st);
    n.state.dataset.state = st;
    const extra = flags(s, ctx.snap.health);
    setText(n.flags, extra.map((f) => `· ${f}`).join(" "));
    n.flags.hidden = extra.length === 0;
    const line = [st, ...extra].join(" · ");
    n.state.title = s.state_reason ? `${line}: ${s.state_reason}` : `Trading state ${line}`;
    n.state.setAttribute("aria-label", `Trading state ${line}`);
  }

  function user(u) {
    if (!u) return;
    setText(n.user, u.username || "");
    setText(n.role, u.role || "");
    n.role.dataset.role = u.role || "";
  }

  function all(snap) {
    account(snap.account);
    regime(snap.regime);
    health(snap.health);
    venues(snap.health);
    trading(snap.health);
    safety(snap.safety);
    user(snap.user);
  }

  // Renders read ctx.snap at frame time, so whichever update arrived last wins.
  const s = () => ctx.snap;
  return {
    snapshot() {
      schedule("header:all", () => all(s()));
    },
    refreshHealth() {
      health(s().health || { status: "UNKNOWN" });
    },
    events: {
      pnl_update: () => schedule("header:acct", () => account(s().account)),
      regime_update: () => schedule("header:regime", () => regime(s().regime)),
      system_health_update: () =>
        schedule("header:health", () => {
          health(s().health);
          venues(s().health);
          trading(s().health);
          safety(s().safety);
        }),
      safety_update: () => schedule("header:safety", () => safety(s().safety)),
      kill_switch_activated: () => schedule("header:safety", () => safety(s().safety)),
      kill_switch_reset: () => schedule("header:safety", () => safety(s().safety)),
    },
  };
}
