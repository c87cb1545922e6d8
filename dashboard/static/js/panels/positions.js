// Open positions (live P&L; close all or part, stop-loss / take-profit from the row) and open
// orders (cancel one) tables, and the row's dialogs (panels/positionctl.js).

import { $, ackError, el, schedule, setText, toast } from "../dom.js";
import { pnlClass, price, qty, signedMoney, signedPct, timeOf } from "../format.js";
import { KeyedTable } from "../table.js";
import { confirmAction } from "./killswitch.js";
import { createCloseDialog, createStopsDialog } from "./positionctl.js";

const OPEN = new Set(["new", "partially_filled", "accepted", "pending_new", "open"]);

function positionPct(p) {
  const basis = Math.abs((p.avg_price || 0) * (p.qty || 0) * (p.multiplier || 1));
  return basis ? p.unrealized_pnl / basis : NaN;
}

/** A perpetual's exchange-side facts: "short 10x · liq 439.89 · uPnL -0.15". */
function perpText(v) {
  const lev = v.leverage ? ` ${v.leverage}x` : "";
  const liq = v.liquidation ? ` · liq ${price(v.liquidation, v.symbol)}` : "";
  return `(${v.side}${lev}${liq} · uPnL ${signedMoney(v.unrealized_pnl)})`;
}

function withPerps(list, health) {
  const perps = health?.venues?.broker?.details?.positions || [];
  if (!perps.length) return list;
  const bySymbol = new Map(perps.map((v) => [v.symbol, v]));
  return list.map((p) => (bySymbol.has(p.symbol) ? { ...p, perp: bySymbol.get(p.symbol) } : p));
}

