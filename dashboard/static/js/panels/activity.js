// Activity log: newest on top, bounded, type filter chips, one DOM batch per frame.

import { $, $$, el, schedule, setText } from "../dom.js";
import { money, pct, price, qty, timeOf } from "../format.js";
import { TOPICS } from "../topics.js";

// The topics the log shows and their tags (engine/topics.py), in the order of the chips.
const LOGGED = TOPICS.filter((t) => t.tag);
export const ACTIVITY_TYPES = LOGGED.map((t) => t.name);
const LABEL = Object.fromEntries(LOGGED.map((t) => [t.name, t.tag]));
const MAX_ROWS = 300;

const up = (s) => String(s || "").toUpperCase();

/** Message nodes for one event: [main text, optional emphasized prefix]. */
function describe(type, e) {
  switch (type) {
    case "signal":
    case "exit_signal":
      return [
        null,
        `${up(e.side)} ${e.symbol} @ ${price(e.price, e.symbol || "")}` +
          ` · conf ${pct(e.confidence, 0)}${e.reason ? ` · ${e.reason}` : ""}`,
      ];
    case "order_placing":
      // `type` is the event name in snapshot entries; the order's own type is `order_type`.
      return [
        null,
        `${up(e.side)} ${qty(e.qty)} ${e.symbol} ${e.order_type || "market"} · ${e.source || ""}`,
      ];
    case "order_placed": {
      const o = e.order || {};
      const px = o.type === "stop" ? o.stop_price : o.limit_price;
      return [
        null,
        `${o.id} ${up(o.side)} ${qty(o.qty)} ${o.symbol} ${o.type || ""}` +
          `${px ? ` @ ${price(px, o.symbol || "")}` : ""}` +
          ` · ${o.status || ""} · ${o.source || ""}`,
      ];
    }
    case "trade_executed":
      return [
        null,
        `${up(e.side)} ${qty(e.qty)} ${e.symbol} @ ${price(e.price, e.symbol || "")}` +
          ` · fee ${money(e.fee)} · ${e.order_id || ""} · ${e.source || ""}`,
      ];
    case "risk_limit":
      return [
        e.code || "RISK",
        `${e.message || ""}${e.symbol ? ` · ${up(e.side)} ${qty(e.qty)} ${e.symbol}` : ""}` +
          `${e.source ? ` · ${e.source}` : ""}`,
      ];
    case "error":
      return [e.where || null, e.message || ""];
    case "progress":
      return [
        null,
        `${e.message || ""}${Number.isFinite(e.pct) ? ` (${Math.round(e.pct)}%)` : ""}`,
      ];
    default:
      return [null, e.message || ""];
  }
}

function row(type, e) {
  const [strong, text] = describe(type, e);
  return el(
    "div",
    { class: `act-row act-${type}`, dataset: { type } },
    el("span", { class: "act-time num", text: timeOf(e.ts) }),
    el("span", { class: "act-tag", text: LABEL[type] || up(type) }),
    el(
      "span",
      { class: "act-msg", title: text },
      strong ? el("strong", { class: "act-code", text: strong }) : null,
      text,
    ),
  );
}

export function createActivity() {
  const log = $("#activity-log");
  const count = $("#activity-count");
  let pending = [];
  // Tracked on scroll, never read in flush(): reading scrollTop there forced a layout of the
  // whole page in the middle of each render (73 ms on the first snapshot, measured).
  let scrolledDown = false;
  log.addEventListener(
    "scroll",
    () => {
      scrolledDown = log.scrollTop > 4;
    },
    { passive: true },
  );

  // Types filtered out by their chip: rows of any type hide the same way, no per-type CSS.
  const hidden = new Set();
  for (const chip of $$("#activity-filters [data-type]")) {
    chip.addEventListener("click", () => {
      const type = chip.dataset.type;
      const on = chip.getAttribute("aria-pressed") !== "false";
      chip.setAttribute("aria-pressed", String(!on));
      if (on) hidden.add(type);
      else hidden.delete(type);
      for (const node of log.children) if (node.dataset.type === type) node.hidden = on;
    });
  }
  $("#activity-clear").addEventListener("click", () => {
    pending = [];
    log.replaceChildren();
    scrolledDown = false;
    setText(count, "0");
  });

  function flush() {
    if (!pending.length) return;
    const batch = pending.length > MAX_ROWS ? pending.slice(-MAX_ROWS) : pending;
    pending = [];
    const frag = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0; i--) {
      const [type, e] = batch[i];
      const node = row(type, e);
      node.hidden = hidden.has(type);
      frag.append(node);
    }
    // Keep what the operator is reading in place when they have scrolled down.
    const keep = scrolledDown;
    const before = keep ? log.scrollHeight : 0;
    log.prepend(frag);
    let extra = log.childElementCount - MAX_ROWS;
    while (extra-- > 0) log.lastElementChild.remove();
    if (keep) log.scrollTop += log.scrollHeight - before;
    setText(count, String(log.childElementCount));
  }

  function add(type, payload) {
    pending.push([type, payload || {}]);
    if (pending.length > MAX_ROWS * 2) pending = pending.slice(-MAX_ROWS);
    schedule("activity", flush);
  }

  const events = {};
  for (const t of ACTIVITY_TYPES) events[t] = (p) => add(t, p);

  return {
    snapshot(snap) {
      // A snapshot carries the authoritative recent history: replace, never append twice.
      pending = [];
      log.replaceChildren();
      scrolledDown = false;
      for (const e of snap.activity || []) {
        if (ACTIVITY_TYPES.includes(e.type)) pending.push([e.type, e]);
      }
      schedule("activity", flush);
    },
    events,
  };
}
