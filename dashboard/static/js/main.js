// Page entry point: connects the socket, keeps the snapshot current, dispatches events to the
// panels, applies the user's role and mounts the market view.

import { $, $$ } from "./dom.js";
import { configure, timeZoneLabel } from "./format.js";
import { createOutage } from "./outage.js";
import { connect, emitAck, leaveForLogin } from "./socket.js";
import { mountThemeToggles, theme } from "./theme.js";
import { TOPIC_NAMES } from "./topics.js";
import { createActivity } from "./panels/activity.js";
import { createAlerts } from "./panels/alerts.js";
import { createAudit } from "./panels/audit.js";
import { createHeader } from "./panels/header.js";
import { createInbox } from "./panels/inbox.js";
import { createKillSwitch } from "./panels/killswitch.js";
import { createOrderTicket } from "./panels/orders.js";
import { createOverrides } from "./panels/overrides.js";
import { createPerformance } from "./panels/performance.js";
import { createPositions } from "./panels/positions.js";
import { createSafety } from "./panels/safety.js";
import { createShareLinks } from "./panels/sharelinks.js";
import { createStrategies } from "./panels/strategies.js";
import { createTrades } from "./panels/trades.js";

const ROLES = new Set(["viewer", "trader", "admin"]);
// Share-link sessions are viewers named "share:<link id>" (dashboard/share_links.py).
const SHARE_PREFIX = "share:";
const CONTROLS = ["input", "select", "button", "textarea"];
const controlsOf = (gate) => CONTROLS.map((t) => `${t}${gate}, ${gate} ${t}`).join(", ");
const TRADER_CONTROLS = controlsOf(".needs-trader");
const ADMIN_CONTROLS = controlsOf(".needs-admin");

const ctx = {
  socket: null,
  snap: emptySnapshot(),
  theme,
  role: () => document.body.dataset.role || "viewer",
  emit: (event, payload) => emitAck(ctx.socket, event, payload),
};

function emptySnapshot() {
  return {
    account: null,
    positions: [],
    orders: [],
    trades: [],
    breakers: [],
    alerts: [],
    activity: [],
    market: { symbols: [], quotes: {}, books: {} },
    safety: null,
    signals: { mode: "auto", pending: [] },
  };
}

function ensureSafety(s) {
  s.safety = s.safety || { trading_state: "UNKNOWN", kill_switch: {} };
  s.safety.kill_switch = s.safety.kill_switch || {};
  return s.safety;
}

// How each event updates the page's copy of the snapshot before panels render from it.
const MERGE = {
  pnl_update: (s, p) => {
    s.account = p;
  },
  positions_update: (s, p) => {
    s.positions = p.positions || [];
  },
  orders_update: (s, p) => {
    s.orders = p.orders || [];
  },
  trade_history_update: (s, p) => {
    if (Array.isArray(p.trades)) s.trades = p.trades;
    else if (p.new) s.trades = [p.new, ...(s.trades || [])].slice(0, 200);
  },
  performance_update: (s, p) => {
    if (p.performance) s.performance = p.performance;
  },
  regime_update: (s, p) => {
    s.regime = p;
  },
  system_health_update: (s, p) => {
    s.health = p;
  },
  safety_update: (s, p) => {
    s.safety = p;
  },
  breaker_update: (s, p) => {
    s.breakers = p.breakers || [];
  },
  alerts_update: (s, p) => {
    s.alerts = p.channels || [];
  },
  kill_switch_activated: (s, p) => {
    const safety = ensureSafety(s);
    safety.kill_switch = {
      engaged: true,
      level: p.level,
      reason: p.reason,
      actor: p.actor,
      since: p.since ?? p.ts,
    };
    if (p.trading_state) safety.trading_state = p.trading_state;
    if (p.level === "pause") safety.entries_paused = true;
  },
  kill_switch_reset: (s, p) => {
    const safety = ensureSafety(s);
    safety.kill_switch = { engaged: false, level: null, reason: null, actor: null, since: null };
    if (p.trading_state) safety.trading_state = p.trading_state;
  },
};

// Open the socket before building the panels, so its handshake and the server's snapshot
// overlap with that work. No socket event can be dispatched before this module has finished
// evaluating, and wireEvents() subscribes the panels before then, so none is missed.
// Before any panel formats a time or a price: the display zone and instruments' precision.
function readPageConfig() {
  try {
    configure(JSON.parse($("#page-config").textContent || "{}"));
  } catch (err) {
    console.error("page config unreadable", err);
  }
  const label = $("#tz-label");
  const { zone, short } = timeZoneLabel();
  label.textContent = `Times in ${short || zone}`;
  label.title = `Every time, date filter and CSV on this page is in ${zone} (VIGIL_SESSION_TZ)`;
  label.setAttribute("aria-label", `Times in ${zone}`);
}
readPageConfig();

// The header is built below; until then the outage has nothing to re-render.
let header = null;
const outage = createOutage({ onChange: () => header && header.refreshHealth() });
ctx.socket = connect({
  indicator: $("#conn-status"),
  onSnapshot: applySnapshot,
  onSessionEnded: sessionEnded,
  onStatus: outage.status,
});

