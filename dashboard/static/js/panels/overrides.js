// Risk overrides: the banner with each override's time left (it reverts by itself on the
// server's clock; the page only counts down), an admin's Clear, and the dialog that sets one.

import { $, ackError, el, schedule, setText, toast } from "../dom.js";
import { duration, num } from "../format.js";

const LABEL = {
  size_multiplier: (v) => `size ×${num(v, 2)}`,
  min_confidence: (v) => `min confidence ${num(v, 2)}`,
  max_positions: (v) => `max positions ${v}`,
  max_notional: (v) => `max notional ${num(v, 0)}`,
  max_order_qty: (v) => `max order qty ${num(v, 2)}`,
  daily_loss_limit: (v) => `daily loss limit ${num(v, 0)}`,
  price_collar_pct: (v) => `price collar ${num(v, 2)}%`,
};
const label = (name, v) => (LABEL[name] ? LABEL[name](v) : `${name} ${v}`);

export function createOverrides(ctx) {
  const n = {
    banner: $("#override-banner"),
    list: $("#override-list"),
    open: $("#override-btn"),
    dlg: $("#override-dialog"),
    form: $("#override-form"),
    name: $("#override-name"),
    value: $("#override-value"),
    minutes: $("#override-minutes"),
    reason: $("#override-reason"),
    cancel: $("#override-cancel"),
    submit: $("#override-submit"),
    result: $("#override-result"),
  };
  const rows = new Map();

  const active = () => ((ctx.snap.safety || {}).overrides || []).filter((o) => o && o.name);

  function left(o) {
    if (o.expires_ts == null) return "until cleared";
    return `${duration(Math.max(o.expires_ts - Date.now(), 0))} left`;
  }

  async function clear(name) {
    const resp = await ctx.emit("clear_risk_override", { name, reason: "cleared on the page" });
    if (resp.ok) toast(`Override ${name} cleared`, "ok");
    else toast(`Clear ${name} refused — ${ackError(resp)}`, "err", 8000);
  }

  function render() {
    const list = active();
    n.banner.hidden = list.length === 0;
    document.body.classList.toggle("has-override", list.length > 0);
    const seen = new Set();
    for (const o of list) {
      seen.add(o.name);
      let r = rows.get(o.name);
      if (!r) {
        const what = el("b", { class: "ob-what" });
        const time = el("span", { class: "ob-left num", "data-testid": `override-left-${o.name}` });
        const who = el("span", { class: "ob-who" });
        const btn = el("button", {
          class: "btn btn-xs btn-light needs-admin",
          type: "button",
          text: "Clear",
          "aria-label": `Clear the ${o.name} override`,
          onclick: () => clear(o.name),
        });
        btn.disabled = ctx.role() !== "admin";
        const li = el("li", { class: "ob-item", dataset: { name: o.name } }, what, " · ", time, " · ", who, " ", btn);
        r = { li, what, time, who };
        rows.set(o.name, r);
        n.list.append(li);
      }
      setText(r.what, label(o.name, o.value));
      setText(r.time, left(o));
      setText(r.who, `by ${o.actor || "?"}${o.reason ? ` — ${o.reason}` : ""} (was ${o.previous})`);
    }
    for (const [name, r] of rows) {
      if (!seen.has(name)) {
        r.li.remove();
        rows.delete(name);
      }
    }
  }

  n.open.addEventListener("click", () => {
    n.form.reset();
    n.result.hidden = true;
    n.dlg.showModal();
    n.cancel.focus();
  });
  n.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = Number(n.value.value);
    const minutes = Number(n.minutes.value);
    const fail = (text) => {
      n.result.hidden = false;
      n.result.className = "result result-err";
      n.result.textContent = text;
    };
    if (n.value.value.trim() === "" || !Number.isFinite(value)) return fail("Enter a value.");
    if (!Number.isFinite(minutes) || minutes <= 0) return fail("Enter how many minutes.");
    const payload = {
      name: n.name.value,
      value,
      expires_in_s: Math.round(minutes * 60),
      reason: n.reason.value.trim() || "override from the page",
    };
    n.submit.disabled = true;
    const resp = await ctx.emit("set_risk_override", payload);
    n.submit.disabled = false;
    if (!resp.ok) return fail(`Refused — ${ackError(resp)}`);
    toast(`Override set: ${label(payload.name, payload.value)} for ${duration(payload.expires_in_s * 1000)}`, "ok");
    n.dlg.close("ok");
  });

  // The time left counts down with no event arriving.
  setInterval(() => {
    if (!n.banner.hidden) schedule("overrides", render);
  }, 1000);

  return {
    snapshot: () => schedule("overrides", render),
    events: {
      safety_update: () => schedule("overrides", render),
    },
  };
}
