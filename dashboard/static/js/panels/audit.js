// Audit panel: the last 100 audit entries from GET /api/audit, refreshed on safety events.

import { $, schedule, setText } from "../dom.js";
import { dateTimeOf, price, qty, timeOf } from "../format.js";
import { KeyedTable } from "../table.js";

const LIMIT = 100;
const MIN_INTERVAL_MS = 3000;
const GOOD = /^(ok|success|succeeded|allowed|accepted|done|engaged|reset)$/i;
const BAD = /(denied|fail|error|refused|rejected|invalid|forbidden)/i;

const PRICES = new Set(["price", "limit_price", "stop_price", "stop_loss", "take_profit"]);

/** A detail's number as people read it: a price at its tick, a quantity at its lot,
 * anything else without float noise (0.12200000000000001 → 0.122). */
function tidy(key, v, symbol) {
  if (typeof v !== "number" || !Number.isFinite(v)) return v;
  if (PRICES.has(key)) return price(v, symbol).replaceAll(",", "");
  if (key === "qty") return qty(v, symbol).replaceAll(",", "");
  return Number(v.toFixed(8));
}

function tidyJson(d) {
  const symbol = d && typeof d.symbol === "string" ? d.symbol : "";
  return JSON.stringify(d, (k, v) => tidy(k, v, symbol));
}

export function detailsText(d) {
  if (d === null || d === undefined || d === "") return "";
  if (typeof d !== "object") return String(d);
  const symbol = typeof d.symbol === "string" ? d.symbol : "";
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === "object" ? tidyJson(v) : tidy(k, v, symbol)}`)
    .join(" ");
}

export function createAudit() {
  const status = $("#audit-status");
  const table = new KeyedTable($("#audit-table tbody"), {
    key: (e) => e.id,
    emptyText: "No audit entries",
    columns: [
      { value: (e) => dateTimeOf(e.ts), base: "mono muted-num" },
      { value: (e) => e.actor || "", base: "mono" },
      { value: (e) => e.action || "", base: "strong" },
      { value: (e) => e.reason || "", base: "wrap" },
      {
        value: (e) => String(e.outcome ?? ""),
        cls: (e) => {
          // A refused action ("order_denied") carries its reason code as the outcome.
          const o = String(e.outcome);
          if (BAD.test(o) || BAD.test(String(e.action || ""))) return "outcome-bad";
          return GOOD.test(o) ? "outcome-ok" : "";
        },
      },
      {
        value: (e) => detailsText(e.details),
        base: "details mono",
        title: (e) => (e.details ? JSON.stringify(JSON.parse(tidyJson(e.details)), null, 2) : ""),
      },
    ],
  });

  let last = 0;
  let timer = null;
  let loading = false;

  async function load() {
    timer = null;
    if (loading) return;
    loading = true;
    last = Date.now();
    try {
      const r = await fetch(`/api/audit?limit=${LIMIT}`, { credentials: "same-origin" });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const body = await r.json();
      if (body.ok === false) throw new Error((body.error && body.error.message) || "refused");
      const entries = (body.entries || []).slice();
      entries.sort((a, b) => (b.ts || 0) - (a.ts || 0));
      schedule("audit", () => table.update(entries.slice(0, LIMIT)));
      setText(status, `Updated ${timeOf(Date.now())}`);
      status.classList.remove("err");
    } catch (err) {
      setText(status, `Audit unavailable: ${err.message}`);
      status.classList.add("err");
    } finally {
      loading = false;
    }
  }

  /** Refresh soon, but never more often than every few seconds (safety_update can be chatty). */
  function refresh() {
    if (timer) return;
    timer = setTimeout(load, Math.max(300, MIN_INTERVAL_MS - (Date.now() - last)));
  }

  $("#audit-refresh").addEventListener("click", () => {
    clearTimeout(timer);
    load();
  });

  return {
    snapshot: refresh,
    events: {
      safety_update: refresh,
      breaker_update: refresh,
      kill_switch_activated: refresh,
      kill_switch_reset: refresh,
      risk_limit: refresh,
    },
  };
}
