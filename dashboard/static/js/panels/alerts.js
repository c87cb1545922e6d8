// Alerts panel: notification channel states and the "send test notification" control.

import { $, el, schedule } from "../dom.js";
import { dateTimeOf, duration, num, timeOf } from "../format.js";
import { KeyedTable } from "../table.js";

function stateClass(c) {
  if (!c.configured) return "chip-muted";
  const s = String(c.state || "").toLowerCase();
  if (/(ok|ready|healthy|active|delivered|idle)/.test(s)) return "chip-ok";
  if (/(fail|error|down|dead)/.test(s)) return "chip-danger";
  if (/(retry|degraded|throttl|quota|backoff|limited)/.test(s)) return "chip-warn";
  return "chip-muted";
}

export function createAlerts(ctx) {
  const input = $("#alert-test-message");
  const btn = $("#alert-test-btn");
  const out = $("#alert-test-result");

  const table = new KeyedTable($("#alerts-table tbody"), {
    key: (c) => c.name,
    emptyText: "No notification channels reported",
    rowClass: (c) => (c.configured ? "" : "unconfigured"),
    columns: [
      { value: (c) => c.name, base: "strong" },
      {
        value: (c) => (c.configured ? String(c.state || "unknown") : "not configured"),
        base: "chip",
        cls: stateClass,
      },
      {
        value: (c) =>
          c.last_delivery_ts ? `${duration(Date.now() - c.last_delivery_ts)} ago` : "never",
        base: "num muted-num",
      },
      {
        value: (c) =>
          Number.isFinite(c.quota_limit)
            ? `${num(c.quota_remaining, 0)} / ${num(c.quota_limit, 0)}`
            : "—",
        base: "num",
        title: (c) => (c.quota_reset_ts ? `Quota resets ${dateTimeOf(c.quota_reset_ts)}` : ""),
        cls: (c) =>
          Number.isFinite(c.quota_limit) && c.quota_limit > 0
            ? c.quota_remaining / c.quota_limit < 0.1
              ? "neg"
              : ""
            : "",
      },
      {
        value: (c) => c.last_error || "",
        base: "err-text wrap",
        title: (c) => {
          if (!c.last_error) return "";
          return c.last_error_ts ? `${c.last_error} (${timeOf(c.last_error_ts)})` : c.last_error;
        },
      },
    ],
  });

  const render = () => table.update(ctx.snap.alerts || []);

  btn.addEventListener("click", async () => {
    btn.disabled = true;
    out.hidden = false;
    out.className = "result";
    out.textContent = "Sending…";
    const message = input.value.trim();
    const resp = await ctx.emit("test_notification", message ? { message } : {});
    btn.disabled = false;
    out.replaceChildren();
    if (!resp.ok) {
      const e = resp.error || {};
      out.className = "result result-err";
      out.textContent = `Failed — ${e.code || "error"}: ${e.message || ""}`;
      return;
    }
    const results = Object.entries(resp.results || {});
    const allOk = results.length > 0 && results.every(([, r]) => r && r.delivered);
    out.className = `result ${allOk ? "result-ok" : "result-err"}`;
    if (!results.length) out.append("No channel is configured; nothing was sent.");
    for (const [name, r] of results) {
      out.append(
        el(
          "div",
          {
            class: `delivery ${r && r.delivered ? "delivered" : "failed"}`,
            dataset: { channel: name },
          },
          el("span", { class: "delivery-mark", text: r && r.delivered ? "✓" : "✗" }),
          el("strong", { text: name }),
          ` ${r && r.delivered ? "delivered" : `failed${r && r.error ? `: ${r.error}` : ""}`}`,
        ),
      );
    }
  });

  // "x ago" ages without events.
  setInterval(() => schedule("alerts", render), 15000);

  return {
    snapshot: () => schedule("alerts", render),
    events: { alerts_update: () => schedule("alerts", render) },
  };
}