header = createHeader(ctx);
const panels = [
  header,
  createSafety(ctx),
  createKillSwitch(ctx),
  createPositions(ctx),
  createTrades(ctx),
  createPerformance(ctx),
  createActivity(ctx),
  createOrderTicket(ctx),
  createInbox(ctx),
  createAudit(ctx),
  createAlerts(ctx),
  createShareLinks(ctx),
  createStrategies(ctx),
  createOverrides(ctx),
];
const safetyPanel = panels[1];
const snapshotHandlers = new Set();

/** Disable a control for the role, or give back only what the role itself took away. */
function lockForRole(node, locked) {
  if (locked) {
    if (!node.disabled) {
      node.disabled = true;
      node.dataset.lockedByRole = "1";
    }
  } else if (node.dataset.lockedByRole) {
    node.disabled = false;
    delete node.dataset.lockedByRole;
  }
}

function isSharedView(user) {
  return !!user && user.role === "viewer" && String(user.username || "").startsWith(SHARE_PREFIX);
}

function applyRole(user) {
  const role = ROLES.has(user && user.role) ? user.role : "viewer";
  document.body.dataset.role = role;
  // Hidden by CSS already; disabling as well keeps keyboard users and scripts out too.
  for (const node of $$(TRADER_CONTROLS)) lockForRole(node, role === "viewer");
  for (const node of $$(ADMIN_CONTROLS)) lockForRole(node, role !== "admin");
  for (const node of $$(".needs-admin")) node.inert = role !== "admin";
  const shared = isSharedView(user);
  $("#share-marker").hidden = !shared;
  document.body.classList.toggle("is-shared-view", shared);
}

/** The server ended this session: a shared view says so; an account goes to sign in again. */
function sessionEnded() {
  if (!isSharedView(ctx.snap.user)) {
    leaveForLogin();
    return;
  }
  $("#session-ended-text").textContent =
    "This shared view was revoked or has expired. Ask the person who shared it for a new link.";
  $("#session-ended").hidden = false;
  document.body.classList.add("is-ended");
}

function applySnapshot(snap) {
  if (!snap || typeof snap !== "object") return;
  ctx.snap = { ...emptySnapshot(), ...snap };
  applyRole(ctx.snap.user);
  for (const p of panels) {
    try {
      p.snapshot(ctx.snap);
    } catch (err) {
      console.error("panel snapshot failed", err);
    }
  }
  safetyPanel.renderControls();
  for (const h of snapshotHandlers) {
    try {
      h(ctx.snap);
    } catch (err) {
      console.error("snapshot handler failed", err);
    }
  }
  document.body.classList.add("has-state");
}

function wireEvents(socket) {
  const names = new Set(Object.keys(MERGE));
  for (const p of panels) for (const n of Object.keys(p.events)) names.add(n);
  for (const name of names) {
    // The server sends only declared topics (engine/topics.py): a handler for any other name
    // is a typo or a topic that is gone, and would wait for nothing.
    if (!TOPIC_NAMES.has(name)) {
      console.error(`no server topic named ${name}: see engine/topics.py`);
      continue;
    }
    const merge = MERGE[name];
    const targets = panels.map((p) => p.events[name]).filter(Boolean);
    socket.on(name, (payload) => {
      if (!payload || typeof payload !== "object") return;
      if (merge) merge(ctx.snap, payload);
      for (const fn of targets) {
        try {
          fn(payload);
        } catch (err) {
          console.error(`handler for ${name} failed`, err);
        }
      }
    });
  }
}

/** Register a handler for every snapshot; called at once if one has already arrived. */
function onSnapshot(handler) {
  snapshotHandlers.add(handler);
  if (document.body.classList.contains("has-state")) handler(ctx.snap);
  return () => snapshotHandlers.delete(handler);
}

async function mountMarket(socket) {
  const root = $("#market-view");
  // Loaded dynamically so a market-view failure can never take the safety controls down.
  try {
    const { mountMarketView } = await import("./market/index.js");
    mountMarketView({ root, ticker: $("#ticker-strip"), socket, onSnapshot, theme });
  } catch (err) {
    console.error("market view failed to load", err);
    root.classList.add("market-error");
    root.textContent = "Market view unavailable.";
  }
}

// A proxy can block websockets, or the socket can be down, while HTTP still works: then the
// snapshot is polled over HTTP so the figures, the role and the kill switch (which falls back
// to HTTP itself) stay usable instead of a blank page.
const HTTP_POLL_MS = 10000;
async function pollOverHttp() {
  if (ctx.socket.connected || document.body.classList.contains("is-ended")) return;
  try {
    const r = await fetch("/api/state", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (r.ok && !ctx.socket.connected) {
      applySnapshot(await r.json());
      outage.fresh(Date.now());
    }
  } catch {
    // Unreachable: the connection indicator already says so.
  }
}

applyRole(null);
mountThemeToggles($("#theme-toggle"), $("#cb-toggle"));
wireEvents(ctx.socket);
mountMarket(ctx.socket);
setInterval(pollOverHttp, HTTP_POLL_MS);
