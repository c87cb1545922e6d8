// Manual order ticket: builds a place_order payload, shows the acknowledgement verbatim.

import { $, el, schedule, setText, toast } from "../dom.js";
import { money, price, qty } from "../format.js";

function numberOrNull(input) {
  const v = input.value.trim();
  if (v === "") return null;
  const x = Number(v);
  return Number.isFinite(x) ? x : NaN;
}

export function createOrderTicket(ctx) {
  const f = {
    form: $("#order-ticket"),
    symbol: $("#ot-symbol"),
    qty: $("#ot-qty"),
    type: $("#ot-type"),
    limit: $("#ot-limit"),
    stop: $("#ot-stop"),
    sl: $("#ot-sl"),
    tp: $("#ot-tp"),
    submit: $("#ot-submit"),
    result: $("#ot-result"),
    quote: $("#ot-quote"),
    notional: $("#ot-notional"),
  };
  const quotes = new Map();
  let inflight = false;

  const side = () => (f.form.querySelector("input[name=side]:checked") || {}).value || "buy";

  function syncForm() {
    const type = f.type.value;
    f.form.dataset.type = type;
    f.form.dataset.side = side();
    f.limit.closest(".field").hidden = type !== "limit";
    f.stop.closest(".field").hidden = type !== "stop";
    setText(f.submit, `${side() === "buy" ? "Buy" : "Sell"} ${f.symbol.value || ""}`.trim());
    f.submit.classList.toggle("btn-buy", side() === "buy");
    f.submit.classList.toggle("btn-sell", side() === "sell");
    renderQuote();
  }

  function renderQuote() {
    const sym = f.symbol.value;
    const q = quotes.get(sym) || ((ctx.snap.market || {}).quotes || {})[sym];
    if (q && typeof q === "object") {
      setText(f.quote, `Bid ${price(q.bid, sym)} · Ask ${price(q.ask, sym)}`);
    } else {
      setText(f.quote, "No quote");
    }
    const n = Number(f.qty.value);
    const type = f.type.value;
    let ref = null;
    if (type === "limit") ref = numberOrNull(f.limit);
    else if (type === "stop") ref = numberOrNull(f.stop);
    else if (q) ref = side() === "buy" ? q.ask : q.bid;
    setText(f.notional, n > 0 && Number.isFinite(ref) && ref ? `≈ ${money(n * ref)}` : "");
  }

  function syncSymbols() {
    const syms = (ctx.snap.market || {}).symbols || [];
    const have = Array.from(f.symbol.options).map((o) => o.value);
    if (have.join("|") === syms.join("|")) return;
    const current = linked || f.symbol.value;
    f.symbol.replaceChildren(...syms.map((s) => el("option", { value: s, text: s })));
    if (syms.includes(current)) f.symbol.value = current;
    syncForm();
  }

  // Linked to the chart's symbol (market/index.js) both ways: ordering the symbol on screen,
  // not another one left in this select. `linked` holds it until the options exist.
  let linked = null;
  document.addEventListener("vigil:symbol", (ev) => {
    const symbol = ev.detail && ev.detail.symbol;
    if (!symbol || ev.detail.source === "ticket") return;
    linked = symbol;
    if (f.symbol.value !== symbol && [...f.symbol.options].some((o) => o.value === symbol)) {
      f.symbol.value = symbol;
      syncForm();
    }
  });
  f.symbol.addEventListener("change", () => {
    linked = f.symbol.value;
    document.dispatchEvent(
      new CustomEvent("vigil:symbol", { detail: { symbol: f.symbol.value, source: "ticket" } }),
    );
  });

  function show(ok, text) {
    f.result.hidden = false;
    f.result.className = `result ${ok ? "result-ok" : "result-err"}`;
    f.result.textContent = text;
  }

  function payload() {
    const p = {
      symbol: f.symbol.value,
      side: side(),
      qty: Number(f.qty.value),
      type: f.type.value,
    };
    const opt = { limit_price: f.limit, stop_price: f.stop, stop_loss: f.sl, take_profit: f.tp };
    for (const [k, input] of Object.entries(opt)) {
      if (input.closest(".field").hidden) continue;
      const v = numberOrNull(input);
      if (v !== null) p[k] = v;
    }
    return p;
  }

  function validate(p) {
    if (!p.symbol) return "Choose a symbol.";
    if (!(p.qty > 0)) return "Quantity must be greater than zero.";
    for (const k of ["limit_price", "stop_price", "stop_loss", "take_profit"]) {
      if (k in p && !(p[k] > 0)) return `${k.replace("_", " ")} must be a positive number.`;
    }
    if (p.type === "limit" && !("limit_price" in p)) return "A limit order needs a limit price.";
    if (p.type === "stop" && !("stop_price" in p)) return "A stop order needs a stop price.";
    return null;
  }

  f.form.addEventListener("input", () => schedule("ticket", syncForm));
  f.form.addEventListener("change", () => schedule("ticket", syncForm));
  f.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (inflight) return;
    const p = payload();
    const problem = validate(p);
    if (problem) {
      show(false, problem);
      return;
    }
    inflight = true;
    f.submit.disabled = true;
    setText(f.submit, "Sending…");
    const resp = await ctx.emit("place_order", p);
    inflight = false;
    f.submit.disabled = false;
    syncForm();
    const desc = `${p.side.toUpperCase()} ${qty(p.qty)} ${p.symbol} ${p.type}`;
    if (resp.ok) {
      const o = resp.order || {};
      const id = resp.order_id || o.id || resp.id || "";
      const status = o.status ? ` · ${o.status}` : "";
      // Done but not yet durable (the store refused the write): say so, loudly.
      const w = resp.warning ? ` — ${resp.warning.code}: ${resp.warning.message}` : "";
      show(!w, `Accepted ${desc}${id ? ` · order ${id}` : ""}${status}${w}`);
      toast(`Order accepted: ${desc}${w}`, w ? "err" : "ok");
    } else {
      const e = resp.error || {};
      show(false, `Denied ${desc} — ${e.code || "error"}: ${e.message || "no reason given"}`);
    }
  });

  return {
    snapshot: () =>
      schedule("ticket:symbols", () => {
        quotes.clear();
        syncSymbols();
        syncForm();
      }),
    events: {
      quote_update: (q) => {
        if (!q || !q.symbol) return;
        quotes.set(q.symbol, q);
        if (q.symbol === f.symbol.value) schedule("ticket:quote", renderQuote);
      },
    },
  };
}
