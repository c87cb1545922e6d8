// Signal inbox: pending signals (age, time left, price drift) with approve / reject, and the
// auto / approve mode switch. The server decides; this only asks and shows the answer.

import { $, $$, ackError, el, schedule, setText, toast } from "../dom.js";
import { duration, price, qty, signedPct } from "../format.js";
import { KeyedTable } from "../table.js";
import { confirmAction } from "./killswitch.js";

export function createInbox(ctx) {
  const count = $("#inbox-count");
  const note = $("#inbox-mode-note");
  const radios = $$("input[name=signal-mode]");
  let skew = 0; // server clock minus browser clock, from each payload's `ts`
  let warnPct = 0.5;
  const now = () => Date.now() + skew;

  const describe = (s) => `${String(s.side || "").toUpperCase()} ${qty(s.qty)} ${s.symbol}`;

  async function decide(s, approve) {
    const drift = Number.isFinite(s.drift_pct) ? ` Price drift since the signal: ${signedPct(s.drift_pct / 100)}.` : "";
    const yes = await confirmAction(
      approve
        ? `Send ${describe(s)} (market) through the safety gateway?${drift}`
        : `Discard the signal ${describe(s)}? Nothing is sent.`,
      {
        title: approve ? `Approve ${s.symbol}` : `Reject ${s.symbol}`,
        okText: approve ? "Approve and send" : "Reject signal",
        danger: approve,
      },
    );
    if (!yes) return;
    const resp = await ctx.emit(approve ? "approve_signal" : "reject_signal", { id: s.id });
    if (resp.ok) toast(`${approve ? "Approved" : "Rejected"}: ${describe(s)}`, "ok");
    else toast(`${approve ? "Approve" : "Reject"} ${s.symbol} refused — ${ackError(resp)}`, "err", 8000);
  }

  const table = new KeyedTable($("#inbox-table tbody"), {
    key: (s) => s.id,
    emptyText: "No signals waiting",
    onRow: (tr, s) => {
      tr.dataset.id = s.id;
      tr.dataset.testid = "inbox-row";
    },
    rowClass: (s) => (s.drift_warn ? "drift-warn" : ""),
    columns: [
      { value: (s) => s.symbol, base: "sym" },
      { value: (s) => String(s.side || "").toUpperCase(), cls: (s) => `side-${s.side}` },
      { value: (s) => qty(s.qty), base: "num" },
      { value: (s) => (Number.isFinite(s.confidence) ? s.confidence.toFixed(2) : "—"), base: "num" },
      { value: (s) => (s.strategy ? `${s.source} · ${s.strategy}` : s.source || ""), base: "muted-text" },
      { value: (s) => price(s.price, s.symbol), base: "num" },
      {
        value: (s) =>
          Number.isFinite(s.drift_pct) ? `${s.drift_warn ? "⚠ " : ""}${signedPct(s.drift_pct / 100)}` : "—",
        base: "num",
        cls: (s) => (s.drift_warn ? "warn-text" : ""),
        title: (s) => (s.drift_warn ? `moved more than ${warnPct}% since the signal` : ""),
      },
      {
        value: (s) =>
          `${duration(Math.max(now() - s.received_ts, 0))} / ${duration(Math.max(s.expires_ts - now(), 0))}`,
        base: "num muted-num",
      },
      {
        base: "act needs-trader",
        mount: (td, s) => {
          td.append(
            el("button", {
              class: "btn btn-xs btn-buy",
              type: "button",
              text: "Approve",
              "aria-label": `Approve ${describe(s)}`,
              "data-testid": `approve-${s.id}`,
              onclick: () => decide(table.get(s.id) || s, true),
            }),
            el("button", {
              class: "btn btn-xs btn-outline-danger",
              type: "button",
              text: "Reject",
              "aria-label": `Reject ${describe(s)}`,
              "data-testid": `reject-${s.id}`,
              onclick: () => decide(table.get(s.id) || s, false),
            }),
          );
        },
      },
    ],
  });

  function render() {
    const signals = ctx.snap.signals || { mode: "auto", pending: [] };
    const list = signals.pending || [];
    if (Number.isFinite(signals.drift_warn_pct)) warnPct = signals.drift_warn_pct;
    table.update(list);
    setText(count, String(list.length));
    for (const r of radios) r.checked = r.value === signals.mode;
    $("#inbox-panel").dataset.mode = signals.mode || "";
    setText(
      note,
      signals.mode === "approve"
        ? "Approve mode: signals wait here for a person (exits go at once)."
        : "Auto mode: signals go to the safety gateway directly.",
    );
  }

  for (const r of radios) {
    r.addEventListener("change", async () => {
      const mode = r.value;
      const current = (ctx.snap.signals || {}).mode;
      if (mode === current) return;
      const yes =
        mode === "approve" ||
        (await confirmAction(
          "Signals from strategies and the webhook will be sent to the gateway without asking. Waiting signals stay in the inbox.",
          { title: "Switch to automatic", okText: "Switch to auto", danger: true },
        ));
      if (!yes) {
        render();
        return;
      }
      const resp = await ctx.emit("set_signal_mode", { mode });
      if (resp.ok) {
        // The answer is the server's state; its signals_update may come a moment later.
        ctx.snap.signals = { ...(ctx.snap.signals || { pending: [] }), mode: resp.mode };
        toast(`Signal mode: ${resp.mode}`, "ok");
      } else {
        toast(`Signal mode refused — ${ackError(resp)}`, "err", 8000);
      }
      render();
    });
  }

  // Age and time left move on their own between updates.
  setInterval(() => {
    if (((ctx.snap.signals || {}).pending || []).length) schedule("inbox", render);
  }, 1000);

  return {
    snapshot: () => schedule("inbox", render),
    events: {
      signals_update: (p) => {
        if (Number.isFinite(p.ts)) skew = p.ts - Date.now();
        ctx.snap.signals = p;
        schedule("inbox", render);
      },
    },
  };
}
