// A position row's dialogs: close all or part of it (25 / 50 / 75 % / all / a quantity) and
// set or move its stop-loss and take-profit. Cancel takes the focus when a dialog opens, so
// Enter never sends an order by surprise; the server's answer is shown verbatim.

import { $, ackError, setText, toast } from "../dom.js";
import { price, qty } from "../format.js";

function showResult(node, ok, text) {
  node.hidden = false;
  node.className = `result ${ok ? "result-ok" : "result-err"}`;
  node.textContent = text;
}

/** The close dialog; `row(symbol)` is the position as the page knows it now. */
export function createCloseDialog(ctx, row) {
  const d = {
    dlg: $("#close-dialog"),
    form: $("#close-form"),
    title: $("#close-title"),
    held: $("#close-held"),
    qty: $("#close-qty"),
    summary: $("#close-summary"),
    cancel: $("#close-cancel"),
    submit: $("#close-submit"),
    result: $("#close-result"),
  };
  let symbol = "";
  let inflight = false;

  const choice = () => (d.form.querySelector("input[name=fraction]:checked") || {}).value || "1";

  /** The close_position payload, or a reason it cannot be sent. */
  function payload() {
    const c = choice();
    if (c === "qty") {
      const v = Number(d.qty.value);
      if (d.qty.value.trim() === "" || !Number.isFinite(v) || v <= 0) {
        return { problem: "Enter a quantity greater than zero." };
      }
      return { body: { symbol, qty: v } };
    }
    const f = Number(c);
    return { body: f >= 1 ? { symbol } : { symbol, fraction: f } };
  }

  function describe() {
    const p = row(symbol);
    const held = p ? Math.abs(p.qty) : 0;
    const { body, problem } = payload();
    d.qty.closest(".field").hidden = choice() !== "qty";
    if (problem) return setText(d.summary, "");
    const amount = body.qty ?? (body.fraction ? held * body.fraction : held);
    const what = body.fraction || body.qty ? "part of" : "all of";
    setText(d.summary, `Close ${what} the position: about ${qty(amount)} of ${qty(held)} at market.`);
  }

  function open(sym) {
    symbol = sym;
    const p = row(sym);
    d.form.reset();
    d.result.hidden = true;
    d.submit.disabled = false;
    setText(d.title, `Close ${sym}`);
    setText(
      d.held,
      p
        ? `${String(p.side || "").toUpperCase()} ${qty(Math.abs(p.qty))} ${sym} · entry ${price(p.avg_price, sym)} · last ${price(p.last_price, sym)}`
        : `No open position in ${sym} on this page.`,
    );
    describe();
    d.dlg.showModal();
    d.cancel.focus();
  }

  d.form.addEventListener("change", describe);
  d.form.addEventListener("input", describe);
  d.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (inflight) return;
    const { body, problem } = payload();
    if (problem) {
      showResult(d.result, false, problem);
      return;
    }
    inflight = true;
    d.submit.disabled = true;
    const resp = await ctx.emit("close_position", body);
    inflight = false;
    d.submit.disabled = false;
    if (resp.ok) {
      const left = typeof resp.remaining === "number" ? ` · ${qty(resp.remaining)} left` : "";
      const text = `Closing ${qty(resp.closing)} ${symbol}: sent${left}`;
      showResult(d.result, true, text);
      toast(text, "ok");
      d.dlg.close("ok");
    } else {
      showResult(d.result, false, `Refused — ${ackError(resp)}`);
    }
  });
  return { open };
}

/** The stop-loss / take-profit dialog of a position's row. */
export function createStopsDialog(ctx, row) {
  const d = {
    dlg: $("#stops-dialog"),
    form: $("#stops-form"),
    title: $("#stops-title"),
    quote: $("#stops-quote"),
    sl: $("#stops-sl"),
    tp: $("#stops-tp"),
    cancel: $("#stops-cancel"),
    submit: $("#stops-submit"),
    result: $("#stops-result"),
  };
  let symbol = "";
  let inflight = false;

  function open(sym) {
    symbol = sym;
    const p = row(sym) || {};
    d.form.reset();
    d.result.hidden = true;
    d.submit.disabled = false;
    setText(d.title, `Stops of ${sym}`);
    const q = ((ctx.snap.market || {}).quotes || {})[sym];
    const now = q && typeof q === "object" ? ` · bid ${price(q.bid, sym)} / ask ${price(q.ask, sym)}` : "";
    setText(
      d.quote,
      `${String(p.side || "").toUpperCase()} ${qty(Math.abs(p.qty || 0))} ${sym}${now}`,
    );
    if (p.stop_loss != null) d.sl.value = String(p.stop_loss);
    if (p.take_profit != null) d.tp.value = String(p.take_profit);
    d.dlg.showModal();
    d.cancel.focus();
  }

  d.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (inflight) return;
    const p = row(symbol) || {};
    const body = { symbol };
    for (const [key, input] of [
      ["stop_loss", d.sl],
      ["take_profit", d.tp],
    ]) {
      const text = input.value.trim();
      if (text === "") continue;
      const v = Number(text);
      if (!Number.isFinite(v) || v <= 0) {
        showResult(d.result, false, `${key.replace("_", " ")} must be a positive number.`);
        return;
      }
      if (v !== p[key]) body[key] = v;
    }
    if (!("stop_loss" in body) && !("take_profit" in body)) {
      showResult(d.result, false, "Nothing to change.");
      return;
    }
    inflight = true;
    d.submit.disabled = true;
    const resp = await ctx.emit("modify_stops", body);
    inflight = false;
    d.submit.disabled = false;
    if (resp.ok) {
      toast(`Stops of ${symbol}: saved`, "ok");
      d.dlg.close("ok");
    } else {
      showResult(d.result, false, `Refused — ${ackError(resp)}`);
    }
  });
  return { open };
}