export function createPositions(ctx) {
  const count = $("#positions-count");
  const ordersCount = $("#orders-count");
  const upnl = $("#positions-upnl");

  const row = (symbol) => (ctx.snap.positions || []).find((p) => p.symbol === symbol);
  const closeDlg = createCloseDialog(ctx, row);
  const stopsDlg = createStopsDialog(ctx, row);

  async function cancelOrder(o) {
    const what = `${String(o.side || "").toUpperCase()} ${qty(o.qty)} ${o.symbol} ${o.type || ""}`;
    const yes = await confirmAction(`Cancel order ${o.id} (${what.trim()})?`, {
      title: `Cancel ${o.id}`,
      okText: "Cancel order",
      cancelText: "Keep order",
      danger: true,
    });
    if (!yes) return;
    const resp = await ctx.emit("cancel_order", { id: o.id });
    if (resp.ok) toast(`Order ${o.id}: ${resp.status || "cancel requested"}`, "ok");
    else toast(`Cancel ${o.id} refused — ${ackError(resp)}`, "err", 8000);
  }

  const positions = new KeyedTable($("#positions-table tbody"), {
    key: (p) => p.symbol,
    emptyText: "No open positions",
    onRow: (tr, p) => {
      tr.dataset.symbol = p.symbol;
    },
    columns: [
      { value: (p) => (p.perp ? `${p.symbol} ${perpText(p.perp)}` : p.symbol), base: "sym" },
      { value: (p) => String(p.side || "").toUpperCase(), cls: (p) => `side-${p.side}` },
      { value: (p) => qty(p.qty), base: "num" },
      { value: (p) => price(p.avg_price, p.symbol), base: "num" },
      { value: (p) => price(p.last_price, p.symbol), base: "num" },
      {
        value: (p) => signedMoney(p.unrealized_pnl),
        base: "num",
        cls: (p) => pnlClass(p.unrealized_pnl),
      },
      {
        value: (p) => signedPct(positionPct(p)),
        base: "num",
        cls: (p) => pnlClass(p.unrealized_pnl),
      },
      { value: (p) => price(p.stop_loss, p.symbol), base: "num muted-num" },
      { value: (p) => price(p.take_profit, p.symbol), base: "num muted-num" },
      {
        base: "act needs-trader",
        mount: (td, p) => {
          td.append(
            el("button", {
              class: "btn btn-xs btn-outline-danger close-pos",
              type: "button",
              text: "Close…",
              // "Close" alone is ten identical buttons to a screen reader.
              "aria-label": `Close ${p.symbol}`,
              title: "Close all or part of the position",
              "data-testid": `close-${p.symbol}`,
              onclick: () => closeDlg.open(p.symbol),
            }),
            " ",
            el("button", {
              class: "btn btn-xs stops-pos",
              type: "button",
              text: "Stops…",
              "aria-label": `Stop-loss and take-profit of ${p.symbol}`,
              "data-testid": `stops-${p.symbol}`,
              onclick: () => stopsDlg.open(p.symbol),
            }),
          );
        },
      },
    ],
  });

  const orders = new KeyedTable($("#orders-table tbody"), {
    key: (o) => o.id,
    emptyText: "No open orders",
    columns: [
      { value: (o) => o.id, base: "mono" },
      { value: (o) => o.symbol, base: "sym" },
      { value: (o) => String(o.side || "").toUpperCase(), cls: (o) => `side-${o.side}` },
      { value: (o) => o.type || "", base: "muted-text" },
      {
        value: (o) => (o.filled_qty ? `${qty(o.filled_qty)}/${qty(o.qty)}` : qty(o.qty)),
        base: "num",
      },
      {
        value: (o) => price(o.type === "stop" ? o.stop_price : o.limit_price, o.symbol),
        base: "num",
      },
      { value: (o) => String(o.status || "").replace("_", " "), cls: (o) => `st-${o.status}` },
      { value: (o) => o.source || "", base: "muted-text" },
      { value: (o) => timeOf(o.created_ts), base: "num muted-num" },
      {
        base: "act needs-trader",
        mount: (td, o) => {
          td.append(
            el("button", {
              class: "btn btn-xs btn-outline-danger cancel-order",
              type: "button",
              text: "Cancel",
              "aria-label": `Cancel order ${o.id}`,
              "data-testid": `cancel-${o.id}`,
              onclick: () => cancelOrder(orders.rows.get(o.id)?.row || o),
            }),
          );
        },
      },
    ],
  });

  function renderPositions() {
    const list = withPerps(ctx.snap.positions || [], ctx.snap.health);
    positions.update(list);
    setText(count, String(list.length));
    let total = 0;
    for (const p of list) total += p.unrealized_pnl || 0;
    setText(upnl, list.length ? signedMoney(total) : "");
    upnl.className = `panel-figure num ${pnlClass(total)}`;
  }

  function renderOrders() {
    const list = (ctx.snap.orders || []).filter((o) => OPEN.has(o.status));
    list.sort((a, b) => (b.created_ts || 0) - (a.created_ts || 0));
    orders.update(list);
    setText(ordersCount, String(list.length));
  }

  // There is no orders_update event in the contract; order changes are inferred from the
  // activity stream and reconciled with a request_state snapshot, at most every 600 ms.
  let resyncTimer = null;
  function resyncOrders() {
    if (resyncTimer) return;
    resyncTimer = setTimeout(async () => {
      resyncTimer = null;
      const resp = await ctx.emit("request_state", {});
      const snap = resp && (resp.snapshot || resp.state || resp);
      if (resp.ok !== false && snap && Array.isArray(snap.orders)) {
        ctx.snap.orders = snap.orders;
        schedule("orders", renderOrders);
      }
    }, 600);
  }

  function orderPlaced(p) {
    const o = p && p.order;
    if (!o) return;
    const list = (ctx.snap.orders || []).filter((x) => x.id !== o.id);
    list.push(o);
    ctx.snap.orders = list;
    schedule("orders", renderOrders);
  }

  return {
    snapshot: () => {
      schedule("positions", renderPositions);
      schedule("orders", renderOrders);
    },
    events: {
      positions_update: () => schedule("positions", renderPositions),
      system_health_update: () => schedule("positions", renderPositions),
      orders_update: () => schedule("orders", renderOrders),
      order_placed: orderPlaced,
      trade_executed: resyncOrders,
      kill_switch_activated: resyncOrders,
    },
  };
}
