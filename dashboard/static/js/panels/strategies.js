// Strategies panel: each strategy's switch and size multiplier (set_strategy) and its record.

import { $, ackError, el, schedule, setText, toast } from "../dom.js";
import { num, pct, pnlClass, signedMoney } from "../format.js";
import { KeyedTable } from "../table.js";

export function createStrategies(ctx) {
  const count = $("#strategies-count");
  const controls = new Map(); // name -> { toggle, size }

  async function send(name, change, what) {
    const resp = await ctx.emit("set_strategy", { name, ...change });
    if (resp.ok) toast(`${name}: ${what}`, "ok");
    else toast(`${name}: refused — ${ackError(resp)}`, "err", 8000);
  }

  function mountControls(td, s) {
    const toggle = el("button", {
      class: "btn btn-xs strategy-toggle",
      type: "button",
      "data-testid": `strategy-toggle-${s.name}`,
      onclick: () => {
        const on = toggle.getAttribute("aria-pressed") !== "true";
        send(s.name, { enabled: on }, on ? "on" : "off");
      },
    });
    const size = el("input", {
      class: "strategy-size num",
      type: "number",
      min: "0.1",
      max: "3",
      step: "0.1",
      "aria-label": `Size multiplier for ${s.name}`,
      "data-testid": `strategy-size-${s.name}`,
    });
    const apply = el("button", {
      class: "btn btn-xs",
      type: "button",
      text: "Set size",
      "aria-label": `Set the size multiplier of ${s.name}`,
      "data-testid": `strategy-size-set-${s.name}`,
      onclick: () => {
        const value = Number(size.value);
        if (!(value > 0 && value <= 3)) {
          toast(`${s.name}: the size multiplier must be above 0 and at most 3`, "err");
          return;
        }
        send(s.name, { size_multiplier: value }, `size ×${value}`);
      },
    });
    controls.set(s.name, { toggle, size });
    td.append(toggle, size, apply);
  }

  const table = new KeyedTable($("#strategies-table tbody"), {
    key: (s) => s.name,
    emptyText: "No strategies configured (VIGIL_STRATEGIES)",
    onRow: (tr, s) => {
      tr.dataset.strategy = s.name;
    },
    columns: [
      { value: (s) => s.name, base: "sym" },
      {
        value: (s) => (s.enabled ? "ON" : "OFF"),
        cls: (s) => (s.enabled ? "state-on" : "state-off"),
      },
      { value: (s) => `×${num(s.size_multiplier, 2)}`, base: "num" },
      { value: (s) => (s.symbols || []).join(", ") || "—", base: "muted-text" },
      { value: (s) => num(s.signals, 0), base: "num" },
      { value: (s) => `${num(s.trades, 0)} (${s.wins ?? 0}W·${s.losses ?? 0}L)`, base: "num" },
      { value: (s) => pct(s.win_rate, 1), base: "num" },
      { value: (s) => signedMoney(s.total_pnl), base: "num", cls: (s) => pnlClass(s.total_pnl) },
      {
        value: (s) => signedMoney(s.unrealized_pnl),
        base: "num",
        cls: (s) => pnlClass(s.unrealized_pnl),
      },
      { base: "act needs-trader strategy-controls", mount: mountControls },
    ],
  });

  function render() {
    const rows = (ctx.snap.strategies && ctx.snap.strategies.strategies) || [];
    table.update(rows);
    setText(count, String(rows.length));
    for (const s of rows) {
      const c = controls.get(s.name);
      if (!c) continue;
      c.toggle.textContent = s.enabled ? "Turn off" : "Turn on";
      c.toggle.setAttribute("aria-pressed", s.enabled ? "true" : "false");
      c.toggle.setAttribute("aria-label", `${s.enabled ? "Turn off" : "Turn on"} ${s.name}`);
      // Never overwrite what the operator is typing.
      if (document.activeElement !== c.size) c.size.value = String(s.size_multiplier);
    }
  }

  return {
    snapshot: () => schedule("strategies", render),
    events: {
      strategies_update: (payload) => {
        ctx.snap.strategies = payload;
        schedule("strategies", render);
      },
    },
  };
}
